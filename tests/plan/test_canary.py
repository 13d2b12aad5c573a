"""The canary, pure: its size, its sample by message id, its verdict."""

from __future__ import annotations

from campaigner.campaign.spec import Canary
from campaigner.plan.canary import Tally, choose_sample, decide, describe, finished, sample_size
from campaigner.plan.ids import message_id


def _canary(**kw: object) -> Canary:
    return Canary.model_validate({"require": {"delivered": ">= 90%", "rejected": "<= 2%"}, **kw})


def test_size_is_the_share_but_at_least_min_and_at_most_the_list() -> None:
    assert sample_size(_canary(share="1%"), 5000) == 50
    assert sample_size(_canary(share="1%", min=20), 5000) == 50
    assert sample_size(_canary(share="1%", min=80), 5000) == 80
    assert sample_size(_canary(share="10%"), 100_000) == 10_000
    assert sample_size(_canary(share="1%"), 30) == 30
    assert sample_size(_canary(count=200), 5000) == 200
    assert _canary(count=20).min_reports == 20


def test_the_sample_is_deterministic_and_spread_over_the_list() -> None:
    ids = [message_id("sandbox", "c", f"3859100{i:05d}") for i in range(5000)]
    sample = choose_sample(ids, 50)
    assert sample == choose_sample(reversed(ids), 50) == sorted(sample)
    rows = sorted(ids.index(m) for m in sample)
    assert rows[0] < 1000 and rows[-1] > 4000  # not the first rows
    assert len({r // 1000 for r in rows}) == 5
    assert choose_sample(ids, 0) == []


def test_verdicts_with_their_numbers() -> None:
    c = _canary(share="1%")
    passed = decide(c, Tally(50, {"delivered": 48, "undeliverable": 1, "rejected": 1}))
    assert passed.state == "passed"
    failed = decide(c, Tally(50, {"delivered": 35, "undeliverable": 15}))
    assert (failed.state, failed.reason) == (
        "failed",
        "delivered 70.0% (35 of 50 with a final report), required >= 90%",
    )
    both = decide(c, Tally(50, {"delivered": 40, "rejected": 10}))
    assert both.reason == (
        "delivered 80.0% (40 of 50 with a final report), required >= 90%; "
        "rejected 20.0% (10 of 50 with a final report), required <= 2%"
    )
    waiting = decide(c, Tally(50, {"delivered": 49}, awaiting=1))
    assert (waiting.state, waiting.reason) == (
        "inconclusive",
        "49 of the canary's 50 recipients have a final report, 50 are needed to decide",
    )
    assert not finished(Tally(50, {"delivered": 49}, awaiting=1)) and finished(Tally(50, {"delivered": 50}))


def test_plan_line() -> None:
    assert describe(_canary(share="1%", wait="20m"), 5000) == (
        "50 of 5000 first (1%, at least 50 final reports), waits up to 20m; requires delivered >= 90%, rejected <= 2%"
    )


def test_sample_messages_keeps_the_messages_of_the_sample() -> None:
    from campaigner.plan.build import Payload, PlannedMessage
    from campaigner.plan.canary import sample_messages

    payload = Payload("h", {}, None)
    ids = [message_id("sandbox", "c", f"r{i}") for i in range(300)]
    messages = [PlannedMessage(i + 2, f"r{i}", mid, {}, payload) for i, mid in enumerate(ids)]
    assert [m.message_id for m in sample_messages(iter(messages), 7)] == choose_sample(ids, 7)


def test_with_local_hours_messages_due_within_the_wait_come_first() -> None:
    from datetime import UTC, datetime, timedelta

    from campaigner.plan.build import Payload, PlannedMessage
    from campaigner.plan.canary import sample_messages

    payload = Payload("h", {}, None)
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    ids = sorted(message_id("sandbox", "c", f"r{i}") for i in range(10))
    later = [PlannedMessage(2, "r", mid, {}, payload, send_at=now + timedelta(hours=5)) for mid in ids[:5]]
    soon = [PlannedMessage(2, "r", mid, {}, payload, send_at=now) for mid in ids[5:8]]
    at_once = [PlannedMessage(2, "r", mid, {}, payload) for mid in ids[8:]]
    picked = sample_messages(iter(later + soon + at_once), 6, due=now + timedelta(minutes=10))
    assert [m.message_id for m in picked] == ids[5:] + ids[:1]
