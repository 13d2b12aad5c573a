"""`campaigner state copy FROM TO`: copy a ledger between a SQLite file and a PostgreSQL database."""

from __future__ import annotations

import click

from campaigner.errors import CampaignerError


@click.group("state")
def command() -> None:
    """Work with ledgers (a SQLite file path or a postgresql:// URL)."""


@command.command("copy")
@click.argument("source", metavar="FROM")
@click.argument("dest", metavar="TO")
def copy(source: str, dest: str) -> None:
    """Copy every campaign, message state and report of FROM into TO (idempotent).

    Refuses, naming the campaign, when TO disagrees about a message; nothing is written then.
    """
    from pathlib import Path

    from campaigner.ledger.copy import copy_ledger
    from campaigner.ledger.location import state_location
    from campaigner.ledger.messages import Ledger

    cwd = Path.cwd()
    src, dst = state_location({}, cwd, source), state_location({}, cwd, dest)
    if src == dst:
        raise CampaignerError(f"error: FROM and TO are the same ledger ({src})")
    if not src.exists():
        raise CampaignerError(f"{src}: error: no such ledger")
    with Ledger(src.value, create=False) as reader:
        if getattr(reader.store, "empty", False):
            raise CampaignerError(f"{src}: error: no campaigner ledger in this database")
        if dst.path is not None:
            dst.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with Ledger(dst.value) as writer:
            counts = copy_ledger(reader, writer)
    click.echo(
        f"Copied {src} to {dst}: {counts.campaigns} campaign(s), {counts.messages} message(s), "
        f"{counts.reports} report(s), {counts.scenarios} scenario key(s) new; {counts.unchanged} message(s) "
        "already there."
    )
