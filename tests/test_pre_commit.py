"""The campaigner-validate pre-commit hook, tried with `pre-commit try-repo` from this checkout on a new repository.

pre-commit builds the hook's environment from the local path (pip installs campaigner from it, and its
dependencies from the package index pip is configured with); nothing is fetched from a git host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import git

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _try_repo(cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFOBIP_", "CAMPAIGNER_", "PRE_COMMIT"))}
    env.update({"PRE_COMMIT_HOME": str(home), "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}", "NO_COLOR": "1"})
    pre_commit = shutil.which("pre-commit", path=env["PATH"]) or "pre-commit"
    return subprocess.run(
        [pre_commit, "try-repo", str(REPO), "campaigner-validate", "--all-files", "--color", "never"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_try_repo_runs_the_hook_on_a_campaign_folder(tmp_path: Path) -> None:
    repo = tmp_path / "campaign-repo"
    shutil.copytree(REPO / "campaigns", repo / "campaigns", ignore=shutil.ignore_patterns("reports"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "campaigns")
    home = tmp_path / "pre-commit-home"

    ok = _try_repo(repo, home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "campaigner validate" in ok.stdout and "Passed" in ok.stdout

    spring = (repo / "campaigns" / "spring-sale-2026.yaml").read_text(encoding="utf-8")
    (repo / "campaigns" / "copy.yaml").write_text(spring, encoding="utf-8")
    git(repo, "add", "-A")
    bad = _try_repo(repo, home)
    assert bad.returncode == 1
    assert "Failed" in bad.stdout
    assert (
        "campaigns/copy.yaml:2:11: error: campaign id 'spring-sale-2026' is also used by "
        "campaigns/spring-sale-2026.yaml" in bad.stdout
    )
