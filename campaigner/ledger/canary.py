"""The canary and the stop in the ledger: a canary's sample and verdict per plan digest, a stopped apply.

A canary's sample is stored, durably, before any of it is sent, so a re-run (after a kill during the
send or the wait) finds the same sample instead of choosing a second one. Its states::

    sending ──sent──> waiting ──decided──> passed | failed | inconclusive
                         ^                               │        │
                         └────────── --retry-canary ─────┴────────┤
                                                  accepted <──────┘  (--accept-canary)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from campaigner.ledger.reports import ReportLedger

CANARY_STATES: Final = ("sending", "waiting", "passed", "failed", "inconclusive", "accepted")
_FINAL_GROUPS: Final = ("delivered", "undeliverable", "expired", "rejected")


@dataclass(frozen=True, slots=True)
class CanaryRecord:
    """One canary as the ledger holds it."""

    digest: str
    state: str
    size: int
    wait_until: float | None
    reason: str | None
    created_at: float
    decided_at: float | None


@dataclass(frozen=True, slots=True)
class CanaryCounts:
    """The canary's messages: ``sent`` (accepted), ``final`` by group (a send-time rejection is a final
    ``rejected``), ``awaiting`` sent or in doubt without a final one, ``unsent``."""

    size: int
    sent: int
    final: dict[str, int]
    awaiting: int
    unsent: int


class CanaryLedger(ReportLedger):
    """Canaries and stops; :class:`campaigner.ledger.messages.Ledger` adds the message states."""

    _COLUMNS = "digest, state, size, wait_until, reason, created_at, decided_at"

    def canary(self, target: str, campaign: str, digest: str) -> CanaryRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {self._COLUMNS} FROM canaries WHERE target = ? AND campaign = ? AND digest = ?",
                (target, campaign, digest),
            ).fetchone()
        return None if row is None else CanaryRecord(*row)

    def latest_canary(self, target: str, campaign: str) -> CanaryRecord | None:
        """The campaign's most recent canary (whatever its digest), for the summary."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {self._COLUMNS} FROM canaries WHERE target = ? AND campaign = ? "
                "ORDER BY created_at DESC, digest LIMIT 1",
                (target, campaign),
            ).fetchone()
        return None if row is None else CanaryRecord(*row)

    def start_canary(
        self, target: str, campaign: str, digest: str, message_ids: Sequence[str], *, at: float | None = None
    ) -> CanaryRecord:
        """Record a canary and its sample, durably, before any of it is sent; an existing one is kept."""
        now = time.time() if at is None else at
        with self._write(full=True) as conn:
            inserted = conn.execute(
                "INSERT INTO canaries (target, campaign, digest, state, size, created_at) "
                "VALUES (?, ?, ?, 'sending', ?, ?) ON CONFLICT DO NOTHING",
                (target, campaign, digest, len(message_ids), now),
            ).rowcount
            if inserted:
                conn.executemany(
                    "INSERT INTO canary_messages (target, campaign, digest, message_id) VALUES (?, ?, ?, ?)",
                    [(target, campaign, digest, mid) for mid in message_ids],
                )
        record = self.canary(target, campaign, digest)
        assert record is not None
        return record

    def canary_members(self, target: str, campaign: str, digest: str) -> set[str]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT message_id FROM canary_messages WHERE target = ? AND campaign = ? AND digest = ?",
                (target, campaign, digest),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def set_canary_state(
        self,
        target: str,
        campaign: str,
        digest: str,
        state: str,
        *,
        wait_until: float | None = None,
        reason: str | None = None,
        at: float | None = None,
    ) -> None:
        """Move the canary to ``state``; a verdict (passed/failed/inconclusive/accepted) records when."""
        if state not in CANARY_STATES:
            raise ValueError(f"not a canary state: {state!r}")
        now = time.time() if at is None else at
        decided = now if state in ("passed", "failed", "inconclusive", "accepted") else None
        with self._write(full=True) as conn:
            conn.execute(
                "UPDATE canaries SET state = ?, wait_until = COALESCE(?, wait_until), "
                "reason = COALESCE(?, reason), decided_at = ? WHERE target = ? AND campaign = ? AND digest = ?",
                (state, wait_until, reason, decided, target, campaign, digest),
            )

    def canary_counts(self, target: str, campaign: str, digest: str) -> CanaryCounts:
        """The sample's messages by outcome: a final report's group, a send-time rejection, or awaited."""
        final = dict.fromkeys(_FINAL_GROUPS, 0)
        awaiting = unsent = size = sent = 0
        with self._read() as conn:
            rows = conn.execute(
                "SELECT m.state, r.status_group, r.final FROM canary_messages c "
                "LEFT JOIN messages m ON m.target = c.target AND m.message_id = c.message_id "
                "LEFT JOIN reports r ON r.target = c.target AND r.message_id = c.message_id "
                "WHERE c.target = ? AND c.campaign = ? AND c.digest = ?",
                (target, campaign, digest),
            ).fetchall()
        for state, group, is_final in rows:
            size += 1
            if is_final:
                key = str(group).lower()
                final[key if key in final else "rejected"] += 1
                sent += 1
            elif state == "rejected":  # rejected in the send answer: final, but never sent
                final["rejected"] += 1
            elif state in (None, "planned"):
                unsent += 1
            else:
                awaiting += 1
                sent += state == "accepted"
        return CanaryCounts(size, sent, final, awaiting, unsent)

    # -- stops --------------------------------------------------------------------------------------

    def record_stop(self, target: str, campaign: str, reason: str, *, at: float | None = None) -> None:
        with self._write(full=True) as conn:
            conn.execute(
                "INSERT INTO stops (target, campaign, reason, stopped_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (target, campaign) DO UPDATE SET reason = excluded.reason, "
                "stopped_at = excluded.stopped_at",
                (target, campaign, reason, time.time() if at is None else at),
            )

    def stopped(self, target: str, campaign: str) -> str | None:
        """Why ``send.stopWhen`` stopped the campaign's last apply, or None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT reason FROM stops WHERE target = ? AND campaign = ?", (target, campaign)
            ).fetchone()
        return None if row is None else str(row[0])

    def clear_stop(self, target: str, campaign: str) -> None:
        with self._write(full=True) as conn:
            conn.execute("DELETE FROM stops WHERE target = ? AND campaign = ?", (target, campaign))
