"""The campaigns a command acts on, shared by validate, plan, apply, report and status.

Files and folders are expanded, every campaign is loaded on its own (one bad file does not hide the
others), two files with one id are both refused, and ``--changed-since REF`` keeps the campaigns whose
file or inputs changed in git. The exit code of a command over several campaigns is the worst of them.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from campaigner.campaign.select import (
    Entry,
    Removed,
    campaign_id_of,
    expand,
    is_campaign_file,
    load_entries,
    refuse_duplicate_ids,
    touched,
)
from campaigner.errors import CampaignerError, display_path

F = Callable[..., object]


def changed_since_option(func: F) -> F:
    return click.option(
        "--changed-since",
        "changed_since",
        metavar="REF",
        default=None,
        help="Only the campaigns whose file or input files differ between git REF and the working tree.",
    )(func)


@dataclass
class Selection:
    entries: list[Entry] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    several: bool = False  # more than one file, a folder, or --changed-since: report each campaign by name


def select(paths: Sequence[str], *, changed_since: str | None = None, saved_plans: bool = False) -> Selection:
    """The campaigns under ``paths`` (default ``campaigns/``); ``saved_plans`` lets other files through."""
    given = list(paths) or ["campaigns"]
    files = expand(given)
    several = len(files) != 1 or any(Path(p).is_dir() for p in given) or changed_since is not None
    removed: list[Removed] = []
    deleted: dict[Path, str] = {}
    changed: set[Path] | None = None
    if changed_since is not None:
        from campaigner.git.changes import changed_since as git_changes

        changes = git_changes(changed_since)
        changed = changes.changed
        roots = [Path(p).resolve() for p in given]
        for gone in changes.deleted:
            if is_campaign_file(gone.path) and any(gone.path == r or r in gone.path.parents for r in roots):
                deleted[gone.path] = gone.text_at_ref
    if not files and not deleted:
        raise CampaignerError(f"error: no campaign files (*.yaml) under {', '.join(given)}")
    campaign_files = [f for f in files if f.resolve() not in deleted]
    plans = [f for f in campaign_files if saved_plans and not is_campaign_file(f)]
    entries = load_entries(f for f in campaign_files if f not in plans)
    refuse_duplicate_ids(entries)
    if changed is not None:
        from campaigner.recipients.reader import input_files

        entries = touched(entries, changed, lambda loaded: input_files(loaded.spec.recipients, loaded.base_dir))
    present = {e.loaded.spec.campaign for e in entries if e.loaded is not None}
    for path, text in sorted(deleted.items()):
        campaign = campaign_id_of(text)
        if campaign is None or campaign not in present:  # a rename keeps its id: not removed
            removed.append(Removed(display_path(path), campaign))
    entries += [Entry(p) for p in plans]
    return Selection(entries, removed, several)


def echo_problems(entry: Entry) -> None:
    for line in entry.errors:
        click.echo(line, err=True)


def for_each_campaign(
    paths: Sequence[str],
    changed_since: str | None,
    run: Callable[[Path], None],
    *,
    saved_plans: bool = False,
    check: Callable[[set[str]], None] | None = None,
) -> None:
    """Run ``run`` for each selected campaign file, each reported on its own; exit with the worst code.

    ``check`` sees the selected campaign ids first (saved plans by the id in their header) and may refuse.
    """
    selection = select(paths, changed_since=changed_since, saved_plans=saved_plans)
    if check is not None:
        check({_campaign_id(entry) for entry in selection.entries})
    if changed_since is not None and not selection.entries and not selection.removed:
        click.echo(f"No campaign changed since {changed_since}: neither a campaign file nor a file one reads.")
    for removed in selection.removed:
        click.echo(removed.line())
    worst = 0
    for entry in selection.entries:
        if selection.several:
            click.echo(f"\n== {entry.name} ({display_path(entry.path)}) ==")
        if entry.errors:
            echo_problems(entry)
            worst = 1
            continue
        try:
            run(entry.path)
        except click.exceptions.Exit as exc:
            if exc.exit_code == 130:  # interrupted (Ctrl-C): the campaigns after it are not started
                raise
            worst = max(worst, exc.exit_code)
        except CampaignerError as exc:
            for line in exc.lines():
                click.echo(line, err=True)
            worst = 1
    if worst:
        raise click.exceptions.Exit(worst)


def _campaign_id(entry: Entry) -> str:
    if entry.loaded is not None:
        return entry.loaded.spec.campaign
    try:  # a saved plan: its first line names the campaign (a device or a FIFO is left to apply to refuse)
        if not stat.S_ISREG(entry.path.stat().st_mode):
            return entry.name
        with entry.path.open(encoding="utf-8") as fh:
            header = json.loads(fh.readline(1 << 20) or "{}")
        return str(header.get("campaign") or entry.name) if isinstance(header, dict) else entry.name
    except (OSError, UnicodeDecodeError, ValueError):
        return entry.name
