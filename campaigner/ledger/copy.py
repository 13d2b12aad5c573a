"""``campaigner state copy FROM TO``: copy a ledger (SQLite <-> PostgreSQL), every campaign, message and report.

Idempotent: what the target already holds identically is left alone, so a copy can be run again (or resumed
after an interruption). It refuses, naming the campaign, when the target disagrees about a message (another
state, payload or campaign) or a campaign (another bulkId): merging two histories of one campaign could
resend or lose messages. Every check is made before anything is written; the writes go in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from campaigner.errors import CampaignerError
from campaigner.ledger.messages import Ledger
from campaigner.ledger.store import Tx

PAGE: Final = 1000

_MESSAGE_COLUMNS: Final = (
    "target, message_id, campaign, recipient_id, row, payload_hash, state, attempts, requested_at, answered_at, "
    "check_after, provider_status_json, reason, adopted, send_at"
)
_REPORT_COLUMNS: Final = "target, message_id, bulk_id, status_group, final, raw_json, source, received_at"


@dataclass
class CopyCounts:
    """What a copy wrote (rows the target did not have) and what it found already there."""

    campaigns: int = 0
    scenarios: int = 0
    messages: int = 0
    reports: int = 0
    unchanged: int = 0
    names: list[str] = field(default_factory=list)


def copy_ledger(source: Ledger, dest: Ledger) -> CopyCounts:
    """Copy everything in ``source`` into ``dest``; raise :class:`CampaignerError` on a disagreement."""
    counts = CopyCounts()
    campaigns = list(source.store.stream("SELECT target, campaign, bulk_id, first_seen, reports_state FROM campaigns "
                                         "ORDER BY target, campaign", (), size=PAGE))  # fmt: skip
    scenarios = list(
        source.store.stream(
            "SELECT target, name, key, flow_json, updated_at FROM scenarios ORDER BY 1, 2", (), size=PAGE
        )
    )
    with dest._write(full=True) as tx:
        for target, campaign, bulk_id, first_seen, reports_state in campaigns:
            row = tx.execute(
                "SELECT bulk_id FROM campaigns WHERE target = ? AND campaign = ?", (target, campaign)
            ).fetchone()
            if row is None:
                tx.execute(
                    "INSERT INTO campaigns (target, campaign, bulk_id, first_seen, reports_state) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (target, campaign, bulk_id, first_seen, reports_state),
                )
                counts.campaigns += 1
                counts.names.append(campaign)
            elif row[0] != bulk_id:
                raise CampaignerError(
                    f"{dest.where}: error: campaign {campaign} on {target} has bulkId {row[0]} there and {bulk_id} in "
                    f"{source.where}; nothing was copied"
                )
        for target, name, key, flow_json, updated_at in scenarios:
            counts.scenarios += tx.execute(
                "INSERT INTO scenarios (target, name, key, flow_json, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (target, name) DO NOTHING",
                (target, name, key, flow_json, updated_at),
            ).rowcount
        batch: list[tuple[Any, ...]] = []
        for message in source.store.stream(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages ORDER BY target, message_id", (), size=PAGE
        ):
            batch.append(tuple(message))
            if len(batch) >= PAGE:
                _copy_messages(tx, source, dest, batch, counts)
                batch = []
        if batch:
            _copy_messages(tx, source, dest, batch, counts)
        reports: list[tuple[Any, ...]] = []
        for report in source.store.stream(
            f"SELECT {_REPORT_COLUMNS} FROM reports ORDER BY target, message_id", (), size=PAGE
        ):
            reports.append(tuple(report))
            if len(reports) >= PAGE:
                counts.reports += _copy_reports(tx, reports)
                reports = []
        if reports:
            counts.reports += _copy_reports(tx, reports)
    return counts


def _copy_messages(tx: Tx, source: Ledger, dest: Ledger, batch: list[tuple[Any, ...]], counts: CopyCounts) -> None:
    by_target: dict[str, list[str]] = {}
    for m in batch:
        by_target.setdefault(m[0], []).append(m[1])
    there: dict[tuple[str, str], tuple[Any, ...]] = {}
    for target, ids in by_target.items():
        marks = ",".join("?" * len(ids))
        for row in tx.execute(
            "SELECT message_id, campaign, state, payload_hash FROM messages "
            f"WHERE target = ? AND message_id IN ({marks})",
            (target, *ids),
        ).fetchall():
            there[(target, row[0])] = tuple(row[1:])
    new = []
    for m in batch:
        known = there.get((m[0], m[1]))
        if known is None:
            new.append(m)
        elif known == (m[2], m[6], m[5]):
            counts.unchanged += 1
        else:
            raise CampaignerError(
                f"{dest.where}: error: campaign {m[2]}: message {m[1]} is {known[1]} there and {m[6]} in "
                f"{source.where}; the ledgers disagree, nothing was copied"
            )
    if new:
        marks = ", ".join("?" * len(_MESSAGE_COLUMNS.split(",")))
        counts.messages += tx.executemany(f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({marks})", new).rowcount


def _copy_reports(tx: Tx, rows: list[tuple[Any, ...]]) -> int:
    """A report the target lacks is copied; one it has stays (a final report is kept, as store_reports does)."""
    return tx.executemany(
        f"INSERT INTO reports ({_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (target, message_id) DO NOTHING",
        rows,
    ).rowcount
