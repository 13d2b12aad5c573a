"""Tests for campaigner.plan.ids: the per-campaign message id maker gives the same ids as message_id."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigner.plan import ids


def test_message_ids_gives_the_same_ids_as_message_id() -> None:
    make = ids.message_ids("https://api.example", "spring-sale")
    for rid in ("385991234567", "line:U4af4980629", "", "Đurđica\x00x"):
        assert make(rid) == ids.message_id("https://api.example", "spring-sale", rid)
    assert ids.message_ids("t", "a")("b") != ids.message_ids("t", "ab")("")


def test_canonical_json_sorts_keys_without_spaces_or_escapes() -> None:
    assert ids.canonical_json({"b": 1, "a": {"d": "č", "c": [1, 2]}}) == '{"a":{"c":[1,2],"d":"č"},"b":1}'


scalars = st.one_of(
    st.text(), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)
)
parts = st.dictionaries(st.sampled_from(["text", "url", "validityPeriod", "type", "é", ""]), scalars, max_size=4)
bodies = st.dictionaries(st.sampled_from(["line", "sms", "x"]), parts, max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(bodies, min_size=1, max_size=6))
def test_payload_encoder_writes_what_canonical_json_writes(payloads: list[dict[str, object]]) -> None:
    encode = ids.PayloadEncoder()  # the first payload sets the shape; the others match it or not
    for body in payloads:
        assert encode(body) == ids.canonical_json(body)
        assert ids.hash_of_json(encode(body)) == ids.payload_hash(body)


def test_payload_encoder_of_a_campaign_shaped_payload() -> None:
    encode = ids.PayloadEncoder()
    first = {"line": {"text": 'Hi "Ana"\n', "validityPeriod": 1}, "sms": {"text": "Ana’s code \u2028 P1"}}
    assert (
        encode(first) == '{"line":{"text":"Hi \\"Ana\\"\\n","validityPeriod":1},"sms":{"text":"Ana’s code \u2028 P1"}}'
    )
    assert encode({"line": {"text": "x", "validityPeriod": True}, "sms": {"text": "y"}}) == ids.canonical_json(
        {"line": {"text": "x", "validityPeriod": True}, "sms": {"text": "y"}}
    )
    assert encode({"line": {"text": "x"}, "sms": {"text": "y"}}) == '{"line":{"text":"x"},"sms":{"text":"y"}}'
