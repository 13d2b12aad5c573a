"""`campaigner validate [PATH ...]`: check campaign files, their CSVs and templates, without a target."""

from __future__ import annotations

import click

from campaigner.errors import CampaignerError, InputErrors


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
def command(paths: tuple[str, ...]) -> None:
    """Check every campaign file under PATHS (default: campaigns/): YAML, CSVs, templates.

    Prints errors only, one per line, and exits 1 when there is any.
    """
    from campaigner.campaign.load import campaign_files, load_campaign
    from campaigner.plan.build import MessageStream

    files = list(campaign_files(paths or ("campaigns",)))
    if not files:
        raise CampaignerError(f"error: no campaign files (*.yaml) under {', '.join(paths or ('campaigns',))}")
    problems: list[str] = []
    for path in files:
        try:
            loaded = load_campaign(path)
            for warning in loaded.warning_lines():
                click.echo(warning, err=True)
            stream = MessageStream(loaded, "validate")
            try:
                for _item in stream:  # renders every row: a row that fails is an error
                    pass
            finally:
                stream.close()
            if stream.errors:
                raise InputErrors(stream.errors)
        except CampaignerError as exc:
            problems.extend(exc.lines())
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"{len(files)} campaign file{'s' if len(files) != 1 else ''} valid.")
