"""The apply lock through the ledger (`Ledger.lock`) on both backends, and what only PostgreSQL's has (#10)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

import campaigner
from campaigner.cli import main
from campaigner.errors import CampaignerError, LockedError
from campaigner.ledger.messages import Ledger
from campaigner.ledger.pglock import ci_job, lock_key

T = "sandbox"
C = "spring-sale"
REPO = Path(campaigner.__file__).resolve().parents[1]
HOST = socket.gethostname()
SINCE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"

_HOLD = """
import sys, time
from campaigner.ledger.messages import Ledger
ledger = Ledger(sys.argv[1])
lock = ledger.lock(sys.argv[2], sys.argv[3], command="campaigner apply campaigns/x.yaml")
lock.__enter__()
print("locked", flush=True)
time.sleep(120)
"""


@contextmanager
def _held(ledger_location: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GITHUB_RUN_ID": "77", "GITHUB_REPOSITORY": "team/c"}
    Ledger(ledger_location).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, ledger_location, T, C],
        env=env,
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


@pytest.fixture
def holder(ledger_location: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of (T, C) in the ledger (each backend) until the test kills it."""
    with _held(ledger_location) as proc:
        yield proc


@pytest.fixture
def pg_holder(postgres_url: str) -> Iterator[subprocess.Popen[str]]:
    with _held(postgres_url) as proc:
        yield proc


def test_a_second_holder_is_refused_naming_the_first(ledger_location: str, holder: subprocess.Popen[str]) -> None:
    with Ledger(ledger_location) as ledger, pytest.raises(LockedError) as info:
        ledger.lock(T, C, command="campaigner apply again").__enter__()
    job = " in GitHub Actions run https://github.com/team/c/actions/runs/77" if "://" in ledger_location else ""
    assert re.fullmatch(
        rf"error: campaign {C} is locked by pid {holder.pid} on host {re.escape(HOST)} "
        rf"\(campaigner apply campaigns/x\.yaml\) since {SINCE}{re.escape(job)}; "
        rf"if that process is gone, run `campaigner unlock {C} --force`",
        str(info.value),
    ), str(info.value)


def test_other_campaigns_and_targets_are_not_locked(ledger_location: str, holder: subprocess.Popen[str]) -> None:
    with Ledger(ledger_location) as ledger:
        with ledger.lock(T, "other", command="a") as one, ledger.lock("https://api.infobip.com", C, command="b") as two:
            assert one.held and two.held
        with ledger.lock(T, "other", command="again") as again:  # released on exit
            assert again.held


def test_a_holder_killed_with_sigkill_frees_the_lock(ledger_location: str, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    deadline = time.monotonic() + 10  # the server notices the closed socket at once; allow for a busy machine
    with Ledger(ledger_location) as ledger:
        while True:
            try:
                with ledger.lock(T, C, command="campaigner apply next") as lock:
                    assert lock.held
                break
            except LockedError:
                assert time.monotonic() < deadline
                time.sleep(0.1)


# -- PostgreSQL only ---------------------------------------------------------------------------------


def test_unlock_force_ends_the_session_of_a_holder_that_vanished(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A runner that vanished without closing its connection: the server still holds its session, and its
    # lock. Its row names another host (it cannot be checked from here): --force ends that session.
    monkeypatch.chdir(tmp_path)
    with Ledger(postgres_url) as stuck:
        lock = stuck.lock(T, C, command="campaigner apply campaigns/x.yaml")
        lock.__enter__()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("UPDATE campaigner.locks SET host = 'runner-7', pid = 4242")
        assert main(["unlock", C, "--force", "--target", "sandbox", "--state", postgres_url]) == 0
        out, err = capsys.readouterr()
        assert re.fullmatch(
            rf"Released the lock of campaign {C} on target sandbox, held by pid 4242 on host runner-7 "
            rf"\(campaigner apply campaigns/x\.yaml\) since {SINCE}\.\n",
            out,
        ), out
        assert "cannot be checked from here" in err
        with pytest.raises(CampaignerError) as info:
            stuck.campaign_known(T, C)  # its session was ended
        assert "lost the connection to the ledger" in str(info.value)
        lock.release()  # a no-op on a lost connection
    with Ledger(postgres_url) as ledger, ledger.lock(T, C, command="campaigner apply next") as lock:
        assert lock.held


def test_unlock_force_refuses_a_holder_alive_on_this_host(
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    pg_holder: subprocess.Popen[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["unlock", C, "--force", "--target", "sandbox", "--state", postgres_url]) == 1
    err = capsys.readouterr().err
    assert f"which is still running on this host; stop it (kill {pg_holder.pid})" in err


def test_a_password_never_shows(postgres_server: str) -> None:
    bad = postgres_server.replace("postgres:@", "postgres:s3cr3t-pw@").replace("host=", "host=/nonexistent")
    with pytest.raises(CampaignerError) as info:
        Ledger(bad)
    assert "s3cr3t-pw" not in str(info.value)
    assert str(info.value).startswith("postgresql://postgres:***@/postgres?host=/nonexistent")
    assert ": error: cannot connect to the ledger: " in str(info.value)


def test_ci_job_names_and_lock_keys() -> None:
    assert ci_job({}) == ""
    assert ci_job({"GITHUB_RUN_ID": "9"}) == "GitHub Actions run 9"
    assert ci_job({"CI_JOB_ID": "31", "CI_JOB_URL": "https://gitlab.example/j/31"}) == (
        "GitLab CI job https://gitlab.example/j/31"
    )
    assert ci_job({"CI_JOB_ID": "31"}) == "GitLab CI job 31"
    assert lock_key("sandbox", "a") != lock_key("sandbox", "b") != lock_key("https://api.infobip.com", "a")
    assert -(2**63) <= lock_key("sandbox", "a") < 2**63
