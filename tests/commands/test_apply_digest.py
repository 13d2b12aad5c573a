"""The plan digest end to end: the same on every machine and folder; apply --expect-digest sends what was reviewed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaigner.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
SPRING = "campaigns/spring-sale-2026.yaml"


def _sandbox_receipts(workdir: Path) -> int:
    db = workdir / ".campaigner" / "sandbox.db"
    if not db.exists():
        return 0
    with SandboxServer(db_path=db) as server:
        stats: dict[str, Any] = httpx.get(f"{server.url}/_sandbox/stats", timeout=10).json()
    return int(stats["receipts"])


def _plan_json_in(folder: Path) -> dict[str, Any]:
    """`campaigner plan --format json` in a fresh process, folder and ledger: another machine's run."""
    shutil.copytree(REPO / "campaigns", folder / "campaigns", ignore=shutil.ignore_patterns("reports"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFOBIP_", "CAMPAIGNER_")) and k != "CI"}
    env["CAMPAIGNER_STATE"] = str(folder / "state" / "ledger.db")
    env["CAMPAIGNER_HOME"] = str(folder / "home")
    done = subprocess.run(
        [sys.executable, "-m", "campaigner", "plan", SPRING, "--format", "json"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_the_digest_is_the_same_in_other_folders_and_processes(tmp_path: Path) -> None:
    first = _plan_json_in(tmp_path / "runner-a" / "work")
    second = _plan_json_in(tmp_path / "b")
    assert first["digest"] == second["digest"]
    assert first["digest"].startswith("sha256:")
    assert first["digest_token"] == second["digest_token"]
    assert first["digest_token"].startswith(first["digest"] + ",messages=15,")


def test_every_format_shows_the_digest(workdir: Path, cli: Any) -> None:
    digest = json.loads(cli("plan", SPRING, "--format", "json").out)["digest"]
    assert f"\nPlan digest: {digest}\nPlan: 15 messages to send" in cli("plan", SPRING).out
    assert digest in cli("plan", SPRING, "--format", "markdown").out


def test_a_stale_digest_sends_nothing_and_the_right_one_sends_the_plan(workdir: Path, cli: Any) -> None:
    reviewed = json.loads(cli("plan", SPRING, "--format", "json").out)
    csv = workdir / "campaigns" / "recipients" / "loyalty.csv"
    original = csv.read_text(encoding="utf-8")
    # After review, a row is added to the CSV: the plan is no longer the reviewed one.
    csv.write_text(original + "Zed,+385 91 555 0199,,10,gold\n", encoding="utf-8")
    stale = cli("apply", SPRING, "--no-wait", "--expect-digest", f"spring-sale-2026={reviewed['digest_token']}")
    assert stale.code == 1
    assert stale.err.startswith(
        "error: spring-sale-2026: the plan no longer matches the reviewed one: "
        "1 more message to send (16, reviewed 15); the payloads differ"
    )
    assert "nothing was sent" in stale.err
    assert _sandbox_receipts(workdir) == 0
    bare = cli("apply", SPRING, "--no-wait", "--expect-digest", f"spring-sale-2026={reviewed['digest']}")
    assert bare.code == 1
    assert "the plan no longer matches the reviewed one: now 16 message(s) to send, scenario create;" in bare.err
    assert _sandbox_receipts(workdir) == 0

    csv.write_text(original, encoding="utf-8")
    ok = cli("apply", SPRING, "--no-wait", "--expect-digest", f"spring-sale-2026={reviewed['digest']}")
    assert ok.code == 0, ok.err
    assert _sandbox_receipts(workdir) == 15
    assert "Plan digest: " + reviewed["digest"] in ok.out


def test_expect_digest_names_only_campaigns_being_applied(workdir: Path, cli: Any) -> None:
    digest = json.loads(cli("plan", SPRING, "--format", "json").out)["digest"]
    wrong = cli("apply", SPRING, "--no-wait", "--expect-digest", f"other={digest}")
    assert (wrong.code, wrong.err) == (
        1,
        "error: --expect-digest names other, not among the campaigns to apply; nothing was sent "
        "(what is applied must be what was reviewed)\n",
    )
    bad = cli("apply", SPRING, "--expect-digest", "spring-sale-2026=abc")
    assert bad.code == 1
    assert bad.err.startswith("error: --expect-digest spring-sale-2026: expected sha256: and 64 hex digits")
    required = cli(
        "apply", "campaigns", "--no-wait", "--require-digest", "--expect-digest", f"spring-sale-2026={digest}"
    )
    assert required.code == 1
    assert (
        "error: new-collection-2026: no --expect-digest names this campaign (--require-digest); nothing was sent"
        in required.err
    )
    assert "Sent in " in required.out  # spring-sale-2026 went out: its digest matched
    assert _sandbox_receipts(workdir) == 15


def test_a_saved_plan_checks_its_digest_from_its_lines(workdir: Path, cli: Any) -> None:
    digest = json.loads(cli("plan", SPRING, "--format", "json").out)["digest"]
    assert cli("plan", SPRING, "--out", "reviewed.plan").code == 0
    stale = cli("apply", "reviewed.plan", "--no-wait", "--expect-digest", "spring-sale-2026=sha256:" + "0" * 64)
    assert stale.code == 1
    assert "the plan no longer matches the reviewed one" in stale.err
    ok = cli("apply", "reviewed.plan", "--no-wait", "--expect-digest", f"spring-sale-2026={digest}")
    assert ok.code == 0, ok.err


def test_an_input_changed_after_the_digest_check_sends_nothing(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import campaigner.commands.apply as apply_command

    digest = json.loads(cli("plan", SPRING, "--format", "json").out)["digest"]
    confirm = apply_command._confirm

    def confirm_then_edit(*args: Any) -> None:  # runs after the digest check, before the lock is taken
        confirm(*args)
        with (workdir / "campaigns/recipients/loyalty.csv").open("a", encoding="utf-8") as fh:
            fh.write("Zed,+385 91 555 0199,,10,gold\n")

    monkeypatch.setattr(apply_command, "_confirm", confirm_then_edit)
    result = cli("apply", SPRING, "--no-wait", "--expect-digest", f"spring-sale-2026={digest}")
    assert result.code == 1
    assert result.err == (
        "error: spring-sale-2026: an input file changed while apply checked the reviewed digest; nothing was sent "
        "(run apply again: the digest check will tell what differs)\n"
    )
    assert _sandbox_receipts(workdir) == 0
