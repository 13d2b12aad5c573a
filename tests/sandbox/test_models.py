"""Tests for campaigner.sandbox.models: the report query of one bulk reads its index in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from campaigner.sandbox.delivery import DeliveryRules
from campaigner.sandbox.models import _REPORT_SELECT, SandboxModel


def test_a_page_of_one_bulks_reports_needs_no_sort_of_the_whole_bulk(tmp_path: Path) -> None:
    model = SandboxModel(tmp_path / "s.db", rules=DeliveryRules(0, 0.3, 0.05), time_scale=1800.0)
    model.close()
    sql = (
        _REPORT_SELECT + " WHERE m.reported = 0 AND m.ready_at <= ? AND m.bulk_id = ? ORDER BY m.ready_at, m.id LIMIT ?"
    )
    with sqlite3.connect(tmp_path / "s.db") as db:
        plan = " / ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, (1.0, "b", 1000)))
    db.close()
    assert "messages_unreported_bulk" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
