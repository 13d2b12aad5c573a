"""Every error campaigner raises on purpose, and how each is worded for a person.

The tree::

    CampaignerError                 anything the CLI prints as one line and exits 1
    ├── InputError                  bad input: a campaign file, a CSV, a template, a saved plan
    │     carries path, line, col (YAML/templates) or row (CSV), a message and a hint
    ├── InputErrors                 several InputError collected in one pass (printed one per line)
    ├── StalePlanError              a saved plan whose inputs changed since it was made
    ├── LockedError                 another apply holds the campaign's lock (names the holder)
    ├── TargetError                 no usable target (CI without a provider, bad base URL, ...)
    └── ProviderError               the provider answered with its error envelope
          ├── RateLimitedError      429 (carries retry_after seconds)
          └── OutcomeUnknownError   a send may or may not have reached the provider

Foreign exceptions (httpx, sqlite3, pydantic, ruamel) are translated at the boundary that sees them,
with ``raise ... from exc``; the CLI is the only place that formats and prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from campaigner.text.escape import for_terminal


class CampaignerError(Exception):
    """Base class: the CLI prints ``str(err)`` (one or more lines) and exits 1."""

    def lines(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Location:
    """Where an input problem is: a file and, when known, line/column or CSV row."""

    path: str
    line: int | None = None
    col: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.row is not None:
            return f"{self.path}:row {self.row}"
        if self.line is not None and self.col is not None:
            return f"{self.path}:{self.line}:{self.col}"
        if self.line is not None:
            return f"{self.path}:{self.line}"
        return self.path


def display_path(path: str | Path) -> str:
    """A path as the user should see it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


class InputError(CampaignerError):
    """One problem with one input, located as precisely as we know."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path,
        line: int | None = None,
        col: int | None = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.location = Location(display_path(path), line, col, row)
        self.message = message
        self.hint = hint
        super().__init__(self.format())

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its attributes: planning workers send row errors to the main process."""
        return (_restored, (type(self), self.args, self.__dict__))

    @property
    def path(self) -> str:
        return self.location.path

    @property
    def line(self) -> int | None:
        return self.location.line

    @property
    def row(self) -> int | None:
        return self.location.row

    def format(self) -> str:
        """One line, control characters from the input escaped (:func:`campaigner.text.escape.for_terminal`)."""
        text = f"{self.location}: error: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return for_terminal(text)


def _restored(cls: type[InputError], args: tuple[object, ...], state: dict[str, object]) -> InputError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


@dataclass
class InputErrors(CampaignerError):
    """Several input problems found in one pass; printed one per line, in order."""

    errors: list[InputError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("\n".join(e.format() for e in self.errors))

    def lines(self) -> list[str]:
        return [e.format() for e in self.errors]

    @classmethod
    def of(cls, errors: Iterable[InputError]) -> InputErrors:
        return cls(list(errors))


class StalePlanError(CampaignerError):
    """A saved plan whose inputs changed after it was made."""

    def __init__(self, plan_path: str | Path, changed: str) -> None:
        self.changed = changed
        super().__init__(
            f"{display_path(plan_path)}: error: plan is stale: {changed} changed since the plan was made "
            "(run `campaigner plan --out` again and review it)"
        )


class LockedError(CampaignerError):
    """The campaign's lock for this target is held by another process."""

    def __init__(self, campaign: str, holder: str) -> None:
        self.holder = holder
        super().__init__(
            f"error: campaign {campaign} is locked by {holder}; "
            f"if that process is gone, run `campaigner unlock {campaign} --force`"
        )


class TargetError(CampaignerError):
    """No usable target, or a target configured wrongly."""


class ProviderError(CampaignerError):
    """The provider answered with an error (its envelope parsed into fields)."""

    def __init__(
        self,
        status: int,
        text: str,
        *,
        message_id: str | None = None,
        validation_errors: Mapping[str, Sequence[str]] | None = None,
        method: str = "",
        url_path: str = "",
    ) -> None:
        self.status = status
        self.text = text
        self.message_id = message_id
        self.validation_errors: dict[str, list[str]] = {k: list(v) for k, v in (validation_errors or {}).items()}
        self.method = method
        self.url_path = url_path
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"{self.method} {self.url_path}: " if self.method else ""
        ident = f" {self.message_id}" if self.message_id else ""
        text = f"error: provider answered {where}HTTP {self.status}{ident}: {self.text}"
        if self.validation_errors:
            details = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in sorted(self.validation_errors.items()))
            text += f" ({details})"
        return text

    @property
    def reason(self) -> str:
        """The provider's reason in one short line, for ledger rows and summaries."""
        parts = [self.text]
        for name, msgs in sorted(self.validation_errors.items()):
            parts.append(f"{name}: {', '.join(msgs)}")
        return "; ".join(parts)


class RateLimitedError(ProviderError):
    """HTTP 429: the caller should wait ``retry_after`` seconds (None when not given)."""

    def __init__(self, text: str, *, retry_after: float | None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(429, text, **kw)  # type: ignore[arg-type]


class OutcomeUnknownError(ProviderError):
    """A send whose answer never came or was a 5xx: it may have been processed.

    Never retried blindly; apply resolves it through the provider's logs.
    """

    def __init__(self, reason: str, *, status: int = 0, **kw: object) -> None:
        self.unknown_reason = reason
        super().__init__(status, reason, **kw)  # type: ignore[arg-type]


class ConnectFailedError(CampaignerError):
    """A request that certainly never reached the provider (refused, connect timeout)."""
