"""The plan's duration estimate: requests / min(rateLimit, concurrency / latency), the latency as measured.

The latency is what an earlier apply on the same target measured (the shell reads it from the ledger and
passes it in); without one the estimate is the rate limit's alone, and says that it assumes no latency.
The estimate is for the reviewer: it is not part of the saved plan or its digest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Latency:
    """The provider's latency an earlier apply measured: seconds from a send request leaving to its answer."""

    p50: float
    p95: float
    requests: int  # how many requests it was measured over
    concurrency: int = 0  # how many were in flight then (0: not known)


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long sending ``requests`` takes: ``seconds`` at ``rate`` requests/s."""

    requests: int
    seconds: float
    rate: float
    rate_limit: float
    concurrency: int
    latency: Latency | None

    @property
    def latency_bound(self) -> bool:
        """Whether the latency, not the rate limit, is what holds the rate down."""
        return self.rate < self.rate_limit

    def text(self) -> str:
        """``about 4 s at 250/s (32 in flight, 128 ms measured by an earlier apply)`` and the like."""
        if self.latency is None:
            return f"{duration(self.seconds)} at {self.rate_limit:g}/s (the rate limit; assumes no latency)"
        measured = f"{self.concurrency} in flight, {latency_text(self.latency.p50)} measured by an earlier apply"
        if self.latency.concurrency and self.latency.concurrency != self.concurrency:
            measured += f" at {self.latency.concurrency} in flight"  # a latency may grow with the load
        if self.latency_bound:
            return f"{duration(self.seconds)} at {rate_text(self.rate)}/s ({measured})"
        return f"{duration(self.seconds)} at {self.rate_limit:g}/s (the rate limit; {measured})"


def estimate(requests: int, *, rate_limit: float, concurrency: int, latency: Latency | None) -> Estimate:
    """The sending time of ``requests`` at min(``rate_limit``, ``concurrency`` / median latency)."""
    rate = rate_limit
    if latency is not None and latency.p50 > 0:
        rate = min(rate_limit, concurrency / latency.p50)
    return Estimate(requests, requests / rate, rate, rate_limit, concurrency, latency)


def duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"about {round(seconds)} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def rate_text(rate: float) -> str:
    """Requests per second: whole above 10, two significant digits below."""
    return str(round(rate)) if rate >= 10 else f"{rate:.2g}"


def latency_text(seconds: float) -> str:
    """``105 ms``, ``0.42 ms``, ``3.5 ms``, ``12.3 s``."""
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.2g} ms"
    if ms < 10_000:
        return f"{round(ms)} ms"
    return f"{seconds:.1f} s"
