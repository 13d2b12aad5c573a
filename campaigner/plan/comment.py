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

from campaigner.campaign.spec import CAMPAIGN_ID
from campaigner.plan.build import Plan, skip_reasons
from campaigner.plan.views import (
    IN_DOUBT,
    REASON_TEXT,
    first_rows,
    rollout_lines,
    sample_lines,
    schedule_lines,
    warnings,
)
from campaigner.text.escape import fence_for, for_terminal

MARKER = "<!-- campaigner-plan -->"
DIGEST_MARKER = "campaigner-digest"
LIMIT = 60_000  # bytes: a GitHub comment holds 65,536 characters
CUT_RESERVE = 300  # bytes kept per campaign for the line that says its details were cut
_SPECIAL = re.compile(r"([\\`*_\[\]<>()#!|~&:{}])")
_CAMPAIGN_ID = re.compile(CAMPAIGN_ID)


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
    flat = for_terminal(" ".join(text.split()))
    return _SPECIAL.sub(r"\\\1", flat).replace("@", "@\u200b")


def code_block(lines: Sequence[str], info: str = "") -> str:
    """A fenced code block that no line of ``lines`` can close (its fence is longer than any backtick run);
    control and bidirectional characters are written as escapes, as on a terminal."""
    shown = [for_terminal(line) for line in "\n".join(lines).split("\n")]
    fence = fence_for(shown)
    body = "\n".join(shown)
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
    if st.in_doubt:
        rows.append(f"| in doubt ({IN_DOUBT}) | {st.in_doubt} |")
    for reason in skip_reasons(plan.loaded):
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
    for line in rollout_lines(plan):  # send.canary and send.stopWhen
        label, text = line.split(" ", 1)
        content.append(f"| {label} | {escape(text.strip())} |")
    blocks.append("\n".join(content))
    found = warnings(plan)
    if found:
        blocks.append("Warnings:\n\n" + code_block(found))
    if st.schedule is not None:  # send.localHours: when each recipient's message goes out
        timing = schedule_lines(plan, show_pii=show_pii)
        blocks.append(f"**{escape(timing[0])}**\n\n" + code_block([line.strip() for line in timing[1:]]))
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


def _name(text: str) -> str:
    """A campaign id as code; anything else (a file name, an old file's id) escaped."""
    return f"`{text}`" if _CAMPAIGN_ID.match(text) else escape(text)


def render(
    plans: Sequence[Plan],
    *,
    target_line: str,
    show_pii: bool = False,
    failed: Sequence[Failed] = (),
    removed: Sequence[Gone] = (),
    limit: int = LIMIT,
) -> str:
    """The whole comment, under ``limit`` bytes.

    Past about a hundred campaigns not even the table, digests and ``Plan:`` lines of all of them fit:
    then the details go first, and then the campaigns past what fits, with a line saying how many (an
    apply with ``--require-digest`` refuses those, since their digest is not in the comment).
    """
    budget = limit - 1024  # a margin for separators and the lines that say what was left out
    # Each campaign's never-cut lines: its table row, its digest marker, its Plan: line.
    items: list[tuple[str, str | None, str | None]] = []
    for plan in plans:
        name = plan.loaded.spec.campaign
        marker = f"<!-- {DIGEST_MARKER} {name}={plan.digest.token()} -->" if plan.digest else None
        cost = plan.stats.cost.cell() if plan.stats.cost else "—"
        items.append((_row(plan, cost), marker, f"- `{name}`: **{plan.summary_line}**"))
    for fail in failed:
        items.append((f"| {_name(fail.name)} | errors: not planned | — | — | — | — | — | — |", None, None))
    for gone in removed:
        row = f"| {_name(gone.name or gone.path)} | removed: nothing is recalled | — | — | — | — | — | — |"
        items.append((row, None, f"- {escape(gone.path)}: removed; nothing is recalled, its ledger record stays"))
    head = [
        MARKER,
        "## campaigner plan",
        "",
        target_line,
        "",
        "| campaign | scenario | to send | already sent | skipped | SMS worst case | estimated cost | digest |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    used = _size("\n".join(head)) + 8
    kept = 0
    for item in items:
        size = sum(_size(line) + 1 for line in item if line is not None)
        if used + size > budget:
            break
        used += size
        kept += 1
    shown = items[:kept]
    left_out = len(items) - kept
    head += [row for row, _, _ in shown]
    if not items:
        head += ["", "No campaign to plan: no campaign file, and no file a campaign reads, changed."]
    if left_out:
        head += [
            "",
            f"_{left_out} more campaign{'s' if left_out != 1 else ''} left out: this comment would pass 60 KB. "
            "The job log has the whole plan; an apply refuses a campaign whose digest is not here._",
        ]
    tail = ["", *(marker for _, marker, _ in shown if marker), "", *(line for _, _, line in shown if line), ""]
    for fail in failed[: max(0, kept - len(plans))]:
        tail.insert(-1, f"- {_name(fail.name)}: **Errors: not planned.**")
    sections: list[tuple[str, str, list[str]]] = []  # (opening, name, blocks), for the campaigns shown
    for plan in plans[:kept]:
        name = plan.loaded.spec.campaign
        opening = f"<details><summary>{name}: {plan.summary_line}</summary>"
        sections.append((opening, name, _blocks(plan, show_pii=show_pii)))
    for fail in failed[: max(0, kept - len(plans))]:
        opening = f"<details><summary>{escape(fail.name)}: errors, not planned</summary>"
        sections.append((opening, escape(fail.name), [code_block(list(fail.lines))]))
    frame = "\n\n</details>\n"  # closes every section, never cut
    fixed = _size("\n".join(head)) + _size("\n".join(tail)) + 4
    frames = sum(_size(opening) + _size(frame) + 4 + CUT_RESERVE for opening, _, _ in sections)
    if sections and fixed + frames + 64 * len(sections) > budget:
        sections, frames = [], 0
        head += ["", "_The details of each campaign are left out to keep this comment under 60 KB; see the job log._"]
        fixed += 120
    left = max(0, budget - fixed - frames)
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
