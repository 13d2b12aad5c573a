"""`campaigner status CAMPAIGN.yaml`: the ledger's counts for a campaign, without contacting anyone."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click

from campaigner.commands.common import open_ledger, state_option, target_option


@click.command("status")
@click.argument("campaign_file", type=click.Path(path_type=Path))
@target_option
@state_option
def command(campaign_file: Path, target: str | None, state: str | None) -> None:
    """Print what the ledger knows of CAMPAIGN_FILE on the target: message states and final reports."""
    from campaigner.campaign.load import load_campaign
    from campaigner.sending.target import choose_target, state_location

    loaded = load_campaign(campaign_file)
    chosen = choose_target(target)
    campaign = loaded.spec.campaign
    where = "embedded sandbox" if chosen.is_sandbox else chosen.id
    click.echo(f"Target: {where} (ledger {state_location(given=state)}; nothing contacted)")
    ledger = open_ledger(chosen, create=False, state=state)
    if ledger is None or not ledger.campaign_known(chosen.id, campaign):
        click.echo(f"{campaign}: nothing sent yet on this target.")
        return
    try:
        counts = ledger.counts(chosen.id, campaign)
        canary = ledger.latest_canary(chosen.id, campaign)
        stopped = ledger.stopped(chosen.id, campaign)
        hours = ledger.scheduled_by_hour(chosen.id, campaign, now=time.time())
    finally:
        ledger.close()
    click.echo(f"{campaign}:")
    for section, values in counts.items():
        shown = ", ".join(f"{k} {v}" for k, v in values.items())
        click.echo(f"  {section}: {shown or 'none'}")
    if canary is not None:
        why = f": {canary.reason}" if canary.reason else ""
        click.echo(f"  canary: {canary.state}, {canary.size} recipient(s){why}")
    if stopped is not None:
        click.echo(f"  stopped: {stopped} (apply --resume-stopped continues)")
    if hours:
        click.echo(f"  scheduled: {sum(n for _, n in hours)} accepted with a later sendAt, by hour (UTC):")
        for hour, n in hours:
            click.echo(f"    {datetime.fromtimestamp(hour, UTC).strftime('%Y-%m-%d %H:00')}  {n}")
