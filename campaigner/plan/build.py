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
from campaigner.content.templates import Rendered, SandboxLimitError, compile_content
from campaigner.errors import InputError, InputErrors, display_path
from campaigner.plan import ids
from campaigner.plan.cost import CostEstimate, CostEstimator
from campaigner.plan.digest import DigestBuilder, PlanDigest
from campaigner.plan.masking import mask_pii
from campaigner.plan.message import Payload as Payload
from campaigner.plan.message import PlannedMessage as PlannedMessage
from campaigner.plan.schedule import ScheduleStats, scheduled, scheduler_for
from campaigner.recipients.reader import SKIP_REASONS, Recipient, Skip, open_recipients
from campaigner.schedule.windows import NO_TIME_ZONE, SCHEDULE_SKIP_REASONS
from campaigner.schedule.zones import ZoneFinder, load_zone

SAMPLES = 3
FIRST_ROWS = 5
LOOKUP_CHUNK = 2000
MAX_ROW_ERRORS = 20  # rows that fail to render: report this many, then stop reading
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


class RowErrors:
    """Rows that failed to render, the same problem on many rows told once: ``(and 41 more rows: 7, 9, …)``."""

    def __init__(self, limit: int = MAX_ROW_ERRORS) -> None:
        self.limit = limit
        self._first: dict[tuple[str, str], InputError] = {}
        self._more: dict[tuple[str, str], list[int]] = {}
        self._counts: dict[tuple[str, str], int] = {}

    @property
    def full(self) -> bool:
        return len(self._first) >= self.limit

    def add(self, exc: InputError) -> None:
        key = (exc.path, exc.message)
        if key not in self._first:
            self._first[key] = exc
            self._more[key] = []
            self._counts[key] = 0
            return
        self._counts[key] += 1
        if len(self._more[key]) < 3 and exc.row is not None:
            self._more[key].append(exc.row)

    def merged(self) -> list[InputError]:
        out = []
        for key, exc in self._first.items():
            n = self._counts[key]
            if not n:
                out.append(exc)
                continue
            rows = ", ".join(map(str, self._more[key])) + (", …" if n > len(self._more[key]) else "")
            more = f"and {n} more row{'s' if n != 1 else ''}: {rows}"
            hint = f"{exc.hint}; {more}" if exc.hint else more
            out.append(
                InputError(exc.message, path=exc.path, row=exc.row, line=exc.line, col=exc.location.col, hint=hint)
            )
        return out


class MessageStream:
    """The campaign's recipients as planned messages and skips, in CSV order.

    Opens the CSV and checks every template against its header before the first row is read.
    """

    def __init__(self, loaded: LoadedCampaign, target_id: str, *, show_pii: bool = False) -> None:
        self.loaded = loaded
        self.target_id = target_id
        self.show_pii = show_pii  # row errors keep phone numbers and LINE keys as they are
        spec = loaded.spec
        self.source = open_recipients(spec.recipients, loaded.base_dir, campaign_path=loaded.path, locate=loaded.locate)
        try:
            self.content = compile_content(
                spec,
                campaign_path=loaded.path,
                locate=loaded.locate,
                header=self.source.header,
                csv_path=self.source.path,
            )
        except BaseException:
            self.source.close()
            raise
        self.sms_only = spec.scenario.channels == ("SMS",)
        self.errors: list[InputError] = []
        self.row_errors = RowErrors()
        self.zones: ZoneFinder | None = None
        if spec.send.localHours is not None:
            try:
                self.zones = _zone_finder(loaded, self.source.header)
            except BaseException:
                self.source.close()
                raise

    def __iter__(self) -> Iterator[PlannedMessage | Skip]:
        try:
            yield from self._messages()
        except InputErrors as exc:  # rows the CSV reader could not read, reported after the last row
            self.errors.extend(exc.errors)
        except InputError as exc:
            self.errors.append(exc)
        self.errors.extend(self.row_errors.merged())

    def _messages(self) -> Iterator[PlannedMessage | Skip]:
        campaign, target = self.loaded.spec.campaign, self.target_id
        payloads: OrderedDict[str, Payload] = OrderedDict()  # recent payloads, shared by identical rows
        render = self.content.render
        make_id = ids.message_ids(target, campaign)
        last_rendered: Rendered | None = None
        last_payload: Payload | None = None
        for item in self.source:
            if isinstance(item, Skip):
                yield item
                continue
            rec: Recipient = item
            if self.sms_only and not rec.phone_number:
                yield Skip(rec.row, "no_address", "no phone number, and the flow is SMS only")
                continue
            zones: tuple[str, ...] = ()
            if self.zones is not None:
                try:
                    zones = self.zones.zones(rec.phone_number, rec.fields)
                except ValueError as exc:
                    self.row_errors.add(
                        InputError(
                            f"column {self.zones.column!r}: {exc}",
                            path=self.source.path,
                            row=rec.row,
                            hint="use an IANA zone name such as Europe/Zagreb or America/New_York",
                        )
                    )
                    if self.row_errors.full:
                        return
                    continue
                if not zones:
                    yield Skip(rec.row, NO_TIME_ZONE, "no time zone for this recipient, and no localHours.fallback")
                    continue
            try:
                rendered = render(
                    rec.fields, row=rec.row, phone_number=rec.phone_number, line_user_key=rec.line_user_key
                )
            except SandboxLimitError as exc:  # a template problem, not this row's: the next rows fail alike
                self.row_errors.add(self._masked(exc, rec))
                return
            except InputError as exc:
                self.row_errors.add(self._masked(exc, rec))
                if self.row_errors.full:
                    return
                continue
            if rendered is last_rendered and last_payload is not None:  # static content: one object, hashed once
                payload = last_payload
            else:
                body: dict[str, Any] = {}
                if rendered.line is not None:
                    body["line"] = rendered.line
                if rendered.sms is not None:
                    body["sms"] = rendered.sms
                key = ids.payload_hash(body)
                known = payloads.get(key)
                if known is None:
                    payload = payloads[key] = Payload(key, body, rendered.sms_measure)
                    if len(payloads) > 256:
                        payloads.popitem(last=False)
                else:
                    payload = known
                    payloads.move_to_end(key)
                last_rendered, last_payload = rendered, payload
            to: dict[str, str] = {}
            if rec.phone_number:
                to["phoneNumber"] = rec.phone_number
            if rec.line_user_key:
                to["lineUserKey"] = rec.line_user_key
            rid = rec.recipient_id
            yield PlannedMessage(rec.row, rid, make_id(rid), to, payload, zones)

    def _masked(self, exc: InputError, rec: Recipient) -> InputError:
        """``exc`` with the row's phone number and LINE key masked (a template error may quote them)."""
        if self.show_pii:
            return exc
        columns = self.loaded.spec.recipients
        raw = {kind: rec.fields.get(name or "", "") for kind, name in (("phone", columns.phoneNumber),
               ("line", columns.lineUserKey))}  # fmt: skip

        def mask(text: str) -> str:
            return mask_pii(text, phone_number=rec.phone_number, line_user_key=rec.line_user_key, raw=raw)

        message, hint = mask(exc.message), exc.hint and mask(exc.hint)
        if (message, hint) == (exc.message, exc.hint):
            return exc
        return type(exc)(message, path=exc.path, line=exc.line, col=exc.location.col, row=exc.row, hint=hint)

    def close(self) -> None:
        self.source.close()


def skip_reasons(loaded: LoadedCampaign) -> tuple[str, ...]:
    """The reasons a row of this campaign may be skipped for (the schedule's only with ``send.localHours``)."""
    return SKIP_REASONS + (SCHEDULE_SKIP_REASONS if loaded.spec.send.localHours is not None else ())


def _zone_finder(loaded: LoadedCampaign, header: Sequence[str]) -> ZoneFinder:
    """The recipients' zones as ``send.localHours`` says; its column and fallback checked, located in the file."""
    hours = loaded.spec.send.localHours
    assert hours is not None
    errors = []
    column = None if hours.zone == "auto" else hours.zone
    if column is not None and column not in header:
        columns = ", ".join(h for h in header if h)
        errors.append(
            loaded.error(
                ("send", "localHours", "zone"),
                f"column {column!r} is not in the header of {display_path(loaded.resolve(loaded.spec.recipients.csv))}",
                hint=f"name the column with each recipient's IANA zone, or use auto; columns: {columns}",
            )
        )
    if hours.fallback is not None and load_zone(hours.fallback) is None:
        errors.append(
            loaded.error(
                ("send", "localHours", "fallback"),
                f"{hours.fallback!r} is not an IANA time zone",
                hint="use a name such as Europe/Zagreb or Asia/Tokyo",
            )
        )
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)
    return ZoneFinder(column=column, fallback=hours.fallback)


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


def build_plan(
    loaded: LoadedCampaign,
    *,
    target_id: str,
    scenario: ScenarioChange,
    lookup: SentLookup | None = None,
    sink: Callable[[PlannedMessage | Skip], None] | None = None,
    now: datetime | None = None,
    show_pii: bool = False,
) -> Plan:
    """Stream the campaign once and compute its plan. ``sink`` sees every message to send and skip.
    Row errors mask phone numbers and LINE keys unless ``show_pii``.

    With ``send.localHours``, messages are scheduled for the instant ``now`` (an aware datetime; the
    current time when not given): the same inputs and instant give the same schedule.
    """
    stats = PlanStats()
    spec = loaded.spec
    stats.line_type = spec.line.type if spec.line else None
    scheduler = scheduler_for(loaded, now)
    if scheduler is not None:
        stats.schedule = ScheduleStats(scheduler.now)
    stream = MessageStream(loaded, target_id, show_pii=show_pii)
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

    def to_send() -> Iterator[PlannedMessage]:
        items = unsent(stream, lookup, on_sent, on_doubt)
        if scheduler is not None:
            items = scheduled(items, scheduler)
        for item in items:
            if isinstance(item, Skip):
                stats.rows += 1
                stats.skip(item)
                if sink:
                    sink(item)
                continue
            stats.rows += 1
            stats.to_send += 1
            digest.add(item.message_id, item.payload.hash)
            measure = item.payload.sms
            if cost is not None and cost_all is not None:
                parts = measure.parts if measure is not None else None
                cost.add(item.to, parts)
                cost_all.add(item.to, parts)
            if measure is not None:
                stats.sms_encoding[measure.encoding] += 1
                stats.sms_segments[measure.parts] += 1
                stats.sms_worst_case += measure.parts
                for ch in measure.ucs2_chars:
                    stats.ucs2_forcing[ch] += 1
            if stats.schedule is not None:
                stats.schedule.add(item)
            if len(stats.samples) < SAMPLES:
                stats.samples.append(Sample(item.row, item.to, item.message_id, item.payload.body, measure))
            if sink:
                sink(item)
            yield item

    try:
        for _request in group_requests(to_send(), spec.send.batchSize):
            stats.requests += 1
    finally:
        stream.close()
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
