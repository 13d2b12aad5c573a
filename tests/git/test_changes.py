"""--changed-since in a real git repository: only what changed is planned, deletions listed, shallow clones told."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import git, three_campaigns

from campaigner.errors import CampaignerError
from campaigner.git.changes import changed_since


@pytest.fixture
def repo(workdir: Path) -> Path:
    shutil.rmtree(workdir / "campaigns")
    three_campaigns(workdir)
    return workdir


def test_only_the_changed_campaign_is_planned_and_the_deleted_one_listed(repo: Path, cli: Any) -> None:
    with (repo / "campaigns" / "recipients" / "a.csv").open("a", encoding="utf-8") as fh:
        fh.write("Zed,+385 91 555 0199,,10,gold\n")
    (repo / "campaigns" / "c.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a gets a row; c goes")

    result = cli("plan", "campaigns/", "--changed-since", "HEAD~1", "--detailed-exitcode")
    assert result.code == 2, result.err
    out = result.out
    assert "== camp-a (campaigns/a.yaml) ==" in out
    assert "camp-b" not in out
    assert "removed: camp-c (campaigns/c.yaml): nothing is recalled, its ledger record stays\n" in out
    assert out.count("Plan: 16 messages to send, 1 scenario to create.") == 1
    assert out.endswith("\nCampaigns: 1 campaign planned (1 with changes), 1 removed.\n")
    data = json.loads(cli("plan", "campaigns", "--changed-since", "HEAD~1", "--format", "json").out)
    assert [c["campaign"] for c in data["campaigns"]] == ["camp-a"]
    assert data["removed"] == [{"file": "campaigns/c.yaml", "campaign": "camp-c"}]

    # Nothing differs from HEAD: nothing to plan, and no change to apply.
    same = cli("plan", "campaigns", "--changed-since", "HEAD", "--detailed-exitcode")
    assert same.code == 0, same.err
    assert same.out.endswith("\nCampaigns: 0 campaigns planned (0 with changes).\n")
    nothing = cli("apply", "campaigns", "--changed-since", "HEAD")
    assert (nothing.code, nothing.out) == (
        0,
        "No campaign changed since HEAD: neither a campaign file nor a file one reads.\n",
    )
    # apply over the same selection sends camp-a only
    applied = cli("apply", "campaigns", "--changed-since", "HEAD~1", "--no-wait")
    assert applied.code == 0, applied.err
    assert "removed: camp-c (campaigns/c.yaml)" in applied.out
    assert applied.out.count("Sent in ") == 1
    # validate follows the selection too
    assert cli("validate", "campaigns", "--changed-since", "HEAD~1").out.startswith("removed: camp-c")


def test_an_exclude_list_shared_by_all_selects_all(repo: Path, cli: Any) -> None:
    with (repo / "campaigns" / "recipients" / "opt-outs.csv").open("a", encoding="utf-8") as fh:
        fh.write("+385 91 555 0100,\n")  # uncommitted: the working tree counts
    result = cli("plan", "campaigns", "--changed-since", "HEAD")
    assert result.code == 0, result.err
    assert result.out.count("== camp-") == 3


def test_a_renamed_campaign_is_not_removed(repo: Path, cli: Any) -> None:
    git(repo, "mv", "campaigns/b.yaml", "campaigns/b-renamed.yaml")
    result = cli("plan", "campaigns", "--changed-since", "HEAD")
    assert "== camp-b (campaigns/b-renamed.yaml) ==" in result.out
    assert "removed" not in result.out


def test_a_shallow_clone_says_what_depth_it_needs(
    repo: Path, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "campaigns" / "recipients" / "a.csv").write_text(
        "first_name,phone,line_user_key,discount,segment\n", encoding="utf-8"
    )
    git(repo, "commit", "-qam", "second")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    monkeypatch.chdir(clone)
    result = cli("plan", "campaigns", "--changed-since", "HEAD~1")
    assert (result.code, result.err) == (
        1,
        "error: --changed-since HEAD~1: git does not have this revision; this is a shallow clone; it needs a fetch "
        "depth of at least 2 (actions/checkout `fetch-depth: 2`, or `git fetch --deepen=1`)\n",
    )
    other = cli("plan", "campaigns", "--changed-since", "origin/release")
    assert other.err == (
        "error: --changed-since origin/release: git does not have this revision; this is a shallow clone; it needs "
        "that commit fetched (`git fetch origin origin/release`), or the whole history (actions/checkout `fetch-depth: 0`)\n"
    )


def test_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(CampaignerError, match=r"is not inside a git repository"):
        changed_since("HEAD", cwd=tmp_path)
