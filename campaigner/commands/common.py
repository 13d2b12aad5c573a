"""What several commands share: the target option, the scenario lookup, the read-only ledger view."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from campaigner.campaign.load import LoadedCampaign
    from campaigner.ledger.messages import Ledger
    from campaigner.plan.build import ScenarioChange
    from campaigner.plan.estimate import Latency
    from campaigner.sending.target import Connection, Target

F = Callable[..., Any]


def target_option(func: F) -> F:
    return click.option(
        "--target",
        type=click.Choice(["sandbox", "provider"]),
        default=None,
        help="Force the embedded sandbox, or require the provider from the environment.",
    )(func)


def state_option(func: F) -> F:
    return click.option(
        "--state",
        "state",
        default=None,
        metavar="PATH|URL",
        help="The ledger: a SQLite file or a postgresql:// URL (default: $CAMPAIGNER_STATE or .campaigner/state.db).",
    )(func)


def open_ledger(target: Target, *, create: bool, state: str | None = None) -> Ledger | None:
    """The ledger, or None when it does not exist and ``create`` is false (plan writes nothing)."""
    from campaigner.ledger.messages import Ledger
    from campaigner.sending.target import state_location

    location = state_location(given=state)
    if not create and not location.exists():
        return None
    if location.path is not None:
        location.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ledger = Ledger(location.value, create=create)
    if getattr(ledger.store, "empty", False):  # a server database campaigner never wrote to
        ledger.close()
        return None
    return ledger


def sent_lookup(
    ledger: Ledger | None, target: Target, campaign: str
) -> Callable[[Sequence[str]], dict[str, str]] | None:
    if ledger is None or not ledger.holds_messages(target.id, campaign):
        return None  # nothing to look up (a first apply): no query per chunk of the plan

    def lookup(message_ids: Sequence[str]) -> dict[str, str]:
        return ledger.states(target.id, campaign, message_ids)

    return lookup


def measured_latency(ledger: Ledger | None, target: Target) -> Latency | None:
    """The target's latency as an earlier apply measured it (the plan's duration estimate), or None."""
    from campaigner.plan.estimate import Latency

    record = ledger.latency(target.id) if ledger is not None else None
    return None if record is None else Latency(record.p50, record.p95, record.requests, record.concurrency)


async def _scenarios(conn: Connection) -> list[tuple[str, str, list[tuple[str, str]]]]:
    from campaigner.omni.client import OmniClient

    async with OmniClient(conn.config) as client:
        found = await client.list_scenarios()
    return [(s.key, s.name or "", [(step.channel, step.from_ or "") for step in s.flow]) for s in found]


def lookup_scenario(conn: Connection, loaded: LoadedCampaign, ledger: Ledger | None) -> ScenarioChange:
    """Read-only: compare the campaign's scenario with the target's."""
    from campaigner.plan.build import scenario_change

    existing = asyncio.run(_scenarios(conn))
    known = ledger.scenario_key(conn.target.id, loaded.spec.scenario.name) if ledger else None
    return scenario_change(loaded, existing, known_key=known)


def atomic_write_path(path: Path) -> Path:
    """A fresh owner-only temporary file beside ``path`` (a saved plan holds every phone number)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return tmp
