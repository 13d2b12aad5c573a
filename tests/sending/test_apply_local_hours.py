"""apply with send.localHours over real HTTP: sendAt per recipient's daytime, held by the sandbox until its
clock reaches it, counted as scheduled, collected later by `campaigner report`; exactly once under kill -9."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import provider_environ

from campaigner.sandbox.server import SandboxServer
from campaigner.schedule.zones import load_zone

AUTH = {"Authorization": "App sandbox"}


def etc_zone(local_hour: int, now: datetime) -> str:
    """An ``Etc/GMT±n`` zone in which it is now ``local_hour`` o'clock (the sign of Etc names is reversed)."""
    offset = ((local_hour - now.hour + 12) % 24) - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def write_local_hours_campaign(folder: Path, rows: int, *, name: str, batch: int = 5) -> tuple[Path, str, str]:
    """Half the recipients where it is 13:00 (open: sent at once), half where it is 03:00 (scheduled for 09:00)."""
    now = datetime.now(UTC)
    open_zone, closed_zone = etc_zone(13, now), etc_zone(3, now)
    with (folder / f"{name}.csv").open("w", encoding="utf-8") as fh:
        fh.write("first_name,phone,tz\n")
        for i in range(rows):
            fh.write(f"Ana,+38591{1000000 + i:07d},{open_zone if i % 2 else closed_zone}\n")
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""campaign: {name}
scenario:
  name: Local {name}
  flow:
    - channel: SMS
      from: InfoSMS
recipients:
  csv: {name}.csv
  phoneNumber: phone
sms:
  text: "Spring sale: 20% off at shop.example. STOP: 0800123"
send:
  rateLimit: 2000/s
  batchSize: {batch}
  localHours: {{from: "09:00", to: "20:00", zone: tz}}
report:
  wait: 0s
""",
        encoding="utf-8",
    )
    return path, open_zone, closed_zone


def logs(url: str, bulk_id: str | None = None) -> list[dict[str, Any]]:
    """Every message in the sandbox's logs (pages of 1000, newest first)."""
    params: dict[str, Any] = {"limit": 1000}
    if bulk_id:
        params["bulkId"] = bulk_id
    return list(httpx.get(f"{url}/omni/1/logs", params=params, headers=AUTH).json()["results"])


def local_time(sent_at: str, zone: str) -> str:
    return datetime.fromisoformat(sent_at).astimezone(load_zone(zone)).strftime("%H:%M")


def test_scheduled_messages_wait_for_their_sendat_and_are_collected_later(
    workdir: Path, cli: Any, tmp_path: Path
) -> None:
    campaign, _, closed_zone = write_local_hours_campaign(workdir, 40, name="local-test", batch=500)
    plan = cli("plan", str(campaign), "--format", "json")
    assert plan.code == 0, plan.err
    schedule = json.loads(plan.out)["schedule"]
    assert schedule["now"] == 20 and schedule["scheduled"] == 20

    first = cli("apply", str(campaign), "--wait", "30s")
    assert first.code == 0, first.out + first.err
    assert "20 message(s) scheduled for later (sendAt): `campaigner report` collects theirs." in first.out
    folder = campaign.parent / "reports/local-test"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["recipients"]["sent"] == 40
    assert summary["final"]["scheduled"] == 20
    assert summary["final"]["pending"] == 0
    status = cli("status", str(campaign))
    assert "  scheduled: 20 accepted with a later sendAt, by hour (UTC):" in status.out

    with SandboxServer(db_path=workdir / ".campaigner/sandbox.db") as server:
        stats = httpx.get(f"{server.url}/_sandbox/stats").json()
        assert stats["receipts"] == 40 and stats["duplicates"] == 0
        held = [e for e in logs(server.url) if e["status"]["name"] == "PENDING_ACCEPTED"]
        assert len(held) == 20
        slots = {e["sentAt"] for e in held}
        assert 1 < len(slots) <= 10
        # identical payloads share a request: one for those sent at once, one per sendAt
        assert stats["requests"]["POST /omni/1/advanced"] == {"200": 1 + len(slots)}
        for entry in held:  # sentAt is the sendAt: 09:00-09:10 where it is 03:00 now
            assert "09:00" <= local_time(entry["sentAt"], closed_zone) < "09:10"
        assert httpx.post(f"{server.url}/_sandbox/clock", json={"advance": "7h"}).status_code == 200
        assert not [e for e in logs(server.url) if e["status"]["groupName"] == "PENDING"]

    later = cli("report", str(campaign))
    assert later.code == 0, later.out + later.err
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["final"]["scheduled"] == 0
    assert summary["final"]["pending"] == 0
    assert sum(summary["final"].values()) == 40
    again = cli("apply", str(campaign), "--no-wait")
    assert "No changes." in again.out and "Nothing new was sent." in again.out


@pytest.fixture
def faulty_sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    server = SandboxServer(
        db_path=tmp_path / "faulty.db",
        faults="500=0.1,429=0.05,timeout=0.02,lost-answer=0.02",
        seed=13,
        timeout_delay=2.0,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(workdir: Path, server: SandboxServer) -> dict[str, str]:
    return provider_environ(server.url, str(workdir / ".campaigner/state.db"))


def _run(workdir: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    with (workdir / "apply.log").open("a") as log:
        log.write(f"--- {' '.join(args)}\n")
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "campaigner", *args],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_kill_9_during_an_apply_with_scheduled_sends_never_sends_twice(
    workdir: Path, faulty_sandbox: SandboxServer
) -> None:
    rows = 800  # the logs answer at most 1000 entries: every message fits in one page
    campaign, _, closed_zone = write_local_hours_campaign(workdir, rows, name="kill-local")
    env = _env(workdir, faulty_sandbox)
    rng = random.Random(3)
    for _ in range(3):
        proc = _run(workdir, env, "apply", str(campaign), "--auto-approve", "--no-wait")
        time.sleep(rng.uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for _ in range(5):  # re-run to convergence
        proc = _run(workdir, env, "apply", str(campaign), "--auto-approve", "--no-wait")
        proc.wait(timeout=300)
        if proc.returncode == 0:
            break
    log = (workdir / "apply.log").read_text()
    assert proc.returncode == 0, log[-4000:]
    messages = httpx.get(f"{faulty_sandbox.url}/_sandbox/messages").json()["messages"]
    assert len(messages) == rows
    assert {m["messageId"]: m["received"] for m in messages if m["received"] > 1} == {}
    assert httpx.get(f"{faulty_sandbox.url}/_sandbox/stats").json()["duplicates"] == 0

    entries = logs(faulty_sandbox.url)
    held = [e for e in entries if e["status"]["name"] == "PENDING_ACCEPTED"]
    assert len(held) == rows // 2
    assert all("09:00" <= local_time(e["sentAt"], closed_zone) < "09:10" for e in held)
    # The sandbox's clock reaches 09:00 where it was 03:00: the held messages go out at their time.
    httpx.post(f"{faulty_sandbox.url}/_sandbox/clock", json={"advance": "7h"}).raise_for_status()
    report = _run(workdir, env, "report", str(campaign))
    assert report.wait(timeout=120) == 0, (workdir / "apply.log").read_text()[-4000:]
    summary = json.loads((campaign.parent / "reports/kill-local/summary.json").read_text())
    assert summary["final"]["scheduled"] == 0
    assert summary["final"]["pending"] == 0
    assert summary["recipients"]["sent"] == rows


def test_a_saved_plan_carries_the_zones_and_apply_schedules_them(workdir: Path, cli: Any) -> None:
    campaign, open_zone, closed_zone = write_local_hours_campaign(workdir, 10, name="saved-local", batch=500)
    made = cli("plan", str(campaign), "--out", "local.plan")
    assert made.code == 0, made.err
    lines = [json.loads(line) for line in (workdir / "local.plan").read_text().splitlines()]
    assert {tuple(m["tz"]) for m in lines if "m" in m} == {(closed_zone,), (open_zone,)}
    applied = cli("apply", "local.plan", "--no-wait")
    assert applied.code == 0, applied.out + applied.err
    with SandboxServer(db_path=workdir / ".campaigner/sandbox.db") as server:
        held = [e for e in logs(server.url) if e["status"]["name"] == "PENDING_ACCEPTED"]
    assert len(held) == 5
    assert all("09:00" <= local_time(e["sentAt"], closed_zone) < "09:10" for e in held)


def test_not_before_in_the_future_schedules_instead_of_refusing(workdir: Path, cli: Any) -> None:
    campaign, _, _ = write_local_hours_campaign(workdir, 6, name="later-local", batch=500)
    not_before = datetime.fromtimestamp(time.time() + 3 * 86400, UTC).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    text = campaign.read_text().replace("  localHours:", f"  notBefore: {not_before.isoformat()}\n  localHours:")
    campaign.write_text(text)
    applied = cli("apply", str(campaign), "--no-wait")
    assert applied.code == 0, applied.out + applied.err
    assert "  now             0\n" in applied.out
    with SandboxServer(db_path=workdir / ".campaigner/sandbox.db") as server:
        held = [e for e in logs(server.url) if e["status"]["name"] == "PENDING_ACCEPTED"]
    assert len(held) == 6
    assert all(datetime.fromisoformat(e["sentAt"]) >= not_before for e in held)


def test_a_lost_ledger_adopts_the_scheduled_messages_with_their_send_at(workdir: Path, cli: Any) -> None:
    campaign, _, _ = write_local_hours_campaign(workdir, 10, name="lost-local", batch=500)
    assert cli("apply", str(campaign), "--no-wait").code == 0
    for path in (workdir / ".campaigner").glob("state.db*"):
        path.unlink()
    again = cli("apply", str(campaign), "--no-wait")
    assert again.code == 0, again.out + again.err
    assert "10 adopted from the provider's logs" in again.out
    summary = json.loads((campaign.parent / "reports/lost-local/summary.json").read_text())
    assert summary["final"]["scheduled"] == 5
    with SandboxServer(db_path=workdir / ".campaigner/sandbox.db") as server:
        stats = httpx.get(f"{server.url}/_sandbox/stats").json()
    assert stats["receipts"] == 10 and stats["duplicates"] == 0
