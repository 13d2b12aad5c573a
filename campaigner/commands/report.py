"""`campaigner report CAMPAIGN.yaml`: fetch outstanding delivery reports, store them, rewrite the summary."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from campaigner.commands.common import open_ledger, state_option, target_option
from campaigner.commands.selection import changed_since_option, for_each_campaign
from campaigner.errors import CampaignerError
from campaigner.text.escape import for_terminal


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--wait", "wait", default="0s", show_default=True, help="How long to wait for outstanding reports.")
@changed_since_option
@target_option
@state_option
def command(
    paths: tuple[str, ...], wait: str, changed_since: str | None, target: str | None, state: str | None
) -> None:
    """Fetch outstanding delivery reports of the campaigns PATHS (files or folders); rewrite their summaries."""
    for_each_campaign(paths, changed_since, lambda path: report_one(path, wait, target, state))


def report_one(campaign_file: Path, wait: str, target: str | None, state: str | None) -> None:
    """Fetch the campaign's outstanding delivery reports and (re)write its summary files."""
    from campaigner.campaign.load import load_campaign
    from campaigner.campaign.spec import parse_duration
    from campaigner.commands.apply import LineProgress
    from campaigner.omni.client import OmniClient
    from campaigner.plan.cost import CostEstimator
    from campaigner.plan.ids import bulk_id as make_bulk_id
    from campaigner.plan.stream import MessageStream
    from campaigner.sending.reports import collect_reports, plan_tally, write_summary
    from campaigner.sending.target import choose_target, connect, state_location
    from campaigner.summary.render import headline

    loaded = load_campaign(campaign_file)
    try:
        seconds = parse_duration(wait)
    except ValueError as exc:
        raise CampaignerError(f"error: --wait: {exc}") from None
    chosen = choose_target(target)
    campaign = loaded.spec.campaign
    ledger = open_ledger(chosen, create=False, state=state)
    if ledger is None or not ledger.campaign_known(chosen.id, campaign):
        raise CampaignerError(f"error: the ledger has no record of {campaign} on {chosen.id}; apply it first")
    bulk = ledger.campaign_bulk_id(chosen.id, campaign) or make_bulk_id(chosen.id, campaign)
    try:
        stream = MessageStream(loaded, chosen.id)
        try:
            pricing = loaded.spec.pricing
            cost = CostEstimator(pricing, loaded.spec.scenario.channels) if pricing else None
            tally = plan_tally(ledger, chosen, campaign, stream, cost)
        finally:
            stream.close()
        # Reports are handed out once: one process at a time fetches them (an apply holds the same lock).
        with ledger.lock(chosen.id, campaign, command=f"campaigner report {campaign_file}"):
            with connect(chosen, state=state_location(given=state)) as conn:
                click.echo(conn.description)

                async def fetch() -> tuple[int, int]:
                    async with OmniClient(conn.config) as client:
                        return await collect_reports(
                            client, ledger, chosen, campaign, bulk, wait=seconds, progress=LineProgress()
                        )

                stored, pending = asyncio.run(fetch())
            from campaigner.sending.canary import canary_summary

            canary = canary_summary(ledger, chosen.id, campaign, loaded.spec.send.canary)
            written = write_summary(
                ledger,
                loaded,
                chosen,
                bulk,
                skipped=tally.skipped,
                never_sent=tally.never_sent,
                canary=canary,
                estimate=tally.estimate,
            )
    finally:
        ledger.close()
    click.echo(f"Stored {stored} new report(s); {pending} message(s) still without a final report.")
    click.echo(for_terminal(headline(written.summary)))
    click.echo(f"Summary: {written.directory}/summary.md")
