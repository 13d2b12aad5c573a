"""Reliability: kill -9 an apply at random moments, re-run each time; every messageId arrives exactly once.

SPEC section 10: 20 kills of an apply of 5,000 recipients against the sandbox with
--faults "500=0.1,429=0.05,timeout=0.02,lost-answer=0.02", each followed by a re-run; at the end the
sandbox has received every recipient's messageId exactly once (0 duplicates, 0 missing).
Run: python tests/benchmarks/bench_kill.py [--rows 5000] [--kills 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, campaigner, machine, run, shape, write_campaign, write_recipients

FAULTS = "500=0.1,429=0.05,timeout=0.02,lost-answer=0.02"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: {shape(args.rows, unique=True)}")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        folder = Path(tmp)
        write_recipients(folder / "r.csv", args.rows)
        campaign = write_campaign(folder, "r.csv", campaign="bench-kill", rate="1000/s", batch=1)
        sandbox = SandboxProcess(folder, faults=FAULTS)
        env = {
            **os.environ,
            "INFOBIP_BASE_URL": sandbox.url,
            "INFOBIP_API_KEY": "sandbox",
            "CAMPAIGNER_STATE": str(folder / "state.db"),
            "CAMPAIGNER_READ_TIMEOUT": "2",
            "CAMPAIGNER_SETTLE_SECONDS": "0.5",  # the sandbox logs a message as soon as it accepts it
            "NO_COLOR": "1",
        }
        started = time.monotonic()
        try:
            planned = run([*campaigner(), "plan", str(campaign), "--out", "k.plan"], cwd=folder, env=env)
            assert planned.code == 0, planned.err
            expected = {json.loads(line)["m"] for line in (folder / "k.plan").open() if '"m":' in line}
            for i in range(args.kills):
                proc = subprocess.Popen(
                    [*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"],
                    cwd=folder,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                delay = rng.uniform(0.3, 4.0)
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                received = sandbox.get("/_sandbox/stats")["messages"]  # type: ignore[index]
                print(f"kill {i + 1:2d} after {delay:.1f} s: {received} distinct messageIds received so far")
            finals = 0
            while True:
                finals += 1
                done = run([*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"], cwd=folder, env=env)
                if done.code == 0 or finals >= 5:
                    break
            messages = sandbox.get("/_sandbox/messages")["messages"]  # type: ignore[index]
        finally:
            sandbox.stop()
    got = {m["messageId"]: m["received"] for m in messages}
    duplicates = sum(1 for n in got.values() if n > 1)
    missing = len(expected - set(got))
    extra = len(set(got) - expected)
    print(
        f"{args.rows:,} recipients, {args.kills} kills, {finals} final run(s) (exit {done.code}), "
        f"{time.monotonic() - started:.0f} s in all"
    )
    print(
        f"duplicates {duplicates}, missing {missing}, unexpected {extra}: "
        f"{'met' if duplicates == missing == extra == 0 and done.code == 0 else 'MISSED'}"
    )
    return 0 if duplicates == missing == extra == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
