"""The provider's latency in the ledger (SQLite and PostgreSQL): one figure per target, and the migration to it."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from helpers import old_ledger

from campaigner.ledger.database import _MIGRATIONS, SCHEMA_VERSION
from campaigner.ledger.latency import MIN_REQUESTS, LatencyRecord
from campaigner.ledger.messages import Ledger, MessageIntent

T = "https://api.example.com"


def test_one_figure_per_target_replaced_by_the_next_apply(ledger_location: str) -> None:
    with Ledger(ledger_location) as led:
        assert led.latency(T) is None
        assert led.record_latency(T, p50=0.105, p95=0.2, requests=400, concurrency=32, at=10.0)
        assert led.latency(T) == LatencyRecord(0.105, 0.2, 400, 32, 10.0)
        assert led.latency("sandbox") is None  # per target
        assert led.record_latency("sandbox", p50=0.0004, p95=0.001, requests=15, concurrency=8, at=11.0)
        assert led.record_latency(T, p50=0.05, p95=0.06, requests=MIN_REQUESTS, concurrency=8, at=12.0)
    with Ledger(ledger_location) as led:  # durable across opens
        assert led.latency(T) == LatencyRecord(0.05, 0.06, MIN_REQUESTS, 8, 12.0)
        assert led.latency("sandbox") == LatencyRecord(0.0004, 0.001, 15, 8, 11.0)


def test_a_few_requests_never_replace_a_figure_measured_over_many(ledger_location: str) -> None:
    with Ledger(ledger_location) as led:
        assert led.record_latency(T, p50=0.3, p95=0.5, requests=3, concurrency=1, at=1.0)
        assert led.record_latency(T, p50=0.2, p95=0.4, requests=5, concurrency=1, at=2.0)  # few over few: replaced
        assert led.record_latency(T, p50=0.1, p95=0.2, requests=500, concurrency=32, at=3.0)
        assert not led.record_latency(T, p50=0.9, p95=0.9, requests=MIN_REQUESTS - 1, concurrency=32, at=4.0)
        assert led.latency(T) == LatencyRecord(0.1, 0.2, 500, 32, 3.0)


@pytest.mark.parametrize(("p50", "p95", "requests"), [(0.1, 0.05, 10), (-0.1, 0.1, 10), (0.1, 0.2, 0)])
def test_nonsense_is_refused(ledger_location: str, p50: float, p95: float, requests: int) -> None:
    with Ledger(ledger_location) as led, pytest.raises(ValueError, match="not a latency measurement"):
        led.record_latency(T, p50=p50, p95=p95, requests=requests, concurrency=1)


def _version_5_ledger(location: str) -> None:
    """A ledger as the campaigner before this migration left it: schema version 5, one message sent."""
    assert "latencies" in _MIGRATIONS[5][0]
    old_ledger(location, 5, [(T, "m1", "c", "accepted")])


def _version(location: str) -> int:
    if location.startswith("postgresql://"):
        with psycopg.connect(location) as conn:
            row = conn.execute("SELECT value FROM campaigner.meta WHERE key = 'schema_version'").fetchone()
            assert row is not None
            return int(row[0])
    conn = sqlite3.connect(location)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_ledger_of_the_previous_version_is_migrated_in_place(ledger_location: str) -> None:
    _version_5_ledger(ledger_location)
    assert _version(ledger_location) == 5
    with Ledger(ledger_location, create=False) as led:  # plan opens it so: the migration runs all the same
        assert led.latency(T) is None
        assert led.states(T, "c", ["m1", "m2"]) == {"m1": "accepted"}  # what was there stays
        assert led.claim_for_sending(T, "c", [MessageIntent("m2", "r2", 3, "h")], at=1.0) == ["m2"]
        assert led.record_latency(T, p50=0.1, p95=0.15, requests=50, concurrency=32, at=2.0)
    assert _version(ledger_location) == SCHEMA_VERSION
    with Ledger(ledger_location) as led:  # reopening migrates nothing more
        assert led.latency(T) == LatencyRecord(0.1, 0.15, 50, 32, 2.0)
