"""Tests of campaigner.ledger.postgres: the schema in PostgreSQL, its migrations and versions (#10).

The ledger's behaviour (claims, answers, reports, kills, two processes) is tested on both backends in
tests/ledger/test_messages.py through the parametrized ``ledger`` fixture.
"""

from __future__ import annotations

import psycopg
import pytest

from campaigner.errors import CampaignerError
from campaigner.ledger.database import _MIGRATIONS, SCHEMA_VERSION
from campaigner.ledger.messages import Ledger, MessageIntent
from campaigner.ledger.postgres import translate


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'campaigner'").fetchall()
    return {r[0] for r in rows}


def test_a_fresh_database_gets_the_schema_in_its_own_namespace(postgres_url: str) -> None:
    with Ledger(postgres_url) as ledger:
        assert ledger.claim_for_sending("sandbox", "c", [MessageIntent("m0", "r", 2, "h")], at=1.0) == ["m0"]
    assert _tables(postgres_url) == {
        *("meta", "scenarios", "campaigns", "messages", "reports", "locks"),
        *("canaries", "canary_messages", "stops", "latencies"),
    }
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SELECT value FROM campaigner.meta WHERE key = 'schema_version'").fetchone()
        collation = conn.execute(
            "SELECT collation_name FROM information_schema.columns WHERE table_schema = 'campaigner' "
            "AND table_name = 'messages' AND column_name = 'message_id'"
        ).fetchone()
    assert version == (str(SCHEMA_VERSION),)
    assert collation == ("C",)  # ids compare bytewise, as in SQLite: pages in doubt follow the same order
    with Ledger(postgres_url) as ledger:  # reopening migrates nothing
        assert ledger.states("sandbox", "c", ["m0"]) == {"m0": "sending"}


def test_reading_a_database_campaigner_never_wrote_creates_nothing(postgres_url: str) -> None:
    with Ledger(postgres_url, create=False) as ledger:
        assert getattr(ledger.store, "empty", False)
    assert _tables(postgres_url) == set()


def test_a_version_1_ledger_is_migrated_in_place(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA campaigner; SET search_path TO campaigner")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for statement in _MIGRATIONS[0]:
            conn.execute(translate(statement).encode())
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO campaigns VALUES ('sandbox', 'c', 'b', 1.0)")
    with Ledger(postgres_url) as ledger:
        assert ledger.campaign_bulk_id("sandbox", "c") == "b"
        assert ledger.reports_state("sandbox", "c") is None  # the column migration 3 added
        ledger.set_reports_state("sandbox", "c", "lost")
        assert ledger.reports_state("sandbox", "c") == "lost"


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    Ledger(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE campaigner.meta SET value = %s", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(CampaignerError) as info:
        Ledger(postgres_url)
    masked = postgres_url.replace("postgres:@", "postgres:***@")
    assert str(info.value) == (
        f"{masked}: error: the ledger was written by a newer campaigner (schema version {SCHEMA_VERSION + 1}, "
        f"this one knows up to {SCHEMA_VERSION}); upgrade campaigner"
    )


def test_translate() -> None:
    assert translate("CREATE TABLE t (a TEXT NOT NULL, b REAL) STRICT") == (
        'CREATE TABLE t (a TEXT COLLATE "C" NOT NULL, b DOUBLE PRECISION)'
    )
    assert translate("SELECT x FROM t WHERE a = ? AND b IN (?, ?)") == "SELECT x FROM t WHERE a = %s AND b IN (%s, %s)"
