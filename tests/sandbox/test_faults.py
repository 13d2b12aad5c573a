"""The sandbox's injected faults, duplicate receipts and request timestamps, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaigner.sandbox.exceptions import FaultSpecError
from campaigner.sandbox.faults import FaultInjector, parse_faults
from campaigner.sandbox.server import SandboxServer

AUTH = {"Authorization": "App sandbox"}
BODY = {"destinations": [{"messageId": "M-1", "to": {"phoneNumber": "385977666111"}}], "sms": {"text": "hi"}}


Make = Callable[..., SandboxServer]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    """Start sandboxes with given options (fresh state each); all are stopped after the test."""
    started: list[SandboxServer] = []

    def factory(**kw: Any) -> SandboxServer:
        server = SandboxServer(db_path=tmp_path / f"s{len(started)}.db", time_scale=36000.0, **kw)
        started.append(server.start())
        return server

    yield factory
    for server in started:
        server.stop()


def received(client: httpx.Client) -> dict[str, int]:
    return {m["messageId"]: m["received"] for m in client.get("/_sandbox/messages").json()["messages"]}


def test_500_is_answered_before_anything_is_committed(make: Make) -> None:
    server = make(faults="500=1")
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        answer = client.post("/omni/1/advanced", json=BODY)
        assert answer.status_code == 500
        assert answer.json() == {
            "requestError": {"serviceException": {"messageId": "GENERAL_ERROR", "text": "Internal server error"}}
        }
        assert received(client) == {}
        assert client.get("/_sandbox/stats").json()["faults"] == {"500": 1}


def test_429_carries_retry_after_and_commits_nothing(make: Make) -> None:
    server = make(faults="429=1")
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        answer = client.post("/omni/1/advanced", json=BODY)
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["requestError"]["serviceException"]["messageId"] == "TOO_MANY_REQUESTS"
        assert received(client) == {}
        assert client.get("/omni/1/scenarios").status_code == 200  # other endpoints never fault


def test_timeout_commits_then_holds_the_answer_past_the_read_timeout(make: Make) -> None:
    server = make(faults="timeout=1", timeout_delay=2.0)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=httpx.Timeout(5, read=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.post("/omni/1/advanced", json=BODY)
        assert time.monotonic() - started < 1.5
        assert received(client) == {"M-1": 1}
    started = time.monotonic()
    server.stop()  # a held answer does not hold up the stop
    assert time.monotonic() - started < 1.5


def test_timeout_answer_arrives_after_the_delay(make: Make) -> None:
    server = make(faults="timeout=1", timeout_delay=0.2)
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        started = time.monotonic()
        answer = client.post("/omni/1/advanced", json=BODY)
        assert answer.status_code == 200 and time.monotonic() - started >= 0.2


def test_lost_answer_commits_then_drops_the_connection(make: Make) -> None:
    server = make(faults="lost-answer=1")
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/omni/1/advanced", json=BODY)
        assert received(client) == {"M-1": 1}
        (request,) = client.get("/_sandbox/requests", params={"path": "/omni/1/advanced"}).json()["requests"]
        assert (request["status"], request["fault"]) == (0, "lost-answer")


def test_a_bad_body_is_answered_400_whatever_fault_was_drawn(make: Make) -> None:
    server = make(faults="lost-answer=0.5,timeout=0.5", timeout_delay=5)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=2) as client:
        for _ in range(5):
            assert client.post("/omni/1/advanced", json={"destinations": []}).status_code == 400


def test_faults_are_drawn_from_the_seed(make: Make) -> None:
    def statuses(seed: int) -> list[int]:
        server = make(faults="500=0.3,429=0.3", seed=seed)
        with httpx.Client(base_url=server.url, headers=AUTH) as client:
            return [client.post("/omni/1/advanced", json=BODY).status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert {200, 429, 500} == set(first)


def test_repeated_message_ids_are_accepted_and_counted(make: Make) -> None:
    server = make()
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        second = {"messageId": "M-2", "to": {"phoneNumber": "41793026111"}}
        two = {"destinations": [BODY["destinations"][0], second], "sms": {"text": "hi"}}  # type: ignore[index]
        for body in (BODY, BODY, two):
            assert client.post("/omni/1/advanced", json=body).status_code == 200
        assert received(client) == {"M-1": 3, "M-2": 1}
        duplicates = client.get("/_sandbox/messages", params={"duplicates": "true"}).json()["messages"]
        assert [(m["messageId"], m["to"], m["received"]) for m in duplicates] == [
            ("M-1", {"phoneNumber": "385977666111"}, 3)
        ]
        stats = client.get("/_sandbox/stats").json()
        assert (stats["messages"], stats["receipts"], stats["duplicates"]) == (2, 4, 1)
        assert stats["requests"]["POST /omni/1/advanced"] == {"200": 3}
        assert client.post("/_sandbox/reset").status_code == 200
        assert client.get("/_sandbox/stats").json()["receipts"] == 0


def test_request_arrival_times_are_recorded(make: Make) -> None:
    server = make()
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        before = time.time()
        for _ in range(5):
            client.post("/omni/1/advanced", json=BODY)
        client.get("/omni/1/reports")
        found = client.get("/_sandbox/requests", params={"path": "/omni/1/advanced"}).json()["requests"]
        assert [r["status"] for r in found] == [200] * 5
        times = [r["at"] for r in found]
        assert times == sorted(times) and before <= times[0] <= times[-1] <= time.time()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("500", "bad fault '500': expected NAME=RATE, e.g. 500=0.05"),
        ("503=0.1", "unknown fault '503': expected one of 500, 429, timeout, lost-answer"),
        ("500=x", "bad rate 'x' for fault '500': expected a number"),
        ("500=1.5", "rate 1.5 for fault '500' is outside 0..1"),
        ("500=0.1,500=0.2", "fault '500' given twice"),
        ("500=0.6,429=0.6", "fault rates add up to 1.2, more than 1"),
    ],
    ids=["no-rate", "unknown", "not-a-number", "above-one", "twice", "sum"],
)
def test_bad_fault_specs_are_refused_clearly(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_faults(spec)
    assert str(caught.value) == message


def test_fault_spec_parses_and_draws_in_proportion() -> None:
    spec = parse_faults(" 500=0.05, 429=0.05,timeout=0.02,lost-answer=0.02 ")
    assert str(spec) == "500=0.05,429=0.05,timeout=0.02,lost-answer=0.02"
    assert parse_faults(None).rates == () and parse_faults("").rates == ()
    injector = FaultInjector(parse_faults("500=0.25,lost-answer=0.25"), seed=3)
    draws = [injector.draw() for _ in range(4000)]
    assert 800 < draws.count("500") < 1200 and 800 < draws.count("lost-answer") < 1200
