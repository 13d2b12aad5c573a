"""Identical payloads are grouped: 1,000,000 recipients in <= ceil(1,000,000 / batchSize) requests.

Plans (and with --apply, applies against a sandbox process) a campaign whose payloads are all
identical, and prints the number of requests, the time and the peak RSS.
Run: python tests/benchmarks/bench_grouping.py [--rows 1000000] [--batch 500] [--apply] [--time-scale X]

With --apply, the target: every message sent once and every delivery report stored, by one
``campaigner apply --wait 10m``, in <= 120 s (printed as met or MISSED). The sandbox runs at
``--time-scale`` simulated seconds per real second (default 1e9: every outcome is known at once). At
the sandbox's own default (1800) the 48-hour SMS validity of the numbers ending in 999 alone takes 96 s
of waiting, whatever campaigner does; that wait is the simulated provider's, not work.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, campaigner, machine, run, shape, write_campaign, write_recipients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--apply", action="store_true", help="also apply it against a sandbox process")
    parser.add_argument("--time-scale", default="1e9", help="the sandbox's simulated seconds per real second")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: {shape(args.rows, unique=False, identical=True)}; batchSize {args.batch}")
    bound = math.ceil(args.rows / args.batch)
    with tempfile.TemporaryDirectory(prefix="bench-group-") as tmp:
        folder = Path(tmp)
        write_recipients(folder / "same.csv", args.rows, identical=True)
        campaign = write_campaign(
            folder, "same.csv", campaign="bench-group", personalized=False, rate="1000/s", batch=args.batch
        )
        env = {"CAMPAIGNER_STATE": str(folder / "state.db")}
        r = run([*campaigner(), "plan", str(campaign), "--format", "json"], cwd=folder, env=env)
        if r.code != 0:
            print(r.err, file=sys.stderr)
            return 1
        plan = json.loads(r.out)
        print(
            f"plan: {args.rows:,} recipients -> {plan['requests']:,} requests (bound {bound:,}): "
            f"{'met' if plan['requests'] <= bound else 'MISSED'}; {r.seconds:.1f} s, peak RSS {r.peak_rss_mb:.0f} MB"
        )
        if args.apply:
            sandbox = SandboxProcess(folder, extra=["--time-scale", args.time_scale])
            try:
                env |= {"INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": "sandbox"}
                a = run([*campaigner(), "apply", str(campaign), "--auto-approve", "--wait", "10m"], cwd=folder, env=env)
                sent = len(sandbox.send_times())
                stats: Any = sandbox.get("/_sandbox/stats")
                summary = json.loads((folder / "reports" / "bench-group" / "summary.json").read_text())
                reported = sum(summary["final"][k] for k in ("delivered", "undeliverable", "expired", "rejected"))
                print(
                    f"apply (sandbox time scale {args.time_scale}): exit {a.code}, {sent:,} requests seen by the "
                    f"sandbox, {a.seconds:.1f} s ({a.cpu_seconds:.1f} s CPU, {a.cpu_share:.0%} of a core), "
                    f"peak RSS {a.peak_rss_mb:.0f} MB, receipts {stats['receipts']:,}, "
                    f"duplicates {stats['duplicates']}, final reports in the summary {reported:,}"
                )
                complete = (
                    a.code == 0
                    and stats["receipts"] == stats["messages"] == args.rows
                    and stats["duplicates"] == 0
                    and reported == args.rows
                )
                verdict = "met" if complete and a.seconds <= 120 else "MISSED"
                print(
                    f"target: {args.rows:,} identical messages applied with every report in <= 120 s: {verdict} "
                    f"({a.seconds:.1f} s{'' if complete else '; not every message sent once and reported'})"
                )
            finally:
                sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
