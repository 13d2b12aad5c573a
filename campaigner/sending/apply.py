"""Apply: ensure the scenario, send every planned message exactly once, settle doubts, collect reports.

The order of events for one message, and why it is never sent twice:

1. the ledger row moves to ``sending`` in a durable transaction (``synchronous=FULL``) **before** the
   request leaves; only the ids the ledger hands back are put in the request;
2. the answer moves it to ``accepted`` or ``rejected``; no answer (a timeout, a reset, a 5xx, a crash)
   leaves it ``sending``/``unknown``;
3. before anything is sent again, every ``sending``/``unknown`` message is looked up by its id in the
   provider's logs: found means accepted; absent after the settle time means it never arrived, and it
   goes back to ``planned`` to be sent again **with the same messageId**.

A ledger that knows nothing of the campaign first adopts, from the logs, what the provider already has;
one that knows it checks the next messages against the logs before sending more (a ledger restored from
an older copy). How the logs settle each case is in :mod:`campaigner.sending.doubts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter

from campaigner.errors import (
    CampaignerError,
    ConnectFailedError,
    OutcomeUnknownError,
    ProviderError,
    RateLimitedError,
)
from campaigner.ledger.database import dump_json
from campaigner.ledger.messages import Ledger, MessageIntent
from campaigner.plan.build import PlannedMessage, ScenarioChange, group_requests, unsent
from campaigner.schedule.windows import api_time
from campaigner.sending.doubts import REPORT_PAGE, adopt_from_logs, settle_doubts
from campaigner.sending.job import Job, Progress, SendCounts, merge
from campaigner.sending.latency import LatencyMeter
from campaigner.sending.stop import StopRule, watch_reports

if TYPE_CHECKING:
    from campaigner.omni.client import OmniClient
    from campaigner.sending.target import Target

log = logging.getLogger("campaigner.apply")

CLAIM_BATCH = 1000  # destinations claimed in one durable transaction
FLUSH_EVERY = 0.25  # seconds between writes of answers to the ledger
MAX_PASSES = 8  # send passes in one apply (each after settling the doubtful ones)
CONNECT_RETRIES = 6  # a provider that cannot be reached this many times in a row stops the apply
STALE_PROBE = 100  # next messages looked up in the logs before a known campaign sends more
DUPLICATE_MESSAGE_ID = 23  # status id of REJECTED_DUPLICATE_MESSAGE_ID (omni-api.md section 6)


def _now() -> float:
    return time.time()


def _epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _duplicate_id(status: Any) -> bool:
    """The provider's status 23, REJECTED_DUPLICATE_MESSAGE_ID: it has seen this message id before."""
    return status.id == DUPLICATE_MESSAGE_ID or str(status.name).upper().endswith("DUPLICATE_MESSAGE_ID")


def _status(status: Any) -> dict[str, Any]:
    return dict(status.model_dump()) if hasattr(status, "model_dump") else dict(status)


class _StatusTexts:
    """The ledger's JSON of a send answer's status, written once per distinct status (the messages of one
    answer nearly always share theirs) instead of once per message."""

    def __init__(self) -> None:
        self._texts: dict[tuple[Any, ...], str] = {}

    def text(self, status: Any) -> str | dict[str, Any]:
        if getattr(status, "__pydantic_extra__", None) or not hasattr(status, "model_dump"):
            return _status(status)  # fields beyond the documented ones: as they are, each time
        key = (status.groupId, status.groupName, status.id, status.name, status.description)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) > 1000:
                self._texts.clear()
            text = self._texts[key] = dump_json(_status(status)) or "null"
        return text


async def ensure_scenario(
    client: OmniClient, ledger: Ledger, target: Target, change: ScenarioChange, progress: Progress
) -> str:
    """Create or update the scenario as planned; return its key (remembered in the ledger)."""
    flow = [{"channel": s.channel, "from": s.sender} for s in change.flow]
    if change.action == "create":
        created = await client.create_scenario(change.name, flow)
        key = created.key
        progress.phase(f'Created scenario "{change.name}" ({key}).')
    elif change.action == "update":
        assert change.key is not None
        await client.update_scenario(change.key, change.name, flow)
        key = change.key
        progress.phase(f'Updated scenario "{change.name}" ({key}).')
    else:
        assert change.key is not None
        key = change.key
    ledger.remember_scenario(target.id, change.name, key, flow)
    return key


class Sender:
    """The sending loop: claim durably, send under the rate limit, write answers back in batches."""

    def __init__(
        self,
        client: OmniClient,
        ledger: Ledger,
        job: Job,
        scenario_key: str,
        progress: Progress,
        *,
        probe: bool = False,
        latency: LatencyMeter | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.job = job
        self.scenario_key = scenario_key
        self.progress = progress
        # A leaky bucket a few requests deep: smooth (never a burst over ~1 s of rate), yet able to catch up
        # on the scheduling delays that a one-deep bucket turns into lost throughput.
        depth = max(1, round(job.rate / 20))
        self.limiter = AsyncLimiter(depth, depth / job.rate)
        self.counts = SendCounts()
        self._accepted: list[tuple[str, str | dict[str, Any]]] = []
        self._status_texts = _StatusTexts()
        self._rejected: list[tuple[list[str], str, dict[str, Any] | None]] = []
        self._unknown: list[tuple[list[str], str]] = []
        self._released: list[str] = []
        self._fatal: BaseException | None = None
        self.window_closed = False
        self._probe = probe  # look the first messages up in the logs before claiming any
        self.stale = False  # the probe found some: the ledger is behind the provider
        self.stop_rule = StopRule(job.stop_when) if job.stop_when is not None else None
        self.stopped: str | None = None  # why send.stopWhen stopped claiming
        self.latency = latency if latency is not None else LatencyMeter(job.concurrency)

    # -- producing ---------------------------------------------------------------------------------

    def _groups(self) -> Iterator[list[PlannedMessage]]:
        job = self.job
        # Sent messages are dropped before grouping, so that requests stay full. A campaign the ledger holds
        # no message of (a first apply, nothing adopted) has none to drop, and is not looked up a chunk at
        # a time: the claim refuses any message that is not new or planned in either case.
        lookup = None
        if self.ledger.holds_messages(job.target.id, job.campaign):
            lookup = lambda ids: self.ledger.states(job.target.id, job.campaign, ids)  # noqa: E731
        fresh = (m for m in unsent(job.messages(), lookup, lambda _m: None) if isinstance(m, PlannedMessage))
        return group_requests(fresh, job.batch_size)

    def _claim(self, groups: list[list[PlannedMessage]]) -> list[list[PlannedMessage]]:
        intents = [
            MessageIntent(m.message_id, m.recipient_id, m.row, m.payload.hash, _epoch(m.send_at))
            for g in groups
            for m in g
        ]
        claimed = set(self.ledger.claim_for_sending(self.job.target.id, self.job.campaign, intents, at=_now()))
        out = []
        for g in groups:
            mine = [m for m in g if m.message_id in claimed]
            if mine:
                out.append(mine)
        return out

    async def _produce(self, queue: asyncio.Queue[list[PlannedMessage] | None]) -> None:
        batch: list[list[PlannedMessage]] = []
        size = 0
        for group in self._groups():
            if self._fatal is not None or self.stopped:
                break
            batch.append(group)
            size += len(group)
            if size >= CLAIM_BATCH or len(batch) >= 4 * self.job.concurrency:
                if not await self._dispatch(batch, queue):
                    break
                batch, size = [], 0
            await asyncio.sleep(0)
        if batch and self._fatal is None and not self.stopped:
            await self._dispatch(batch, queue)
        for _ in range(self.job.concurrency):
            await queue.put(None)

    async def _dispatch(
        self, batch: list[list[PlannedMessage]], queue: asyncio.Queue[list[PlannedMessage] | None]
    ) -> bool:
        if self.stopped or self._window_closed_now():
            return False
        if self._probe:
            self._probe = False
            if await self._behind_the_provider(batch):
                self.stale = True
                return False
        for group in self._claim(batch):
            await queue.put(group)
        return True

    def _window_closed_now(self) -> bool:
        """Has the send window (``send.notAfter``) closed? Nothing is sent after it, even if claimed."""
        if not self.window_closed and self.job.not_after is not None and datetime.now(UTC) >= self.job.not_after:
            self.window_closed = True
        return self.window_closed

    async def _behind_the_provider(self, batch: list[list[PlannedMessage]]) -> bool:
        """Are any of the next messages to send already in the provider's logs?

        A ledger restored from an older copy (a CI cache saved before the last run) knows the campaign
        but not what was sent since. Messages go out in plan order, so what such a run sent last is
        what this one would send first: finding any of those in the logs means the ledger is stale.
        """
        ids = [m.message_id for g in batch for m in g][:STALE_PROBE]
        return bool(ids) and bool(await self.client.logs(message_ids=ids, limit=REPORT_PAGE))

    # -- sending -----------------------------------------------------------------------------------

    def _body(self, group: list[PlannedMessage]) -> dict[str, Any]:
        body = {
            "scenarioKey": self.scenario_key,
            "bulkId": self.job.bulk_id,
            "destinations": [{"messageId": m.message_id, "to": m.to} for m in group],
            **group[0].payload.body,
        }
        if group[0].send_at is not None:  # a group shares its sendAt (group_requests)
            body["sendAt"] = api_time(group[0].send_at)
        return body

    async def _send_one(self, group: list[PlannedMessage]) -> None:
        ids = [m.message_id for m in group]
        body = self._body(group)
        failures = 0
        while True:
            async with self.limiter:
                pass
            try:
                started = time.monotonic()
                answer = await self.client.send(body)
            except RateLimitedError as exc:
                self.client.gate.pause_for(exc.retry_after or 1.0)
                continue
            except ConnectFailedError as exc:
                failures += 1
                if failures >= CONNECT_RETRIES:
                    self._released.extend(ids)
                    self._fatal = exc
                    return
                await asyncio.sleep(min(10.0, 0.5 * 2**failures))
                continue
            except OutcomeUnknownError as exc:
                self._unknown.append((ids, exc.unknown_reason))
                self.counts.unknown += len(ids)
                return
            except ProviderError as exc:
                if exc.status in (401, 403):  # the account, not the message: stop, send nothing more
                    self._released.extend(ids)
                    self._fatal = exc
                    return
                self._rejected.append((ids, exc.reason, None))
                self.counts.rejected += len(ids)
                self.counts.rejections[exc.reason] = self.counts.rejections.get(exc.reason, 0) + len(ids)
                return
            break
        self.latency.add(time.monotonic() - started)  # sent to answered (issue 14: the plan's estimate)
        self.counts.requests += 1
        answered = {m.messageId: m for m in answer.messages}
        for mid in ids:
            msg = answered.get(mid)
            if msg is None:
                # Accepted as a request but not listed: the provider has it or not; the logs will tell.
                self._unknown.append(([mid], "missing from the provider's answer"))
                self.counts.unknown += 1
            elif msg.status.groupId == 5 and _duplicate_id(msg.status):
                # The provider already has a message with this id (sent by a run this ledger does not
                # know of): not a rejection to retry, a doubt that the logs settle (found: accepted).
                self._unknown.append(
                    ([mid], "the provider already has this message id (REJECTED_DUPLICATE_MESSAGE_ID)")
                )
                self.counts.unknown += 1
            elif msg.status.groupId == 5:  # REJECTED
                status = _status(msg.status)
                reason = f"{msg.status.name}: {msg.status.description or ''}".rstrip(": ")
                self._rejected.append(([mid], reason, status))
                self.counts.rejected += 1
                self.counts.rejections[msg.status.name] = self.counts.rejections.get(msg.status.name, 0) + 1
            else:
                self._accepted.append((mid, self._status_texts.text(msg.status)))
                self.counts.accepted += 1

    async def _worker(self, queue: asyncio.Queue[list[PlannedMessage] | None]) -> None:
        while True:
            group = await queue.get()
            if group is None:
                return
            if self._fatal is not None or self.stopped or self._window_closed_now():
                self._released.extend(m.message_id for m in group)  # claimed, never sent: claimable again
                continue
            await self._send_one(group)
            if self.stop_rule is not None and not self.stopped:
                self.stopped = self.stop_rule.check_answers(self.counts.accepted, self.counts.rejected)
            self.progress.sent(self.counts.accepted, self.counts.rejected, self.counts.unknown)

    def flush(self) -> None:
        """Write the answers gathered so far to the ledger (one transaction per kind)."""
        target, at = self.job.target.id, _now()
        if self._accepted:
            items, self._accepted = self._accepted, []
            self.ledger.mark_accepted(target, items, at=at)
        if self._rejected:
            rejected, self._rejected = self._rejected, []
            for ids, reason, status in rejected:
                self.ledger.mark_rejected(target, ids, reason, status, at=at)
        if self._unknown:
            unknown, self._unknown = self._unknown, []
            for ids, reason in unknown:
                self.ledger.mark_unknown(target, ids, reason, at=at)
        if self._released:
            released, self._released = self._released, []
            self.ledger.release(target, released)

    async def _flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
            self.flush()

    def _stop(self, reason: str) -> None:
        if not self.stopped:
            self.stopped = reason

    async def run(self) -> SendCounts:
        queue: asyncio.Queue[list[PlannedMessage] | None] = asyncio.Queue(maxsize=4 * self.job.concurrency)
        stop = asyncio.Event()
        flusher = asyncio.create_task(self._flusher(stop))
        watcher = None
        if self.stop_rule is not None and self.stop_rule.needs_reports:
            every = 0.2 if self.job.target.is_sandbox else 5.0
            watcher = asyncio.create_task(
                watch_reports(self.client, self.ledger, self.job, self.stop_rule, self._stop, every=every)
            )
        try:
            workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.job.concurrency)]
            try:
                await self._produce(queue)
            except BaseException:  # e.g. the ledger's connection lost: stop at once, no request left half-done
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
            await asyncio.gather(*workers)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            stop.set()
            await flusher
            self.flush()
        self.latency.store(self.ledger, self.job.target.id)
        if isinstance(self._fatal, ProviderError):
            raise CampaignerError(
                f"{self._fatal}; sending stopped, nothing unsent was lost: fix it and run apply again"
            ) from self._fatal
        if self._fatal is not None:
            raise CampaignerError(
                f"error: the provider could not be reached ({self._fatal}); "
                "nothing unsent was lost: run apply again to continue"
            ) from self._fatal
        return self.counts


async def send_campaign(
    client: OmniClient,
    ledger: Ledger,
    job: Job,
    scenario_key: str,
    progress: Progress,
    *,
    retry_rejected: bool = True,
) -> SendCounts:
    """Send until every message is accepted, rejected, or (after MAX_PASSES) still in doubt.

    ``retry_rejected=False``: rejections of an earlier run stay (the canary's, decided in this apply).
    """
    total = SendCounts()
    probe = ledger.campaign_known(job.target.id, job.campaign)
    if not probe:
        total.adopted += await adopt_from_logs(client, ledger, job, progress)
    await settle_doubts(client, ledger, job, progress, total)
    if retry_rejected:
        ledger.retry_rejected(job.target.id, job.campaign)
    meter = LatencyMeter(job.concurrency)  # over every pass: the ledger keeps the whole run's figures
    for _ in range(MAX_PASSES):
        sender = Sender(client, ledger, job, scenario_key, progress, probe=probe, latency=meter)
        probe = False
        part = await sender.run()
        merge(total, part)
        if sender.stale:
            progress.phase(
                "The provider's logs hold messages this ledger does not know were sent (was it restored from "
                "an older copy?): adopting what the provider has before sending."
            )
            total.adopted += await adopt_from_logs(client, ledger, job, progress)
            continue
        if sender.stopped:
            total.stopped = sender.stopped
            ledger.record_stop(job.target.id, job.campaign, sender.stopped)
            progress.phase(f"Sending stopped: {sender.stopped}; what was in flight was finished.")
            break
        if sender.window_closed:
            total.window_closed += 1
            progress.phase(f"The send window closed at {job.not_after}: the rest stays unsent.")
            break
        if not ledger.count_in_doubt(job.target.id, job.campaign):
            break
        requeued = await settle_doubts(client, ledger, job, progress, total)
        total.resent += requeued
        if requeued == 0:
            break
    total.unknown = ledger.count_in_doubt(job.target.id, job.campaign)
    progress.done_sending()
    return total
