"""plan's views and the summary treat text from input files as data: escaped for terminals and markdown, bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from campaigner.plan.views import MARKDOWN_LIMIT
from campaigner.text.escape import fence_for, for_markdown, for_terminal, markdown_code

RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")
HOSTILE = "Ana\x1b[2J\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\\x07\rX\u202e"


def _campaign(workdir: Path, first_name: str, *, name: str = "Loyalty", description: str = "") -> str:
    folder = workdir / "hostile"
    folder.mkdir(exist_ok=True)
    (folder / "r.csv").write_text(f"phone,first_name\n+385977666618,{first_name}\n", encoding="utf-8")
    (folder / "c.yaml").write_text(
        "campaign: hostile\n"
        + (f"description: {description}\n" if description else "")
        + f'scenario:\n  name: "{name}"\n  flow:\n    - channel: LINE\n      from: APPKEY\n'
        "recipients:\n  csv: r.csv\n  phoneNumber: phone\n"
        'line:\n  text: "Hi {{ first_name }}"\n'
        "report:\n  dir: out\n",
        encoding="utf-8",
    )
    return "hostile/c.yaml"


def test_terminal_escapes_are_visible_text() -> None:
    assert for_terminal(HOSTILE) == (
        "Ana\\x1b[2J\\x1b]8;;https://evil.example\\x1b\\click\\x1b]8;;\\x1b\\\\x07\\rX\\u202e"
    )
    assert for_terminal("plain žuta kuća 😀") == "plain žuta kuća 😀"


def test_markdown_defuses_mentions_references_and_html() -> None:
    assert for_markdown("ping @org/team and #12 <img src=x> *b* a@b.c") == (
        "ping @&#8203;org/team and \\#&#8203;12 &lt;img src=x&gt; \\*b\\* a@b.c"
    )
    assert markdown_code("a`b|c") == "`a'b\\|c`"
    assert fence_for(["x ```` y"]) == "`````"


def test_plan_text_and_markdown_escape_csv_values_and_names(workdir: Path, cli: Any) -> None:
    path = _campaign(workdir, HOSTILE.replace("\r", ""), name="Loy\\e[31malty\\a")
    text = cli("plan", path, "--show-pii")
    assert text.code == 0, text.err
    markdown = cli("plan", path, "--format", "markdown", "--show-pii")
    for out in (text.out, markdown.out):
        assert not any(c in out for c in RAW_CONTROLS), repr(out)
    assert 'Scenario "Loy\\x1b[31malty\\x07": + create' in text.out
    assert "  LINE TEXT: Hi Ana\\x1b[2J\\x1b]8;;https://evil.example" in text.out


def test_the_markdown_cut_keeps_the_fence_the_details_and_the_plan_line(workdir: Path, cli: Any) -> None:
    path = _campaign(workdir, "\x01" * 4990)  # each control character grows fourfold when escaped
    csv = workdir / "hostile" / "r.csv"
    csv.write_text(
        "phone,first_name\n" + "".join(f"+38597766{6610 + i},{chr(1) * 4990}\n" for i in range(3)), encoding="utf-8"
    )
    result = cli("plan", path, "--format", "markdown")
    assert result.code == 0, result.err
    out = result.out
    assert len(out.encode("utf-8")) <= MARKDOWN_LIMIT
    lines = out.splitlines()
    assert lines[-5:] == ["```", "", "</details>", "", "**Plan: 3 messages to send, 1 scenario to create.**"]
    assert any(line.startswith("…(") and "more samples cut" in line for line in lines)


def test_summary_md_defuses_mentions_from_the_description(workdir: Path, cli: Any) -> None:
    path = _campaign(workdir, "Ana", description="'Spring for @everyone, see #42 <b>now</b>'")
    result = cli("apply", path, "--no-wait")
    assert result.code in (0, 1), result.err
    summary = (workdir / "hostile" / "out" / "summary.md").read_text(encoding="utf-8")
    assert "Spring for @&#8203;everyone, see \\#&#8203;42 &lt;b&gt;now&lt;/b&gt;" in summary
    assert "@everyone" not in summary
