"""SMS encoding and segment counting: GSM 03.38 7-bit or UCS-2, as the operators count them.

GSM-7: the basic set costs one septet a character, the extension set (``€ [ ] { } ^ ~ \\ |`` and the
form feed) two (escape + character). Any other character switches the whole message to UCS-2, where a
character of the Basic Multilingual Plane costs one 16-bit unit and any other (most emoji) two, a
surrogate pair. A single message holds 160 septets or 70 units; a concatenated message 153 septets or
67 units per part, and an escape pair or a surrogate pair is never split across parts, so a part may
hold one fewer than that (which is why ``ceil(n / 153)`` can undercount).
"""

from __future__ import annotations

import re
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

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its fields (planning workers send it to the main process; 10x faster than the default)."""
        return (
            SmsMeasure,
            (
                self.encoding,
                self.units,
                self.parts,
                self.ucs2_chars,
            ),
        )


# Regular expressions do the per-character work in C: ``measure`` runs once or twice per recipient.
_NOT_BASIC = re.compile("[^" + re.escape("".join(sorted(_BASIC))) + "]")
_GSM7 = _BASIC | _EXTENSION
_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(_GSM7))) + "]")
_EXTENSION_RE = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _count_parts(n: int, doubles: list[int], per_part: int) -> int:
    """Parts for ``n`` characters when those at ``doubles`` (sorted indexes) cost two units each and
    must not straddle two parts (an escape pair, a surrogate pair)."""
    parts, start, d = 0, 0, 0
    while start < n:
        parts += 1
        room, pos = per_part, start
        while True:
            nxt = doubles[d] if d < len(doubles) else n
            if nxt - pos >= room:
                pos += room
                break
            room -= nxt - pos
            pos = nxt
            if nxt == n or room < 2:
                break
            pos, room, d = pos + 1, room - 2, d + 1
        start = pos
    return parts


def _parts(text: str, units: int, encoding: Encoding, doubles: re.Pattern[str] | None) -> int:
    if units <= SINGLE[encoding]:
        return 1
    if doubles is None:  # every character costs one unit
        return -(-units // PART[encoding])
    return _count_parts(len(text), [m.start() for m in doubles.finditer(text)], PART[encoding])


def measure(text: str) -> SmsMeasure:
    """Encoding, size and number of parts of ``text`` sent as one SMS."""
    n = len(text)
    if _NOT_BASIC.search(text) is None:
        return SmsMeasure("GSM7", n, _parts(text, n, "GSM7", None), "")
    if _NOT_GSM7.search(text) is None:
        units = n + len(_EXTENSION_RE.findall(text))
        return SmsMeasure("GSM7", units, _parts(text, units, "GSM7", _EXTENSION_RE), "")
    forcing = "".join(sorted(set(text).difference(_GSM7), key=text.index))
    pairs = len(text.encode("utf-16-le", "surrogatepass")) // 2 - n
    units = n + pairs
    return SmsMeasure("UCS2", units, _parts(text, units, "UCS2", _ASTRAL if pairs else None), forcing)


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 basic or extension set."""
    return _NOT_GSM7.search(text) is None
