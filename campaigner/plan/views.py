"""The plan for people and machines: text for a terminal, markdown for a pull request, JSON with stable keys."""

from __future__ import annotations

import json
from typing import Any

from campaigner.plan.build import Plan, Sample
from campaigner.plan.masking import mask_line_key, mask_phone
from campaigner.recipients.reader import SKIP_REASONS

FORMAT_VERSION = 1
MARKDOWN_LIMIT = 60_000

_REASON_TEXT = {
    "invalid_number": "invalid phone number",
    "no_address": "no phone number or LINE key",
    "duplicate": "duplicate recipient",
    "excluded": "on an exclude list",
}


def show_to(to: dict[str, str], *, show_pii: bool) -> str:
    parts = []
    if "phoneNumber" in to:
        parts.append("+" + to["phoneNumber"] if show_pii else mask_phone(to["phoneNumber"]))
    if "lineUserKey" in to:
        parts.append(("LINE " + to["lineUserKey"]) if show_pii else "LINE " + mask_line_key(to["lineUserKey"]))
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"about {round(seconds)} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def _segments_line(plan: Plan) -> str:
    st = plan.stats
    if not st.sms_segments:
        return "none"
    parts = [f"{n} × {parts}-part" for parts, n in sorted(st.sms_segments.items())]
    return ", ".join(parts)


def _encoding_line(plan: Plan) -> str:
    st = plan.stats
    return ", ".join(f"{enc} {n}" for enc, n in sorted(st.sms_encoding.items())) or "none"


def warnings(plan: Plan) -> list[str]:
    st = plan.stats
    out = []
    if st.ucs2_forcing:
        singles = [ch for ch, _ in st.ucs2_forcing.most_common(5)]
        shown = " ".join(repr(ch) for ch in singles)
        out.append(
            f"{st.sms_encoding.get('UCS2', 0)} SMS go out as UCS-2 (70 characters per message instead of 160) "
            f"because of: {shown}"
        )
    return out


def _first_rows(plan: Plan, reason: str) -> str:
    rows = plan.stats.skipped_rows.get(reason, [])
    more = ", …" if plan.stats.skipped.get(reason, 0) > len(rows) else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}{more}"


def _sample_lines(sample: Sample, *, show_pii: bool) -> list[str]:
    lines = [f"row {sample.row} → {show_to(sample.to, show_pii=show_pii)}"]
    line = sample.body.get("line")
    if line is not None:
        kind = line.get("type", "TEXT")
        detail = line.get("text") if kind == "TEXT" else line.get("url") or line.get("stickerId")
        lines.append(f"  LINE {kind}: {detail}")
    sms = sample.body.get("sms")
    if sms is not None:
        m = sample.sms
        extra = f" ({m.encoding}, {m.parts} part{'s' if m.parts != 1 else ''})" if m else ""
        lines.append(f"  SMS{extra}: {sms.get('text')}")
    return lines


def to_text(plan: Plan, *, target_line: str, show_pii: bool = False) -> str:
    """The plan for a terminal: what a reviewer must know, in the order they ask."""
    st, spec = plan.stats, plan.loaded.spec
    out = [target_line, ""]
    sc = plan.scenario
    flow = " → ".join(f"{s.channel} ({s.sender})" for s in sc.flow)
    key = f" [{sc.key}]" if sc.key else ""
    out.append(f'Scenario "{sc.name}"{key}: {sc.symbol}')
    out.append(f"  flow: {flow}")
    out.extend(f"  {line}" for line in sc.diff())
    out.append("")
    out.append(f"Recipients ({plan.loaded.spec.recipients.csv}):")
    out.append(f"  rows read       {st.rows}")
    out.append(f"  to send         {st.to_send}")
    out.append(f"  already sent    {st.already_sent}")
    for reason in SKIP_REASONS:
        n = st.skipped.get(reason, 0)
        if n:
            out.append(f"  skipped         {n} {_REASON_TEXT[reason]} ({_first_rows(plan, reason)})")
    out.append("")
    out.append("Content:")
    if spec.line is not None:
        out.append(f"  LINE            {st.line_type}")
    if spec.sms is not None:
        out.append(f"  SMS encoding    {_encoding_line(plan)}")
        out.append(f"  SMS segments    {_segments_line(plan)}")
        out.append(f"  SMS worst case  {st.sms_worst_case} segments if every recipient falls back to SMS")
    rate = spec.send.rateLimit
    out.append(
        f"  requests        {st.requests} (up to {spec.send.batchSize} per request), "
        f"{_duration(st.requests / rate)} at {rate:g}/s"
    )
    for w in warnings(plan):
        out.append(f"  warning: {w}")
    if st.samples:
        out.append("")
        out.append("Samples:" + ("" if show_pii else " (phone numbers and LINE keys masked; --show-pii shows them)"))
        for sample in st.samples:
            out.extend("  " + line for line in _sample_lines(sample, show_pii=show_pii))
    out.append("")
    out.append(plan.summary_line)
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(plan: Plan, *, target_line: str, show_pii: bool = False) -> str:
    """The plan for a pull-request comment; bounded in size whatever the campaign size."""
    st, spec = plan.stats, plan.loaded.spec
    sc = plan.scenario
    out = [f"### campaigner plan: `{spec.campaign}`", "", f"{target_line}", ""]
    flow = " → ".join(f"{s.channel} (`{s.sender}`)" for s in sc.flow)
    out += [f"**Scenario** “{_md_escape(sc.name)}”: `{sc.symbol}`, flow {flow}", ""]
    if sc.diff():
        out += ["```diff", *sc.diff(), "```", ""]
    out += [
        "| recipients | count |",
        "|---|---:|",
        f"| rows read | {st.rows} |",
        f"| to send | {st.to_send} |",
        f"| already sent | {st.already_sent} |",
    ]
    for reason in SKIP_REASONS:
        n = st.skipped.get(reason, 0)
        if n:
            out.append(f"| skipped: {_REASON_TEXT[reason]} ({_first_rows(plan, reason)}) | {n} |")
    out += ["", "| content | |", "|---|---|"]
    if spec.line is not None:
        out.append(f"| LINE | {st.line_type} |")
    if spec.sms is not None:
        out += [
            f"| SMS encoding | {_encoding_line(plan)} |",
            f"| SMS segments | {_segments_line(plan)} |",
            f"| SMS worst case | {st.sms_worst_case} segments |",
        ]
    out.append(
        f"| requests | {st.requests} ({_duration(st.requests / spec.send.rateLimit)} at {spec.send.rateLimit:g}/s) |"
    )
    for w in warnings(plan):
        out += ["", f"> ⚠️ {_md_escape(w)}"]
    if st.samples:
        out += ["", "<details><summary>Samples</summary>", "", "```"]
        for sample in st.samples:
            out.extend(_sample_lines(sample, show_pii=show_pii))
        out += ["```", "", "</details>"]
    out += ["", f"**{plan.summary_line}**", ""]
    text = "\n".join(out)
    if len(text.encode("utf-8")) > MARKDOWN_LIMIT:  # only samples can grow it; cut them
        text = text.encode("utf-8")[: MARKDOWN_LIMIT - 200].decode("utf-8", "ignore") + "\n…(cut)\n"
    return text


def to_json_data(plan: Plan, *, show_pii: bool = False) -> dict[str, Any]:
    """The plan as data with stable keys (SPEC section 5)."""
    st = plan.stats
    sc = plan.scenario
    return {
        "format_version": FORMAT_VERSION,
        "campaign": plan.loaded.spec.campaign,
        "target": plan.target_id,
        "bulkId": plan.bulk_id,
        "scenario": {
            "action": sc.action,
            "name": sc.name,
            "key": sc.key,
            "flow": [{"channel": s.channel, "from": s.sender} for s in sc.flow],
            "diff": sc.diff(),
        },
        "recipients": {
            "rows": st.rows,
            "to_send": st.to_send,
            "already_sent": st.already_sent,
            "skipped": {reason: st.skipped.get(reason, 0) for reason in SKIP_REASONS},
            "skipped_first_rows": {reason: st.skipped_rows.get(reason, []) for reason in SKIP_REASONS},
        },
        "requests": st.requests,
        "line": {"type": st.line_type} if st.line_type else None,
        "sms": {
            "encoding": dict(sorted(st.sms_encoding.items())),
            "segments": {str(k): v for k, v in sorted(st.sms_segments.items())},
            "worst_case_segments": st.sms_worst_case,
        },
        "warnings": warnings(plan),
        "samples": [
            {
                "row": s.row,
                "to": {
                    k: (v if show_pii else (mask_phone(v) if k == "phoneNumber" else mask_line_key(v)))
                    for k, v in s.to.items()
                },
                "messageId": s.message_id,
                **s.body,
            }
            for s in st.samples
        ],
        "summary": plan.summary_line,
    }


def to_json(plan: Plan, *, show_pii: bool = False) -> str:
    return json.dumps(to_json_data(plan, show_pii=show_pii), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
