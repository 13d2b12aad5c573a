"""Helpers the tests import (fixtures are in conftest.py)."""

from __future__ import annotations


class Quiet:
    """A Progress that keeps its phase lines, for tests that call apply or reports directly."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def phase(self, text: str) -> None:
        self.lines.append(text)

    def sending(self, total: int) -> None: ...

    def sent(self, accepted: int, rejected: int, unknown: int) -> None: ...

    def done_sending(self) -> None: ...


GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: object, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity and no user configuration; its stdout."""
    import os
    import subprocess

    env = {**os.environ, **GIT_ENV, "HOME": str(cwd), "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env)
    return done.stdout


def three_campaigns(root: object) -> None:
    """campaigns/a, b, c.yaml under ``root``, each with its own CSV, sharing one exclude list; committed on main."""
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    base = Path(str(root))
    example = (repo / "campaigns" / "spring-sale-2026.yaml").read_text(encoding="utf-8")
    (base / "campaigns" / "recipients").mkdir(parents=True)
    shutil.copy(repo / "campaigns/recipients/opt-outs.csv", base / "campaigns/recipients/opt-outs.csv")
    for name in ("a", "b", "c"):
        shutil.copy(repo / "campaigns/recipients/loyalty.csv", base / f"campaigns/recipients/{name}.csv")
        text = example.replace("campaign: spring-sale-2026", f"campaign: camp-{name}")
        text = text.replace("recipients/loyalty.csv", f"recipients/{name}.csv")
        text = text.replace("dir: reports/spring-sale-2026", f"dir: reports/camp-{name}")
        (base / "campaigns" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (base / ".gitignore").write_text(".campaigner/\ncampaigns/reports/\n", encoding="utf-8")
    git(base, "init", "-q", "-b", "main")
    git(base, "add", "-A")
    git(base, "commit", "-qm", "three campaigns")


def provider_environ(url: str, state: str, *, read_timeout: str | None = "1", **extra: str) -> dict[str, str]:
    """The environment of a ``campaigner`` child process that talks to the sandbox at ``url`` as to a
    provider, with the ledger at ``state``: no inherited provider settings or ``CI``, short timeouts."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOBIP_") and k != "CI"}
    env.update(
        INFOBIP_BASE_URL=url,
        INFOBIP_API_KEY="sandbox",
        CAMPAIGNER_STATE=state,
        CAMPAIGNER_SETTLE_SECONDS="0.3",
        NO_COLOR="1",
    )
    if read_timeout is not None:
        env["CAMPAIGNER_READ_TIMEOUT"] = read_timeout
    env.update(extra)
    return env


def old_ledger(location: str, version: int, messages: list[tuple[str, str, str, str]]) -> None:
    """A ledger as an older campaigner left it: the first ``version`` migrations, then ``messages``
    (target, message_id, campaign, state), on SQLite (a file path) or PostgreSQL (a URL)."""
    import sqlite3
    from pathlib import Path

    from campaigner.ledger.database import _MIGRATIONS, APPLICATION_ID
    from campaigner.ledger.postgres import translate

    insert = "INSERT INTO messages (target, message_id, campaign, state) VALUES (?, ?, ?, ?)"
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA campaigner; SET search_path TO campaigner")
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            for statements in _MIGRATIONS[:version]:
                for statement in statements:
                    conn.execute(translate(statement).encode())
            conn.execute("INSERT INTO meta VALUES ('schema_version', %s)", (str(version),))
            for row in messages:
                conn.execute(translate(insert).encode(), row)
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statements in _MIGRATIONS[:version]:
            for statement in statements:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.executemany(insert, messages)
    finally:
        db.close()
