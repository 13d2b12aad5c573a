"""The canary, pure: its size, its deterministic sample (by message id), its verdict, and how plan shows it.

The sample is the ``size`` smallest message ids among the messages still to send. Message ids are hashes
of (target, campaign, recipient), so the sample is spread evenly over the list, not its first rows, and
the same list always gives the same sample.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from campaigner.campaign.conditions import Condition
from campaigner.campaign.load import LoadedCampaign
from campaigner.campaign.spec import Canary, format_duration
from campaigner.plan.build import PlannedMessage
from campaigner.plan.saved import file_sha256
from campaigner.recipients.reader import input_files

GROUPS = ("delivered", "undeliverable", "expired", "rejected")


def sample_size(canary: Canary, to_send: int) -> int:
    """How many of ``to_send`` messages go out first: ``count``, or ``share`` but at least ``min``."""
    if canary.count is not None:
        want = canary.count
    else:
        assert canary.share is not None
        want = max(canary.min_reports, math.ceil(canary.share * to_send))
    return min(want, to_send)


def choose_sample(message_ids: Iterable[str], size: int) -> list[str]:
    """The ``size`` smallest message ids, sorted: deterministic, and spread over the list."""
    return heapq.nsmallest(size, set(message_ids)) if size > 0 else []


def sample_messages(
    messages: Iterable[PlannedMessage], size: int, *, due: datetime | None = None
) -> list[PlannedMessage]:
    """The messages of :func:`choose_sample` (ids are unique in a plan), kept to send: memory O(size).

    With ``due`` (send.localHours), messages whose sendAt is no later than ``due`` come first, by id, so
    that the canary's reports can come within its wait; later ones fill up what is missing, by id.
    """
    if size <= 0:
        return []
    if due is None:
        return heapq.nsmallest(size, messages, key=attrgetter("message_id"))

    def key(m: PlannedMessage) -> tuple[bool, str]:
        return (m.send_at is not None and m.send_at > due, m.message_id)

    return heapq.nsmallest(size, messages, key=key)


@dataclass(frozen=True)
class Tally:
    """The canary's messages as they stand: final outcomes by group, and those still awaited."""

    size: int
    final: Mapping[str, int] = field(default_factory=dict)  # GROUPS -> recipients
    awaiting: int = 0  # sent (or in doubt), no final outcome yet
    unsent: int = 0  # never sent (still planned)

    @property
    def decided(self) -> int:
        return sum(self.final.get(g, 0) for g in GROUPS)


@dataclass(frozen=True)
class Verdict:
    """``passed``, ``failed`` or ``inconclusive``, with one line that says why (numbers included)."""

    state: str
    reason: str
    tally: Tally


def _figure(group: str, condition: Condition, n: int, total: int) -> str:
    measured = f"{condition.measure(n, total):.1f}%" if condition.percent else str(n)
    return f"{group} {measured} ({n} of {total} with a final report), required {condition}"


def decide(canary: Canary, tally: Tally) -> Verdict:
    """Pass when every condition holds over at least ``min`` final outcomes; fail when one is broken."""
    total = tally.decided
    need = min(canary.min_reports, tally.size) if tally.size else canary.min_reports
    if total < need:
        return Verdict(
            "inconclusive",
            f"{total} of the canary's {tally.size} recipients have a final report, {need} are needed to decide",
            tally,
        )
    broken = [
        _figure(group, cond, tally.final.get(group, 0), total)
        for group, cond in canary.require.items()
        if not cond.holds(tally.final.get(group, 0), total)
    ]
    if broken:
        return Verdict("failed", "; ".join(broken), tally)
    held = [_figure(g, c, tally.final.get(g, 0), total) for g, c in canary.require.items()]
    return Verdict("passed", "; ".join(held), tally)


def finished(tally: Tally) -> bool:
    """Every message of the canary has a final outcome: waiting longer changes nothing."""
    return tally.awaiting == 0 and tally.unsent == 0


def conditions_text(canary: Canary) -> str:
    return ", ".join(f"{group} {cond}" for group, cond in canary.require.items())


def describe(canary: Canary, to_send: int) -> str:
    """One line for plan: the canary's size, how it is chosen, its conditions and its wait."""
    size = sample_size(canary, to_send)
    how = f"{canary.share * 100:g}%" if canary.share is not None else f"count {canary.count}"
    return (
        f"{size} of {to_send} first ({how}, at least {canary.min_reports} final reports), "
        f"waits up to {format_duration(canary.wait)}; requires {conditions_text(canary)}"
    )


def inputs_digest(loaded: LoadedCampaign) -> str:
    """What identifies a canary: the campaign file and its input files' contents (a change: a new canary).

    Not the plan digest of :mod:`campaigner.plan.digest`, which also moves as messages are sent.
    """
    h = hashlib.sha256(loaded.sha256.encode("ascii"))
    for path in input_files(loaded.spec.recipients, loaded.base_dir):
        h.update(b"\x00" + file_sha256(path).encode("ascii"))
    return h.hexdigest()[:32]
