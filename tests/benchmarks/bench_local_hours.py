"""What send.localHours costs the plan: the same recipients planned with and without it, as a ratio.

Recipients in Croatia, Japan, Brazil (13 area codes), the US (10 area codes) and Russia, every number
distinct, personalized content. The plan with localHours finds each number's zones and its sendAt.

Run: python tests/benchmarks/bench_local_hours.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import FIRST_NAMES, campaigner, machine, run, write_campaign

BR_AREAS = (11, 21, 31, 41, 51, 61, 71, 81, 91, 92, 65, 68, 69)
US_AREAS = (212, 310, 312, 415, 617, 808, 907, 208, 305, 713)


def number(i: int) -> str:
    n = i // 5
    kind = i % 5
    if kind == 0:
        return f"+38591{1000000 + n:07d}"
    if kind == 1:
        return f"+8190{10000000 + n:08d}"
    if kind == 2:
        return f"+55{BR_AREAS[n % len(BR_AREAS)]}9{80000000 + n:08d}"
    if kind == 3:
        return f"+1{US_AREAS[n % len(US_AREAS)]}{200 + n % 700}{n // 700 % 10000:04d}"
    return f"+7916{1000000 + n:07d}"


def write_world(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("first_name,phone,line_user_key,discount,segment\n")
        for i in range(rows):
            fh.write(f"{FIRST_NAMES[i % len(FIRST_NAMES)]},{number(i)},,{10 + i % 25},s{i % 4}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        folder = Path(tmp)
        env = {"CAMPAIGNER_STATE": str(folder / "state.db")}
        write_world(folder / "world.csv", args.rows)
        plain = write_campaign(folder, "world.csv", campaign="plain")
        local = write_campaign(folder, "world.csv", campaign="local")
        text = local.read_text(encoding="utf-8").replace(
            "send:\n", 'send:\n  localHours: {from: "09:00", to: "20:00", days: [Mon, Tue, Wed, Thu, Fri, Sat]}\n'
        )
        local.write_text(text, encoding="utf-8")
        results = {}
        for name, path in (("without localHours", plain), ("with localHours", local)):
            r = run([*campaigner(), "plan", str(path), "--format", "json"], cwd=folder, env=env)
            if r.code != 0:
                print(r.err, file=sys.stderr)
                return 1
            results[name] = r
            print(
                f"plan {args.rows:,} rows {name:>19}: {r.seconds:6.1f} s  {args.rows / r.seconds:9,.0f} rows/s  "
                f"peak RSS {r.peak_rss_mb:6.1f} MB"
            )
        base, with_hours = results["without localHours"], results["with localHours"]
        print(
            f"time ratio with : without = {with_hours.seconds / base.seconds:.2f}; "
            f"peak RSS ratio = {with_hours.peak_rss_mb / base.peak_rss_mb:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
