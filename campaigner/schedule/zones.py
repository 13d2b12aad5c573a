"""A recipient's time zones: from the numbering plan (``phonenumbers.timezone``), a CSV column, or a fallback.

Zones are read from the ``tzdata`` package only (never the machine's zone files), so the same inputs give
the same schedule on every machine. Pure: no I/O beyond reading the packaged zone data.
"""

from __future__ import annotations

import functools
import importlib.resources
import zoneinfo
from collections.abc import Mapping

_UNKNOWN = "Etc/Unknown"
_LONGEST = 9  # phonenumbers.timezone.TIMEZONE_LONGEST_PREFIX: the zone table's longest prefix


@functools.lru_cache(maxsize=1024)
def load_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone ``name`` from the ``tzdata`` package, or None when it is not a zone name."""
    parts = name.split("/")
    if not name or name != name.strip() or any(p in ("", ".", "..") for p in parts) or "\\" in name:
        return None
    try:
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*parts)
        if not resource.is_file():
            return None
        with resource.open("rb") as fh:
            return zoneinfo.ZoneInfo.from_file(fh, key=name)
    except (OSError, ValueError):
        return None


class ZoneFinder:
    """``zones(phone, fields)`` -> the recipient's zone names (sorted, distinct), or ``()`` when unknown.

    ``column``: the CSV column holding an IANA zone (``None`` for ``auto``: the phone number's numbering
    plan). A column value that is not a zone raises :class:`ValueError` (a row error for the caller).
    ``fallback`` is used when no zone is known.
    """

    def __init__(self, *, column: str | None, fallback: str | None) -> None:
        self.column = column
        self.fallback = (fallback,) if fallback else ()
        self._by_prefix: dict[str, tuple[str, ...]] = {}
        self._table: Mapping[str, object] | None = None  # phonenumbers' zone table, loaded on first use

    def zones(self, phone_number: str | None, fields: Mapping[str, str]) -> tuple[str, ...]:
        if self.column is not None:
            value = fields.get(self.column, "").strip()
            if not value:
                return self.fallback
            if load_zone(value) is None:
                raise ValueError(f"{value!r} is not an IANA time zone")
            return (value,)
        if phone_number:
            found = self.for_number(phone_number)
            if found:
                return found
        return self.fallback

    def for_number(self, digits: str) -> tuple[str, ...]:
        """The numbering plan's zones for an E.164 number (digits without ``+``), unknown ones left out.

        The library looks the number's longest prefix up in its zone table (country-level zones for
        non-geographic mobiles); numbers sharing that prefix share their zones, so the answer is kept per
        prefix and the library is asked once for each.
        """
        if self._table is None:
            from phonenumbers.tzdata import TIMEZONE_DATA

            self._table = TIMEZONE_DATA
        table = self._table
        key = digits[:3]
        for size in range(min(len(digits), _LONGEST), 0, -1):
            if digits[:size] in table:
                key = digits[:size]
                break
        found = self._by_prefix.get(key)
        if found is None:
            import phonenumbers
            from phonenumbers import timezone as tz

            try:
                number = phonenumbers.parse("+" + digits)
            except phonenumbers.NumberParseException:
                return ()
            names = tz.time_zones_for_number(number)
            found = tuple(sorted({n for n in names if n != _UNKNOWN and load_zone(n) is not None}))
            self._by_prefix[key] = found
        return found
