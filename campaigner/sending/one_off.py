"""A test send: one rendered message to one address, outside the campaign, and its one delivery report.

It has a message id and a bulkId of its own (``<campaign>-test-…``), is never written to the ledger's
messages or reports, and its report is fetched by its own bulkId, so the campaign's counts, its
exactly-once state and its reports (each handed out once) are untouched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from campaigner.errors import OutcomeUnknownError

if TYPE_CHECKING:
    from campaigner.omni.client import OmniClient

FINAL = ("DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED")


def test_ids(campaign: str) -> tuple[str, str]:
    """A fresh (messageId, bulkId) pair that no campaign message can have."""
    token = uuid.uuid4().hex
    return f"test-{token}", f"{campaign}-test-{token[:12]}"


@dataclass
class TestResult:
    """What became of the test message: the send answer's status, then its final report (if one came)."""

    message_id: str
    bulk_id: str
    answer: dict[str, Any] | None  # the status in the send answer; None when no answer came
    report: dict[str, Any] | None  # the final report (or the logs' final entry)
    from_logs: bool = False

    @property
    def group(self) -> str:
        source = self.report if self.report is not None else {"status": self.answer or {}}
        return str((source.get("status") or {}).get("groupName") or "UNKNOWN").upper()


async def send_one(
    client: OmniClient,
    *,
    scenario_key: str,
    campaign: str,
    to: dict[str, str],
    body: dict[str, Any],
    wait: float,
    poll: float,
) -> TestResult:
    """Send ``body`` to ``to`` once (never retried after a send that may have arrived), then wait for its report."""
    message_id, bulk_id = test_ids(campaign)
    request = {
        "scenarioKey": scenario_key,
        "bulkId": bulk_id,
        "destinations": [{"messageId": message_id, "to": to}],
        **body,
    }
    result = TestResult(message_id, bulk_id, None, None)
    try:
        answer = await client.send(request)
    except OutcomeUnknownError:
        answer = None
    if answer is not None:
        for m in answer.messages:
            if m.messageId == message_id:
                result.answer = dict(m.status.model_dump())
        if result.group == "REJECTED":
            return result
    deadline = time.monotonic() + wait
    while True:
        try:
            page = await client.reports(bulk_id=bulk_id, limit=10)
        except OutcomeUnknownError:
            page = []
            lost = True
        else:
            lost = False
        for report in page:
            if report.get("messageId") == message_id:
                result.report = report
                return result
        if lost or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    found = await client.logs(message_ids=[message_id], limit=10)
    final = [e for e in found if str((e.get("status") or {}).get("groupName", "")).upper() in FINAL]
    if final:
        result.report, result.from_logs = final[0], True
    elif found and result.answer is None:
        result.answer = found[0].get("status")
    return result
