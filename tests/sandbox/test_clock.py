"""The sandbox's clock over real HTTP: moved forward by the inspection API, read by sendAt, logs, reports, retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from campaigner.sandbox.clock import format_duration, parse_duration
from campaigner.sandbox.server import SandboxServer

AUTH = {"Authorization": "App sandbox"}
TIME_SCALE = 36000.0
SMS_ONLY = [{"from": "InfoSMS", "channel": "SMS"}]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        SandboxServer(db_path=tmp_path / "sandbox.db", time_scale=TIME_SCALE) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as c,
    ):
        yield c


def scenario(client: httpx.Client) -> str:
    answer = client.post("/omni/1/scenarios", json={"name": "clock", "flow": SMS_ONLY})
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["key"]
    return key


def send(client: httpx.Client, key: str, phone: str, **extra: str) -> str:
    body = {"scenarioKey": key, "destinations": [{"to": {"phoneNumber": phone}}], "sms": {"text": "Hi"}, **extra}
    answer = client.post("/omni/1/advanced", json=body)
    assert answer.status_code == 200, answer.text
    message_id: str = answer.json()["messages"][0]["messageId"]
    return message_id


def advance(client: httpx.Client, by: object) -> httpx.Response:
    return client.post("/_sandbox/clock", json={"advance": by})


def logs(client: httpx.Client) -> dict[str, str]:
    return {r["messageId"]: r["status"]["name"] for r in client.get("/omni/1/logs").json()["results"]}


def test_the_clock_starts_at_real_time_and_moves_forward(client: httpx.Client) -> None:
    before = time.time()
    now = client.get("/_sandbox/clock").json()
    assert before - 1 <= now["epoch"] <= time.time() + 1
    assert now["offset"] == "0s" and now["offsetSeconds"] == 0 and now["retention"] == "48h"
    moved = advance(client, "49h")
    assert moved.status_code == 200, moved.text
    assert moved.json()["offset"] == "49h" and moved.json()["offsetSeconds"] == 49 * 3600
    assert moved.json()["epoch"] - now["epoch"] == pytest.approx(49 * 3600, abs=5)
    assert advance(client, 90).json()["offset"] == "49h1m30s"
    stamp = datetime.strptime(client.get("/_sandbox/clock").json()["now"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert stamp - datetime.now(UTC) > timedelta(hours=49)
    assert client.post("/_sandbox/reset").status_code == 200
    assert client.get("/_sandbox/clock").json()["offset"] == "0s"


@pytest.mark.parametrize("bad", ["-1h", "soon", "", "49", "1h-", None, True, -5, [1]])
def test_the_clock_refuses_what_is_not_a_forward_duration(client: httpx.Client, bad: object) -> None:
    answer = advance(client, bad)
    assert answer.status_code == 400
    errors = answer.json()["requestError"]["serviceException"]["validationErrors"]
    assert errors == {"advance": ["must be a duration such as 49h, 1h30m, 90s or a number of seconds"]}
    assert client.get("/_sandbox/clock").json()["offset"] == "0s"


def test_logs_and_reports_are_kept_48_hours_of_the_sandbox_clock(client: httpx.Client) -> None:
    key = scenario(client)
    old = send(client, key, "385977666111")
    time.sleep(0.05)  # its outcome is known after 5 simulated seconds
    advance(client, "47h")
    recent = send(client, key, "385977666112")
    time.sleep(0.05)
    assert logs(client) == {recent: "DELIVERED_TO_HANDSET", old: "DELIVERED_TO_HANDSET"}
    advance(client, "1h30m")  # old was sent 48.5 h ago, recent 1.5 h ago
    assert logs(client) == {recent: "DELIVERED_TO_HANDSET"}
    assert client.get("/omni/1/logs", params={"messageId": old}).json()["results"] == []
    assert [r["messageId"] for r in client.get("/omni/1/reports").json()["results"]] == [recent]
    stats = client.get("/_sandbox/stats").json()
    assert stats["reports"] == {"returned": 1, "ready": 0, "pending": 0, "discarded": 1}
    # what the sandbox received is still counted: the duplicates a test looks for survive the horizon
    assert [m["messageId"] for m in client.get("/_sandbox/messages").json()["messages"]] == [old, recent]


def test_a_message_is_held_until_the_clock_reaches_send_at(client: httpx.Client) -> None:
    key = scenario(client)
    at = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    held = send(client, key, "385977666111", sendAt=at)
    time.sleep(0.1)  # 1000 simulated hours at this time scale: sendAt is on the clock, not scaled
    assert logs(client) == {held: "PENDING_ACCEPTED"}
    assert client.get("/omni/1/reports").json()["results"] == []
    advance(client, "7h59m")
    assert logs(client) == {held: "PENDING_ACCEPTED"}
    advance(client, "2m")
    time.sleep(0.05)
    assert logs(client) == {held: "DELIVERED_TO_HANDSET"}
    (report,) = client.get("/omni/1/reports").json()["results"]
    assert report["sentAt"] == at


def test_the_clock_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    with SandboxServer(db_path=db) as first, httpx.Client(base_url=first.url) as c:
        advance(c, "49h")
    with SandboxServer(db_path=db) as second, httpx.Client(base_url=second.url) as c:
        assert c.get("/_sandbox/clock").json()["offset"] == "49h"


def test_durations() -> None:
    assert parse_duration("49h") == 49 * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2d") == 2 * 86400
    assert parse_duration(" 1.5H ") == 5400
    assert parse_duration(0) == 0
    assert [parse_duration(v) for v in ("h", "1x", "-1s", float("nan"), float("inf"))] == [None] * 5
    assert [format_duration(s) for s in (0, 59, 3600, 5400.5, 49 * 3600)] == ["0s", "59s", "1h", "1h30m0.5s", "49h"]
