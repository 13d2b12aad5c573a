"""Injected faults for sends: ``--faults "500=0.05,429=0.05,timeout=0.02,lost-answer=0.02"``.

Each ``POST /omni/1/advanced`` that passes authentication draws at most one fault from a RNG seeded
with the sandbox's seed (the same seed and the same request sequence give the same faults):

- ``500``: answered ``500 GENERAL_ERROR`` before processing; nothing is committed.
- ``429``: answered ``429 TOO_MANY_REQUESTS`` with ``Retry-After: 1`` before processing; nothing is
  committed.
- ``timeout``: the messages are committed, then the answer is held ``timeout_delay`` seconds, so the
  client's read timeout fires first (the answer, if anyone still waits, is the normal 200).
- ``lost-answer``: the messages are committed, then the connection is closed without any answer.

A request that fails validation is answered 400 even when ``timeout`` or ``lost-answer`` was drawn.
Other endpoints never fault.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

from campaigner.sandbox.exceptions import FaultSpecError

Fault = Literal["500", "429", "timeout", "lost-answer"]
FAULTS: tuple[Fault, ...] = ("500", "429", "timeout", "lost-answer")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """The probability of each fault for one send request (their sum is at most 1)."""

    rates: tuple[tuple[Fault, float], ...] = ()

    def rate(self, fault: Fault) -> float:
        return dict(self.rates).get(fault, 0.0)

    def __str__(self) -> str:
        return ",".join(f"{name}={rate:g}" for name, rate in self.rates)


def parse_faults(spec: str | None) -> FaultSpec:
    """``"500=0.05,lost-answer=0.02"`` -> FaultSpec; ``None`` or ``""`` -> no faults.

    Raises FaultSpecError naming the first problem.
    """
    if spec is None or not spec.strip():
        return FaultSpec()
    rates: dict[Fault, float] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise FaultSpecError(f"bad fault {item!r}: expected NAME=RATE, e.g. 500=0.05")
        fault = _fault_name(name)
        if fault is None:
            raise FaultSpecError(f"unknown fault {name!r}: expected one of {', '.join(FAULTS)}")
        if fault in rates:
            raise FaultSpecError(f"fault {name!r} given twice")
        try:
            rate = float(value)
        except ValueError:
            raise FaultSpecError(f"bad rate {value.strip()!r} for fault {name!r}: expected a number") from None
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"rate {value.strip()} for fault {name!r} is outside 0..1")
        rates[fault] = rate
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise FaultSpecError(f"fault rates add up to {total:g}, more than 1")
    return FaultSpec(tuple((f, rates[f]) for f in FAULTS if f in rates))


def _fault_name(name: str) -> Fault | None:
    for fault in FAULTS:
        if name.lower() == fault:
            return fault
    return None


class FaultInjector:
    """Draws the fault (or none) of each send request from a seeded RNG; thread-safe."""

    def __init__(self, spec: FaultSpec, seed: int) -> None:
        self.spec = spec
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        if not self.spec.rates:
            return None
        with self._lock:
            x = self._rng.random()
        for fault, rate in self.spec.rates:
            if x < rate:
                return fault
            x -= rate
        return None

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self._seed)
