"""Tests of campaigner.ledger.messages: schema, claims that never repeat, durability across kills, reports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import campaigner
from campaigner.errors import CampaignerError
from campaigner.ledger.database import SCHEMA_VERSION
from campaigner.ledger.messages import Ledger, MessageIntent, default_state_path

T = "sandbox"
C = "spring-sale"
REPO = Path(campaigner.__file__).resolve().parents[1]


def intents(n: int, start: int = 0, prefix: str = "m") -> list[MessageIntent]:
    return [MessageIntent(f"{prefix}{i}", f"38597{i:07d}", i + 2, f"h{i}") for i in range(start, start + n)]


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


@pytest.fixture
def ledger(ledger_location: str) -> Iterator[Ledger]:
    """A fresh ledger, once on each backend (SQLite file, PostgreSQL database)."""
    with Ledger(ledger_location) as led:
        yield led


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    """For what only SQLite has (its query planner, its pragmas)."""
    with Ledger(tmp_path / "state.db") as led:
        yield led


def raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- opening, schema, errors -------------------------------------------------------------------------


def test_migrates_an_empty_file_and_reopens_idempotently(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "state.db"
    with Ledger(path) as led:
        led.claim_for_sending(T, C, intents(3), at=1.0)
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]
    tables = {r[0] for r in raw(path, "SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert tables == {
        *("scenarios", "campaigns", "messages", "reports"),
        *("canaries", "canary_messages", "stops", "latencies"),
    }
    assert path.stat().st_mode & 0o777 == 0o600
    with Ledger(path) as led:
        assert led.states(T, C, ["m0", "m1", "m2"]) == {"m0": "sending", "m1": "sending", "m2": "sending"}
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_an_existing_empty_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    Ledger(path).close()
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_a_version_1_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    from campaigner.ledger.database import _MIGRATIONS, APPLICATION_ID

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    for statement in _MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("INSERT INTO messages (target, message_id, campaign, state) VALUES ('sandbox', 'm0', 'c', 'unknown')")
    conn.commit()
    conn.close()
    with Ledger(path) as led:
        assert [p.message_id for p in led.in_doubt(T, "c", limit=10)] == ["m0"]
    indexes = {r[0] for r in raw(path, "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL")}
    assert indexes == {"messages_in_doubt", "messages_by_row"}
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CampaignerError) as info:
        Ledger(path)
    assert str(info.value) == (
        f"{path}: error: the ledger was written by a newer campaigner (schema version {SCHEMA_VERSION + 1}, "
        f"this one knows up to {SCHEMA_VERSION}); upgrade campaigner"
    )


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(CampaignerError, match=r"other\.db: error: not a campaigner ledger"):
        Ledger(path)


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CampaignerError) as info:
        Ledger(path)
    assert str(info.value).startswith(f"{path}: error: the ledger is not a SQLite database or is corrupt")
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_a_ledger_locked_by_another_writer_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Ledger(path, busy_timeout=0.2) as led:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(CampaignerError) as info:
                led.claim_for_sending(T, C, intents(1), at=1.0)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert str(info.value) == (
            f"{path}: error: the ledger is busy: another process kept it locked for more than 0.2 s; try again"
        )
        assert led.claim_for_sending(T, C, intents(1), at=1.0) == ["m0"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "/work/x/.campaigner/state.db"),
        ({"CAMPAIGNER_STATE": ""}, "/work/x/.campaigner/state.db"),
        ({"CAMPAIGNER_STATE": "ci/state.db"}, "/work/x/ci/state.db"),
        ({"CAMPAIGNER_STATE": "/var/lib/c.db"}, "/var/lib/c.db"),
    ],
    ids=["default", "empty", "relative", "absolute"],
)
def test_default_state_path(environ: dict[str, str], expected: str) -> None:
    assert default_state_path(environ, Path("/work/x")) == Path(expected)


# -- claims ------------------------------------------------------------------------------------------


def test_claim_takes_new_messages_once(ledger: Ledger) -> None:
    assert ledger.claim_for_sending(T, C, intents(3), at=1.0) == ["m0", "m1", "m2"]
    assert ledger.claim_for_sending(T, C, intents(5), at=2.0) == ["m3", "m4"]
    assert ledger.claim_for_sending(T, C, [], at=2.0) == []


def test_claim_ignores_repeated_ids_in_one_batch(ledger: Ledger) -> None:
    items = intents(2) + intents(2)
    assert ledger.claim_for_sending(T, C, items, at=1.0) == ["m0", "m1"]


@pytest.mark.parametrize("state", ["sending", "accepted", "rejected", "unknown"])
def test_claim_never_takes_a_message_that_may_have_been_sent(ledger: Ledger, state: str) -> None:
    ledger.claim_for_sending(T, C, intents(1), at=1.0)
    if state == "accepted":
        ledger.mark_accepted(T, [("m0", {"groupName": "PENDING"})], at=2.0)
    elif state == "rejected":
        ledger.mark_rejected(T, ["m0"], "Bad request", at=2.0)
    elif state == "unknown":
        ledger.mark_unknown(T, ["m0"], "read timeout", at=2.0)
    assert ledger.states(T, C, ["m0"]) == {"m0": state}
    assert ledger.claim_for_sending(T, C, intents(1), at=3.0) == []
    assert ledger.states(T, C, ["m0"]) == {"m0": state}


def test_released_and_planned_messages_are_claimed_again(ledger: Ledger) -> None:
    assert ledger.record_planned(T, C, intents(2)) == 2
    assert ledger.states(T, C, ["m0", "m1"]) == {"m0": "planned", "m1": "planned"}
    ledger.claim_for_sending(T, C, intents(2), at=1.0)
    assert ledger.release(T, ["m0"]) == 1
    assert ledger.claim_for_sending(T, C, intents(2), at=2.0) == ["m0"]
    (outcome,) = [o for o in ledger.outcomes(T, C) if o.message_id == "m0"]
    assert (outcome.attempts, outcome.requested_at) == (2, 2.0)


def test_targets_are_separate(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(2), at=1.0)
    assert ledger.claim_for_sending("https://api.infobip.com", C, intents(2), at=1.0) == ["m0", "m1"]
    assert ledger.states("https://x.api.infobip.com", C, ["m0"]) == {}


def test_states_are_chunked_past_the_variable_limit(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(1200), at=1.0)
    ids = [f"m{i}" for i in range(1500)]
    states = ledger.states(T, C, ids)
    assert len(states) == 1200
    assert set(states.values()) == {"sending"}
    assert ledger.states(T, "other-campaign", ids) == {}


_CLAIM_AND_DIE = """
import os, signal, sys
from pathlib import Path
from campaigner.ledger.messages import Ledger, MessageIntent
led = Ledger(sys.argv[1])
items = [MessageIntent(f"m{i}", f"r{i}", i + 2, "h") for i in range(int(sys.argv[2]))]
claimed = led.claim_for_sending("sandbox", "spring-sale", items, at=1.0)
print(len(claimed), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_claims_survive_a_process_killed_right_after_claiming(ledger_location: str) -> None:
    path = ledger_location
    proc = subprocess.run(
        [sys.executable, "-c", _CLAIM_AND_DIE, str(path), "300"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.strip() == "300"
    with Ledger(path) as led:
        assert led.count_in_doubt(T, C) == 300
        assert len(led.in_doubt(T, C, state="sending", limit=1000)) == 300
        assert led.claim_for_sending(T, C, intents(300), at=2.0) == []
        assert led.recover_interrupted(T, C, at=3.0) == 300
        assert led.in_doubt(T, C, state="sending", limit=1000) == []
        assert len(led.in_doubt(T, C, limit=1000)) == 300


_CLAIM_RACE = """
import json, random, sys, time
from pathlib import Path
from campaigner.ledger.messages import Ledger, MessageIntent
path, go, seed = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
items = [MessageIntent(f"m{i}", f"r{i}", i + 2, "h") for i in range(2000)]
random.Random(seed).shuffle(items)
with Ledger(path, busy_timeout=30) as led:
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    claimed = []
    for start in range(0, len(items), 20):
        claimed += led.claim_for_sending("sandbox", "spring-sale", items[start:start + 20], at=time.time())
        time.sleep(0.002)  # the request a real apply would send here lets the other process in
print(json.dumps(claimed))
"""


def test_two_processes_claiming_the_same_ids_get_disjoint_sets(tmp_path: Path, ledger_location: str) -> None:
    path = ledger_location
    go = tmp_path / "go"
    Ledger(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIM_RACE, str(path), str(go), str(seed)],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(set(json.loads(out)))
    first, second = results
    assert first.isdisjoint(second)
    assert first | second == {f"m{i}" for i in range(2000)}
    assert first and second, "both processes should have claimed some messages"
    with Ledger(path) as led:
        assert {o.attempts for o in led.outcomes(T, C)} == {1}


# -- transitions -------------------------------------------------------------------------------------


def test_answers_move_only_messages_in_flight(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(4), at=1.0)
    assert ledger.mark_accepted(T, [("m0", {"groupName": "PENDING"}), ("zz", None)], at=2.0) == 1
    assert ledger.mark_rejected(T, ["m1"], "Invalid destination", {"groupName": "REJECTED"}, at=2.0) == 1
    assert ledger.mark_unknown(T, ["m2"], "read timeout", at=2.0, check_after=60.0) == 1
    # terminal states do not move
    assert ledger.mark_unknown(T, ["m0", "m1"], "late", at=3.0) == 0
    assert ledger.mark_rejected(T, ["m0"], "late", at=3.0) == 0
    assert ledger.mark_accepted(T, [("m1", None)], at=3.0) == 0
    assert ledger.release(T, ["m0", "m1", "m2"]) == 0
    # an unknown message is settled by a late answer or requeued after the logs
    (pending,) = ledger.in_doubt(T, C, limit=10)
    assert (pending.message_id, pending.reason, pending.check_after) == ("m2", "read timeout", 60.0)
    assert ledger.requeue(T, ["m2", "m3"]) == 1
    assert ledger.states(T, C, ["m0", "m1", "m2", "m3"]) == {
        "m0": "accepted",
        "m1": "rejected",
        "m2": "planned",
        "m3": "sending",
    }
    by_id = {o.message_id: o for o in ledger.outcomes(T, C)}
    assert by_id["m0"].status == {"groupName": "PENDING"}
    assert (by_id["m1"].reason, by_id["m1"].answered_at) == ("Invalid destination", 2.0)


def test_doubts_are_read_a_page_at_a_time_in_id_order(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(25), at=1.0)
    ledger.claim_for_sending(T, "other", intents(5, prefix="o"), at=1.0)
    ledger.mark_unknown(T, [f"m{i}" for i in range(20)], "read timeout", at=2.0)
    assert ledger.count_in_doubt(T, C) == 25  # 20 unknown, 5 still sending
    seen: list[str] = []
    after = None
    while page := ledger.in_doubt(T, C, limit=7, after=after):
        assert len(page) <= 7
        seen += [p.message_id for p in page]
        after = page[-1].message_id
    assert seen == sorted(f"m{i}" for i in range(20))
    assert [p.message_id for p in ledger.in_doubt(T, C, state="sending", limit=10)] == sorted(
        f"m{i}" for i in range(20, 25)
    )
    with pytest.raises(ValueError):
        ledger.in_doubt(T, C, state="accepted", limit=1)


def test_the_doubt_query_uses_an_index(sqlite_ledger: Ledger) -> None:
    plan = sqlite_ledger._db.execute(
        "EXPLAIN QUERY PLAN SELECT message_id FROM messages WHERE target = ? AND campaign = ? "
        "AND state IN ('sending', 'unknown') AND state = 'unknown' AND message_id > ? ORDER BY message_id LIMIT 5",
        (T, C, "m"),
    ).fetchall()
    detail = " ".join(str(r[-1]) for r in plan)
    assert "messages_in_doubt" in detail and "TEMP B-TREE" not in detail, detail


def test_accepted_messages_leave_the_doubt_index(sqlite_ledger: Ledger) -> None:
    """Only messages in flight or in doubt are in the state index (issue 14: an index of every message by
    state cost a random page write per message per state change)."""
    sqlite_ledger.claim_for_sending(T, C, intents(5), at=1.0)
    sqlite_ledger.mark_accepted(T, [("m0", None), ("m1", None)], at=2.0)
    sqlite_ledger.mark_unknown(T, ["m2"], "read timeout", at=2.0)

    def indexed() -> set[tuple[str, str]]:
        return set(
            sqlite_ledger._db.execute(
                "SELECT message_id, state FROM messages INDEXED BY messages_in_doubt "
                "WHERE target = ? AND campaign = ? AND state IN ('sending', 'unknown')",
                (T, C),
            ).fetchall()
        )

    assert indexed() == {("m2", "unknown"), ("m3", "sending"), ("m4", "sending")}
    assert sqlite_ledger.count_in_doubt(T, C) == 3
    assert [p.message_id for p in sqlite_ledger.in_doubt(T, C, state="sending", limit=10)] == ["m3", "m4"]
    (entries,) = sqlite_ledger._db.execute(
        "SELECT count(*) FROM messages INDEXED BY messages_in_doubt WHERE state IN ('sending', 'unknown')"
    ).fetchone()
    assert entries == 3


def test_adopt_from_logs(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(4), at=1.0)
    ledger.mark_unknown(T, ["m0"], "read timeout", at=2.0)
    ledger.mark_rejected(T, ["m1"], "Bad request", at=2.0)
    ledger.mark_accepted(T, [("m2", None)], at=2.0)
    found = [(f"m{i}", f"38597{i:07d}", {"groupName": "DELIVERED"}) for i in (0, 1, 2, 3, 9)]
    assert ledger.adopt(T, C, found, at=5.0) == 3  # m0 unknown, m3 sending, m9 new
    states = ledger.states(T, C, ["m0", "m1", "m2", "m3", "m9"])
    assert states == {"m0": "accepted", "m1": "rejected", "m2": "accepted", "m3": "accepted", "m9": "accepted"}
    by_id = {o.message_id: o for o in ledger.outcomes(T, C)}
    assert [by_id[m].adopted for m in ("m0", "m1", "m2", "m3", "m9")] == [True, False, False, True, True]
    assert (by_id["m9"].row, by_id["m9"].recipient_id) == (None, "385970000009")
    # the plan completes what the logs could not say; it never resets the state
    ledger.record_planned(T, C, intents(10))
    assert ledger.states(T, C, ["m9"]) == {"m9": "accepted"}
    assert next(o for o in ledger.outcomes(T, C) if o.message_id == "m9").row == 11
    assert ledger.claim_for_sending(T, C, intents(10), at=6.0) == ["m4", "m5", "m6", "m7", "m8"]
    assert ledger.campaign_known(T, C)


def test_campaigns_and_bulk_ids(ledger: Ledger) -> None:
    assert not ledger.campaign_known(T, C)
    assert ledger.campaign_bulk_id(T, C) is None
    ledger.ensure_campaign(T, C, "bulk-1")
    ledger.ensure_campaign(T, C, "bulk-1")
    assert ledger.campaign_known(T, C)
    assert ledger.campaign_bulk_id(T, C) == "bulk-1"
    assert not ledger.campaign_known("https://api.infobip.com", C)
    with pytest.raises(CampaignerError, match="sent to sandbox with bulkId bulk-1, now it would be bulk-2"):
        ledger.ensure_campaign(T, C, "bulk-2")


def test_scenarios_are_remembered_per_target(ledger: Ledger) -> None:
    assert ledger.scenario_key(T, "Loyalty") is None
    ledger.remember_scenario(T, "Loyalty", "AB12", [{"channel": "LINE", "from": "x"}])
    ledger.remember_scenario(T, "Loyalty", "CD34", [{"channel": "SMS", "from": "y"}])
    assert ledger.scenario_key(T, "Loyalty") == "CD34"
    assert ledger.scenario_key("https://api.infobip.com", "Loyalty") is None
    ledger.forget_scenario(T, "Loyalty")
    assert ledger.scenario_key(T, "Loyalty") is None


# -- reports -----------------------------------------------------------------------------------------


def report(message_id: str, group: str, group_id: int, **extra: object) -> dict[str, object]:
    return {
        "bulkId": "bulk-1",
        "messageId": message_id,
        "status": {"groupId": group_id, "groupName": group, "id": 5, "name": f"{group}_X"},
        **extra,
    }


def test_reports_are_stored_raw_and_never_counted_twice(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(3), at=1.0)
    ledger.mark_accepted(T, [(f"m{i}", None) for i in range(3)], at=2.0)
    first = report("m0", "DELIVERED", 3, channel="LINE", price={"pricePerMessage": 0.01, "currency": "EUR"})
    assert ledger.store_reports(T, [first, report("m1", "UNDELIVERABLE", 2)], source="reports", at=3.0) == 2
    assert ledger.store_reports(T, [first, first], source="reports", at=4.0) == 0
    assert ledger.store_reports(T, [{"status": {}}], source="reports", at=4.0) == 0  # no messageId
    counts = ledger.counts(T, C)
    assert counts["reports"] == {
        "delivered": 1,
        "undeliverable": 1,
        "expired": 0,
        "rejected": 0,
        "pending": 0,
        "total": 2,
        "awaiting": 1,
    }
    by_id = {o.message_id: o for o in ledger.outcomes(T, C)}
    assert by_id["m0"].report == first
    assert (by_id["m0"].report_source, by_id["m0"].report_received_at) == ("reports", 3.0)
    assert by_id["m2"].report is None
    assert ledger.accepted_without_report(T, C) == ["m2"]


def test_a_logs_report_is_replaced_by_a_real_one_but_not_the_reverse(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(2), at=1.0)
    ledger.mark_accepted(T, [("m0", None), ("m1", None)], at=2.0)
    from_logs = report("m0", "DELIVERED", 3, text="hi")
    real = report("m0", "DELIVERED", 3, error={"id": 0, "name": "NO_ERROR"})
    assert ledger.store_reports(T, [from_logs], source="logs", at=3.0) == 1
    assert ledger.store_reports(T, [real], source="reports", at=4.0) == 1
    assert ledger.store_reports(T, [from_logs], source="logs", at=5.0) == 0
    (m0,) = [o for o in ledger.outcomes(T, C) if o.message_id == "m0"]
    assert (m0.report, m0.report_source, m0.report_received_at) == (real, "reports", 4.0)
    # a pending report is replaced by a final one of the same source; a final one stays
    assert ledger.store_reports(T, [report("m1", "PENDING", 1)], source="logs", at=3.0) == 1
    assert ledger.accepted_without_report(T, C) == ["m1"]
    assert ledger.store_reports(T, [report("m1", "EXPIRED", 4)], source="logs", at=4.0) == 1
    assert ledger.store_reports(T, [report("m1", "DELIVERED", 3)], source="logs", at=5.0) == 0
    assert ledger.accepted_without_report(T, C) == []
    assert ledger.counts(T, C)["reports"]["expired"] == 1


def test_store_reports_rejects_an_unknown_source(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        ledger.store_reports(T, [report("m0", "DELIVERED", 3)], source="push", at=1.0)


def test_counts_and_outcomes(ledger: Ledger) -> None:
    ledger.record_planned(T, C, intents(6))
    ledger.claim_for_sending(T, C, intents(5), at=10.0)
    ledger.mark_accepted(T, [("m0", None), ("m1", None)], at=11.0)
    ledger.mark_rejected(T, ["m2"], "Invalid destination address", at=11.0)
    ledger.mark_unknown(T, ["m3"], "read timeout", at=11.0)
    ledger.adopt(T, C, [("x1", "385970000099", None)], at=12.0)
    ledger.store_reports(T, [report("m0", "DELIVERED", 3), report("x1", "REJECTED", 5)], source="reports", at=13.0)
    ledger.store_reports(T, [report("nobody", "DELIVERED", 3)], source="reports", at=13.0)  # not this campaign
    assert ledger.counts(T, C) == {
        "messages": {
            "planned": 1,
            "sending": 1,
            "accepted": 3,
            "rejected": 1,
            "unknown": 1,
            "total": 7,
            "adopted": 1,
        },
        "reports": {
            "delivered": 1,
            "undeliverable": 0,
            "expired": 0,
            "rejected": 1,
            "pending": 0,
            "total": 2,
            "awaiting": 1,
        },
    }
    rows = [(o.row, o.message_id, o.state, o.reason) for o in ledger.outcomes(T, C)]
    assert rows == [
        (None, "x1", "accepted", None),
        (2, "m0", "accepted", None),
        (3, "m1", "accepted", None),
        (4, "m2", "rejected", "Invalid destination address"),
        (5, "m3", "unknown", "read timeout"),
        (6, "m4", "sending", None),
        (7, "m5", "planned", None),
    ]
    assert ledger.counts(T, "nothing-here")["messages"]["total"] == 0


def test_outcomes_stream_large_campaigns(ledger: Ledger) -> None:
    ledger.claim_for_sending(T, C, intents(2500), at=1.0)
    stream = ledger.outcomes(T, C)
    assert next(stream).message_id == "m0"
    assert sum(1 for _ in stream) == 2499


def test_claims_and_reports_are_committed_with_synchronous_full(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    statements: list[str] = []
    ledger._db.set_trace_callback(statements.append)
    try:
        ledger.claim_for_sending(T, C, intents(2), at=1.0)
        ledger.mark_accepted(T, [("m0", None)], at=2.0)
        ledger.store_reports(T, [report("m0", "DELIVERED", 3)], source="reports", at=3.0)
    finally:
        ledger._db.set_trace_callback(None)
    pragmas = [s for s in statements if s.startswith(("PRAGMA synchronous", "BEGIN", "COMMIT"))]
    assert pragmas == [
        "BEGIN IMMEDIATE",  # the fixture's ledger was opened with FULL: no change needed
        "COMMIT",
        "PRAGMA synchronous = NORMAL",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "PRAGMA synchronous = FULL",
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]


_OPEN_AT = """
import sys, time
from pathlib import Path
from campaigner.ledger.messages import Ledger
start = float(sys.argv[2])
while time.time() < start:
    pass
Ledger(Path(sys.argv[1])).close()
"""


def test_processes_opening_a_fresh_ledger_together_all_succeed(tmp_path: Path) -> None:
    # Switching a new file to WAL answers "database is locked" at once while another process creates it
    # (seen as two applies started together failing with "the ledger is busy"): it is retried.
    import time

    for attempt in range(4):
        path = tmp_path / f"fresh-{attempt}" / "state.db"
        start = time.time() + 0.8
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(path), str(start)],
                env=child_env(),
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, errors
