"""The plan's schedule with send.localHours: every sendAt in each recipient's daytime, counted, deterministic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from campaigner.campaign.load import load_campaign
from campaigner.errors import InputError, InputErrors
from campaigner.plan import comment, views
from campaigner.plan.build import PlannedMessage, ScenarioChange, build_plan
from campaigner.recipients.reader import Skip
from campaigner.schedule.zones import ZoneFinder, load_zone

INSTANT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # a Wednesday
NUMBERS = {
    "+385 97 766 6618": "Croatia",
    "+385 91 234 5678": "Croatia",
    "+81 90 1234 5678": "Japan",
    "+55 11 98765 4321": "Brazil (São Paulo)",
    "+55 92 98765 4321": "Brazil (Manaus)",
    "+1 212 555 0123": "US (New York)",
    "+1 310 555 0123": "US (Los Angeles)",
    "+1 208 301 2345": "US (Idaho: Boise or Los Angeles)",
    "+1 808 555 0123": "US (Honolulu)",
    "+7 916 123 4567": "Russia (16 zones)",
}


def write(tmp_path: Path, rows: list[str], send: str, header: str = "name,phone,line") -> Path:
    (tmp_path / "r.csv").write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(
        "campaign: zones\n"
        "scenario: {name: S, flow: [{channel: LINE, from: APP}, {channel: SMS, from: InfoSMS}]}\n"
        "recipients: {csv: r.csv, phoneNumber: phone, lineUserKey: line}\n"
        "line: {text: 'Hi {{ name }}'}\n"
        "sms: {text: 'Hi {{ name }}'}\n"
        f"send:\n{send}",
        encoding="utf-8",
    )
    return path


HOURS = '  batchSize: 500\n  localHours: {from: "09:00", to: "20:00", days: [Mon, Tue, Wed, Thu, Fri, Sat]}\n'


def plan_at(path: Path, now: datetime = INSTANT) -> tuple[Any, list[PlannedMessage | Skip]]:
    seen: list[PlannedMessage | Skip] = []
    plan = build_plan(
        load_campaign(path), target_id="sandbox", scenario=ScenarioChange("create", "S", ()), sink=seen.append, now=now
    )
    return plan, seen


def inside_everywhere(at: datetime, zones: tuple[str, ...]) -> bool:
    for name in zones:
        local = at.astimezone(load_zone(name))
        if local.strftime("%a") == "Sun" or not ("09:00" <= local.strftime("%H:%M") < "20:00"):
            return False
    return True


def test_every_send_at_is_in_local_daytime_in_all_zones_and_counted(tmp_path: Path) -> None:
    rows = [f"{country},{number}," for number, country in NUMBERS.items()]
    plan, seen = plan_at(write(tmp_path, rows, HOURS))
    messages = [m for m in seen if isinstance(m, PlannedMessage)]
    assert len(messages) == len(NUMBERS)
    for m in messages:
        at = m.send_at or INSTANT
        assert inside_everywhere(at, m.zones), (m.row, m.zones, at)
        if m.send_at is None:
            assert inside_everywhere(INSTANT, m.zones)
    assert {m.zones for m in messages if m.row == 9} == {("America/Boise", "America/Los_Angeles")}
    sched = plan.stats.schedule
    assert (
        sched.now == sum(1 for m in messages if m.send_at is None) == 3
    )  # Tokyo at noon, Honolulu at 17:00, Los Angeles at 19:00
    by_hour: dict[datetime, int] = {}
    for m in messages:
        if m.send_at is not None:
            hour = m.send_at.replace(minute=0, second=0)
            by_hour[hour] = by_hour.get(hour, 0) + 1
    assert dict(sched.hours) == by_hour
    assert sched.last == max(m.send_at for m in messages if m.send_at)
    data = json.loads(views.to_json(plan))["schedule"]
    assert data["now"] == 3
    assert data["scheduled"] == len(NUMBERS) - 3
    assert [h["count"] for h in data["hours"]] == [by_hour[h] for h in sorted(by_hour)]
    assert data["hours"][0] == {
        "utc": "2026-12-02T07:00:00Z",
        "count": 1,
        "local": {"Europe/Zagreb": "Wed 08:00", "America/Los_Angeles": "Tue 23:00", "America/Manaus": "Wed 03:00"},
    }
    assert data["last"] == "2026-12-02T17:06:00Z"  # Boise and Los Angeles: 10:06 and 09:06
    assert {s["zone"] for s in data["samples"]} == set(data["zones"])
    assert data["zones"]["16 zones (UTC+02:00…UTC+12:00)"] == 1  # the Russian mobile
    assert data["zones"]["2 zones (UTC-08:00…UTC-07:00)"] == 1  # Idaho
    assert data["samples"][0]["to"] == {"phoneNumber": "+385 97***618"}
    text = views.to_text(plan, target_line="Target: x")
    assert (
        "Schedule (local 09:00–20:00, Mon, Tue, Wed, Thu, Fri, Sat; zones from the phone numbers; as of 2026-12-02 03:00 UTC):"
        in text
    )
    assert "  now             3\n" in text
    assert "  skipped         no_time_zone 0, no_common_hours 0, window_closed 0" in text
    markdown = comment.render([plan], target_line="Target: x")  # the pull-request comment
    assert "now             3" in markdown


def test_the_same_inputs_and_instant_give_the_same_schedule(tmp_path: Path) -> None:
    path = write(tmp_path, [f"{c},{n}," for n, c in NUMBERS.items()], HOURS)
    first, second = plan_at(path)[0], plan_at(path)[0]
    assert views.to_json(first) == views.to_json(second)
    assert views.to_json(first) != views.to_json(plan_at(path, datetime(2026, 12, 2, 9, 0, tzinfo=UTC))[0])


def test_identical_payloads_with_the_same_send_at_share_a_request(tmp_path: Path) -> None:
    rows = [f"Ana,+385 91 {i:03d} {i:04d}," for i in range(100, 140)]
    plan, seen = plan_at(write(tmp_path, rows, HOURS))
    slots = {m.send_at for m in seen if isinstance(m, PlannedMessage)}
    assert len(slots) == 10
    assert plan.stats.requests == 10  # one request per sendAt: the payload is the same


def test_across_a_dst_change_the_schedule_keeps_local_wall_clock_time(tmp_path: Path) -> None:
    # Saturday 28 March 2026, 20:30 UTC: Zagreb is closed; it opens on Monday (Sunday is not allowed),
    # after the change to summer time: 09:00 CEST is 07:00 UTC.
    _plan, seen = plan_at(write(tmp_path, ["Ana,+385 97 766 6618,"], HOURS), datetime(2026, 3, 28, 20, 30, tzinfo=UTC))
    (m,) = [m for m in seen if isinstance(m, PlannedMessage)]
    assert m.send_at is not None
    local = m.send_at.astimezone(load_zone("Europe/Zagreb"))
    assert local.strftime("%a %Y-%m-%d") == "Mon 2026-03-30" and "09:00" <= local.strftime("%H:%M") < "09:10"
    assert m.send_at.strftime("%H") == "07"


def test_no_zone_is_skipped_without_a_fallback_and_sent_with_one(tmp_path: Path) -> None:
    rows = ["Ana,,delivered-a", "Ivo,+385 97 766 6618,"]
    plan, seen = plan_at(write(tmp_path, rows, HOURS))
    assert [(s.row, s.reason) for s in seen if isinstance(s, Skip)] == [(2, "no_time_zone")]
    assert plan.stats.skipped["no_time_zone"] == 1
    assert json.loads(views.to_json(plan))["recipients"]["skipped"]["no_time_zone"] == 1
    with_fallback = HOURS.replace("}\n", ", fallback: Asia/Tokyo}\n")
    plan, seen = plan_at(write(tmp_path, rows, with_fallback))
    sent = [m for m in seen if isinstance(m, PlannedMessage)]
    assert next((m.row, m.zones, m.send_at) for m in sent) == (2, ("Asia/Tokyo",), None)
    assert plan.stats.skipped["no_time_zone"] == 0 and plan.stats.to_send == 2


def test_new_skip_reasons_are_counted(tmp_path: Path) -> None:
    send = '  localHours: {from: "09:00", to: "12:00", zone: tz}\n  notAfter: 2026-12-02T09:00:00Z\n'
    rows = ["Ana,+385 97 766 6618,,Asia/Tokyo", "Ivo,+385 97 766 6619,,Europe/Zagreb"]
    plan, seen = plan_at(write(tmp_path, rows, send, header="name,phone,line,tz"))
    assert [(s.row, s.reason) for s in seen if isinstance(s, Skip)] == [(2, "window_closed")]
    assert plan.stats.to_send == 1


def test_a_zone_column_value_that_is_not_a_zone_is_a_row_error(tmp_path: Path) -> None:
    send = '  localHours: {from: "09:00", to: "20:00", zone: tz}\n'
    path = write(
        tmp_path, ["Ana,+385 97 766 6618,,Europe/Zagreb", "Ivo,+385 97 766 6619,,Mars/Base"], send, "name,phone,line,tz"
    )
    with pytest.raises((InputError, InputErrors)) as info:
        plan_at(path)
    assert str(info.value).endswith(
        "r.csv:row 3: error: column 'tz': 'Mars/Base' is not an IANA time zone "
        "(use an IANA zone name such as Europe/Zagreb or America/New_York)"
    )


def test_a_missing_zone_column_and_a_bad_fallback_are_located_in_the_campaign(tmp_path: Path) -> None:
    send = '  localHours: {from: "09:00", to: "20:00", zone: tz, fallback: Nowhere/Land}\n'
    with pytest.raises(InputErrors) as info:
        plan_at(write(tmp_path, ["Ana,+385 97 766 6618,"], send))
    lines = [e.format() for e in info.value.errors]
    assert lines[0].startswith(f"{tmp_path / 'c.yaml'}:7:") or "c.yaml:7:" in lines[0]
    assert "column 'tz' is not in the header of " in lines[0] and "r.csv (name the column" in lines[0]
    assert "'Nowhere/Land' is not an IANA time zone" in lines[1]


def test_finder_is_the_library_for_every_number() -> None:
    import phonenumbers
    from benchmarks.bench_local_hours import number
    from phonenumbers import timezone

    finder = ZoneFinder(column=None, fallback=None)
    extra = ["12082012345", "12083012345", "77012345678", "79141234567", "5569981234567", "8613812345678"]
    for digits in [number(i)[1:] for i in range(0, 20000, 7)] + extra:
        expected = tuple(sorted(timezone.time_zones_for_number(phonenumbers.parse("+" + digits))))
        assert finder.for_number(digits) == tuple(z for z in expected if z != "Etc/Unknown"), digits


def test_a_long_apply_schedules_each_message_for_the_instant_it_is_claimed(tmp_path: Path) -> None:
    from campaigner.plan.schedule import LiveSchedule, scheduled, scheduler_for
    from campaigner.plan.stream import MessageStream

    rows = [f"Ana,+81 90 1234 {i:04d}," for i in range(600)]
    loaded = load_campaign(write(tmp_path, rows, HOURS))
    start = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)  # 19:30 in Tokyo: open for 30 more minutes
    instants = iter([start.replace(hour=11, minute=5)] * 10)  # the apply is still running at 20:05 in Tokyo
    live = LiveSchedule(loaded, scheduler_for(loaded, start), clock=lambda: next(instants))
    stream = MessageStream(loaded, "sandbox")
    sent = [m for m in scheduled(stream, live) if isinstance(m, PlannedMessage)]
    stream.close()
    at_once = [m for m in sent if m.send_at is None]
    assert 0 < len(at_once) < 600
    later = {m.send_at for m in sent if m.send_at is not None}
    assert later and all(inside_everywhere(at, ("Asia/Tokyo",)) for at in later)
    assert min(later) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # Thursday 09:00 in Tokyo
