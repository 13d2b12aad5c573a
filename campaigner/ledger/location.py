"""Where the ledger lives: ``--state`` / ``CAMPAIGNER_STATE``, a SQLite file path or a ``postgresql://`` URL.

A URL is shown only with its password masked (``postgresql://ci:***@db.example.com/campaigner``), in every
message and line of output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

STATE_ENV: Final = "CAMPAIGNER_STATE"
SCHEMES: Final = ("postgresql://", "postgres://")
MASK: Final = "***"
_PASSWORD_PARAM = re.compile(r"(?i)((?:^|[?&])password=)[^&]*")


def is_postgres_url(value: str) -> bool:
    return value.strip().lower().startswith(SCHEMES)


def mask_url(url: str) -> str:
    """The URL with its password (in the netloc or a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("://", 1)[0] + "://" + MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if sep else f"{user}@{hostport}"
    query = _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass(frozen=True)
class StateLocation:
    """A ledger location: ``path`` for SQLite, or ``url`` for PostgreSQL (exactly one is set)."""

    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    @property
    def value(self) -> Path | str:
        """What :class:`~campaigner.ledger.messages.Ledger` opens."""
        if self.url is not None:
            return self.url
        assert self.path is not None
        return self.path

    @property
    def local_dir(self) -> Path:
        """The folder for local files beside the ledger (the sandbox's state): the file's, else ``.campaigner``."""
        return self.path.parent if self.path is not None else Path.cwd() / ".campaigner"

    def exists(self) -> bool:
        """Whether there is a ledger already (always assumed for a server: it is asked when opened)."""
        return self.url is not None or (self.path is not None and self.path.exists())

    def __str__(self) -> str:
        return mask_url(self.url) if self.url is not None else str(self.path)


def state_location(environ: Mapping[str, str], cwd: Path, given: str | None = None) -> StateLocation:
    """``--state`` (``given``), else ``$CAMPAIGNER_STATE``, else ``cwd/.campaigner/state.db``."""
    value = (given if given is not None else environ.get(STATE_ENV, "")).strip()
    if not value:
        return StateLocation(path=cwd / ".campaigner" / "state.db")
    if is_postgres_url(value):
        return StateLocation(url=value)
    path = Path(value).expanduser()
    return StateLocation(path=path if path.is_absolute() else cwd / path)
