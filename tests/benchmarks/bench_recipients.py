"""Benchmark: stream N recipient rows (phones normalized, deduplicated) and report rows/s and peak RSS.

    python tests/benchmarks/bench_recipients.py 100000 1000000 [--line-every 3]

Every 3rd row has a LINE user key (``--line-every 0``: none). Each size runs in a fresh process so
that peak RSS is its own.
"""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, when not installed

FORMATS = ("+385 9{a} {b:03d} {c:04d}", "09{a} {b:03d} {c:04d}", "+3859{a}{b:03d}{c:04d}", "09{a}/{b:03d}-{c:04d}")


def write_csv(path: Path, rows: int, line_every: int = 3) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,line_user_key,first_name,discount,segment\n")
        for i in range(rows):
            fmt = FORMATS[i % len(FORMATS)]
            phone = fmt.format(a=rng.choice("12578"), b=(i // 10_000) % 1000, c=i % 10_000)
            line = f"U{i:032x}" if line_every and i % line_every == 0 else ""
            out.write(f"{phone},{line},Name{i % 977},{i % 50},seg{i % 7}\n")


def run_one(rows: int, line_every: int) -> None:
    from campaigner.campaign.spec import Recipients
    from campaigner.recipients.reader import Recipient, open_recipients

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_csv(base / "r.csv", rows, line_every)
        spec = Recipients(csv="r.csv", phoneNumber="phone", lineUserKey="line_user_key", defaultRegion="HR")
        start = time.perf_counter()
        sent = skipped = 0
        with open_recipients(spec, base, campaign_path=base / "c.yaml") as source:
            for item in source:
                if isinstance(item, Recipient):
                    sent += 1
                else:
                    skipped += 1
            slow = source.phones.slow
        elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{rows:>9} rows: {elapsed:6.2f} s, {rows / elapsed:>9,.0f} rows/s, peak RSS {rss_mb:6.1f} MB "
        f"(recipients {sent}, skips {skipped}, library fallbacks {slow})"
    )


def main(argv: list[str]) -> None:
    line_every = "3"
    if "--line-every" in argv:
        at = argv.index("--line-every")
        line_every = argv[at + 1]
        del argv[at : at + 2]
    if argv[:1] == ["--one"]:
        run_one(int(argv[1]), int(line_every))
        return
    print(f"a LINE user key on every {line_every} rows" if line_every != "0" else "no LINE user keys")
    for size in argv or ["100000", "1000000"]:
        subprocess.run([sys.executable, __file__, "--one", size, "--line-every", line_every], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
