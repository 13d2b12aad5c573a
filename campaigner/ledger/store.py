"""The ledger's storage interface: what a backend (SQLite file, PostgreSQL server) gives the ledger's queries.

The ledger's SQL (``messages.py``, ``reports.py``) is written once, with ``?`` placeholders, in the dialect
both backends read; a backend opens and migrates its database, runs transactions and turns its driver's
errors into one-line :class:`~campaigner.errors.CampaignerError`\\ s. The semantics both keep:

- ``write(full=True)`` commits durably (SQLite ``synchronous=FULL``; PostgreSQL ``synchronous_commit=on``)
  before it returns: claims and reports use it. ``full=False`` may lose the last commits to a power cut.
- write transactions are serialized (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-level advisory
  lock), so a read-then-write inside one (a claim) sees no concurrent writer.
- ``read()`` sees one consistent snapshot across its queries.
- the apply lock (``lock``): one holder per (target, campaign), released when the holder's process or
  connection ends, naming its holder to whoever is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any]


class Cursor(Protocol):
    """What a query answers: its rows, or how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """One transaction: run statements written with ``?`` placeholders."""

    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> Cursor:
        """Run ``sql`` once per row; the answer's ``rowcount`` is the sum over every row."""
        ...


class Lock(Protocol):
    """The apply lock of one campaign on one target (a context manager)."""

    def __enter__(self) -> Lock: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def held(self) -> bool: ...


class Store(Protocol):
    """A backend: SQLite (:mod:`campaigner.ledger.database`) or PostgreSQL (:mod:`campaigner.ledger.postgres`)."""

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    @property
    def where(self) -> str:
        """How errors name it: the file, or the URL with its password masked."""
        ...

    @property
    def planner_hint(self) -> str:
        """``+`` before a column keeps SQLite's planner off an index; "" elsewhere."""
        ...

    def close(self) -> None: ...

    def write(self, *, full: bool) -> AbstractContextManager[Tx]: ...

    def read(self) -> AbstractContextManager[Tx]: ...

    def stream(self, sql: str, params: Params, *, size: int) -> Iterator[Any]:
        """The rows of a query, read ``size`` at a time (a million rows are never held at once)."""
        ...

    def lock(self, target: str, campaign: str, *, command: str) -> Lock: ...

    def force_unlock(self, target: str, campaign: str) -> Any:
        """Release a campaign's lock held by a holder that is gone; returns that holder, or None."""
        ...
