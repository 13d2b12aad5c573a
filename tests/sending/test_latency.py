"""The latency meter: median and 95th percentile of a run's answered send requests, within 1 %, and stored."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

from campaigner.ledger.messages import Ledger
from campaigner.sending.latency import LatencyMeter


def test_quantiles_are_within_one_percent_of_the_exact_ones() -> None:
    rng = random.Random(3)
    samples = [rng.lognormvariate(-2.3, 0.6) for _ in range(20_000)]  # ~100 ms, a long tail
    meter = LatencyMeter(32)
    for s in samples:
        meter.add(s)
    exact = statistics.quantiles(samples, n=100, method="inclusive")
    assert meter.count == 20_000
    assert abs(meter.quantile(0.5) / exact[49] - 1) < 0.01
    assert abs(meter.quantile(0.95) / exact[94] - 1) < 0.01
    assert len(meter._buckets) < 400  # a million requests would cost no more


def test_small_and_odd_samples() -> None:
    meter = LatencyMeter(1)
    assert meter.quantile(0.5) == 0.0
    for s in (0.1, 0.1, 0.1, 5.0):
        meter.add(s)
    assert abs(meter.quantile(0.5) - 0.1) < 0.001
    assert abs(meter.quantile(0.95) - 5.0) < 0.05  # the slowest of four
    zero = LatencyMeter(1)
    zero.add(0.0)  # a clock that did not move
    assert 0 < zero.quantile(0.5) < 2e-5


def test_the_figures_go_to_the_ledger_per_target(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state.db") as led:
        LatencyMeter(8).store(led, "sandbox")  # nothing answered: nothing stored
        assert led.latency("sandbox") is None
        meter = LatencyMeter(8)
        for _ in range(30):
            meter.add(0.05)
        meter.store(led, "sandbox")
        record = led.latency("sandbox")
        assert record is not None
        assert (round(record.p50, 3), round(record.p95, 3), record.requests, record.concurrency) == (0.05, 0.05, 30, 8)
