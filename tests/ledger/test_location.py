"""Tests of campaigner.ledger.location: --state / CAMPAIGNER_STATE, and URLs shown with the password masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigner.ledger.location import StateLocation, mask_url, state_location

CWD = Path("/work/x")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ci:s3cret@db.example.com:5432/campaigner", "postgresql://ci:***@db.example.com:5432/campaigner"),
        ("postgresql://ci@db.example.com/c", "postgresql://ci@db.example.com/c"),
        ("postgres://db.example.com/c?user=ci&password=s3cret&sslmode=require",
         "postgres://db.example.com/c?user=ci&password=***&sslmode=require"),
        ("postgresql://u:p%40ss@/c?host=/run/pg", "postgresql://u:***@/c?host=/run/pg"),
    ],
)  # fmt: skip
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert str(StateLocation(url=url)) == shown


def test_state_location() -> None:
    assert state_location({}, CWD) == StateLocation(path=CWD / ".campaigner/state.db")
    assert state_location({"CAMPAIGNER_STATE": "ci/state.db"}, CWD) == StateLocation(path=CWD / "ci/state.db")
    url = "postgresql://ci:pw@db/c"
    assert state_location({"CAMPAIGNER_STATE": url}, CWD) == StateLocation(url=url)
    assert state_location({"CAMPAIGNER_STATE": url}, CWD, "other.db") == StateLocation(path=CWD / "other.db")
    located = state_location({}, CWD, " POSTGRESQL://h/c ")
    assert located.is_postgres and located.local_dir == Path.cwd() / ".campaigner" and located.exists()
