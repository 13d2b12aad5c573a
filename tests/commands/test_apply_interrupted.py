"""An interrupted apply: Ctrl-C says what went out and what is in doubt; plan keeps what is in doubt open."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from benchmarks._measure import write_campaign, write_recipients

from campaigner.campaign.load import load_campaign
from campaigner.ledger.messages import Ledger, MessageIntent
from campaigner.plan.build import PlannedMessage
from campaigner.plan.ids import bulk_id
from campaigner.plan.stream import MessageStream
from campaigner.sandbox.server import SandboxServer

EXAMPLE = "campaigns/spring-sale-2026.yaml"
IN_DOUBT = (
    "sent by an interrupted apply and never answered: settled through the provider's logs before anything else is sent"
)


def _claim_without_answer(workdir: Path, count: int) -> None:
    """What an apply killed mid-request leaves: messages claimed (``sending``) that no answer settled."""
    loaded = load_campaign(EXAMPLE)
    campaign = loaded.spec.campaign
    stream = MessageStream(loaded, "sandbox")
    try:
        planned = [m for m in stream if isinstance(m, PlannedMessage)][:count]
    finally:
        stream.close()
    ledger = Ledger(workdir / ".campaigner" / "state.db")
    try:
        ledger.ensure_campaign("sandbox", campaign, bulk_id("sandbox", campaign))
        intents = [MessageIntent(m.message_id, m.recipient_id, m.row, m.payload.hash) for m in planned]
        assert len(ledger.claim_for_sending("sandbox", campaign, intents, at=time.time())) == count
    finally:
        ledger.close()


def test_messages_in_doubt_keep_the_plan_open_until_apply_settles_them(workdir: Path, cli: Any) -> None:
    _claim_without_answer(workdir, 5)
    planned = cli("plan", EXAMPLE, "--detailed-exitcode")
    assert planned.code == 2, planned.err
    assert f"  in doubt        5 ({IN_DOUBT})\n" in planned.out
    assert planned.out.rstrip().endswith("Plan: 10 messages to send, 5 in doubt, 1 scenario to create.")
    markdown = cli("plan", EXAMPLE, "--format", "markdown")
    assert f"| in doubt ({IN_DOUBT}) | 5 |" in markdown.out
    applied = cli("apply", EXAMPLE, "--no-wait")
    assert "No changes." not in applied.out
    assert "Plan: 10 messages to send, 5 in doubt, 1 scenario to create." in applied.out
    assert not re.search(r"\b(\d+)/0 sent", applied.out)
    again = cli("plan", EXAMPLE, "--detailed-exitcode")
    assert (again.code, again.out.rstrip().splitlines()[-1]) == (0, "No changes.")


def test_ctrl_c_during_apply_says_what_was_sent_and_what_is_in_doubt(workdir: Path) -> None:
    server = SandboxServer(db_path=workdir / "slow.db", faults="timeout=1.0", timeout_delay=15.0)
    server.start()
    try:
        write_recipients(workdir / "r.csv", 40)
        campaign = write_campaign(workdir, "r.csv", campaign="ctrl-c", rate="100/s", batch=5, concurrency=2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFOBIP_") and k != "CI"}
        env.update(
            INFOBIP_BASE_URL=server.url,
            INFOBIP_API_KEY=server.api_key,
            CAMPAIGNER_STATE=str(workdir / ".campaigner" / "state.db"),
            CAMPAIGNER_READ_TIMEOUT="60",
            NO_COLOR="1",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "campaigner", "apply", str(campaign), "--auto-approve", "--no-wait"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until both workers wait on an answer that does not come
            messages = httpx.get(f"{server.url}/_sandbox/messages", timeout=10).json()["messages"]
            if len(messages) >= 2:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        out, err = proc.communicate(timeout=60)
        exited = time.monotonic() - interrupted
    finally:
        server.stop()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert exited < 10, exited
    lines = err.strip().splitlines()
    found = re.fullmatch(r"Interrupted: 0 accepted, 0 rejected, (\d+) in doubt \(sent, no answer\)\.", lines[-2])
    assert found is not None and int(found.group(1)) > 0, err
    assert lines[-1] == (
        f"Run `campaigner apply {campaign}` again: it settles the {found.group(1)} in doubt through the provider's "
        "logs before sending anything else, and sends no message twice."
    )


def test_a_bad_wait_option_is_one_line_before_anything_is_sent(workdir: Path, cli: Any) -> None:
    result = cli("apply", EXAMPLE, "--wait", "soon")
    assert (result.code, result.err) == (1, "error: --wait: expected a duration such as 30s, 10m or 1h, got 'soon'\n")
    assert not (workdir / ".campaigner" / "sandbox.db").exists()
