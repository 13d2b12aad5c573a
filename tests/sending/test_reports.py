"""Tests of campaigner.sending.reports: reports stored before they are counted, and what a lost answer costs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import Quiet

from campaigner.errors import ProviderError
from campaigner.ledger.messages import Ledger, MessageIntent
from campaigner.omni.client import ApiKeyAuth, ClientConfig, OmniClient, RetryPolicy
from campaigner.sending import reports as reports_module
from campaigner.sending.reports import collect_reports
from campaigner.sending.target import Target

T, C, B = "sandbox", "c", "b"
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"}
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED"}
ERROR = {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 1, "name": "EC_UNKNOWN_SUBSCRIBER", "permanent": True}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """Two accepted messages, m0 and m1, of campaign ``c``."""
    with Ledger(tmp_path / "state.db") as led:
        led.ensure_campaign(T, C, B)
        led.claim_for_sending(T, C, [MessageIntent(f"m{i}", f"3859100000{i}", 2 + i, "h") for i in range(2)], at=1.0)
        led.mark_accepted(T, [("m0", None), ("m1", None)], at=2.0)
        yield led


def report(mid: str, status: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"bulkId": B, "messageId": mid, "to": "38591000000", "status": status, **extra}


def collect(
    ledger: Ledger,
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    wait: float = 0,
    progress: Quiet | None = None,
) -> tuple[int, int]:
    config = ClientConfig(
        base_url="http://127.0.0.1:9",
        auth=ApiKeyAuth("k"),
        retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002),
    )

    async def run() -> tuple[int, int]:
        async with OmniClient(config, transport=httpx.MockTransport(handler)) as client:
            return await collect_reports(
                client, ledger, Target("sandbox", "sandbox"), C, B, wait=wait, progress=progress or Quiet(), poll=0.01
            )

    return asyncio.run(run())


def test_a_clean_run_never_reads_the_logs(ledger: Ledger) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        results = [report("m0", DELIVERED)] if len(seen) == 1 else []
        return httpx.Response(200, json={"results": results})

    assert collect(ledger, handler, wait=0.05) == (1, 1)
    assert set(seen) == {"/omni/1/reports"}  # m1 is merely pending: nothing was lost, no logs call
    assert ledger.reports_state(T, C) is None


def test_a_lost_answer_is_filled_in_from_the_logs(ledger: Ledger) -> None:
    # The first request's answer never comes (a 500): the provider may have handed out m0's report with
    # it. It is not asked again blindly; m0's final status comes from the logs instead.
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/omni/1/logs":
            assert request.url.params["messageId"] == "m0,m1"
            return httpx.Response(200, json={"results": [report("m0", DELIVERED), report("m1", PENDING)]})
        if seen.count("/omni/1/reports") == 1:
            return httpx.Response(500, json={"requestError": {"serviceException": {"text": "boom"}}})
        return httpx.Response(200, json={"results": [report("m1", UNDELIVERABLE, error=ERROR)]})

    progress = Quiet()
    assert collect(ledger, handler, wait=5, progress=progress) == (2, 0)
    assert seen == ["/omni/1/reports", "/omni/1/logs", "/omni/1/reports"]
    sources = {o.message_id: o.report_source for o in ledger.outcomes(T, C)}
    assert sources == {"m0": "logs", "m1": "reports"}
    assert ledger.reports_state(T, C) is None
    assert any("got no answer" in line for line in progress.lines), progress.lines


def test_a_run_that_stopped_mid_fetch_is_caught_up_from_the_logs(ledger: Ledger) -> None:
    ledger.set_reports_state(T, C, "fetching")  # what a kill during a request for reports leaves behind
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/omni/1/logs":
            return httpx.Response(200, json={"results": [report("m0", DELIVERED), report("m1", UNDELIVERABLE)]})
        return httpx.Response(200, json={"results": []})

    progress = Quiet()
    assert collect(ledger, handler, progress=progress) == (2, 0)
    assert seen == ["/omni/1/logs", "/omni/1/reports"]
    assert ledger.reports_state(T, C) is None
    assert progress.lines[0].startswith("Delivery reports may have been handed out to an earlier run and lost")


def test_the_state_stays_lost_when_the_logs_cannot_be_read(ledger: Ledger) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/omni/1/logs":
            return httpx.Response(503, text="unavailable")
        return httpx.Response(500, json={"requestError": {"serviceException": {"text": "boom"}}})

    with pytest.raises(ProviderError, match="503"):
        collect(ledger, handler)
    assert ledger.reports_state(T, C) == "lost"  # the next report or apply reads the logs again


def test_a_real_report_replaces_one_filled_in_from_the_logs(ledger: Ledger) -> None:
    # Nothing is outstanding (final statuses were read from the logs), yet the reports the provider
    # still holds are fetched: the real one carries the error details the logs lack.
    assert ledger.store_reports(T, [report("m0", UNDELIVERABLE), report("m1", DELIVERED)], source="logs", at=3.0) == 2
    assert ledger.count_without_report(T, C) == 0

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/omni/1/reports"
        return httpx.Response(200, json={"results": [report("m0", UNDELIVERABLE, error=ERROR)]})

    assert collect(ledger, handler) == (1, 0)
    outcome = next(o for o in ledger.outcomes(T, C) if o.message_id == "m0")
    assert outcome.report_source == "reports"
    assert outcome.report is not None and outcome.report["error"]["name"] == "EC_UNKNOWN_SUBSCRIBER"


def test_the_next_page_is_asked_for_while_one_is_stored(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports_module, "REPORT_PAGE", 1)
    seen: list[tuple[str | None, int]] = []  # (reports_state, reports stored) as each request arrives
    pages = [[report("m0", DELIVERED)], [report("m1", DELIVERED)], []]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((ledger.reports_state(T, C), ledger.counts(T, C)["reports"]["total"]))
        return httpx.Response(200, json={"results": pages[len(seen) - 1]})

    assert collect(ledger, handler, wait=5) == (2, 0)
    assert seen == [("fetching", 0), ("fetching", 0), ("fetching", 1)]  # page 2 left before page 1 was stored
    assert ledger.reports_state(T, C) is None


def test_a_lost_answer_to_a_page_asked_for_ahead_goes_to_the_logs(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_module, "REPORT_PAGE", 1)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/omni/1/logs":
            return httpx.Response(200, json={"results": [report("m1", DELIVERED)]})
        if seen.count("/omni/1/reports") == 2:
            return httpx.Response(500, json={"requestError": {"serviceException": {"text": "boom"}}})
        if seen.count("/omni/1/reports") == 1:
            return httpx.Response(200, json={"results": [report("m0", DELIVERED)]})
        return httpx.Response(200, json={"results": []})

    assert collect(ledger, handler, wait=5) == (2, 0)
    assert seen == ["/omni/1/reports", "/omni/1/reports", "/omni/1/logs", "/omni/1/reports"]
    assert {o.message_id: o.report_source for o in ledger.outcomes(T, C)} == {"m0": "reports", "m1": "logs"}
    assert ledger.reports_state(T, C) is None
