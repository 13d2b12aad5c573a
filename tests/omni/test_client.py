"""Unit tests for campaigner.omni.client: the OMNI client against httpx.MockTransport, no network."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigner.errors import (
    ConnectFailedError,
    OutcomeUnknownError,
    ProviderError,
    RateLimitedError,
    TargetError,
)
from campaigner.omni.client import (
    ApiKeyAuth,
    BasicAuth,
    ClientConfig,
    OmniClient,
    PauseGate,
    RetryPolicy,
    normalize_base_url,
    parse_retry_after,
    split_results,
)
from campaigner.omni.models import (
    AdvancedRequest,
    DeliveryReport,
    FlowStep,
    OmniLog,
    Scenario,
    SendResponse,
    format_timestamp,
    parse_timestamp,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
OPENAPI = SHARED / "reference" / "infobip-omni-failover-openapi.json"
SEED = SHARED / "seed" / "omni-line-example.txt"

KEY = "k3y-5ecret-6c1f0e2a9b"
BASE = "https://omni.example.test"
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.004)
T = TypeVar("T")

Answer = httpx.Response | type[Exception] | Callable[[httpx.Request], httpx.Response]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def envelope(message_id: str, text: str, validation: dict[str, list[str]] | None = None) -> dict[str, Any]:
    service: dict[str, Any] = {"messageId": message_id, "text": text}
    if validation is not None:
        service["validationErrors"] = validation
    return {"requestError": {"serviceException": service}}


PENDING = {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE", "description": "x"}


def accepted(request: httpx.Request) -> httpx.Response:
    """What the provider answers to a send: every destination PENDING, messageIds echoed."""
    body = json.loads(request.content)
    messages = [
        {"to": d["to"], "status": PENDING, "messageId": d.get("messageId", f"gen-{i}")}
        for i, d in enumerate(body["destinations"])
    ]
    answer: dict[str, Any] = {"messages": messages}
    if len(messages) > 1:
        answer["bulkId"] = body.get("bulkId", "generated-bulk")
    return httpx.Response(200, json=answer)


class Script:
    """A MockTransport handler answering from a list of steps (the last repeats); records requests."""

    def __init__(self, *steps: Answer) -> None:
        self.steps = steps
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, type):
            raise step("simulated")
        if isinstance(step, httpx.Response):
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def make_config(**kw: Any) -> ClientConfig:
    kw.setdefault("base_url", BASE)
    kw.setdefault("auth", ApiKeyAuth(KEY))
    kw.setdefault("retry", FAST)
    return ClientConfig(**kw)


def client_for(
    handler: Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    **kw: Any,
) -> OmniClient:
    return OmniClient(make_config(**kw), transport=httpx.MockTransport(handler))


async def call(handler: Script, method: str, *args: Any, **kw: Any) -> Any:
    async with client_for(handler) as client:
        return await getattr(client, method)(*args, **kw)


def body(*message_ids: str) -> dict[str, Any]:
    return {
        "scenarioKey": "1E094D5C820B067G2B3DBA6B414F4CF5",
        "bulkId": "bulk-1",
        "destinations": [
            {"messageId": m, "to": {"phoneNumber": "385977666618", "lineUserKey": f"u-{m}"}} for m in message_ids
        ],
        "line": {"text": "Hello"},
        "sms": {"text": "Hello by SMS"},
    }


SEND_BODY = body("m-1")


# --- seed page ---------------------------------------------------------------------------------


def seed_codes() -> list[str]:
    """The code blocks of the provider's LINE example page, in order."""
    text = SEED.read_text(encoding="utf-8")
    blocks = re.findall(r"\[block:code\] (\{.*?\}) \[/block\]", text, re.S)
    return [code["code"] for block in blocks for code in json.loads(block)["codes"]]


def seed_requests(method_path: str) -> list[dict[str, Any]]:
    bodies = []
    for code in seed_codes():
        if code.startswith(method_path + " "):
            bodies.append(json.loads(code.split("\n\n", 1)[1]))
    return bodies


def seed_answers() -> list[dict[str, Any]]:
    answers = []
    for code in seed_codes():
        if code.startswith("HTTP/1.1"):
            code = code.split("\n\n", 1)[1]
        if code.lstrip().startswith("{"):
            answers.append(json.loads(code))
    return answers


needs_seed = pytest.mark.skipif(not SEED.exists(), reason=f"seed page not found at {SEED}")


# --- errors --------------------------------------------------------------------------------------


def test_envelope_becomes_provider_error_with_its_fields() -> None:
    answer = envelope("BAD_REQUEST", "Bad request", {"destinations[0].to": ["must not be null"]})
    script = Script(httpx.Response(400, json=answer))
    with pytest.raises(ProviderError) as info:
        run(call(script, "send", SEND_BODY))
    err = info.value
    assert type(err) is ProviderError
    assert (err.status, err.message_id, err.text) == (400, "BAD_REQUEST", "Bad request")
    assert err.validation_errors == {"destinations[0].to": ["must not be null"]}
    assert (err.method, err.url_path) == ("POST", "/omni/1/advanced")
    assert str(err) == (
        "error: provider answered POST /omni/1/advanced: HTTP 400 BAD_REQUEST: Bad request "
        "(destinations[0].to: must not be null)"
    )
    assert len(script.requests) == 1


def test_401_is_not_retried() -> None:
    script = Script(httpx.Response(401, json=envelope("UNAUTHORIZED", "Invalid login details")))
    with pytest.raises(ProviderError) as info:
        run(call(script, "list_scenarios"))
    assert (info.value.status, info.value.message_id, info.value.text) == (
        401,
        "UNAUTHORIZED",
        "Invalid login details",
    )
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (httpx.Response(400, text="no such thing"), "Bad Request: no such thing"),
        (httpx.Response(404, json={"error": "nope"}), 'Not Found: {"error":"nope"}'),
        (httpx.Response(403, headers={"content-type": "text/html"}, text="<html>x</html>"), "Forbidden"),
        (httpx.Response(409), "Conflict"),
        (httpx.Response(400, json={"requestError": {"serviceException": {}}}), "Bad Request"),
    ],
    ids=["plain-text", "foreign-json", "html", "empty", "empty-envelope"],
)
def test_error_bodies_that_are_not_the_envelope(answer: httpx.Response, text: str) -> None:
    with pytest.raises(ProviderError) as info:
        run(call(Script(answer), "get_scenario", "K"))
    assert info.value.text == text
    assert info.value.message_id is None


def test_unreadable_success_of_a_send_is_an_unknown_outcome() -> None:
    script = Script(httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(OutcomeUnknownError) as info:
        run(call(script, "send", SEND_BODY))
    assert info.value.status == 200
    assert len(script.requests) == 1


def test_unreadable_success_of_a_read_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="unreadable answer"):
        run(call(Script(httpx.Response(200, json={"results": "x"})), "reports"))


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(500, json=envelope("GENERAL_ERROR", "Something went wrong")),
        httpx.Response(503, text="unavailable"),
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
        httpx.ReadError,
    ],
    ids=["500", "503", "connect-error", "connect-timeout", "read-timeout", "reset", "read-error"],
)
def test_reads_are_retried(first: Answer) -> None:
    script = Script(first, first, httpx.Response(200, json={"results": [{"messageId": "m"}]}))
    assert run(call(script, "logs", bulk_id="b")) == [{"messageId": "m"}]
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(500, json=envelope("GENERAL_ERROR", "Something went wrong")),
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
        httpx.Response(200, text="<html>not json</html>"),
    ],
    ids=["500", "read-timeout", "reset", "unreadable"],
)
def test_a_reports_read_whose_answer_is_lost_is_not_repeated(first: Answer) -> None:
    # each report is returned once: a repeat would not bring back what the lost answer carried
    script = Script(first, httpx.Response(200, json={"results": [{"messageId": "m"}]}))
    with pytest.raises(OutcomeUnknownError):
        run(call(script, "reports", bulk_id="b"))
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "first",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.Response(429)],
    ids=["connect-error", "connect-timeout", "429"],
)
def test_a_reports_read_that_never_arrived_is_repeated(first: Answer) -> None:
    script = Script(first, httpx.Response(200, json={"results": [{"messageId": "m"}]}))
    assert run(call(script, "reports", bulk_id="b")) == [{"messageId": "m"}]
    assert len(script.requests) == 2


def test_reads_give_up_after_max_attempts() -> None:
    script = Script(httpx.Response(500, json=envelope("GENERAL_ERROR", "Something went wrong")))
    with pytest.raises(ProviderError) as info:
        run(call(script, "logs", bulk_id="b"))
    assert info.value.status == 500
    assert len(script.requests) == FAST.max_attempts
    script = Script(httpx.ReadTimeout)
    with pytest.raises(ProviderError, match="no answer"):
        run(call(script, "logs", bulk_id="b"))
    assert len(script.requests) == FAST.max_attempts


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json=envelope("GENERAL_ERROR", "Something went wrong")),
        httpx.Response(502, headers={"content-type": "text/html"}, text="<html>bad gateway</html>"),
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
        httpx.WriteTimeout,
    ],
    ids=["500", "502-html", "read-timeout", "reset", "read-error", "write-error", "write-timeout"],
)
@pytest.mark.parametrize("method", ["send", "create_scenario", "update_scenario"])
def test_unsafe_calls_are_never_retried_after_they_may_have_arrived(method: str, answer: Answer) -> None:
    script = Script(answer, accepted)
    args: dict[str, tuple[Any, ...]] = {
        "send": (SEND_BODY,),
        "create_scenario": ("n", [{"channel": "SMS"}]),
        "update_scenario": ("K", "n", [{"channel": "SMS"}]),
    }
    with pytest.raises(OutcomeUnknownError) as info:
        run(call(script, method, *args[method]))
    assert len(script.requests) == 1
    assert "may have been processed" in str(info.value)
    if isinstance(answer, httpx.Response):
        assert info.value.status == answer.status_code
    else:
        assert isinstance(answer, type)
        assert isinstance(info.value.__cause__, answer)


@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.Response(429, json=envelope("TOO_MANY_REQUESTS", "Too many requests")),
    ],
    ids=["connect-error", "connect-timeout", "pool-timeout", "429"],
)
def test_a_send_is_retried_when_it_certainly_did_not_arrive(first: Answer) -> None:
    script = Script(first, accepted)
    answer = run(call(script, "send", body("m-1", "m-2")))
    assert isinstance(answer, SendResponse)
    assert answer.bulkId == "bulk-1"
    assert [m.messageId for m in answer.messages] == ["m-1", "m-2"]
    assert len(script.requests) == 2
    assert script.requests[0].content == script.requests[1].content


def test_a_send_that_never_connects_raises_connect_failed() -> None:
    script = Script(httpx.ConnectError)
    with pytest.raises(ConnectFailedError) as info:
        run(call(script, "send", SEND_BODY))
    assert len(script.requests) == FAST.max_attempts
    assert str(info.value) == (
        f"error: cannot reach the provider at {BASE} (ConnectError: simulated) after 4 attempts; nothing was sent"
    )


def test_429_after_the_last_attempt_raises_rate_limited() -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "0"}, json=envelope("TOO_MANY_REQUESTS", "Too many requests"))
    )
    with pytest.raises(RateLimitedError) as info:
        run(call(script, "send", SEND_BODY))
    assert (info.value.status, info.value.retry_after, info.value.message_id) == (
        429,
        0.0,
        "TOO_MANY_REQUESTS",
    )
    assert len(script.requests) == FAST.max_attempts


def test_a_retry_after_beyond_the_cap_is_raised_without_waiting() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        run(call(script, "list_scenarios"))
    assert info.value.retry_after == 3600
    assert time.monotonic() - started < 1
    assert len(script.requests) == 1


def test_retry_after_is_honoured() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "0.2"}), accepted)

    async def main() -> tuple[float, OmniClient]:
        async with client_for(script) as client:
            started = time.monotonic()
            await client.send(SEND_BODY)
            return time.monotonic() - started, client

    elapsed, client = run(main())
    assert 0.2 <= elapsed < 1.0
    assert client.gate.pauses == 1
    assert len(script.requests) == 2


def test_one_429_pauses_every_concurrent_request_once() -> None:
    seen: list[float] = []

    async def main() -> int:
        limited = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            seen.append(time.monotonic())
            if len(seen) == 1:
                limited.set()
                return httpx.Response(429, headers={"Retry-After": "0.3"})
            return accepted(request)

        async with client_for(handler) as client:

            async def later() -> SendResponse:
                await limited.wait()
                await asyncio.sleep(0.02)  # the 429 has set the pause: this request must wait for it too
                return await client.send(body("m-2"))

            await asyncio.gather(client.send(body("m-1")), later())
            return client.gate.pauses

    assert run(main()) == 1
    assert len(seen) == 3
    assert all(t >= seen[0] + 0.29 for t in seen[1:])
    assert max(seen[1:]) < seen[0] + 0.55


def test_two_429s_at_once_pause_once_not_twice() -> None:
    seen: list[float] = []

    async def main() -> int:
        both_in_flight = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            seen.append(time.monotonic())
            if len(seen) <= 2:
                if len(seen) == 2:
                    both_in_flight.set()
                await both_in_flight.wait()
                return httpx.Response(429, headers={"Retry-After": "0.3"})
            return accepted(request)

        async with client_for(handler) as client:
            await asyncio.gather(client.send(body("m-1")), client.send(body("m-2")))
            return client.gate.pauses

    assert run(main()) == 1
    assert len(seen) == 4
    assert all(seen[1] + 0.29 <= t < seen[1] + 0.55 for t in seen[2:])


def test_pause_gate_never_shortens_and_counts_pauses() -> None:
    now = [100.0]
    gate = PauseGate(clock=lambda: now[0])
    gate.pause_until(105.0)
    gate.pause_until(103.0)
    gate.pause_for(2.0)
    assert (gate.deadline, gate.remaining(), gate.pauses) == (105.0, 5.0, 1)
    gate.pause_until(106.0)  # extends the running pause
    assert gate.pauses == 1
    now[0] = 110.0
    gate.pause_for(1.0)
    assert (gate.deadline, gate.pauses) == (111.0, 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2026 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        (None, None),
        ("", None),
    ],
    ids=["seconds", "fraction", "negative", "http-date", "past-date", "garbage", "nan", "absent", "empty"],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_backoff_is_exponential_capped_and_jittered() -> None:
    import random

    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=False)
    assert [policy.delay(n, random.Random(0)) for n in (1, 2, 3, 4, 5, 1000)] == [0.5, 1, 2, 4, 4, 4]
    jittered = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    assert all(0 <= jittered.delay(3, rng) <= 2.0 for _ in range(100))


# --- endpoints -----------------------------------------------------------------------------------


def scenario(n: int) -> dict[str, Any]:
    return {"key": f"{n:032X}", "name": f"s{n}", "flow": [{"from": "385971006006", "channel": "SMS"}]}


def test_list_scenarios_follows_pages_until_a_short_one() -> None:
    everything = [scenario(n) for n in range(250)]

    def handler(request: httpx.Request) -> httpx.Response:
        limit, page = int(request.url.params["limit"]), int(request.url.params["page"])
        return httpx.Response(200, json={"scenarios": everything[page * limit : (page + 1) * limit]})

    script = Script(handler)
    found = run(call(script, "list_scenarios", page_size=100))
    assert [s.key for s in found] == [s["key"] for s in everything]
    assert [r.url.params["page"] for r in script.requests] == ["0", "1", "2"]


def test_list_scenarios_stops_when_the_server_ignores_paging() -> None:
    script = Script(httpx.Response(200, json={"scenarios": [scenario(1), scenario(2)]}))
    found = run(call(script, "list_scenarios", page_size=2))
    assert [s.name for s in found] == ["s1", "s2"]
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [200, 201])
def test_create_scenario_accepts_200_and_201(status: int) -> None:
    answer = {
        "key": "1E094D5C820B067G2B3DBA6B414F4CF5",
        "name": "Line test scenario",
        "flow": [{"from": "37B94F4D2BA3C58B58526EAEAA1AB35C", "channel": "LINE"}, {"channel": "SMS"}],
        "defaultScenario": True,
    }
    script = Script(httpx.Response(status, json=answer))
    flow = [FlowStep.model_validate({"from": "37B94F4D2BA3C58B58526EAEAA1AB35C", "channel": "LINE"})]
    created = run(call(script, "create_scenario", "Line test scenario", [*flow, {"channel": "SMS"}]))
    assert created.key == "1E094D5C820B067G2B3DBA6B414F4CF5"
    assert created.default is True
    assert created.flow[0].from_ == "37B94F4D2BA3C58B58526EAEAA1AB35C"
    assert script.bodies == [
        {
            "name": "Line test scenario",
            "flow": [{"from": "37B94F4D2BA3C58B58526EAEAA1AB35C", "channel": "LINE"}, {"channel": "SMS"}],
            "default": False,
        }
    ]
    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/omni/1/scenarios")
    assert request.headers["content-type"] == "application/json"


def test_get_and_update_scenario() -> None:
    script = Script(httpx.Response(200, json={**scenario(7), "key": 1234567890123}))
    found = run(call(script, "get_scenario", "K/1"))
    assert found.key == "1234567890123"
    assert script.requests[0].url.raw_path == b"/omni/1/scenarios/K%2F1"
    script = Script(httpx.Response(200, json=scenario(7)))
    run(call(script, "update_scenario", "KEY", "s7", [{"from": "385971006006", "channel": "SMS"}]))
    assert (script.requests[0].method, script.requests[0].url.path) == ("PUT", "/omni/1/scenarios/KEY")
    assert script.bodies == [{"name": "s7", "flow": [{"from": "385971006006", "channel": "SMS"}]}]


def test_unknown_scenario_key_is_a_404() -> None:
    script = Script(httpx.Response(404, json=envelope("NOT_FOUND", "Scenario not found")))
    with pytest.raises(ProviderError) as info:
        run(call(script, "get_scenario", "NOPE"))
    assert (info.value.status, info.value.url_path) == (404, "/omni/1/scenarios/NOPE")


def test_a_bad_flow_never_leaves_the_client() -> None:
    script = Script(accepted)
    with pytest.raises(ValueError, match="channel"):
        run(call(script, "create_scenario", "n", [{"from": "x", "channel": "FAX"}]))
    with pytest.raises(ValueError, match="flow"):
        run(call(script, "create_scenario", "n", []))
    assert script.requests == []


def test_send_posts_compact_utf8_json_with_the_client_headers() -> None:
    script = Script(accepted)
    thai = {**SEND_BODY, "line": {"text": "สวัสดี"}}
    answer = run(call(script, "send", thai))
    request = script.requests[0]
    assert request.content == json.dumps(thai, ensure_ascii=False, separators=(",", ":")).encode()
    assert request.headers["authorization"] == f"App {KEY}"
    assert request.headers["user-agent"] == "campaigner/0.1.0"
    assert request.headers["content-type"] == "application/json"
    assert answer.bulkId is None
    assert answer.messages[0].status.name == "PENDING_ENROUTE"


def test_send_accepts_the_request_model() -> None:
    script = Script(accepted)
    run(call(script, "send", AdvancedRequest.model_validate(SEND_BODY)))
    assert script.bodies == [SEND_BODY]


def test_basic_auth_header() -> None:
    script = Script(httpx.Response(200, json={"scenarios": []}))
    config = make_config(auth=BasicAuth("Aladdin", "open sesame"))

    async def main() -> None:
        async with OmniClient(config, transport=httpx.MockTransport(script)) as client:
            await client.list_scenarios()

    run(main())
    assert script.requests[0].headers["authorization"] == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


def test_reports_are_returned_raw() -> None:
    raw = {"messageId": "m", "status": PENDING, "somethingNew": {"a": 1}}
    script = Script(httpx.Response(200, json={"results": [raw, "junk"]}))
    assert run(call(script, "reports", bulk_id="b-1", limit=500)) == [raw]
    assert dict(script.requests[0].url.params) == {"bulkId": "b-1", "limit": "500"}
    with pytest.raises(ValueError, match="limit"):
        run(call(script, "reports", limit=1001))


def test_logs_chunk_long_id_lists_and_merge_the_results() -> None:
    ids = [f"{n:08d}-0235-49bc-bd1c-812ef33da3d5" for n in range(1000)]

    def handler(request: httpx.Request) -> httpx.Response:
        asked = parse_qs(request.url.query.decode())["messageId"][0].split(",")
        return httpx.Response(200, json={"results": [{"messageId": m} for m in asked]})

    script = Script(handler)
    found = run(call(script, "logs", message_ids=[*ids, ids[0]], bulk_id="b", sent_since=datetime(2026, 1, 1)))
    assert [r["messageId"] for r in found] == ids
    assert len(script.requests) > 1
    assert all(len(str(r.url)) < 6000 for r in script.requests)
    assert {r.url.params["bulkId"] for r in script.requests} == {"b"}
    assert {r.url.params["sentSince"] for r in script.requests} == {"2026-01-01T00:00:00.000+0000"}


def test_logs_split_a_chunk_that_comes_back_full() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        asked = request.url.params["messageId"].split(",")
        limit = int(request.url.params["limit"])
        entries = [{"messageId": m, "channel": c} for m in asked for c in ("LINE", "SMS")]
        return httpx.Response(200, json={"results": entries[:limit]})

    script = Script(handler)
    found = run(call(script, "logs", message_ids=["a", "b", "c", "d"], limit=4))
    assert sorted((r["messageId"], r["channel"]) for r in found) == [(m, c) for m in "abcd" for c in ("LINE", "SMS")]


def test_logs_without_ids_is_one_request() -> None:
    script = Script(httpx.Response(200, json={"results": []}))
    assert run(call(script, "logs", bulk_id="b", general_status="DELIVERED", channel="LINE")) == []
    assert dict(script.requests[0].url.params) == {
        "bulkId": "b",
        "channel": "LINE",
        "generalStatus": "DELIVERED",
        "limit": "1000",
    }
    assert run(call(script, "logs", message_ids=[])) == []
    assert len(script.requests) == 1


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("xxxxx.api.infobip.com", "https://xxxxx.api.infobip.com"),
        ("https://api.infobip.com/", "https://api.infobip.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://localhost:1/", "http://localhost:1"),
        ("http://[::1]:8765", "http://[::1]:8765"),
        ("  https://proxy.example/prefix/ ", "https://proxy.example/prefix"),
    ],
)
def test_base_url_normalization(url: str, normalized: str) -> None:
    assert normalize_base_url(url) == normalized


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://api.infobip.com",
            "error: base URL http://api.infobip.com uses plain http; https is required "
            "(http only for loopback hosts: 127.0.0.0/8, ::1, localhost)",
        ),
        ("http://10.0.0.1:8765", None),
        ("http://localhost.evil.example", None),
        ("ftp://api.infobip.com", "error: base URL must start with https:// (got ftp://)"),
        ("https://", "error: base URL has no host: https://"),
        ("", "error: base URL is empty"),
        (
            "https://u:hunter2@api.infobip.com",
            "error: base URL must not contain credentials (use the API key variables)",
        ),
        ("https://api.infobip.com:99999", None),
        ("https://api.infobip.com/?x=1", None),
    ],
    ids=[
        "http-remote",
        "http-private",
        "http-lookalike",
        "ftp",
        "no-host",
        "empty",
        "userinfo",
        "port",
        "query",
    ],
)
def test_base_url_rejections(url: str, message: str | None) -> None:
    with pytest.raises(TargetError) as info:
        ClientConfig(base_url=url, auth=ApiKeyAuth(KEY))
    if message is not None:
        assert str(info.value) == message
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"UNRELATED": "1", "INFOBIP_API_KEY": "  "}, None),
        (
            {"INFOBIP_BASE_URL": "xxxxx.api.infobip.com", "INFOBIP_API_KEY": KEY},
            ("https://xxxxx.api.infobip.com", ApiKeyAuth(KEY)),
        ),
        (
            {"INFOBIP_BASE_URL": "https://api.infobip.com", "INFOBIP_USERNAME": "u", "INFOBIP_PASSWORD": "p"},
            ("https://api.infobip.com", BasicAuth("u", "p")),
        ),
    ],
    ids=["nothing", "blank", "api-key", "basic"],
)
def test_from_env(environ: dict[str, str], expected: tuple[str, object] | None) -> None:
    config = ClientConfig.from_env(environ)
    if expected is None:
        assert config is None
    else:
        assert config is not None
        assert (config.base_url, config.auth) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"INFOBIP_API_KEY": KEY},
            "error: INFOBIP_API_KEY is set but INFOBIP_BASE_URL is not "
            "(set it to your account's base URL, e.g. https://xxxxx.api.infobip.com)",
        ),
        (
            {"INFOBIP_BASE_URL": "https://api.infobip.com"},
            "error: INFOBIP_BASE_URL is set but INFOBIP_API_KEY is not (or set INFOBIP_USERNAME and INFOBIP_PASSWORD)",
        ),
        (
            {"INFOBIP_BASE_URL": "https://api.infobip.com", "INFOBIP_USERNAME": "u"},
            "error: INFOBIP_USERNAME is set but INFOBIP_PASSWORD is not",
        ),
        (
            {"INFOBIP_BASE_URL": "https://api.infobip.com", "INFOBIP_PASSWORD": KEY},
            "error: INFOBIP_PASSWORD is set but INFOBIP_USERNAME is not",
        ),
        (
            {"INFOBIP_BASE_URL": "https://api.infobip.com", "INFOBIP_API_KEY": KEY, "INFOBIP_USERNAME": "u"},
            "error: set either INFOBIP_API_KEY or INFOBIP_USERNAME and INFOBIP_PASSWORD, not both",
        ),
        (
            {"INFOBIP_BASE_URL": "http://api.infobip.com", "INFOBIP_API_KEY": KEY},
            "error: INFOBIP_BASE_URL http://api.infobip.com uses plain http; https is required "
            "(http only for loopback hosts: 127.0.0.0/8, ::1, localhost)",
        ),
    ],
    ids=[
        "key-without-url",
        "url-without-key",
        "user-without-password",
        "password-without-user",
        "both",
        "http",
    ],
)
def test_from_env_half_configured(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TargetError) as info:
        ClientConfig.from_env(environ)
    assert str(info.value) == message
    assert KEY not in str(info.value)


def test_config_is_frozen_and_keyword_only() -> None:
    config = make_config()
    with pytest.raises(AttributeError):
        config.base_url = "https://other.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ClientConfig(BASE, ApiKeyAuth(KEY))  # type: ignore[call-arg]
    assert config.origin == BASE
    assert make_config(base_url="https://h.example:8443/p").origin == "https://h.example:8443"


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_never_appear_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "open-sesame-77"
    token = base64.b64encode(f"Aladdin:{password}".encode()).decode()
    secrets = (KEY, password, token)

    def echo(request: httpx.Request) -> httpx.Response:  # a broken proxy echoing our headers back
        return httpx.Response(400, text=f"bad header {request.headers['authorization']}")

    errors: list[BaseException] = []
    for auth in (ApiKeyAuth(KEY), BasicAuth("Aladdin", password)):
        config = make_config(auth=auth, retry=RetryPolicy(max_attempts=2, base_delay=0.001))
        assert not any(s in repr(config) or s in str(config) for s in secrets)
        header = auth.header()
        failures: list[tuple[Answer, str, tuple[Any, ...]]] = [
            (echo, "send", (SEND_BODY,)),
            (httpx.Response(500, text=f"oops {header}"), "send", (SEND_BODY,)),
            (httpx.Response(429, json=envelope("TOO_MANY_REQUESTS", f"slow down {header}")), "reports", ()),
            (
                httpx.Response(401, json=envelope("UNAUTHORIZED", "Invalid login details")),
                "list_scenarios",
                (),
            ),
            (httpx.ConnectError, "send", (SEND_BODY,)),
            (httpx.ReadTimeout, "send", (SEND_BODY,)),
            (httpx.ReadTimeout, "logs", ()),
        ]
        for answer, method, args in failures:

            async def attempt(config: ClientConfig, answer: Answer, method: str, args: tuple[Any, ...]) -> None:
                async with OmniClient(config, transport=httpx.MockTransport(Script(answer))) as client:
                    assert not any(s in repr(client) for s in secrets)
                    await getattr(client, method)(*args)

            with pytest.raises(Exception) as info:  # every kind is collected and checked below
                run(attempt(config, answer, method, args))
            errors.append(info.value)
    assert {type(e) for e in errors} == {
        ProviderError,
        RateLimitedError,
        OutcomeUnknownError,
        ConnectFailedError,
    }
    for error in errors:
        assert not any(s in str(error) or s in repr(error) for s in secrets), str(error)
    assert "[redacted]" in str(errors[0])
    http_lines = [r.getMessage() for r in caplog.records if r.name == "campaigner.http"]
    assert "POST /omni/1/advanced -> 400" in "\n".join(http_lines)
    assert any("Authorization: App [redacted]" in line for line in http_lines)
    assert not any(s in caplog.text for s in secrets)


# --- models --------------------------------------------------------------------------------------


@needs_seed
def test_seed_answers_parse() -> None:
    scenario_answer, text_answer, image_answer, reports = seed_answers()
    parsed = Scenario.model_validate(scenario_answer)
    assert parsed.key == "1E094D5C820B067G2B3DBA6B414F4CF5"  # not hex at all: keys are opaque strings
    assert [s.channel for s in parsed.flow] == ["LINE", "SMS"]
    for answer in (text_answer, image_answer):
        sent = SendResponse.model_validate(answer)
        assert sent.messages[0].to.lineUserKey == "e3e95e22-0235-49bc-bd1c-812ef33da3d5"
    first, second = (DeliveryReport.from_raw(r) for r in reports["results"])
    assert first.error is not None and first.error.name == "EC_ABSENT_SUBSCRIBER_SM"
    assert (first.channel, second.channel, second.status.groupName) == ("LINE", "SMS", "DELIVERED")
    assert second.price is not None
    assert str(second.price.pricePerMessage) == "0.01"


@needs_seed
def test_seed_request_bodies_fit_the_request_models() -> None:
    bodies = seed_requests("POST /omni/1/advanced")
    assert len(bodies) == 2
    for seed_body in bodies:
        assert AdvancedRequest.model_validate(seed_body).to_body() == seed_body


def test_request_models_are_exact_and_answers_tolerant() -> None:
    with pytest.raises(ValueError, match="destinatons"):
        AdvancedRequest.model_validate({**SEND_BODY, "destinatons": []})
    with pytest.raises(ValueError, match="phoneNumber or lineUserKey"):
        AdvancedRequest.model_validate({**SEND_BODY, "destinations": [{"to": {}}]})
    with pytest.raises(ValueError, match="needs url, thumbnailUrl"):
        AdvancedRequest.model_validate({**SEND_BODY, "line": {"type": "IMAGE"}})
    with pytest.raises(ValueError, match="4000"):
        AdvancedRequest.model_validate({**SEND_BODY, "callbackData": "x" * 4001})
    report = DeliveryReport.from_raw({"messageId": "m", "status": PENDING, "newField": 1})
    assert report.model_extra == {"newField": 1}
    log = OmniLog.from_raw({"messageId": "m", "status": PENDING, "from": "InfoSMS", "text": "hi"})
    assert (log.from_, log.text) == ("InfoSMS", "hi")


def test_provider_timestamps_round_trip() -> None:
    stamp = "2016-02-23T17:41:11.833+0100"
    assert format_timestamp(parse_timestamp(stamp)) == stamp
    assert parse_timestamp("2016-02-23T17:41:11+01:00").utcoffset() is not None
    with pytest.raises(ValueError, match="not a provider timestamp"):
        parse_timestamp("yesterday")


# --- the client's bodies against the provider's OpenAPI document ---------------------------------


def _patched_openapi() -> dict[str, Any]:
    """The provider's OpenAPI document, patched where it disagrees with the seed (omni-api.md section 9)."""
    doc: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    schemas: dict[str, Any] = doc["components"]["schemas"]

    def schema(name: str) -> dict[str, Any]:
        (found,) = [v for k, v in schemas.items() if k.split(".")[-1] == name and "properties" in v]
        result: dict[str, Any] = found
        return result

    # Section 9: the seed (and old SDKs) address LINE by `to.lineUserKey`; the OpenAPI's `To` lacks it.
    schema("To")["properties"]["lineUserKey"] = {"type": "string"}
    # Section 9: scenario keys are strings in the seed and every example; the OpenAPI says int64.
    schema("Scenario")["properties"]["key"] = {"type": ["string", "integer"]}
    # `LineData.required` lists the fields of every message type at once (url, duration, stickerId, ...),
    # which no message could satisfy and the seed's TEXT message contradicts (section 3 lists what each
    # type needs): replace it with the per-type requirements.
    line = schema("LineData")
    del line["required"]
    needs = {"TEXT": ["text"], "IMAGE": ["url", "thumbnailUrl"], "VIDEO": ["url", "thumbnailUrl"]}
    needs |= {
        "AUDIO": ["url", "duration"],
        "STICKER": ["packageId", "stickerId"],
        "FLEX": ["altText", "contents"],
    }
    line["allOf"] = [
        {"if": {"properties": {"type": {"const": t}}, "required": ["type"]}, "then": {"required": r}}
        for t, r in needs.items()
    ] + [{"if": {"not": {"required": ["type"]}}, "then": {"required": ["text"]}}]
    # Timestamps: the document's own descriptions give `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (`+0100`, as in
    # the seed) while declaring RFC 3339 `date-time` (`+01:00`); keep them as plain strings.
    for owner, field in (
        ("OmniAdvancedRequest", "sendAt"),
        ("DeliveryReport", "sentAt"),
        ("DeliveryReport", "doneAt"),
    ):
        schema(owner)["properties"][field].pop("format")
    # Our own strictness, not a disagreement: the document allows unknown fields everywhere, so a
    # misspelt field would pass. The request objects campaigner sends are closed here.
    for name in ("OmniAdvancedRequest", "Destination", "To", "LineData", "SmsData"):
        schema(name)["additionalProperties"] = False
    for name in ("CreateOrUpdateScenarioRequest", "Step"):
        schema(name)["additionalProperties"] = False
    return doc


@pytest.fixture(scope="module")
def openapi() -> Callable[[str, str, object], None]:
    """``check(method, path, body)``: validate a request body against that operation's schema."""
    if not OPENAPI.exists():
        pytest.skip(f"provider OpenAPI document not found at {OPENAPI}")
    from openapi_schema_validator import OAS31Validator, oas31_format_checker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = _patched_openapi()
    registry: Registry[Any] = Registry().with_resource(
        "urn:omni", Resource.from_contents(doc, default_specification=DRAFT202012)
    )

    def check(method: str, path: str, instance: object) -> None:
        ref = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        validator = OAS31Validator({"$ref": "urn:omni" + ref}, registry=registry, format_checker=oas31_format_checker)
        validator.validate(instance)

    return check


LINE_TYPES: list[dict[str, Any]] = [
    {"text": "Original Line message.", "validityPeriod": 1, "validityPeriodTimeUnit": "MINUTES"},
    {"type": "IMAGE", "url": "https://cdn.example/a.jpg", "thumbnailUrl": "https://cdn.example/a-p.jpg"},
    {"type": "VIDEO", "url": "https://cdn.example/a.mp4", "thumbnailUrl": "https://cdn.example/a-p.jpg"},
    {"type": "AUDIO", "url": "https://cdn.example/a.m4a", "duration": 60000},
    {"type": "STICKER", "packageId": "446", "stickerId": "1988"},
    {"type": "FLEX", "altText": "A card", "contents": {"type": "BUBBLE", "direction": "LTR"}},
]


def test_client_bodies_match_the_openapi(openapi: Callable[[str, str, object], None]) -> None:
    full = {
        "scenarioKey": "1E094D5C820B067G2B3DBA6B414F4CF5",
        "bulkId": "campaign-bulk",
        "destinations": [
            {"messageId": "m-1", "to": {"phoneNumber": "385977666618", "lineUserKey": "e3e95e22"}},
            {"messageId": "m-2", "to": {"phoneNumber": "385977666619"}},
        ],
        "sms": {
            "text": "Fallback",
            "validityPeriod": 90,
            "validityPeriodTimeUnit": "SECONDS",
            "transliteration": "TURKISH",
            "language": {"languageCode": "TR"},
        },
        "notifyUrl": "https://hooks.example/dlr",
        "notify": True,
        "intermediateReport": False,
        "callbackData": "row=2",
        "sendAt": "2026-12-01T09:00:00.000+0100",
    }
    bodies = [{**full, "line": line} for line in LINE_TYPES]
    if SEED.exists():
        bodies += seed_requests("POST /omni/1/advanced")
    script = Script(accepted, accepted, accepted, *(httpx.Response(201, json=scenario(1)) for _ in range(2)))

    async def main() -> None:
        async with client_for(script) as client:
            for each in bodies:
                await client.send(each)
            flow = [
                {"from": "37B94F4D2BA3C58B58526EAEAA1AB35C", "channel": "LINE"},
                {"from": "385971006006", "channel": "SMS"},
            ]
            await client.create_scenario("Line test scenario", flow)
            await client.update_scenario("K", "Line test scenario", flow, default=True)

    run(main())
    for request in script.requests:
        sent = json.loads(request.content)
        path = "/omni/1/scenarios/{scenarioKey}" if request.method == "PUT" else request.url.path
        openapi(request.method, path, sent)
        if path == "/omni/1/advanced":
            AdvancedRequest.model_validate(sent)
    assert len(script.requests) == len(bodies) + 2


@needs_seed
def test_seed_scenario_body_matches_the_openapi(openapi: Callable[[str, str, object], None]) -> None:
    (seed_scenario,) = seed_requests("POST /omni/1/scenarios")
    openapi("POST", "/omni/1/scenarios", seed_scenario)


def test_the_patched_openapi_still_has_teeth(openapi: Callable[[str, str, object], None]) -> None:
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

    for bad in (
        {**SEND_BODY, "destinatons": []},
        {**SEND_BODY, "line": {"type": "STICKER", "packageId": "1"}},
        {**SEND_BODY, "line": {}},
        {**SEND_BODY, "callbackData": "x" * 4001},
        {**SEND_BODY, "sms": {"text": "x", "from": "InfoSMS"}},
    ):
        with pytest.raises(ValidationError):
            openapi("POST", "/omni/1/advanced", bad)
    with pytest.raises(ValidationError):
        openapi("POST", "/omni/1/scenarios", {"name": "x", "flow": [{"channel": "FAX"}]})


def test_logs_calls_keep_to_the_providers_limit_per_minute() -> None:
    # 120 a minute in production; 60 here: a burst of 60, then one a second
    script = Script(httpx.Response(200, json={"results": []}))

    async def many(per_minute: int | None, n: int) -> float:
        async with client_for(script, logs_per_minute=per_minute) as client:
            started = time.monotonic()
            for _ in range(n):
                await client.logs(bulk_id="b")
            return time.monotonic() - started

    assert run(many(None, 62)) < 1.0
    assert 1.5 < run(many(60, 62)) < 4.0
    assert ClientConfig(base_url=BASE, auth=ApiKeyAuth(KEY)).logs_per_minute == 120


# --- report pages split into their entries' texts ---------------------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    results=st.lists(_JSON_VALUES, max_size=6),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
def test_a_results_page_splits_into_each_entrys_own_text(
    results: list[Any], indent: int | None, ascii_only: bool
) -> None:
    body = json.dumps({"results": results}, indent=indent, ensure_ascii=ascii_only).encode()
    split = split_results(body)
    assert split is not None
    items, texts = split
    assert items == [r for r in results if isinstance(r, dict)]
    assert [json.loads(t) for t in texts] == items


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"results": 1}', b'{"other": [], "results": []}', b'{"results": [], "x": 1}', b'{"results": [1,]}',
     b'{"results": [{"a": 1} {"b": 2}]}', b'{"results": []} junk', b'\xff\xfe'],
)  # fmt: skip
def test_a_body_of_another_shape_is_not_split(body: bytes) -> None:
    assert split_results(body) is None
