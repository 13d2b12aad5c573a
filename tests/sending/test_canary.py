"""The canary end to end over real HTTP against the sandbox: pass, fail, resume after kill -9, decisions."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import provider_environ

from campaigner.sandbox.server import SandboxServer


def write_list(
    path: Path, rows: int, *, undeliverable_every: int = 0, undeliverable_in_10: int = 0, rejected_every: int = 0
) -> None:
    """``rows`` distinct Croatian mobiles; some end in 000 (undeliverable) or 555 (rejected at send)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("first_name,phone\n")
        for i in range(rows):
            tail = f"2{10 + i % 50:02d}"
            if (undeliverable_every and i % undeliverable_every == 0) or i % 10 < undeliverable_in_10:
                tail = "000"
            elif rejected_every and i % rejected_every == 0:
                tail = "555"
            fh.write(f"Ana,+385 91 {1000 + i:04d} {tail}\n")


def write_sms_campaign(
    folder: Path, csv_name: str, *, campaign: str, send_extra: str = "", rate: str = "500/s"
) -> Path:
    path = folder / f"{campaign}.yaml"
    path.write_text(
        f"""campaign: {campaign}
scenario:
  name: Canary {campaign}
  flow:
    - channel: SMS
      from: "385971006006"
recipients:
  csv: {csv_name}
  phoneNumber: phone
  defaultRegion: HR
sms:
  text: "Hi {{{{ first_name }}}}, spring sale. STOP: 0800123"
send:
  rateLimit: {rate}
  batchSize: 100
  concurrency: 4
{send_extra}report:
  wait: 0s
""",
        encoding="utf-8",
    )
    return path


CANARY = """  canary:
    share: 1%
    min: 50
    wait: 30s
    require:
      delivered: ">= 90%"
"""


def sandbox_received(db: Path) -> dict[str, int]:
    with SandboxServer(db_path=db) as server:
        messages = httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]
    return {m["messageId"]: m["received"] for m in messages}


def canary_members(state: Path) -> set[str]:
    with sqlite3.connect(state) as conn:
        return {r[0] for r in conn.execute("SELECT message_id FROM canary_messages")}


def test_a_healthy_canary_passes_and_the_rest_is_sent(workdir: Path, cli: Any) -> None:
    write_list(workdir / "ok.csv", 5000)
    campaign = write_sms_campaign(workdir, "ok.csv", campaign="canary-ok", send_extra=CANARY)
    plan = cli("plan", str(campaign))
    assert plan.code == 0, plan.err
    assert (
        "  canary          50 of 5000 first (1%, at least 50 final reports), waits up to 30s; "
        "requires delivered >= 90%\n" in plan.out
    )
    result = cli("apply", str(campaign))
    assert result.code == 0, result.out + result.err
    assert "Canary: 50 of 5000 message(s) go out first" in result.out
    assert "Canary passed: delivered " in result.out
    assert "Sending 50 message(s)...\n" in result.out and "Sending 4950 message(s)...\n" in result.out
    received = sandbox_received(workdir / ".campaigner/sandbox.db")
    assert len(received) == 5000
    assert all(n == 1 for n in received.values())
    summary = json.loads((workdir / "reports/canary-ok/summary.json").read_text())
    assert summary["canary"]["state"] == "passed"
    assert summary["canary"]["size"] == 50
    assert summary["recipients"]["sent"] == 5000
    assert "**Canary**" in (workdir / "reports/canary-ok/summary.md").read_text()
    assert "<h2>Canary</h2>" in (workdir / "reports/canary-ok/report.html").read_text()


def test_a_failing_canary_stops_with_the_numbers_then_accept_sends_the_rest_once(workdir: Path, cli: Any) -> None:
    write_list(workdir / "bad.csv", 5000, undeliverable_in_10=3)  # 30% end in 000: undeliverable
    campaign = write_sms_campaign(workdir, "bad.csv", campaign="canary-bad", send_extra=CANARY)
    result = cli("apply", str(campaign))
    assert result.code == 1, result.out + result.err
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("Canary failed: delivered ")
    assert "of 50 with a final report), required >= 90%; nothing more was sent." in last
    state = workdir / ".campaigner/state.db"
    received = sandbox_received(workdir / ".campaigner/sandbox.db")
    assert set(received) == canary_members(state)
    assert len(received) == 50
    summary = json.loads((workdir / "reports/canary-bad/summary.json").read_text())
    assert summary["canary"]["state"] == "failed"
    assert summary["recipients"]["sent"] == 50
    assert summary["recipients"]["planned"] == 5000
    assert "failed" in (workdir / "reports/canary-bad/summary.md").read_text()
    assert cli("report", str(campaign)).code == 0  # report keeps the canary's section
    assert json.loads((workdir / "reports/canary-bad/summary.json").read_text())["canary"]["state"] == "failed"

    planned = cli("plan", str(campaign)).out.strip().splitlines()[-1]
    assert planned.startswith("The canary of this plan was failed (delivered ")
    assert planned.endswith("): apply sends nothing until --accept-canary or --retry-canary.")
    status = cli("status", str(campaign)).out
    assert "  canary: failed, 50 recipient(s): delivered " in status
    again = cli("apply", str(campaign))
    assert again.code == 1
    assert again.out.strip().splitlines()[-1].startswith("Canary failed: delivered ")
    assert len(sandbox_received(workdir / ".campaigner/sandbox.db")) == 50

    accepted = cli("apply", str(campaign), "--accept-canary")
    assert accepted.code == 0, accepted.out + accepted.err
    assert "Canary failed, accepted with --accept-canary: sending the rest." in accepted.out
    received = sandbox_received(workdir / ".campaigner/sandbox.db")
    assert len(received) == 5000
    assert all(n == 1 for n in received.values())
    summary = json.loads((workdir / "reports/canary-bad/summary.json").read_text())
    assert summary["canary"]["state"] == "accepted"
    assert summary["recipients"]["sent"] == 5000


def _env(workdir: Path, server: SandboxServer) -> dict[str, str]:
    return provider_environ(server.url, str(workdir / ".campaigner/state.db"), read_timeout=None)


def _apply(workdir: Path, campaign: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    with (workdir / "apply.log").open("a") as log:
        log.write("--- apply\n")
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "campaigner", "apply", str(campaign), "--auto-approve"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_killed_during_the_canary_wait_resumes_the_same_sample(workdir: Path, tmp_path: Path) -> None:
    # time_scale 1: an SMS's final report comes 5 real seconds after it is sent, so the wait is long enough
    # to kill the apply in it.
    with SandboxServer(db_path=tmp_path / "slow.db", time_scale=1.0) as server:
        write_list(workdir / "k.csv", 5000)
        campaign = write_sms_campaign(workdir, "k.csv", campaign="canary-kill", send_extra=CANARY)
        env = _env(workdir, server)
        proc = _apply(workdir, campaign, env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Canary: waiting up to" not in (workdir / "apply.log").read_text():
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, (workdir / "apply.log").read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = workdir / ".campaigner/state.db"
        sample = canary_members(state)
        assert len(sample) == 50
        assert len(httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]) == 50

        again = _apply(workdir, campaign, env)
        assert again.wait(timeout=120) == 0, (workdir / "apply.log").read_text()[-3000:]
        log = (workdir / "apply.log").read_text().split("--- apply\n")[-1]
        assert "go out first" not in log  # no second canary
        assert "Canary passed" in log
        assert canary_members(state) == sample
        with sqlite3.connect(state) as conn:
            assert conn.execute("SELECT count(*) FROM canaries").fetchone()[0] == 1
        stats = httpx.get(f"{server.url}/_sandbox/stats").json()
    assert stats["duplicates"] == 0
    assert stats["messages"] == 5000


STOP = """  stopWhen:
    rejected: ">= 5%"
    after: 200
"""


def test_stop_when_rejections_pass_5_percent_after_200_answers(
    workdir: Path, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_list(workdir / "rej.csv", 3000, rejected_every=10)  # 1 in 10 ends in 555: rejected at send
    campaign = write_sms_campaign(workdir, "rej.csv", campaign="stopping", send_extra=STOP, rate="50/s")
    with SandboxServer(db_path=tmp_path / "rej.db", reject_suffix="555") as server:
        monkeypatch.setenv("INFOBIP_BASE_URL", server.url)
        monkeypatch.setenv("INFOBIP_API_KEY", "sandbox")
        plan = cli("plan", str(campaign))
        assert "  stopWhen        rejected >= 5%, after 200 answers or final reports\n" in plan.out
        result = cli("apply", str(campaign), "--auto-approve")
        assert result.code == 1, result.out + result.err
        last = result.out.strip().splitlines()[-1]
        assert last.startswith("Sending stopped: send.stopWhen.rejected >= 5% was reached: 10.0% (")
        assert last.endswith("message(s) not sent. Run apply --resume-stopped to continue.")
        summary = json.loads((workdir / "reports/stopping/summary.json").read_text())
        sent = summary["recipients"]["sent"] + summary["recipients"]["rejected"]
        assert 200 <= sent < 1000
        assert summary["recipients"]["planned"] == 3000
        assert f"; {3000 - sent} message(s) not sent" in last
        assert "not sent yet" in (workdir / "reports/stopping/summary.md").read_text()
        received = _received(server)
        assert len(received) == summary["recipients"]["sent"]

        refused = cli("apply", str(campaign), "--auto-approve")
        assert refused.code == 1
        assert refused.err.strip().startswith("error: the last apply of stopping was stopped (send.stopWhen.rejected")
        assert refused.err.strip().endswith("run apply --resume-stopped to continue")
        assert _received(server) == received

        campaign.write_text(campaign.read_text().replace(STOP, ""))  # the cause looked at: no stop this time
        resumed = cli("apply", str(campaign), "--auto-approve", "--resume-stopped")
        assert resumed.code == 1, resumed.out + resumed.err  # the 555 numbers are rejected: exit 1
        assert "Resuming the stopped send (--resume-stopped)." in resumed.out
        received = _received(server)
    assert len(received) == 2700
    assert all(n == 1 for n in received.values())


def _received(server: SandboxServer) -> dict[str, int]:
    messages = httpx.get(f"{server.url}/_sandbox/messages").json()["messages"]
    return {m["messageId"]: m["received"] for m in messages}


def test_inconclusive_when_the_wait_runs_out_then_retry_waits_again(
    workdir: Path, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # time_scale 1: reports come 5 s after the send, after the canary's 1 s wait.
    write_list(workdir / "slow.csv", 500)
    canary = CANARY.replace("share: 1%", "count: 20").replace("min: 50", "min: 20").replace("wait: 30s", "wait: 1s")
    campaign = write_sms_campaign(workdir, "slow.csv", campaign="canary-slow", send_extra=canary)
    with SandboxServer(db_path=tmp_path / "slow.db", time_scale=1.0) as server:
        monkeypatch.setenv("INFOBIP_BASE_URL", server.url)
        monkeypatch.setenv("INFOBIP_API_KEY", "sandbox")
        first = cli("apply", str(campaign), "--auto-approve")
        assert first.code == 1, first.out + first.err
        # a report comes 3..5 s after the send: none within the 1 s wait unless the machine stalls
        assert re.fullmatch(
            r"Canary inconclusive: [0-9]+ of the canary's 20 recipients have a final report, 20 are needed to "
            r"decide; nothing more was sent\. Run apply --accept-canary to send the rest anyway, or "
            r"--retry-canary to wait for more reports\.",
            first.out.strip().splitlines()[-1],
        )
        assert len(_received(server)) == 20
        plain = cli("apply", str(campaign), "--auto-approve")
        assert plain.code == 1
        assert "Canary inconclusive" in plain.out.strip().splitlines()[-1]
        assert len(_received(server)) == 20
        both = cli("apply", str(campaign), "--accept-canary", "--retry-canary")
        assert both.code == 1
        assert both.err.strip() == "error: --accept-canary and --retry-canary exclude each other; choose one"
        time.sleep(5)
        retried = cli("apply", str(campaign), "--auto-approve", "--retry-canary")
        assert retried.code == 0, retried.out + retried.err
        assert "Canary inconclusive; --retry-canary: waiting again for its final reports." in retried.out
        # every phone has a 2% chance (by hash) of being undeliverable; the target's port changes the ids
        assert re.search(
            r"Canary passed: delivered \d+\.\d% \(\d+ of 20 with a final report\), required >= 90%\.", retried.out
        ), retried.out
        received = _received(server)
    assert len(received) == 500
    assert all(n == 1 for n in received.values())


def test_a_changed_campaign_gets_a_new_canary_of_its_unsent_recipients(workdir: Path, cli: Any) -> None:
    write_list(workdir / "fix.csv", 2000, undeliverable_every=3)
    campaign = write_sms_campaign(workdir, "fix.csv", campaign="canary-fix", send_extra=CANARY)
    assert cli("apply", str(campaign)).code == 1
    first_sample = canary_members(workdir / ".campaigner/state.db")
    write_list(workdir / "fix.csv", 2000)  # the bad numbers replaced: a new plan digest
    fixed = cli("apply", str(campaign))
    assert fixed.code == 0, fixed.out + fixed.err
    assert "Canary: 50 of " in fixed.out and "Canary passed" in fixed.out
    samples = canary_members(workdir / ".campaigner/state.db")
    assert first_sample < samples and len(samples) == 100
    received = sandbox_received(workdir / ".campaigner/sandbox.db")
    assert all(n == 1 for n in received.values())
    # everyone on the new list got one message, plus the first canary's (some no longer on the list)
    listed = _listed_ids(workdir)
    assert len(listed) == 2000
    assert set(received) == listed | first_sample


def _listed_ids(workdir: Path) -> set[str]:
    with sqlite3.connect(workdir / ".campaigner/state.db") as conn:
        rows = conn.execute("SELECT message_id, recipient_id FROM messages WHERE state = 'accepted'").fetchall()
    listed = {
        "385" + line.split(",")[1].replace(" ", "").removeprefix("+385")
        for line in (workdir / "fix.csv").read_text().splitlines()[1:]
    }
    return {mid for mid, rid in rows if rid in listed}


def test_stop_when_undeliverable_reports_pass_a_share_while_sending(workdir: Path, cli: Any) -> None:
    write_list(workdir / "und.csv", 3000, undeliverable_every=3)
    stop = '  stopWhen:\n    undeliverable: ">= 10%"\n    after: 50\n'
    campaign = write_sms_campaign(workdir, "und.csv", campaign="undeliverable", send_extra=stop, rate="20/s")
    campaign.write_text(campaign.read_text().replace("batchSize: 100", "batchSize: 10"))
    result = cli("apply", str(campaign))
    assert result.code == 1, result.out + result.err
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("Sending stopped: send.stopWhen.undeliverable >= 10% was reached: ")
    assert "final reports undeliverable); " in last
    summary = json.loads((workdir / "reports/undeliverable/summary.json").read_text())
    assert 50 <= summary["recipients"]["sent"] < 3000
    assert f"; {3000 - summary['recipients']['sent']} message(s) not sent" in last
    received = sandbox_received(workdir / ".campaigner/sandbox.db")
    assert len(received) == summary["recipients"]["sent"]
    assert all(n == 1 for n in received.values())


def test_kill_9_during_the_canary_send_with_faults_never_sends_twice(workdir: Path, tmp_path: Path) -> None:
    import random

    with SandboxServer(
        db_path=tmp_path / "faulty.db",
        faults="500=0.1,429=0.05,timeout=0.02,lost-answer=0.05",
        seed=5,
        timeout_delay=2.0,
    ) as server:
        write_list(workdir / "f.csv", 1500)
        canary = CANARY.replace("share: 1%", "count: 400").replace("min: 50", "min: 300")
        campaign = write_sms_campaign(workdir, "f.csv", campaign="canary-faults", send_extra=canary, rate="200/s")
        campaign.write_text(campaign.read_text().replace("batchSize: 100", "batchSize: 5"))
        env = {**_env(workdir, server), "CAMPAIGNER_READ_TIMEOUT": "1"}
        rng = random.Random(3)
        for _ in range(3):
            proc = _apply(workdir, campaign, env)
            time.sleep(rng.uniform(0.8, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        for _ in range(5):
            proc = _apply(workdir, campaign, env)
            proc.wait(timeout=300)
            if proc.returncode == 0:
                break
        assert proc.returncode == 0, (workdir / "apply.log").read_text()[-3000:]
        assert "Sending 1100 message(s)...\n" in (workdir / "apply.log").read_text()  # the rest, after the canary
        received = _received(server)
        with sqlite3.connect(workdir / ".campaigner/state.db") as conn:
            assert conn.execute("SELECT count(*), min(size) FROM canaries").fetchone() == (1, 400)
    assert {k: n for k, n in received.items() if n > 1} == {}
    assert len(received) == 1500


def test_the_canary_on_a_postgresql_ledger(workdir: Path, cli: Any, postgres_url: str) -> None:
    write_list(workdir / "pg.csv", 1000, undeliverable_in_10=3)
    campaign = write_sms_campaign(workdir, "pg.csv", campaign="canary-pg", send_extra=CANARY)
    failed = cli("apply", str(campaign), "--state", postgres_url)
    assert failed.code == 1, failed.out + failed.err
    assert failed.out.strip().splitlines()[-1].startswith("Canary failed: delivered ")
    assert len(sandbox_received(workdir / ".campaigner/sandbox.db")) == 50
    assert cli("apply", str(campaign), "--state", postgres_url).code == 1
    accepted = cli("apply", str(campaign), "--state", postgres_url, "--accept-canary")
    assert accepted.code == 0, accepted.out + accepted.err
    received = sandbox_received(workdir / ".campaigner/sandbox.db")
    assert len(received) == 1000 and all(n == 1 for n in received.values())
