"""The ledger's sendAt (send.localHours): recorded at claim, reports awaited only when due, counted by hour."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaigner.ledger.database import SCHEMA_VERSION
from campaigner.ledger.messages import Ledger, MessageIntent

T, C = "sandbox", "local"
HOUR = 1_796_292_000.0  # 2026-12-03 10:00 UTC, a whole hour


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "state.db") as led:
        led.ensure_campaign(T, C, "bulk")
        yield led


def test_send_at_is_recorded_with_the_claim(ledger: Ledger, tmp_path: Path) -> None:
    items = [MessageIntent("a", "1", 2, "h"), MessageIntent("b", "2", 3, "h", HOUR + 60)]
    assert ledger.claim_for_sending(T, C, items, at=HOUR - 7200) == ["a", "b"]
    rows = sqlite3.connect(tmp_path / "state.db").execute("SELECT message_id, send_at FROM messages ORDER BY 1")
    assert rows.fetchall() == [("a", None), ("b", HOUR + 60)]
    assert SCHEMA_VERSION >= 4


def test_reports_are_awaited_only_for_what_is_due_and_the_rest_counted_by_hour(ledger: Ledger) -> None:
    items = [
        MessageIntent("now", "1", 2, "h"),
        MessageIntent("soon", "2", 3, "h", HOUR + 30),
        MessageIntent("later-1", "3", 4, "h", HOUR + 3 * 3600 + 5),
        MessageIntent("later-2", "4", 5, "h", HOUR + 3 * 3600 + 400),
        MessageIntent("tomorrow", "5", 6, "h", HOUR + 24 * 3600),
    ]
    ledger.claim_for_sending(T, C, items, at=HOUR - 60)
    ledger.mark_accepted(T, [(i.message_id, {"groupId": 1}) for i in items], at=HOUR - 59)
    assert ledger.count_without_report(T, C) == 5
    assert ledger.count_without_report(T, C, due_by=HOUR + 60) == 2
    assert ledger.scheduled_by_hour(T, C, now=HOUR) == [(HOUR, 1), (HOUR + 3 * 3600, 2), (HOUR + 24 * 3600, 1)]
    final = {"messageId": "later-1", "status": {"groupName": "DELIVERED", "groupId": 3}}
    ledger.store_reports(T, [final], source="reports", at=HOUR + 4 * 3600)
    assert ledger.scheduled_by_hour(T, C, now=HOUR) == [(HOUR, 1), (HOUR + 3 * 3600, 1), (HOUR + 24 * 3600, 1)]
    assert next(o for o in ledger.outcomes(T, C) if o.message_id == "tomorrow").send_at == HOUR + 24 * 3600
