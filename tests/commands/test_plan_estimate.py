"""The plan's duration estimate end to end (#14): apply against a provider 100 ms away, then plan uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks._measure import write_campaign, write_recipients
from helpers import provider_environ

from campaigner.ledger.messages import Ledger
from campaigner.sandbox.server import SandboxServer

CAMPAIGN = "latency-test.yaml"


def _run(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "campaigner", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _requests_line(out: str) -> str:
    [line] = [line for line in out.splitlines() if line.startswith("  requests  ")]
    return line


def test_apply_measures_the_latency_and_the_next_plan_estimates_with_it(tmp_path: Path) -> None:
    state = str(tmp_path / ".campaigner" / "state.db")
    write_recipients(tmp_path / "people.csv", 40)
    write_campaign(tmp_path, "people.csv", campaign="latency-test", rate="1000/s", batch=1, concurrency=8)
    with SandboxServer(db_path=tmp_path / "sandbox.db", latency="100ms") as server:
        env = provider_environ(server.url, state)
        target = json.loads(_run(tmp_path, env, "plan", CAMPAIGN, "--format", "json"))["target"]
        assert _requests_line(_run(tmp_path, env, "plan", CAMPAIGN)) == (
            "  requests        40 (up to 1 per request), under 1 s at 1000/s (the rate limit; assumes no latency)"
        )
        applied = _run(tmp_path, env, "apply", CAMPAIGN, "--auto-approve", "--no-wait")
        assert _requests_line(applied) == (
            "  requests        40 (up to 1 per request), under 1 s at 1000/s (the rate limit; assumes no latency)"
        )
        with Ledger(state) as ledger:
            record = ledger.latency(target)
        assert record is not None
        # every answer is held 100 ms; a busy machine adds to it (the figure is a bucket's midpoint, ±1 %)
        assert 0.099 <= record.p50 <= record.p95 < 0.8, record
        assert (record.requests, record.concurrency) == (40, 8)

        write_recipients(tmp_path / "people.csv", 240)  # the same 40 people first, then 200 more
        rate = min(1000, 8 / record.p50)
        expected = (
            f"  requests        200 (up to 1 per request), about {round(200 / rate)} s at {round(rate)}/s "
            f"(8 in flight, {round(record.p50 * 1000)} ms measured by an earlier apply)"
        )
        shown = _run(tmp_path, env, "plan", CAMPAIGN)
        assert _requests_line(shown) == expected
        assert _requests_line(_run(tmp_path, env, "apply", CAMPAIGN, "--auto-approve", "--no-wait")) == expected
        with Ledger(state) as ledger:
            again = ledger.latency(target)
        assert again is not None and (again.requests, again.concurrency) == (200, 8)  # the last apply's figure
        assert 0.099 <= again.p50 < 0.8, again
