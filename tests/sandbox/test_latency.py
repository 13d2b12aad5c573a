"""Tests for campaigner.sandbox.latency: the parsed option, and answers held that long over real HTTP."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from campaigner.sandbox.exceptions import SandboxError
from campaigner.sandbox.latency import Latency, parse_latency
from campaigner.sandbox.server import SandboxServer

AUTH = {"Authorization": "App sandbox"}


def test_latency_specs_are_parsed() -> None:
    assert parse_latency(None) == Latency()
    assert not parse_latency("")
    assert parse_latency("50ms") == Latency(0.05)
    assert parse_latency("50") == Latency(0.05)
    assert parse_latency("0.2s") == Latency(0.2)
    assert parse_latency("50ms,10ms") == Latency(0.05, 0.01)
    assert str(parse_latency("50ms,10ms")) == "50ms,10ms"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fast", "latency 'fast': 'fast' is not a duration such as 50ms or 0.05s"),
        ("50ms,x", "latency '50ms,x': 'x' is not a duration such as 50ms or 0.05s"),
        ("-5ms", "latency '-5ms': '-5ms' is not a duration such as 50ms or 0.05s"),
        ("61s", "latency '61s': at most 60 s"),
    ],
)
def test_bad_latency_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(SandboxError) as caught:
        parse_latency(spec)
    assert str(caught.value) == message


def test_jitter_stays_within_its_bounds_and_above_zero() -> None:
    rng = random.Random(1)
    delays = [Latency(0.05, 0.01).delay(rng) for _ in range(1000)]
    assert 0.04 <= min(delays) < 0.042 and 0.058 < max(delays) <= 0.06
    assert min(Latency(0.001, 0.01).delay(rng) for _ in range(100)) == 0.0


def test_every_provider_answer_is_held_and_concurrent_ones_overlap(tmp_path: Path) -> None:
    with SandboxServer(db_path=tmp_path / "s.db", latency="200ms") as server:

        async def burst() -> tuple[float, list[int]]:
            async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=10) as c:
                started = time.perf_counter()
                answers = await asyncio.gather(*(c.get("/omni/1/scenarios") for _ in range(8)))
                return time.perf_counter() - started, [a.status_code for a in answers]

        elapsed, codes = asyncio.run(burst())
        assert codes == [200] * 8
        assert 0.2 <= elapsed < 1.5  # held 200 ms each, all at once (not 8 x 200 ms)
        started = time.perf_counter()
        assert httpx.get(f"{server.url}/_sandbox/stats", timeout=10).status_code == 200
        assert time.perf_counter() - started < 0.2  # the inspection endpoints answer at once


def test_the_command_takes_the_option_and_refuses_a_bad_one(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "campaigner", "sandbox", "--latency", "soon", "--state", str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "Invalid value for '--latency': latency 'soon': 'soon' is not a duration such as 50ms or 0.05s" in bad.stderr
    args = [sys.executable, "-m", "campaigner", "sandbox", "--port", "0", "--latency", "50ms,5ms"]
    with subprocess.Popen([*args, "--state", str(tmp_path / "s.db")], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert "latency 50ms,5ms); use it with" in line
