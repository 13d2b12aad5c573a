"""Per-recipient outcomes in, the campaign summary out: summary.json and messages.csv, in one pass.

Pure: no I/O but the text file object a caller passes for messages.csv. The renderings for people,
summary.md and report.html, are in :mod:`campaigner.summary.render`, whose ``render_all`` gives all
three small files. Outcomes come as a stream (a million is fine): counts are aggregated as
they go, in memory bounded whatever the stream's length.

Counting rules, one recipient (one message) at a time:

- A stored delivery report is the truth: its status group (PENDING, UNDELIVERABLE, DELIVERED, EXPIRED,
  REJECTED; ``ACCEPTED`` or anything unknown reads as pending) is the message's final status, its
  ``channel`` the channel that produced it, and the message counts as sent (whatever the ledger state,
  except ``rejected``).
- Without a report: ledger state ``rejected`` is final ``rejected`` (rejected at send time, with the
  provider's reason); ``accepted`` is final ``pending``; ``unknown`` and ``sending`` (a request whose
  answer never came) count as ``recipients.unknown`` and in no final status; ``planned`` (never sent)
  counts nowhere but in ``recipients.planned``.
- ``scheduled``: an accepted message with no final report whose ``sendAt`` (``send.localHours``) is still
  ahead of the summary's ``now``: the provider holds it; ``campaigner report`` collects it later.
- ``failover``: ``line_delivered`` = delivered with final channel LINE, ``sms_fallback_delivered`` =
  delivered with final channel SMS, ``not_delivered`` = final undeliverable + expired + rejected.
- ``errors``: the report's ``error.name`` unless it is NO_ERROR. Reports filled in from the provider's
  logs have a status but no error: they are counted in ``reports_from_logs`` and marked ``logs`` in the
  ``source`` column of messages.csv. Send-time rejections are tallied by reason in ``rejected_reasons``.
- ``cost``: the report's ``price.pricePerMessage`` is the price of one message part, so a message costs
  ``pricePerMessage × messageCount`` (``messageCount`` 1 when absent; LINE reports say 1). Summed as
  :class:`~decimal.Decimal` per currency, over every stored report; totals rounded to 6 decimals.
- ``latency_seconds``: from the report's ``sentAt`` to its ``doneAt``, final (not pending) reports only;
  nearest-rank percentiles (see :class:`LatencyDigest` for the precision), in seconds to the millisecond.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final, NamedTuple, Protocol

FORMAT_VERSION: Final = 1
FINAL_GROUPS: Final = ("delivered", "undeliverable", "expired", "rejected", "pending", "scheduled")
CHANNEL_GROUPS: Final = ("delivered", "undeliverable", "expired", "rejected")
NOT_DELIVERED: Final = ("undeliverable", "expired", "rejected")
CSV_HEADER: Final = (
    "row", "messageId", "channel", "status", "error", "price", "currency", "state", "outcome", "source",
)  # fmt: skip
MARKDOWN_LIMIT: Final = 60_000  # bytes: a pull-request comment holds 65,536 characters
OTHER: Final = "(other)"
MAX_KEYS: Final = 1000  # distinct error names / reasons / currencies kept before the rest go to OTHER
MAX_CHANNELS: Final = 20
_MONEY: Final = Decimal("0.000001")
_GROUP_BY_ID: Final = {1: "pending", 2: "undeliverable", 3: "delivered", 4: "expired", 5: "rejected"}
_GROUP_BY_NAME: Final = {"ACCEPTED": "pending", **{g.upper(): g for g in FINAL_GROUPS}}
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


class OutcomeLike(Protocol):
    """What the summary reads of one recipient's ledger record (the ledger's ``Outcome`` fits)."""

    @property
    def row(self) -> int | None: ...  # None: the ledger does not know the CSV row
    @property
    def message_id(self) -> str: ...
    @property
    def recipient_id(self) -> str | None: ...
    @property
    def state(self) -> str: ...  # planned | sending | accepted | rejected | unknown
    @property
    def reason(self) -> str | None: ...  # the provider's rejection text
    @property
    def requested_at(self) -> float | None: ...
    @property
    def report(self) -> Mapping[str, Any] | None: ...  # the final delivery report, as the provider sent it
    @property
    def report_source(self) -> str | None: ...  # 'reports' | 'logs'


class Writable(Protocol):
    """A text file object (opened with ``newline=""``), ``io.StringIO`` or anything with ``write``."""

    def write(self, s: str, /) -> object: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SummaryContext:
    """What the summary says that the outcomes do not."""

    campaign: str
    target: str
    bulk_id: str
    channels: tuple[str, ...] = ("LINE", "SMS")  # the scenario's flow, in order
    planned: int | None = None  # None: the number of outcomes
    never_sent: int = 0  # planned messages the ledger has no record of (the send window closed first)
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> rows
    description: str | None = None
    # the plan's estimate from the campaign's pricing: {"currency", "best_case", "worst_case"} (Decimal)
    estimate: Mapping[str, Any] | None = None
    canary: Mapping[str, Any] | None = None  # the canary's verdict and figures (see summary.canary)
    now: float | None = None  # epoch seconds: accepted messages with a later sendAt count as scheduled


class MessageResult(NamedTuple):
    """One recipient's outcome as the summary reads it (and as messages.csv shows it); a named tuple, made
    once per message (a million for a big campaign)."""

    row: int | None
    message_id: str
    state: str
    outcome: str  # a FINAL_GROUPS member, "unknown" or "not_sent"
    channel: str  # the report's channel, "" without a report
    status: str  # the report's status name
    error: str  # the report's error name (not NO_ERROR), or the rejection reason without a report
    error_description: str
    price: Decimal | None  # pricePerMessage × messageCount
    currency: str
    latency: float | None  # seconds from sentAt to doneAt
    source: str  # report_source: 'reports' | 'logs', "" without a report

    def csv_cells(self) -> list[str]:
        cells = (
            "" if self.row is None else str(self.row), self.message_id, self.channel, self.status, self.error,
            "" if self.price is None else format(self.price, "f"), self.currency, self.state, self.outcome, self.source,
        )  # fmt: skip
        start = _FORMULA_START
        return [("'" + c) if c.startswith(start) else c for c in cells]  # spreadsheet_safe, inlined


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a leading ``'`` when a spreadsheet would read it as a formula (= + - @ tab CR)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    if type(value) is dict:  # the usual case, without the slower ABC check
        return value
    return value if isinstance(value, Mapping) else {}


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


_SEEN_TIMES: dict[str, datetime | None] = {}  # the messages of one request share their sentAt, and few doneAt
_SEEN_LIMIT: Final = 4096


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    if value in _SEEN_TIMES:
        return _SEEN_TIMES[value]
    try:
        moment: datetime | None = datetime.fromisoformat(value)  # accepts the provider's 2016-02-23T17:41:11.833+0100
    except ValueError:
        moment = None
    if len(_SEEN_TIMES) >= _SEEN_LIMIT:
        _SEEN_TIMES.clear()
    _SEEN_TIMES[value] = moment
    return moment


def _seconds(start: object, end: object) -> float | None:
    """Seconds from ``start`` to ``end`` (timestamps as the provider writes them), at least 0."""
    begun, done = _timestamp(start), _timestamp(end)
    if begun is None or done is None or (begun.tzinfo is None) != (done.tzinfo is None):
        return None
    return max(0.0, (done - begun).total_seconds())


def _group(status: Mapping[str, Any]) -> str:
    name = _str(status.get("groupName")).upper()
    if name in _GROUP_BY_NAME:
        return _GROUP_BY_NAME[name]
    group_id = status.get("groupId")
    return _GROUP_BY_ID.get(group_id, "pending") if isinstance(group_id, int) else "pending"


def classify(outcome: OutcomeLike, now: float | None = None) -> MessageResult:
    """How the summary counts one outcome (the module docstring gives the rules)."""
    report = outcome.report
    state = outcome.state
    send_at = getattr(outcome, "send_at", None)
    held = now is not None and send_at is not None and send_at > now and state == "accepted"
    if held and (report is None or _group(_mapping(report.get("status"))) == "pending"):
        return MessageResult(outcome.row, outcome.message_id, state, "scheduled", "", "", "", "", None, "", None, "")
    if report is None:
        if state == "rejected":
            result, error = "rejected", " ".join((outcome.reason or "").split())
        else:
            result = {"accepted": "pending", "planned": "not_sent"}.get(state, "unknown")
            error = ""
        return MessageResult(outcome.row, outcome.message_id, state, result, "", "", error, "", None, "", None, "")
    status = _mapping(report.get("status"))
    result = _group(status)
    err = _mapping(report.get("error"))
    error = _str(err.get("name"))
    if error == "NO_ERROR" or (err.get("groupId") == 0 and err.get("id") == 0):
        error = ""
    price = _mapping(report.get("price"))
    per_part = _decimal(price.get("pricePerMessage"))
    parts = report.get("messageCount")
    total = None
    if per_part is not None:
        total = per_part * (parts if isinstance(parts, int) and not isinstance(parts, bool) else 1)
    latency = None if result == "pending" else _seconds(report.get("sentAt"), report.get("doneAt"))
    return MessageResult(
        outcome.row,
        outcome.message_id,
        state,
        result,
        _str(report.get("channel")).upper(),
        _str(status.get("name")),
        error,
        " ".join(_str(err.get("description")).split()) if error else "",
        total,
        (_str(price.get("currency")) or "(none)") if total is not None else "",
        latency,
        outcome.report_source or "reports",
    )


class LatencyDigest:
    """Nearest-rank percentiles of a stream of durations (seconds) in bounded memory.

    The first ``EXACT_LIMIT`` values are kept as they are: up to that many reports the percentiles are
    exact. Past it, every value goes into a histogram of logarithmic buckets 1 % wide starting at 1 ms
    (shorter durations share one bucket read as 0): a percentile is then its bucket's geometric middle,
    within 0.5 % (or 1 ms) of the exact value, in at most ~2,300 buckets for durations up to 4 months.
    """

    EXACT_LIMIT: Final = 10_000
    _FLOOR: Final = 0.001
    _LOG_GROWTH: Final = math.log(1.01)

    def __init__(self) -> None:
        self.count = 0
        self._exact: list[float] | None = []
        self._buckets: dict[int, int] = {}

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def add(self, seconds: float) -> None:
        self.count += 1
        if self._exact is not None:
            self._exact.append(seconds)
            if len(self._exact) <= self.EXACT_LIMIT:
                return
            values, self._exact = self._exact, None
            for value in values:
                self._bucket(value)
            return
        self._bucket(seconds)

    def _bucket(self, seconds: float) -> None:
        index = -1 if seconds < self._FLOOR else int(math.log(seconds / self._FLOOR) / self._LOG_GROWTH)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def percentile(self, p: int) -> float | None:
        """The smallest value with at least ``p`` % of the values at or below it; None without values."""
        if not self.count:
            return None
        rank = max(1, -(-p * self.count // 100))
        if self._exact is not None:
            return round(sorted(self._exact)[rank - 1], 3)
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                middle = 0.0 if index < 0 else self._FLOOR * math.exp((index + 0.5) * self._LOG_GROWTH)
                return round(middle, 3)
        raise AssertionError("unreachable: the buckets hold count values")


class _Tally:
    """Counts by key, at most ``limit`` distinct keys (later new keys count under OTHER)."""

    def __init__(self, limit: int = MAX_KEYS) -> None:
        self.counts: dict[str, int] = {}
        self.limit = limit

    def key(self, key: str) -> str:
        key = _clip(key, 200)
        return key if key in self.counts or len(self.counts) < self.limit else OTHER

    def add(self, key: str, n: int = 1) -> str:
        key = self.key(key)
        self.counts[key] = self.counts.get(key, 0) + n
        return key

    def ranked(self) -> dict[str, int]:
        """By count, largest first, then by key; OTHER last."""
        order = sorted(self.counts.items(), key=lambda kv: (kv[0] == OTHER, -kv[1], kv[0]))
        return dict(order)


@dataclass(frozen=True, slots=True)
class Summary:
    """The aggregated campaign outcome; ``to_dict()`` is summary.json."""

    campaign: str
    target: str
    bulk_id: str
    description: str | None
    flow: tuple[str, ...]
    recipients: Mapping[str, int]  # planned, sent, rejected, unknown
    not_sent: int  # planned but not sent: outcomes still in state planned, and messages never recorded
    skipped: Mapping[str, int]  # reason -> rows, largest first
    final: Mapping[str, int]
    channels: Mapping[str, Mapping[str, int]]  # flow order, then others by name
    failover: Mapping[str, int]
    errors: Mapping[str, int]  # largest first
    error_descriptions: Mapping[str, str]  # error name -> the first description seen
    rejected_reasons: Mapping[str, int]  # largest first
    cost: Mapping[str, Decimal]  # currency -> total, by currency
    latency_p50: float | None
    latency_p95: float | None
    latency_reports: int
    latency_exact: bool
    reports_from_logs: int
    messages: int  # outcomes read
    estimate: Mapping[str, Any] | None = None  # the plan's cost estimate, beside ``cost``
    canary: Mapping[str, Any] | None = None  # the canary's verdict and figures, apart from the rest

    def to_dict(self) -> dict[str, Any]:
        """summary.json as a dict: the keys of SPEC section 7, plus format_version, rejected_reasons and
        reports_from_logs; key order fixed, counts ordered largest first."""
        return {
            "format_version": FORMAT_VERSION,
            "campaign": self.campaign,
            "target": self.target,
            "bulkId": self.bulk_id,
            "recipients": {**self.recipients, "skipped": dict(self.skipped)},
            "final": dict(self.final),
            "channels": {name: dict(counts) for name, counts in self.channels.items()},
            "failover": dict(self.failover),
            "errors": dict(self.errors),
            "cost": {currency: float(total) for currency, total in self.cost.items()},
            "cost_estimate": (
                {k: (float(v) if isinstance(v, Decimal) else v) for k, v in self.estimate.items()}
                if self.estimate
                else None
            ),
            "latency_seconds": {"p50": self.latency_p50, "p95": self.latency_p95},
            "rejected_reasons": dict(self.rejected_reasons),
            "reports_from_logs": self.reports_from_logs,
            **({"canary": dict(self.canary)} if self.canary is not None else {}),
        }


class SummaryBuilder:
    """Aggregates outcomes one at a time in bounded memory; ``build()`` gives the :class:`Summary`."""

    def __init__(self, context: SummaryContext) -> None:
        self.context = context
        self.messages = 0
        self.recipients = dict.fromkeys(("sent", "rejected", "unknown"), 0)
        self.not_sent = 0
        self.final = dict.fromkeys(FINAL_GROUPS, 0)
        self.failover = dict.fromkeys(("line_delivered", "sms_fallback_delivered", "not_delivered"), 0)
        self.channels: dict[str, dict[str, int]] = {
            c.upper(): dict.fromkeys(CHANNEL_GROUPS, 0) for c in context.channels
        }
        self.errors = _Tally()
        self.error_descriptions: dict[str, str] = {}
        self.reasons = _Tally()
        self.cost: dict[str, Decimal] = {}
        self.latency = LatencyDigest()
        self.reports_from_logs = 0

    def add(self, outcome: OutcomeLike) -> MessageResult:
        """Count one outcome; returns how it was read (the messages.csv row)."""
        result = classify(outcome, self.context.now)
        self.messages += 1
        if result.state == "rejected":
            self.recipients["rejected"] += 1
            self.reasons.add(" ".join((outcome.reason or "").split()) or "(no reason given)")
        elif result.source or result.state == "accepted":
            self.recipients["sent"] += 1
        elif result.state == "planned":
            self.not_sent += 1
        else:
            self.recipients["unknown"] += 1
        if result.outcome in self.final:
            self.final[result.outcome] += 1
        if result.outcome == "delivered":
            if result.channel == "LINE":
                self.failover["line_delivered"] += 1
            elif result.channel == "SMS":
                self.failover["sms_fallback_delivered"] += 1
        elif result.outcome in NOT_DELIVERED:
            self.failover["not_delivered"] += 1
        if result.source:
            self._add_report(result)
        return result

    def _add_report(self, result: MessageResult) -> None:
        if result.source == "logs":
            self.reports_from_logs += 1
        if result.channel and result.outcome in CHANNEL_GROUPS:
            channel = _clip(result.channel, 40)
            if channel not in self.channels:
                if len(self.channels) >= MAX_CHANNELS:
                    channel = OTHER
                self.channels.setdefault(channel, dict.fromkeys(CHANNEL_GROUPS, 0))
            self.channels[channel][result.outcome] += 1
        if result.error:
            name = self.errors.add(result.error)
            if name != OTHER and name not in self.error_descriptions:
                self.error_descriptions[name] = _clip(result.error_description, 300)
        if result.price is not None:
            currency = _clip(result.currency, 12)
            if currency not in self.cost and len(self.cost) >= MAX_KEYS:
                currency = OTHER
            self.cost[currency] = self.cost.get(currency, Decimal(0)) + result.price
        if result.latency is not None:
            self.latency.add(result.latency)

    def build(self) -> Summary:
        ctx = self.context
        flow = tuple(c.upper() for c in ctx.channels)
        channels = {c: self.channels[c] for c in flow}
        channels.update(sorted((c, v) for c, v in self.channels.items() if c not in channels))
        skipped = _Tally(limit=MAX_KEYS)
        for reason, rows in ctx.skipped.items():
            skipped.add(reason, rows)
        planned = (self.messages if ctx.planned is None else ctx.planned) + ctx.never_sent
        return Summary(
            campaign=ctx.campaign,
            target=ctx.target,
            bulk_id=ctx.bulk_id,
            description=ctx.description,
            flow=flow,
            recipients={"planned": planned, **self.recipients},
            not_sent=self.not_sent + ctx.never_sent,
            skipped=skipped.ranked(),
            final=dict(self.final),
            channels=channels,
            failover=dict(self.failover),
            errors=self.errors.ranked(),
            error_descriptions=dict(self.error_descriptions),
            rejected_reasons=self.reasons.ranked(),
            cost={c: self.cost[c].quantize(_MONEY, ROUND_HALF_EVEN) for c in sorted(self.cost)},
            latency_p50=self.latency.percentile(50),
            latency_p95=self.latency.percentile(95),
            latency_reports=self.latency.count,
            latency_exact=self.latency.exact,
            reports_from_logs=self.reports_from_logs,
            messages=self.messages,
            estimate=ctx.estimate,
            canary=ctx.canary,
        )


def summarize(outcomes: Iterable[OutcomeLike], context: SummaryContext, *, csv_file: Writable | None = None) -> Summary:
    """One pass over ``outcomes``: the summary, and messages.csv written to ``csv_file`` when given."""
    builder = SummaryBuilder(context)
    if csv_file is None:
        for outcome in outcomes:
            builder.add(outcome)
        return builder.build()
    writer = csv.writer(csv_file)
    writer.writerow(CSV_HEADER)
    for outcome in outcomes:
        writer.writerow(builder.add(outcome).csv_cells())
    return builder.build()


def write_messages_csv(outcomes: Iterable[OutcomeLike], fh: Writable) -> int:
    """messages.csv to ``fh`` (open it with ``newline=""``), streamed; returns the number of rows."""
    writer = csv.writer(fh)
    writer.writerow(CSV_HEADER)
    rows = 0
    for outcome in outcomes:
        writer.writerow(classify(outcome).csv_cells())
        rows += 1
    return rows


def iter_messages_csv(outcomes: Iterable[OutcomeLike]) -> Iterator[str]:
    """messages.csv one line at a time (each ending in CRLF, quoted as the csv module does)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for outcome in outcomes:
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(classify(outcome).csv_cells())
    yield buffer.getvalue()


def render_json(summary: Summary) -> str:
    """summary.json: indented, key order fixed, ending with a newline."""
    return json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n"
