"""The pull-request comment: under 60 KB for 50 campaigns of 10,000 recipients, CSV text rendered as code only."""

from __future__ import annotations

import csv
from pathlib import Path

from markdown_it import MarkdownIt

from campaigner.campaign.load import load_campaign
from campaigner.plan.build import Plan, build_plan, scenario_change
from campaigner.plan.comment import LIMIT, MARKER, Failed, Gone, code_block, escape, render

EVIL = "Ana\n```\n# Heading\n[a link](https://evil.example/x) <img src=x onerror=alert(1)> @octocat\n</details>\n````` **bold**"

CAMPAIGN = """\
campaign: {name}
scenario:
  name: "Loyalty <b>LINE</b> [then](https://x.example) SMS @team"
  flow:
    - channel: LINE
      from: 37B94F4D2BA3C58B58526EAEAA1AB35C
    - channel: SMS
      from: InfoSMS
recipients:
  csv: people.csv
  phoneNumber: phone
  lineUserKey: key
vars:
  filler: "{filler}"
line:
  text: "Hi {{{{ first_name }}}}! {{{{ filler }}}}"
sms:
  text: "{{{{ first_name }}}}, {{{{ filler }}}} Ž"
"""


def _campaign(folder: Path, name: str, rows: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "people.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["first_name", "phone", "key"])
        writer.writerow([EVIL, "+385977000000", "k-0"])
        for i in range(1, rows):
            writer.writerow([f"P{i}", f"+3859770{i:05d}", f"k-{i}"])
    path = folder / "campaign.yaml"
    path.write_text(CAMPAIGN.format(name=name, filler="long text " * 150), encoding="utf-8")
    return path


def _plan(path: Path) -> Plan:
    loaded = load_campaign(path)
    return build_plan(loaded, target_id="sandbox", scenario=scenario_change(loaded, None))


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def test_fifty_campaigns_of_ten_thousand_fit_and_keep_every_plan_line(tmp_path: Path) -> None:
    plan = _plan(_campaign(tmp_path / "big", "big", 10_000))
    assert plan.stats.to_send == 10_000
    plans = []
    for i in range(50):
        name = f"campaign-{i:02d}-" + "x" * 40
        spec = plan.loaded.spec.model_copy(update={"campaign": name})
        loaded = plan.loaded.__class__(spec, plan.loaded.path, plan.loaded.sha256, plan.loaded.tree)
        plans.append(Plan(loaded, plan.target_id, plan.bulk_id, plan.scenario, plan.stats, plan.digest))
    failed = [Failed("broken", "campaigns/broken.yaml", ["campaigns/broken.yaml:3:1: error: " + "y" * 5000])]
    text = render(
        plans,
        target_line="Target: Infobip https://api.example",
        failed=failed,
        removed=[Gone("old", "campaigns/old.yaml")],
    )
    assert len(text.encode("utf-8")) < LIMIT
    assert text.startswith(MARKER + "\n")
    lines = text.splitlines()
    for p in plans:
        name = p.loaded.spec.campaign
        assert f"- `{name}`: **Plan: 10000 messages to send, 1 scenario to create.**" in lines
        assert f"<!-- campaigner-digest {name}={p.digest.token()} -->" in lines  # type: ignore[union-attr]
        assert any(line.startswith(f"| `{name}` | + create | 10000 | 0 | 0 | ") for line in lines)
    assert text.count("<details>") == text.count("</details>") == 51
    assert "cut here to keep this comment under 60 KB" in text
    assert lines[-1] == "- `broken`: **Errors: not planned.**"
    # the structure survives: every section is an HTML block of its own, and nothing else is HTML
    tokens = _parser().parse(text)
    html = [t.content.strip() for t in tokens if t.type == "html_block"]
    assert sum(h.startswith("<details><summary>") for h in html) == 51
    assert html.count("</details>") == 51


def test_hundreds_of_campaigns_still_fit_and_say_what_was_left_out(tmp_path: Path) -> None:
    plan = _plan(_campaign(tmp_path / "small", "small", 20))
    plans = []
    for i in range(400):
        spec = plan.loaded.spec.model_copy(update={"campaign": f"c-{i:03d}-" + "y" * 50})
        loaded = plan.loaded.__class__(spec, plan.loaded.path, plan.loaded.sha256, plan.loaded.tree)
        plans.append(Plan(loaded, plan.target_id, plan.bulk_id, plan.scenario, plan.stats, plan.digest))
    text = render(plans, target_line="Target: Infobip https://api.example")
    assert len(text.encode("utf-8")) < LIMIT
    assert "<details>" not in text
    assert "_The details of each campaign are left out to keep this comment under 60 KB; see the job log._" in text
    shown = text.count("<!-- campaigner-digest ")
    assert 50 < shown < 400
    assert text.count("**Plan: 20 messages to send") == shown  # every campaign shown has all its lines
    assert f"_{400 - shown} more campaigns left out: this comment would pass 60 KB." in text
    assert render([], target_line="T").endswith(
        "No campaign to plan: no campaign file, and no file a campaign reads, changed.\n\n\n"
    )


def test_csv_text_renders_as_code_only(tmp_path: Path) -> None:
    plan = _plan(_campaign(tmp_path / "evil", "evil", 3))
    text = render([plan], target_line="Target: embedded sandbox; nothing leaves this machine", show_pii=False)
    tokens = _parser().parse(text)
    html_blocks = [t.content.strip() for t in tokens if t.type == "html_block"]
    assert html_blocks == [
        MARKER,
        "<details><summary>evil: Plan: 3 messages to send, 1 scenario to create.</summary>",
        "</details>",
        f"<!-- campaigner-digest evil={plan.digest.token()} -->",  # type: ignore[union-attr]
    ]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == ["campaigner plan"]
    inline = [child for t in tokens if t.type == "inline" for child in (t.children or [])]
    assert [c.type for c in inline if c.type in ("link_open", "html_inline", "image")] == []
    assert not any("octocat" in c.content or "evil.example" in c.content for c in inline if c.type == "text")
    fences = [t.content for t in tokens if t.type == "fence"]
    assert any("# Heading" in f and "</details>" in f and "@octocat" in f and "`````" in f for f in fences)
    # the scenario name, from the campaign file, is escaped text: no tag, no link, no mention
    scenario = next(c for t in tokens if t.type == "inline" and "Scenario" in t.content for c in [t])
    assert "Loyalty <b>LINE</b> [then](https://x.example) SMS @\u200bteam" in "".join(
        c.content for c in scenario.children or [] if c.type in ("text", "code_inline")
    )


def test_a_fence_is_longer_than_any_backtick_run() -> None:
    block = code_block(["a ``````` b", "```"])
    assert block.startswith("````````\n") and block.endswith("\n````````")
    assert escape("a|b <i>x</i> [l](u) @me") == "a\\|b \\<i\\>x\\</i\\> \\[l\\]\\(u\\) @\u200bme"
