"""Scheduled messages in the summary: accepted, a later sendAt, no final report yet -> ``scheduled``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from campaigner.summary.outcomes import SummaryContext, classify, summarize
from campaigner.summary.render import headline


@dataclass(frozen=True)
class Outcome:
    row: int
    message_id: str
    state: str
    report: dict[str, Any] | None = None
    report_source: str | None = None
    reason: str | None = None
    recipient_id: str = "385977666618"
    requested_at: float | None = None
    send_at: float | None = None


DELIVERED = {"status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"}, "channel": "SMS"}
PENDING = {"status": {"groupName": "PENDING", "name": "PENDING_ACCEPTED"}, "channel": "SMS"}


def test_a_later_send_at_without_a_final_report_is_scheduled() -> None:
    assert classify(Outcome(2, "a", "accepted", send_at=200.0), now=100.0).outcome == "scheduled"
    assert classify(Outcome(2, "a", "accepted", PENDING, "logs", send_at=200.0), now=100.0).outcome == "scheduled"
    assert classify(Outcome(2, "a", "accepted", DELIVERED, "reports", send_at=200.0), now=100.0).outcome == "delivered"
    assert classify(Outcome(2, "a", "accepted", send_at=50.0), now=100.0).outcome == "pending"
    assert classify(Outcome(2, "a", "accepted", send_at=200.0)).outcome == "pending"  # no instant given
    assert classify(Outcome(2, "a", "unknown", send_at=200.0), now=100.0).outcome == "unknown"


def test_the_summary_counts_them_apart() -> None:
    outcomes = [
        Outcome(2, "a", "accepted", DELIVERED, "reports"),
        Outcome(3, "b", "accepted", send_at=200.0),
        Outcome(4, "c", "accepted", send_at=300.0),
    ]
    context = SummaryContext(campaign="c", target="sandbox", bulk_id="b", channels=("SMS",), now=100.0)
    summary = summarize(outcomes, context)
    assert summary.final["scheduled"] == 2 and summary.final["pending"] == 0
    assert summary.recipients["sent"] == 3
    assert "2 scheduled" in headline(summary)
