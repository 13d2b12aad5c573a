"""`campaigner plan CAMPAIGN.yaml`: show exactly what apply would send; send nothing, create nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from campaigner.commands.common import (
    atomic_write_path,
    lookup_scenario,
    open_ledger,
    sent_lookup,
    state_option,
    target_option,
)

if TYPE_CHECKING:
    from campaigner.campaign.load import LoadedCampaign
    from campaigner.sending.target import Connection

SentLookup = Callable[[Sequence[str]], dict[str, str]]


@click.command("plan")
@click.argument("campaign_file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan for `campaigner apply FILE`.")
@click.option("--show-pii", is_flag=True, help="Show phone numbers and LINE keys unmasked.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing would change, 2 when something would.")
@target_option
@state_option
def command(
    campaign_file: Path,
    fmt: str,
    out: Path | None,
    show_pii: bool,
    detailed_exitcode: bool,
    target: str | None,
    state: str | None,
) -> None:
    """Show what `apply` would send for CAMPAIGN_FILE. Nothing is sent or created."""
    from campaigner.campaign.load import load_campaign
    from campaigner.plan import ids
    from campaigner.plan import views as planview
    from campaigner.plan.build import build_plan
    from campaigner.plan.saved import PlanWriter
    from campaigner.sending.target import choose_target, connect, state_location

    loaded = load_campaign(campaign_file)
    chosen = choose_target(target)
    ledger = open_ledger(chosen, create=False, state=state)
    upper_bound: str | None = None
    try:
        with connect(chosen, state=state_location(given=state), writes=False) as conn:
            change = lookup_scenario(conn, loaded, ledger)
            lookup = sent_lookup(ledger, chosen, loaded.spec.campaign)
            if ledger is None or not ledger.campaign_known(chosen.id, loaded.spec.campaign):
                lookup, upper_bound = _from_logs(conn, loaded, ids.bulk_id(chosen.id, loaded.spec.campaign))
            canary_line = _canary_line(ledger, chosen.id, loaded)

        if out is None:
            plan = build_plan(loaded, target_id=chosen.id, scenario=change, lookup=lookup, show_pii=show_pii)
        else:
            tmp = atomic_write_path(out)
            try:
                with tmp.open("w", encoding="utf-8", newline="\n") as fh:
                    writer = PlanWriter(
                        fh,
                        loaded,
                        target_id=chosen.id,
                        bulk_id=ids.bulk_id(chosen.id, loaded.spec.campaign),
                        scenario=change,
                        plan_dir=out.parent,
                    )
                    plan = build_plan(
                        loaded, target_id=chosen.id, scenario=change, lookup=lookup, sink=writer, show_pii=show_pii
                    )
                    writer.finish(plan)
                os.replace(tmp, out)
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        if ledger is not None:
            ledger.close()
    if fmt == "json":
        click.echo(conn.description, err=True)
        click.echo(planview.to_json(plan, show_pii=show_pii), nl=False)
    elif fmt == "markdown":
        click.echo(planview.to_markdown(plan, target_line=conn.description, show_pii=show_pii), nl=False)
    else:
        click.echo(planview.to_text(plan, target_line=conn.description, show_pii=show_pii), nl=False)
        if canary_line:
            click.echo(canary_line)
    if upper_bound is not None:
        click.echo(
            f"Note: the ledger has no record of this campaign and the provider's logs could not be read "
            f"({upper_bound}): the count to send is an upper bound.",
            err=fmt == "json",
        )
    if out is not None:
        click.echo(f"Saved the plan to {out}; apply it with `campaigner apply {out}`.", err=True)
    if detailed_exitcode and plan.has_changes:
        raise click.exceptions.Exit(2)


def _canary_line(ledger: Any, target_id: str, loaded: Any) -> str | None:
    """What the ledger says of this plan's canary (its sample is kept: the line above is its first size)."""
    if ledger is None or loaded.spec.send.canary is None:
        return None
    from campaigner.plan.canary import plan_digest

    record = ledger.canary(target_id, loaded.spec.campaign, plan_digest(loaded))
    if record is None:
        return None
    why = f" ({record.reason})" if record.reason else ""
    if record.state in ("passed", "accepted"):
        return f"The canary of this plan was {record.state}{why}: apply sends the rest without a new one."
    if record.state in ("failed", "inconclusive"):
        return (
            f"The canary of this plan was {record.state}{why}: apply sends nothing until "
            "--accept-canary or --retry-canary."
        )
    return f"The canary of this plan ({record.size} message(s)) is {record.state}: apply resumes it."


def _from_logs(conn: Connection, loaded: LoadedCampaign, bulk: str) -> tuple[SentLookup, str | None]:
    """A fresh ledger: what the provider's logs hold of the campaign counts as sent (read-only).

    Returns the lookup, and why the logs could not be read (None when they were).
    """
    import asyncio

    from campaigner.errors import CampaignerError
    from campaigner.omni.client import OmniClient
    from campaigner.plan.build import MessageStream, PlannedMessage
    from campaigner.sending.horizon import provider_sent

    def message_ids() -> Iterator[str]:
        stream = MessageStream(loaded, conn.target.id)
        try:
            for item in stream:
                if isinstance(item, PlannedMessage):
                    yield item.message_id
        finally:
            stream.close()

    async def read() -> set[str]:
        async with OmniClient(conn.config) as client:
            return await provider_sent(client, bulk, message_ids)

    try:
        found = asyncio.run(read())
    except (CampaignerError, OSError) as exc:
        return (lambda ids: {}), str(exc).removeprefix("error: ")

    def lookup(message_ids: Sequence[str]) -> dict[str, str]:
        return {mid: "accepted" for mid in message_ids if mid in found}

    return lookup, None
