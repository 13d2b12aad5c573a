"""Tests of campaigner.cli: what its crash log may hold (#10: a --state URL's password never)."""

from __future__ import annotations

import pytest

from campaigner.cli import _masked


@pytest.mark.parametrize(
    ("arg", "shown"),
    [
        ("postgresql://ci:s3cret@db/c", "postgresql://ci:***@db/c"),
        ("--state=postgres://db/c?user=ci&password=s3cret&sslmode=require",
         "--state=postgres://db/c?user=ci&password=***&sslmode=require"),
        ("postgresql://ci@db/c", "postgresql://ci@db/c"),
        ("campaigns/spring.yaml", "campaigns/spring.yaml"),
    ],
)  # fmt: skip
def test_crash_log_arguments_are_masked(arg: str, shown: str) -> None:
    assert _masked(arg) == shown
