"""Plan speed and memory on 100,000 / 1,000,000 recipients: a coupon unique per row, in one process and
with planning workers, against the repeating baseline.

Run: python tests/benchmarks/bench_plan.py [--sizes 100000,1000000] [--repeat 1] [--jobs N]
Targets (issue #14, the unique case): 1,000,000 rows <= 15 s, peak RSS <= 200 MB (the whole process
tree: the workers' memory counts), RSS(1M) <= 1.2 x RSS(100k) in the same configuration.

Cases per size: "unique" (the coupon used in both templates is unique per row, as personal codes are)
planned with ``CAMPAIGNER_JOBS=N`` workers (default: the cores available) and with ``CAMPAIGNER_JOBS=1``
(one process); "repeating" (the coupon cycles through 25 values: the render cache's best case) in one
process. Ratios are taken within the same run.
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="workers for the parallel case")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    jobs = max(2, args.jobs)
    print(f"machine: {machine()}")
    cases = [(True, jobs), (True, 1), (False, 1)]
    results: dict[tuple[int, bool, int], Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        folder = Path(tmp)
        for n in sizes:
            for unique in (True, False):
                name = f"r{n}-{'u' if unique else 'r'}"
                write_recipients(folder / f"{name}.csv", n, unique=unique)
                write_campaign(folder, f"{name}.csv", campaign=f"bench-plan-{name}")
            for unique, j in cases:
                name = f"r{n}-{'u' if unique else 'r'}"
                campaign = folder / f"bench-plan-{name}.yaml"
                env = {"CAMPAIGNER_STATE": str(folder / "state.db"), "CAMPAIGNER_JOBS": str(j)}
                runs = []
                for _ in range(args.repeat):
                    r = run([*campaigner(), "plan", str(campaign), "--format", "json"], cwd=folder, env=env)
                    if r.code != 0:
                        print(r.err, file=sys.stderr)
                        return 1
                    runs.append(r)
                r = sorted(runs, key=lambda x: x.seconds)[len(runs) // 2]
                r.peak_rss_mb = statistics.median(x.peak_rss_mb for x in runs)
                results[(n, unique, j)] = r
                how = f"{j} workers" if j > 1 else "1 process"
                print(
                    f"plan {shape(n, unique=unique)}, {how}: {r.seconds:6.1f} s wall, {r.cpu_seconds:6.1f} s CPU "
                    f"({r.cpu_share:.2f} cores), {n / r.seconds:9,.0f} rows/s, peak RSS {r.peak_rss_mb:6.1f} MB"
                )
            u, one, rep = results[(n, True, jobs)], results[(n, True, 1)], results[(n, False, 1)]
            print(
                f"  {n:,} rows: workers / one process (unique) wall {u.seconds / one.seconds:.2f}, "
                f"CPU {u.cpu_seconds / one.cpu_seconds:.2f}; unique / repeating (one process) "
                f"wall {one.seconds / rep.seconds:.2f}, CPU {one.cpu_seconds / rep.cpu_seconds:.2f}"
            )
    if 100_000 in sizes and 1_000_000 in sizes:
        for j in (jobs, 1):
            ratio = results[(1_000_000, True, j)].peak_rss_mb / results[(100_000, True, j)].peak_rss_mb
            how = f"{j} workers" if j > 1 else "1 process"
            print(
                f"RSS 1,000,000 : 100,000 rows (unique, {how}) = {ratio:.2f} "
                f"(target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})"
            )
    if 1_000_000 in sizes:
        r = results[(1_000_000, True, jobs)]
        ok = r.seconds <= 15 and r.peak_rss_mb <= 200
        print(
            f"target 1M unique, {jobs} workers: <= 15 s and <= 200 MB: {'met' if ok else 'MISSED'} "
            f"({r.seconds:.1f} s, {r.peak_rss_mb:.0f} MB; {r.cpu_share:.2f} of {len(os.sched_getaffinity(0))} cores)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
