"""The ledger: all of campaigner's SQL — scenario keys, message states and reports, keyed by target.

``Ledger(location)`` opens a SQLite file (``ledger.database``) or a PostgreSQL database (``ledger.postgres``,
for a ``postgresql://`` URL) behind one interface (``ledger.store``); the SQL here is the same for both.
Delivery reports and the views the summary reads are in ``ledger.reports``; this module holds the message
state machine and is what apply uses. ("``synchronous=FULL``" below means a durable commit on either backend.)

A message's states::

    (none) ──claim──> sending ──mark_accepted──> accepted        (terminal; adopt also leads here)
    planned ─claim─┘     ├──mark_rejected──> rejected             (terminal, with the provider's reason)
       ^   ^             ├──mark_unknown───> unknown ──requeue──> planned   (logs: not found, settled)
       |   └──release────┘  (never reached the provider)   └──adopt──> accepted (logs: found)
       └── record_planned (optional: the plan, before any send)

``claim_for_sending`` moves only new or ``planned`` messages to ``sending``, in one ``BEGIN IMMEDIATE``
transaction committed with ``synchronous=FULL`` (the claim is on disk before any request leaves), so a
message is never claimed twice, by a re-run or by a concurrent process. ``sending`` left by a crash
means "maybe sent": ``recover_interrupted`` turns it into ``unknown``, which only the provider's logs
resolve. Reports are stored with ``synchronous=FULL`` too (the provider returns each only once); the
other writes use ``NORMAL``: losing one to a power cut leaves a message ``sending``/``unknown``, which
the logs resolve without a resend. Timestamps are float epoch seconds. A :class:`Ledger` belongs to
one thread; keep its transactions short (apply calls it from an asyncio loop).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from campaigner.errors import CampaignerError
from campaigner.ledger.database import StatusJson, dump_json
from campaigner.ledger.latency import LatencyLedger
from campaigner.ledger.store import Tx

STATE_ENV: Final = "CAMPAIGNER_STATE"
CHUNK: Final = 500  # ids per IN (...) query, well under SQLite's variable limit
INTERRUPTED: Final = "interrupted: no answer was recorded (crash or kill while sending)"


@dataclass(frozen=True, slots=True)
class MessageIntent:
    """A message apply is about to send: its id, recipient, CSV row, the hash of its payload, its sendAt."""

    message_id: str
    recipient_id: str
    row: int
    payload_hash: str
    send_at: float | None = None  # epoch seconds of its sendAt (send.localHours); None: at once


@dataclass(frozen=True, slots=True)
class Pending:
    """A message whose fate a re-run must settle before sending anything (``sending`` or ``unknown``)."""

    message_id: str
    recipient_id: str | None
    row: int | None
    payload_hash: str | None
    state: str
    attempts: int
    requested_at: float | None  # when it was claimed (the request left at this time or later)
    answered_at: float | None  # when the doubt was recorded (the request had certainly left by then)
    check_after: float | None
    reason: str | None


def default_state_path(environ: Mapping[str, str], cwd: Path) -> Path:
    """``$CAMPAIGNER_STATE`` (relative to ``cwd`` when relative), else ``cwd/.campaigner/state.db``."""
    value = environ.get(STATE_ENV, "").strip()
    if not value:
        return cwd / ".campaigner" / "state.db"
    path = Path(value).expanduser()
    return path if path.is_absolute() else cwd / path


class Ledger(LatencyLedger):
    """The ledger at ``path``: ``with Ledger(path) as ledger: ...``; every method is one transaction."""

    # -- scenarios and campaigns --------------------------------------------------------------------

    def scenario_key(self, target: str, name: str) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT key FROM scenarios WHERE target = ? AND name = ?", (target, name)).fetchone()
        return None if row is None else str(row[0])

    def remember_scenario(self, target: str, name: str, key: str, flow: object, *, at: float | None = None) -> None:
        flow_json = json.dumps(flow, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        with self._write(full=False) as conn:
            conn.execute(
                "INSERT INTO scenarios (target, name, key, flow_json, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (target, name) DO UPDATE SET key = excluded.key, "
                "flow_json = excluded.flow_json, updated_at = excluded.updated_at",
                (target, name, key, flow_json, time.time() if at is None else at),
            )

    def forget_scenario(self, target: str, name: str) -> None:
        """Drop a remembered key (the provider no longer knows it)."""
        with self._write(full=False) as conn:
            conn.execute("DELETE FROM scenarios WHERE target = ? AND name = ?", (target, name))

    def campaign_known(self, target: str, campaign: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM campaigns WHERE target = ? AND campaign = ?) "
                "OR EXISTS (SELECT 1 FROM messages WHERE target = ? AND campaign = ?)",
                (target, campaign, target, campaign),
            ).fetchone()
        return bool(row[0])

    def holds_messages(self, target: str, campaign: str) -> bool:
        """Does the ledger hold any message of the campaign (sent, planned, adopted or in doubt)?"""
        with self._read() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE target = ? AND campaign = ?)", (target, campaign)
            ).fetchone()
        return bool(row[0])

    def campaign_bulk_id(self, target: str, campaign: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT bulk_id FROM campaigns WHERE target = ? AND campaign = ?", (target, campaign)
            ).fetchone()
        return None if row is None else str(row[0])

    def ensure_campaign(self, target: str, campaign: str, bulk_id: str, *, at: float | None = None) -> None:
        """Record the campaign; refuse a bulkId other than the one it was sent with (ids changed)."""
        with self._write(full=False) as conn:
            row = conn.execute(
                "SELECT bulk_id FROM campaigns WHERE target = ? AND campaign = ?", (target, campaign)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO campaigns (target, campaign, bulk_id, first_seen) VALUES (?, ?, ?, ?)",
                    (target, campaign, bulk_id, time.time() if at is None else at),
                )
            elif row[0] != bulk_id:
                raise CampaignerError(
                    f"{self._where}: error: campaign {campaign} was sent to {target} with bulkId {row[0]}, "
                    f"now it would be {bulk_id}; message ids changed, so sending could repeat messages"
                )

    # -- message states -----------------------------------------------------------------------------

    def states(self, target: str, campaign: str, message_ids: Sequence[str]) -> dict[str, str]:
        """The state of each given message the ledger knows (absent ids are not in the result)."""
        with self._read() as conn:
            return _states(conn, self.store.planner_hint, target, campaign, message_ids)

    def record_planned(self, target: str, campaign: str, items: Sequence[MessageIntent]) -> int:
        """Insert new messages as ``planned`` and complete adopted ones (row unknown); returns how many."""
        with self._write(full=False) as conn:
            return conn.executemany(
                "INSERT INTO messages (target, message_id, campaign, recipient_id, row, payload_hash, state) "
                "VALUES (?, ?, ?, ?, ?, ?, 'planned') ON CONFLICT (target, message_id) DO UPDATE SET "
                "recipient_id = excluded.recipient_id, row = excluded.row, "
                "payload_hash = excluded.payload_hash WHERE messages.row IS NULL",
                [(target, i.message_id, campaign, i.recipient_id, i.row, i.payload_hash) for i in items],
            ).rowcount

    def claim_for_sending(self, target: str, campaign: str, items: Sequence[MessageIntent], *, at: float) -> list[str]:
        """Move new or ``planned`` messages to ``sending``, durably, and return the ids claimed (in order).

        Messages ``sending``, ``accepted``, ``rejected`` or ``unknown`` are never claimed: someone may
        have sent them. Only the returned ids may be sent.
        """
        first: dict[str, MessageIntent] = {}
        for item in items:
            first.setdefault(item.message_id, item)
        unique = list(first.values())
        if not unique:
            return []
        # The usual case, every message new or planned: one statement, no lookup first. The upsert changes a
        # row only where the message is new or planned, so when it changed as many rows as there are
        # messages, all of them were claimed; when fewer, the transaction is rolled back and the claim
        # is made again knowing each message's state.
        try:
            with self._write(full=True) as conn:
                if conn.executemany(_CLAIM, _claim_rows(target, campaign, unique, at)).rowcount == len(unique):
                    return [i.message_id for i in unique]
                raise _Contested
        except _Contested:
            pass
        with self._write(full=True) as conn:
            known = _states(conn, self.store.planner_hint, target, None, [i.message_id for i in unique])
            claimed = [i for i in unique if known.get(i.message_id, "planned") == "planned"]
            conn.executemany(_CLAIM, _claim_rows(target, campaign, claimed, at))
        return [i.message_id for i in claimed]

    def mark_accepted(self, target: str, items: Sequence[tuple[str, StatusJson]], *, at: float) -> int:
        """``sending``/``unknown`` -> ``accepted`` with the provider's status; returns how many moved."""
        return self._move(
            "UPDATE messages SET state = 'accepted', answered_at = ?, provider_status_json = ?, "
            "reason = NULL, check_after = NULL "
            "WHERE target = ? AND message_id = ? AND state IN ('sending', 'unknown')",
            [(at, dump_json(status), target, mid) for mid, status in items],
        )

    def mark_rejected(
        self,
        target: str,
        message_ids: Sequence[str],
        reason: str,
        status_json: StatusJson = None,
        *,
        at: float,
    ) -> int:
        """``sending``/``unknown`` -> ``rejected`` with the provider's reason; returns how many moved."""
        status = dump_json(status_json)
        return self._move(
            "UPDATE messages SET state = 'rejected', answered_at = ?, provider_status_json = ?, reason = ?, "
            "check_after = NULL WHERE target = ? AND message_id = ? AND state IN ('sending', 'unknown')",
            [(at, status, reason, target, mid) for mid in message_ids],
        )

    def mark_unknown(
        self,
        target: str,
        message_ids: Sequence[str],
        reason: str,
        *,
        at: float,
        check_after: float | None = None,
    ) -> int:
        """``sending`` -> ``unknown`` (no answer, or a 5xx); ``check_after``: when to look in the logs."""
        return self._move(
            "UPDATE messages SET state = 'unknown', answered_at = ?, reason = ?, check_after = ? "
            "WHERE target = ? AND message_id = ? AND state = 'sending'",
            [(at, reason, check_after, target, mid) for mid in message_ids],
        )

    def release(self, target: str, message_ids: Sequence[str]) -> int:
        """``sending`` -> ``planned``: the request certainly never reached the provider."""
        return self._move(
            "UPDATE messages SET state = 'planned' WHERE target = ? AND message_id = ? AND state = 'sending'",
            [(target, mid) for mid in message_ids],
        )

    def requeue(self, target: str, message_ids: Sequence[str]) -> int:
        """``unknown`` -> ``planned``: absent from the provider's logs after its settle time; send again."""
        return self._move(
            "UPDATE messages SET state = 'planned', check_after = NULL "
            "WHERE target = ? AND message_id = ? AND state = 'unknown'",
            [(target, mid) for mid in message_ids],
        )

    def retry_rejected(self, target: str, campaign: str) -> int:
        """``rejected`` -> ``planned`` for a new apply: a rejected message never reached anyone.

        Called once at the start of an apply (under the campaign's lock), so a campaign fixed after a
        rejection (credit topped up, sender approved) reaches those recipients; within one apply a
        rejection stays final.
        """
        with self._write(full=False) as conn:
            return conn.execute(
                "UPDATE messages SET state = 'planned', reason = NULL, provider_status_json = NULL "
                "WHERE target = ? AND campaign = ? AND state = 'rejected'",
                (target, campaign),
            ).rowcount

    def recover_interrupted(self, target: str, campaign: str, *, at: float) -> int:
        """``sending`` -> ``unknown`` for a campaign whose lock we hold: a crash left them in doubt."""
        with self._write(full=False) as conn:
            return conn.execute(
                "UPDATE messages SET state = 'unknown', reason = ?, answered_at = ? "
                "WHERE target = ? AND campaign = ? AND state IN ('sending', 'unknown') AND state = 'sending'",
                (INTERRUPTED, at, target, campaign),
            ).rowcount

    def adopt(
        self,
        target: str,
        campaign: str,
        found: Sequence[tuple[str, str | None, StatusJson]],
        *,
        at: float,
        send_at: Mapping[str, float] | None = None,
    ) -> int:
        """Messages found in the provider's logs become ``accepted`` (flagged adopted).

        ``found`` holds (message_id, to, status); ``send_at``: the sendAt of those the provider holds for
        later (a send_at already recorded is kept). New ids are inserted (row unknown until
        ``record_planned``); ``planned``/``sending``/``unknown`` ones move; ``accepted`` and ``rejected``
        are terminal and stay as they are. Returns how many messages were adopted.
        """
        later = send_at or {}
        with self._write(full=False) as conn:
            return conn.executemany(
                "INSERT INTO messages (target, message_id, campaign, recipient_id, state, attempts, "
                "answered_at, provider_status_json, adopted, send_at) "
                "VALUES (?, ?, ?, ?, 'accepted', 1, ?, ?, 1, ?) "
                "ON CONFLICT (target, message_id) DO UPDATE SET state = 'accepted', adopted = 1, "
                "answered_at = excluded.answered_at, provider_status_json = excluded.provider_status_json, "
                "reason = NULL, check_after = NULL, send_at = COALESCE(messages.send_at, excluded.send_at) "
                "WHERE messages.state IN ('planned', 'sending', 'unknown')",
                [(target, mid, campaign, to, at, dump_json(status), later.get(mid)) for mid, to, status in found],
            ).rowcount

    def _move(self, sql: str, params: list[tuple[Any, ...]]) -> int:
        if not params:
            return 0
        with self._write(full=False) as conn:
            return conn.executemany(sql, params).rowcount

    def count_in_doubt(self, target: str, campaign: str) -> int:
        """How many messages are ``sending`` or ``unknown``: what a re-run must settle before sending."""
        with self._read() as conn:
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE target = ? AND campaign = ? AND state IN ('sending', 'unknown')",
                (target, campaign),
            ).fetchone()
        return int(n)

    def in_doubt(
        self, target: str, campaign: str, *, state: str = "unknown", limit: int, after: str | None = None
    ) -> list[Pending]:
        """One page of the messages in ``state`` (``unknown`` or ``sending``), in message-id order.

        ``after`` is the last id of the previous page. Settling calls ``recover_interrupted`` first, so
        that everything in doubt is ``unknown`` and one index range serves every page.
        """
        if state not in ("sending", "unknown"):
            raise ValueError(f"not a state in doubt: {state!r}")
        sql = (
            "SELECT message_id, recipient_id, row, payload_hash, state, attempts, requested_at, answered_at, "
            "check_after, reason FROM messages WHERE target = ? AND campaign = ? "
            f"AND state IN ('sending', 'unknown') AND state = '{state}'"  # the partial index's own condition
        )
        params: tuple[Any, ...] = (target, campaign)
        if after is not None:
            sql += " AND message_id > ?"
            params += (after,)
        sql += " ORDER BY message_id LIMIT ?"
        with self._read() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [Pending(*r) for r in rows]


class _Contested(Exception):
    """Some messages of a claim were not new or planned: roll it back and claim knowing their states."""


_CLAIM: Final = (
    "INSERT INTO messages (target, message_id, campaign, recipient_id, row, payload_hash, state, "
    "attempts, requested_at, send_at) VALUES (?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?) "
    "ON CONFLICT (target, message_id) DO UPDATE SET state = 'sending', "
    "attempts = messages.attempts + 1, requested_at = excluded.requested_at, "
    "recipient_id = excluded.recipient_id, row = excluded.row, "
    "payload_hash = excluded.payload_hash, answered_at = NULL, check_after = NULL, "
    "reason = NULL, provider_status_json = NULL, send_at = excluded.send_at "
    "WHERE messages.state = 'planned'"
)


def _claim_rows(target: str, campaign: str, items: Sequence[MessageIntent], at: float) -> list[tuple[Any, ...]]:
    return [(target, i.message_id, campaign, i.recipient_id, i.row, i.payload_hash, at, i.send_at) for i in items]


def _states(conn: Tx, hint: str, target: str, campaign: str | None, ids: Iterable[str]) -> dict[str, str]:
    unique = list(dict.fromkeys(ids))
    out: dict[str, str] = {}
    # The ids as a VALUES list joined on the primary key: one lookup per id. With `message_id IN (...)`
    # SQLite's planner picked a covering index of the campaign (messages_by_state_id, before schema 7)
    # and scanned every message of the target for each chunk (at 100,000 messages: 15 ms a chunk of 500
    # instead of 1 ms).
    # `+campaign` keeps it off the campaign's indexes too.
    scope = "" if campaign is None else f" AND {hint}m.campaign = ?"
    tail: tuple[str, ...] = (target,) if campaign is None else (target, campaign)
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        values = ",".join(["(?)"] * len(chunk))
        sql = (
            f"WITH ids (id) AS (VALUES {values}) SELECT m.message_id, m.state FROM ids "
            f"JOIN messages m ON m.target = ? AND m.message_id = ids.id{scope}"
        )
        out.update((str(mid), str(state)) for mid, state in conn.execute(sql, (*chunk, *tail)).fetchall())
    return out
