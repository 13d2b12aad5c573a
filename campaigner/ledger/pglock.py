"""One apply per campaign and target across every machine: a PostgreSQL session advisory lock and its holder row.

The lock is ``pg_try_advisory_lock(key)`` (``key``: 64 bits of sha256 of target and campaign) on the
ledger's own connection, held for the whole run: PostgreSQL releases it when that connection ends, so a
holder killed with ``kill -9`` or cut off from the network frees it (a cut is noticed by TCP keepalives,
within about 25 s). The holder row in ``campaigner.locks`` names the holder (pid, host, command, since,
the CI job) to whoever is refused; it is overwritten by the next holder. Session advisory locks need a
session: behind a transaction-pooling proxy (PgBouncer in transaction mode) they do not hold; connect
directly or through session pooling.

``force_unlock`` (``campaigner unlock --force``): refused while the recorded holder runs on this host (stop
it instead); otherwise the holder's server session, if it is still there (a runner that vanished without
closing its connection), is ended with ``pg_terminate_backend``, which releases the lock.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

from campaigner.errors import CampaignerError, LockedError
from campaigner.ledger.lock import SETTLE_SECONDS, LockHolder


class PostgresStore(Protocol):
    """What the lock needs of :class:`campaigner.ledger.postgres.PostgresStore`."""

    @property
    def connection(self) -> Any: ...

    @property
    def usable(self) -> bool:
        """The connection is open and not broken."""
        ...

    def guard(self) -> AbstractContextManager[None]: ...


def lock_key(target: str, campaign: str) -> int:
    """The advisory lock's key: a signed 64-bit integer fixed by target and campaign."""
    digest = hashlib.sha256(f"campaigner\0{target}\0{campaign}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_CI_JOBS: Final = (
    ("GITHUB_RUN_ID", "GitHub Actions run"),
    ("CI_JOB_URL", "GitLab CI job"),
    ("CI_JOB_ID", "GitLab CI job"),
    ("BUILDKITE_BUILD_URL", "Buildkite build"),
    ("CIRCLE_BUILD_URL", "CircleCI build"),
    ("BUILD_URL", "Jenkins build"),
)


def ci_job(environ: Mapping[str, str]) -> str:
    """The CI job this process runs in (``GitHub Actions run https://...``), or ""."""
    run = environ.get("GITHUB_RUN_ID")
    if run:
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo = environ.get("GITHUB_REPOSITORY")
        return f"GitHub Actions run {server}/{repo}/actions/runs/{run}" if repo else f"GitHub Actions run {run}"
    for name, what in _CI_JOBS[1:]:
        value = environ.get(name)
        if value:
            return f"{what} {value}"
    return ""


class PgCampaignLock:
    """The apply lock of one campaign on one target in a PostgreSQL ledger; a context manager."""

    def __init__(self, store: PostgresStore, target: str, campaign: str, *, command: str) -> None:
        self.store = store
        self.target = target
        self.campaign = campaign
        self.command = command
        self.key = lock_key(target, campaign)
        self._held = False

    def __enter__(self) -> PgCampaignLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockedError` naming its holder."""
        if self._held:
            raise RuntimeError(f"the lock of campaign {self.campaign} is already held by this object")
        conn = self.store.connection
        deadline = time.monotonic() + SETTLE_SECONDS
        with self.store.guard():
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row is not None and row[0]:
                    break
                holder, alive = _holder(self.store, self.target, self.campaign)
                if (holder is not None and alive) or time.monotonic() >= deadline:
                    raise LockedError(self.campaign, str(holder or LockHolder(None)))
                time.sleep(0.02)  # between the holder's lock and its row, or a holder just gone
            conn.execute(
                "INSERT INTO locks (target, campaign, backend_pid, pid, host, command, since, ci_job) "
                "VALUES (%s, %s, pg_backend_pid(), %s, %s, %s, %s, %s) ON CONFLICT (target, campaign) DO UPDATE SET "
                "backend_pid = excluded.backend_pid, pid = excluded.pid, host = excluded.host, "
                "command = excluded.command, since = excluded.since, ci_job = excluded.ci_job",
                (
                    self.target,
                    self.campaign,
                    os.getpid(),
                    socket.gethostname(),
                    self.command,
                    time.time(),
                    ci_job(os.environ),
                ),
            )
        self._held = True

    def release(self) -> None:
        """Drop the holder row and the lock; a no-op when not held or when the connection is gone."""
        if not self._held:
            return
        self._held = False
        if not self.store.usable:
            return  # the server released the lock with the session
        conn = self.store.connection
        try:
            with self.store.guard():
                conn.execute(
                    "DELETE FROM locks WHERE target = %s AND campaign = %s AND backend_pid = pg_backend_pid()",
                    (self.target, self.campaign),
                )
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except CampaignerError:
            pass  # the connection broke meanwhile: its lock went with it

    def holder(self) -> LockHolder | None:
        """The current holder (this process included), or None when nobody holds the lock."""
        with self.store.guard():
            holder, alive = _holder(self.store, self.target, self.campaign)
        return holder if alive else None


def _holder(store: PostgresStore, target: str, campaign: str) -> tuple[LockHolder | None, bool]:
    """The recorded holder, and whether its session still holds the advisory lock."""
    row = store.connection.execute(
        "SELECT l.pid, l.host, l.command, l.since, l.ci_job, EXISTS (SELECT 1 FROM pg_locks p "
        "WHERE p.locktype = 'advisory' AND p.pid = l.backend_pid AND p.granted AND p.objsubid = 1 "
        "AND ((p.classid::bigint << 32) | p.objid::bigint) = %s) "
        "FROM locks l WHERE l.target = %s AND l.campaign = %s",
        (lock_key(target, campaign), target, campaign),
    ).fetchone()
    if row is None:
        return None, False
    pid, host, command, since, job, alive = row
    return LockHolder(pid, host, command, since, job), bool(alive)


def _backend(store: PostgresStore, target: str, campaign: str) -> int | None:
    row = store.connection.execute(
        "SELECT backend_pid FROM locks WHERE target = %s AND campaign = %s", (target, campaign)
    ).fetchone()
    return None if row is None else int(row[0])


def force_unlock(store: PostgresStore, target: str, campaign: str) -> LockHolder | None:
    """Release a campaign's lock; returns the holder it took the lock from, None when it was free."""
    with store.guard():
        holder, alive = _holder(store, target, campaign)
        if holder is None or not alive:
            store.connection.execute("DELETE FROM locks WHERE target = %s AND campaign = %s", (target, campaign))
            return None
        if holder.alive_here():
            raise CampaignerError(
                f"error: campaign {campaign} is locked by {holder}, which is still running on this host; "
                f"stop it (kill {holder.pid}) and its lock is released with it"
            )
        backend = _backend(store, target, campaign)
        if backend is not None:
            store.connection.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))
        store.connection.execute("DELETE FROM locks WHERE target = %s AND campaign = %s", (target, campaign))
    return holder
