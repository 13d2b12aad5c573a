"""Which campaigns a command acts on: files and folders expanded, each loaded alone, one id per campaign.

Pure: it reads the campaign files and nothing else. ``--changed-since`` gets the changed paths from git
in the shell (``campaigner/git/``) and hands them to :func:`touched` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from campaigner.campaign import load
from campaigner.campaign.load import LoadedCampaign, load_campaign
from campaigner.errors import CampaignerError, InputError, display_path

CAMPAIGN_SUFFIXES = (".yaml", ".yml")


@dataclass
class Entry:
    """One campaign a command acts on: its file, and either the loaded campaign or the lines that say why not."""

    path: Path
    loaded: LoadedCampaign | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.loaded is not None and not self.errors

    @property
    def name(self) -> str:
        """The campaign id when known, else the file as the user wrote it."""
        return self.loaded.spec.campaign if self.loaded is not None else display_path(self.path)


@dataclass(frozen=True)
class Removed:
    """A campaign file deleted in the change: listed, never an error; nothing is recalled."""

    path: str
    campaign: str | None

    def line(self) -> str:
        what = f"{self.campaign} ({self.path})" if self.campaign else self.path
        return f"removed: {what}: nothing is recalled, its ledger record stays"


def expand(paths: Sequence[str | Path], *, default: str = "campaigns") -> list[Path]:
    """Campaign files named directly or found in folders (their ``*.yaml``), each once, in the order given."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in load.campaign_files(paths or (default,)):
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def is_campaign_file(path: Path) -> bool:
    return path.suffix.lower() in CAMPAIGN_SUFFIXES


def load_entries(files: Iterable[Path]) -> list[Entry]:
    """Load every campaign file on its own: one bad file does not hide the others."""
    entries = []
    for path in files:
        try:
            entries.append(Entry(path, load_campaign(path)))
        except CampaignerError as exc:
            entries.append(Entry(path, errors=exc.lines()))
    return entries


def refuse_duplicate_ids(entries: Sequence[Entry]) -> None:
    """Two files with one ``campaign:`` id are both errors, each naming the other."""
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.loaded is not None:
            by_id.setdefault(entry.loaded.spec.campaign, []).append(entry)
    for campaign, group in by_id.items():
        if len(group) < 2:
            continue
        for entry in group:
            assert entry.loaded is not None
            others = ", ".join(display_path(o.path) for o in group if o is not entry)
            line, col = entry.loaded.locate(("campaign",))
            entry.errors.append(
                InputError(
                    f"campaign id {campaign!r} is also used by {others}",
                    path=entry.path,
                    line=line,
                    col=col,
                    hint="each campaign file needs its own id; a second file with the same id would be "
                    "counted as already sent",
                ).format()
            )


def touched(
    entries: Sequence[Entry], changed: set[Path], inputs_of: Callable[[LoadedCampaign], Iterable[Path]]
) -> list[Entry]:
    """The entries whose campaign file, or any file it reads (``inputs_of``), is among ``changed``.

    Paths compare resolved. A campaign that does not load is kept when its own file changed, and also
    when it did not (what it reads is unknown, so it may be affected): its error is then shown.
    """
    out = []
    for entry in entries:
        if entry.path.resolve() in changed or entry.loaded is None:
            out.append(entry)
            continue
        try:
            reads = [p.resolve() for p in inputs_of(entry.loaded)]
        except CampaignerError as exc:
            entry.errors.extend(exc.lines())
            out.append(entry)
            continue
        if any(p in changed for p in reads):
            out.append(entry)
    return out


def campaign_id_of(text: str) -> str | None:
    """The ``campaign:`` id of a campaign file's text (a deleted file's last version), when it has one."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return None
    value = data.get("campaign") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
