"""validate, plan, apply, report and status over folders: each campaign on its own, the worst exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPRING = "campaigns/spring-sale-2026.yaml"


def _add_broken(workdir: Path) -> None:
    text = (workdir / SPRING).read_text(encoding="utf-8")
    text = text.replace("campaign: spring-sale-2026", "campaign: broken").replace("{{ first_name }}!", "{{ nope }}!")
    (workdir / "campaigns" / "broken.yaml").write_text(text, encoding="utf-8")


def test_validate_refuses_two_files_with_one_id(workdir: Path, cli: Any) -> None:
    (workdir / "campaigns" / "again.yaml").write_text((workdir / SPRING).read_text(encoding="utf-8"), encoding="utf-8")
    result = cli("validate", "campaigns")
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0].startswith(
        "campaigns/again.yaml:2:11: error: campaign id 'spring-sale-2026' is also used by campaigns/spring-sale-2026.yaml"
    )
    assert lines[1].startswith(
        "campaigns/spring-sale-2026.yaml:2:11: error: campaign id 'spring-sale-2026' is also used by campaigns/again.yaml"
    )
    assert result.out == "3 campaign files: 2 with errors, 1 valid.\n"
    # plan refuses them too: the second would otherwise show as already sent
    planned = cli("plan", "campaigns")
    assert planned.code == 1
    assert planned.out.count("Plan: 15 messages to send") == 1  # new-collection-image only
    assert "== new-collection-2026 (campaigns/new-collection-image.yaml) ==" in planned.out


def test_one_bad_campaign_does_not_hide_the_others(workdir: Path, cli: Any) -> None:
    _add_broken(workdir)
    result = cli("plan", "campaigns", "--detailed-exitcode")
    assert result.code == 1  # errors outrank changes
    assert result.err.startswith("campaigns/broken.yaml:26:")
    out = result.out
    assert out.startswith("Target: embedded sandbox (")
    assert "\n== broken (campaigns/broken.yaml) ==\nerror: not planned (the errors are above, on stderr)\n" in out
    assert "\n== spring-sale-2026 (campaigns/spring-sale-2026.yaml) ==\n" in out
    assert out.count("Plan: 15 messages to send") == 2
    assert out.endswith("\nCampaigns: 2 campaigns planned (2 with changes), 1 with errors.\n")

    data = json.loads(cli("plan", "campaigns", "--format", "json").out)
    assert [c["campaign"] for c in data["campaigns"]] == ["new-collection-2026", "spring-sale-2026"]
    assert data["errors"][0]["file"] == "campaigns/broken.yaml"
    assert data["errors"][0]["campaign"] == "broken"
    assert data["errors"][0]["lines"][0].startswith("campaigns/broken.yaml:26:")


def test_apply_report_status_over_a_folder(workdir: Path, cli: Any) -> None:
    _add_broken(workdir)
    applied = cli("apply", "campaigns", "--no-wait")
    assert applied.code == 1, applied.err
    assert applied.err.startswith("campaigns/broken.yaml:26:")
    assert applied.out.count("Sent in ") == 2
    status = cli("status", "campaigns")
    assert status.code == 0  # status reads the ledger, not the templates
    assert "broken: nothing sent yet on this target." in status.out
    assert "spring-sale-2026:\n  messages: planned 0, sending 0, accepted 15" in status.out
    assert "new-collection-2026:\n  messages: planned 0, sending 0, accepted 15" in status.out
    (workdir / "campaigns" / "broken.yaml").unlink()
    report = cli("report", "campaigns")
    assert report.code == 0, report.err
    assert report.out.count("Stored ") == 2
    again = cli("plan", "campaigns", "--detailed-exitcode")
    assert again.code == 0
    assert again.out.count("No changes.") == 2


def test_plan_out_takes_one_campaign(workdir: Path, cli: Any) -> None:
    result = cli("plan", "campaigns", "--out", "x.plan")
    assert (result.code, result.err) == (1, "error: --out saves the plan of one campaign; name one campaign file\n")
