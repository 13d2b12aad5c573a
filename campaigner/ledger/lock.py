"""One apply per campaign and target at a time: an ``flock`` on a lock file that records its holder.

The lock file is ``<state dir>/locks/<sha256 of target and campaign>.lock``. ``flock(LOCK_EX |
LOCK_NB)`` refuses a second process at once, and the kernel releases it when the holder exits or is
killed (even by ``kill -9``), so a dead holder never leaves a stale lock: its record left in the file
is simply overwritten by the next holder. The holder writes ``{pid, host, command, since, target,
campaign}`` as JSON into the file after locking; whoever is refused reads it for
:class:`~campaigner.errors.LockedError`. Releasing unlinks the file while still holding it; an acquirer
checks, once it holds the lock, that the path still names the file it locked, and starts again if not.

``force_unlock`` (for ``campaigner unlock --force``) removes the lock file, so that the next apply can
lock a new one. It refuses while the recorded holder is alive on this host (stop it instead; its lock
goes with it) unless ``even_if_alive=True``. A holder on another host (a shared state directory) cannot
be checked from here and is released. Either way two applies could then run at once, and a message one
has claimed but not yet sent could go out twice: the other apply takes those claims for a crash's and,
once the settle time passes with no trace of them in the provider's logs, sends them itself. The ledger's
claims keep two applies from claiming the same message, not from that. So release only a lock whose
holder is gone. Locks on a network file system depend on that file system's locking; keep the state
directory local.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final

from campaigner.errors import CampaignerError, LockedError, display_path

LOCKS_DIR: Final = "locks"
# A refused acquirer retries this long when the record looks stale or missing: the holder may be
# between locking and writing its record, or the "holder" may be a probe by `holder()`.
SETTLE_SECONDS: Final = 0.5


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or last held) a lock; ``pid`` is None when the lock file has no readable record."""

    pid: int | None
    host: str = ""
    command: str = ""
    since: float | None = None
    ci_job: str = ""  # e.g. "GitHub Actions run https://github.com/o/r/actions/runs/1" (PostgreSQL ledgers)

    def __str__(self) -> str:
        if self.pid is None:
            return "an unknown process (its lock file holds no record)"
        since = "" if self.since is None else " since " + _utc(self.since)
        command = f" ({self.command})" if self.command else ""
        job = f" in {self.ci_job}" if self.ci_job else ""
        return f"pid {self.pid} on host {self.host}{command}{since}{job}"

    def alive_here(self) -> bool | None:
        """True/False when the holder ran on this host; None when it cannot be told (another host)."""
        if self.pid is None or self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)


def lock_path(state_dir: Path, target: str, campaign: str) -> Path:
    digest = hashlib.sha256(f"{target}\0{campaign}".encode()).hexdigest()[:32]
    return Path(state_dir) / LOCKS_DIR / f"{digest}.lock"


class CampaignLock:
    """The apply lock of one campaign on one target; a context manager (``acquire``/``release``)."""

    def __init__(self, state_dir: Path, target: str, campaign: str, *, command: str) -> None:
        self.target = target
        self.campaign = campaign
        self.command = command
        self.path = lock_path(state_dir, target, campaign)
        self._fd: int | None = None

    def __enter__(self) -> CampaignLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockedError` naming its holder."""
        if self._fd is not None:
            raise RuntimeError(f"the lock of campaign {self.campaign} is already held by this object")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CampaignerError(
                f"{display_path(self.path.parent)}: error: cannot create the lock directory: {exc.strerror}"
            ) from exc
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            fd = _open(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_record(fd)
                os.close(fd)
                settled = holder.pid is not None and holder.alive_here() is not False
                if settled or time.monotonic() >= deadline:
                    raise LockedError(self.campaign, str(holder)) from None
                time.sleep(0.01)
                continue
            except OSError as exc:
                os.close(fd)
                raise CampaignerError(
                    f"{display_path(self.path)}: error: cannot lock the lock file: {exc.strerror}"
                ) from exc
            if not _same_file(fd, self.path):  # released (unlinked) between our open and our flock
                os.close(fd)
                continue
            self._write_record(fd)
            self._fd = fd
            return

    def release(self) -> None:
        """Remove the lock file (if it is still ours) and let go of the lock; a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def holder(self) -> LockHolder | None:
        """The current holder (this process included), or None when nobody holds the lock."""
        if self._fd is not None:
            return _read_record(self._fd)
        return current_holder(self.path.parent.parent, self.target, self.campaign)

    def _write_record(self, fd: int) -> None:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": time.time(),
            "target": self.target,
            "campaign": self.campaign,
        }
        data = json.dumps(record, ensure_ascii=False).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def current_holder(state_dir: Path, target: str, campaign: str) -> LockHolder | None:
    """Who holds the lock now, or None (a record left by a dead holder does not count)."""
    path = lock_path(state_dir, target, campaign)
    try:
        fd = _open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_record(fd)
        return None  # nobody holds it; closing the descriptor drops our probe
    finally:
        os.close(fd)


def force_unlock(state_dir: Path, target: str, campaign: str, *, even_if_alive: bool = False) -> LockHolder | None:
    """Remove the lock of a campaign; returns the holder it took the lock from, None when it was free.

    Refuses (:class:`CampaignerError`) when the holder is a live process on this host, unless
    ``even_if_alive``: stop that process instead, and its lock goes with it.
    """
    path = lock_path(state_dir, target, campaign)
    try:
        fd = _open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    holder: LockHolder | None = None  # stays None when the lock is free: a file left behind
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record(fd)
            if holder.alive_here() and not even_if_alive:
                raise CampaignerError(
                    f"error: campaign {campaign} is locked by {holder}, which is still running on this host; "
                    f"stop it (kill {holder.pid}) and its lock is released with it"
                ) from None
        if _same_file(fd, path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return holder
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _open(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CampaignerError(f"{display_path(path)}: error: cannot open the lock file: {exc.strerror}") from exc


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_record(fd: int) -> LockHolder:
    try:
        data = os.pread(fd, 65536, 0)
        record = json.loads(data.decode())
        pid = record["pid"]
        since = record.get("since")
        if not isinstance(pid, int) or not isinstance(since, int | float | None):
            raise ValueError("bad record")
        return LockHolder(pid, str(record.get("host", "")), str(record.get("command", "")), since)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return LockHolder(None)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
