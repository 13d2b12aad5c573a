"""The summary for people: summary.md (a pull-request comment) and report.html (one self-contained page).

Both are pure functions of a :class:`~campaigner.summary.Summary`. Every string that comes from a user
or the provider (campaign description, error names and descriptions, rejection reasons) is escaped:
for markdown, as text or a code span on one line, clipped; for HTML, by Jinja2's autoescape. The page
has no JavaScript and loads nothing (its Content-Security-Policy forbids it); the failover funnel is a
hand-written inline SVG.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from importlib import resources
from typing import Any, Final

import jinja2

from campaigner.summary import MAX_CHANNELS, NOT_DELIVERED, OTHER, Summary

_MONEY: Final = Decimal("0.000001")
TOP_ROWS: Final = 10  # rows per table of errors, reasons, skips in summary.md (the rest in one row)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_money(total: Decimal) -> str:
    """``0.21`` for 0.210000: at least 2 decimals, at most 6, no trailing zeros beyond 2."""
    text = format(total.quantize(_MONEY, ROUND_HALF_EVEN), "f")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


def format_seconds(seconds: float | None) -> str:
    """A duration for people: ``850 ms``, ``4.2 s``, ``3.5 min``, ``2.0 h``; ``n/a`` for None."""
    if seconds is None:
        return "n/a"
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)} ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    if round(seconds / 60, 1) < 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


_MD_ESCAPES: Final = str.maketrans({**{c: "\\" + c for c in "\\`*_[]|#~"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"})


def _md(text: str, limit: int = 200) -> str:
    """Plain text, markdown and HTML escaped, on one line."""
    return _clip(text, limit).translate(_MD_ESCAPES)


def _md_code(text: str, limit: int = 120) -> str:
    """Provider text as a code span inside a table cell (no formatting, no mentions, no HTML)."""
    text = _clip(text, limit).replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text else ""


def headline(summary: Summary, *, markdown: bool = False) -> str:
    """The line a person reads at a glance, e.g. ``spring → sandbox: 18 planned, 18 sent, 14 delivered
    (9 LINE, 5 SMS fallback), 2 undeliverable, 2 pending; cost 0.21 EUR``."""
    esc = _md if markdown else (lambda text: _clip(text, 200))
    r, f = summary.recipients, summary.final
    parts = [f"{r['planned']} planned", f"{r['sent']} sent", f"{f['delivered']} delivered"]
    if len(summary.flow) > 1 and f["delivered"]:
        fo = summary.failover
        parts[-1] += f" ({fo['line_delivered']} LINE, {fo['sms_fallback_delivered']} SMS fallback)"
    counts = [(f[g], g) for g in NOT_DELIVERED] + [(r["unknown"], "unknown"), (f["pending"], "pending")]
    parts += [f"{n} {label}" for n, label in counts if n]
    line = f"{esc(summary.campaign)} → {esc(summary.target)}: " + ", ".join(parts)
    if summary.cost:
        line += "; cost " + ", ".join(f"{format_money(v)} {esc(c)}" for c, v in summary.cost.items())
    return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _table(header: tuple[str, ...], rows: Iterable[Iterable[object]]) -> list[str]:
    align = "|".join(":--" if i == 0 or h == "Description" else "--:" for i, h in enumerate(header))
    lines = ["| " + " | ".join(header) + " |", f"|{align}|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _top(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    items = list(counts.items())
    if len(items) <= limit:
        return items
    rest = items[limit - 1 :]
    return [*items[: limit - 1], (f"{OTHER} {len(rest)} more", sum(n for _, n in rest))]


def render_markdown(summary: Summary) -> str:
    """summary.md: a headline, then small tables; for a pull-request comment (always under 60 KB)."""
    s, r = summary, summary.recipients
    out = [f"**{headline(s, markdown=True)}**", ""]
    if s.description:
        out += [_md(s.description, 300), ""]
    rows: list[tuple[str, int]] = [
        ("planned", r["planned"]),
        ("sent", r["sent"]),
        ("rejected at send", r["rejected"]),
        ("unknown outcome", r["unknown"]),
    ]
    if s.not_sent:
        rows.append(("not sent yet", s.not_sent))
    rows += [("skipped", sum(s.skipped.values()))]
    rows += [(f"skipped: {_md(reason, 80)}", n) for reason, n in _top(s.skipped, 10)]
    out += _table(("Recipients", "Count"), rows)
    out += _table(("Final status", "Recipients"), s.final.items())
    fo = s.failover
    out += _table(
        ("Failover", "Recipients"),
        [
            ("delivered on LINE", fo["line_delivered"]),
            ("delivered by SMS fallback", fo["sms_fallback_delivered"]),
            ("not delivered", fo["not_delivered"]),
        ],
    )
    channel_rows = [(_md(c, 40), *counts.values()) for c, counts in list(s.channels.items())[:MAX_CHANNELS]]
    out += _table(("Channel", "Delivered", "Undeliverable", "Expired", "Rejected"), channel_rows)
    if s.errors:
        rows3 = [(_md_code(e), n, _md_code(s.error_descriptions.get(e, ""))) for e, n in _top(s.errors, 10)]
        out += _table(("Error", "Count", "Description"), rows3)
    if s.rejected_reasons:
        out += _table(
            ("Rejected at send because", "Recipients"),
            [(_md_code(reason), n) for reason, n in _top(s.rejected_reasons, 10)],
        )
    if s.cost:
        cost_rows = [(_md(c, 12), format_money(v)) for c, v in list(s.cost.items())[:10]]
        out += _table(("Currency", "Cost"), cost_rows)
    if s.latency_reports:
        approx = "" if s.latency_exact else ", within 0.5 %"
        out += [
            f"Latency from sent to done ({_count(s.latency_reports, 'report')}{approx}): "
            f"p50 {format_seconds(s.latency_p50)}, p95 {format_seconds(s.latency_p95)}",
            "",
        ]
    if s.reports_from_logs:
        out += [
            f"{_count(s.reports_from_logs, 'report')} from the provider's logs: status only, no error details.",
            "",
        ]
    out.append(f"bulkId: {_md(s.bulk_id, 100)}")
    return "\n".join(out) + "\n"


# The funnel's geometry, in SVG user units.
_LABEL_W: Final = 200
_CHART_W: Final = 380
_ROW_H: Final = 34
_BAR_H: Final = 22


def funnel_bars(summary: Summary) -> list[dict[str, Any]]:
    """The failover funnel: each bar starts where the previous one ended (LINE → SMS → not delivered,
    then pending and unknown when any), so its x position shows how far down the flow messages fell."""
    fo, r = summary.failover, summary.recipients
    steps = [
        ("Delivered on LINE", fo["line_delivered"], "line"),
        ("Delivered by SMS fallback", fo["sms_fallback_delivered"], "sms"),
        ("Not delivered", fo["not_delivered"], "fail"),
    ]
    steps += [(label, n, css) for label, n, css in [
        ("Pending (no final report yet)", summary.final["pending"], "pending"),
        ("Unknown outcome", r["unknown"], "unknown"),
    ] if n]  # fmt: skip
    total = sum(n for _, n, _ in steps)
    bars, done = [], 0
    for i, (label, n, css) in enumerate(steps):
        x = _LABEL_W + _CHART_W * done / total if total else _LABEL_W
        width = _CHART_W * n / total if total else 0.0
        bars.append(
            {
                "label": label,
                "count": n,
                "percent": f"{100 * n / total:.1f} %" if total else "0.0 %",
                "css": css,
                "x": round(x, 1),
                "y": i * _ROW_H + 6,
                "width": round(max(width, 2.0) if n else 0.0, 1),
                "text_x": round(x + width + 6, 1),
            }
        )
        done += n
    return bars


@functools.cache
def _template() -> jinja2.Template:
    source = resources.files("campaigner").joinpath("templates/report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source)


def render_html(summary: Summary) -> str:
    """report.html: the headline, the failover funnel as inline SVG, the status, channel, error, cost and
    latency tables; self-contained (no network, no JavaScript), every user or provider string escaped."""
    s = summary
    bars = funnel_bars(s)
    errors = [(_clip(e, 200), n, _clip(s.error_descriptions.get(e, ""), 300)) for e, n in s.errors.items()]
    return _template().render(
        s=s,
        headline=headline(s),
        description=_clip(s.description or "", 2000),
        skipped_total=sum(s.skipped.values()),
        skipped=[(_clip(k, 200), n) for k, n in list(s.skipped.items())[:50]],
        channels=[(_clip(c, 40), counts) for c, counts in list(s.channels.items())[:MAX_CHANNELS]],
        errors=errors[:50],
        reasons=[(_clip(k, 300), n) for k, n in list(s.rejected_reasons.items())[:50]],
        cost=[(_clip(c, 12), format_money(v)) for c, v in list(s.cost.items())[:50]],
        p50=format_seconds(s.latency_p50),
        p95=format_seconds(s.latency_p95),
        bars=bars,
        svg_width=_LABEL_W + _CHART_W + 130,
        svg_height=len(bars) * _ROW_H + 8,
        bar_height=_BAR_H,
        label_width=_LABEL_W,
    )
