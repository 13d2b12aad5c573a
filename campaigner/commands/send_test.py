"""`campaigner send-test CAMPAIGN.yaml --row N --to PHONE`: one row's message to one address, outside the campaign."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from campaigner.commands.common import lookup_scenario, open_ledger, state_option, target_option
from campaigner.errors import CampaignerError, InputError

if TYPE_CHECKING:
    from campaigner.campaign.load import LoadedCampaign
    from campaigner.plan.build import PlannedMessage
    from campaigner.sending.one_off import TestResult


def _row(loaded: LoadedCampaign, target_id: str, row: int) -> PlannedMessage:
    """Row ``row`` of the CSV, rendered as apply would render it."""
    from campaigner.plan.build import PlannedMessage
    from campaigner.plan.stream import MessageStream
    from campaigner.plan.views import REASON_TEXT

    stream = MessageStream(loaded, target_id)
    csv = str(stream.source.path)
    last = 1
    try:
        for item in stream:
            last = item.row
            if item.row == row:
                if isinstance(item, PlannedMessage):
                    return item
                reason = REASON_TEXT.get(item.reason, item.reason)
                raise InputError(
                    f"this row is not sent by the campaign ({reason})",
                    path=csv,
                    row=row,
                    hint="choose a row that plan counts as to send",
                )
            if item.row > row:
                break
    finally:
        stream.close()
    if stream.errors:
        raise stream.errors[0]
    raise InputError(
        f"there is no row {row} (data rows are 2..{last})",
        path=csv,
        hint="rows count as a spreadsheet shows them: the header is row 1",
    )


def _address(loaded: LoadedCampaign, phone: str, line_key: str | None) -> dict[str, str]:
    from campaigner.recipients.phones import PhoneNormalizer

    number = PhoneNormalizer(loaded.spec.recipients.defaultRegion).normalize(phone)
    if not isinstance(number, str):
        raise CampaignerError(
            "error: --to: not a valid mobile number; give it with its country code, e.g. +385 91 234 5678"
        )
    to = {"phoneNumber": number}
    if line_key:
        to["lineUserKey"] = line_key
    return to


def _confirm(target_id: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CampaignerError(f"error: a test send to {target_id} needs confirmation: pass --yes")
    answer = click.prompt(f"Send one test message via {target_id}? Only 'yes' will be accepted", default="")
    if answer.strip() != "yes":
        raise CampaignerError("Test send cancelled; nothing was sent.")


@click.command("send-test")
@click.argument("campaign_file", type=click.Path(path_type=Path))
@click.option("--row", "row", type=int, required=True, help="The CSV row to render (the header is row 1).")
@click.option("--to", "phone", required=True, help="The phone number to send to (the row's own is not used).")
@click.option("--line-key", "line_key", default=None, help="A LINE user key to send to.")
@click.option("--wait", "wait", default="60s", show_default=True, help="How long to wait for the report.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (real provider).")
@click.option("--show-pii", is_flag=True, help="Show the address unmasked.")
@target_option
@state_option
def command(
    campaign_file: Path,
    row: int,
    phone: str,
    line_key: str | None,
    wait: str,
    yes: bool,
    show_pii: bool,
    target: str | None,
    state: str | None,
) -> None:
    """Send row ROW's message of CAMPAIGN_FILE to one address only; it never counts as the campaign's."""
    from campaigner.campaign.load import load_campaign
    from campaigner.campaign.spec import parse_duration
    from campaigner.plan.views import show_to
    from campaigner.sending.target import choose_target, connect, state_location

    try:
        wait_seconds = parse_duration(wait)
    except ValueError as exc:
        raise CampaignerError(f"error: --wait: {exc}") from exc
    loaded = load_campaign(campaign_file)
    chosen = choose_target(target, for_apply=True)
    message = _row(loaded, chosen.id, row)
    to = _address(loaded, phone, line_key)
    if not chosen.is_sandbox:
        _confirm(chosen.id, yes)
    ledger = open_ledger(chosen, create=True, state=state)  # only the scenario's key is kept in it
    assert ledger is not None
    try:
        with connect(chosen, state=state_location(given=state)) as conn:
            click.echo(conn.description)
            change = lookup_scenario(conn, loaded, ledger)
            result = asyncio.run(_send(conn, ledger, change, loaded, to, message.payload.body, wait_seconds))
    finally:
        ledger.close()
    shown = show_to(to, show_pii=show_pii)
    click.echo(f"Test message {result.message_id} (row {row}) to {shown}, bulkId {result.bulk_id}:")
    for line in _describe(result):
        click.echo(f"  {line}")
    if result.group != "DELIVERED":
        raise click.exceptions.Exit(1)


async def _send(
    conn: Any, ledger: Any, change: Any, loaded: LoadedCampaign, to: dict[str, str], body: dict[str, Any], wait: float
) -> TestResult:
    from campaigner.omni.client import OmniClient
    from campaigner.sending.apply import ensure_scenario
    from campaigner.sending.one_off import send_one

    progress = _Echo()
    async with OmniClient(conn.config) as client:
        key = await ensure_scenario(client, ledger, conn.target, change, progress)
        return await send_one(
            client,
            scenario_key=key,
            campaign=loaded.spec.campaign,
            to=to,
            body=body,
            wait=wait,
            poll=0.2 if conn.target.is_sandbox else 3.0,
        )


class _Echo:
    def phase(self, text: str) -> None:
        click.echo(text)

    def sending(self, total: int) -> None: ...

    def sent(self, accepted: int, rejected: int, unknown: int) -> None: ...

    def done_sending(self) -> None: ...


def _describe(result: TestResult) -> list[str]:
    if result.report is None:
        if result.answer is None:
            return ["no answer came: it may have been sent; look its message id up in the provider's logs"]
        status = result.answer
        if result.group == "REJECTED":
            return [_safe(f"rejected: {status.get('name')}: {status.get('description') or ''}".rstrip(": "))]
        return [_safe(f"accepted ({status.get('name')}), but no final report came in time")]
    report = result.report
    status = report.get("status") or {}
    lines = [f"{status.get('groupName')}: {status.get('name')} via {report.get('channel') or '?'}"]
    error = report.get("error") or {}
    if error and error.get("name") not in (None, "NO_ERROR"):
        lines.append(f"error: {error.get('name')}: {error.get('description') or ''}".rstrip(": "))
    if report.get("doneAt"):
        lines.append(f"done at {report.get('doneAt')}")
    price = report.get("price") or {}
    if price.get("pricePerMessage") is not None:
        lines.append(f"price {price.get('pricePerMessage')} {price.get('currency') or ''}".rstrip())
    if result.from_logs:
        lines.append("(from the provider's logs: the report itself was not received)")
    return [_safe(line) for line in lines]


def _safe(text: str) -> str:
    """The provider's text for a terminal: control characters shown escaped, length bounded."""
    from campaigner.text.escape import for_terminal

    return for_terminal(text[:500])
