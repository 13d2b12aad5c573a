"""What plan and apply write: nothing for plan unless asked (--out), owner-only files, saved plans that travel."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = "campaigns/spring-sale-2026.yaml"
BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_plan_writes_nothing_not_even_for_bad_input(workdir: Path, cli: Any) -> None:
    shutil.copytree(BAD / "csv-row-too-many-fields", workdir / "case", ignore=shutil.ignore_patterns("expected.txt"))
    assert cli("plan", "case/campaign.yaml").code == 1
    assert cli("validate", "case/campaign.yaml").code == 1
    assert cli("plan", EXAMPLE).code == 0
    assert cli("validate", EXAMPLE).code == 0
    assert not (workdir / ".campaigner").exists()


def test_saved_plans_sandbox_state_and_the_state_folder_are_owner_only(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "umask", os.umask)  # restored by monkeypatch if a test changes it
    previous = os.umask(0o022)
    try:
        result = cli("plan", EXAMPLE, "--out", "spring.plan")
        assert result.code == 0, result.err
        assert _mode(workdir / "spring.plan") == 0o600
        applied = cli("apply", "spring.plan", "--no-wait")
        assert applied.code in (0, 1), applied.err
    finally:
        os.umask(previous)
    state = workdir / ".campaigner"
    assert _mode(state) == 0o700
    assert _mode(state / "sandbox.db") == 0o600
    assert _mode(state / "state.db") == 0o600


def test_a_saved_plan_applies_from_another_working_folder(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "plans").mkdir()
    assert cli("plan", EXAMPLE, "--out", "plans/spring.plan").code == 0
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CAMPAIGNER_STATE", str(workdir / ".campaigner" / "state.db"))
    result = cli("apply", "../plans/spring.plan", "--no-wait")
    assert "stale" not in result.err, result.err
    assert result.code in (0, 1), result.err
    assert "Sent in" in result.out


def test_a_saved_plan_is_still_stale_when_an_input_changed(workdir: Path, cli: Any) -> None:
    assert cli("plan", EXAMPLE, "--out", "spring.plan").code == 0
    csv = workdir / "campaigns" / "recipients" / "loyalty.csv"
    csv.write_text(csv.read_text(encoding="utf-8") + "Zed,+385 97 766 0000,,5,gold\n", encoding="utf-8")
    result = cli("apply", "spring.plan", "--no-wait")
    assert (result.code, result.err) == (
        1,
        "spring.plan: error: plan is stale: campaigns/recipients/loyalty.csv changed since the plan was made "
        "(run `campaigner plan --out` again and review it)\n",
    )


def test_applying_a_device_or_a_fifo_as_a_saved_plan_is_one_line(workdir: Path, cli: Any) -> None:
    os.mkfifo(workdir / "pipe.plan")
    zero = cli("apply", "/dev/zero", "--no-wait")
    fifo = cli("apply", "pipe.plan", "--no-wait")
    assert (zero.code, zero.err) == (1, "/dev/zero: error: is a character device, not a saved plan\n")
    assert (fifo.code, fifo.err) == (1, "pipe.plan: error: is a FIFO (named pipe), not a saved plan\n")
