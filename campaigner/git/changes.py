"""The files that differ between a git revision and the working tree, and the campaign files deleted since.

Runs ``git`` as a subprocess in the working directory. A revision git does not have (a shallow CI clone)
is one line saying how much history to fetch.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from campaigner.errors import CampaignerError

_ANCESTRY = re.compile(r"(?:HEAD|@)(?P<steps>(?:[~^]\d*)+)")


@dataclass(frozen=True)
class Deleted:
    """A file present at the revision and gone from the working tree."""

    path: Path  # absolute
    text_at_ref: str


@dataclass
class Changes:
    changed: set[Path] = field(default_factory=set)  # absolute, resolved: modified, added, deleted, untracked
    deleted: list[Deleted] = field(default_factory=list)


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise CampaignerError("error: --changed-since needs git, and git is not installed") from None


def _names(output: bytes) -> list[str]:
    return [name.decode("utf-8", "surrogateescape") for name in output.split(b"\0") if name]


def _generations(ref: str) -> int | None:
    """How many commits back ``HEAD~2`` / ``HEAD^^`` / ``@~1`` reaches; None for any other revision."""
    m = _ANCESTRY.fullmatch(ref)
    if m is None:
        return None
    return sum(int(n or 1) for n in re.findall(r"[~^](\d*)", m.group("steps")))


def _depth_hint(ref: str, shallow: bool) -> str:
    n = _generations(ref)
    if n is not None:
        need = (
            f"a fetch depth of at least {n + 1} (actions/checkout `fetch-depth: {n + 1}`, or `git fetch --deepen={n}`)"
        )
    else:
        need = (
            f"that commit fetched (`git fetch origin {ref}`), or the whole history (actions/checkout `fetch-depth: 0`)"
        )
    return ("this is a shallow clone; " if shallow else "") + f"it needs {need}"


def changed_since(ref: str, cwd: Path | None = None) -> Changes:
    """Every path that differs between ``ref`` and the working tree (untracked files count as added)."""
    cwd = Path.cwd() if cwd is None else cwd
    top = _git("rev-parse", "--show-toplevel", cwd=cwd)
    if top.returncode != 0:
        raise CampaignerError(f"error: --changed-since {ref}: {cwd} is not inside a git repository")
    root = Path(top.stdout.decode().strip()).resolve()
    if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd).returncode != 0:
        shallow = _git("rev-parse", "--is-shallow-repository", cwd=cwd).stdout.decode().strip() == "true"
        raise CampaignerError(
            f"error: --changed-since {ref}: git does not have this revision; {_depth_hint(ref, shallow)}"
        )
    diff = _git("diff", "--name-only", "--no-renames", "-z", ref, "--", cwd=root)
    if diff.returncode != 0:
        raise CampaignerError(f"error: --changed-since {ref}: git diff failed: {diff.stderr.decode().strip()}")
    untracked = _git("ls-files", "--others", "--exclude-standard", "-z", cwd=root)
    deleted = _git("diff", "--name-only", "--no-renames", "--diff-filter=D", "-z", ref, "--", cwd=root)
    changes = Changes()
    for name in [*_names(diff.stdout), *_names(untracked.stdout)]:
        changes.changed.add((root / name).resolve())
    for name in _names(deleted.stdout):
        shown = _git("show", f"{ref}:{name}", cwd=root)
        text = shown.stdout.decode("utf-8", "replace") if shown.returncode == 0 else ""
        changes.deleted.append(Deleted((root / name).resolve(), text))
    return changes
