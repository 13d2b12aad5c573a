"""The bad-input corpus: every broken campaign under ``fixtures/bad/`` stops at plan time, before sending.

Each case is a folder with ``campaign.yaml``, the CSV files it needs, and ``expected.txt``: the exact
stderr of the CLI (one line per problem, at ``file:line:col`` or ``file:row N``). ``plan``, ``apply`` and
``validate`` must all print it and exit 1, with no traceback, quickly (memory bombs included), and the embedded
sandbox must receive no message.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad"
SLOW_SECONDS = 30  # the bound (#15); a hang guard, not a speed target

# Cases whose output is not yet what ``expected.txt`` says it should be: defects for the modules' owners.
# When a fix lands, the case passes, the strict xfail fails, and the entry here goes.
# A case whose message is known to be wrong: name -> why (a strict xfail keeps the defect visible).
KNOWN_DEFECTS: dict[str, str] = {}


def _cases() -> list[Any]:
    params = []
    for folder in sorted(p for p in BAD.iterdir() if p.is_dir()):
        reason = KNOWN_DEFECTS.get(folder.name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(folder.name, id=folder.name, marks=marks))
    return params


CASES = _cases()


def _sandbox_stats(workdir: Path) -> dict[str, Any] | None:
    """The embedded sandbox's counts, or None when it never started."""
    db = workdir / ".campaigner" / "sandbox.db"
    if not db.exists():
        return None
    from campaigner.sandbox.server import SandboxServer

    with SandboxServer(db_path=db) as server:
        stats: dict[str, Any] = httpx.get(f"{server.url}/_sandbox/stats", timeout=10).json()
    return stats


def test_corpus_is_large_and_complete() -> None:
    names = {p.name for p in BAD.iterdir() if p.is_dir()}
    assert len(names) >= 45
    assert set(KNOWN_DEFECTS) <= names
    for name in names:
        assert (BAD / name / "campaign.yaml").is_file(), name
        assert (BAD / name / "expected.txt").is_file(), name


@pytest.mark.parametrize("case", CASES)
def test_bad_input_stops_before_sending(case: str, workdir: Path, cli: Any) -> None:
    shutil.copytree(BAD / case, workdir / "case", ignore=shutil.ignore_patterns("expected.txt"))
    expected = (BAD / case / "expected.txt").read_text(encoding="utf-8")
    runs = {
        "apply": ("apply", "case/campaign.yaml", "--no-wait"),
        "plan": ("plan", "case/campaign.yaml"),
        "validate": ("validate", "case/campaign.yaml"),
    }
    for name, args in runs.items():
        started = time.monotonic()
        result = cli(*args)
        elapsed = time.monotonic() - started
        assert "Traceback" not in result.out + result.err, name
        assert "MemoryError" not in result.err, name
        assert (result.code, result.err) == (1, expected), name
        assert elapsed < SLOW_SECONDS, f"{name} took {elapsed:.1f} s"
    assert not (workdir / ".campaigner" / "crash.log").exists()
    stats = _sandbox_stats(workdir)
    if stats is not None:
        assert stats["receipts"] == 0
        assert [name for name in stats["requests"] if not name.startswith("GET ")] == []  # no scenario created


def test_a_closed_send_window_is_a_warning_in_validate_and_plan(workdir: Path, cli: Any) -> None:
    shutil.copytree(BAD / "schema-ratelimit-zero", workdir / "case", ignore=shutil.ignore_patterns("expected.txt"))
    path = workdir / "case" / "campaign.yaml"
    text = path.read_text().replace("rateLimit: 0/s", "rateLimit: 20/s\n  notAfter: 2020-01-01T09:00:00+01:00")
    path.write_text(text)
    warning = "send.notAfter 2020-01-01T09:00:00+01:00 is in the past: apply will send nothing"
    validated = cli("validate", "case/campaign.yaml")
    assert (validated.code, validated.err) == (0, f"case/campaign.yaml:23:13: warning: {warning}\n")
    planned = cli("plan", "case/campaign.yaml")
    assert planned.code == 0
    assert f"  warning: {warning}\n" in planned.out
