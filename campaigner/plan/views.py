"""The plan for people and machines: text for a terminal and JSON with stable keys (markdown: ``comment.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from campaigner.plan.build import Plan, Sample, skip_reasons
from campaigner.plan.canary import describe as describe_canary
from campaigner.plan.canary import sample_size
from campaigner.plan.estimate import Latency, estimate
from campaigner.plan.masking import mask_line_key, mask_phone
from campaigner.plan.schedule import ScheduleStats
from campaigner.schedule.windows import SCHEDULE_SKIP_REASONS as SCHEDULE_REASONS
from campaigner.schedule.zones import load_zone
from campaigner.text.escape import for_terminal

FORMAT_VERSION = 1

IN_DOUBT = (
    "sent by an interrupted apply and never answered: settled through the provider's logs before anything else is sent"
)
REASON_TEXT = {
    "invalid_number": "invalid phone number",
    "no_address": "no phone number or LINE key",
    "duplicate": "duplicate recipient",
    "excluded": "on an exclude list",
    "no_time_zone": "no time zone known (localHours.fallback sends them)",
    "no_common_hours": "no hour inside localHours in all of the number's zones",
    "window_closed": "localHours opens only after notAfter",
}


def show_to(to: dict[str, str], *, show_pii: bool) -> str:
    parts = []
    if "phoneNumber" in to:
        parts.append("+" + to["phoneNumber"] if show_pii else mask_phone(to["phoneNumber"]))
    if "lineUserKey" in to:
        parts.append(("LINE " + to["lineUserKey"]) if show_pii else "LINE " + mask_line_key(to["lineUserKey"]))
    return ", ".join(parts)


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
    out = [message for _keys, message in plan.loaded.warnings()]
    if st.ucs2_forcing:
        singles = [ch for ch, _ in st.ucs2_forcing.most_common(5)]
        shown = " ".join(repr(ch) for ch in singles)
        out.append(
            f"{st.sms_encoding.get('UCS2', 0)} SMS go out as UCS-2 (70 characters per message instead of 160) "
            f"because of: {shown}"
        )
    return out


def rollout_lines(plan: Plan) -> list[str]:
    """The canary and stopWhen, one line each (label first), when the campaign has them."""
    send, out = plan.loaded.spec.send, []
    if send.canary is not None and plan.stats.to_send:
        out.append(f"canary          {describe_canary(send.canary, plan.stats.to_send)}")
    if send.stopWhen is not None:
        stop = send.stopWhen
        named = (("rejected", stop.rejected), ("undeliverable", stop.undeliverable))
        shown = [f"{name} {cond}" for name, cond in named if cond is not None]
        out.append(f"stopWhen        {' or '.join(shown)}, after {stop.after} answers or final reports")
    return out


def rollout_json(plan: Plan) -> dict[str, Any]:
    send, out = plan.loaded.spec.send, {}
    if send.canary is not None:
        out["canary"] = {
            "size": sample_size(send.canary, plan.stats.to_send),
            "min": send.canary.min_reports,
            "wait_seconds": send.canary.wait,
            "require": {group: str(cond) for group, cond in send.canary.require.items()},
        }
    if send.stopWhen is not None:
        out["stopWhen"] = send.stopWhen.model_dump(mode="json", exclude_none=True)
    return out


def first_rows(plan: Plan, reason: str) -> str:
    rows = plan.stats.skipped_rows.get(reason, [])
    more = ", …" if plan.stats.skipped.get(reason, 0) > len(rows) else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}{more}"


def sample_lines(sample: Sample, *, show_pii: bool) -> list[str]:
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


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _local(at: datetime, zone: str) -> str:
    found = load_zone(zone)
    return at.astimezone(found).strftime("%a %H:%M") if found is not None else "?"


def schedule_lines(plan: Plan, *, show_pii: bool) -> list[str]:
    """The schedule for a terminal: now, each later hour (UTC and the main zones), the last, a sample per zone."""
    sched, hours = plan.stats.schedule, plan.loaded.spec.send.localHours
    if sched is None or hours is None:
        return []
    days = "every day" if len(hours.days) == 7 else ", ".join(hours.days)
    out = [
        f"Schedule (local {hours.start}–{hours.end}, {days}; zones "
        + ("from the phone numbers" if hours.zone == "auto" else f"from column {hours.zone!r}")
        + (f", fallback {hours.fallback!r}" if hours.fallback else "")
        + f"; as of {_utc(sched.at)}):",
        f"  now             {sched.now}",
    ]
    main = sched.main_zones()
    for hour, n in sorted(sched.hours.items()):
        local = ", ".join(f"{z} {_local(hour, z)}" for z in main)
        out.append(f"  {_utc(hour)}  {n}" + (f"  ({local})" if local else ""))
    if sched.last is not None:
        out.append(f"  last sendAt     {sched.last.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    skipped = ", ".join(f"{r} {plan.stats.skipped.get(r, 0)}" for r in SCHEDULE_REASONS)
    out.append(f"  skipped         {skipped}")
    if sched.zones:
        shown = ", ".join(f"{z} {n}" for z, n in sorted(sched.zones.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        out.append(f"  by zone         {shown}" + (", …" if len(sched.zones) > 10 else ""))
    for label, sample in sched.samples.items():
        if sample.send_at is None:
            when = "at once (open now)"
        elif len(sample.zones) == 1:
            when = f"{_utc(sample.send_at)} ({_local(sample.send_at, sample.zones[0])} {sample.zones[0]})"
        else:  # the local time in each of its zones: the earliest and the latest
            times = sorted(_local(sample.send_at, z)[4:] for z in sample.zones)
            when = f"{_utc(sample.send_at)} ({times[0]} to {times[-1]} local)"
        out.append(f"  sample {label}: row {sample.row} → {show_to(sample.to, show_pii=show_pii)}, {when}")
    return out


def schedule_json(sched: ScheduleStats | None, *, show_pii: bool) -> dict[str, Any] | None:
    if sched is None:
        return None
    main = sched.main_zones()
    return {
        "as_of": _iso(sched.at),
        "now": sched.now,
        "scheduled": sched.scheduled,
        "hours": [
            {"utc": _iso(hour), "count": n, "local": {z: _local(hour, z) for z in main}}
            for hour, n in sorted(sched.hours.items())
        ],
        "last": _iso(sched.last) if sched.last is not None else None,
        "zones": dict(sorted(sched.zones.items(), key=lambda kv: (-kv[1], kv[0]))),
        "samples": [
            {
                "zone": label,
                "row": sample.row,
                "to": _masked(sample.to, show_pii=show_pii),
                "sendAt": _iso(sample.send_at) if sample.send_at is not None else None,
            }
            for label, sample in sched.samples.items()
        ],
    }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _masked(to: dict[str, str], *, show_pii: bool) -> dict[str, str]:
    return {k: (v if show_pii else (mask_phone(v) if k == "phoneNumber" else mask_line_key(v))) for k, v in to.items()}


def to_text(plan: Plan, *, target_line: str, show_pii: bool = False, latency: Latency | None = None) -> str:
    """The plan for a terminal: what a reviewer must know, in the order they ask.

    ``latency``: the target's as an earlier apply measured it, for the duration estimate (None: not known).
    """
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
    if st.in_doubt:
        out.append(f"  in doubt        {st.in_doubt} ({IN_DOUBT})")
    for reason in skip_reasons(plan.loaded):
        n = st.skipped.get(reason, 0)
        if n:
            out.append(f"  skipped         {n} {REASON_TEXT[reason]} ({first_rows(plan, reason)})")
    out.append("")
    out.append("Content:")
    if spec.line is not None:
        out.append(f"  LINE            {st.line_type}")
    if spec.sms is not None:
        out.append(f"  SMS encoding    {_encoding_line(plan)}")
        out.append(f"  SMS segments    {_segments_line(plan)}")
        out.append(f"  SMS worst case  {st.sms_worst_case} segments if every recipient falls back to SMS")
    send = spec.send
    took = estimate(st.requests, rate_limit=send.rateLimit, concurrency=send.concurrency, latency=latency)
    out.append(f"  requests        {st.requests} (up to {send.batchSize} per request), {took.text()}")
    if st.cost is not None:
        out.append(f"  estimated cost  {st.cost.text()}")
    for w in warnings(plan):
        out.append(f"  warning: {w}")
    out.extend(f"  {line}" for line in rollout_lines(plan))
    if st.schedule is not None:
        out.append("")
        out.extend(schedule_lines(plan, show_pii=show_pii))
    if st.samples:
        out.append("")
        out.append("Samples:" + ("" if show_pii else " (phone numbers and LINE keys masked; --show-pii shows them)"))
        for sample in st.samples:
            out.extend("  " + line for line in sample_lines(sample, show_pii=show_pii))
    out.append("")
    if plan.digest is not None:
        out.append(f"Plan digest: {plan.digest.value}")
    out.append(plan.summary_line)
    # Every line is escaped for the terminal: CSV values and names from the campaign are data.
    return "\n".join(for_terminal(line) for line in out) + "\n"


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
            "in_doubt": st.in_doubt,
            "skipped": {reason: st.skipped.get(reason, 0) for reason in skip_reasons(plan.loaded)},
            "skipped_first_rows": {reason: st.skipped_rows.get(reason, []) for reason in skip_reasons(plan.loaded)},
        },
        "requests": st.requests,
        "line": {"type": st.line_type} if st.line_type else None,
        "sms": {
            "encoding": dict(sorted(st.sms_encoding.items())),
            "segments": {str(k): v for k, v in sorted(st.sms_segments.items())},
            "worst_case_segments": st.sms_worst_case,
        },
        "cost": st.cost.to_dict() if st.cost else None,
        "warnings": warnings(plan),
        **rollout_json(plan),
        "schedule": schedule_json(st.schedule, show_pii=show_pii),
        "samples": [
            {
                "row": s.row,
                "to": _masked(s.to, show_pii=show_pii),
                "messageId": s.message_id,
                **s.body,
            }
            for s in st.samples
        ],
        "summary": plan.summary_line,
        "digest": plan.digest.value if plan.digest else None,
        "digest_token": plan.digest.token() if plan.digest else None,
    }


def to_json(plan: Plan, *, show_pii: bool = False) -> str:
    return json.dumps(to_json_data(plan, show_pii=show_pii), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
