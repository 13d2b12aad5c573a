"""The summary for people: summary.md (a pull-request comment) and report.html (one self-contained page).

Both are pure functions of a :class:`~campaigner.summary.outcomes.Summary`. Every string that comes from a user
or the provider (campaign description, error names and descriptions, rejection reasons) is escaped:
for markdown, as text or a code span on one line, clipped; for HTML, by Jinja2's autoescape. The page
has no JavaScript and loads nothing (its Content-Security-Policy forbids it); the failover funnel is a
hand-written inline SVG.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import jinja2

from campaigner.summary.canary import CANARY_HTML, canary_markdown, canary_rows, verdict_rows
from campaigner.summary.outcomes import CHANNEL_GROUPS, MAX_CHANNELS, NOT_DELIVERED, OTHER, Summary, render_json
from campaigner.text.escape import clip, for_markdown, markdown_code

_MONEY: Final = Decimal("0.000001")
TOP_ROWS: Final = 10  # rows per table of errors, reasons, skips in summary.md (the rest in one row)


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


def _md(text: str, limit: int = 200) -> str:
    """Plain text, markdown and HTML escaped, on one line, mentions defused (``text.escape.for_markdown``)."""
    return for_markdown(text, limit)


def _md_code(text: str, limit: int = 120) -> str:
    """Provider text as a code span inside a table cell (no formatting, no mentions, no HTML)."""
    return markdown_code(text, limit)


def headline(summary: Summary, *, markdown: bool = False) -> str:
    """The line a person reads at a glance, e.g. ``spring → sandbox: 18 planned, 18 sent, 14 delivered
    (9 LINE, 5 SMS fallback), 2 undeliverable, 2 pending; cost 0.21 EUR``."""
    esc = _md if markdown else (lambda text: clip(text, 200))
    r, f = summary.recipients, summary.final
    parts = [f"{r['planned']} planned", f"{r['sent']} sent", f"{f['delivered']} delivered"]
    if len(summary.flow) > 1 and f["delivered"]:
        fo = summary.failover
        parts[-1] += f" ({fo['line_delivered']} LINE, {fo['sms_fallback_delivered']} SMS fallback)"
    counts = [(f[g], g) for g in NOT_DELIVERED] + [(r["unknown"], "unknown"), (f["pending"], "pending")]
    counts.append((f.get("scheduled", 0), "scheduled"))
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
    out += _table(("Final status", "Recipients"), [(k, n) for k, n in s.final.items() if n or k != "scheduled"])
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
    if s.canary is not None:
        out += canary_markdown(s.canary, s.recipients, s.final, lambda text: _md(text, 400))
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
        ("Scheduled (sendAt still ahead)", summary.final.get("scheduled", 0), "pending"),
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
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(REPORT_TEMPLATE)


def render_html(summary: Summary) -> str:
    """report.html: the headline, the failover funnel as inline SVG, the status, channel, error, cost and
    latency tables; self-contained (no network, no JavaScript), every user or provider string escaped."""
    s = summary
    bars = funnel_bars(s)
    errors = [(clip(e, 200), n, clip(s.error_descriptions.get(e, ""), 300)) for e, n in s.errors.items()]
    return _template().render(
        s=s,
        headline=headline(s),
        description=clip(s.description or "", 2000),
        skipped_total=sum(s.skipped.values()),
        skipped=[(clip(k, 200), n) for k, n in list(s.skipped.items())[:50]],
        channels=[(clip(c, 40), counts) for c, counts in list(s.channels.items())[:MAX_CHANNELS]],
        errors=errors[:50],
        reasons=[(clip(k, 300), n) for k, n in list(s.rejected_reasons.items())[:50]],
        cost=[(clip(c, 12), format_money(v)) for c, v in list(s.cost.items())[:50]],
        p50=format_seconds(s.latency_p50),
        p95=format_seconds(s.latency_p95),
        bars=bars,
        groups=CHANNEL_GROUPS,
        svg_width=_LABEL_W + _CHART_W + 130,
        svg_height=len(bars) * _ROW_H + 8,
        bar_height=_BAR_H,
        label_width=_LABEL_W,
        canary=canary_rows(s.canary, s.recipients, s.final) if s.canary is not None else None,
        canary_verdict=verdict_rows(s.canary) if s.canary is not None else [],
    )


# A constant rather than a file under campaigner/templates/: that directory would shadow the
# campaigner.content.templates module (Jinja2 rendering of campaign content) for type checkers and readers.
REPORT_TEMPLATE: Final = (
    """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ s.campaign }} → {{ s.target }}: campaign report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
h2 { font-size: 1.1rem; margin-top: 1.8rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
.headline { font-size: 1.05rem; font-weight: 600; }
.muted { color: #59636e; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; overflow-wrap: anywhere; }
svg text { font-size: 13px; fill: #1f2328; }
.line { fill: #06c755; } .sms { fill: #0969da; } .fail { fill: #cf222e; }
.pending { fill: #bf8700; } .unknown { fill: #8c959f; }
.grid { stroke: #d0d7de; }
</style>
</head>
<body>
<h1>{{ s.campaign }} <span class="muted">→ {{ s.target }}</span></h1>
<p class="headline">{{ headline }}</p>
{% if description %}
<p>{{ description }}</p>
{% endif %}
<p class="muted">bulkId <code>{{ s.bulk_id }}</code> · flow {{ s.flow | join(" → ") }}</p>

<h2>Failover funnel</h2>
{% if bars | sum(attribute="count") %}
<svg width="{{ svg_width }}" height="{{ svg_height }}" viewBox="0 0 {{ svg_width }} {{ svg_height }}"
     role="img" aria-labelledby="funnel-title">
<title id="funnel-title">Failover funnel:
{%- for b in bars %} {{ b.label }} {{ b.count }}{{ ";" if not loop.last }}{% endfor %}</title>
<line class="grid" x1="{{ label_width }}" y1="0" x2="{{ label_width }}" y2="{{ svg_height }}"/>
{% for b in bars %}
<text x="0" y="{{ b.y + 16 }}">{{ b.label }}</text>
<rect class="{{ b.css }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.width }}" height="{{ bar_height }}" rx="3"/>
<text x="{{ b.text_x }}" y="{{ b.y + 16 }}">{{ b.count }} ({{ b.percent }})</text>
{% endfor %}
</svg>
{% else %}
<p class="muted">No message has reached the provider yet.</p>
{% endif %}

"""
    + CANARY_HTML
    + """
<h2>Recipients</h2>
<table>
<tr><th>planned</th><td class="n">{{ s.recipients.planned }}</td></tr>
<tr><th>sent</th><td class="n">{{ s.recipients.sent }}</td></tr>
<tr><th>rejected at send</th><td class="n">{{ s.recipients.rejected }}</td></tr>
<tr><th>unknown outcome</th><td class="n">{{ s.recipients.unknown }}</td></tr>
{% if s.not_sent %}
<tr><th>not sent yet</th><td class="n">{{ s.not_sent }}</td></tr>
{% endif %}
<tr><th>skipped</th><td class="n">{{ skipped_total }}</td></tr>
{% for reason, n in skipped %}
<tr><td>skipped: {{ reason }}</td><td class="n">{{ n }}</td></tr>
{% endfor %}
</table>

<h2>Final status</h2>
<table>
<tr><th>status</th><th class="n">recipients</th></tr>
{% for group, n in s.final.items() if n or group != "scheduled" %}
<tr><td>{{ group }}</td><td class="n">{{ n }}</td></tr>
{% endfor %}
</table>

<h2>Channels</h2>
<table>
<tr><th>channel</th>{% for group in groups %}<th class="n">{{ group }}</th>{% endfor %}</tr>
{% for channel, counts in channels %}
<tr><td>{{ channel }}</td>{% for group in groups %}<td class="n">{{ counts[group] }}</td>{% endfor %}</tr>
{% endfor %}
</table>

<h2>Errors</h2>
{% if errors %}
<table>
<tr><th>error</th><th class="n">count</th><th>description</th></tr>
{% for name, n, description in errors %}
<tr><td><code>{{ name }}</code></td><td class="n">{{ n }}</td><td>{{ description }}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="muted">No errors in the delivery reports.</p>
{% endif %}
{% if s.reports_from_logs %}
<p class="muted">{{ s.reports_from_logs }} report{{ "" if s.reports_from_logs == 1 else "s" }} from the provider's logs:
status only, no error details.</p>
{% endif %}
{% if reasons %}
<h2>Rejected at send</h2>
<table>
<tr><th>reason</th><th class="n">recipients</th></tr>
{% for reason, n in reasons %}
<tr><td>{{ reason }}</td><td class="n">{{ n }}</td></tr>
{% endfor %}
</table>
{% endif %}

<h2>Cost</h2>
{% if cost %}
<table>
<tr><th>currency</th><th class="n">total</th></tr>
{% for currency, total in cost %}
<tr><td>{{ currency }}</td><td class="n">{{ total }}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="muted">No price in the delivery reports yet.</p>
{% endif %}

<h2>Latency</h2>
{% if s.latency_reports %}
<p>From sent to done, over {{ s.latency_reports }} final report{{ "" if s.latency_reports == 1 else "s" }}
{{- "" if s.latency_exact else " (within 0.5 %)" }}: p50 <strong>{{ p50 }}</strong>, p95 <strong>{{ p95 }}</strong>.</p>
{% else %}
<p class="muted">No final delivery report with timestamps yet.</p>
{% endif %}
</body>
</html>
"""
)


def render_all(summary: Summary) -> dict[str, str]:
    """The small files of ``report.dir``, by file name: summary.json, summary.md, report.html."""
    return {
        "summary.json": render_json(summary),
        "summary.md": render_markdown(summary),
        "report.html": render_html(summary),
    }
