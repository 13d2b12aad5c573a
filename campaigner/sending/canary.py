"""The canary run: send the sample first, wait for its final reports, decide, and store the verdict.

The sample is chosen once per plan digest and stored in the ledger before any of it is sent (see
:mod:`campaigner.ledger.canary`); its messages go out through the same exactly-once send as the rest.
A re-run resumes where the last one stopped: the send, the wait (until the same deadline), or the
verdict, which stands until ``--accept-canary`` or ``--retry-canary``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from campaigner.campaign.spec import Canary, format_duration
from campaigner.ledger.messages import Ledger
from campaigner.plan.build import SENT_STATES, PlannedMessage, unsent
from campaigner.plan.canary import Tally, conditions_text, decide, finished, sample_messages, sample_size
from campaigner.recipients.reader import Skip
from campaigner.sending.apply import send_campaign
from campaigner.sending.job import Job, Progress, SendCounts
from campaigner.sending.reports import collect_reports, fetch_report_page

if TYPE_CHECKING:
    from campaigner.omni.client import OmniClient

Decision = Literal["accept", "retry"] | None
PASSING = ("passed", "accepted")


@dataclass
class CanaryOutcome:
    """What the canary decided in this apply: ``go`` means send the rest."""

    go: bool
    state: str  # none (no canary needed) | passed | accepted | failed | inconclusive
    reason: str = ""
    sent_now: bool = False  # the canary's messages were sent or decided in this apply
    counts: SendCounts = field(default_factory=SendCounts)
    unsent_before: int = 0  # the canary's messages the plan counted as to send (sent by this apply)


def _tally(ledger: Ledger, job: Job, digest: str) -> Tally:
    c = ledger.canary_counts(job.target.id, job.campaign, digest)
    return Tally(size=c.size, final=c.final, awaiting=c.awaiting, unsent=c.unsent)


def _unsent(ledger: Ledger, job: Job) -> Iterator[PlannedMessage]:
    lookup = lambda ids: ledger.states(job.target.id, job.campaign, ids)  # noqa: E731
    for item in unsent(job.messages(), lookup, lambda _m: None):
        if isinstance(item, PlannedMessage):
            yield item


def _only(job: Job, members: set[str], picked: list[PlannedMessage] | None) -> Job:
    """The job restricted to the sample: the messages just picked, or (a re-run) found again in the plan."""

    def messages() -> Iterator[PlannedMessage | Skip]:
        if picked is not None:
            return (m for m in picked if m.message_id in members)
        return (m for m in job.messages() if isinstance(m, PlannedMessage) and m.message_id in members)

    return dataclasses.replace(job, messages=messages, stop_when=None)


async def run_canary(
    client: OmniClient,
    ledger: Ledger,
    job: Job,
    scenario_key: str,
    progress: Progress,
    canary: Canary,
    digest: str,
    *,
    to_send: int,
    decision: Decision = None,
    poll: float | None = None,
) -> CanaryOutcome:
    """Run (or resume) the canary of plan ``digest``; ``to_send`` is how many messages the plan has."""
    target, campaign = job.target.id, job.campaign
    record = ledger.canary(target, campaign, digest)
    picked: list[PlannedMessage] | None = None
    if record is None:
        if to_send == 0:
            return CanaryOutcome(True, "none")
        due = datetime.now(UTC) + timedelta(seconds=canary.wait / 2)  # sendAt soon enough to report in time
        picked = sample_messages(_unsent(ledger, job), sample_size(canary, to_send), due=due)
        sample = [m.message_id for m in picked]
        if not sample:
            return CanaryOutcome(True, "none")
        record = ledger.start_canary(target, campaign, digest, sample)
        progress.phase(
            f"Canary: {len(sample)} of {to_send} message(s) go out first; then up to {format_duration(canary.wait)} "
            f"for their final reports, which must show {conditions_text(canary)}."
        )
    if record.state in PASSING:
        return CanaryOutcome(True, record.state, record.reason or "")
    if record.state in ("failed", "inconclusive"):
        if decision == "accept":
            ledger.set_canary_state(target, campaign, digest, "accepted")
            progress.phase(f"Canary {record.state}, accepted with --accept-canary: sending the rest.")
            return CanaryOutcome(True, "accepted", record.reason or "", sent_now=True)
        if decision != "retry":
            return CanaryOutcome(False, record.state, record.reason or "")
        ledger.set_canary_state(target, campaign, digest, "waiting", wait_until=time.time() + canary.wait)
        progress.phase(f"Canary {record.state}; --retry-canary: waiting again for its final reports.")
    counts = SendCounts()
    unsent_before = 0
    if record.state == "sending":
        members = ledger.canary_members(target, campaign, digest)
        states = ledger.states(target, campaign, sorted(members))
        unsent_before = sum(1 for m in members if states.get(m) not in SENT_STATES)
        progress.sending(unsent_before)
        counts = await send_campaign(client, ledger, _only(job, members, picked), scenario_key, progress)
        if counts.unknown:  # some still in doubt: the next apply settles them, then waits
            reason = "some of the canary's messages are still in doubt"
            return CanaryOutcome(False, "sending", reason, True, counts, unsent_before)
        ledger.set_canary_state(target, campaign, digest, "waiting", wait_until=time.time() + canary.wait)
    record = ledger.canary(target, campaign, digest)
    assert record is not None and record.wait_until is not None
    verdict = decide(canary, await _wait(client, ledger, job, digest, record.wait_until, progress, poll))
    ledger.set_canary_state(target, campaign, digest, verdict.state, reason=verdict.reason)
    progress.phase(f"Canary {verdict.state}: {verdict.reason}.")
    return CanaryOutcome(verdict.state == "passed", verdict.state, verdict.reason, True, counts, unsent_before)


async def _wait(
    client: OmniClient,
    ledger: Ledger,
    job: Job,
    digest: str,
    deadline: float,
    progress: Progress,
    poll: float | None,
) -> Tally:
    """Fetch reports (stored before they count) until the canary's are all final or ``deadline`` passes."""
    interval = poll if poll is not None else (0.2 if job.target.is_sandbox else 5.0)
    tally = _tally(ledger, job, digest)
    if not finished(tally):
        left = max(0.0, deadline - time.time())
        progress.phase(f"Canary: waiting up to {left:.0f} s for {tally.awaiting} final report(s).")
    while True:
        if ledger.reports_state(job.target.id, job.campaign) is not None:
            # a request for reports was lost (a kill, a dropped answer): the logs fill them in
            await collect_reports(client, ledger, job.target, job.campaign, job.bulk_id, wait=0, progress=progress)
        else:
            await fetch_report_page(client, ledger, job.target, job.campaign, job.bulk_id)
        tally = _tally(ledger, job, digest)
        left = deadline - time.time()
        if finished(tally) or left <= 0:
            return tally
        await asyncio.sleep(min(interval, left))


def canary_summary(ledger: Ledger, job_target: str, campaign: str, canary: Canary | None) -> dict[str, Any] | None:
    """The campaign's latest canary for the summary: its verdict and figures, apart from the rest."""
    record = ledger.latest_canary(job_target, campaign)
    if record is None:
        return None
    c = ledger.canary_counts(job_target, campaign, record.digest)
    return {
        "state": record.state,
        "reason": record.reason or "",
        "size": c.size,
        "sent": c.sent,
        "final": dict(c.final),
        "awaiting": c.awaiting,
        "not_sent": c.unsent,
        "require": conditions_text(canary) if canary is not None else "",
    }
