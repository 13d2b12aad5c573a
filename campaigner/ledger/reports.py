"""Delivery reports in the ledger, and the views the summary reads.

Reports are stored raw, with ``synchronous=FULL``, before anything counts them (the provider returns each
only once). A report read from the provider's logs (``source = 'logs'``) stands in until the real one
arrives, never the reverse; a final report is kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple, Self

from campaigner.ledger.database import DEFAULT_BUSY_TIMEOUT, STATES, LedgerFile, load_json
from campaigner.ledger.store import Lock, Store, Tx

log = logging.getLogger("campaigner")

REPORT_SOURCES: Final = ("reports", "logs")
REPORT_GROUPS: Final = ("delivered", "undeliverable", "expired", "rejected", "pending")

_GROUP_BY_ID: Final = {1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED", 5: "REJECTED"}
_FINAL_GROUPS: Final = frozenset({"UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED"})
_DECODER: Final = json.JSONDecoder()
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one, not one per report


class Outcome(NamedTuple):
    """One message as the summary sees it: ledger state joined with its report (if any).

    A named tuple, not a dataclass: a million of them are made for one summary (~0.3 µs each, not ~3).
    """

    row: int | None
    message_id: str
    recipient_id: str | None
    state: str
    reason: str | None
    requested_at: float | None
    answered_at: float | None
    attempts: int
    adopted: bool
    status: dict[str, Any] | None  # the provider's status from the send answer (or its logs)
    report: dict[str, Any] | None
    report_source: str | None
    report_received_at: float | None
    send_at: float | None = None  # the sendAt it was sent with (send.localHours), epoch seconds


def open_store(location: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, create: bool = True) -> Store:
    """The backend for a location: a ``postgresql://`` URL, else a SQLite file path."""
    from campaigner.ledger.location import is_postgres_url

    if isinstance(location, str) and is_postgres_url(location):
        from campaigner.ledger.postgres import PostgresStore

        return PostgresStore(location, create=create)
    return LedgerFile(Path(location), busy_timeout=busy_timeout)


class ReportLedger:
    """The ledger's reports and views; :class:`campaigner.ledger.messages.Ledger` adds the message states.

    ``location`` is a SQLite file path or a ``postgresql://`` URL; the SQL is the same for both
    (:mod:`campaigner.ledger.store`).
    """

    def __init__(
        self, location: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, create: bool = True
    ) -> None:
        self.store: Store = open_store(location, busy_timeout=busy_timeout, create=create)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def where(self) -> str:
        """The ledger as errors name it: its file, or its URL with the password masked."""
        return self.store.where

    _where = where

    @property
    def _db(self) -> Any:
        """The SQLite connection (tests of the SQLite backend only)."""
        return getattr(self.store, "_db")  # noqa: B009

    def _write(self, *, full: bool) -> AbstractContextManager[Tx]:
        return self.store.write(full=full)

    def _read(self) -> AbstractContextManager[Tx]:
        return self.store.read()

    def lock(self, target: str, campaign: str, *, command: str) -> Lock:
        """The apply lock of one campaign on one target, for this ledger's backend."""
        return self.store.lock(target, campaign, command=command)

    _WITHOUT_REPORT = (
        "FROM messages m LEFT JOIN reports r ON r.target = m.target AND r.message_id = m.message_id "
        "WHERE m.target = ? AND m.campaign = ? AND m.state = 'accepted' AND (r.message_id IS NULL OR r.final = 0)"
    )

    def accepted_without_report(
        self, target: str, campaign: str, *, limit: int | None = None, after: str | None = None
    ) -> list[str]:
        """Accepted messages with no final report yet (none stored, or only a pending one), by message id.

        ``limit`` and ``after`` (the last id of the previous page) read them a page at a time.
        """
        sql = f"SELECT m.message_id {self._WITHOUT_REPORT}"
        params: tuple[Any, ...] = (target, campaign)
        if after is not None:
            sql += " AND m.message_id > ?"
            params += (after,)
        sql += " ORDER BY m.message_id"
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [str(r[0]) for r in rows]

    def count_without_report(self, target: str, campaign: str, *, due_by: float | None = None) -> int:
        """How many accepted messages still wait for a final report (no list held in memory).

        ``due_by`` (epoch seconds): count only those sent at once or with a ``sendAt`` no later than it.
        """
        sql = f"SELECT COUNT(*) {self._WITHOUT_REPORT}"
        params: tuple[Any, ...] = (target, campaign)
        if due_by is not None:
            sql += " AND (m.send_at IS NULL OR m.send_at <= ?)"
            params += (due_by,)
        with self._read() as conn:
            row = conn.execute(sql, params).fetchone()
        return int(row[0])

    def count_due_and_later(self, target: str, campaign: str, *, due_by: float) -> tuple[int, int]:
        """Accepted messages waiting for a final report: (due by ``due_by``, scheduled later), in one scan."""
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN m.send_at IS NULL OR m.send_at <= ? THEN 1 ELSE 0 END), 0) "
            + self._WITHOUT_REPORT
        )
        with self._read() as conn:
            row = conn.execute(sql, (due_by, target, campaign)).fetchone()
        return int(row[1]), int(row[0]) - int(row[1])

    def scheduled_by_hour(self, target: str, campaign: str, *, now: float) -> list[tuple[float, int]]:
        """Accepted messages whose ``sendAt`` is after ``now`` and without a final report, by UTC hour
        (the hour's start in epoch seconds), earliest first."""
        with self._read() as conn:  # few distinct sendAt values (slots per zone set): bucketed here, portably
            rows = conn.execute(
                f"SELECT m.send_at, COUNT(*) {self._WITHOUT_REPORT} AND m.send_at > ? GROUP BY m.send_at",
                (target, campaign, now),
            ).fetchall()
        hours: dict[float, int] = {}
        for send_at, n in rows:
            hour = float(int(send_at // 3600) * 3600)
            hours[hour] = hours.get(hour, 0) + int(n)
        return sorted(hours.items())

    # -- reports ------------------------------------------------------------------------------------

    def reports_state(self, target: str, campaign: str) -> str | None:
        """None when every report fetched for the campaign was stored; ``fetching`` when a run stopped
        while a request for reports was out; ``lost`` when such a request's answer never came."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT reports_state FROM campaigns WHERE target = ? AND campaign = ?", (target, campaign)
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def set_reports_state(self, target: str, campaign: str, state: str | None) -> None:
        """Record, durably, where report fetching stands (see :meth:`reports_state`)."""
        if state not in (None, "fetching", "lost"):
            raise ValueError(f"not a reports state: {state!r}")
        with self._write(full=True) as conn:
            conn.execute(
                "UPDATE campaigns SET reports_state = ? WHERE target = ? AND campaign = ?", (state, target, campaign)
            )

    def store_reports(
        self,
        target: str,
        reports: Sequence[Mapping[str, Any]],
        *,
        source: str,
        at: float,
        then: tuple[str, str | None] | None = None,
        texts: Sequence[str] | None = None,
    ) -> int:
        """Store delivery reports raw, durably, in one transaction; returns how many were stored.

        A report is stored when its message has none yet, when it is a real report replacing one read
        from the logs, or when it replaces a non-final report of the same source. Reports without a
        ``messageId`` are logged and dropped (they cannot be attributed). ``then=(campaign, state)``
        sets the campaign's :meth:`reports_state` in the same transaction (one commit a page instead of
        three when the next page is fetched at once). ``texts``: each report's JSON text as it arrived
        (``OmniClient.report_page``), stored as it is instead of writing the report out again.
        """
        if source not in REPORT_SOURCES:
            raise ValueError(f"source must be one of {REPORT_SOURCES}, not {source!r}")
        if texts is not None and len(texts) != len(reports):
            raise ValueError(f"{len(texts)} texts for {len(reports)} reports")
        rows: list[tuple[Any, ...]] = []
        encode = _ENCODER.encode
        for i, report in enumerate(reports):
            message_id = report.get("messageId")
            if not isinstance(message_id, str) or not message_id:
                log.warning("ignoring a %s entry without messageId: %.200s", source, json.dumps(report))
                continue
            group = _status_group(report)
            bulk_id = report.get("bulkId")
            raw = encode(report) if texts is None else texts[i]
            rows.append(
                (
                    target,
                    message_id,
                    bulk_id if type(bulk_id) is str else None,
                    group,
                    1 if group in _FINAL_GROUPS else 0,
                    raw,
                    source,
                    at,
                )
            )
        if not rows:
            if then is not None:
                self.set_reports_state(target, *then)
            return 0
        with self._write(full=True) as conn:
            if then is not None:
                if then[1] not in (None, "fetching", "lost"):
                    raise ValueError(f"not a reports state: {then[1]!r}")
                conn.execute(
                    "UPDATE campaigns SET reports_state = ? WHERE target = ? AND campaign = ?",
                    (then[1], target, then[0]),
                )
            return conn.executemany(
                "INSERT INTO reports (target, message_id, bulk_id, status_group, final, raw_json, source, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, message_id) DO UPDATE SET "
                "bulk_id = excluded.bulk_id, status_group = excluded.status_group, final = excluded.final, "
                "raw_json = excluded.raw_json, source = excluded.source, received_at = excluded.received_at "
                "WHERE (reports.source = 'logs' AND excluded.source = 'reports') "
                "OR (reports.source = excluded.source AND reports.final = 0)",
                rows,
            ).rowcount

    # -- views --------------------------------------------------------------------------------------

    def counts(self, target: str, campaign: str) -> dict[str, dict[str, int]]:
        """``{"messages": {state: n, ..., "total", "adopted"}, "reports": {group: n, ..., "total",
        "awaiting"}}``; ``awaiting`` counts accepted messages without a final report."""
        messages = dict.fromkeys(STATES, 0)
        reports = dict.fromkeys(REPORT_GROUPS, 0)
        with self._read() as conn:
            for state, n in conn.execute(
                "SELECT state, count(*) FROM messages WHERE target = ? AND campaign = ? GROUP BY state",
                (target, campaign),
            ):
                messages[state] = n
            adopted = conn.execute(
                "SELECT count(*) FROM messages WHERE target = ? AND campaign = ? AND adopted = 1",
                (target, campaign),
            ).fetchone()[0]
            for group, n in conn.execute(
                "SELECT r.status_group, count(*) FROM reports r JOIN messages m "
                "ON r.target = m.target AND r.message_id = m.message_id "
                "WHERE m.target = ? AND m.campaign = ? GROUP BY r.status_group",
                (target, campaign),
            ):
                key = str(group).lower()
                reports[key if key in reports else "pending"] += n
            awaiting = conn.execute(
                "SELECT count(*) FROM messages m LEFT JOIN reports r "
                "ON r.target = m.target AND r.message_id = m.message_id WHERE m.target = ? "
                "AND m.campaign = ? AND m.state = 'accepted' AND (r.message_id IS NULL OR r.final = 0)",
                (target, campaign),
            ).fetchone()[0]
        return {
            "messages": {**messages, "total": sum(messages.values()), "adopted": adopted},
            "reports": {**reports, "total": sum(reports.values()), "awaiting": awaiting},
        }

    def outcomes(self, target: str, campaign: str, *, status: bool = True) -> Iterator[Outcome]:
        """Every message of the campaign with its report, streamed in row order (unknown rows first).

        ``status=False``: without the provider's status from the send answer (``status`` is None), which
        the summary does not read.
        """
        rows = self.store.stream(
            "SELECT m.row, m.message_id, m.recipient_id, m.state, m.reason, m.requested_at, "
            f"m.answered_at, m.attempts, m.adopted, {'m.provider_status_json' if status else 'NULL'}, r.raw_json, "
            "r.source, r.received_at, m.send_at FROM messages m LEFT JOIN reports r "
            "ON r.target = m.target AND r.message_id = m.message_id "
            "WHERE m.target = ? AND m.campaign = ? ORDER BY m.row NULLS FIRST, m.message_id",
            (target, campaign),
            size=1000,
        )
        loads, new = _DECODER.decode, tuple.__new__
        for r in rows:
            raw_status, raw_report = r[9], r[10]
            yield new(
                Outcome,
                (
                    *r[:8],
                    bool(r[8]),
                    None if raw_status is None else load_json(raw_status),
                    None if raw_report is None else _report(raw_report, loads),
                    *r[11:14],
                ),
            )


def _report(text: str, loads: Any) -> dict[str, Any]:
    """A stored report's dict, as ``load_json`` reads it."""
    value = loads(text)
    return value if type(value) is dict else {"value": value}


def _status_group(report: Mapping[str, Any]) -> str:
    status = report.get("status")
    if type(status) is dict or isinstance(status, Mapping):
        name = status.get("groupName")
        if isinstance(name, str) and name.upper() in _GROUP_BY_ID.values():
            return name.upper()
        group_id = status.get("groupId")
        if isinstance(group_id, int) and group_id in _GROUP_BY_ID:
            return _GROUP_BY_ID[group_id]
    return "UNKNOWN"
