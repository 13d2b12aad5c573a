"""Rate-limit adherence: rateLimit 50/s for 20 s, requests per one-second window as the sandbox saw them.

Target: no one-second window (sliding, starting at each request) above 55 requests, mean >= 47/s.
Run: python tests/benchmarks/bench_ratelimit.py [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import bisect
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, campaigner, machine, rate_of, run, write_campaign, write_recipients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rows = args.rate * args.seconds
    with tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp:
        folder = Path(tmp)
        write_recipients(folder / "r.csv", rows)
        campaign = write_campaign(folder, "r.csv", campaign="bench-rate", rate=f"{args.rate}/s", batch=1)
        sandbox = SandboxProcess(folder)
        try:
            env = {
                "INFOBIP_BASE_URL": sandbox.url,
                "INFOBIP_API_KEY": "sandbox",
                "CAMPAIGNER_STATE": str(folder / "state.db"),
            }
            r = run([*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"], cwd=folder, env=env)
            if r.code != 0:
                print(r.err[-2000:], file=sys.stderr)
                return 1
            times = sandbox.send_times()
        finally:
            sandbox.stop()
    worst = max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    start = times[0]
    fixed = [0] * (int(times[-1] - start) + 1)
    for t in times:
        fixed[int(t - start)] += 1
    mean = rate_of(times)
    print(f"{len(times)} requests in {times[-1] - start:.1f} s at rateLimit {args.rate}/s")
    print(f"per fixed one-second window: {fixed}")
    print(
        f"busiest sliding one-second window: {worst} (target <= {args.rate * 1.1:.0f}); mean {mean:.1f}/s "
        f"(target >= {args.rate * 0.94:.0f}/s): {'met' if worst <= args.rate * 1.1 and mean >= args.rate * 0.94 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
