"""Plan speed and memory on 100,000 / 1,000,000 recipients, a coupon unique per row and a repeating one.

Run: python tests/benchmarks/bench_plan.py [--sizes 100000,1000000] [--repeat 1]
Targets (SPEC section 10, the unique case): 1,000,000 rows <= 15 s, peak RSS <= 200 MB,
RSS(1M) <= 1.2 x RSS(100k).

The coupon is used in both templates; "repeating" cycles it through 25 values (the render cache's best
case), the baseline each unique figure is compared with in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Run, campaigner, machine, run, shape, write_campaign, write_recipients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the median is shown)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {machine()}")
    results: dict[tuple[int, bool], Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        folder = Path(tmp)
        env = {"CAMPAIGNER_STATE": str(folder / "state.db")}
        for n in sizes:
            for unique in (True, False):
                name = f"r{n}-{'u' if unique else 'r'}"
                write_recipients(folder / f"{name}.csv", n, unique=unique)
                campaign = write_campaign(folder, f"{name}.csv", campaign=f"bench-plan-{name}")
                runs = []
                for _ in range(args.repeat):
                    r = run([*campaigner(), "plan", str(campaign), "--format", "json"], cwd=folder, env=env)
                    if r.code != 0:
                        print(r.err, file=sys.stderr)
                        return 1
                    runs.append(r)
                r = sorted(runs, key=lambda x: x.seconds)[len(runs) // 2]
                r.peak_rss_mb = statistics.median(x.peak_rss_mb for x in runs)
                results[(n, unique)] = r
                print(
                    f"plan {shape(n, unique=unique)}: {r.seconds:6.1f} s wall, {r.cpu_seconds:6.1f} s CPU "
                    f"({r.cpu_share:.0%} of a core: the rest went to other processes), "
                    f"{n / r.cpu_seconds:9,.0f} rows per CPU second, peak RSS {r.peak_rss_mb:6.1f} MB"
                )
            u, rep = results[(n, True)], results[(n, False)]
            print(
                f"  unique / repeating, {n:,} rows: CPU {u.cpu_seconds / rep.cpu_seconds:.2f}, "
                f"wall {u.seconds / rep.seconds:.2f}, RSS {u.peak_rss_mb / rep.peak_rss_mb:.2f}"
            )
    if (100_000, True) in results and (1_000_000, True) in results:
        ratio = results[(1_000_000, True)].peak_rss_mb / results[(100_000, True)].peak_rss_mb
        print(
            f"RSS ratio 1,000,000 : 100,000 rows (unique) = {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})"
        )
    if (1_000_000, True) in results:
        r = results[(1_000_000, True)]
        ok = r.seconds <= 15 and r.peak_rss_mb <= 200
        print(
            f"target 1M unique: <= 15 s and <= 200 MB: {'met' if ok else 'MISSED'} ({r.seconds:.1f} s, {r.peak_rss_mb:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
