"""The local-time window: the next common opening of a recipient's zones, spread, DST, skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigner.campaign.spec import LocalHours
from campaigner.schedule.windows import Scheduler
from campaigner.schedule.zones import ZoneFinder, load_zone

NINE_TO_EIGHT = LocalHours.model_validate({"from": "09:00", "to": "20:00"})


def test_zones_come_from_the_packaged_tzdata_only() -> None:
    zone = load_zone("Europe/Zagreb")
    assert zone is not None and zone.key == "Europe/Zagreb"
    for bad in ("Europe/Nowhere", "", "../etc/passwd", "Europe//Zagreb", " Europe/Zagreb", "localtime"):
        assert load_zone(bad) is None, bad


def test_numbers_map_to_their_numbering_plan_zones() -> None:
    finder = ZoneFinder(column=None, fallback=None)
    assert finder.zones("385977666618", {}) == ("Europe/Zagreb",)
    assert finder.zones("819012345678", {}) == ("Asia/Tokyo",)
    assert finder.zones("5592987654321", {}) == ("America/Manaus",)
    assert finder.zones("12125550123", {}) == ("America/New_York",)
    assert len(finder.zones("79161234567", {})) == 16
    assert finder.zones(None, {}) == ()
    assert ZoneFinder(column=None, fallback="Europe/Zagreb").zones(None, {}) == ("Europe/Zagreb",)


def test_a_zone_column_is_read_and_checked() -> None:
    finder = ZoneFinder(column="tz", fallback="Asia/Tokyo")
    assert finder.zones("385977666618", {"tz": "America/Chicago"}) == ("America/Chicago",)
    assert finder.zones("385977666618", {"tz": " "}) == ("Asia/Tokyo",)
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone"):
        finder.zones(None, {"tz": "Mars/Olympus"})


def test_open_now_sends_at_once_closed_waits_for_the_opening() -> None:
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # Wednesday: 12:00 in Tokyo, 04:00 in Zagreb
    scheduler = Scheduler(NINE_TO_EIGHT, now)
    tokyo = scheduler.slot(("Asia/Tokyo",))
    assert tokyo.now and scheduler.send_at("m1", tokyo) is None
    zagreb = scheduler.slot(("Europe/Zagreb",))
    assert not zagreb.now and zagreb.opens == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    at = scheduler.send_at("m1", zagreb)
    assert at is not None and zagreb.opens <= at < zagreb.opens + timedelta(minutes=10)
    assert at.microsecond == 0


def test_sends_spread_over_the_first_minutes() -> None:
    scheduler = Scheduler(NINE_TO_EIGHT, datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    slot = scheduler.slot(("Europe/Zagreb",))
    times = {scheduler.send_at(f"message-{i}", slot) for i in range(200)}
    assert len(times) == 10
    assert min(t for t in times if t) == slot.opens


def test_sixteen_russian_zones_share_one_hour() -> None:
    zones = ZoneFinder(column=None, fallback=None).zones("79161234567", {})
    scheduler = Scheduler(NINE_TO_EIGHT, datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    slot = scheduler.slot(zones)
    assert slot.skip is None
    assert slot.opens == datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # 09:00 in Bucharest, 20:00 in Kamchatka
    assert slot.closes == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_zones_that_never_overlap_are_skipped() -> None:
    hours = LocalHours.model_validate({"from": "09:00", "to": "12:00"})
    slot = Scheduler(hours, datetime(2026, 12, 2, tzinfo=UTC)).slot(("Asia/Tokyo", "Europe/Zagreb"))
    assert slot.skip == "no_common_hours"
    assert slot.detail == "the window is never open in all of Asia/Tokyo, Europe/Zagreb at once"


def test_no_zone_is_skipped() -> None:
    slot = Scheduler(NINE_TO_EIGHT, datetime(2026, 12, 2, tzinfo=UTC)).slot(())
    assert slot.skip == "no_time_zone"


def test_an_opening_after_not_after_closes_the_window() -> None:
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    scheduler = Scheduler(NINE_TO_EIGHT, now, not_after=datetime(2026, 12, 2, 7, 0, tzinfo=UTC))
    slot = scheduler.slot(("Europe/Zagreb",))
    assert slot.skip == "window_closed"
    assert slot.detail == "the window next opens at 2026-12-02T08:00:00Z, after notAfter"
    assert scheduler.slot(("Asia/Tokyo",)).now


def test_not_before_is_the_earliest_send_at() -> None:
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    not_before = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    scheduler = Scheduler(NINE_TO_EIGHT, now, not_before=not_before)
    zagreb = scheduler.slot(("Europe/Zagreb",))  # open at 11:30 local
    assert zagreb.opens == not_before and not zagreb.now
    tokyo = scheduler.slot(("Asia/Tokyo",))  # 19:30 in Tokyo: open until 20:00
    assert tokyo.opens == not_before and tokyo.closes == datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    at = scheduler.send_at("x", tokyo)
    assert at is not None and not_before <= at < tokyo.closes


def test_allowed_days_skip_to_the_next_allowed_day() -> None:
    hours = LocalHours.model_validate({"from": "09:00", "to": "20:00", "days": ["Mon"]})
    slot = Scheduler(hours, datetime(2026, 12, 2, 3, 0, tzinfo=UTC)).slot(("Europe/Zagreb",))  # a Wednesday
    assert slot.opens == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_daylight_saving_keeps_local_wall_clock_time() -> None:
    # Europe/Zagreb moves from UTC+1 to UTC+2 on Sunday 29 March 2026; New York on 8 March.
    now = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # Saturday 21:00 in Zagreb: closed
    saturday = Scheduler(NINE_TO_EIGHT, now).slot(("Europe/Zagreb",))
    assert saturday.opens == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST, not 08:00 UTC
    assert saturday.closes == datetime(2026, 3, 29, 18, 0, tzinfo=UTC)
    before = Scheduler(NINE_TO_EIGHT, datetime(2026, 3, 7, 3, 0, tzinfo=UTC)).slot(("America/New_York",))
    after = Scheduler(NINE_TO_EIGHT, datetime(2026, 3, 9, 3, 0, tzinfo=UTC)).slot(("America/New_York",))
    assert before.opens == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)  # EST
    assert after.opens == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # EDT


def test_the_same_instant_gives_the_same_schedule() -> None:
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    zones = ("America/Sao_Paulo",)
    first = Scheduler(NINE_TO_EIGHT, now)
    second = Scheduler(NINE_TO_EIGHT, now)
    ids = [f"id-{i}" for i in range(50)]
    assert [first.send_at(i, first.slot(zones)) for i in ids] == [second.send_at(i, second.slot(zones)) for i in ids]
