"""send.localHours in the campaign file: times, days and the window's order checked at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigner.campaign.load import load_campaign
from campaigner.errors import InputError, InputErrors


def load(tmp_path: Path, hours: str) -> object:
    (tmp_path / "r.csv").write_text("name,phone\nA,+385977666618\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(
        "campaign: c\nscenario: {name: S, flow: [{channel: SMS, from: X}]}\n"
        f"recipients: {{csv: r.csv, phoneNumber: phone}}\nsms: {{text: hi}}\nsend:\n  localHours: {hours}\n",
        encoding="utf-8",
    )
    return load_campaign(path)


def error(tmp_path: Path, hours: str) -> str:
    with pytest.raises((InputError, InputErrors)) as info:
        load(tmp_path, hours)
    return str(info.value).split("c.yaml:", 1)[1]


def test_defaults_every_day_and_auto_zone(tmp_path: Path) -> None:
    spec = load(tmp_path, '{from: "09:00", to: "20:00"}').spec  # type: ignore[attr-defined]
    hours = spec.send.localHours
    assert (hours.start, hours.end, hours.zone, hours.fallback) == ("09:00", "20:00", "auto", None)
    assert hours.days == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_bad_values_are_located(tmp_path: Path) -> None:
    assert error(tmp_path, '{from: "9am", to: "20:00"}') == (
        "6:22: error: send.localHours.from: expected a local time such as \"09:00\" (HH:MM, 24-hour), got '9am'"
    )
    assert error(tmp_path, '{from: "20:00", to: "09:00"}') == (
        "6:31: error: send.localHours.to: 09:00 is not later than from (20:00) "
        '(the window is one stretch of a local day, e.g. from: "09:00", to: "20:00")'
    )
    assert error(tmp_path, '{from: "09:00", to: "20:00", days: [Mon, Sunday]}').startswith(
        "6:56: error: send.localHours.days[1]: Input should be 'Mon'"
    )
