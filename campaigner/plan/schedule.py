"""The plan's schedule: each message's ``sendAt`` in its recipients' daytime, and the figures a reviewer reads.

:func:`scheduled` turns a stream of planned messages (carrying their zones) into messages with ``send_at``
set (or ``None``: send now) and skips (``no_common_hours``, ``window_closed``), for one fixed instant;
:class:`ScheduleStats` counts how many go out now and in each later hour. Pure: the instant is passed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from campaigner.campaign.load import LoadedCampaign
from campaigner.plan.message import PlannedMessage
from campaigner.recipients.reader import Skip
from campaigner.schedule.windows import Scheduler
from campaigner.schedule.zones import load_zone

SAMPLE_ZONES = 10  # samples: the first message of this many zones
MAIN_ZONES = 3  # the hours table shows local times in this many of the commonest zones


def zone_label(zones: tuple[str, ...], at: datetime) -> str:
    """``Europe/Zagreb``, or ``16 zones (UTC+02:00…UTC+12:00)`` (their offsets at ``at``) for several."""
    if len(zones) == 1:
        return zones[0]
    offsets = sorted({at.astimezone(z).utcoffset() or timedelta(0) for z in map(load_zone, zones) if z})
    if not offsets:
        return ", ".join(zones)
    return f"{len(zones)} zones ({_utc_offset(offsets[0])}…{_utc_offset(offsets[-1])})"


def _utc_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def scheduled(
    items: Iterable[PlannedMessage | Skip], scheduler: Scheduler | Callable[[], Scheduler]
) -> Iterator[PlannedMessage | Skip]:
    """Each message with its ``send_at`` (messages without zones pass as they are), or the skip it becomes.

    ``scheduler``: one for a fixed instant (the plan), or a callable giving the one for the current
    instant (:class:`LiveSchedule`: a long apply keeps to the windows as they open and close).
    """
    if isinstance(scheduler, Scheduler):
        fixed = scheduler
        pick: Callable[[], Scheduler] = lambda: fixed  # noqa: E731
    else:
        pick = scheduler
    for item in items:
        if isinstance(item, Skip) or not item.zones:
            yield item
            continue
        current = pick()
        slot = current.slot(item.zones)
        if slot.skip is not None:
            yield Skip(item.row, slot.skip, slot.detail)
            continue
        at = current.send_at(item.message_id, slot)
        if at is None:
            yield item
        else:
            yield PlannedMessage(item.row, item.recipient_id, item.message_id, item.to, item.payload, item.zones, at)


@dataclass
class ScheduleSample:
    row: int
    to: dict[str, str]
    zones: tuple[str, ...]
    send_at: datetime | None


@dataclass
class ScheduleStats:
    """How many messages go out now and in each later hour (UTC), by zone, and a sample per zone."""

    at: datetime
    now: int = 0
    hours: Counter[datetime] = field(default_factory=Counter)
    zones: Counter[str] = field(default_factory=Counter)
    last: datetime | None = None
    samples: dict[str, ScheduleSample] = field(default_factory=dict)
    _labels: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _hours: dict[datetime, datetime] = field(default_factory=dict, repr=False)

    def add(self, m: PlannedMessage) -> None:
        if not m.zones:
            return
        label = self._labels.get(m.zones)
        if label is None:
            label = self._labels[m.zones] = zone_label(m.zones, self.at)
        self.zones[label] += 1
        at = m.send_at
        if at is None:
            self.now += 1
        else:
            hour = self._hours.get(at)
            if hour is None:
                hour = self._hours[at] = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                if self.last is None or at > self.last:
                    self.last = at
            self.hours[hour] += 1
        if label not in self.samples and len(self.samples) < SAMPLE_ZONES:
            self.samples[label] = ScheduleSample(m.row, m.to, m.zones, m.send_at)

    @property
    def scheduled(self) -> int:
        return sum(self.hours.values())

    def main_zones(self) -> list[str]:
        """The commonest single zones, for local times beside the UTC hours."""
        single = [(z, n) for z, n in self.zones.items() if load_zone(z) is not None]
        return [z for z, _ in sorted(single, key=lambda kv: (-kv[1], kv[0]))[:MAIN_ZONES]]


def scheduler_for(loaded: LoadedCampaign, now: datetime | None) -> Scheduler | None:
    """The campaign's scheduler for the instant ``now`` (default: the current time), or None without
    ``send.localHours``."""
    send = loaded.spec.send
    if send.localHours is None:
        return None
    at = datetime.now(UTC) if now is None else now
    return Scheduler(send.localHours, at, not_before=send.notBefore, not_after=send.notAfter)


class LiveSchedule:
    """The scheduler for the current instant, made again every ``refresh`` seconds of ``clock``.

    An apply may run for hours: a recipient whose window was open when it started may be reached after
    it closed. Scheduling each message for the instant it is claimed keeps every send inside the window.
    """

    def __init__(self, loaded: LoadedCampaign, first: Scheduler, clock: Callable[[], datetime], refresh: float = 60.0):
        self.loaded = loaded
        self.current = first
        self.clock = clock
        self.refresh = refresh
        self._calls = 0

    def __call__(self) -> Scheduler:
        self._calls += 1
        if self._calls % 256 == 0:
            now = self.clock()
            if (now - self.current.now).total_seconds() >= self.refresh:
                made = scheduler_for(self.loaded, now)
                assert made is not None
                self.current = made
        return self.current
