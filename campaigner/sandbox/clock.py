"""The sandbox's simulated clock: real time plus an offset kept in the state, moved forward by tests."""

from __future__ import annotations

import math
import re

RETENTION = 48 * 3600.0  # seconds of sandbox time during which logs and reports are returned, as the provider's
CLOCK_KEY = "clock_offset"  # the meta row holding the offset, in seconds

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")


def parse_duration(value: object) -> float | None:
    """``"49h"``, ``"1h30m"``, ``"2d"``, ``"90s"`` or a number of seconds -> seconds (>= 0); None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not _WHOLE.fullmatch(text):
            return None
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> ``49h``, ``1h30m``, ``0s``: whole hours and minutes, then what is left in seconds."""
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    rest = seconds
    for unit in ("h", "m"):
        size = _UNITS[unit]
        whole = int(rest // size)
        if whole:
            parts.append(f"{whole}{unit}")
            rest -= whole * size
    if rest > 1e-9 or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)
