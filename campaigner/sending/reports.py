"""Delivery reports: fetched, stored in the ledger before they are counted, and turned into the summary files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaigner.errors import OutcomeUnknownError
from campaigner.ledger.messages import Ledger
from campaigner.plan.build import PlannedMessage, in_chunks
from campaigner.plan.cost import CostEstimate, CostEstimator
from campaigner.recipients.reader import Skip
from campaigner.summary.outcomes import Summary, SummaryContext, summarize

if TYPE_CHECKING:
    from campaigner.campaign.load import LoadedCampaign
    from campaigner.omni.client import OmniClient
    from campaigner.sending.job import Progress
    from campaigner.sending.target import Target

REPORT_PAGE = 1000
LOGS_CHUNK = 5000  # message ids looked up in the logs per round
SUMMARY_FILES = ("summary.json", "summary.md", "report.html", "messages.csv")

Page = tuple[list[dict[str, Any]], list[str] | None]  # reports, and each one's JSON text as it arrived


def _now() -> float:
    return time.time()


async def collect_reports(
    client: OmniClient,
    ledger: Ledger,
    target: Target,
    campaign: str,
    bulk_id: str,
    *,
    wait: float,
    progress: Progress,
    poll: float | None = None,
) -> tuple[int, int]:
    """Fetch reports until each accepted message has a final one or ``wait`` runs out.

    Every report is stored in the ledger before it is counted. The provider hands out each report once,
    so the ledger records, durably, when reports may have been lost (``reports_state``): a request for
    them left behind by a crash or whose answer never came, or messages adopted from the logs (an earlier
    run may have taken their reports). Then the messages still without a final report are filled in from
    the logs (final status only, no error details, marked as such); a real report that arrives later
    replaces one from the logs. The provider's reports are fetched at least once even when none is
    outstanding. Messages scheduled (``sendAt``) for later than the wait are not waited for: ``campaigner
    report`` collects them once they are due. Returns (reports stored, still pending).
    """
    interval = poll if poll is not None else (0.2 if target.is_sandbox else 5.0)
    deadline = time.monotonic() + wait
    due_by = _now() + wait  # a message whose sendAt is later than this has no report to wait for
    stored = 0
    lost = ledger.reports_state(target.id, campaign) is not None
    if lost:
        progress.phase(
            "Delivery reports may have been handed out to an earlier run and lost (a crash, or a lost ledger): "
            "reading final statuses from the logs."
        )
    outstanding, later = ledger.count_due_and_later(target.id, campaign, due_by=due_by)
    # Counting is a scan of the campaign (seconds at a million messages): between counts, ``at_least`` is
    # a lower bound of what is outstanding (a page of n reports gives at most n messages their final one),
    # so the ledger is counted again only when it may have reached 0, after the logs, and at the deadline.
    at_least = outstanding
    if later:
        progress.phase(f"{later} message(s) scheduled for later (sendAt): `campaigner report` collects theirs.")
    if outstanding and wait > 0:
        progress.phase(f"Waiting up to {wait:g} s for {outstanding} delivery report(s).")
    fetching = False  # the ledger says "fetching" already (recorded with the last page stored)
    ahead: asyncio.Task[Page] | None = None  # the next page, asked for while one is stored
    try:
        while True:
            if lost:
                stored += await _fill_in_from_logs(client, ledger, target, campaign)
                ledger.set_reports_state(target.id, campaign, None)
                lost, at_least = False, 0  # the logs gave some their final status: count again
            if not fetching:
                ledger.set_reports_state(target.id, campaign, "fetching")
            asked, ahead = ahead, None
            try:
                page, texts = await (asked or client.reports_with_text(bulk_id=bulk_id, limit=REPORT_PAGE))
            except OutcomeUnknownError as exc:
                ledger.set_reports_state(target.id, campaign, "lost")
                lost, fetching = True, False
                progress.phase(
                    f"A request for delivery reports got no answer ({exc.unknown_reason}): reading the logs."
                )
            else:
                # More are waiting: the next page is asked for at once (the ledger still says "fetching",
                # so a crash now sends the next run to the logs for both pages) while this one is stored,
                # with "fetching" kept for the request already out, in one commit.
                fetching = len(page) >= REPORT_PAGE and time.monotonic() < deadline
                if fetching:
                    ahead = asyncio.create_task(client.reports_with_text(bulk_id=bulk_id, limit=REPORT_PAGE))
                    await asyncio.sleep(0)  # let it leave before the (blocking) commit below
                then = (campaign, "fetching" if fetching else None)
                stored += ledger.store_reports(target.id, page, source="reports", at=_now(), then=then, texts=texts)
                at_least -= len(page)
                if fetching:
                    continue
            if at_least <= 0 or time.monotonic() >= deadline:
                outstanding = at_least = ledger.count_without_report(target.id, campaign, due_by=due_by)
                if not outstanding or time.monotonic() >= deadline:
                    break
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    finally:
        if ahead is not None:  # left by a failure while a page was stored: the ledger still says "fetching"
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
    if lost:
        stored += await _fill_in_from_logs(client, ledger, target, campaign)
        ledger.set_reports_state(target.id, campaign, None)
        outstanding = ledger.count_without_report(target.id, campaign, due_by=due_by)
    return stored, outstanding


async def _fill_in_from_logs(client: OmniClient, ledger: Ledger, target: Target, campaign: str) -> int:
    """Final statuses from the logs for accepted messages without a final report (their report may be lost)."""
    stored = 0
    after: str | None = None
    while ids := ledger.accepted_without_report(target.id, campaign, limit=LOGS_CHUNK, after=after):
        after = ids[-1]
        found = await client.logs(message_ids=ids, limit=REPORT_PAGE)
        final = [e for e in found if (e.get("status") or {}).get("groupName") not in (None, "PENDING")]
        if final:
            stored += ledger.store_reports(target.id, final, source="logs", at=_now())
    return stored


async def fetch_report_page(client: OmniClient, ledger: Ledger, target: Target, campaign: str, bulk_id: str) -> int:
    """One request for reports, stored before it counts, with ``reports_state`` kept as collect_reports keeps it.

    For the canary's wait and ``send.stopWhen`` while sending. Returns how many reports were stored;
    a lost answer marks the reports ``lost`` (the next collection reads the logs) and stores nothing. A
    ``lost`` mark left by an earlier run stays for collect_reports to settle.
    """
    after = "lost" if ledger.reports_state(target.id, campaign) is not None else None
    ledger.set_reports_state(target.id, campaign, "fetching")
    try:
        page, texts = await client.reports_with_text(bulk_id=bulk_id, limit=REPORT_PAGE)
    except OutcomeUnknownError:
        ledger.set_reports_state(target.id, campaign, "lost")
        return 0
    stored = ledger.store_reports(target.id, page, source="reports", at=_now(), texts=texts) if page else 0
    ledger.set_reports_state(target.id, campaign, after)
    return stored


def summary_dir(loaded: LoadedCampaign) -> Path:
    """``report.dir`` (relative to the campaign file), or ``reports/<campaign>`` beside it."""
    return loaded.report_dir


@dataclass(frozen=True)
class Written:
    directory: Path
    summary: Summary


def plan_tally(
    ledger: Ledger,
    target: Target,
    campaign: str,
    items: Iterable[PlannedMessage | Skip],
    cost: CostEstimator | None = None,
) -> PlanTally:
    """One pass over the plan: the skips by reason, the messages the ledger has no record of, and (with
    ``cost``) the cost estimate of every planned message."""
    skipped: dict[str, int] = {}
    never_sent = 0
    for chunk in in_chunks(items):
        ids = [m.message_id for m in chunk if isinstance(m, PlannedMessage)]
        states = ledger.states(target.id, campaign, ids) if ids else {}
        for item in chunk:
            if isinstance(item, Skip):
                skipped[item.reason] = skipped.get(item.reason, 0) + 1
                continue
            if cost is not None:
                cost.add(item.to, item.payload.sms.parts if item.payload.sms else None)
            if item.message_id not in states:
                never_sent += 1
    return PlanTally(skipped, never_sent, cost.result() if cost is not None else None)


@dataclass(frozen=True)
class PlanTally:
    skipped: dict[str, int]  # reason -> rows
    never_sent: int  # planned messages the ledger has no record of
    estimate: CostEstimate | None = None  # every planned message, when the campaign declares pricing


def write_summary(
    ledger: Ledger,
    loaded: LoadedCampaign,
    target: Target,
    bulk_id: str,
    *,
    skipped: dict[str, int],
    never_sent: int = 0,
    estimate: CostEstimate | None = None,
    canary: dict[str, Any] | None = None,
) -> Written:
    """(Re)write summary.json, summary.md, report.html and messages.csv from the ledger.

    ``never_sent``: messages of the plan the ledger has no record of (the send window closed before
    they were claimed); they count as planned and not sent.
    """
    spec = loaded.spec
    directory = summary_dir(loaded)
    directory.mkdir(parents=True, exist_ok=True)
    context = SummaryContext(
        campaign=spec.campaign,
        target=target.id,
        bulk_id=bulk_id,
        channels=spec.scenario.channels,
        skipped=skipped,
        never_sent=never_sent,
        description=spec.description,
        estimate=(
            {"currency": estimate.currency, "best_case": estimate.best, "worst_case": estimate.worst}
            if estimate is not None
            else None
        ),
        canary=canary,
        now=_now(),
    )
    csv_tmp = directory / ".messages.csv.tmp"
    with csv_tmp.open("w", encoding="utf-8", newline="") as fh:
        summary = summarize(ledger.outcomes(target.id, spec.campaign, status=False), context, csv_file=fh)
    os.replace(csv_tmp, directory / "messages.csv")
    from campaigner.summary.render import render_all  # Jinja2 only when rendering

    for name, text in render_all(summary).items():
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, directory / name)
    return Written(directory, summary)
