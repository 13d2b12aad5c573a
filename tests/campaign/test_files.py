"""Tests for campaigner.campaign.files: inputs confined to the repository, regular files only, nothing blocks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from campaigner.campaign.files import (
    MAX_CAMPAIGN_BYTES,
    FileRefused,
    confine,
    open_regular,
    read_campaign_bytes,
    repository_root,
    shown,
)


def test_the_root_is_the_git_work_tree_else_the_campaign_folder(tmp_path: Path) -> None:
    (tmp_path / "repo" / "campaigns").mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    (tmp_path / "plain").mkdir()
    assert repository_root(tmp_path / "repo" / "campaigns" / "c.yaml") == (tmp_path / "repo").resolve()
    assert repository_root(tmp_path / "plain" / "c.yaml") == (tmp_path / "plain").resolve()


def test_confine_refuses_paths_and_links_that_leave_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "in.csv").write_text("phone\n")
    (tmp_path / "out.csv").write_text("phone\n")
    (root / "link-in.csv").symlink_to(root / "sub" / "in.csv")
    (root / "link-out.csv").symlink_to("/etc/passwd")
    assert confine(root / "sub" / ".." / "sub" / "in.csv", root.resolve()) == (root / "sub" / "in.csv").resolve()
    assert confine(root / "link-in.csv", root.resolve()) == (root / "sub" / "in.csv").resolve()
    refusals = {}
    for name in ("../out.csv", "/etc/passwd", "link-out.csv"):
        with pytest.raises(FileRefused) as caught:
            confine(root / name, root.resolve(), name)
        assert caught.value.outside
        refusals[name] = caught.value.message.replace(str(root.resolve()), "ROOT")
    assert refusals == {
        "../out.csv": "../out.csv is outside the campaign's folder ROOT",
        "/etc/passwd": "/etc/passwd is outside the campaign's folder ROOT",
        "link-out.csv": "link-out.csv (a link to /etc/passwd) is outside the campaign's folder ROOT",
    }


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outcome: list[str] = []

    def attempt() -> None:
        try:
            open_regular(fifo, what="a CSV file")
        except FileRefused as exc:
            outcome.append(exc.message)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert outcome == ["is a FIFO (named pipe), not a CSV file"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/zero", "is a character device, not a campaign file"),
        ("/", "is a folder, not a campaign file"),
    ],
)
def test_devices_and_folders_are_no_campaign_file(path: str, message: str) -> None:
    with pytest.raises(FileRefused) as caught:
        read_campaign_bytes(Path(path))
    assert caught.value.message == message


def test_a_campaign_file_past_the_size_cap_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(MAX_CAMPAIGN_BYTES * 64)
    with pytest.raises(FileRefused) as caught:
        read_campaign_bytes(big)
    assert caught.value.message == "is larger than 1 MiB; a campaign file is a few kilobytes"


def test_shown_escapes_control_characters_and_cuts() -> None:
    assert shown("a\x1b[31mb\n") == "a\\x1b[31mb\\n"
    assert shown("x" * 100, 10) == "xxxxxxxxx…"
