"""SMS encoding and segment counting: GSM 03.38 7-bit or UCS-2, as the operators count them.

GSM-7: the basic set costs one septet a character, the extension set (``€ [ ] { } ^ ~ \\ |`` and the
form feed) two (escape + character). Any other character switches the whole message to UCS-2, where a
character of the Basic Multilingual Plane costs one 16-bit unit and any other (most emoji) two, a
surrogate pair. A single message holds 160 septets or 70 units; a concatenated message 153 septets or
67 units per part, and an escape pair or a surrogate pair is never split across parts, so a part may
hold one fewer than that (which is why ``ceil(n / 153)`` can undercount).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set (default alphabet), in code-point order 0x00..0x7F.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The escape character (0x1B) is not a printable member of the basic set.
_BASIC = frozenset(GSM7_BASIC) - {"\x1b"}
# GSM 03.38 extension table: each costs two septets (ESC + character).
GSM7_EXTENSION = "\f^{}\\[~]|€"
_EXTENSION = frozenset(GSM7_EXTENSION)

Encoding = Literal["GSM7", "UCS2"]

SINGLE = {"GSM7": 160, "UCS2": 70}
PART = {"GSM7": 153, "UCS2": 67}


@dataclass(frozen=True, slots=True)
class SmsMeasure:
    """How a text goes out as SMS."""

    encoding: Encoding
    units: int  # septets (GSM7) or 16-bit units (UCS2)
    parts: int  # messages the operator bills
    ucs2_chars: str  # the characters (first occurrence order, unique) that forced UCS-2


def _unit_costs(text: str) -> tuple[Encoding, list[int], str]:
    forcing: dict[str, None] = {}
    for ch in text:
        if ch not in _BASIC and ch not in _EXTENSION:
            forcing[ch] = None
    if not forcing:
        return "GSM7", [2 if ch in _EXTENSION else 1 for ch in text], ""
    return "UCS2", [2 if ord(ch) > 0xFFFF else 1 for ch in text], "".join(forcing)


def _count_parts(costs: list[int], per_part: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts += 1
            used = 0
        used += cost
    return parts


def measure(text: str) -> SmsMeasure:
    """Encoding, size and number of parts of ``text`` sent as one SMS."""
    if text.isascii() and not any(ch in _EXTENSION or ch not in _BASIC for ch in text):
        # Fast path for plain ASCII texts that use only the basic set.
        n = len(text)
        if n <= SINGLE["GSM7"]:
            return SmsMeasure("GSM7", n, 1 if n else 1, "")
        return SmsMeasure("GSM7", n, -(-n // PART["GSM7"]), "")
    encoding, costs, forcing = _unit_costs(text)
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return SmsMeasure(encoding, units, 1, forcing)
    return SmsMeasure(encoding, units, _count_parts(costs, PART[encoding]), forcing)


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 basic or extension set."""
    return all(ch in _BASIC or ch in _EXTENSION for ch in text)
