"""Campaign files: valid ones load, broken ones give one line at file:line:col each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaigner.campaign.load import load_campaign
from campaigner.errors import CampaignerError, InputError

VALID = """\
campaign: test-1
scenario:
  name: Test
  flow:
    - channel: LINE
      from: 37B94F4D2BA3C58B58526EAEAA1AB35C
    - channel: SMS
      from: 385971006006
recipients:
  csv: r.csv
  phoneNumber: phone
  defaultRegion: hr
line:
  text: "Hi {{ name }}"
sms:
  text: "Hi {{ name }}"
send:
  rateLimit: 600/m
report:
  wait: 90s
"""


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignerError) as info:
        load_campaign(path)
    return [line.replace(str(tmp_path) + "/", "") for line in info.value.lines()]


def test_valid_campaign_loads_with_units(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(VALID, encoding="utf-8")
    loaded = load_campaign(path)
    spec = loaded.spec
    assert spec.send.rateLimit == 10.0
    assert spec.report.wait == 90.0
    assert spec.recipients.defaultRegion == "HR"
    assert spec.scenario.flow[1].sender == "385971006006"  # an unquoted number is a sender too
    assert loaded.locate(("line", "text")) == (14, 9)
    assert loaded.locate_key(("sms",)) == (15, 1)


BROKEN = [
    (
        "yaml-syntax",
        "campaign: x\nscenario: [\n",
        ["c.yaml:3:1: error: YAML syntax error: expected the node content, but found '<stream end>'"],
    ),
    (
        "duplicate-key",
        "campaign: x\ncampaign: y\n",
        ['c.yaml:2:1: error: YAML syntax error: duplicate key "campaign" with value "y" (original value: "x")'],
    ),
    (
        "not-a-mapping",
        "- a\n- b\n",
        [
            "c.yaml:1:1: error: the campaign file is a list, not a mapping (start with `campaign: my-id` and the keys of SPEC section 2)"
        ],
    ),
    (
        "unknown-key",
        VALID.replace("  name: Test", "  name: Test\n  flwo: []"),
        ["c.yaml:4:3: error: unknown key 'flwo' in scenario (did you mean 'flow'?)"],
    ),
    (
        "missing-key",
        VALID.replace("  csv: r.csv\n", ""),
        ["c.yaml:9:1: error: missing required key 'csv' in recipients"],
    ),
    (
        "wrong-type",
        VALID.replace("batch", "x").replace("rateLimit: 600/m", "rateLimit: [1]"),
        ["c.yaml:18:3: error: send.rateLimit: expected a rate such as 20/s or 600/m, got [1]"],
    ),
    (
        "empty-flow",
        VALID.replace(
            """  flow:
    - channel: LINE
      from: 37B94F4D2BA3C58B58526EAEAA1AB35C
    - channel: SMS
      from: 385971006006
""",
            "  flow: []\n",
        ),
        ["c.yaml:4:3: error: scenario.flow is empty: give at least one step"],
    ),
    (
        "bad-channel",
        VALID.replace("channel: SMS", "channel: VIBER"),
        ["c.yaml:7:16: error: scenario.flow[1].channel: Input should be 'LINE' or 'SMS', got 'VIBER'"],
    ),
    (
        "content-missing",
        VALID.replace('sms:\n  text: "Hi {{ name }}"\n', ""),
        [
            "c.yaml:7:16: error: the flow has an SMS step but there is no sms: content (add sms: with the SMS content, or remove the step)"
        ],
    ),
    (
        "bad-region",
        VALID.replace("defaultRegion: hr", "defaultRegion: XX"),
        [
            "c.yaml:12:18: error: recipients.defaultRegion: 'XX' is not a region code the numbering plan knows; use a two-letter ISO 3166 code such as HR, DE or JP"
        ],
    ),
    (
        "bad-campaign-id",
        VALID.replace("campaign: test-1", "campaign: Test 1"),
        [
            "c.yaml:1:11: error: campaign id must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters"
        ],
    ),
    (
        "bad-duration",
        VALID.replace("wait: 90s", "wait: soon"),
        ["c.yaml:20:9: error: report.wait: expected a duration such as 30s, 10m or 1h, got 'soon'"],
    ),
    (
        "line-type-fields",
        VALID.replace('line:\n  text: "Hi {{ name }}"', "line:\n  type: IMAGE\n  url: https://x.example/a.jpg"),
        ["c.yaml:13:1: error: line: LINE IMAGE needs thumbnailUrl"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BROKEN], ids=[i for i, _, _ in BROKEN])
def test_broken_campaign_gives_located_lines(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert _errors(tmp_path, text) == expected


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_campaign(tmp_path / "nope.yaml")
    assert info.value.format().endswith("nope.yaml: error: file not found (check the path)")


def test_schema_command_prints_json_schema(cli: object) -> None:
    import json

    result = cli("schema")  # type: ignore[operator]
    schema = json.loads(result.out)
    assert schema["title"] == "campaigner campaign file"
    assert "scenario" in schema["properties"]


def test_committed_schema_matches(cli: object) -> None:
    result = cli("schema")  # type: ignore[operator]
    committed = (Path(__file__).resolve().parents[2] / "campaign.schema.json").read_text(encoding="utf-8")
    assert result.out == committed, "run `campaigner schema > campaign.schema.json`"


def test_a_closed_send_window_is_a_warning_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        VALID.replace("  rateLimit: 600/m\n", "  rateLimit: 600/m\n  notAfter: 2020-01-01T09:00:00+01:00\n")
    )
    loaded = load_campaign(path)
    assert [w.replace(str(tmp_path), "T") for w in loaded.warning_lines()] == [
        "T/c.yaml:19:13: warning: send.notAfter 2020-01-01T09:00:00+01:00 is in the past: apply will send nothing"
    ]
    assert load_campaign(tmp_path / "c.yaml").warnings(now=datetime(2019, 1, 1, tzinfo=UTC)) == []
