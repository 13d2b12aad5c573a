"""Simulated network latency: every provider answer held ``latency ± jitter`` before it leaves.

The sandbox answers in microseconds; a real provider is tens of milliseconds away, which is what
limits a client's rate at a given concurrency (``concurrency / latency``). ``--latency 50ms`` (or
``50ms,10ms`` for a uniform jitter of ±10 ms) makes the sandbox answer like one. The inspection
endpoints (``/_sandbox/...``) are not delayed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from campaigner.sandbox.exceptions import SandboxError

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*")
MAX_LATENCY = 60.0


def _seconds(text: str, spec: str) -> float:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise SandboxError(f"latency {spec!r}: {text.strip()!r} is not a duration such as 50ms or 0.05s")
    value = float(match.group(1))
    return value / 1000 if match.group(2) in (None, "ms") else value


@dataclass(frozen=True)
class Latency:
    """How long each answer is held: ``seconds`` ± ``jitter`` (uniform), never below zero."""

    seconds: float = 0.0
    jitter: float = 0.0

    def __bool__(self) -> bool:
        return self.seconds > 0 or self.jitter > 0

    def __str__(self) -> str:
        base = f"{self.seconds * 1000:g}ms"
        return f"{base},{self.jitter * 1000:g}ms" if self.jitter else base

    def delay(self, rng: random.Random) -> float:
        if not self.jitter:
            return self.seconds
        return max(0.0, self.seconds + rng.uniform(-self.jitter, self.jitter))


def parse_latency(spec: str | None) -> Latency:
    """``"50ms"``, ``"50ms,10ms"``, ``"0.05s"``; a bare number is milliseconds. None or ``""``: none."""
    if spec is None or not spec.strip():
        return Latency()
    base, _, jitter = spec.partition(",")
    latency = Latency(_seconds(base, spec), _seconds(jitter, spec) if jitter else 0.0)
    if latency.seconds + latency.jitter > MAX_LATENCY:
        raise SandboxError(f"latency {spec!r}: at most {MAX_LATENCY:g} s")
    return latency
