"""The plan: a pure, streaming function of the campaign's inputs (and a read-only view of the ledger).

``stream_messages`` turns recipients into planned messages (or skips); ``build_plan`` consumes that stream
into the figures a reviewer reads (:class:`PlanStats`); ``group_requests`` decides, the same way for
``plan`` and ``apply``, which messages share one request. Nothing here sends, writes or opens a socket.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from campaigner.campaign.load import LoadedCampaign
from campaigner.content.sms import SmsMeasure
from campaigner.errors import InputErrors
from campaigner.plan import ids
from campaigner.plan.cost import CostEstimate, CostEstimator
from campaigner.plan.digest import DigestBuilder, PlanDigest
from campaigner.plan.message import Payload as Payload
from campaigner.plan.message import PlannedMessage as PlannedMessage
from campaigner.plan.schedule import ScheduleStats, scheduled, scheduler_for
from campaigner.plan.stream import MessageStream as MessageStream
from campaigner.plan.stream import skip_reasons as skip_reasons
from campaigner.recipients.reader import Skip

SAMPLES = 3
FIRST_ROWS = 5
LOOKUP_CHUNK = 2000
# Sent states: the ledger knows the provider has (or may have) these; apply never sends them afresh.
SENT_STATES = frozenset({"accepted", "sending", "unknown"})
IN_DOUBT_STATES = frozenset({"sending", "unknown"})
"""Claimed by an apply that got no answer: settled through the provider's logs before anything else is sent."""

SentLookup = Callable[[Sequence[str]], dict[str, str]]
"""message ids -> ledger state for those the ledger knows (a read-only view of the ledger)."""


@dataclass(frozen=True, slots=True)
class FlowStepView:
    channel: str
    sender: str


@dataclass(frozen=True)
class ScenarioChange:
    """What the target must do about the scenario: ``create``, ``update`` or ``none``."""

    action: Literal["create", "update", "none"]
    name: str
    flow: tuple[FlowStepView, ...]
    key: str | None = None
    current_flow: tuple[FlowStepView, ...] = ()

    @property
    def symbol(self) -> str:
        return {"create": "+ create", "update": "~ update", "none": "no change"}[self.action]

    def diff(self) -> list[str]:
        """The flow difference, one line per step, ``-`` removed and ``+`` added."""
        if self.action != "update":
            return []
        lines = []
        for step in self.current_flow:
            if step not in self.flow:
                lines.append(f"- {step.channel} from {step.sender}")
        for step in self.flow:
            if step not in self.current_flow:
                lines.append(f"+ {step.channel} from {step.sender}")
        if not lines:  # same steps, other order
            lines = [
                "- " + " → ".join(s.channel for s in self.current_flow),
                "+ " + " → ".join(s.channel for s in self.flow),
            ]
        return lines


def desired_flow(loaded: LoadedCampaign) -> tuple[FlowStepView, ...]:
    return tuple(FlowStepView(s.channel, s.sender) for s in loaded.spec.scenario.flow)


def scenario_change(
    loaded: LoadedCampaign,
    existing: Iterable[tuple[str, str, Sequence[tuple[str, str]]]] | None,
    *,
    known_key: str | None = None,
) -> ScenarioChange:
    """Compare the campaign's scenario with the target's (``(key, name, [(channel, from)])`` each).

    The scenario is found by the key the ledger remembers, else by name. ``existing=None`` means an
    empty provider.
    """
    name = loaded.spec.scenario.name
    flow = desired_flow(loaded)
    found = None
    for key, other_name, other_flow in existing or ():
        if known_key is not None and key == known_key:
            found = (key, other_flow)
            break
        if found is None and other_name == name:
            found = (key, other_flow)
    if found is None:
        return ScenarioChange("create", name, flow)
    key, current = found
    current_flow = tuple(FlowStepView(c, s) for c, s in current)
    if current_flow == flow:
        return ScenarioChange("none", name, flow, key, current_flow)
    return ScenarioChange("update", name, flow, key, current_flow)


@dataclass
class Sample:
    row: int
    to: dict[str, str]
    message_id: str
    body: dict[str, Any]
    sms: SmsMeasure | None


@dataclass
class PlanStats:
    """Everything a reviewer reads about a plan, computed in one streaming pass."""

    rows: int = 0
    to_send: int = 0
    already_sent: int = 0
    in_doubt: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_rows: dict[str, list[int]] = field(default_factory=dict)
    requests: int = 0
    sms_encoding: Counter[str] = field(default_factory=Counter)
    sms_segments: Counter[int] = field(default_factory=Counter)
    sms_worst_case: int = 0
    ucs2_forcing: Counter[str] = field(default_factory=Counter)
    line_type: str | None = None
    samples: list[Sample] = field(default_factory=list)
    distinct_payloads_seen: int = 0
    cost: CostEstimate | None = None  # of the messages to send, when the campaign declares pricing
    cost_campaign: CostEstimate | None = None  # of every planned message, already sent included
    schedule: ScheduleStats | None = None  # with send.localHours

    def skip(self, item: Skip) -> None:
        self.skipped[item.reason] += 1
        rows = self.skipped_rows.setdefault(item.reason, [])
        if len(rows) < FIRST_ROWS:
            rows.append(item.row)


@dataclass
class Plan:
    """A computed plan: the campaign, the target, the scenario change and the figures."""

    loaded: LoadedCampaign
    target_id: str
    bulk_id: str
    scenario: ScenarioChange
    stats: PlanStats
    digest: PlanDigest | None = None  # of exactly what the plan would send (campaigner.plan.digest)

    @property
    def has_changes(self) -> bool:
        """Something to send, to settle (messages in doubt) or a scenario to change."""
        return self.stats.to_send > 0 or self.stats.in_doubt > 0 or self.scenario.action != "none"

    @property
    def summary_line(self) -> str:
        if not self.has_changes:
            return "No changes."
        n = self.stats.to_send
        parts = [f"{n} message{'s' if n != 1 else ''} to send"]
        if self.stats.in_doubt:
            parts.append(f"{self.stats.in_doubt} in doubt")
        if self.scenario.action != "none":
            parts.append(f"1 scenario to {self.scenario.action}")
        return "Plan: " + ", ".join(parts) + "."


def in_chunks(
    items: Iterable[PlannedMessage | Skip], size: int = LOOKUP_CHUNK
) -> Iterator[list[PlannedMessage | Skip]]:
    chunk: list[PlannedMessage | Skip] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def unsent(
    items: Iterable[PlannedMessage | Skip],
    lookup: SentLookup | None,
    on_sent: Callable[[PlannedMessage], None],
    on_doubt: Callable[[PlannedMessage], None] | None = None,
) -> Iterator[PlannedMessage | Skip]:
    """Drop messages the ledger shows as sent (calling ``on_sent`` for each), asking it in chunks.

    Messages in doubt (:data:`IN_DOUBT_STATES`) are dropped too, through ``on_doubt`` when given.
    """
    if lookup is None:
        yield from items
        return
    for chunk in in_chunks(items):
        states = lookup([m.message_id for m in chunk if isinstance(m, PlannedMessage)])
        for m in chunk:
            state = states.get(m.message_id) if isinstance(m, PlannedMessage) else None
            if state is None or state not in SENT_STATES:
                yield m
            elif on_doubt is not None and state in IN_DOUBT_STATES:
                on_doubt(m)  # type: ignore[arg-type]  # a state is only looked up for a PlannedMessage
            else:
                on_sent(m)  # type: ignore[arg-type]


def group_requests(
    messages: Iterable[PlannedMessage], batch_size: int, *, window: int | None = None
) -> Iterator[list[PlannedMessage]]:
    """Messages with identical payloads and the same ``send_at`` share a request of up to ``batch_size``
    destinations.

    Open groups are kept for at most ``window`` pending messages (default ``max(10000, 4 * batch_size)``);
    past that the oldest group goes out as it is, so memory stays bounded whatever the campaign size.
    The order is deterministic: the same messages always give the same requests.
    """
    limit = window or max(10_000, 4 * batch_size)
    open_groups: OrderedDict[tuple[str, datetime | None], list[PlannedMessage]] = OrderedDict()
    pending = 0
    for m in messages:
        key = (m.payload.hash, m.send_at)
        group = open_groups.get(key)
        if group is None:
            group = open_groups[key] = []
        group.append(m)
        pending += 1
        if len(group) >= batch_size:
            del open_groups[key]
            pending -= len(group)
            yield group
        while pending > limit:
            _, oldest = open_groups.popitem(last=False)
            pending -= len(oldest)
            yield oldest
    while open_groups:
        _, oldest = open_groups.popitem(last=False)
        yield oldest


class RequestCounter:
    """How many requests :func:`group_requests` makes of the same messages, counted without making them.

    ``add`` takes each message's grouping key in order (its payload hash, with its ``send_at`` when it has
    one); ``total()`` is the number of requests. The same rules: a group goes out when full, and the
    oldest group goes out when more than ``window`` messages wait (tests/plan/test_build.py compares).
    """

    __slots__ = ("_batch", "_limit", "_open", "_pending", "_requests")

    def __init__(self, batch_size: int, *, window: int | None = None) -> None:
        self._batch = batch_size
        self._limit = window or max(10_000, 4 * batch_size)
        self._open: OrderedDict[object, int] = OrderedDict()
        self._pending = 0
        self._requests = 0

    def add(self, key: object) -> None:
        groups = self._open
        size = groups.get(key, 0) + 1
        if size >= self._batch:
            if size > 1:
                del groups[key]
            self._pending -= size - 1
            self._requests += 1
            return
        groups[key] = size  # a new group goes last; a growing one keeps its place
        self._pending += 1
        while self._pending > self._limit:
            _, oldest = groups.popitem(last=False)
            self._pending -= oldest
            self._requests += 1

    def total(self) -> int:
        return self._requests + len(self._open)


def build_plan(
    loaded: LoadedCampaign,
    *,
    target_id: str,
    scenario: ScenarioChange,
    lookup: SentLookup | None = None,
    sink: Callable[[PlannedMessage | Skip], None] | None = None,
    now: datetime | None = None,
    show_pii: bool = False,
    jobs: int | None = None,
) -> Plan:
    """Stream the campaign once and compute its plan. ``sink`` sees every message to send and skip.
    Row errors mask phone numbers and LINE keys unless ``show_pii``.

    With ``send.localHours``, messages are scheduled for the instant ``now`` (an aware datetime; the
    current time when not given): the same inputs and instant give the same schedule. ``jobs``: worker
    processes for the stream (:class:`~campaigner.plan.stream.MessageStream`).
    """
    stats = PlanStats()
    spec = loaded.spec
    stats.line_type = spec.line.type if spec.line else None
    scheduler = scheduler_for(loaded, now)
    if scheduler is not None:
        stats.schedule = ScheduleStats(scheduler.now)
    stream = MessageStream(loaded, target_id, show_pii=show_pii, jobs=jobs)
    digest = scenario_digest(scenario)
    pricing = spec.pricing
    cost = CostEstimator(pricing, spec.scenario.channels) if pricing else None
    cost_all = CostEstimator(pricing, spec.scenario.channels) if pricing else None

    def on_sent(m: PlannedMessage) -> None:
        stats.rows += 1
        stats.already_sent += 1
        if cost_all is not None:
            cost_all.add(m.to, m.payload.sms.parts if m.payload.sms else None)

    def on_doubt(_m: PlannedMessage) -> None:
        stats.rows += 1
        stats.in_doubt += 1

    items = unsent(stream, lookup, on_sent, on_doubt)
    if scheduler is not None:
        items = scheduled(items, scheduler)
    requests = RequestCounter(spec.send.batchSize)
    count_request = requests.add
    add_digest = digest.add
    samples = stats.samples
    encodings, segments, ucs2 = stats.sms_encoding, stats.sms_segments, stats.ucs2_forcing
    schedule = stats.schedule
    rows = to_send = worst_case = 0
    try:
        for item in items:
            rows += 1
            if isinstance(item, Skip):
                stats.skip(item)
                if sink:
                    sink(item)
                continue
            to_send += 1
            payload = item.payload
            add_digest(item.message_id, payload.hash)
            measure = payload.sms
            if cost is not None and cost_all is not None:
                parts = measure.parts if measure is not None else None
                cost.add(item.to, parts)
                cost_all.add(item.to, parts)
            if measure is not None:
                encodings[measure.encoding] += 1
                segments[measure.parts] += 1
                worst_case += measure.parts
                for ch in measure.ucs2_chars:
                    ucs2[ch] += 1
            if schedule is not None:
                schedule.add(item)
            if len(samples) < SAMPLES:
                samples.append(Sample(item.row, item.to, item.message_id, payload.body, measure))
            if sink:
                sink(item)
            count_request(payload.hash if item.send_at is None else (payload.hash, item.send_at))
    finally:
        stream.close()
        stats.rows += rows
        stats.to_send += to_send
        stats.sms_worst_case += worst_case
        stats.requests = requests.total()
    if stream.errors:
        raise InputErrors(stream.errors)
    for reason in skip_reasons(loaded):
        stats.skipped.setdefault(reason, 0)
    if cost is not None and cost_all is not None:
        stats.cost, stats.cost_campaign = cost.result(), cost_all.result()
    return Plan(loaded, target_id, ids.bulk_id(target_id, spec.campaign), scenario, stats, digest.result())


def scenario_digest(scenario: ScenarioChange) -> DigestBuilder:
    """A digest that starts from the scenario change; feed it the messages to send."""
    return DigestBuilder(scenario.action, scenario.name, [(s.channel, s.sender) for s in scenario.flow])
