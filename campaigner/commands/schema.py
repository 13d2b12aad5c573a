"""`campaigner schema`: print the JSON Schema of the campaign file (for editor completion)."""

from __future__ import annotations

import json

import click


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of the campaign file.

    Save it and point editors at it with a first line such as
    `# yaml-language-server: $schema=../campaign.schema.json`.
    """
    from campaigner.campaign.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
