"""Retries: the backoff policy, the pause a 429 puts on every request, and ``Retry-After``."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["PauseGate", "RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` (capped by ``max_retry_after``) wins."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays cannot be negative")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(attempt - 1, 32)))
        return rng.uniform(0, ceiling) if self.jitter else ceiling


class PauseGate:
    """One pause shared by every request of a client: a 429 sets it, every request awaits it."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self.pauses = 0  # how many distinct pauses began (an extension of a running one is not counted)

    @property
    def deadline(self) -> float:
        return self._until

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    def pause_until(self, deadline: float) -> None:
        """Hold every request until ``deadline`` (a ``time.monotonic()`` value); never shortens a pause."""
        if deadline > self._until:
            if self._until <= self._clock():
                self.pauses += 1
            self._until = deadline

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + seconds)

    async def wait(self) -> None:
        while (delay := self._until - self._clock()) > 0:
            await asyncio.sleep(delay)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP-date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
