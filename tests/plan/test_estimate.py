"""The plan's duration estimate: min(rateLimit, concurrency / measured latency), and what the plan says of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from campaigner.campaign.load import load_campaign
from campaigner.plan.build import build_plan, scenario_change
from campaigner.plan.estimate import Latency, estimate, latency_text, rate_text
from campaigner.plan.views import to_json_data, to_text

EXAMPLES = Path(__file__).resolve().parents[2] / "campaigns"


def _ms(ms: float) -> Latency:
    return Latency(ms / 1000, ms / 1000 * 1.5, 1000)


@pytest.mark.parametrize(
    ("requests", "rate_limit", "concurrency", "latency", "text"),
    [
        (15, 20.0, 32, None, "under 1 s at 20/s (the rate limit; assumes no latency)"),
        (60_000, 300.0, 32, None, "about 3 min at 300/s (the rate limit; assumes no latency)"),
        # 32 / 105 ms = 305/s: the rate limit holds it down
        (
            60_000,
            300.0,
            32,
            _ms(105),
            "about 3 min at 300/s (the rate limit; 32 in flight, 105 ms measured by an earlier apply)",
        ),
        # 32 / 128 ms = 250/s under a 1,000/s rate limit: the latency does
        (60_000, 1000.0, 32, _ms(128), "about 4 min at 250/s (32 in flight, 128 ms measured by an earlier apply)"),
        # the case: a personalized million at concurrency 8, 50 ms away
        (1_000_000, 1000.0, 8, _ms(50), "about 1.7 h at 160/s (8 in flight, 50 ms measured by an earlier apply)"),
        (30, 0.5, 1, _ms(2500), "about 75 s at 0.4/s (1 in flight, 2500 ms measured by an earlier apply)"),
        (
            100,
            20.0,
            32,
            _ms(0.42),
            "about 5 s at 20/s (the rate limit; 32 in flight, 0.42 ms measured by an earlier apply)",
        ),
        (
            60_000,
            1000.0,
            64,
            Latency(0.128, 0.2, 500, 32),
            "about 2 min at 500/s (64 in flight, 128 ms measured by an earlier apply at 32 in flight)",
        ),
        (
            60_000,
            1000.0,
            32,
            Latency(0.128, 0.2, 500, 32),
            "about 4 min at 250/s (32 in flight, 128 ms measured by an earlier apply)",
        ),
        (0, 20.0, 32, _ms(50), "under 1 s at 20/s (the rate limit; 32 in flight, 50 ms measured by an earlier apply)"),
    ],
)
def test_the_estimate_and_its_words(
    requests: int, rate_limit: float, concurrency: int, latency: Latency | None, text: str
) -> None:
    assert estimate(requests, rate_limit=rate_limit, concurrency=concurrency, latency=latency).text() == text


def test_the_figures_behind_the_words() -> None:
    bound = estimate(60_000, rate_limit=1000.0, concurrency=32, latency=_ms(128))
    assert (bound.rate, bound.seconds, bound.latency_bound) == (250.0, 240.0, True)
    limited = estimate(60_000, rate_limit=300.0, concurrency=32, latency=_ms(105))
    assert (limited.rate, limited.seconds, limited.latency_bound) == (300.0, 200.0, False)
    # a latency of zero (a ledger written by hand) bounds nothing
    zero = estimate(10, rate_limit=5.0, concurrency=2, latency=Latency(0.0, 0.0, 3))
    assert (zero.rate, zero.seconds, zero.latency_bound) == (5.0, 2.0, False)


def test_latencies_and_rates_are_written_for_people() -> None:
    assert [latency_text(s) for s in (0.00042, 0.0035, 0.0099, 0.105, 9.9994, 12.34)] == [
        "0.42 ms",
        "3.5 ms",
        "9.9 ms",
        "105 ms",
        "9999 ms",
        "12.3 s",
    ]
    assert [rate_text(r) for r in (0.4, 2.5, 9.96, 10.0, 304.76)] == ["0.4", "2.5", "10", "10", "305"]


def test_the_plan_shows_the_estimate_on_its_requests_line(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "campaigns", ignore=shutil.ignore_patterns("reports"))
    loaded = load_campaign(tmp_path / "campaigns" / "spring-sale-2026.yaml")
    plan = build_plan(loaded, target_id="sandbox", scenario=scenario_change(loaded, None))
    plain = to_text(plan, target_line="Target: x")
    assert (
        "  requests        15 (up to 500 per request), under 1 s at 20/s (the rate limit; assumes no latency)\n"
        in plain
    )
    measured = to_text(plan, target_line="Target: x", latency=Latency(2.0, 3.0, 50))  # 32 / 2 s = 16/s
    # only that line differs
    assert [(a, b) for a, b in zip(plain.splitlines(), measured.splitlines(), strict=True) if a != b] == [
        (
            "  requests        15 (up to 500 per request), under 1 s at 20/s (the rate limit; assumes no latency)",
            "  requests        15 (up to 500 per request), under 1 s at 16/s "
            "(32 in flight, 2000 ms measured by an earlier apply)",
        )
    ]
    assert "estimate" not in to_json_data(plan)  # the JSON view shows no duration
