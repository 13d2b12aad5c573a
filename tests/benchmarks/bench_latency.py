"""Sending rate against a provider 50 ms away: clients in a bare loop, then apply, vs min(rateLimit, c / latency).

Run: python tests/benchmarks/bench_latency.py [--latency 50ms] [--concurrency 8,32,64] [--apply-seconds 8]
     [--rate 1000] [--seconds 4] [--clients httpx,httpx-aiohttp,aiohttp] [--no-apply]
Target: apply reaches >= 0.8 of the ideal min(rateLimit, concurrency / latency), up to 1,000 requests/s.

The sandbox runs in its own process with ``--latency``. The bare loops send ``GET /omni/1/scenarios``
(a cheap answer) for ``--seconds`` at each concurrency; apply sends a campaign whose rows all differ
(a coupon unique per row), so every message is its own request.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, campaigner, machine, rate_of, run, shape, write_campaign, write_recipients

AUTH = {"Authorization": "App sandbox"}
Loop = Callable[[str, int, float], Awaitable[int]]


async def _httpx_loop(url: str, concurrency: int, seconds: float, transport: object = None) -> int:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url,
        headers=AUTH,
        limits=limits,
        timeout=30,
        transport=transport,  # type: ignore[arg-type]
    ) as client:
        return await _drive(lambda: client.get("/omni/1/scenarios"), concurrency, seconds)


async def httpx_default(url: str, concurrency: int, seconds: float) -> int:
    return await _httpx_loop(url, concurrency, seconds)


async def httpx_aiohttp(url: str, concurrency: int, seconds: float) -> int:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return await _httpx_loop(url, concurrency, seconds, AiohttpTransport(limits=limits))


async def aiohttp_bare(url: str, concurrency: int, seconds: float) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, headers=AUTH, connector=connector) as session:

        async def one() -> None:
            async with session.get("/omni/1/scenarios") as answer:
                await answer.read()

        return await _drive(one, concurrency, seconds)


async def _drive(one: Callable[[], Awaitable[object]], concurrency: int, seconds: float) -> int:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one()
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


LOOPS: dict[str, Loop] = {"httpx": httpx_default, "httpx-aiohttp": httpx_aiohttp, "aiohttp": aiohttp_bare}


def _seconds(spec: str) -> float:
    spec = spec.split(",")[0].strip()
    return float(spec[:-2]) / 1000 if spec.endswith("ms") else float(spec.rstrip("s"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", default="50ms")
    parser.add_argument("--concurrency", default="8,32,64")
    parser.add_argument("--apply-seconds", type=float, default=8.0, help="each apply sends this long at the ideal")
    parser.add_argument("--rate", type=int, default=1000, help="rateLimit per second in the campaign")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each bare loop")
    parser.add_argument("--clients", default="httpx,httpx-aiohttp,aiohttp")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (the median is shown)")
    parser.add_argument("--no-apply", action="store_true")
    args = parser.parse_args()
    latency = _seconds(args.latency)
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"machine: {machine()}")
    print(f"sandbox latency {args.latency}; ideal = min(rateLimit {args.rate}/s, concurrency / {latency:g} s)")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        folder = Path(tmp)
        sandbox = SandboxProcess(folder, extra=["--latency", args.latency])
        try:
            clients = [c for c in args.clients.split(",") if c]
            for name in clients:
                module = {"httpx-aiohttp": "httpx_aiohttp"}.get(name, name)
                if importlib.util.find_spec(module) is None:
                    print(f"bare {name:<14} not installed (pip install {name}): skipped")
                    continue
                for c in levels:
                    rates = []
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        n = asyncio.run(LOOPS[name](sandbox.url, c, args.seconds))
                        rates.append(n / (time.perf_counter() - started))
                    rate = statistics.median(rates)
                    ideal = c / latency
                    print(
                        f"bare {name:<14} concurrency {c:>3}: {rate:7.0f} req/s  ideal {ideal:5.0f}  {rate / ideal:4.2f}"
                    )
            if args.no_apply:
                return 0
            env = {"CAMPAIGNER_STATE": str(folder / "state.db"), "INFOBIP_BASE_URL": sandbox.url}
            env["INFOBIP_API_KEY"] = "sandbox"
            for c in levels:
                ratios = []
                rows = max(1000, int(min(args.rate, c / latency) * args.apply_seconds))
                write_recipients(folder / f"r{c}.csv", rows)
                print(f"apply input: {shape(rows, unique=True)}; batchSize 500, rateLimit {args.rate}/s")
                for i in range(args.repeat):
                    sandbox.reset()
                    name = f"bench-latency-{c}-{i}"
                    campaign = write_campaign(
                        folder, f"r{c}.csv", campaign=name, rate=f"{args.rate}/s", batch=500, concurrency=c
                    )
                    r = run([*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"], cwd=folder, env=env)
                    if r.code != 0:
                        print(r.out[-2000:], r.err[-2000:], file=sys.stderr)
                        return 1
                    rate = rate_of(sandbox.send_times())
                    ideal = min(args.rate, c / latency)
                    ratios.append((rate / ideal, rate, r.seconds))
                ratio, rate, seconds = sorted(ratios)[len(ratios) // 2]
                ideal = min(args.rate, c / latency)
                verdict = "met" if ratio >= 0.8 else "MISSED"
                print(
                    f"apply concurrency {c:>3}: {rate:7.0f} req/s  ideal {ideal:5.0f}  ratio {ratio:4.2f} "
                    f"(target >= 0.8: {verdict}); {rows:,} messages, whole apply {seconds:.1f} s"
                )
        finally:
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
