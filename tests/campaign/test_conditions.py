"""Conditions and shares as the campaign file writes them; their errors at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigner.campaign.conditions import Condition, parse_condition, parse_share
from campaigner.campaign.load import load_campaign
from campaigner.errors import CampaignerError

BASE = """\
campaign: t
scenario:
  name: T
  flow:
    - channel: SMS
      from: InfoSMS
recipients:
  csv: r.csv
  phoneNumber: phone
sms:
  text: hi
send:
"""


def test_conditions_parse_and_hold() -> None:
    c = parse_condition(">= 90%")
    assert c == Condition(">=", 90.0, True)
    assert str(c) == ">= 90%"
    assert c.holds(45, 50) and not c.holds(44, 50)
    assert not c.holds(0, 0)  # no outcomes: 0%
    assert parse_condition("<=2%").holds(1, 50)
    assert parse_condition(" < 10 ").holds(9, 1000) and not parse_condition("< 10").holds(10, 1000)
    assert parse_condition("> 0.5%").measure(1, 100) == 1.0
    assert parse_share("1%") == 0.01 and parse_share("0.5 %") == 0.005


@pytest.mark.parametrize("text", ["90%", "=> 90%", ">= 101%", ">= -1%", "about 90%", ""])
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_condition(text)


@pytest.mark.parametrize("text", ["0%", "101%", "1", "one percent"])
def test_bad_shares_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_share(text)


def _errors(tmp_path: Path, send: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + send, encoding="utf-8")
    (tmp_path / "r.csv").write_text("phone\n+385912345678\n", encoding="utf-8")
    with pytest.raises(CampaignerError) as info:
        load_campaign(path)
    return [line.replace(str(tmp_path) + "/", "") for line in info.value.lines()]


def test_canary_and_stop_when_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        BASE
        + '  canary:\n    count: 200\n    wait: 20m\n    require:\n      delivered: ">= 90%"\n'
        + '  stopWhen:\n    undeliverable: ">= 10%"\n',
        encoding="utf-8",
    )
    spec = load_campaign(path).spec
    assert spec.send.canary is not None and spec.send.canary.count == 200 and spec.send.canary.wait == 1200
    assert spec.send.canary.min_reports == 50
    assert spec.send.stopWhen is not None and spec.send.stopWhen.after == 200


def test_canary_errors_point_at_the_key(tmp_path: Path) -> None:
    assert _errors(tmp_path, '  canary:\n    share: 1%\n    require:\n      delivered: "90%"\n') == [
        'c.yaml:16:18: error: send.canary.require.delivered: expected a condition such as ">= 90%", '
        '"<= 2%" or "< 10", got \'90%\''
    ]
    assert _errors(tmp_path, '  canary:\n    share: 1%\n    count: 5\n    require:\n      delivered: ">= 9%"\n') == [
        "c.yaml:13:3: error: send.canary: give the canary's size as share (e.g. 1%) or as count, not both"
    ]
    assert _errors(tmp_path, '  canary:\n    count: 20\n    min: 50\n    require:\n      rejected: "<= 2%"\n') == [
        "c.yaml:15:5: error: send.canary.min (50) is more than send.canary.count (20) (lower min, or raise count)"
    ]
    assert _errors(tmp_path, '  canary:\n    count: 20\n    require:\n      opened: ">= 2%"\n') == [
        "c.yaml:16:15: error: send.canary.require.opened: Input should be 'delivered', 'undeliverable', "
        "'expired' or 'rejected', got 'opened'"
    ]
    assert _errors(tmp_path, "  stopWhen:\n    after: 10\n") == [
        "c.yaml:13:3: error: send.stopWhen: give at least one condition: rejected or undeliverable"
    ]
