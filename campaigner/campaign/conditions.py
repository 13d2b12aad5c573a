"""Conditions on outcomes (``">= 90%"``, ``"<= 2%"``, ``"< 10"``) and shares (``1%``), parsed and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
OPERATORS = (">=", "<=", ">", "<")


@dataclass(frozen=True, slots=True)
class Condition:
    """``op value`` over a share of outcomes (``percent``) or over their count."""

    op: str
    value: float
    percent: bool

    def measure(self, n: int, total: int) -> float:
        """What the condition compares: the share in percent (0 when ``total`` is 0), or the count."""
        if not self.percent:
            return float(n)
        return 100.0 * n / total if total else 0.0

    def holds(self, n: int, total: int) -> bool:
        x = self.measure(n, total)
        if self.op == ">=":
            return x >= self.value
        if self.op == "<=":
            return x <= self.value
        if self.op == ">":
            return x > self.value
        return x < self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}{'%' if self.percent else ''}"


def parse_condition(value: object) -> Condition:
    """``">= 90%"`` / ``"<= 2%"`` / ``"< 10"`` (a count) -> :class:`Condition`."""
    if isinstance(value, Condition):
        return value
    m = _CONDITION.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f'expected a condition such as ">= 90%", "<= 2%" or "< 10", got {value!r}')
    op, number, percent = m.group(1), float(m.group(2)), bool(m.group(3))
    if percent and number > 100:
        raise ValueError(f"a share cannot be above 100%, got {value!r}")
    return Condition(op, number, percent)


def parse_share(value: object) -> float:
    """``"1%"`` / ``"0.5%"`` -> a fraction (0.01, 0.005), above 0 and at most 1."""
    m = _SHARE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f'expected a share such as "1%" or "0.5%", got {value!r}')
    share = float(m.group(1)) / 100
    if not 0 < share <= 1:
        raise ValueError(f"a share must be above 0% and at most 100%, got {value!r}")
    return share


ConditionField = Annotated[
    Condition,
    PlainValidator(parse_condition),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": _CONDITION.pattern, "description": 'a condition: ">= 90%", "<= 2%", "< 10"'}
    ),
]
Share = Annotated[
    float,
    PlainValidator(parse_share),
    PlainSerializer(lambda v: f"{v * 100:g}%", return_type=str),
    WithJsonSchema({"type": "string", "pattern": _SHARE.pattern, "description": 'a share: "1%", "0.5%"'}),
]
