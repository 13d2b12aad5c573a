"""The OMNI client against the embedded sandbox over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from campaigner.errors import ConnectFailedError, OutcomeUnknownError, ProviderError, RateLimitedError
from campaigner.omni.client import ApiKeyAuth, ClientConfig, OmniClient, RetryPolicy, Timeouts
from campaigner.omni.models import AdvancedRequest, DeliveryReport, OmniLog, Scenario

server_module = pytest.importorskip("campaigner.sandbox.server", reason="the sandbox server is not there yet")
SandboxServer = server_module.SandboxServer

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "omni-line-example.txt"
KEY = "sandbox-key-" + uuid.uuid4().hex[:8]
T = TypeVar("T")
LINE_THEN_SMS = [
    {"from": "37B94F4D2BA3C58B58526EAEAA1AB35C", "channel": "LINE"},
    {"from": "385971006006", "channel": "SMS"},
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = SandboxServer(db_path=tmp_path_factory.mktemp("sandbox") / "sandbox.db", port=0, api_key=KEY)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(url: str, key: str = KEY, **kw: Any) -> ClientConfig:
    kw.setdefault("retry", RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
    return ClientConfig(base_url=url, auth=ApiKeyAuth(key), **kw)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def send_body(scenario_key: str, bulk_id: str, *recipients: tuple[str, str]) -> dict[str, Any]:
    return {
        "scenarioKey": scenario_key,
        "bulkId": bulk_id,
        "destinations": [
            {"messageId": mid, "to": {"phoneNumber": phone, "lineUserKey": f"user-{mid}"}} for mid, phone in recipients
        ],
        "line": {"text": "Hello on LINE", "validityPeriod": 1, "validityPeriodTimeUnit": "MINUTES"},
        "sms": {"text": "Hello by SMS"},
    }


async def drain_reports(
    client: OmniClient, bulk_id: str, want: set[str], timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Every report of ``bulk_id`` until each of ``want`` has one (the sandbox runs time fast)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while {r["messageId"] for r in got} < want and time.monotonic() < deadline:
        got += await client.reports(bulk_id=bulk_id)
        await asyncio.sleep(0.05)
    return got


def test_scenario_life_cycle(sandbox: Any) -> None:
    name = unique("scenario")

    async def main() -> None:
        async with OmniClient(config(sandbox.url)) as client:
            created = await client.create_scenario(name, LINE_THEN_SMS)
            assert isinstance(created, Scenario)
            assert (created.name, [s.to_body() for s in created.flow], created.default) == (name, LINE_THEN_SMS, False)
            assert created.key
            assert await client.get_scenario(created.key) == created
            assert created in await client.list_scenarios(page_size=2)
            updated = await client.update_scenario(created.key, name, LINE_THEN_SMS[1:])
            assert [s.channel for s in updated.flow] == ["SMS"]
            assert (await client.get_scenario(created.key)).flow == updated.flow
            with pytest.raises(ProviderError) as info:
                await client.get_scenario("0" * 32)
            assert info.value.status == 404
            assert info.value.message_id

    run(main())


def test_wrong_key_is_a_401_with_the_provider_envelope(sandbox: Any) -> None:
    async def main() -> None:
        async with OmniClient(config(sandbox.url, key="wrong")) as client:
            await client.list_scenarios()

    with pytest.raises(ProviderError) as info:
        run(main())
    assert (info.value.status, info.value.message_id) == (401, "UNAUTHORIZED")
    assert "wrong" not in str(info.value)


def test_validation_errors_come_back_as_provider_errors(sandbox: Any) -> None:
    async def main() -> None:
        async with OmniClient(config(sandbox.url)) as client:
            await client.send({"destinations": [], "line": {"text": "x"}})

    with pytest.raises(ProviderError) as info:
        run(main())
    assert info.value.status == 400
    assert info.value.message_id == "BAD_REQUEST"


def test_send_then_reports_once_and_logs_again(sandbox: Any) -> None:
    bulk_id = unique("bulk")
    recipients = [(unique("m"), "385977666618"), (unique("m"), "385977666619")]
    ids = {mid for mid, _ in recipients}

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        async with OmniClient(config(sandbox.url)) as client:
            scenario = await client.create_scenario(unique("s"), LINE_THEN_SMS)
            body = send_body(scenario.key, bulk_id, *recipients)
            AdvancedRequest.model_validate(body)
            answer = await client.send(body)
            assert answer.bulkId == bulk_id
            assert [m.messageId for m in answer.messages] == [mid for mid, _ in recipients]
            assert {m.status.groupName for m in answer.messages} == {"PENDING"}
            reports = await drain_reports(client, bulk_id, ids)
            again = await client.reports(bulk_id=bulk_id)
            logs = await client.logs(message_ids=sorted(ids))
            assert await client.logs(message_ids=sorted(ids)) == logs
            assert {r["messageId"] for r in await client.logs(bulk_id=bulk_id)} == ids
            return reports, again, logs

    reports, again, logs = run(main())
    assert sorted(r["messageId"] for r in reports) == sorted(ids)  # one final report per message
    assert again == []  # each report is returned only once
    for raw in reports:
        report = DeliveryReport.from_raw(raw)
        assert report.bulkId == bulk_id
        assert report.status.groupName in {"DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED"}
    assert {r["messageId"] for r in logs} == ids
    for raw in logs:
        OmniLog.from_raw(raw)


def _seed_codes() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    blocks = re.findall(r"\[block:code\] (\{.*?\}) \[/block\]", text, re.S)
    return [code["code"] for block in blocks for code in json.loads(block)["codes"]]


@pytest.mark.skipif(not SEED.exists(), reason=f"seed page not found at {SEED}")
def test_the_seed_request_bodies(sandbox: Any) -> None:
    codes = _seed_codes()
    (scenario_body,) = [json.loads(c.split("\n\n", 1)[1]) for c in codes if c.startswith("POST /omni/1/scenarios")]
    sends = [json.loads(c.split("\n\n", 1)[1]) for c in codes if c.startswith("POST /omni/1/advanced")]
    assert len(sends) == 2
    seed_key = sends[0]["scenarioKey"]
    # The seed's scenario key exists only on the provider's account: the sandbox's inspection back door
    # puts the seed's scenario under that key, so that the seed's send bodies go out unchanged.
    put = httpx.post(f"{sandbox.url}/_sandbox/scenarios", json={"key": seed_key, **scenario_body})
    assert put.status_code == 200, put.text

    async def main() -> None:
        async with OmniClient(config(sandbox.url)) as client:
            created = await client.create_scenario(
                scenario_body["name"], scenario_body["flow"], default=scenario_body["default"]
            )
            assert [s.to_body() for s in created.flow] == scenario_body["flow"]
            assert (await client.get_scenario(seed_key)).key == seed_key
            for seed in sends:
                answer = await client.send(seed)
                (message,) = answer.messages
                assert answer.bulkId is None  # one destination: no bulkId in the answer
                assert message.to.model_dump(exclude_none=True) == seed["destinations"][0]["to"]
                assert message.status.name == "PENDING_ENROUTE"
                uuid.UUID(message.messageId)  # the provider makes a UUID when none is given

    run(main())


@pytest.fixture
def faulty(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    server = SandboxServer(db_path=tmp_path / "sandbox.db", port=0, api_key=KEY, faults=request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _received(server: Any) -> dict[str, int]:
    answer = httpx.get(f"{server.url}/_sandbox/messages").json()
    return {m["messageId"]: m["received"] for m in answer["messages"]}


@pytest.mark.parametrize("faulty", ["lost-answer=1", "500=1"], indirect=True, ids=["lost-answer", "500"])
def test_a_send_that_may_have_arrived_is_not_retried_and_the_logs_tell(faulty: Any) -> None:
    message_id = unique("m")

    async def main() -> tuple[OutcomeUnknownError, list[dict[str, Any]]]:
        async with OmniClient(config(faulty.url)) as client:
            with pytest.raises(OutcomeUnknownError) as info:
                await client.send(
                    {
                        "destinations": [{"messageId": message_id, "to": {"phoneNumber": "385977666618"}}],
                        "sms": {"text": "x"},
                    }
                )
            return info.value, await client.logs(message_ids=[message_id])

    error, logs = run(main())
    sent = _received(faulty)
    if error.status == 500:  # the sandbox's 500 comes before it accepts anything
        assert sent == {}
        assert logs == []
    else:  # accepted, then the connection dropped: the logs are how apply learns it went out
        assert isinstance(error.__cause__, httpx.RemoteProtocolError | httpx.ReadError)
        assert sent == {message_id: 1}
        assert [entry["messageId"] for entry in logs] == [message_id]


@pytest.mark.parametrize("faulty", ["429=1"], indirect=True)
def test_429s_are_retried_after_retry_after_then_raised(faulty: Any) -> None:
    async def main() -> float:
        retry = RetryPolicy(max_attempts=2, base_delay=0.01)
        async with OmniClient(config(faulty.url, retry=retry)) as client:
            started = time.monotonic()
            with pytest.raises(RateLimitedError) as info:
                await client.send({"destinations": [{"to": {"phoneNumber": "385977666618"}}], "sms": {"text": "x"}})
            assert info.value.retry_after == 1.0
            # The last 429 is raised, and still holds every other request for its Retry-After.
            assert client.gate.pauses == 2
            assert client.gate.remaining() > 0.5
            return time.monotonic() - started

    assert run(main()) >= 1.0
    stats = httpx.get(f"{faulty.url}/_sandbox/stats").json()
    assert stats["faults"] == {"429": 2}
    assert stats["messages"] == 0


def test_nothing_listening_is_connect_failed_and_nothing_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    async def main() -> None:
        async with OmniClient(config(url)) as client:
            await client.send({"destinations": [{"to": {"phoneNumber": "385977666618"}}], "sms": {"text": "x"}})

    with pytest.raises(ConnectFailedError, match="nothing was sent"):
        run(main())


def test_a_read_timeout_on_a_send_is_unknown_and_the_logs_tell(sandbox: Any) -> None:
    """A slow answer (simulated with a tiny read timeout against a stalled server) is never resent."""
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(1)  # accepts connections, never answers
    url = f"http://127.0.0.1:{stalled.getsockname()[1]}"

    async def main() -> None:
        timeouts = Timeouts(connect=1.0, read=0.2, write=1.0, pool=1.0)
        async with OmniClient(config(url, timeouts=timeouts)) as client:
            await client.send({"destinations": [{"to": {"phoneNumber": "385977666618"}}], "sms": {"text": "x"}})

    try:
        with pytest.raises(OutcomeUnknownError) as info:
            run(main())
    finally:
        stalled.close()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_the_key_stays_out_of_every_log(sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included

    async def main() -> None:
        async with OmniClient(config(sandbox.url)) as client:
            await client.list_scenarios()
            await client.reports()

    run(main())
    assert "GET /omni/1/scenarios -> 200" in caplog.text
    assert KEY not in caplog.text
