"""The files a campaign reads: regular files only, its inputs inside its repository, opened without blocking.

A campaign's inputs (the recipient CSV, the exclude lists) must be regular files inside the repository
that holds the campaign file: its git work tree, else the campaign file's folder. A path that leaves it
(``/etc/passwd``, ``../../x``, a symlink pointing out), a folder, a device or a FIFO is refused before a
byte is read, so that nothing outside the repository can end up in an error line or a CI log, and
nothing can hang (a FIFO) or fill memory (``/dev/zero``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Literal, overload

from campaigner.errors import display_path

MAX_CAMPAIGN_BYTES = 1 << 20
"""A campaign file is a few kilobytes; past a mebibyte it is not one."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(Exception):
    """A path that is not a regular file, or that leaves the repository: ``message`` says which."""

    def __init__(self, message: str, *, outside: bool = False) -> None:
        self.message = message
        self.outside = outside
        super().__init__(message)


def repository_root(campaign_path: Path) -> Path:
    """The git work tree holding the campaign file, else the campaign file's folder (resolved)."""
    folder = campaign_path.absolute().parent.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def shown(name: str, limit: int = 80) -> str:
    """A path or name from an input file, safe on one terminal line: control characters escaped, cut."""
    text = name if name.isprintable() else repr(name)[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def confine(path: Path, root: Path, written: str | None = None) -> Path:
    """``path`` with its links resolved, when inside ``root``; else :class:`FileRefused` naming it as ``written``."""
    real = path.absolute().resolve()
    if real != root and root not in real.parents:
        plain = Path(os.path.normpath(path.absolute()))
        inside = plain == root or root in plain.parents
        link = f" (a link to {shown(str(real))})" if inside else ""
        what = "repository" if (root / ".git").exists() else "folder"
        raise FileRefused(
            f"{shown(written or str(path))}{link} is outside the campaign's {what} {display_path(root)}", outside=True
        )
    return real


@overload
def open_regular(path: Path, *, what: str = ..., binary: Literal[False] = ...) -> IO[str]: ...


@overload
def open_regular(path: Path, *, what: str = ..., binary: Literal[True]) -> IO[bytes]: ...


def open_regular(path: Path, *, what: str = "a regular file", binary: bool = False) -> IO[str] | IO[bytes]:
    """Open a regular file for reading (UTF-8 text with or without a BOM, newlines kept, unless ``binary``).

    Raises :class:`FileRefused` for anything else, ``FileNotFoundError`` / ``OSError`` as ``open`` does.
    The file is opened without blocking first, so that a FIFO is refused instead of waited on.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
            raise FileRefused(f"is {kind}, not {what}")
        os.set_blocking(fd, True)
        if binary:
            return open(fd, "rb")
        return open(fd, encoding="utf-8-sig", newline="")
    except BaseException:
        os.close(fd)
        raise


def read_campaign_bytes(path: Path) -> bytes:
    """The bytes of a campaign file: a regular file of at most :data:`MAX_CAMPAIGN_BYTES`."""
    with open_regular(path, what="a campaign file", binary=True) as fh:
        raw = fh.read(MAX_CAMPAIGN_BYTES + 1)
    if len(raw) > MAX_CAMPAIGN_BYTES:
        raise FileRefused(f"is larger than {MAX_CAMPAIGN_BYTES >> 20} MiB; a campaign file is a few kilobytes")
    return raw
