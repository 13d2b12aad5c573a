"""apply beyond one folder and 48 hours (#10), over real HTTP against the sandbox and a real PostgreSQL."""

from __future__ import annotations

import shutil
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

from campaigner.sandbox.server import SandboxServer

EXAMPLE = "campaigns/spring-sale-2026.yaml"


def _env(server: SandboxServer, state: str, **extra: str) -> dict[str, str]:
    return provider_environ(server.url, state, **extra)


def _apply(folder: Path, campaign: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "campaigner", "apply", str(campaign), "--auto-approve", "--no-wait", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _received(server: SandboxServer) -> dict[str, int]:
    messages = httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]
    return {m["messageId"]: m["received"] for m in messages}


def _two_folders(tmp_path: Path, rows: int, rate: str = "100/s") -> tuple[Path, Path, Path]:
    """Folders A/ and B/ holding copies of one campaign (the same id, the same recipients)."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    write_recipients(a / "shared.csv", rows)
    campaign = write_campaign(a, "shared.csv", campaign="shared-test", rate=rate, batch=1)
    shutil.copytree(a, b)
    return a, b, Path(campaign.name)


def test_two_folders_sharing_a_postgres_ledger_one_sends_the_other_refuses(tmp_path: Path, postgres_url: str) -> None:
    a, b, campaign = _two_folders(tmp_path, 150, rate="25/s")  # 6 s of sending: longer than a start-up lag
    with SandboxServer(db_path=tmp_path / "sandbox.db") as server:
        env = _env(server, postgres_url, GITHUB_RUN_ID="4242", GITHUB_REPOSITORY="team/campaigns")
        procs = [_apply(a, campaign, env), _apply(b, campaign, env)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        codes = [p.returncode for p in procs]
        assert sorted(codes) == [0, 1], outs
        refused = outs[codes.index(1)].strip().splitlines()[-1]
        assert refused.startswith("error: campaign shared-test is locked by pid ")
        assert "(campaigner apply shared-test.yaml) since " in refused
        assert " in GitHub Actions run https://github.com/team/campaigns/actions/runs/4242; " in refused
        assert refused.endswith("if that process is gone, run `campaigner unlock shared-test --force`")
        received = _received(server)
        assert len(received) == 150
        assert set(received.values()) == {1}


def test_two_folders_with_their_own_sqlite_ledgers_never_send_twice(tmp_path: Path) -> None:
    a, b, campaign = _two_folders(tmp_path, 300)
    with SandboxServer(db_path=tmp_path / "sandbox.db") as server:
        first = _apply(a, campaign, _env(server, str(a / ".campaigner/state.db")))
        deadline = time.monotonic() + 30
        while len(_received(server)) < 20 and time.monotonic() < deadline:  # A is sending now
            time.sleep(0.05)
        second = _apply(b, campaign, _env(server, str(b / ".campaigner/state.db")))
        out_b = second.communicate(timeout=120)[0]
        out_a = first.communicate(timeout=120)[0]
        assert first.returncode == 0, out_a
        if second.returncode == 1:  # item 5: the logs grew while B waited: A is sending from another ledger
            assert (
                out_b.strip()
                .splitlines()[-1]
                .startswith("error: another apply of campaign shared-test is sending to http://127.0.0.1:")
            ), out_b
            assert "nothing was sent" in out_b
        else:  # A had finished: B adopted what A sent and sent only the rest (nothing)
            assert second.returncode == 0, out_b
        received = _received(server)
        assert len(received) == 300
        assert set(received.values()) == {1}
        again = _apply(b, campaign, _env(server, str(b / ".campaigner/state.db")))
        out = again.communicate(timeout=120)[0]
        assert again.returncode == 0, out
        assert set(_received(server).values()) == {1}


@pytest.fixture
def provider_env(workdir: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The sandbox as an external target (a 'real provider' to campaigner), in-process CLI."""
    monkeypatch.setenv("INFOBIP_BASE_URL", sandbox.url)
    monkeypatch.setenv("INFOBIP_API_KEY", "sandbox")
    monkeypatch.setenv("CAMPAIGNER_SETTLE_SECONDS", "0.3")
    return sandbox


def test_after_49_hours_a_fresh_ci_runner_refuses_and_a_shared_ledger_says_no_changes(
    workdir: Path, cli: Any, provider_env: SandboxServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = cli("plan", EXAMPLE, "--state", postgres_url)  # a database campaigner never wrote to
    assert planned.code == 0, planned.err
    assert "  to send         15\n" in planned.out
    with psycopg.connect(postgres_url) as conn:  # plan wrote nothing there, not even the schema
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'campaigner'").fetchone() is None
    first = cli("apply", EXAMPLE, "--auto-approve", "--no-wait", "--state", postgres_url)
    assert first.code == 0, first.err
    assert len(_received(provider_env)) == 15
    reported = cli("report", EXAMPLE, "--wait", "30s", "--state", postgres_url)  # under the PostgreSQL lock
    assert reported.code == 0, reported.err
    assert "0 message(s) still without a final report." in reported.out
    assert httpx.post(f"{provider_env.url}/_sandbox/clock", json={"advance": "49h"}).status_code == 200
    assert httpx.get(f"{provider_env.url}/omni/1/logs", headers={"Authorization": "App sandbox"}).json() == {
        "results": []
    }  # the provider forgot: only a ledger remembers now

    monkeypatch.setenv("CI", "true")
    fresh = workdir / "runner" / "state.db"
    refused = cli("apply", EXAMPLE, "--auto-approve", "--no-wait", "--state", str(fresh))
    assert refused.code == 1
    assert refused.err.strip() == (
        f"error: CI is set and the ledger {fresh} did not exist before this run (a fresh runner): the provider's "
        "logs keep only 48 hours, so messages sent earlier could be sent again; keep the ledger where every runner "
        "sees it (CAMPAIGNER_STATE=postgresql://...), or pass --new-ledger if this campaign was never sent"
    )
    assert not fresh.exists()
    assert len(_received(provider_env)) == 15

    shared = cli("apply", EXAMPLE, "--auto-approve", "--no-wait", "--state", postgres_url)
    assert shared.code == 0, shared.err
    assert "No changes." in shared.out
    assert "Nothing new was sent." in shared.out
    assert set(_received(provider_env).values()) == {1}
    status = cli("status", EXAMPLE, "--state", postgres_url)
    assert status.code == 0, status.err
    masked = postgres_url.replace("postgres:@", "postgres:***@")
    assert status.out.splitlines()[0] == f"Target: {provider_env.url} (ledger {masked}; nothing contacted)"
    assert "  messages: planned 0, sending 0, accepted 15, rejected 0, unknown 0, total 15, adopted 0" in status.out


def test_plan_on_a_fresh_ledger_counts_what_the_provider_has(
    workdir: Path, cli: Any, provider_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("apply", EXAMPLE, "--auto-approve", "--no-wait").code == 0
    fresh = str(workdir / "new-runner.db")
    plan = cli("plan", EXAMPLE, "--state", fresh)
    assert plan.code == 0, plan.err
    assert "  to send         0\n" in plan.out and "  already sent    15\n" in plan.out
    assert not Path(fresh).exists()  # read-only

    from campaigner.errors import OutcomeUnknownError
    from campaigner.omni.client import OmniClient

    async def unreadable(self: object, **kwargs: object) -> list[dict[str, object]]:
        raise OutcomeUnknownError("read timeout")

    monkeypatch.setattr(OmniClient, "logs", unreadable)
    blind = cli("plan", EXAMPLE, "--state", fresh)
    assert blind.code == 0, blind.err
    assert "  to send         15\n" in blind.out
    assert (
        blind.out.strip()
        .splitlines()[-1]
        .startswith("Note: the ledger has no record of this campaign and the provider's logs could not be read (")
    )
    assert blind.out.strip().endswith("): the count to send is an upper bound.")


def test_a_lost_ledger_connection_stops_apply_in_one_line_and_the_rerun_settles(
    tmp_path: Path, postgres_url: str
) -> None:
    write_recipients(tmp_path / "cut.csv", 300)
    campaign = write_campaign(tmp_path, "cut.csv", campaign="cut-test", rate="100/s", batch=1)
    with SandboxServer(db_path=tmp_path / "sandbox.db") as server:
        env = _env(server, postgres_url)
        proc = _apply(tmp_path, campaign, env)
        deadline = time.monotonic() + 30
        while len(_received(server)) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'campaigner' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert cut
        out = proc.communicate(timeout=60)[0]
        assert proc.returncode == 1, out
        assert "Traceback" not in out, out
        last = out.strip().splitlines()[-1]
        assert last.startswith("postgresql://postgres:***@/")
        assert ": error: lost the connection to the ledger (" in last
        assert last.endswith(
            "stopped at once: run the command again (what was in doubt is settled from the provider's logs)"
        )
        assert len(_received(server)) < 300
        rerun = _apply(tmp_path, campaign, env)
        out = rerun.communicate(timeout=120)[0]
        assert rerun.returncode == 0, out
        received = _received(server)
        assert len(received) == 300
        assert set(received.values()) == {1}
