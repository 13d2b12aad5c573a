"""``send.stopWhen``: stop claiming new messages once rejections or undeliverable reports pass a threshold.

Rejections are counted over this apply's send answers, undeliverable reports over the campaign's final
reports fetched while sending; a condition counts once ``after`` answers (or final reports) are in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from campaigner.campaign.conditions import Condition
from campaigner.campaign.spec import StopWhen
from campaigner.errors import ConnectFailedError, ProviderError
from campaigner.ledger.messages import Ledger
from campaigner.sending.reports import fetch_report_page

if TYPE_CHECKING:
    from campaigner.omni.client import OmniClient
    from campaigner.sending.job import Job

FINAL = ("delivered", "undeliverable", "expired", "rejected")
log = logging.getLogger("campaigner.apply")


def _reason(name: str, cond: Condition, n: int, total: int, of: str) -> str:
    measured = f"{cond.measure(n, total):.1f}%" if cond.percent else str(n)
    return f"send.stopWhen.{name} {cond} was reached: {measured} ({n} of {total} {of})"


class StopRule:
    """The conditions of ``send.stopWhen``; each check returns why to stop, or None."""

    def __init__(self, spec: StopWhen) -> None:
        self.spec = spec

    @property
    def needs_reports(self) -> bool:
        return self.spec.undeliverable is not None

    def check_answers(self, accepted: int, rejected: int) -> str | None:
        cond, answered = self.spec.rejected, accepted + rejected
        if cond is not None and answered >= self.spec.after and cond.holds(rejected, answered):
            return _reason("rejected", cond, rejected, answered, "answers rejected")
        return None

    def check_reports(self, reports: dict[str, int]) -> str | None:
        cond = self.spec.undeliverable
        final = sum(reports.get(g, 0) for g in FINAL)
        n = reports.get("undeliverable", 0)
        if cond is not None and final >= self.spec.after and cond.holds(n, final):
            return _reason("undeliverable", cond, n, final, "final reports undeliverable")
        return None


async def watch_reports(
    client: OmniClient,
    ledger: Ledger,
    job: Job,
    rule: StopRule,
    stop: Callable[[str], None],
    *,
    every: float,
) -> None:
    """While sending: fetch reports every ``every`` seconds (stored before they count) and check them."""
    while True:
        await asyncio.sleep(every)
        try:
            await fetch_report_page(client, ledger, job.target, job.campaign, job.bulk_id)
        except (ProviderError, ConnectFailedError) as exc:  # a watch on the side: a failed read never stops a send
            log.warning("reading delivery reports while sending failed: %s", exc)
            continue
        reason = rule.check_reports(ledger.counts(job.target.id, job.campaign)["reports"])
        if reason is not None:
            stop(reason)
            return
