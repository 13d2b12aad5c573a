"""The canary's section of the summary: its verdict, and its figures beside those of the rest."""

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


def canary_rows(
    canary: Mapping[str, Any], recipients: Mapping[str, int], final: Mapping[str, int]
) -> list[tuple[str, str, str]]:
    """(label, canary, the rest) rows; ``recipients`` and ``final`` are the campaign's totals."""
    cfinal = canary.get("final", {})
    size, sent = int(canary.get("size", 0)), int(canary.get("sent", 0))
    rows: list[tuple[str, str, str]] = [
        ("recipients", str(size), str(max(0, recipients.get("planned", 0) - size))),
        ("sent", str(sent), str(max(0, recipients.get("sent", 0) - sent))),
    ]
    for group in GROUPS:
        n = int(cfinal.get(group, 0))
        rows.append((group, str(n), str(max(0, final.get(group, 0) - n))))
    if canary.get("awaiting"):
        rows.append(("no final report yet", str(canary["awaiting"]), ""))
    return rows


def verdict_rows(canary: Mapping[str, Any]) -> list[tuple[str, str]]:
    state = str(canary.get("state"))
    rows = [("verdict", VERDICT_TEXT.get(state, state))]
    if canary.get("require"):
        rows.append(("required", str(canary["require"])))
    if canary.get("reason"):
        rows.append(("because", str(canary["reason"])))
    return rows


def canary_markdown(
    canary: Mapping[str, Any], recipients: Mapping[str, int], final: Mapping[str, int], escape: Any
) -> list[str]:
    """The section as markdown lines; ``escape`` makes a text safe in a table cell."""
    out = ["**Canary** (sent first; the totals above include it)", ""]
    out += [f"- {label}: {escape(text)}" for label, text in verdict_rows(canary)]
    out += ["", "| | Canary | The rest |", "|:--|--:|--:|"]
    out += [f"| {label} | {a} | {b} |" for label, a, b in canary_rows(canary, recipients, final)]
    return [*out, ""]


CANARY_HTML = """\
{% if canary %}
<h2>Canary</h2>
<p class="muted">Sent first; the totals include it.</p>
<table>
{% for label, text in canary_verdict %}
<tr><th>{{ label }}</th><td>{{ text }}</td></tr>
{% endfor %}
</table>
<table>
<tr><th></th><th class="n">canary</th><th class="n">the rest</th></tr>
{% for label, a, b in canary %}
<tr><th>{{ label }}</th><td class="n">{{ a }}</td><td class="n">{{ b }}</td></tr>
{% endfor %}
</table>
{% endif %}
"""
