"""examples/github-actions/: the workflows pass actionlint, and their shell steps work in a real git repository.

The steps run as GitHub runs them (``bash --noprofile --norc -eo pipefail``), in a repository with commits,
with the real campaigner and the embedded sandbox. GitHub's API cannot be reached from a test, so ``gh`` is
a small script on PATH that answers from files, as the API would, and records what it was asked.
"""

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
from helpers import git, three_campaigns
from ruamel.yaml import YAML

from campaigner.sandbox.server import SandboxServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "github-actions"
BIN = Path(sys.executable).parent
MARKER = "<!-- campaigner-plan -->"

GH = """#!/usr/bin/env bash
# answers like GitHub's REST API, from files in $GH_FIXTURES
echo "$*" >> "$GH_FIXTURES/calls.log"
args=("$@")
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    body=@*) cp "${args[$i]#body=@}" "$GH_FIXTURES/posted.md" ;;
  esac
done
case "$*" in
  *"/commits/"*"/pulls"*) cat "$GH_FIXTURES/pulls.json" ;;
  *"--method"*) echo '{}' ;;
  *"/comments"*) cat "$GH_FIXTURES/comments.json" ;;
  *) echo "gh stand-in: unexpected call: $*" >&2; exit 1 ;;
esac
"""


def _tool(name: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' brings it")
    return found


def test_the_workflows_pass_actionlint() -> None:
    files = sorted(EXAMPLES.glob("*.yml"))
    assert [f.name for f in files] == ["campaigner-apply.yml", "campaigner-plan.yml"]
    done = subprocess.run(
        [_tool("actionlint"), f"-shellcheck={_tool('shellcheck')}", "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def _steps(workflow: str) -> dict[str, dict[str, Any]]:
    data = YAML(typ="safe").load((EXAMPLES / workflow).read_text(encoding="utf-8"))
    steps = next(iter(data["jobs"].values()))["steps"]
    return {s["name"]: s for s in steps if "name" in s and "run" in s}


class Runner:
    """Runs a workflow's ``run:`` steps in ``repo`` as a GitHub runner would, with the given env values."""

    def __init__(self, repo: Path, fixtures: Path, workflow: str) -> None:
        self.repo, self.fixtures = repo, fixtures
        self.steps = _steps(workflow)
        data = YAML(typ="safe").load((EXAMPLES / workflow).read_text(encoding="utf-8"))
        self.global_env = {k: str(v) for k, v in data.get("env", {}).items()}
        self.output = fixtures / "github_output"
        self.summary = fixtures / "step_summary"
        self.output.write_text("")
        self.summary.write_text("")

    def run(self, name: str, **env: str) -> subprocess.CompletedProcess[str]:
        step = self.steps[name]
        for key, value in step.get("env", {}).items():  # every ${{ }} of the step is given by the test
            if key not in env:
                assert "${{" not in str(value), f"{name}: the test must give {key}"
                env[key] = str(value)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("INFOBIP_", "CAMPAIGNER_", "GITHUB_"))}
        base.pop("CI", None)
        full = {
            **base,
            **self.global_env,
            **env,
            "PATH": f"{self.fixtures / 'bin'}:{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "GH_FIXTURES": str(self.fixtures),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "CAMPAIGNER_STATE": str(self.repo / ".campaigner" / "state.db"),
            "CAMPAIGNER_HOME": str(self.repo / ".campaigner"),
        }
        script = self.fixtures / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.repo,
            env=full,
            capture_output=True,
            text=True,
            timeout=600,
        )


def _receipts(repo: Path) -> int:
    db = repo / ".campaigner" / "sandbox.db"
    if not db.exists():
        return 0
    with SandboxServer(db_path=db) as server:
        return int(httpx.get(f"{server.url}/_sandbox/stats", timeout=10).json()["receipts"])


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    folder = tmp_path / "gh"
    (folder / "bin").mkdir(parents=True)
    gh = folder / "bin" / "gh"
    gh.write_text(GH, encoding="utf-8")
    gh.chmod(0o755)
    return folder


def test_plan_comment_then_apply_of_exactly_what_was_reviewed(tmp_path: Path, fixtures: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    three_campaigns(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    with (repo / "campaigns/recipients/a.csv").open("a", encoding="utf-8") as fh:
        fh.write("Zed,+385 91 555 0199,,10,gold\n")
    (repo / "campaigns/c.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a gets a row; c goes")

    # --- the pull request: plan, then the comment (created, then updated in place)
    plan = Runner(repo, fixtures, "campaigner-plan.yml")
    done = plan.run("Plan the changed campaigns", BASE_SHA=base)
    assert done.returncode == 0, done.stderr
    assert "exitcode=2\n" in plan.output.read_text()
    body = (repo / "plan.md").read_text(encoding="utf-8")
    assert body.startswith(MARKER + "\n")
    assert "| `camp-a` | + create | 16 |" in body and "camp-b" not in body
    assert "removed: nothing is recalled" in body
    forged = {
        "id": 1,
        "user": {"login": "mallory"},
        "body": f"{MARKER}\n<!-- campaigner-digest camp-a=sha256:{'0' * 64} -->",
    }
    (fixtures / "comments.json").write_text(json.dumps([forged]))
    pr_env = {"GH_TOKEN": "t", "REPO": "o/r", "PR": "7"}
    done = plan.run("Create or update the plan comment", **pr_env)
    assert done.returncode == 0, done.stderr
    assert "api --method POST repos/o/r/issues/7/comments -F body=@plan.md" in (fixtures / "calls.log").read_text()
    bot = {"id": 2, "user": {"login": "github-actions[bot]"}, "body": body}
    (fixtures / "comments.json").write_text(json.dumps([forged]) + json.dumps([bot]))  # two pages
    done = plan.run("Create or update the plan comment", **pr_env)
    assert done.returncode == 0, done.stderr
    assert "api --method PATCH repos/o/r/issues/comments/2 -F body=@plan.md" in (fixtures / "calls.log").read_text()
    assert (fixtures / "posted.md").read_text(encoding="utf-8") == body

    # --- the merge, then the apply on push
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #7", "feature")
    merged = git(repo, "rev-parse", "HEAD").strip()
    (fixtures / "pulls.json").write_text(json.dumps([{"number": 7, "merged_at": "2026-12-02T03:00:00Z"}]))
    for leftover in ("plan.md", "comments.json"):
        (repo / leftover).unlink(missing_ok=True)
    apply = Runner(repo, fixtures, "campaigner-apply.yml")
    done = apply.run("Find the reviewed plan", GH_TOKEN="t", REPO="o/r", SHA=merged)
    assert done.returncode == 0, done.stderr
    assert (repo / "reviewed.md").read_text(encoding="utf-8") == body + "\n"

    # the CSV moved after the review: refused, nothing sent
    with (repo / "campaigns/recipients/a.csv").open("a", encoding="utf-8") as fh:
        fh.write("Late,+385 91 555 0198,,10,gold\n")
    git(repo, "commit", "-qam", "a late row, never reviewed")
    stale = apply.run("Apply exactly what was reviewed", BEFORE=base)
    assert stale.returncode == 1
    assert (
        "error: camp-a: the plan no longer matches the reviewed one: 1 more message to send (17, reviewed 16)"
        in stale.stderr
    )
    assert _receipts(repo) == 0
    git(repo, "revert", "--no-edit", "HEAD")

    done = apply.run("Apply exactly what was reviewed", BEFORE=base)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed: camp-c (campaigns/c.yaml): nothing is recalled, its ledger record stays" in done.stdout
    assert _receipts(repo) == 16
    summary = apply.run("Write the job summary")
    assert summary.returncode == 0, summary.stderr
    assert "camp-a → sandbox" in apply.summary.read_text(encoding="utf-8")
    assert (repo / "summaries" / "camp-a" / "summary.json").is_file()
    assert not (repo / "summaries" / "camp-b").exists()

    # a second push with nothing new for the campaigns: the same digests no longer match (all was sent)
    again = apply.run("Apply exactly what was reviewed", BEFORE=base)
    assert again.returncode == 1
    assert "1 scenario" not in again.stdout and _receipts(repo) == 16


def test_a_push_without_a_merged_pull_request_applies_nothing(tmp_path: Path, fixtures: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    three_campaigns(repo)
    (fixtures / "pulls.json").write_text("[]")
    apply = Runner(repo, fixtures, "campaigner-apply.yml")
    done = apply.run("Find the reviewed plan", GH_TOKEN="t", REPO="o/r", SHA="abc")
    assert done.returncode == 1
    assert "::error::abc came from no merged pull request" in done.stdout
