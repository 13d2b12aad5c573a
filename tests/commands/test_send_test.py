"""send-test end to end over real HTTP against the sandbox: one message, never the campaign's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaigner.sandbox.server import SandboxServer

EXAMPLE = "campaigns/spring-sale-2026.yaml"


def _sandbox_messages(db: Path) -> list[dict[str, Any]]:
    with SandboxServer(db_path=db) as server:
        return list(httpx.get(f"{server.url}/_sandbox/messages").json()["messages"])


def test_send_test_delivers_one_message_outside_the_campaign(workdir: Path, cli: Any) -> None:
    result = cli("send-test", EXAMPLE, "--row", "3", "--to", "+385 91 234 5678")
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[1] == 'Created scenario "Loyalty LINE then SMS" (' + lines[1].split("(")[1]
    assert lines[2].startswith("Test message test-")
    assert " (row 3) to +385 91***678, bulkId spring-sale-2026-test-" in lines[2]
    assert lines[3] == "  DELIVERED: DELIVERED_TO_HANDSET via LINE"
    assert "5678" not in result.out
    sent = _sandbox_messages(workdir / ".campaigner/sandbox.db")
    assert len(sent) == 1
    assert sent[0]["to"] == {"phoneNumber": "385912345678"}
    assert sent[0]["bulkId"].startswith("spring-sale-2026-test-")

    state = workdir / ".campaigner/state.db"
    with sqlite3.connect(state) as conn:
        for table in ("messages", "campaigns", "reports"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert "nothing sent yet" in cli("status", EXAMPLE).out
    plan = cli("plan", EXAMPLE)
    assert "Plan: 15 messages to send." in plan.out  # the scenario exists now; every recipient still to send

    applied = cli("apply", EXAMPLE, "--wait", "60s")
    assert applied.code == 0, applied.err
    summary = json.loads((workdir / "campaigns/reports/spring-sale-2026/summary.json").read_text())
    assert summary["recipients"]["planned"] == 15
    assert summary["recipients"]["sent"] == 15
    assert sum(summary["final"].values()) == 15
    sent = _sandbox_messages(workdir / ".campaigner/sandbox.db")
    assert len(sent) == 16
    assert sum(m["bulkId"] == summary["bulkId"] for m in sent) == 15


def test_send_test_waits_for_an_undeliverable_report_and_exits_1(workdir: Path, cli: Any) -> None:
    result = cli("send-test", EXAMPLE, "--row", "6", "--to", "+385 91 234 5000", "--line-key", "unreachable-x1")
    assert result.code == 1, result.out + result.err
    assert "  UNDELIVERABLE: UNDELIVERABLE_NOT_DELIVERED via SMS" in result.out
    assert "  error: EC_UNKNOWN_SUBSCRIBER" in result.out


def test_send_test_bad_input_is_one_line(workdir: Path, cli: Any) -> None:
    missing = cli("send-test", EXAMPLE, "--row", "99", "--to", "+385 91 234 5678")
    assert missing.code == 1
    assert missing.err.strip() == (
        "campaigns/recipients/loyalty.csv: error: there is no row 99 (data rows are 2..21) "
        "(rows count as a spreadsheet shows them: the header is row 1)"
    )
    skipped = cli("send-test", EXAMPLE, "--row", "10", "--to", "+385 91 234 5678")
    assert skipped.code == 1
    assert skipped.err.strip() == (
        "campaigns/recipients/loyalty.csv:row 10: error: this row is not sent by the campaign "
        "(no phone number or LINE key) (choose a row that plan counts as to send)"
    )
    bad = cli("send-test", EXAMPLE, "--row", "3", "--to", "12")
    assert bad.code == 1
    assert bad.err.strip() == (
        "error: --to: not a valid mobile number; give it with its country code, e.g. +385 91 234 5678"
    )
    assert not (workdir / ".campaigner/sandbox.db").exists()


def test_send_test_to_a_provider_needs_yes(
    workdir: Path, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(db_path=tmp_path / "p.db") as server:
        monkeypatch.setenv("INFOBIP_BASE_URL", server.url)
        monkeypatch.setenv("INFOBIP_API_KEY", "sandbox")
        refused = cli("send-test", EXAMPLE, "--row", "3", "--to", "+385 91 234 5678")
        assert refused.code == 1
        assert refused.err.strip() == f"error: a test send to {server.url} needs confirmation: pass --yes"
        assert httpx.get(f"{server.url}/_sandbox/stats").json()["receipts"] == 0
        done = cli("send-test", EXAMPLE, "--row", "3", "--to", "+385 91 234 5678", "--yes")
        assert done.code == 0, done.out + done.err
        assert httpx.get(f"{server.url}/_sandbox/stats").json()["receipts"] == 1
