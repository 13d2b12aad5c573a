"""apply's sending rate against a bare httpx async loop posting the same payloads (SPEC section 10).

Both post the same 20,000 personalized payloads (one destination each) to one sandbox process with the
same concurrency; the rate is measured from the sandbox's own arrival times. Target: b / a >= 0.8.
Run: python tests/benchmarks/bench_apply.py [--rows 20000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import SandboxProcess, campaigner, machine, rate_of, run, shape, write_campaign, write_recipients


def bodies(plan_file: Path, scenario_key: str, bulk_id: str) -> list[bytes]:
    payloads: dict[str, dict[str, object]] = {}
    out = []
    with plan_file.open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            item = json.loads(line)
            if "payload" in item:
                payloads[item["payload"]] = item["body"]
            elif "m" in item:
                body = {
                    "scenarioKey": scenario_key,
                    "bulkId": bulk_id,
                    "destinations": [{"messageId": item["m"], "to": item["to"]}],
                    **payloads[item["p"]],
                }
                out.append(json.dumps(body).encode())
    return out


async def bare_loop(url: str, payloads: list[bytes], concurrency: int) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)
    headers = {"Authorization": "App sandbox", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await client.post("/omni/1/advanced", content=body)
                r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"input: {shape(args.rows, unique=True)}; one destination per request")
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        folder = Path(tmp)
        write_recipients(folder / "r.csv", args.rows)
        campaign = write_campaign(
            folder, "r.csv", campaign="bench-apply", rate="100000/s", batch=1, concurrency=args.concurrency
        )
        sandbox = SandboxProcess(folder)
        try:
            env = {
                "INFOBIP_BASE_URL": sandbox.url,
                "INFOBIP_API_KEY": "sandbox",
                "CAMPAIGNER_STATE": str(folder / "state.db"),
            }
            planned = run([*campaigner(), "plan", str(campaign), "--out", "b.plan"], cwd=folder, env=env)
            assert planned.code == 0, planned.err
            # (a) the bare loop, with the scenario campaigner would use
            header = json.loads((folder / "b.plan").read_text(encoding="utf-8").split("\n", 1)[0])
            created = httpx.post(
                f"{sandbox.url}/omni/1/scenarios",
                headers={"Authorization": "App sandbox"},
                json={"name": "bare", "flow": header["scenario"]["flow"]},
            ).json()
            payloads = bodies(folder / "b.plan", created["key"], header["bulkId"])
            asyncio.run(bare_loop(sandbox.url, payloads, args.concurrency))
            a = rate_of(sandbox.send_times())
            sandbox.reset()
            # (b) campaigner apply with its ledger
            applied = run([*campaigner(), "apply", str(campaign), "--auto-approve", "--no-wait"], cwd=folder, env=env)
            if applied.code != 0:
                print(applied.out[-2000:], applied.err[-2000:], file=sys.stderr)
                return 1
            b = rate_of(sandbox.send_times())
            stats = sandbox.get("/_sandbox/stats")
        finally:
            sandbox.stop()
    print(f"{args.rows:,} payloads, concurrency {args.concurrency}")
    print(f"(a) bare httpx loop:       {a:7.0f} requests/s")
    print(
        f"(b) campaigner apply:      {b:7.0f} requests/s (ledger writes included); "
        f"whole apply {applied.seconds:.1f} s, peak RSS {applied.peak_rss_mb:.0f} MB"
    )
    print(f"ratio b / a = {b / a:.2f} (target >= 0.8); sandbox duplicates after (b): {stats['duplicates']}")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
