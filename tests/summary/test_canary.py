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
    assert "**Canary** (sent first; the totals above include it)" in md
    assert "- verdict: failed" in md
    assert "required &gt;= 90% &lt;b&gt;\\|" in md  # escaped: no HTML, no broken table
    html = render_html(summary)
    assert "<h2>Canary</h2>" in html
    assert "&lt;b&gt;|" in html and "<b>|" not in html


def test_the_canary_beside_the_rest() -> None:
    from campaigner.summary.canary import canary_rows

    rows = canary_rows(
        CANARY,
        {"planned": 5000, "sent": 4990, "rejected": 10, "unknown": 0},
        {"delivered": 4800, "undeliverable": 180, "expired": 0, "rejected": 10, "pending": 10},
    )
    assert rows == [
        ("recipients", "50", "4950"),
        ("sent", "50", "4940"),
        ("delivered", "35", "4765"),
        ("undeliverable", "15", "165"),
        ("expired", "0", "0"),
        ("rejected", "0", "10"),
    ]


def test_no_canary_no_section() -> None:
    summary = summarize([], SummaryContext(campaign="c", target="sandbox", bulk_id="b"))
    assert "canary" not in json.loads(render_json(summary))
    assert "Canary" not in render_markdown(summary) and "Canary" not in render_html(summary)
