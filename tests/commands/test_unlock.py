"""Tests of `campaigner unlock`: exit codes and the lines it prints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from campaigner.cli import main
from campaigner.ledger.lock import CampaignLock, lock_path

C = "spring-sale"
HOST = socket.gethostname()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (
        "INFOBIP_BASE_URL",
        "INFOBIP_API_KEY",
        "INFOBIP_USERNAME",
        "INFOBIP_PASSWORD",
        "CAMPAIGNER_STATE",
        "CAMPAIGNER_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / ".campaigner"


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def held_by_dead_process(lock: CampaignLock) -> int:
    """Take the lock, then make its record name a process that is gone (the flock stays held)."""
    lock.acquire()
    pid = dead_pid()
    record = json.loads(lock.path.read_text())
    record.update(pid=pid, since=1795860245.0)  # 2026-11-28 10:04:05 UTC
    lock.path.write_text(json.dumps(record))
    return pid


def test_unlock_needs_force(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unlock", C]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: unlock needs --force: releasing the lock of campaign spring-sale lets another apply start; "
        "make sure none is running\n"
    )


def test_unlock_without_a_lock(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unlock", C, "--force"]) == 0
    assert capsys.readouterr().out == "No lock held for campaign spring-sale on target sandbox.\n"


def test_unlock_releases_a_lock_whose_holder_is_gone(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = CampaignLock(state_dir, "sandbox", C, command="campaigner apply campaigns/x.yaml")
    try:
        pid = held_by_dead_process(lock)
        assert main(["unlock", C, "--force"]) == 0
        assert capsys.readouterr().out == (
            f"Released the lock of campaign spring-sale on target sandbox, held by pid {pid} on host {HOST} "
            "(campaigner apply campaigns/x.yaml) since 2026-11-28 10:04:05 UTC.\n"
        )
        assert not lock.path.exists()
    finally:
        lock.release()


def test_unlock_of_a_holder_on_another_host_warns(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = CampaignLock(state_dir, "sandbox", C, command="campaigner apply campaigns/x.yaml")
    try:
        lock.acquire()
        record = json.loads(lock.path.read_text())
        record.update(host="ci-runner-7", pid=4242)
        lock.path.write_text(json.dumps(record))
        assert main(["unlock", C, "--force"]) == 0
        out, err = capsys.readouterr()
        assert out.startswith(
            "Released the lock of campaign spring-sale on target sandbox, held by pid 4242 on host ci-runner-7"
        )
        assert err == (
            "warning: the holder ran on host ci-runner-7, which cannot be checked from here; if that apply is "
            "still running, stop it before applying again, or messages it has claimed could be sent twice\n"
        )
    finally:
        lock.release()


def test_unlock_refuses_a_holder_still_running(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with CampaignLock(state_dir, "sandbox", C, command="campaigner apply campaigns/x.yaml") as lock:
        assert main(["unlock", C, "--force"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: campaign spring-sale is locked by pid {os.getpid()} on host {HOST} ")
        assert err.endswith(
            f"which is still running on this host; stop it (kill {os.getpid()}) and its lock is released with it\n"
        )
        assert lock.path.exists()


def test_unlock_by_campaign_file(state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "x.yaml").write_text("campaign: spring-sale\nscenario: {name: x}\n")
    lock = CampaignLock(state_dir, "sandbox", C, command="campaigner apply")
    try:
        held_by_dead_process(lock)
        assert main(["unlock", "campaigns/x.yaml", "--force"]) == 0
        assert capsys.readouterr().out.startswith("Released the lock of campaign spring-sale on target sandbox")
    finally:
        lock.release()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nope.yaml", "nope.yaml: error: no such file\n"),
        (
            "campaigns/bad.yaml",
            "campaigns/bad.yaml:2:1: error: not valid YAML: expected ',' or ']', but got '<stream end>'\n",
        ),
        (
            "campaigns/noid.yml",
            "campaigns/noid.yml: error: no valid `campaign:` id in this file (expected [a-z0-9][a-z0-9._-]{0,63})\n",
        ),
        (
            "Spring Sale",
            "error: 'Spring Sale' is neither a campaign id ([a-z0-9][a-z0-9._-]{0,63}) "
            "nor a .yaml/.yml campaign file\n",
        ),
    ],
    ids=["missing-file", "bad-yaml", "no-id", "bad-id"],
)
def test_unlock_names_bad_arguments(
    state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "bad.yaml").write_text("campaign: [unclosed\n")
    (tmp_path / "campaigns" / "noid.yml").write_text("description: no id\n")
    assert main(["unlock", text, "--force"]) == 1
    assert capsys.readouterr().err == expected


def test_unlock_uses_the_provider_target_from_the_environment(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = CampaignLock(state_dir, "https://api.infobip.com", C, command="campaigner apply")
    try:
        held_by_dead_process(lock)
        monkeypatch.setenv("INFOBIP_BASE_URL", "API.infobip.com/")
        monkeypatch.setenv("INFOBIP_API_KEY", "secret")
        assert main(["unlock", C, "--force", "--target", "sandbox"]) == 0
        assert capsys.readouterr().out == "No lock held for campaign spring-sale on target sandbox.\n"
        assert main(["unlock", C, "--force"]) == 0
        assert capsys.readouterr().out.startswith(
            "Released the lock of campaign spring-sale on target https://api.infobip.com, held by pid "
        )
    finally:
        lock.release()


def test_unlock_follows_campaigner_state(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAMPAIGNER_STATE", "ci/ledger.db")
    lock = CampaignLock(tmp_path / "ci", "sandbox", C, command="campaigner apply")
    try:
        held_by_dead_process(lock)
        assert lock.path == lock_path(tmp_path / "ci", "sandbox", C)
        assert main(["unlock", C, "--force"]) == 0
        assert capsys.readouterr().out.startswith("Released the lock")
    finally:
        lock.release()


def test_target_provider_needs_a_base_url(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unlock", C, "--force", "--target", "provider"]) == 1
    assert capsys.readouterr().err.startswith("error: --target provider needs INFOBIP_BASE_URL and INFOBIP_API_KEY")
