"""What the provider's logs settle: messages in doubt, and a ledger that lacks or is behind the provider.

- A message ``sending`` or ``unknown`` (no answer, a 5xx, a crash) is looked up by id once its settle time
  has passed since the doubt was recorded: found means accepted, absent means it never arrived and goes
  back to ``planned``, to be sent again with the same id.
- A ledger with no record of a campaign adopts what the logs hold of it, by bulkId, before sending.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from campaigner.errors import CampaignerError
from campaigner.ledger.messages import Ledger, Pending
from campaigner.plan.build import PlannedMessage

if TYPE_CHECKING:
    from campaigner.omni.client import OmniClient
    from campaigner.sending.job import Job, Progress, SendCounts


class AnotherRunError(CampaignerError):
    """The provider's logs of a campaign this ledger does not know grew while we waited: someone sends it now."""

    def __init__(self, campaign: str, target: str, first: int, second: int, settle: float) -> None:
        super().__init__(
            f"error: another apply of campaign {campaign} is sending to {target} right now from another ledger "
            f"(the provider's logs grew from {first} to {second} of its messages in {settle:g} s); nothing was sent: "
            "let that run finish, and share one ledger between runs (CAMPAIGNER_STATE=postgresql://...)"
        )


REPORT_PAGE = 1000  # entries per logs call (the provider's maximum)
DOUBT_PAGE = 5000  # messages in doubt looked up per page of the ledger


def _now() -> float:
    return time.time()


def _log_to(entry: dict[str, Any]) -> str | None:
    to = entry.get("to")
    return str(to) if to is not None else None


async def adopt_from_logs(client: OmniClient, ledger: Ledger, job: Job, progress: Progress) -> int:
    """Take what the provider already has of this campaign as accepted (the ledger lacks a record of it).

    When the logs show an earlier run, its last requests may not be in them yet (a run killed seconds
    ago on another machine): they are read again after the settle time, before anything is adopted.
    """
    found = await _campaign_logs(client, job)
    if found:
        settle = job.target.settle_seconds
        progress.phase(
            f"The provider's logs hold {len(found)} message(s) of this campaign; waiting {settle:g} s for the "
            "last requests of that run to reach them."
        )
        await asyncio.sleep(settle)
        first, found = len(found), await _campaign_logs(client, job)
        if len(found) > first:
            raise AnotherRunError(job.campaign, job.target.id, first, len(found), settle)
    adopted = ledger.adopt(
        job.target.id,
        job.campaign,
        [(str(e["messageId"]), _log_to(e), e.get("status")) for e in found if e.get("messageId")],
        at=_now(),
        send_at=_held(found, _now()),
    )
    ledger.ensure_campaign(job.target.id, job.campaign, job.bulk_id)
    if adopted:
        # The run that sent them may have collected their reports, which the provider hands out once:
        # report collection reads their final statuses from the logs.
        ledger.set_reports_state(job.target.id, job.campaign, "lost")
        progress.phase(f"Adopted {adopted} message(s) the provider already had (from its logs).")
    return adopted


def _held(entries: list[dict[str, Any]], now: float) -> dict[str, float]:
    """message id -> sendAt of the entries the provider holds for later (their ``sentAt`` is ahead)."""
    held: dict[str, float] = {}
    for entry in entries:
        sent_at = entry.get("sentAt")
        if isinstance(sent_at, str) and entry.get("messageId"):
            try:
                at = datetime.fromisoformat(sent_at).timestamp()
            except ValueError:
                continue
            if at > now:
                held[str(entry["messageId"])] = at
    return held


async def _campaign_logs(client: OmniClient, job: Job) -> list[dict[str, Any]]:
    """Every log entry of the campaign: by bulkId, or by message id over the plan past one page."""
    found = await client.logs(bulk_id=job.bulk_id, limit=REPORT_PAGE)
    if len(found) < REPORT_PAGE:
        return found
    found = []
    chunk: list[str] = []
    for item in job.messages():
        if isinstance(item, PlannedMessage):
            chunk.append(item.message_id)
            if len(chunk) >= 2000:
                found.extend(await client.logs(message_ids=chunk, limit=REPORT_PAGE))
                chunk = []
    if chunk:
        found.extend(await client.logs(message_ids=chunk, limit=REPORT_PAGE))
    return found


async def settle_doubts(client: OmniClient, ledger: Ledger, job: Job, progress: Progress, counts: SendCounts) -> int:
    """Resolve every ``sending``/``unknown`` message through the logs; return how many go out again.

    Found in the logs: accepted. Absent once its settle time is over: requeued, to be sent again with the
    same id. Neither yet: looked up again in a later pass. The doubts are read a page at a time, so a
    provider outage that left a million messages in doubt does not hold them all in memory.
    """
    target = job.target
    ledger.recover_interrupted(target.id, job.campaign, at=_now())
    requeued = 0
    while True:
        seen = adopted = absent = 0
        after: str | None = None
        while page := ledger.in_doubt(target.id, job.campaign, limit=DOUBT_PAGE, after=after):
            after = page[-1].message_id
            seen += len(page)
            found, gone = await _settle_page(client, ledger, job, progress, page)
            adopted += found
            absent += gone
        counts.adopted += adopted
        requeued += absent
        if adopted or absent:
            progress.phase(
                f"Settled {adopted + absent} of {seen} message(s) in doubt: {adopted} found at the provider, "
                f"{absent} never arrived and will be sent again with the same id."
            )
        if seen - adopted - absent <= 0:
            return requeued


async def _settle_page(
    client: OmniClient, ledger: Ledger, job: Job, progress: Progress, page: list[Pending]
) -> tuple[int, int]:
    """Look one page of doubts up in the logs (after their settle time); return (adopted, requeued)."""
    target = job.target
    settle = target.settle_seconds
    oldest = min(_doubted_at(p) for p in page)
    wait = oldest + settle - _now()
    if wait > 0:
        progress.phase(f"Waiting {wait:.1f} s for the provider's logs to settle ({len(page)} in doubt).")
        await asyncio.sleep(wait)
    found = await client.logs(message_ids=[p.message_id for p in page], limit=REPORT_PAGE)
    by_id = {str(e["messageId"]): e for e in found if e.get("messageId")}
    adopted = ledger.adopt(
        target.id, job.campaign, [(mid, _log_to(e), e.get("status")) for mid, e in by_id.items()], at=_now()
    )
    now = _now()
    absent = [p.message_id for p in page if p.message_id not in by_id and _doubted_at(p) + settle <= now]
    return adopted, ledger.requeue(target.id, absent)


def _doubted_at(p: Pending) -> float:
    """Where a doubt's settle time starts: when it was recorded, by which time the request had left.

    Not the claim time: a claimed request can wait behind the rate limit or a 429 pause before it
    leaves, and a settle counted from the claim would look in the logs too early. A crash's doubts are
    recorded when the next run recovers them, so that run waits the whole settle time.
    """
    return p.answered_at or p.requested_at or 0.0
