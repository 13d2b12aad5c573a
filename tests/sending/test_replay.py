"""Tests for campaigner.sending.replay: the plan's messages kept for the send, and apply reading the CSV once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from campaigner.plan import stream as build
from campaigner.plan.message import Payload, PlannedMessage
from campaigner.recipients.reader import Skip
from campaigner.sending.replay import CHUNK, PlanReplay

EXAMPLE = "campaigns/spring-sale-2026.yaml"


def _items(n: int) -> list[PlannedMessage | Skip]:
    payloads = [Payload(f"h{i}", {"sms": {"text": f"text {i} é"}}, None) for i in range(3)]
    items: list[PlannedMessage | Skip] = []
    for i in range(n):
        if i % 7 == 3:
            items.append(Skip(i + 2, "invalid_phone", "not a number"))
        else:
            items.append(PlannedMessage(i + 2, f"r{i}", f"m{i}", {"phoneNumber": f"+3859100{i:05d}"}, payloads[i % 3]))
    return items


def test_items_come_back_in_order_as_often_as_asked() -> None:
    items = _items(2 * CHUNK + 17)
    replay = PlanReplay()
    for item in items:
        replay.add(item)
    assert replay.finish(len(items))
    try:
        assert list(replay) == items
        again = list(replay)
        assert again == items
        assert again[0].payload is again[6].payload  # type: ignore[union-attr]  # one payload object a chunk
    finally:
        replay.close()


def test_a_replay_missing_items_is_not_used() -> None:
    replay = PlanReplay()
    for item in _items(10):
        replay.add(item)
    assert not replay.finish(11)
    assert not replay.ready
    with pytest.raises(RuntimeError, match="read the CSV"):
        list(replay)
    replay.close()


def test_a_failed_write_leaves_the_replay_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    replay = PlanReplay()

    def full(*args: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("campaigner.sending.replay.os.pwrite", full)
    for item in _items(CHUNK + 1):
        replay.add(item)
    assert not replay.finish(CHUNK + 1)
    assert isinstance(replay.failed, OSError)
    replay.close()


def test_apply_of_a_new_campaign_reads_the_csv_once_and_a_rerun_reads_it_again(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    original = build.MessageStream.__init__

    def counting(self: build.MessageStream, *args: Any, **kwargs: Any) -> None:
        opened.append("csv")
        original(self, *args, **kwargs)

    monkeypatch.setattr(build.MessageStream, "__init__", counting)
    first = cli("apply", EXAMPLE, "--no-wait")
    assert first.code == 0, first.err
    assert opened == ["csv"]  # the plan's pass; the send replayed it
    summary = json.loads((workdir / "campaigns/reports/spring-sale-2026/summary.json").read_text())
    assert summary["recipients"]["sent"] == 15
    csv = workdir / "campaigns/recipients/loyalty.csv"
    with csv.open("a", encoding="utf-8") as fh:
        fh.write("Zora,+385 91 700 0001,,20,gold\n")
    opened.clear()
    second = cli("apply", EXAMPLE, "--no-wait")
    assert second.code == 0, second.err
    assert opened == ["csv", "csv"]  # a campaign the ledger knows: the send reads the CSV (and the ledger) again
    summary = json.loads((workdir / "campaigns/reports/spring-sale-2026/summary.json").read_text())
    assert summary["recipients"]["sent"] == 16
