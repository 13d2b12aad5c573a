"""The sandbox's state and rules in SQLite (scenarios, accepted messages, reports, requests); no HTTP."""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from campaigner.sandbox.clock import CLOCK_KEY, RETENTION
from campaigner.sandbox.delivery import (
    DEFAULT_TIME_SCALE,
    DeliveryRules,
    FlowStep,
    Status,
    StepOutcome,
)
from campaigner.sandbox.exceptions import SandboxError, bad_request, not_found, too_many_requests
from campaigner.sandbox.records import Accepted, MessageRecord, Scenario, ScenarioDraft, SendRequest
from campaigner.sandbox.reports import TailCache, report_head, report_json

log = logging.getLogger("campaigner.sandbox")

SCHEMA_VERSION = "1"
RATE_WINDOW = 600.0  # seconds
CREATE_LIMIT = 20  # scenario creations per window
UPDATE_LIMIT = 40  # scenario updates per window
DEFAULT_SCENARIO_NAME = "Default scenario"
DEFAULT_SCENARIO_FLOW = (FlowStep("SMS", "InfoSMS"),)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, name TEXT,
    flow TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS scenario_ops (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, scenario_key TEXT NOT NULL, texts TEXT NOT NULL, callback_data TEXT);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, bulk_id TEXT, batch_id INTEGER NOT NULL,
    to_json TEXT NOT NULL, accepted_at REAL NOT NULL, sent_at REAL NOT NULL, ready_at REAL NOT NULL,
    final_channel TEXT NOT NULL, steps TEXT NOT NULL, reported INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
CREATE INDEX IF NOT EXISTS messages_bulk_id ON messages (bulk_id);
CREATE INDEX IF NOT EXISTS messages_unreported ON messages (ready_at) WHERE reported = 0;
-- reports of one bulk in order without a sort of the whole bulk (a page per query: O(n) pages, not O(n^2))
CREATE INDEX IF NOT EXISTS messages_unreported_bulk ON messages (bulk_id, ready_at) WHERE reported = 0;
-- each message's delivery report as text, built at accept (sandbox/reports.py): report_head || tail
CREATE TABLE IF NOT EXISTS report_tails (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, endpoint TEXT NOT NULL,
    status INTEGER NOT NULL, fault TEXT, at REAL NOT NULL);
"""
_TABLES = ("scenarios", "scenario_ops", "batches", "messages", "report_tails", "requests")
# Added to the messages of schema 1 (a state file written before them reads its reports from the steps)
_REPORT_COLUMNS = (("report_head", "TEXT"), ("report_tail", "INTEGER"))


class SandboxModel:
    """All state of one sandbox, in one SQLite file, behind one lock (thread-safe)."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        rules: DeliveryRules | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not time_scale > 0:
            raise SandboxError(f"time scale must be above zero, got {time_scale}")
        self.db_path = str(db_path)
        self.rules = rules or DeliveryRules()
        self.time_scale = time_scale
        self.clock = clock  # real time; the sandbox's "now" is this plus the offset in the state (now())
        self._lock = threading.Lock()
        try:
            if self.db_path != ":memory:" and not Path(self.db_path).exists():
                # its messages hold phone numbers: owner-only, as the ledger (-wal/-shm get the same mode)
                Path(self.db_path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(self.db_path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._init_schema()
        except (sqlite3.Error, OSError) as exc:
            raise SandboxError(f"cannot open sandbox state {self.db_path}: {exc}") from exc

    def _init_schema(self) -> None:
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {r[1] for r in db.execute("PRAGMA table_info(messages)")}
            for name, kind in _REPORT_COLUMNS:
                if name not in columns:
                    db.execute(f"ALTER TABLE messages ADD COLUMN {name} {kind}")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
                self._insert_default_scenario(db)
            elif row[0] != SCHEMA_VERSION:
                raise SandboxError(
                    f"{self.db_path} holds sandbox state of schema {row[0]}, this version reads {SCHEMA_VERSION}"
                    " (delete the file or choose another --state)"
                )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reset(self) -> None:
        """Forget everything (the clock's offset too) and start again with only the default scenario."""
        with self._write() as db:
            for table in _TABLES:
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM meta WHERE key = ?", (CLOCK_KEY,))
            self._insert_default_scenario(db)

    # -- the clock ---------------------------------------------------------------------------------

    def clock_offset(self) -> float:
        """Seconds the sandbox's clock is ahead of real time (kept in the state, so restarts keep it)."""
        with self._read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (CLOCK_KEY,)).fetchone()
        return float(row[0]) if row else 0.0

    def now(self) -> float:
        """The sandbox's now, in epoch seconds: every rule (sendAt, logs, reports, retention) reads this."""
        return self.clock() + self.clock_offset()

    def advance_clock(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0); returns the new offset."""
        if not seconds >= 0:
            raise SandboxError(f"the sandbox clock only moves forward, not by {seconds}")
        with self._write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (CLOCK_KEY,)).fetchone()
            offset = (float(row[0]) if row else 0.0) + seconds
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (CLOCK_KEY, repr(offset)),
            )
        return offset

    # -- scenarios ---------------------------------------------------------------------------------

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(16).upper()

    def _insert_default_scenario(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO scenarios (key, name, flow, is_default) VALUES (?, ?, ?, 1)",
            (self.new_key(), DEFAULT_SCENARIO_NAME, _flow_dump(DEFAULT_SCENARIO_FLOW)),
        )

    def scenarios(self, *, is_default: bool | None = None, limit: int = 100, page: int = 0) -> list[Scenario]:
        sql = "SELECT key, name, flow, is_default FROM scenarios"
        args: list[Any] = []
        if is_default is not None:
            sql += " WHERE is_default = ?"
            args.append(int(is_default))
        sql += " ORDER BY seq LIMIT ? OFFSET ?"
        args += [limit, limit * page]
        with self._read() as db:
            return [_scenario(row) for row in db.execute(sql, args)]

    def scenario(self, key: str) -> Scenario | None:
        with self._read() as db:
            row = db.execute("SELECT key, name, flow, is_default FROM scenarios WHERE key = ?", (key,)).fetchone()
        return _scenario(row) if row else None

    def default_scenario(self) -> Scenario | None:
        with self._read() as db:
            row = db.execute(
                "SELECT key, name, flow, is_default FROM scenarios WHERE is_default = 1 ORDER BY seq LIMIT 1"
            ).fetchone()
        return _scenario(row) if row else None

    def resolve_scenario(self, key: str | None) -> Scenario:
        """The scenario a send uses: by key, or the default; a 400 when there is none."""
        if key is None:
            scenario = self.default_scenario()
            if scenario is None:
                raise bad_request({"scenarioKey": ["must be given: there is no default scenario"]})
            return scenario
        scenario = self.scenario(key)
        if scenario is None:
            raise bad_request({"scenarioKey": [f"scenario {key} does not exist"]})
        return scenario

    def create_scenario(self, draft: ScenarioDraft) -> Scenario:
        now = self.now()
        with self._write() as db:
            self._check_rate(db, "create", CREATE_LIMIT, now)
            key = self.new_key()
            if draft.default:
                db.execute("UPDATE scenarios SET is_default = 0")
            db.execute(
                "INSERT INTO scenarios (key, name, flow, is_default) VALUES (?, ?, ?, ?)",
                (key, draft.name, _flow_dump(draft.flow), int(bool(draft.default))),
            )
            db.execute("INSERT INTO scenario_ops (kind, at) VALUES ('create', ?)", (now,))
        return Scenario(key, draft.name, draft.flow, bool(draft.default))

    def update_scenario(self, key: str, draft: ScenarioDraft, *, rate_limited: bool = True) -> Scenario:
        now = self.now()
        with self._write() as db:
            row = db.execute("SELECT key, name, flow, is_default FROM scenarios WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise not_found(f"Scenario {key} not found")
            if rate_limited:
                self._check_rate(db, "update", UPDATE_LIMIT, now)
            current = _scenario(row)
            name = draft.name if draft.name is not None else current.name
            default = draft.default if draft.default is not None else current.default
            if default:
                db.execute("UPDATE scenarios SET is_default = 0 WHERE key != ?", (key,))
            db.execute(
                "UPDATE scenarios SET name = ?, flow = ?, is_default = ? WHERE key = ?",
                (name, _flow_dump(draft.flow), int(default), key),
            )
            if rate_limited:
                db.execute("INSERT INTO scenario_ops (kind, at) VALUES ('update', ?)", (now,))
        return Scenario(key, name, draft.flow, default)

    def put_scenario(self, key: str, draft: ScenarioDraft) -> Scenario:
        """Back door for tests: create or replace a scenario under a chosen key, without rate limits."""
        with self._write() as db:
            if draft.default:
                db.execute("UPDATE scenarios SET is_default = 0")
            db.execute(
                "INSERT INTO scenarios (key, name, flow, is_default) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
                "DO UPDATE SET name = excluded.name, flow = excluded.flow, is_default = excluded.is_default",
                (key, draft.name, _flow_dump(draft.flow), int(bool(draft.default))),
            )
        return Scenario(key, draft.name, draft.flow, bool(draft.default))

    @staticmethod
    def _check_rate(db: sqlite3.Connection, kind: str, limit: int, now: float) -> None:
        rows = db.execute(
            "SELECT at FROM scenario_ops WHERE kind = ? AND at > ? ORDER BY at", (kind, now - RATE_WINDOW)
        ).fetchall()
        if len(rows) >= limit:
            raise too_many_requests(math.ceil(rows[len(rows) - limit][0] + RATE_WINDOW - now))

    # -- messages ----------------------------------------------------------------------------------

    def accept(self, send: SendRequest, scenario: Scenario) -> Accepted:
        """Commit every destination of a send (simulating its delivery) and return the answer's ids."""
        now = self.now()
        several = len(send.destinations) > 1
        bulk_id = send.bulk_id or (str(uuid.uuid4()) if several else None)
        offset = max(0.0, send.send_at - now) if send.send_at is not None else 0.0
        texts = {channel: c.text for channel, c in send.content.items() if c.text is not None}
        rows: list[tuple[Any, ...]] = []
        answered: list[tuple[Mapping[str, Any], str]] = []
        rejected: set[str] = set()
        sent_at = now + offset
        tails = TailCache(sent_at, send.callback_data)
        simulate, rejected_at_send = self.rules.simulate, self.rules.rejected_at_send
        scale, flow = self.time_scale, scenario.flow
        dump = _COMPACT.encode
        for destination in send.destinations:
            to = destination.to
            message_id = destination.message_id or str(uuid.uuid4())
            answered.append((to, message_id))
            if rejected_at_send(to):
                rejected.add(message_id)
                continue
            steps = simulate(to, flow, send.content)
            final = steps[-1]
            # held until the sandbox's clock reaches sendAt, then the flow runs at time_scale
            ready_at = sent_at + final.end / scale
            steps_json = dump([s.to_json() for s in steps])
            head = report_head(message_id, bulk_id, final.to)
            rows.append(
                (message_id, bulk_id, dump(to), now, sent_at, ready_at, final.channel, steps_json, head,
                 tails.tail(final))
            )  # fmt: skip
        if not rows:
            return Accepted(bulk_id if several else None, tuple(answered), frozenset(rejected))
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO batches (scenario_key, texts, callback_data) VALUES (?, ?, ?)",
                (scenario.key, json.dumps(texts, ensure_ascii=False), send.callback_data),
            )
            batch_id = cursor.lastrowid
            tail_ids: dict[str, int] = {}
            for text in dict.fromkeys(r[-1] for r in rows):
                db.execute("INSERT OR IGNORE INTO report_tails (text) VALUES (?)", (text,))
                tail_ids[text] = db.execute("SELECT id FROM report_tails WHERE text = ?", (text,)).fetchone()[0]
            db.executemany(
                "INSERT INTO messages (message_id, bulk_id, batch_id, to_json, accepted_at, sent_at, ready_at,"
                " final_channel, steps, report_head, report_tail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r[0], r[1], batch_id, *r[2:-1], tail_ids[r[-1]]) for r in rows],
            )
        return Accepted(bulk_id if several else None, tuple(answered), frozenset(rejected))

    def take_reports(
        self,
        *,
        bulk_id: str | None = None,
        message_id: str | None = None,
        channel: str | None = None,
        limit: int = 50,
    ) -> list[str]:
        """Final reports whose outcome is known and that were never returned, as JSON texts (a
        DeliveryReport each, see :mod:`campaigner.sandbox.reports`); each is returned once.

        A report of a message sent more than 48 hours ago (sandbox clock) is never returned, as the provider's.
        """
        now = self.now()
        sql = _REPORT_SELECT + " WHERE m.reported = 0 AND m.ready_at <= ? AND m.sent_at > ?"
        args: list[Any] = [now, now - RETENTION]
        for column, value in (("m.bulk_id", bulk_id), ("m.message_id", message_id), ("m.final_channel", channel)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        sql += " ORDER BY m.ready_at, m.id LIMIT ?"
        args.append(limit)
        with self._write() as db:
            rows = db.execute(sql, args).fetchall()
            db.executemany("UPDATE messages SET reported = 1 WHERE id = ?", [(row[0],) for row in rows])
            older = [row[0] for row in rows if row[1] is None]  # accepted before reports were stored as text
            records = {}
            for start in range(0, len(older), 500):
                chunk = older[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for row in db.execute(f"{_RECORD_SELECT} WHERE m.id IN ({marks})", chunk):
                    records[row[0]] = _record(row)
        return [text if text is not None else _COMPACT.encode(report_json(records[id_])) for id_, text in rows]

    def logs(
        self,
        *,
        bulk_ids: Sequence[str] = (),
        message_ids: Sequence[str] = (),
        sent_since: float | None = None,
        sent_until: float | None = None,
        keep: Callable[[MessageRecord, StepOutcome, Status], bool] = lambda record, step, status: True,
        limit: int = 50,
    ) -> list[tuple[MessageRecord, StepOutcome, Status]]:
        """Newest first: each message with the step and status it shows now; reading consumes nothing.

        Only messages sent within the last 48 hours of the sandbox's clock, as the provider keeps them.
        """
        now = self.now()
        sql = _RECORD_SELECT + " WHERE m.sent_at > ?"
        args: list[Any] = [now - RETENTION]
        for column, values in (("m.bulk_id", bulk_ids), ("m.message_id", message_ids)):
            if values:
                sql += f" AND {column} IN ({', '.join('?' * len(values))})"
                args += list(values)
        if sent_since is not None:
            sql += " AND m.sent_at >= ?"
            args.append(sent_since)
        if sent_until is not None:
            sql += " AND m.sent_at <= ?"
            args.append(sent_until)
        sql += " ORDER BY m.id DESC"
        found: list[tuple[MessageRecord, StepOutcome, Status]] = []
        with self._read() as db:
            for row in db.execute(sql, args):
                record = _record(row)
                step, pending = record.current(now, self.time_scale)
                status = pending or step.status
                if keep(record, step, status):
                    found.append((record, step, status))
                    if len(found) >= limit:
                        break
        return found

    # -- inspection --------------------------------------------------------------------------------

    def record_request(self, method: str, path: str, endpoint: str, status: int, fault: str | None, at: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO requests (method, path, endpoint, status, fault, at) VALUES (?, ?, ?, ?, ?, ?)",
                (method, path, endpoint, status, fault, at),
            )

    def requests(self, *, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT method, path, status, fault, at FROM requests WHERE 1 = 1"
        args: list[Any] = []
        if path is not None:
            sql += " AND path = ?"
            args.append(path)
        if method is not None:
            sql += " AND method = ?"
            args.append(method.upper())
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY id", args).fetchall()
        return [{"method": m, "path": p, "status": s, "fault": f, "at": at} for m, p, s, f, at in rows]

    def received(self, *, duplicates_only: bool = False) -> list[dict[str, Any]]:
        """Every messageId accepted, in first-acceptance order, with how many times it was accepted."""
        having = " HAVING COUNT(*) > 1" if duplicates_only else ""
        sql = (
            "SELECT m.message_id, m.bulk_id, m.to_json, g.n, m.accepted_at FROM (SELECT message_id,"
            f" MIN(id) AS first, COUNT(*) AS n FROM messages GROUP BY message_id{having}) g"
            " JOIN messages m ON m.id = g.first ORDER BY g.first"
        )
        with self._read() as db:
            rows = db.execute(sql).fetchall()
        return [
            {"messageId": mid, "bulkId": bulk, "to": json.loads(to), "received": n, "firstReceivedAt": at}
            for mid, bulk, to, n, at in rows
        ]

    def stats(self) -> dict[str, Any]:
        now = self.now()
        with self._read() as db:
            receipts, messages = db.execute("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM messages").fetchone()
            duplicates = db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM messages GROUP BY message_id HAVING COUNT(*) > 1)"
            ).fetchone()[0]
            returned, ready, discarded = db.execute(
                "SELECT COALESCE(SUM(reported), 0), COALESCE(SUM(reported = 0 AND ready_at <= ? AND sent_at > ?), 0),"
                " COALESCE(SUM(reported = 0 AND sent_at <= ?), 0) FROM messages",
                (now, now - RETENTION, now - RETENTION),
            ).fetchone()
            scenarios = db.execute("SELECT COUNT(*) FROM scenarios").fetchone()[0]
            by_endpoint = db.execute(
                "SELECT method, endpoint, status, COUNT(*) FROM requests GROUP BY method, endpoint, status"
            ).fetchall()
            faults = db.execute(
                "SELECT fault, COUNT(*) FROM requests WHERE fault IS NOT NULL GROUP BY fault"
            ).fetchall()
        requests: dict[str, dict[str, int]] = {}
        for method, endpoint, status, count in by_endpoint:
            requests.setdefault(f"{method} {endpoint}", {})[str(status)] = count
        return {
            "messages": messages,
            "receipts": receipts,
            "duplicates": duplicates,
            "reports": {
                "returned": returned,
                "ready": ready,
                "pending": receipts - returned - ready - discarded,
                "discarded": discarded,  # never returned, and now past the 48-hour retention
            },
            "scenarios": scenarios,
            "requests": requests,
            "faults": dict(faults),
        }


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_REPORT_SELECT = "SELECT m.id, m.report_head || t.text FROM messages m LEFT JOIN report_tails t ON t.id = m.report_tail"
_RECORD_SELECT = (
    "SELECT m.id, m.message_id, m.bulk_id, m.accepted_at, m.sent_at, m.ready_at, m.steps, b.texts,"
    " b.callback_data FROM messages m JOIN batches b ON b.id = m.batch_id"
)


def _record(row: Sequence[Any]) -> MessageRecord:
    _, message_id, bulk_id, accepted_at, sent_at, ready_at, steps, texts, callback_data = row
    return MessageRecord(
        message_id,
        bulk_id,
        accepted_at,
        sent_at,
        ready_at,
        tuple(StepOutcome.from_json(s) for s in json.loads(steps)),
        json.loads(texts),
        callback_data,
    )


def _flow_dump(flow: Sequence[FlowStep]) -> str:
    return json.dumps([[step.channel, step.sender] for step in flow])


def _scenario(row: Sequence[Any]) -> Scenario:
    key, name, flow, is_default = row
    return Scenario(key, name, tuple(FlowStep(c, s) for c, s in json.loads(flow)), bool(is_default))
