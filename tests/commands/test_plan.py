"""plan and validate from the CLI: what a reviewer reads, masked, deterministic, and the scenario diff."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx

from campaigner.sandbox.server import SandboxServer

EXAMPLE = "campaigns/spring-sale-2026.yaml"
PHONE = re.compile(r"\+?385\s?\d{2}\s?\d{3}\s?\d{4}|3859\d{8}")


def test_plan_text_is_masked_and_complete(workdir: Path, cli: Any) -> None:
    result = cli("plan", EXAMPLE)
    assert result.code == 0, result.err
    out = result.out
    assert out.splitlines()[0].startswith("Target: embedded sandbox (")
    assert 'Scenario "Loyalty LINE then SMS": + create' in out
    assert "  skipped         1 invalid phone number (row 9)" in out
    assert "  skipped         2 on an exclude list (rows 15, 17)" in out
    assert "SMS encoding    GSM7 13, UCS2 2" in out
    assert "row 2 → +385 97***618, LINE e3e9…a3d5" in out
    assert out.rstrip().endswith("Plan: 15 messages to send, 1 scenario to create.")
    assert not PHONE.search(out.replace("385971006006", "SENDER")), "an unmasked phone number in the plan"
    assert "e3e95e22-0235-49bc-bd1c-812ef33da3d5" not in out


def test_show_pii_unmasks(workdir: Path, cli: Any) -> None:
    out = cli("plan", EXAMPLE, "--show-pii").out
    assert "row 2 → +385977666618, LINE e3e95e22-0235-49bc-bd1c-812ef33da3d5" in out


def test_plan_json_has_stable_keys(workdir: Path, cli: Any) -> None:
    result = cli("plan", EXAMPLE, "--format", "json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["format_version"] == 1
    assert data["campaign"] == "spring-sale-2026"
    assert data["target"] == "sandbox"
    assert data["scenario"]["action"] == "create"
    assert data["recipients"] == {
        "rows": 20,
        "to_send": 15,
        "already_sent": 0,
        "in_doubt": 0,
        "skipped": {"invalid_number": 1, "no_address": 1, "duplicate": 1, "excluded": 2},
        "skipped_first_rows": {"invalid_number": [9], "no_address": [10], "duplicate": [11], "excluded": [15, 17]},
    }
    assert data["requests"] == 15
    assert data["sms"]["encoding"] == {"GSM7": 13, "UCS2": 2}
    assert data["sms"]["segments"] == {"1": 15}
    assert len(data["samples"]) == 3
    assert data["samples"][0]["to"]["phoneNumber"] == "+385 97***618"


def test_markdown_fits_a_pull_request_comment(workdir: Path, cli: Any) -> None:
    out = cli("plan", EXAMPLE, "--format", "markdown").out
    assert out.startswith(
        "<!-- campaigner-plan -->\n## campaigner plan\n\nTarget: embedded sandbox; nothing leaves this machine\n"
    )
    assert "- `spring-sale-2026`: **Plan: 15 messages to send, 1 scenario to create.**" in out
    assert str(workdir) not in out and "127.0.0.1" not in out  # no runner path, no port: the same on every machine
    many = cli("plan", "campaigns/", "--format", "markdown").out
    assert many.count("<details><summary>") == 2 and str(workdir) not in many
    assert len(out.encode()) < 60_000
    assert not PHONE.search(out.replace("385971006006", "SENDER"))


def test_rich_campaign_groups_identical_payloads(workdir: Path, cli: Any) -> None:
    data = json.loads(cli("plan", "campaigns/new-collection-image.yaml", "--format", "json").out)
    assert data["recipients"]["to_send"] == 15
    assert data["requests"] == 3  # one IMAGE per segment: gold, silver, bronze
    assert data["samples"][0]["line"] == {
        "type": "IMAGE",
        "url": "https://cdn.shop.example/collection-2026/gold.jpg",
        "thumbnailUrl": "https://cdn.shop.example/collection-2026/gold-preview.jpg",
        "validityPeriod": 60,
    }


def test_detailed_exitcode(workdir: Path, cli: Any) -> None:
    assert cli("plan", EXAMPLE, "--detailed-exitcode").code == 2
    assert cli("apply", EXAMPLE, "--no-wait").code == 0
    after = cli("plan", EXAMPLE, "--detailed-exitcode")
    assert after.code == 0
    assert "No changes." in after.out
    assert 'Scenario "Loyalty LINE then SMS" [' in after.out and "]: no change" in after.out


def test_saved_plan_is_byte_identical(workdir: Path, cli: Any) -> None:
    assert cli("plan", EXAMPLE, "--out", "a.plan").code == 0
    assert cli("plan", EXAMPLE, "--out", "b.plan").code == 0
    assert (workdir / "a.plan").read_bytes() == (workdir / "b.plan").read_bytes()


def test_scenario_update_shows_the_flow_difference(workdir: Path, cli: Any, monkeypatch: Any, tmp_path: Path) -> None:
    with SandboxServer(db_path=tmp_path / "diff.db") as server:
        httpx.post(
            f"{server.url}/omni/1/scenarios",
            headers={"Authorization": "App sandbox"},
            json={"name": "Loyalty LINE then SMS", "flow": [{"channel": "SMS", "from": "InfoSMS"}]},
        ).raise_for_status()
        monkeypatch.setenv("INFOBIP_BASE_URL", server.url)
        monkeypatch.setenv("INFOBIP_API_KEY", "sandbox")
        out = cli("plan", EXAMPLE).out
    assert "~ update" in out
    assert "  - SMS from InfoSMS" in out
    assert "  + LINE from 37B94F4D2BA3C58B58526EAEAA1AB35C" in out
    assert "  + SMS from 385971006006" in out
    assert "Plan: 15 messages to send, 1 scenario to update." in out


def test_validate_reports_errors_only(workdir: Path, cli: Any) -> None:
    ok = cli("validate")
    assert ok.code == 0, ok.err
    assert ok.out == "2 campaign files valid.\n"
    broken = workdir / "campaigns" / "broken.yaml"
    broken.write_text(
        (workdir / EXAMPLE)
        .read_text(encoding="utf-8")
        .replace("{{ first_name }}!", "{{ frist_name }}!")
        .replace("campaign: spring-sale-2026", "campaign: broken"),
        encoding="utf-8",
    )
    bad = cli("validate", "campaigns")
    assert bad.code == 1
    assert bad.err.startswith("campaigns/broken.yaml:26:")
    assert "frist_name" in bad.err and "first_name" in bad.err


def test_template_error_lines_mask_the_row_address_unless_show_pii(workdir: Path, cli: Any) -> None:
    case = Path(__file__).resolve().parents[1] / "fixtures" / "bad" / "tpl-pii-in-error"
    shutil.copytree(case, workdir / "case", ignore=shutil.ignore_patterns("expected.txt"))
    masked = cli("plan", "case/campaign.yaml")
    assert masked.code == 1
    assert (
        masked.err.splitlines()[0]
        == "case/recipients.csv:row 2: error: line.text: ValueError: '+385 97***618' is not in list"
    )
    shown = cli("plan", "case/campaign.yaml", "--show-pii")
    assert shown.code == 1
    assert shown.err.splitlines()[0] == (
        "case/recipients.csv:row 2: error: line.text: ValueError: '+385 97 766 6618' is not in list"
    )


def test_plan_in_worker_processes_prints_the_same_plan(workdir: Path, cli: Any, monkeypatch: Any) -> None:
    one = cli("plan", EXAMPLE, "--format", "json")
    monkeypatch.setenv("CAMPAIGNER_JOBS", "2")  # #14: workers, whatever the CSV's size
    two = cli("plan", EXAMPLE, "--format", "json")
    assert two.code == one.code == 0, two.err
    assert two.out == one.out


def test_a_bad_campaigner_jobs_is_one_line(workdir: Path, cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CAMPAIGNER_JOBS", "many")
    result = cli("plan", EXAMPLE)
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        "error: CAMPAIGNER_JOBS='many' is not a number of processes; set it to 1 (one process) to 8, "
        "or unset it (one per core for large CSVs)"
    )
    assert "Traceback" not in result.err
