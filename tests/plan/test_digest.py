"""campaigner.plan.digest: a hash of exactly what would be sent, and what differs from a reviewed one."""

from __future__ import annotations

import pytest

from campaigner.plan.digest import DigestBuilder, PlanDigest
from campaigner.plan.ids import message_id, payload_hash

FLOW = [("LINE", "KEY"), ("SMS", "385971006006")]


def _digest(rows: list[tuple[str, str]], action: str = "create") -> PlanDigest:
    builder = DigestBuilder(action, "Loyalty", FLOW)
    for recipient, text in rows:
        builder.add(message_id("sandbox", "c", recipient), payload_hash({"sms": {"text": text}}))
    return builder.result()


ROWS = [("385911", "hi A"), ("385912", "hi B"), ("385913", "hi C")]


def test_the_same_messages_give_the_same_digest() -> None:
    a, b = _digest(ROWS), _digest(list(ROWS))
    assert a == b
    assert a.value.startswith("sha256:") and len(a.value) == 7 + 64
    assert PlanDigest.parse(a.token()) == a
    assert PlanDigest.parse(a.value) == PlanDigest(a.value)


def test_differences_are_named_in_counts() -> None:
    reviewed = _digest(ROWS)
    more = _digest([*ROWS, ("385914", "hi D"), ("385915", "hi E")])
    assert (
        more.differences(reviewed)
        == "2 more messages to send (5, reviewed 3); the payloads differ (a template, a variable or a CSV value changed)"
    )
    changed = _digest([ROWS[0], ROWS[1], ("385913", "hi C!")])
    assert changed.differences(reviewed) == "the payloads differ (a template, a variable or a CSV value changed)"
    other = _digest([ROWS[0], ROWS[1], ("385919", "hi C")])
    assert other.differences(reviewed) == "other recipients (the same count, 3)"
    reordered = _digest([ROWS[2], ROWS[0], ROWS[1]])
    assert reordered.differences(reviewed) == "the same messages and payloads, assigned or ordered differently"
    scenario = _digest(ROWS, action="none")
    assert scenario.differences(reviewed) == "scenario none (reviewed: create)"
    fewer = _digest(ROWS[:2])
    assert fewer.differences(reviewed).startswith("1 fewer message to send (2, reviewed 3)")
    assert fewer.differences(PlanDigest(reviewed.value)) == "now 2 message(s) to send, scenario create"


@pytest.mark.parametrize("bad", ["", "sha256:abc", "md5:" + "0" * 64, "sha256:" + "0" * 64 + ",messages=x"])
def test_bad_digests_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        PlanDigest.parse(bad)
