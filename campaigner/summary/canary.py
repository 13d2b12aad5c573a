"""The canary's section of the summary: its verdict and its figures, apart from the campaign's totals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUPS = ("delivered", "undeliverable", "expired", "rejected")
VERDICT_TEXT = {
    "passed": "passed",
    "accepted": "failed or inconclusive, accepted with --accept-canary",
    "failed": "failed",
    "inconclusive": "inconclusive",
    "waiting": "waiting for final reports",
    "sending": "being sent",
}


def canary_rows(canary: Mapping[str, Any]) -> list[tuple[str, object]]:
    """(label, value) rows: the verdict, why, the sample's size and its outcomes."""
    final = canary.get("final", {})
    rows: list[tuple[str, object]] = [
        ("verdict", VERDICT_TEXT.get(str(canary.get("state")), str(canary.get("state")))),
        ("recipients in the canary", canary.get("size", 0)),
        ("sent", canary.get("sent", 0)),
    ]
    rows += [(group, final.get(group, 0)) for group in GROUPS]
    if canary.get("awaiting"):
        rows.append(("no final report yet", canary["awaiting"]))
    if canary.get("not_sent"):
        rows.append(("not sent", canary["not_sent"]))
    if canary.get("require"):
        rows.append(("required", canary["require"]))
    if canary.get("reason"):
        rows.append(("because", canary["reason"]))
    return rows


def canary_markdown(canary: Mapping[str, Any], escape: Any) -> list[str]:
    """The section as markdown lines; ``escape`` makes a text safe in a table cell."""
    out = ["**Canary** (sent first; its figures are included in the totals above)", "", "| Canary | |", "|---|---|"]
    out += [f"| {label} | {escape(str(value))} |" for label, value in canary_rows(canary)]
    return [*out, ""]


CANARY_HTML = """\
{% if canary %}
<h2>Canary</h2>
<p class="muted">Sent first; its figures are included in the totals.</p>
<table>
{% for label, value in canary %}
<tr><th>{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
{% endif %}
"""
