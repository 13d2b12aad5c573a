"""Plan speed and memory: 10,000 / 100,000 / 1,000,000 personalized recipients (SPEC section 10).

Run: python tests/benchmarks/bench_plan.py [--sizes 10000,100000,1000000] [--keep DIR]
Targets: 1,000,000 rows in <= 30 s, peak RSS <= 200 MB, RSS(1M) <= 1.2 x RSS(100k).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import campaigner, machine, run, write_campaign, write_recipients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {machine()}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        folder = Path(tmp)
        env = {"CAMPAIGNER_STATE": str(folder / "state.db")}
        for n in sizes:
            write_recipients(folder / f"r{n}.csv", n)
            campaign = write_campaign(folder, f"r{n}.csv", campaign=f"bench-plan-{n}")
            r = run([*campaigner(), "plan", str(campaign), "--format", "json"], cwd=folder, env=env)
            if r.code != 0:
                print(r.err, file=sys.stderr)
                return 1
            results[n] = r
            print(
                f"plan {n:>9,} rows: {r.seconds:6.1f} s  {n / r.seconds:9,.0f} rows/s  peak RSS {r.peak_rss_mb:6.1f} MB"
            )
    if 100_000 in results and 1_000_000 in results:
        ratio = results[1_000_000].peak_rss_mb / results[100_000].peak_rss_mb
        print(f"RSS ratio 1,000,000 : 100,000 = {ratio:.2f} (target <= 1.2)")
    if 1_000_000 in results:
        r = results[1_000_000]
        ok = r.seconds <= 30 and r.peak_rss_mb <= 200
        print(f"target 1M: <= 30 s and <= 200 MB: {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
