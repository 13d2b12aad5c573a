"""Tests for campaigner.sandbox.reports: reports stored as text at accept read as report_json would write them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from campaigner.sandbox.delivery import ChannelContent, DeliveryRules, FlowStep
from campaigner.sandbox.models import _RECORD_SELECT, SandboxModel, _record
from campaigner.sandbox.records import Destination, Scenario, SendRequest
from campaigner.sandbox.reports import report_json

FLOW = (FlowStep("LINE", "LINESENDER"), FlowStep("SMS", "InfoSMS"), FlowStep("VIBER", "v"))
TOS = [
    {"phoneNumber": "385911234567", "lineUserKey": "delivered-a"},
    {"phoneNumber": "+385911234000", "lineUserKey": "unreachable-b"},
    {"phoneNumber": "385911234999", "lineUserKey": "expire-c"},
    {"phoneNumber": "81901234998"},
    {"lineUserKey": 'unreachable-\u00e9\u2028"q"\\'},
    {"phoneNumber": "12"},
    {"phoneNumber": "4479000000111", "lineUserKey": "zz"},
]


def _send(model: SandboxModel, *, bulk_id: str | None, callback: str | None, send_at: float | None) -> None:
    scenario = Scenario("K" * 32, "s", FLOW, False)
    content = {"LINE": ChannelContent(60.0, 1, "hi"), "SMS": ChannelContent(3600.0, 2, "hello \u00e7")}
    destinations = tuple(Destination(f"m-{i}-{bulk_id}", to) for i, to in enumerate(TOS))
    model.accept(SendRequest(scenario.key, bulk_id, destinations, content, callback, send_at), scenario)


@pytest.mark.parametrize(
    ("bulk_id", "callback", "send_at"),
    [("bulk-1", None, None), (None, 'cb "\u00fc"', None), ("b\u00e9", "x", 10.0)],
)
def test_a_stored_report_is_the_text_report_json_would_give(
    tmp_path: Path, bulk_id: str | None, callback: str | None, send_at: float | None
) -> None:
    model = SandboxModel(tmp_path / "s.db", rules=DeliveryRules(3), time_scale=1e9, clock=lambda: 1_796_292_000.25)
    _send(model, bulk_id=bulk_id, callback=callback, send_at=None if send_at is None else 1_796_292_000.25 + send_at)
    model.advance_clock(20.0)
    with model._read() as db:
        expected = {
            row[1]: json.dumps(report_json(_record(row)), ensure_ascii=False, separators=(",", ":"))
            for row in db.execute(_RECORD_SELECT)
        }
    texts = model.take_reports(limit=100)
    model.close()
    assert len(texts) == len(TOS) == len(expected)
    for text in texts:
        assert text == expected[json.loads(text)["messageId"]]


def test_messages_accepted_before_reports_were_text_are_reported_from_their_steps(tmp_path: Path) -> None:
    # A state file written by an older sandbox has no report columns: they are added, and its messages'
    # reports are built from the steps stored with them, as before.
    model = SandboxModel(tmp_path / "s.db", time_scale=1e9, clock=lambda: 1_796_292_000.0)
    _send(model, bulk_id="old", callback=None, send_at=None)
    with model._read() as db:
        expected = sorted(
            json.dumps(report_json(_record(row)), ensure_ascii=False, separators=(",", ":"))
            for row in db.execute(_RECORD_SELECT)
        )
    model.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute("ALTER TABLE messages DROP COLUMN report_head")
        db.execute("ALTER TABLE messages DROP COLUMN report_tail")
    db.close()
    model = SandboxModel(tmp_path / "s.db", time_scale=1e9, clock=lambda: 1_796_292_001.0)
    _send(model, bulk_id="new", callback=None, send_at=None)
    model.advance_clock(1.0)
    texts = model.take_reports(limit=100)
    model.close()
    assert len(texts) == 2 * len(TOS)
    assert sorted(t for t in texts if '"bulkId":"old"' in t) == expected
