"""``campaigner unlock CAMPAIGN --force``: release a campaign's apply lock on the current target."""

from __future__ import annotations

import re
from pathlib import Path

import click

from campaigner.campaign.spec import CAMPAIGN_ID
from campaigner.commands.common import state_option
from campaigner.errors import CampaignerError, InputError
from campaigner.ledger.lock import force_unlock
from campaigner.sending.target import choose_target, state_location


@click.command("unlock")
@click.argument("campaign", metavar="CAMPAIGN")
@click.option("--force", is_flag=True, help="Really release the lock (required).")
@click.option(
    "--target",
    "target_choice",
    type=click.Choice(["sandbox", "provider"]),
    default=None,
    help="Whose lock: the embedded sandbox, or the provider of INFOBIP_BASE_URL (default: the environment).",
)
@state_option
def command(campaign: str, force: bool, target_choice: str | None, state: str | None) -> None:
    """Release the apply lock of CAMPAIGN (a campaign id or its YAML file).

    A running apply releases its lock when it exits, even when killed; use this only for a lock whose
    holder is gone. A holder still running on this host is refused: stop it instead.
    """
    campaign_id = campaign_of(campaign)
    target = choose_target(target_choice).id  # the same id apply locks under
    if not force:
        raise CampaignerError(
            f"error: unlock needs --force: releasing the lock of campaign {campaign_id} lets another apply "
            "start; make sure none is running"
        )
    location = state_location(given=state)
    if location.path is not None:
        holder = force_unlock(location.path.parent, target, campaign_id)  # the same folder apply locks in
    else:
        from campaigner.ledger.messages import Ledger

        with Ledger(location.value) as ledger:
            holder = ledger.store.force_unlock(target, campaign_id)
    if holder is None:
        click.echo(f"No lock held for campaign {campaign_id} on target {target}.")
    else:
        click.echo(f"Released the lock of campaign {campaign_id} on target {target}, held by {holder}.")
        if holder.alive_here() is None and holder.pid is not None:
            click.echo(
                f"warning: the holder ran on host {holder.host}, which cannot be checked from here; if that "
                "apply is still running, stop it before applying again, or messages it has claimed could be sent twice",
                err=True,
            )


def campaign_of(argument: str) -> str:
    """The campaign id named by ARGUMENT: the id itself, or the ``campaign:`` key of a .yaml/.yml file."""
    if not argument.endswith((".yaml", ".yml")):
        if not re.match(CAMPAIGN_ID, argument):
            raise CampaignerError(
                f"error: {argument!r} is neither a campaign id ([a-z0-9][a-z0-9._-]{{0,63}}) "
                "nor a .yaml/.yml campaign file"
            )
        return argument
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    path = Path(argument)
    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file: {exc}", path=path) from exc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise InputError(f"not valid YAML: {exc.problem}", path=path, line=line, col=col) from exc
    except YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", path=path) from exc
    value = data.get("campaign") if isinstance(data, dict) else None
    if not isinstance(value, str) or not re.match(CAMPAIGN_ID, value):
        raise InputError("no valid `campaign:` id in this file", path=path, hint="expected [a-z0-9][a-z0-9._-]{0,63}")
    return value
