"""The estimated cost of a plan from the campaign's ``pricing:``: best case all on LINE, worst case all by SMS.

Best case: every recipient with a LINE key is reached on LINE (one LINE message each); the others by SMS.
Worst case: every recipient with a phone number falls back to SMS, paying each of its real segments; the
others stay on LINE. Prices may be per country calling code (the longest of 1 to 3 leading digits of the
E.164 number that the table names), with ``default`` for the rest; a message with no price counts as
unpriced and adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from campaigner.campaign.spec import Pricing

_MONEY = Decimal("0.000001")


@dataclass(frozen=True)
class CostEstimate:
    currency: str
    best: Decimal
    worst: Decimal
    unpriced: int = 0  # messages with no price for their channel and country

    def text(self) -> str:
        """``EUR 0.08 (all on LINE) to 0.16 (all by SMS)``."""
        best, worst = money(self.best), money(self.worst)
        span = (
            f"{self.currency} {best}"
            if best == worst
            else f"{self.currency} {best} (best case) to {worst} (worst case)"
        )
        if self.unpriced:
            span += f"; {self.unpriced} message{'s' if self.unpriced != 1 else ''} without a price"
        return span

    def cell(self) -> str:
        best, worst = money(self.best), money(self.worst)
        return f"{self.currency} {best}" if best == worst else f"{self.currency} {best}–{worst}"

    def to_dict(self) -> dict[str, object]:
        return {
            "currency": self.currency,
            "best_case": float(self.best),
            "worst_case": float(self.worst),
            "unpriced": self.unpriced,
        }


def money(value: Decimal) -> str:
    """At least 2 decimals, at most 6: ``0.16``, ``0.0104``."""
    whole, _, decimals = format(value.quantize(_MONEY), "f").partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


def _table(value: float | Mapping[str, float] | None) -> dict[str, Decimal] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {k: Decimal(str(v)) for k, v in value.items()}
    return {"default": Decimal(str(value))}


def _price(table: dict[str, Decimal] | None, phone: str | None) -> Decimal | None:
    if table is None:
        return None
    if phone:
        for n in (3, 2, 1):
            found = table.get(phone[:n])
            if found is not None:
                return found
    return table.get("default")


class CostEstimator:
    """Fed each message (its ``to`` and SMS part count); ``result()`` is the :class:`CostEstimate`."""

    def __init__(self, pricing: Pricing, channels: tuple[str, ...]) -> None:
        self.currency = pricing.currency
        self._sms = _table(pricing.SMS) if "SMS" in channels else None
        self._line = _table(pricing.LINE) if "LINE" in channels else None
        self._has_sms = "SMS" in channels
        self._has_line = "LINE" in channels
        self.best = Decimal(0)
        self.worst = Decimal(0)
        self.unpriced = 0

    def add(self, to: Mapping[str, str], sms_parts: int | None) -> None:
        phone = to.get("phoneNumber")
        line = _price(self._line, phone) if self._has_line and "lineUserKey" in to else None
        can_sms = self._has_sms and phone is not None and sms_parts
        sms_part = _price(self._sms, phone) if can_sms else None
        sms = sms_part * sms_parts if sms_part is not None and sms_parts else None
        on_line = self._has_line and "lineUserKey" in to
        best = line if on_line else sms
        worst = sms if can_sms else line
        if best is None or worst is None:
            self.unpriced += 1
        self.best += best or 0
        self.worst += worst or 0

    def result(self) -> CostEstimate:
        return CostEstimate(self.currency, self.best, self.worst, self.unpriced)
