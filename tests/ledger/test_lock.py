"""Tests of campaigner.ledger.lock: one holder at a time, named when refused, freed by the kernel on kill -9."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import campaigner
from campaigner.errors import CampaignerError, LockedError
from campaigner.ledger.lock import CampaignLock, LockHolder, current_holder, force_unlock, lock_path, pid_alive

T = "sandbox"
C = "spring-sale"
REPO = Path(campaigner.__file__).resolve().parents[1]
HOST = socket.gethostname()
SINCE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"

_HOLD = """
import sys, time
from pathlib import Path
from campaigner.ledger.lock import CampaignLock
lock = CampaignLock(Path(sys.argv[1]), sys.argv[2], sys.argv[3], command="campaigner apply campaigns/x.yaml")
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


@pytest.fixture
def holder_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding the lock of (T, C) under tmp_path until the test kills it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path), T, C],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n", proc.stderr.read() if proc.stderr else ""
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(proc.stdout)
    assert not pid_alive(pid)
    return pid


def doctor_record(lock: CampaignLock, **changes: object) -> None:
    record = json.loads(lock.path.read_text())
    record.update(changes)
    lock.path.write_text(json.dumps(record))


def test_holder_reads_like_a_sentence() -> None:
    since = datetime(2026, 11, 28, 10, 4, 5, tzinfo=UTC).timestamp()
    holder = LockHolder(4242, "ci-7", "campaigner apply campaigns/x.yaml", since)
    assert str(holder) == "pid 4242 on host ci-7 (campaigner apply campaigns/x.yaml) since 2026-11-28 10:04:05 UTC"
    assert str(LockHolder(None)) == "an unknown process (its lock file holds no record)"


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    with CampaignLock(tmp_path, T, C, command="campaigner apply campaigns/x.yaml") as first:
        assert first.held
        second = CampaignLock(tmp_path, T, C, command="campaigner apply again")
        with pytest.raises(LockedError) as info:
            second.acquire()
        assert not second.held
        pattern = (
            rf"error: campaign spring-sale is locked by pid {os.getpid()} on host {re.escape(HOST)} "
            rf"\(campaigner apply campaigns/x\.yaml\) since {SINCE}; "
            r"if that process is gone, run `campaigner unlock spring-sale --force`"
        )
        assert re.fullmatch(pattern, str(info.value))
        assert second.holder() == first.holder()
        holder = first.holder()
        assert holder is not None and holder.pid == os.getpid()
    assert not first.path.exists()
    with CampaignLock(tmp_path, T, C, command="campaigner apply again"):
        pass


def test_locks_are_per_campaign_and_target(tmp_path: Path) -> None:
    with (
        CampaignLock(tmp_path, T, C, command="a"),
        CampaignLock(tmp_path, T, "other", command="b"),
        CampaignLock(tmp_path, "https://api.infobip.com", C, command="c"),
    ):
        assert len(list((tmp_path / "locks").iterdir())) == 3


def test_a_process_holding_the_lock_refuses_us(tmp_path: Path, holder_process: subprocess.Popen[str]) -> None:
    with pytest.raises(LockedError) as info:
        CampaignLock(tmp_path, T, C, command="campaigner apply").acquire()
    assert f"locked by pid {holder_process.pid} on host {HOST} (campaigner apply campaigns/x.yaml)" in str(info.value)
    holder = current_holder(tmp_path, T, C)
    assert holder is not None and holder.pid == holder_process.pid and holder.alive_here()


def test_the_lock_is_freed_when_its_holder_is_killed(tmp_path: Path, holder_process: subprocess.Popen[str]) -> None:
    holder_process.kill()  # SIGKILL: no clean-up code runs
    holder_process.communicate(timeout=30)
    assert lock_path(tmp_path, T, C).exists()  # its record is left behind...
    assert current_holder(tmp_path, T, C) is None  # ...but nobody holds the lock
    with CampaignLock(tmp_path, T, C, command="campaigner apply") as lock:
        holder = lock.holder()
        assert holder is not None and holder.pid == os.getpid()


def test_a_stale_record_is_overwritten(tmp_path: Path) -> None:
    path = lock_path(tmp_path, T, C)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": dead_pid(), "host": HOST, "command": "old", "since": 0}))
    assert current_holder(tmp_path, T, C) is None
    with CampaignLock(tmp_path, T, C, command="new") as lock:
        assert json.loads(path.read_text())["command"] == "new"
        assert lock.holder() == LockHolder(os.getpid(), HOST, "new", json.loads(path.read_text())["since"])


def test_force_unlock_without_a_lock(tmp_path: Path) -> None:
    assert force_unlock(tmp_path, T, C) is None
    path = lock_path(tmp_path, T, C)
    path.parent.mkdir(parents=True)
    path.write_text("{}")  # a file left behind, nobody holding it
    assert force_unlock(tmp_path, T, C) is None
    assert not path.exists()


def test_force_unlock_refuses_a_holder_alive_on_this_host(
    tmp_path: Path, holder_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(CampaignerError) as info:
        force_unlock(tmp_path, T, C)
    assert re.fullmatch(
        rf"error: campaign spring-sale is locked by pid {holder_process.pid} on host {re.escape(HOST)} "
        rf"\(campaigner apply campaigns/x\.yaml\) since {SINCE}, which is still running on this host; "
        rf"stop it \(kill {holder_process.pid}\) and its lock is released with it",
        str(info.value),
    )
    assert lock_path(tmp_path, T, C).exists()
    holder = force_unlock(tmp_path, T, C, even_if_alive=True)
    assert holder is not None and holder.pid == holder_process.pid
    assert not lock_path(tmp_path, T, C).exists()
    with CampaignLock(tmp_path, T, C, command="campaigner apply"):  # a new lock file, a new lock
        pass


def test_force_unlock_takes_a_lock_whose_recorded_holder_is_dead(tmp_path: Path) -> None:
    # the flock is held (as by a forked child that inherited the descriptor) but the recorded pid is gone
    lock = CampaignLock(tmp_path, T, C, command="campaigner apply")
    lock.acquire()
    try:
        pid = dead_pid()
        doctor_record(lock, pid=pid)
        with pytest.raises(LockedError, match=f"locked by pid {pid} on host"):
            CampaignLock(tmp_path, T, C, command="x").acquire()
        holder = force_unlock(tmp_path, T, C)
        assert holder is not None and holder.pid == pid
        assert not lock.path.exists()
        with CampaignLock(tmp_path, T, C, command="after"):
            pass
    finally:
        lock.release()


def test_a_holder_on_another_host_is_reported_as_such(tmp_path: Path) -> None:
    with CampaignLock(tmp_path, T, C, command="campaigner apply") as lock:
        doctor_record(lock, host="ci-7", pid=1)
        holder = current_holder(tmp_path, T, C)
        assert holder is not None and holder.host == "ci-7" and holder.alive_here() is None
        with pytest.raises(LockedError, match="locked by pid 1 on host ci-7"):
            CampaignLock(tmp_path, T, C, command="x").acquire()
        assert force_unlock(tmp_path, T, C) == holder


def test_acquiring_twice_on_one_object_is_a_bug(tmp_path: Path) -> None:
    with CampaignLock(tmp_path, T, C, command="a") as lock, pytest.raises(RuntimeError):
        lock.acquire()
    lock.release()  # releasing a released lock is a no-op
