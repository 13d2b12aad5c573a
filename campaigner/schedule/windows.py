"""The sending window in local wall-clock time, and when it is next open in every one of a recipient's zones.

A recipient may have several zones (a Russian mobile has 16): a message may only go out while the window
is open in **all** of them. :class:`Scheduler` answers, for one instant ``now``, each recipient's
``sendAt``: ``None`` (the window is open now: send at once), an instant at the next common opening (spread
over the first minutes so that not everyone arrives at 09:00:00), or a skip reason. Daylight-saving time
comes from the zone library: windows are built from local dates and times, never by adding hours.
Deterministic: the same zones, window and instant always give the same answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaigner.campaign.spec import WEEKDAYS, LocalHours
from campaigner.schedule.zones import load_zone

SCHEDULE_SKIP_REASONS = ("no_time_zone", "no_common_hours", "window_closed")
NO_TIME_ZONE, NO_COMMON_HOURS, WINDOW_CLOSED = SCHEDULE_SKIP_REASONS
HORIZON = timedelta(days=15)  # two weeks and a day: every weekday twice, whatever the zones' offsets
MAX_AHEAD = timedelta(days=180)  # the provider's limit on sendAt
SPREAD_SLOTS = 10  # a scheduled message goes out in one of this many slots at the window's opening
SPREAD_SLOT = timedelta(minutes=1)  # each slot this long (less when the common window is short)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Window:
    """``start``..``end`` local time on the allowed ``days`` (Monday = 0)."""

    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def from_spec(cls, hours: LocalHours) -> Window:
        days = frozenset(map(WEEKDAYS.index, hours.days))
        return cls(time.fromisoformat(hours.start), time.fromisoformat(hours.end), days)

    def intervals(self, zone: ZoneInfo, since: datetime, until: datetime) -> list[Interval]:
        """The window's stretches in ``zone`` (UTC instants) that end after ``since`` and start before ``until``."""
        out: list[Interval] = []
        day: date = since.astimezone(zone).date() - timedelta(days=1)
        last = until.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            if day.weekday() in self.days:
                opens = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
                closes = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
                if closes > since and opens < until and closes > opens:
                    out.append((opens, closes))
            day += timedelta(days=1)
        return out

    def common(self, zones: tuple[ZoneInfo, ...], since: datetime, until: datetime) -> Interval | None:
        """The first stretch at or after ``since`` (clipped to it) when the window is open in every zone."""
        if not zones:
            return None
        shared = self.intervals(zones[0], since, until)
        for zone in zones[1:]:
            shared = _intersect(shared, self.intervals(zone, since, until))
            if not shared:
                return None
        for opens, closes in shared:
            opens = max(opens, since)
            if opens < closes:
                return opens, closes
        return None


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


@dataclass(frozen=True, slots=True)
class Slot:
    """What the schedule says of one set of zones: send now, from ``opens`` (before ``closes``), or a skip."""

    now: bool
    opens: datetime | None = None
    closes: datetime | None = None
    skip: str | None = None
    detail: str = ""


class Scheduler:
    """Each recipient's ``sendAt`` for the instant ``now`` (an aware datetime), within notBefore/notAfter."""

    def __init__(
        self,
        hours: LocalHours,
        now: datetime,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.window = Window.from_spec(hours)
        self.now = now.astimezone(UTC)
        self.start = max(self.now, not_before.astimezone(UTC)) if not_before else self.now
        self.not_after = not_after.astimezone(UTC) if not_after else None
        self._slots: dict[tuple[str, ...], Slot] = {}
        self._times: dict[Slot, tuple[datetime, ...]] = {}

    def slot(self, zones: tuple[str, ...]) -> Slot:
        """The common opening of ``zones`` (names), computed once per set of zones."""
        found = self._slots.get(zones)
        if found is None:
            found = self._slots[zones] = self._compute(zones)
        return found

    def _compute(self, names: tuple[str, ...]) -> Slot:
        if not names:
            return Slot(False, skip=NO_TIME_ZONE, detail="no time zone for this recipient, and no localHours.fallback")
        zones = tuple(z for z in map(load_zone, names) if z is not None)
        stretch = self.window.common(zones, self.start, self.start + HORIZON)
        if stretch is None:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            return Slot(False, skip=NO_COMMON_HOURS, detail=f"the window is never open in all of {shown} at once")
        opens, closes = stretch
        if self.not_after is not None:
            if opens >= self.not_after:
                return Slot(False, skip=WINDOW_CLOSED, detail=f"the window next opens at {_iso(opens)}, after notAfter")
            closes = min(closes, self.not_after)
        if opens - self.now > MAX_AHEAD:
            detail = f"the window next opens at {_iso(opens)}, over 180 days ahead"
            return Slot(False, skip=WINDOW_CLOSED, detail=detail)
        return Slot(opens == self.now, opens, closes)

    def send_at(self, message_id: str, slot: Slot) -> datetime | None:
        """The ``sendAt`` of one message in ``slot`` (not a skip): ``None`` to send now, else one of the
        :data:`SPREAD_SLOTS` instants in the first minutes of the opening, chosen by the message id."""
        if slot.now or slot.opens is None or slot.closes is None:
            return None
        times = self._times.get(slot)
        if times is None:
            step = min(SPREAD_SLOT, (slot.closes - slot.opens) / (2 * SPREAD_SLOTS))
            times = self._times[slot] = tuple(_whole_second(slot.opens + n * step) for n in range(SPREAD_SLOTS))
        return times[_spread(message_id)]


def _whole_second(at: datetime) -> datetime:
    return at.replace(microsecond=0) + timedelta(seconds=1) if at.microsecond else at


def _spread(message_id: str) -> int:
    """Which slot a message goes out in: from its id (itself a hash, so the first hex digits are uniform)."""
    try:
        return int(message_id[:8], 16) % SPREAD_SLOTS
    except ValueError:
        return hashlib.blake2b(message_id.encode(), digest_size=4).digest()[0] % SPREAD_SLOTS


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_time(at: datetime) -> str:
    """``sendAt`` as the provider writes date-times: ``2026-12-01T08:00:00.000+0000``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"
