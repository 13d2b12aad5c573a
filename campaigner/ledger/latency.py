"""The provider's latency in the ledger: what apply measured per target, for the plan's duration estimate.

One row per target (``latencies``), replaced by each apply that measured one, except that a run of fewer
than :data:`MIN_REQUESTS` requests (a canary, a re-run sending a handful) never replaces a figure measured
over that many or more: a few requests say little about the median, let alone the 95th percentile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from campaigner.ledger.canary import CanaryLedger

MIN_REQUESTS: Final = 20


@dataclass(frozen=True, slots=True)
class LatencyRecord:
    """Seconds from a send request leaving to its answer, over ``requests`` requests at ``concurrency`` in flight."""

    p50: float
    p95: float
    requests: int
    concurrency: int
    measured_at: float


class LatencyLedger(CanaryLedger):
    """The latency per target; :class:`campaigner.ledger.messages.Ledger` adds the message states."""

    def latency(self, target: str) -> LatencyRecord | None:
        """The latency the last apply on ``target`` measured, or None when none has."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT p50, p95, requests, concurrency, measured_at FROM latencies WHERE target = ?", (target,)
            ).fetchone()
        if row is None:
            return None
        p50, p95, requests, concurrency, at = row
        return LatencyRecord(float(p50), float(p95), int(requests), int(concurrency), float(at))

    def record_latency(
        self, target: str, *, p50: float, p95: float, requests: int, concurrency: int, at: float | None = None
    ) -> bool:
        """Store a measurement (see the module's rule); returns whether it replaced the stored one."""
        if requests < 1 or not (0 <= p50 <= p95):
            raise ValueError(f"not a latency measurement: p50={p50!r}, p95={p95!r}, requests={requests!r}")
        now = time.time() if at is None else at
        with self._write(full=False) as conn:  # a lost figure costs only an estimate
            changed = conn.execute(
                "INSERT INTO latencies (target, p50, p95, requests, concurrency, measured_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET p50 = excluded.p50, "
                "p95 = excluded.p95, requests = excluded.requests, concurrency = excluded.concurrency, "
                "measured_at = excluded.measured_at WHERE excluded.requests >= ? OR latencies.requests < ?",
                (target, p50, p95, requests, concurrency, now, MIN_REQUESTS, MIN_REQUESTS),
            ).rowcount
        return bool(changed)
