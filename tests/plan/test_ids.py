"""Tests for campaigner.plan.ids: the per-campaign message id maker gives the same ids as message_id."""

from __future__ import annotations

from campaigner.plan import ids


def test_message_ids_gives_the_same_ids_as_message_id() -> None:
    make = ids.message_ids("https://api.example", "spring-sale")
    for rid in ("385991234567", "line:U4af4980629", "", "Đurđica\x00x"):
        assert make(rid) == ids.message_id("https://api.example", "spring-sale", rid)
    assert ids.message_ids("t", "a")("b") != ids.message_ids("t", "ab")("")


def test_canonical_json_sorts_keys_without_spaces_or_escapes() -> None:
    assert ids.canonical_json({"b": 1, "a": {"d": "č", "c": [1, 2]}}) == '{"a":{"c":[1,2],"d":"č"},"b":1}'
