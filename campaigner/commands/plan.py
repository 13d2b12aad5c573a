"""`campaigner plan [PATH ...]`: show exactly what apply would send; send nothing, create nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from campaigner.commands.common import (
    atomic_write_path,
    lookup_scenario,
    measured_latency,
    open_ledger,
    sent_lookup,
    state_option,
    target_option,
)
from campaigner.commands.selection import Selection, changed_since_option, echo_problems, select
from campaigner.errors import CampaignerError, display_path

if TYPE_CHECKING:
    from campaigner.campaign.load import LoadedCampaign
    from campaigner.ledger.messages import Ledger
    from campaigner.plan.build import Plan
    from campaigner.sending.target import Connection, Target

SentLookup = Callable[[Sequence[str]], dict[str, str]]


@click.command("plan")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan for `campaigner apply FILE`.")
@click.option("--show-pii", is_flag=True, help="Show phone numbers and LINE keys unmasked.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing would change, 2 when something would.")
@changed_since_option
@target_option
@state_option
def command(
    paths: tuple[str, ...],
    fmt: str,
    out: Path | None,
    show_pii: bool,
    detailed_exitcode: bool,
    changed_since: str | None,
    target: str | None,
    state: str | None,
) -> None:
    """Show what `apply` would send for the campaign files and folders PATHS (default: campaigns/).

    Nothing is sent or created. Over several campaigns each is planned on its own, and the exit code is
    the worst of them (1 for errors; 2 for changes with --detailed-exitcode).
    """
    from campaigner.plan import views as planview
    from campaigner.sending.target import choose_target, connect, state_location

    selection = select(paths, changed_since=changed_since)
    if out is not None and (selection.several or len(selection.entries) != 1):
        raise CampaignerError("error: --out saves the plan of one campaign; name one campaign file")
    chosen = choose_target(target)
    plans: dict[int, Plan] = {}
    upper_bounds: dict[int, str] = {}  # campaigns the ledger does not know whose logs could not be read
    canary_lines: dict[int, str] = {}  # what the ledger says of a campaign's canary
    latency = None  # the target's latency as an earlier apply measured it (the duration estimate)
    if any(entry.ok for entry in selection.entries):
        ledger = open_ledger(chosen, create=False, state=state)
        try:
            latency = measured_latency(ledger, chosen)
            with connect(chosen, state=state_location(given=state), writes=False) as conn:
                for i, entry in enumerate(selection.entries):
                    if not entry.ok:
                        continue
                    assert entry.loaded is not None
                    try:
                        plans[i], upper, canary = _plan_one(conn, chosen, ledger, entry.loaded, out, show_pii)
                    except CampaignerError as exc:
                        entry.errors.extend(exc.lines())
                        continue
                    if upper is not None:
                        upper_bounds[i] = upper
                    if canary is not None:
                        canary_lines[i] = canary
        finally:
            if ledger is not None:
                ledger.close()
        description = conn.description
    else:
        description = _short_target_line(chosen)
    for entry in selection.entries:
        echo_problems(entry)
    failed = [e for e in selection.entries if e.errors]
    if fmt == "markdown":  # one pull-request comment, whatever the number of campaigns
        click.echo(_comment(plans, selection, chosen, show_pii), nl=False)
    elif not selection.several:
        if plans:
            plan = plans[0]
            if fmt == "json":
                click.echo(description, err=True)
                click.echo(planview.to_json(plan, show_pii=show_pii), nl=False)
            else:
                text = planview.to_text(plan, target_line=description, show_pii=show_pii, latency=latency)
                click.echo(text, nl=False)
                if 0 in canary_lines:
                    click.echo(canary_lines[0])
    elif fmt == "json":
        click.echo(description, err=True)
        data = {
            "format_version": planview.FORMAT_VERSION,
            "target": chosen.id,
            "campaigns": [planview.to_json_data(p, show_pii=show_pii) for p in plans.values()],
            "errors": [{"file": display_path(e.path), "campaign": e.name, "lines": e.errors} for e in failed],
            "removed": [{"file": r.path, "campaign": r.campaign} for r in selection.removed],
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(description)
        for i, entry in enumerate(selection.entries):
            click.echo(f"\n== {entry.name} ({display_path(entry.path)}) ==")
            if i in plans:
                text = planview.to_text(plans[i], target_line="", show_pii=show_pii, latency=latency)
                click.echo(text.lstrip("\n"), nl=False)
                if i in canary_lines:
                    click.echo(canary_lines[i])
            else:
                click.echo("error: not planned (the errors are above, on stderr)")
        for removed in selection.removed:
            click.echo(removed.line())
        click.echo(_tally(len(plans), sum(p.has_changes for p in plans.values()), len(failed), len(selection.removed)))
    for i, reason in upper_bounds.items():
        which = "this campaign" if not selection.several else f"{selection.entries[i].name}"
        click.echo(
            f"Note: the ledger has no record of {which} and the provider's logs could not be read "
            f"({reason}): the count to send is an upper bound.",
            err=fmt != "text",
        )
    if out is not None and plans:
        click.echo(f"Saved the plan to {out}; apply it with `campaigner apply {out}`.", err=True)
    if failed:
        raise click.exceptions.Exit(1)
    if detailed_exitcode and any(p.has_changes for p in plans.values()):
        raise click.exceptions.Exit(2)


def _comment(plans: dict[int, Plan], selection: Selection, chosen: Target, show_pii: bool) -> str:
    from campaigner.plan import comment

    failed = [comment.Failed(e.name, display_path(e.path), e.errors) for e in selection.entries if e.errors]
    removed = [comment.Gone(r.campaign, r.path) for r in selection.removed]
    return comment.render(
        list(plans.values()),
        target_line=_short_target_line(chosen),
        show_pii=show_pii,
        failed=failed,
        removed=removed,
    )


def _short_target_line(chosen: Target) -> str:
    """The target without the runner's paths or ports: fit for a pull request, the same on every machine."""
    if chosen.is_sandbox:
        return "Target: embedded sandbox; nothing leaves this machine"
    return f"Target: Infobip {chosen.id}"


def _tally(planned: int, changes: int, failed: int, removed: int) -> str:
    parts = [f"{planned} campaign{'s' if planned != 1 else ''} planned ({changes} with changes)"]
    if failed:
        parts.append(f"{failed} with errors")
    if removed:
        parts.append(f"{removed} removed")
    return "\nCampaigns: " + ", ".join(parts) + "."


def _plan_one(
    conn: Connection, chosen: Target, ledger: Ledger | None, loaded: LoadedCampaign, out: Path | None, show_pii: bool
) -> tuple[Plan, str | None, str | None]:
    """One campaign's plan, why the provider's logs could not be read for a fresh ledger (or None), and what
    the ledger says of its canary (or None)."""
    from campaigner.plan import ids
    from campaigner.plan.build import build_plan
    from campaigner.plan.saved import PlanWriter

    change = lookup_scenario(conn, loaded, ledger)
    lookup = sent_lookup(ledger, chosen, loaded.spec.campaign)
    upper_bound: str | None = None
    if ledger is None or not ledger.campaign_known(chosen.id, loaded.spec.campaign):
        lookup, upper_bound = _from_logs(conn, loaded, ids.bulk_id(chosen.id, loaded.spec.campaign))
    canary = _canary_line(ledger, chosen.id, loaded)
    if out is None:
        plan = build_plan(loaded, target_id=chosen.id, scenario=change, lookup=lookup, show_pii=show_pii)
        return plan, upper_bound, canary
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
    return plan, upper_bound, canary


def _canary_line(ledger: Any, target_id: str, loaded: Any) -> str | None:
    """What the ledger says of this plan's canary (its sample is kept: the line above is its first size)."""
    if ledger is None or loaded.spec.send.canary is None:
        return None
    from campaigner.plan.canary import inputs_digest

    record = ledger.canary(target_id, loaded.spec.campaign, inputs_digest(loaded))
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
    from campaigner.plan.build import PlannedMessage
    from campaigner.plan.stream import MessageStream
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
