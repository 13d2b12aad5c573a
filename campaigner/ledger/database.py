"""The ledger's SQLite backend: a file opened in WAL mode and owner-only, its schema and migrations, transactions.

(The PostgreSQL backend, :mod:`campaigner.ledger.postgres`, reads the same migrations translated.)

Every row is keyed by ``target`` (``sandbox`` or the provider's base URL), so that sends to the sandbox
never count for the real provider. Tables (schema version in ``PRAGMA user_version``, migrations below,
applied in one transaction at open; ``PRAGMA application_id`` marks the file as campaigner's):

- ``scenarios(target, name, key, flow_json, updated_at)``: the scenario keys the provider gave us.
- ``campaigns(target, campaign, bulk_id, first_seen, reports_state)``: campaigns this ledger has sent or
  adopted; ``reports_state`` says whether reports the provider handed out may have been lost.
- ``messages(target, message_id, campaign, recipient_id, row, payload_hash, state, attempts,
  requested_at, answered_at, check_after, provider_status_json, reason, adopted, send_at)``: one row per
  message; ``send_at`` is the ``sendAt`` it was sent with (``send.localHours``), NULL for at once.
- ``reports(target, message_id, bulk_id, status_group, final, raw_json, source, received_at)``: one
  delivery report per message, stored raw (``source`` is ``reports``, or ``logs`` when it was read from
  the provider's logs; a real report replaces a logs one, never the reverse; a final report is kept).
- ``canaries(target, campaign, digest, state, size, wait_until, reason, created_at, decided_at)`` and
  ``canary_messages(target, campaign, digest, message_id)``: a canary and its sample, per plan digest;
  ``stops(target, campaign, reason, stopped_at)``: an apply that ``send.stopWhen`` stopped.
- ``latencies(target, p50, p95, requests, concurrency, measured_at)``: the provider's latency as the last
  apply measured it (seconds; over ``requests`` send requests at ``concurrency`` in flight).

Errors (busy, corrupt, read-only, another program's database, a newer schema) become one line naming
the file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from campaigner.errors import CampaignerError, display_path
from campaigner.ledger.store import Cursor, Params

log = logging.getLogger("campaigner")

APPLICATION_ID: Final = 0x43414D50  # "CAMP"
DEFAULT_BUSY_TIMEOUT: Final = 10.0
WAL_CHECKPOINT_PAGES: Final = 10_000  # pages of WAL before an automatic checkpoint (SQLite's default: 1,000)
CACHE_KIB: Final = 64 * 1024  # the connection's page cache (SQLite's default: 2 MiB)
STATES: Final = ("planned", "sending", "accepted", "rejected", "unknown")  # messages.state

StatusJson = Mapping[str, Any] | str | None

# Each entry migrates from version i to i + 1; never edit a released entry, append a new one.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE scenarios (
            target TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, flow_json TEXT NOT NULL,
            updated_at REAL NOT NULL, PRIMARY KEY (target, name)) STRICT""",
        """CREATE TABLE campaigns (
            target TEXT NOT NULL, campaign TEXT NOT NULL, bulk_id TEXT NOT NULL, first_seen REAL NOT NULL,
            PRIMARY KEY (target, campaign)) STRICT""",
        """CREATE TABLE messages (
            target TEXT NOT NULL, message_id TEXT NOT NULL, campaign TEXT NOT NULL,
            recipient_id TEXT, row INTEGER, payload_hash TEXT,
            state TEXT NOT NULL CHECK (state IN ('planned','sending','accepted','rejected','unknown')),
            attempts INTEGER NOT NULL DEFAULT 0, requested_at REAL, answered_at REAL, check_after REAL,
            provider_status_json TEXT, reason TEXT,
            adopted INTEGER NOT NULL DEFAULT 0 CHECK (adopted IN (0, 1)),
            PRIMARY KEY (target, message_id)) STRICT""",
        "CREATE INDEX messages_by_state ON messages (target, campaign, state)",
        "CREATE INDEX messages_by_row ON messages (target, campaign, row, message_id)",
        """CREATE TABLE reports (
            target TEXT NOT NULL, message_id TEXT NOT NULL, bulk_id TEXT,
            status_group TEXT NOT NULL, final INTEGER NOT NULL CHECK (final IN (0, 1)),
            raw_json TEXT NOT NULL, source TEXT NOT NULL CHECK (source IN ('reports', 'logs')),
            received_at REAL NOT NULL, PRIMARY KEY (target, message_id)) STRICT""",
    ),
    (
        # Messages in doubt are read a page at a time in message-id order (a provider outage can leave a
        # million of them); this index serves that and everything the old (target, campaign, state) one did.
        "CREATE INDEX messages_by_state_id ON messages (target, campaign, state, message_id)",
        "DROP INDEX messages_by_state",
    ),
    (
        # Reports are returned once: NULL when every report fetched was stored; 'fetching' while a request
        # for them is out (left behind by a crash); 'lost' when a request's answer never came.
        "ALTER TABLE campaigns ADD COLUMN reports_state TEXT CHECK (reports_state IN ('fetching', 'lost'))",
    ),
    (
        # send.localHours: the sendAt a message was sent with (epoch seconds; NULL: at once), so reports
        # are awaited only for what is due and the summary and status count the rest as scheduled.
        "ALTER TABLE messages ADD COLUMN send_at REAL",
    ),
    (
        # The canary (issue 12): one per plan digest, its sample stored before any of it is sent.
        """CREATE TABLE canaries (
            target TEXT NOT NULL, campaign TEXT NOT NULL, digest TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('sending','waiting','passed','failed','inconclusive','accepted')),
            size INTEGER NOT NULL, wait_until REAL, reason TEXT, created_at REAL NOT NULL, decided_at REAL,
            PRIMARY KEY (target, campaign, digest)) STRICT""",
        """CREATE TABLE canary_messages (
            target TEXT NOT NULL, campaign TEXT NOT NULL, digest TEXT NOT NULL, message_id TEXT NOT NULL,
            PRIMARY KEY (target, campaign, digest, message_id)) STRICT""",
        # An apply that send.stopWhen stopped: a re-run continues only with --resume-stopped.
        """CREATE TABLE stops (
            target TEXT NOT NULL, campaign TEXT NOT NULL, reason TEXT NOT NULL, stopped_at REAL NOT NULL,
            PRIMARY KEY (target, campaign)) STRICT""",
    ),
    (
        # The provider's latency as apply measured it (issue 14), one figure per target, for the plan's
        # duration estimate: seconds from a send request leaving to its answer (median and 95th percentile).
        """CREATE TABLE latencies (
            target TEXT NOT NULL PRIMARY KEY, p50 REAL NOT NULL, p95 REAL NOT NULL, requests INTEGER NOT NULL,
            concurrency INTEGER NOT NULL, measured_at REAL NOT NULL) STRICT""",
    ),
    (
        # Only the messages in doubt are read by state a page at a time (issue 14). An index of every
        # message by state put each claim and each answer on a page of its own (message ids are random),
        # so at a million messages the ledger wrote about a page per message per state change; this one
        # holds only what is in flight or in doubt and stays a few pages deep. Queries that use it repeat
        # its condition (SQLite uses a partial index only for a WHERE that contains the index's own).
        "CREATE INDEX messages_in_doubt ON messages (target, campaign, state, message_id) "
        "WHERE state IN ('sending', 'unknown')",
        "DROP INDEX messages_by_state_id",
    ),
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)


class SqliteTx:
    """A transaction on the SQLite connection (the :class:`~campaigner.ledger.store.Tx` interface)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> Cursor:
        return self._conn.executemany(sql, rows)


class LedgerFile:
    """The SQLite file at ``path`` (created with its directory when missing), migrated; a context manager."""

    kind: Final = "sqlite"
    planner_hint: Final = "+"

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._sync = ""
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open()

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _open(self) -> sqlite3.Connection:
        with self._guard():
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # phone numbers live here: owner-only (SQLite gives -wal/-shm the same mode)
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(str(self.path), timeout=self._busy_timeout, isolation_level=None)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                mode = self._use_wal(conn)
                if str(mode).lower() != "wal":
                    raise CampaignerError(f"{self._where}: error: cannot use WAL mode (journal_mode={mode})")
                conn.execute("PRAGMA synchronous = FULL")
                # Message ids are random, so a batch of claims or answers touches pages all over the indexes;
                # checkpointing every 40 MB of WAL (not 4) writes a page rewritten by many commits back once
                # (measured: claims and answers of 200,000 messages in about half the time).
                conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
                # The indexes by message id of a million messages and their reports are ~70 MB each: SQLite's
                # 2 MB default cache re-read their pages from the file for nearly every claim, answer and
                # report (allocated as used, so a small ledger costs no more).
                conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
                self._sync = "FULL"
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
            return conn

    def _use_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL; returns the journal mode in force.

        SQLite answers "database is locked" at once, without its busy handler, when another process is
        creating or migrating the same file (two applies started together on a fresh ledger): retried
        with a short backoff until the busy timeout.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(0.1, delay * 2)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            foreign = app_id not in (0, APPLICATION_ID) or (
                app_id == 0 and conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0
            )
            if foreign:
                raise CampaignerError(f"{self._where}: error: not a campaigner ledger (another program's database)")
            if version > SCHEMA_VERSION:
                raise CampaignerError(
                    f"{self._where}: error: the ledger was written by a newer campaigner (schema version "
                    f"{version}, this one knows up to {SCHEMA_VERSION}); upgrade campaigner"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                log.debug("ledger %s migrated from schema %d to %d", self.path, version, SCHEMA_VERSION)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    # -- plumbing -----------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return display_path(self.path)

    @property
    def where(self) -> str:
        return self._where

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the ledger is closed")
        return self._conn

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Translate sqlite3 and file-system errors into one-line campaigner errors naming the file."""
        try:
            yield
        except sqlite3.ProgrammingError:
            raise
        except sqlite3.Error as exc:
            raise CampaignerError(f"{self._where}: error: {self._explain(exc)}") from exc
        except OSError as exc:
            raise CampaignerError(f"{self._where}: error: cannot open the ledger: {exc.strerror or exc}") from exc

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        low = text.lower()
        if "locked" in low or "busy" in low:
            return (
                f"the ledger is busy: another process kept it locked for more than {self._busy_timeout:g} s; try again"
            )
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return (
                f"the ledger is not a SQLite database or is corrupt ({text}); move it aside to start "
                "afresh (apply then adopts from the provider's logs what was sent in the last 48 hours)"
            )
        if "unable to open" in low:
            return f"cannot open the ledger ({text})"
        if "readonly" in low:
            return f"the ledger is read-only ({text})"
        return f"ledger: {text}"

    @contextmanager
    def write(self, *, full: bool) -> Iterator[SqliteTx]:
        with self._write(full=full) as conn:
            yield SqliteTx(conn)

    @contextmanager
    def read(self) -> Iterator[SqliteTx]:
        with self._read() as conn:
            yield SqliteTx(conn)

    def stream(self, sql: str, params: Params, *, size: int) -> Iterator[Any]:
        with self._guard():
            cursor = self._db.execute(sql, params)
            try:
                while batch := cursor.fetchmany(size):
                    yield from batch
            finally:
                cursor.close()

    def lock(self, target: str, campaign: str, *, command: str) -> Any:
        """The flock on a lock file beside the ledger (:mod:`campaigner.ledger.lock`)."""
        from campaigner.ledger.lock import CampaignLock

        return CampaignLock(self.path.parent, target, campaign, command=command)

    def force_unlock(self, target: str, campaign: str) -> Any:
        from campaigner.ledger.lock import force_unlock

        return force_unlock(self.path.parent, target, campaign)

    @contextmanager
    def _write(self, *, full: bool) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; ``full`` commits it with ``synchronous=FULL``."""
        conn = self._db
        with self._guard():
            want = "FULL" if full else "NORMAL"
            if self._sync != want:
                conn.execute(f"PRAGMA synchronous = {want}")  # not allowed inside a transaction
                self._sync = want
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot across several queries."""
        conn = self._db
        with self._guard():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")


def dump_json(status: StatusJson) -> str | None:
    if status is None or isinstance(status, str):
        return status
    return json.dumps(status, ensure_ascii=False, separators=(",", ":"))


def load_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}
