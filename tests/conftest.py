"""Shared fixtures: an isolated working folder, the CLI in-process, a sandbox server on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from campaigner.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "campaigns"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder with the example campaigns, no provider configured, a private ledger."""
    for name in (
        "INFOBIP_BASE_URL",
        "INFOBIP_API_KEY",
        "INFOBIP_USERNAME",
        "INFOBIP_PASSWORD",
        "CI",
        "NO_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(EXAMPLES, tmp_path / "campaigns", ignore=shutil.ignore_patterns("reports"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGNER_STATE", str(tmp_path / ".campaigner" / "state.db"))
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> object:
    """Run ``campaigner ARGS`` in-process: ``cli("plan", "x.yaml") -> Result(code, out, err)``."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[object]:
    """A sandbox server on a free loopback port, with its own state file."""
    from campaigner.sandbox.server import SandboxServer

    server = SandboxServer(db_path=tmp_path / "sandbox-fixture.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()
