"""Tests of campaigner.cli's error boundary: an internal error never shows a secret, on screen or in the log."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

import campaigner.campaign.load
from campaigner.cli import _masked

SECRET = "k3y-0123456789\nabcdef"


def test_an_internal_error_is_redacted_on_screen_and_in_the_owner_only_crash_log(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFOBIP_API_KEY", SECRET)

    def boom(paths: object) -> object:
        raise RuntimeError(f"Illegal header value {('App ' + SECRET).encode()!r}, also {SECRET}")

    monkeypatch.setattr(campaigner.campaign.load, "campaign_files", boom)
    result = cli("validate", "campaigns")
    assert result.code == 3
    assert result.err == (
        "campaigner: internal error: RuntimeError: Illegal header value b'App [redacted]', also [redacted] "
        "(traceback in .campaigner/crash.log; please report it)\n"
    )
    log = workdir / ".campaigner" / "crash.log"
    text = log.read_text(encoding="utf-8")
    assert "k3y-0123456789" not in text and "abcdef" not in text and "[redacted]" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_an_internal_error_never_shows_a_url_password(workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(paths: object) -> object:
        raise RuntimeError("connection to postgresql://ci:hunter2@db.example:5432/campaigner failed")

    monkeypatch.setattr(campaigner.campaign.load, "campaign_files", boom)
    result = cli("validate", "campaigns")
    assert "hunter2" not in result.err
    assert "postgresql://ci:[redacted]@db.example:5432/campaigner" in result.err
    assert "hunter2" not in (workdir / ".campaigner" / "crash.log").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("arg", "shown"),
    [
        ("postgresql://ci:s3cret@db/c", "postgresql://ci:***@db/c"),
        ("--state=postgres://db/c?user=ci&password=s3cret&sslmode=require",
         "--state=postgres://db/c?user=ci&password=***&sslmode=require"),
        ("postgresql://ci@db/c", "postgresql://ci@db/c"),
        ("campaigns/spring.yaml", "campaigns/spring.yaml"),
    ],
)  # fmt: skip
def test_crash_log_arguments_are_masked(arg: str, shown: str) -> None:
    assert _masked(arg) == shown
