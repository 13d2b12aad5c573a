"""Helpers the tests import (fixtures are in conftest.py)."""

from __future__ import annotations


class Quiet:
    """A Progress that keeps its phase lines, for tests that call apply or reports directly."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def phase(self, text: str) -> None:
        self.lines.append(text)

    def sending(self, total: int) -> None: ...

    def sent(self, accepted: int, rejected: int, unknown: int) -> None: ...

    def done_sending(self) -> None: ...
