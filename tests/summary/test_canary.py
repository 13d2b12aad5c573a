"""The canary's section of the summary: in summary.json, summary.md and report.html, escaped."""

from __future__ import annotations

import json

from campaigner.summary.outcomes import SummaryContext, render_json, summarize
from campaigner.summary.render import render_html, render_markdown

CANARY = {
    "state": "failed",
    "reason": "delivered 70.0% (35 of 50 with a final report), required >= 90% <b>|",
    "size": 50,
    "sent": 50,
    "final": {"delivered": 35, "undeliverable": 15, "expired": 0, "rejected": 0},
    "awaiting": 0,
    "not_sent": 0,
    "require": "delivered >= 90%",
}


def test_the_canary_is_shown_apart() -> None:
    summary = summarize([], SummaryContext(campaign="c", target="sandbox", bulk_id="b", canary=CANARY))
    assert json.loads(render_json(summary))["canary"] == CANARY
    md = render_markdown(summary)
    assert "**Canary** (sent first; its figures are included in the totals above)" in md
    assert "| verdict | failed |" in md
    assert "| undeliverable | 15 |" in md
    assert "required &gt;= 90% &lt;b&gt;\\| |" in md  # a table cell cannot be broken by a pipe or by HTML
    html = render_html(summary)
    assert "<h2>Canary</h2>" in html
    assert "<tr><th>recipients in the canary</th><td>50</td></tr>" in html
    assert "&lt;b&gt;|" in html and "<b>|" not in html


def test_no_canary_no_section() -> None:
    summary = summarize([], SummaryContext(campaign="c", target="sandbox", bulk_id="b"))
    assert "canary" not in json.loads(render_json(summary))
    assert "Canary" not in render_markdown(summary) and "Canary" not in render_html(summary)
