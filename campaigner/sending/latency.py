"""The provider's latency as apply sees it: seconds from a send request leaving to its answer.

A :class:`LatencyMeter` counts every answered send request of an apply in logarithmic buckets (2 % wide),
so a million requests cost a few hundred integers, and gives the median and the 95th percentile to that
precision. Apply stores them in the ledger per target (:mod:`campaigner.ledger.latency`); the plan's
duration estimate reads them.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from campaigner.ledger.messages import Ledger

log = logging.getLogger("campaigner.apply")

STEP: Final = 1.02  # each bucket is 2 % wider than the one below
FLOOR: Final = 1e-5  # 10 µs: anything faster counts as this


class LatencyMeter:
    """Answered send requests by latency; ``quantile(q)`` is the bucket's midpoint (within 1 %)."""

    __slots__ = ("_buckets", "concurrency", "count")

    def __init__(self, concurrency: int) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.concurrency = concurrency

    def add(self, seconds: float) -> None:
        self._buckets[math.floor(math.log(max(seconds, FLOOR)) / math.log(STEP))] += 1
        self.count += 1

    def quantile(self, q: float) -> float:
        """The latency under which a share ``q`` of the requests answered (0 < q <= 1); 0.0 when none did."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return float(STEP ** (bucket + 0.5))
        raise AssertionError("unreachable: the buckets hold every request")  # pragma: no cover

    def store(self, ledger: Ledger, target: str) -> None:
        """Record the figures so far in the ledger (nothing when no request was answered)."""
        if self.count:
            p50, p95 = self.quantile(0.5), self.quantile(0.95)
            ledger.record_latency(target, p50=p50, p95=p95, requests=self.count, concurrency=self.concurrency)
            log.debug("latency on %s: p50 %.4f s, p95 %.4f s over %d requests", target, p50, p95, self.count)
