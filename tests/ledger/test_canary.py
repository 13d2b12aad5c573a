"""The canary and the stop in the ledger (SQLite and PostgreSQL): the sample kept once, its outcomes, verdicts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from campaigner.ledger.messages import Ledger, MessageIntent

T, C = "sandbox", "c"


def _report(mid: str, group: str) -> dict[str, object]:
    return {"messageId": mid, "bulkId": "b", "status": {"groupName": group}}


def test_the_sample_is_stored_once_and_counted_by_outcome(ledger_location: str) -> None:
    with Ledger(ledger_location) as led:
        record = led.start_canary(T, C, "d1", ["m1", "m2", "m3", "m4", "m5"], at=10.0)
        assert (record.state, record.size, record.created_at) == ("sending", 5, 10.0)
        again = led.start_canary(T, C, "d1", ["x"], at=20.0)  # a re-run never chooses a second sample
        assert again == record
        assert led.canary_members(T, C, "d1") == {"m1", "m2", "m3", "m4", "m5"}
        intents = [MessageIntent(m, f"r{m}", 2, "h") for m in ("m1", "m2", "m3", "m4")]
        led.claim_for_sending(T, C, intents, at=11.0)
        led.mark_accepted(T, [("m1", {}), ("m2", {}), ("m3", {})], at=12.0)
        led.mark_rejected(T, ["m4"], "REJECTED_DND", at=12.0)
        led.store_reports(T, [_report("m1", "DELIVERED"), _report("m2", "UNDELIVERABLE")], source="reports", at=13.0)
        counts = led.canary_counts(T, C, "d1")
        assert counts.final == {"delivered": 1, "undeliverable": 1, "expired": 0, "rejected": 1}
        assert (counts.size, counts.sent, counts.awaiting, counts.unsent) == (5, 3, 1, 1)


def test_verdicts_and_the_latest_canary(ledger_location: str) -> None:
    with Ledger(ledger_location) as led:
        assert led.latest_canary(T, C) is None
        led.start_canary(T, C, "d1", ["m1"], at=1.0)
        led.set_canary_state(T, C, "d1", "waiting", wait_until=100.0, at=2.0)
        led.set_canary_state(T, C, "d1", "failed", reason="delivered 0.0%", at=3.0)
        record = led.canary(T, C, "d1")
        assert record is not None
        assert (record.state, record.wait_until, record.reason, record.decided_at) == (
            "failed",
            100.0,
            "delivered 0.0%",
            3.0,
        )
        led.start_canary(T, C, "d2", ["m2"], at=5.0)
        latest = led.latest_canary(T, C)
        assert latest is not None and latest.digest == "d2"
        assert led.canary(T, "other", "d1") is None
        with pytest.raises(ValueError):
            led.set_canary_state(T, C, "d1", "maybe")


def test_stops(ledger_location: str) -> None:
    with Ledger(ledger_location) as led:
        assert led.stopped(T, C) is None
        led.record_stop(T, C, "too many rejections")
        assert led.stopped(T, C) == "too many rejections"
        assert led.stopped("other", C) is None
        led.clear_stop(T, C)
        assert led.stopped(T, C) is None


def test_a_version_4_ledger_gains_the_canary_tables(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Ledger(path):
        pass
    conn = sqlite3.connect(path)
    for table in ("canaries", "canary_messages", "stops", "latencies"):  # what migrations 5 and 6 made
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX messages_in_doubt")  # and what migration 7 changed
    conn.execute("CREATE INDEX messages_by_state_id ON messages (target, campaign, state, message_id)")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    with Ledger(path) as led:
        led.start_canary(T, C, "d", ["m"])
        assert led.canary_members(T, C, "d") == {"m"}
