"""The sandbox's request rate, and the share of a request its schema check takes (issue #15).

Posts one-destination and 100-destination sends to one sandbox process (concurrency 8) and measures
the rate from the client; then times, in this process, the check of the same bodies against the
provider's schema (``campaigner.sandbox.schemas``). Target: the check takes under 5% of a request.
Run: python tests/benchmarks/bench_sandbox.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, machine

AUTH = {"Authorization": "App sandbox"}


def bodies(key: str, n: int, destinations: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "scenarioKey": key,
                "bulkId": f"bulk-{i}",
                "destinations": [
                    {"messageId": f"m{i}-{j}", "to": {"phoneNumber": f"3859{i:05d}{j:03d}", "lineUserKey": f"k{i}-{j}"}}
                    for j in range(destinations)
                ],
                "line": {"text": f"Hi {i}! 20% off at shop.example until 31 March.", "validityPeriod": 30},
                "sms": {"text": f"Hi {i}, 20% off at shop.example. STOP: 0800123", "validityPeriod": 1440},
            }
        ).encode()
        for i in range(n)
    ]


async def post_all(url: str, payloads: list[bytes], concurrency: int) -> float:
    queue = list(payloads)
    headers = {**AUTH, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while queue:
                answer = await client.post("/omni/1/advanced", content=queue.pop())
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def check_time(payloads: list[bytes]) -> float:
    from campaigner.sandbox.schemas import schema_errors

    parsed = [json.loads(p) for p in payloads]
    schema_errors("POST", "/omni/1/advanced", parsed[0])  # compiled once per process
    started = time.perf_counter()
    for body in parsed:
        assert not schema_errors("POST", "/omni/1/advanced", body)
    return (time.perf_counter() - started) / len(parsed)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxProcess(Path(tmp))
        try:
            flow = [{"channel": "LINE", "from": "app"}, {"channel": "SMS", "from": "InfoSMS"}]
            key = httpx.post(f"{sandbox.url}/omni/1/scenarios", json={"name": "b", "flow": flow}, headers=AUTH).json()
            for n, destinations in ((args.requests, 1), (max(args.requests // 20, 10), 100)):
                payloads = bodies(key["key"], n, destinations)
                seconds = asyncio.run(post_all(sandbox.url, payloads, args.concurrency))
                per_request = seconds / n * args.concurrency  # the time one request holds a worker
                check = check_time(payloads)
                print(
                    f"{destinations:>3} destination(s): {n / seconds:7.0f} requests/s, schema check "
                    f"{check * 1e6:6.0f} µs a body = {check / per_request:6.2%} of a request"
                )
        finally:
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
