"""The plan as one pull-request comment over any number of campaigns, always under 60 KB.

The comment opens with a hidden marker (a workflow finds and replaces its own earlier comment by it),
then one summary table, then each campaign under ``<details>``, then the hidden digest lines that the
apply after the merge reads, then every campaign's ``Plan:`` line. Only the details are ever cut, per
campaign and at block boundaries, with a line saying so; the table, the closing tags, the digests and the
``Plan:`` lines are always whole.

Text from input files is data: CSV values (rendered samples, the characters that force UCS-2, row errors)
only ever appear inside fenced code blocks whose fence is longer than any run of backticks in them, and
text from the campaign file outside code is escaped, so that no cell can open a link, an HTML tag, a
heading or a mention, or close a ``<details>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from campaigner.plan.build import Plan
from campaigner.plan.views import REASON_TEXT, first_rows, sample_lines, warnings
from campaigner.recipients.reader import SKIP_REASONS

MARKER = "<!-- campaigner-plan -->"
DIGEST_MARKER = "campaigner-digest"
LIMIT = 60_000  # bytes: a GitHub comment holds 65,536 characters
CUT_RESERVE = 300  # bytes kept per campaign for the line that says its details were cut
_SPECIAL = re.compile(r"([\\`*_\[\]<>()#!|~&:{}])")
_BACKTICKS = re.compile(r"`+")


@dataclass(frozen=True)
class Failed:
    """A campaign that could not be planned: its id (or file) and the error lines."""

    name: str
    path: str
    lines: Sequence[str]


@dataclass(frozen=True)
class Gone:
    """A campaign file deleted in the change."""

    name: str | None
    path: str


def escape(text: str) -> str:
    """Campaign-file text for use outside code: markdown's special characters escaped, one line, no mention."""
    flat = " ".join(text.split())
    return _SPECIAL.sub(r"\\\1", flat).replace("@", "@\u200b")


def code_block(lines: Sequence[str], info: str = "") -> str:
    """A fenced code block that no line of ``lines`` can close (its fence is longer than any backtick run)."""
    body = "\n".join(lines)
    longest = max((len(m) for m in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _short(digest: str) -> str:
    return digest[: len("sha256:") + 12] + "…"


def _row(plan: Plan, cost: str) -> str:
    st = plan.stats
    skipped = sum(st.skipped.values())
    worst = f"{st.sms_worst_case} segments" if plan.loaded.spec.sms is not None else "—"
    digest = f"`{_short(plan.digest.value)}`" if plan.digest else "—"
    return (
        f"| `{plan.loaded.spec.campaign}` | {plan.scenario.symbol} | {st.to_send} | {st.already_sent} | {skipped} "
        f"| {worst} | {cost} | {digest} |"
    )


def _blocks(plan: Plan, *, show_pii: bool) -> list[str]:
    """One campaign's details as whole markdown blocks, most important first (cuts drop from the end)."""
    st, spec, sc = plan.stats, plan.loaded.spec, plan.scenario
    flow = " → ".join(f"{s.channel} from {escape(s.sender)}" for s in sc.flow)
    blocks = [f"**Scenario** {escape(sc.name)}: {sc.symbol}; flow {flow}"]
    if sc.diff():
        blocks.append(code_block(sc.diff(), "diff"))
    rows = [
        f"| recipients ({escape(spec.recipients.csv)}) | count |",
        "|---|---:|",
        f"| rows read | {st.rows} |",
        f"| to send | {st.to_send} |",
        f"| already sent | {st.already_sent} |",
    ]
    for reason in SKIP_REASONS:
        n = st.skipped.get(reason, 0)
        if n:
            rows.append(f"| skipped: {REASON_TEXT[reason]} ({first_rows(plan, reason)}) | {n} |")
    blocks.append("\n".join(rows))
    content = ["| content | |", "|---|---|"]
    if spec.line is not None:
        content.append(f"| LINE | {st.line_type} |")
    if spec.sms is not None:
        encoding = ", ".join(f"{enc} {n}" for enc, n in sorted(st.sms_encoding.items())) or "none"
        segments = ", ".join(f"{n} × {parts}-part" for parts, n in sorted(st.sms_segments.items())) or "none"
        content += [
            f"| SMS encoding | {encoding} |",
            f"| SMS segments | {segments} |",
            f"| SMS worst case | {st.sms_worst_case} segments |",
        ]
    content.append(f"| requests | {st.requests} (up to {spec.send.batchSize} per request) |")
    if st.cost is not None:
        content.append(f"| estimated cost | {st.cost.text()} |")
    blocks.append("\n".join(content))
    found = warnings(plan)
    if found:
        blocks.append("Warnings:\n\n" + code_block(found))
    if st.samples:
        lines: list[str] = []
        for sample in st.samples:
            lines.extend(sample_lines(sample, show_pii=show_pii))
        masked = "" if show_pii else " (phone numbers and LINE keys masked)"
        blocks.append(f"Samples{masked}:\n\n" + code_block(lines))
    if plan.digest is not None:
        blocks.append(f"Plan digest: `{plan.digest.value}`")
    return blocks


def _fit(blocks: Sequence[str], budget: int, name: str) -> str:
    """All blocks when they fit in ``budget + CUT_RESERVE`` bytes; else the whole blocks that fit in
    ``budget`` and a line (under ``CUT_RESERVE`` bytes) that says what was cut."""
    if sum(_size(b) + 2 for b in blocks) <= budget + CUT_RESERVE:
        return "\n\n".join(blocks)
    kept: list[str] = []
    used = 0
    for i, block in enumerate(blocks):
        size = _size(block) + 2
        if used + size > budget:
            rest = sum(_size(b) + 2 for b in blocks[i:])
            kept.append(
                f"_Details of {name} cut here to keep this comment under 60 KB ({rest} bytes left out); "
                f"`campaigner plan` on the campaign shows them all._"
            )
            break
        kept.append(block)
        used += size
    return "\n\n".join(kept)


def render(
    plans: Sequence[Plan],
    *,
    target_line: str,
    show_pii: bool = False,
    failed: Sequence[Failed] = (),
    removed: Sequence[Gone] = (),
    limit: int = LIMIT,
) -> str:
    """The whole comment."""
    cells = [p.stats.cost.cell() if p.stats.cost else "—" for p in plans]
    head = [
        MARKER,
        "## campaigner plan",
        "",
        target_line,
        "",
        "| campaign | scenario | to send | already sent | skipped | SMS worst case | estimated cost | digest |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    head += [_row(plan, cost) for plan, cost in zip(plans, cells, strict=True)]
    head += [f"| `{f.name}` | errors: not planned | — | — | — | — | — | — |" for f in failed]
    head += [f"| `{g.name or '?'}` | removed: nothing is recalled | — | — | — | — | — | — |" for g in removed]
    tail = [""]
    for gone in removed:
        tail.append(f"- {escape(gone.path)}: removed; nothing is recalled, its ledger record stays")
    tail += [f"<!-- {DIGEST_MARKER} {p.loaded.spec.campaign}={p.digest.token()} -->" for p in plans if p.digest]
    tail.append("")
    tail += [f"- `{p.loaded.spec.campaign}`: **{p.summary_line}**" for p in plans]
    tail += [f"- `{f.name}`: **Errors: not planned.**" for f in failed]
    tail.append("")
    sections: list[tuple[str, str, list[str]]] = []  # (opening, name, blocks)
    for plan in plans:
        name = plan.loaded.spec.campaign
        opening = f"<details><summary>{name}: {plan.summary_line}</summary>"
        sections.append((opening, name, _blocks(plan, show_pii=show_pii)))
    for fail in failed:
        opening = f"<details><summary>{fail.name}: errors, not planned</summary>"
        sections.append((opening, fail.name, [code_block(list(fail.lines))]))
    frame = "\n\n</details>\n"  # closes every section, never cut
    fixed = _size("\n".join(head)) + _size("\n".join(tail)) + 4
    fixed += sum(_size(opening) + _size(frame) + 4 + CUT_RESERVE for opening, _, _ in sections)
    left = max(0, limit - 512 - fixed)  # a margin for separators
    bodies: list[str] = []
    for i, (_, name, blocks) in enumerate(sections):
        share = left // (len(sections) - i)  # what the campaigns before left unused goes to the next
        body = _fit(blocks, share, name)
        left -= max(0, _size(body) - CUT_RESERVE)
        bodies.append(body)
    out = "\n".join(head) + "\n"
    for (opening, _, _), body in zip(sections, bodies, strict=True):
        out += f"\n{opening}\n\n{body}{frame}"
    out += "\n".join(tail)
    return out
