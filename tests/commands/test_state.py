"""`campaigner state copy FROM TO` end to end: a ledger mid-campaign moved to PostgreSQL, then applied from (#10)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from benchmarks._measure import write_campaign, write_recipients
from helpers import provider_environ

from campaigner.ledger.messages import Ledger
from campaigner.sandbox.server import SandboxServer


def _env(server: SandboxServer, state: str) -> dict[str, str]:
    return provider_environ(server.url, state)


def _run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaigner", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=180
    )


def _received(server: SandboxServer) -> dict[str, int]:
    messages = httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]
    return {m["messageId"]: m["received"] for m in messages}


def test_copy_mid_campaign_to_postgres_then_apply_from_the_copy(tmp_path: Path, postgres_url: str) -> None:
    write_recipients(tmp_path / "move.csv", 300)
    campaign = write_campaign(tmp_path, "move.csv", campaign="move-test", rate="100/s", batch=1)
    laptop = str(tmp_path / ".campaigner" / "state.db")
    with SandboxServer(db_path=tmp_path / "sandbox.db", faults="lost-answer=0.05", seed=3) as server:
        env = _env(server, laptop)
        proc = subprocess.Popen(
            [sys.executable, "-m", "campaigner", "apply", campaign.name, "--auto-approve", "--no-wait"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while len(_received(server)) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # mid-campaign, some messages in doubt
        proc.wait()
        sent_before = len(_received(server))
        assert 0 < sent_before < 300

        copied = _run(tmp_path, env, "state", "copy", laptop, postgres_url)
        assert copied.returncode == 0, copied.stderr
        masked = postgres_url.replace("postgres:@", "postgres:***@")
        assert copied.stdout.startswith(f"Copied {laptop} to {masked}: 1 campaign(s), ")
        again = _run(tmp_path, env, "state", "copy", laptop, postgres_url)  # idempotent
        assert again.returncode == 0, again.stderr
        assert " 0 campaign(s), 0 message(s), 0 report(s), 0 scenario key(s) new; " in again.stdout

        applied = _run(tmp_path, _env(server, postgres_url), "apply", campaign.name, "--auto-approve", "--no-wait")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        received = _received(server)
        assert len(received) == 300  # nothing lost
        assert set(received.values()) == {1}  # nothing twice


def test_copy_back_and_refuse_a_ledger_that_disagrees(
    tmp_path: Path, postgres_url: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaigner.ledger.messages import MessageIntent

    laptop = tmp_path / "laptop.db"
    with Ledger(laptop) as ledger:
        ledger.ensure_campaign("sandbox", "spring", "bulk-1")
        ledger.claim_for_sending(
            "sandbox",
            "spring",
            [MessageIntent(f"m{i}", "r", i, "h", send_at=1796000000.0 if i == 2 else None) for i in range(3)],
            at=1.0,
        )
        ledger.mark_accepted("sandbox", [("m0", {"groupName": "PENDING"})], at=2.0)
        ledger.store_reports(
            "sandbox", [{"messageId": "m0", "status": {"groupName": "DELIVERED"}}], source="reports", at=3.0
        )
    monkeypatch.chdir(tmp_path)
    first = cli("state", "copy", str(laptop), postgres_url)
    assert first.code == 0, first.err
    assert "1 campaign(s), 3 message(s), 1 report(s), 0 scenario key(s) new; 0 message(s) already there." in first.out
    back = tmp_path / "back.db"
    assert cli("state", "copy", postgres_url, str(back)).code == 0
    with Ledger(back) as copy:
        assert copy.counts("sandbox", "spring") == Ledger(laptop).counts("sandbox", "spring")
        assert copy.campaign_bulk_id("sandbox", "spring") == "bulk-1"
        assert [(o.message_id, o.state, o.send_at) for o in copy.outcomes("sandbox", "spring")] == [
            ("m0", "accepted", None),
            ("m1", "sending", None),
            ("m2", "sending", 1796000000.0),
        ]

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("UPDATE campaigner.messages SET state = 'planned' WHERE message_id = 'm1'")
    refused = cli("state", "copy", str(laptop), postgres_url)
    assert refused.code == 1
    assert refused.err.strip() == (
        f"{postgres_url.replace('postgres:@', 'postgres:***@')}: error: campaign spring: message m1 is planned "
        "there and sending in laptop.db; the ledgers disagree, nothing was copied"
    )
    assert cli("state", "copy", str(laptop), str(laptop)).code == 1
