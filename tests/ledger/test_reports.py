"""Tests for campaigner.ledger.reports: a page of reports and the fetching state in one commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigner.ledger.messages import Ledger

T, C = "sandbox", "spring"


def _report(mid: str, group: str = "DELIVERED") -> dict[str, object]:
    return {"messageId": mid, "bulkId": "b", "status": {"groupName": group}}


def test_a_page_is_stored_with_the_state_for_the_next_request(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state.db") as ledger:
        ledger.ensure_campaign(T, C, "b")
        stored = ledger.store_reports(T, [_report("m1"), _report("m2")], source="reports", at=1.0, then=(C, "fetching"))
        assert stored == 2
        assert ledger.reports_state(T, C) == "fetching"
        assert ledger.store_reports(T, [_report("m3")], source="reports", at=2.0, then=(C, None)) == 1
        assert ledger.reports_state(T, C) is None


def test_an_empty_page_still_sets_the_state(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state.db") as ledger:
        ledger.ensure_campaign(T, C, "b")
        ledger.set_reports_state(T, C, "fetching")
        assert ledger.store_reports(T, [], source="reports", at=1.0, then=(C, None)) == 0
        assert ledger.reports_state(T, C) is None


def test_a_bad_state_stores_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state.db") as ledger:
        ledger.ensure_campaign(T, C, "b")
        with pytest.raises(ValueError, match="not a reports state: 'done'"):
            ledger.store_reports(T, [_report("m1")], source="reports", at=1.0, then=(C, "done"))
        assert ledger.counts(T, C)["reports"]["total"] == 0


def test_reports_are_stored_as_the_texts_they_arrived_as(tmp_path: Path) -> None:
    texts = ['{ "messageId" : "m1", "bulkId": "b", "status": {"groupName": "DELIVERED"}, "x": "\\u00e9" }']
    with Ledger(tmp_path / "state.db") as ledger:
        ledger.ensure_campaign(T, C, "b")
        assert ledger.store_reports(T, [{**_report("m1"), "x": "é"}], source="reports", at=1.0, texts=texts) == 1
        assert ledger._db.execute("SELECT raw_json, final FROM reports").fetchall() == [(texts[0], 1)]
        with pytest.raises(ValueError, match="1 texts for 2 reports"):
            ledger.store_reports(T, [_report("m2"), _report("m3")], source="reports", at=1.0, texts=texts)
