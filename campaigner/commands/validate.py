"""`campaigner validate [PATH ...]`: check campaign files, their CSVs and templates, without a target."""

from __future__ import annotations

import click

from campaigner.commands.selection import changed_since_option, echo_problems, select
from campaigner.errors import CampaignerError, InputErrors


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@changed_since_option
def command(paths: tuple[str, ...], changed_since: str | None) -> None:
    """Check every campaign file under PATHS (default: campaigns/): YAML, CSVs, templates, unique ids.

    Prints errors only, one per line, and exits 1 when there is any.
    """
    from campaigner.plan.stream import MessageStream

    selection = select(paths, changed_since=changed_since)
    for removed in selection.removed:
        click.echo(removed.line())
    bad = 0
    for entry in selection.entries:
        if entry.loaded is not None:  # a duplicate id is one problem; its rows may have more
            for warning in entry.loaded.warning_lines():
                click.echo(warning, err=True)
            try:
                stream = MessageStream(entry.loaded, "validate")
                try:
                    for _item in stream:  # renders every row: a row that fails is an error
                        pass
                finally:
                    stream.close()
                if stream.errors:
                    raise InputErrors(stream.errors)
            except CampaignerError as exc:
                entry.errors.extend(exc.lines())
        if entry.errors:
            bad += 1
            echo_problems(entry)
    n = len(selection.entries)
    files = f"{n} campaign file{'s' if n != 1 else ''}"
    if bad:
        click.echo(f"{files}: {bad} with errors, {n - bad} valid.")
        raise click.exceptions.Exit(1)
    click.echo(f"{files} valid.")
