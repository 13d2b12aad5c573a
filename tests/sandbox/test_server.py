"""The embedded sandbox over real HTTP: the seed's bodies and shapes, scenarios, failover, reports, logs."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaigner.sandbox.delivery import MAX_VALIDITY, DeliveryRules, FlowStep, validity_seconds
from campaigner.sandbox.server import SandboxServer

SHARED = Path(__file__).resolve().parents[3] / "shared"
SEED = SHARED / "seed" / "omni-line-example.txt"
OPENAPI = SHARED / "reference" / "infobip-omni-failover-openapi.json"
AUTH = {"Authorization": "App sandbox"}
TIME_SCALE = 36000.0  # 10 simulated hours per real second: a 30-minute validity runs out in 0.05 s
LINE_SMS = [{"from": "37B94F4D2BA3C58B58526EAEAA1AB35C", "channel": "LINE"}, {"from": "InfoSMS", "channel": "SMS"}]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = SandboxServer(db_path=tmp_path_factory.mktemp("sandbox") / "sandbox.db", time_scale=TIME_SCALE)
    with server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=5) as c:
        assert c.post("/_sandbox/reset").status_code == 200
        yield c


def create_scenario(client: httpx.Client, flow: list[dict[str, str]] = LINE_SMS, **extra: Any) -> str:
    answer = client.post("/omni/1/scenarios", json={"name": "test", "flow": flow, **extra})
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["key"]
    return key


def send(client: httpx.Client, key: str, *tos: dict[str, str], **content: Any) -> list[str]:
    body: dict[str, Any] = {
        "scenarioKey": key,
        "destinations": [{"to": to} for to in tos],
        "line": {"text": "Hello on LINE", "validityPeriod": 30},
        "sms": {"text": "Hello by SMS", "validityPeriod": 60},
    }
    body.update(content)
    body = {k: v for k, v in body.items() if v is not None}  # absent, not null: the provider's schema
    answer = client.post("/omni/1/advanced", json=body)
    assert answer.status_code == 200, answer.text
    return [m["messageId"] for m in answer.json()["messages"]]


def drain_reports(client: httpx.Client, count: int, deadline: float = 5.0) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    end = time.monotonic() + deadline
    while len(reports) < count and time.monotonic() < end:
        reports += client.get("/omni/1/reports", params={"limit": 1000}).json()["results"]
        if len(reports) < count:
            time.sleep(0.02)
    assert len(reports) == count, reports
    return reports


def assert_envelope(answer: httpx.Response, status: int, message_id: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    exception: dict[str, Any] = answer.json()["requestError"]["serviceException"]
    assert exception["messageId"] == message_id
    assert isinstance(exception["text"], str) and exception["text"]
    return exception


# -- the seed ----------------------------------------------------------------------------------------


def seed_exchanges() -> list[tuple[str, str, dict[str, str], str, Any]]:
    """(method, path, headers, body, expected answer) for each request of the provider's example."""
    if not SEED.exists():
        pytest.skip(f"the provider's example is not at {SEED} (shared/ sits beside the clone)")
    text = SEED.read_text(encoding="utf-8")
    codes = [
        json.loads(b)["codes"][0]["code"] for b in re.findall(r"\[block:code\]\s*(\{.*?\})\s*\[/block\]", text, re.S)
    ]
    exchanges = []
    for request, response in zip(codes[::2], codes[1::2], strict=True):
        head, _, body = request.partition("\n\n")
        request_line, *header_lines = head.splitlines()
        method, path, _ = request_line.split(" ")
        headers = dict(line.split(": ", 1) for line in header_lines)
        expected = json.loads(response.partition("\n\n")[2] if response.startswith("HTTP/") else response)
        exchanges.append((method, path, headers, body, expected))
    return exchanges


def assert_same_shape(ours: Any, theirs: Any, where: str = "$") -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(theirs), f"{where}: {sorted(ours)} != {sorted(theirs)}"
        for key in theirs:
            assert_same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and ours, where
        for item in ours:
            assert_same_shape(item, theirs[0], f"{where}[]")
    elif isinstance(theirs, bool):
        assert isinstance(ours, bool), where
    elif isinstance(theirs, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), where
    else:
        assert type(ours) is type(theirs), where


def test_every_seed_request_is_accepted_and_answered_in_the_seed_shape(client: httpx.Client) -> None:
    exchanges = seed_exchanges()
    assert [(m, p) for m, p, *_ in exchanges] == [
        ("POST", "/omni/1/scenarios"),
        ("POST", "/omni/1/advanced"),
        ("POST", "/omni/1/advanced"),
        ("GET", "/omni/1/reports"),
    ]
    # The sends name the seed's own scenario key: register it through the back door first.
    created = exchanges[0][4]
    assert client.post("/_sandbox/scenarios", json=created).status_code == 200
    for method, path, headers, body, expected in exchanges:
        headers = {k: v for k, v in headers.items() if k not in ("Host", "Authorization")}  # our key, not Aladdin's
        if method == "GET":
            answer = drain_reports_raw(client, path, len(exchanges) - 2)
        else:
            answer = client.request(method, path, content=body.encode(), headers=headers)
        assert answer.status_code == 200, answer.text
        assert_same_shape(answer.json(), expected)
        if path == "/omni/1/advanced":
            sent = json.loads(body)
            assert answer.json()["messages"][0]["to"] == sent["destinations"][0]["to"]
            assert answer.json()["messages"][0]["status"] == expected["messages"][0]["status"]


def drain_reports_raw(client: httpx.Client, path: str, count: int) -> httpx.Response:
    end = time.monotonic() + 5
    while True:
        answer = client.get("/omni/1/logs", params={"generalStatus": "PENDING"})
        if not answer.json()["results"] or time.monotonic() > end:
            return client.get(path)
        time.sleep(0.02)


# -- the OpenAPI document ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip(f"the provider's OpenAPI document is not at {OPENAPI} (shared/ sits beside the clone)")
    document: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    # omni-api.md section 9: the document types a scenario key as int64; every example sends a string.
    for name, schema in document["components"]["schemas"].items():
        if name.endswith(".Scenario"):
            schema["properties"]["key"] = {"type": "string", "readOnly": True}
    return document


def check_schema(document: dict[str, Any], method: str, path: str, answer: httpx.Response) -> None:
    """Validate an answer against the schema the document gives for that status (any 2xx as the 2xx)."""
    from openapi_schema_validator import OAS31Validator

    responses = document["paths"][path][method.lower()]["responses"]
    status = str(answer.status_code)
    if status not in responses:
        status = next(s for s in responses if s.startswith(status[0]))
    spec = responses[status]
    if "$ref" in spec:
        spec = document["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    schema = spec["content"]["application/json"]["schema"]
    # Formats are not asserted: the provider's own doneAt (2016-02-23T17:41:11.833+0100) is not RFC 3339.
    OAS31Validator({**schema, "components": document["components"]}).validate(answer.json())


def test_answers_match_the_openapi_schemas(client: httpx.Client, openapi: dict[str, Any]) -> None:
    key = create_scenario(client)
    checks: list[tuple[str, str, httpx.Response]] = [
        ("GET", "/omni/1/scenarios", client.get("/omni/1/scenarios")),
        ("GET", "/omni/1/scenarios/{scenarioKey}", client.get(f"/omni/1/scenarios/{key}")),
        ("PUT", "/omni/1/scenarios/{scenarioKey}", client.put(f"/omni/1/scenarios/{key}", json={"flow": LINE_SMS})),
        ("GET", "/omni/1/scenarios/{scenarioKey}", client.get("/omni/1/scenarios/NOPE")),
        ("POST", "/omni/1/scenarios", client.post("/omni/1/scenarios", json={"name": "x"})),
        ("POST", "/omni/1/scenarios", client.post("/omni/1/scenarios", json={"flow": LINE_SMS})),
        ("POST", "/omni/1/advanced", client.post("/omni/1/advanced", json={"destinations": []})),
        ("GET", "/omni/1/reports", httpx.get(f"{client.base_url}/omni/1/reports")),
    ]
    tos = [{"phoneNumber": "385977666618", "lineUserKey": "unreachable-a"}, {"phoneNumber": "41793026731"}]
    for body in (
        {"scenarioKey": key, "destinations": [{"to": tos[0]}], "line": {"text": "a"}, "sms": {"text": "b"}},
        {"scenarioKey": key, "destinations": [{"to": t} for t in tos], "line": {"text": "a"}, "sms": {"text": "b"}},
    ):
        checks.append(("POST", "/omni/1/advanced", client.post("/omni/1/advanced", json=body)))
    checks.append(("GET", "/omni/1/logs", client.get("/omni/1/logs")))
    time.sleep(0.05)
    reports = client.get("/omni/1/reports")
    assert reports.json()["results"]
    checks += [("GET", "/omni/1/reports", reports), ("GET", "/omni/1/logs", client.get("/omni/1/logs"))]
    for method, path, answer in checks:
        check_schema(openapi, method, path, answer)


# -- scenarios ---------------------------------------------------------------------------------------


def test_a_default_scenario_exists_from_the_start(client: httpx.Client) -> None:
    scenarios = client.get("/omni/1/scenarios").json()["scenarios"]
    assert len(scenarios) == 1
    assert scenarios[0]["name"] == "Default scenario"
    assert scenarios[0]["flow"] == [{"from": "InfoSMS", "channel": "SMS"}]
    assert scenarios[0]["default"] is True
    assert re.fullmatch(r"[0-9A-F]{32}", scenarios[0]["key"])


def test_scenario_life_cycle(client: httpx.Client) -> None:
    created = client.post("/omni/1/scenarios", json={"name": "Line test scenario", "flow": LINE_SMS, "default": False})
    assert created.status_code == 200
    key = created.json()["key"]
    assert re.fullmatch(r"[0-9A-F]{32}", key)
    assert created.json() == {"key": key, "name": "Line test scenario", "flow": LINE_SMS, "default": False}
    assert client.get(f"/omni/1/scenarios/{key}").json() == created.json()
    for i in range(3):
        create_scenario(client, name=f"more {i}")
    page0 = client.get("/omni/1/scenarios", params={"limit": 2, "page": 0}).json()["scenarios"]
    page2 = client.get("/omni/1/scenarios", params={"limit": 2, "page": 2}).json()["scenarios"]
    page3 = client.get("/omni/1/scenarios", params={"limit": 2, "page": 3}).json()["scenarios"]
    assert [s["name"] for s in page0] == ["Default scenario", "Line test scenario"]
    assert [s["name"] for s in page2] == ["more 2"]
    assert page3 == []
    assert len(client.get("/omni/1/scenarios", params={"isDefault": "false"}).json()["scenarios"]) == 4
    updated = client.put(f"/omni/1/scenarios/{key}", json={"name": "renamed", "flow": LINE_SMS[1:], "default": True})
    assert updated.status_code == 200
    assert updated.json() == {"key": key, "name": "renamed", "flow": LINE_SMS[1:], "default": True}
    defaults = client.get("/omni/1/scenarios", params={"isDefault": "true"}).json()["scenarios"]
    assert [s["key"] for s in defaults] == [key]  # at most one default
    assert_envelope(client.get("/omni/1/scenarios/0123456789ABCDEF0123456789ABCDEF"), 404, "NOT_FOUND")
    assert_envelope(client.put("/omni/1/scenarios/NOPE", json={"flow": LINE_SMS}), 404, "NOT_FOUND")


def test_default_scenario_is_read_from_the_old_sdk_field(client: httpx.Client) -> None:
    key = create_scenario(client, defaultScenario=True)
    assert client.get(f"/omni/1/scenarios/{key}").json()["default"] is True
    defaults = client.get("/omni/1/scenarios", params={"isDefault": "true"}).json()["scenarios"]
    assert [s["key"] for s in defaults] == [key]


def test_scenario_rate_limits(client: httpx.Client) -> None:
    keys = [create_scenario(client, name=f"s{i}") for i in range(20)]
    limited = client.post("/omni/1/scenarios", json={"flow": LINE_SMS})
    assert_envelope(limited, 429, "TOO_MANY_REQUESTS")
    assert 1 <= int(limited.headers["Retry-After"]) <= 600
    for i in range(40):
        assert client.put(f"/omni/1/scenarios/{keys[i % 20]}", json={"flow": LINE_SMS}).status_code == 200
    assert_envelope(client.put(f"/omni/1/scenarios/{keys[0]}", json={"flow": LINE_SMS}), 429, "TOO_MANY_REQUESTS")
    assert len(client.get("/omni/1/scenarios").json()["scenarios"]) == 21


def test_send_without_scenario_key_uses_the_default_and_fails_without_one(client: httpx.Client) -> None:
    body = {"destinations": [{"to": {"phoneNumber": "385977666111"}}], "sms": {"text": "hi"}}
    assert client.post("/omni/1/advanced", json=body).status_code == 200
    (default,) = client.get("/omni/1/scenarios", params={"isDefault": "true"}).json()["scenarios"]
    client.put(f"/omni/1/scenarios/{default['key']}", json={"flow": default["flow"], "default": False})
    exception = assert_envelope(client.post("/omni/1/advanced", json=body), 400, "BAD_REQUEST")
    assert "scenarioKey" in exception["validationErrors"]


# -- sending and failover ----------------------------------------------------------------------------


def test_send_answer_echoes_ids_and_gives_bulk_id_only_for_several_destinations(client: httpx.Client) -> None:
    key = create_scenario(client)
    one = client.post(
        "/omni/1/advanced",
        json={"scenarioKey": key, "bulkId": "B1", "destinations": [{"messageId": "M1", "to": {"phoneNumber": "385977666111"}}],
              "line": {"text": "a"}, "sms": {"text": "b"}},
    ).json()  # fmt: skip
    assert "bulkId" not in one
    assert one["messages"][0]["messageId"] == "M1"
    two = client.post(
        "/omni/1/advanced",
        json={"scenarioKey": key, "destinations": [{"to": {"phoneNumber": "385977666111"}}, {"to": {"lineUserKey": "k"}}],
              "line": {"text": "a"}, "sms": {"text": "b"}},
    ).json()  # fmt: skip
    assert re.fullmatch(r"[0-9a-f-]{36}", two["bulkId"])
    assert [m["to"] for m in two["messages"]] == [{"phoneNumber": "385977666111"}, {"lineUserKey": "k"}]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", m["messageId"]) for m in two["messages"])


@pytest.mark.parametrize(
    ("to", "channel", "status", "error", "report_to"),
    [
        ({"phoneNumber": "385977666618", "lineUserKey": "delivered-1"}, "LINE", "DELIVERED_TO_HANDSET", "NO_ERROR", "delivered-1"),
        ({"phoneNumber": "385977666111", "lineUserKey": "unreachable-1"}, "SMS", "DELIVERED_TO_HANDSET", "NO_ERROR", "385977666111"),
        ({"phoneNumber": "385977666000", "lineUserKey": "unreachable-2"}, "SMS", "UNDELIVERABLE_NOT_DELIVERED", "EC_UNKNOWN_SUBSCRIBER", "385977666000"),
        ({"phoneNumber": "385977666111", "lineUserKey": "expire-1"}, "SMS", "DELIVERED_TO_HANDSET", "NO_ERROR", "385977666111"),
        ({"phoneNumber": "385977666999", "lineUserKey": "expire-2"}, "SMS", "EXPIRED_EXPIRED", "EC_VALIDITY_EXPIRED", "385977666999"),
        ({"phoneNumber": "385977666998", "lineUserKey": "unreachable-4"}, "SMS", "UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER_SM", "385977666998"),
        ({"lineUserKey": "unreachable-3"}, "SMS", "REJECTED_DESTINATION", "NO_ERROR", None),
    ],
    ids=["line-delivered", "line-unreachable-sms-delivered", "sms-undeliverable", "line-expired-sms-delivered",
         "sms-expired", "sms-absent", "no-phone"],
)  # fmt: skip
def test_failover_outcomes(
    client: httpx.Client, to: dict[str, str], channel: str, status: str, error: str, report_to: str | None
) -> None:
    key = create_scenario(client)
    (message_id,) = send(client, key, to)
    (report,) = drain_reports(client, 1)
    assert report["messageId"] == message_id
    assert report["channel"] == channel
    assert report["status"]["name"] == status
    assert report["error"]["name"] == error
    assert report.get("to") == report_to


def test_line_only_flow_reports_the_line_error(client: httpx.Client) -> None:
    key = create_scenario(client, flow=LINE_SMS[:1])
    send(client, key, {"lineUserKey": "unreachable-x"}, sms=None)
    (report,) = drain_reports(client, 1)
    assert (report["channel"], report["status"]["groupName"]) == ("LINE", "UNDELIVERABLE")
    assert report["error"] == {
        "groupId": 1, "groupName": "HANDSET_ERRORS", "id": 7002, "name": "EC_UNKNOWN_USER",
        "description": "User is unknown or not registered", "permanent": True,
    }  # fmt: skip


def test_sms_report_counts_parts_prices_and_network(client: httpx.Client) -> None:
    key = create_scenario(client, flow=LINE_SMS[1:])
    send(client, key, {"phoneNumber": "385977666111"}, sms={"text": "x" * 161}, line=None)
    send(client, key, {"phoneNumber": "41793026111"}, sms={"text": "ç" * 71}, line=None)
    reports = sorted(drain_reports(client, 2), key=lambda r: r["to"])
    assert [(r["messageCount"], r["mccMnc"]) for r in reports] == [(2, "21901"), (2, "22801")]
    assert reports[0]["price"] == {"pricePerMessage": 0.0104, "currency": "EUR"}


def test_validity_clamped_to_30_seconds_and_step_times_add_up(client: httpx.Client) -> None:
    key = create_scenario(client)
    send(client, key, {"phoneNumber": "385977666111", "lineUserKey": "expire-1"},
         line={"text": "a", "validityPeriod": 1, "validityPeriodTimeUnit": "SECONDS"})  # fmt: skip
    (report,) = drain_reports(client, 1)
    sent = datetime.strptime(report["sentAt"], "%Y-%m-%dT%H:%M:%S.%f%z")
    done = datetime.strptime(report["doneAt"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert (done - sent).total_seconds() == pytest.approx(30 + 5)  # LINE runs out at 30 s, SMS takes 5 s
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", report["doneAt"])


# -- reports and logs --------------------------------------------------------------------------------


def test_reports_are_returned_once_and_filtered(client: httpx.Client) -> None:
    key = create_scenario(client)
    ids = send(client, key, *({"phoneNumber": "385977666111", "lineUserKey": f"delivered-{i}"} for i in range(3)))
    time.sleep(0.05)
    first = client.get("/omni/1/reports", params={"messageId": ids[1]}).json()["results"]
    assert [r["messageId"] for r in first] == [ids[1]]
    assert client.get("/omni/1/reports", params={"channel": "SMS"}).json()["results"] == []
    assert len(client.get("/omni/1/reports", params={"limit": 1}).json()["results"]) == 1
    rest = client.get("/omni/1/reports").json()["results"]
    assert len(rest) == 1 and rest[0]["messageId"] not in (ids[1],)
    assert client.get("/omni/1/reports").json()["results"] == []
    assert client.get("/_sandbox/stats").json()["reports"] == {"returned": 3, "ready": 0, "pending": 0, "discarded": 0}


def test_logs_show_pending_messages_and_are_not_consumed(client: httpx.Client) -> None:
    key = create_scenario(client)
    slow, fast = send(
        client, key, {"phoneNumber": "385977666111", "lineUserKey": "expire-1"},
        {"phoneNumber": "385977666111", "lineUserKey": "delivered-2"},
        line={"text": "Hello on LINE", "validityPeriod": 48, "validityPeriodTimeUnit": "HOURS"},
    )  # fmt: skip
    time.sleep(0.05)
    for _ in range(2):
        logs = {log["messageId"]: log for log in client.get("/omni/1/logs").json()["results"]}
        assert logs[slow]["status"]["name"] == "PENDING_ENROUTE"
        assert logs[slow]["channel"] == "LINE" and "doneAt" not in logs[slow]
        assert logs[slow]["text"] == "Hello on LINE" and logs[slow]["from"] == LINE_SMS[0]["from"]
        assert logs[fast]["status"]["name"] == "DELIVERED_TO_HANDSET" and "doneAt" in logs[fast]
        assert "error" not in logs[fast]
    pending = client.get("/omni/1/logs", params={"generalStatus": "PENDING"}).json()["results"]
    assert [log["messageId"] for log in pending] == [slow]
    both = client.get("/omni/1/logs", params={"messageId": f"{slow},{fast}", "limit": 1}).json()["results"]
    assert [log["messageId"] for log in both] == [fast]  # newest first
    assert client.get("/omni/1/logs", params={"channel": "SMS"}).json()["results"] == []
    assert [r["messageId"] for r in client.get("/omni/1/reports").json()["results"]] == [fast]


def test_logs_filter_by_bulk_and_time(client: httpx.Client) -> None:
    key = create_scenario(client)
    send(client, key, {"phoneNumber": "385977666111"}, {"phoneNumber": "385977666112"}, bulkId="B-1")
    send(client, key, {"phoneNumber": "385977666113"}, {"phoneNumber": "385977666114"}, bulkId="B-2")
    assert len(client.get("/omni/1/logs", params={"bulkId": "B-1,B-2"}).json()["results"]) == 4
    assert len(client.get("/omni/1/logs", params={"bulkId": "B-2"}).json()["results"]) == 2
    future = "2999-01-01T00:00:00.000+01:00"
    assert client.get("/omni/1/logs", params={"sentSince": future}).json()["results"] == []
    assert len(client.get("/omni/1/logs", params={"sentUntil": future}).json()["results"]) == 4


# -- state and rules ---------------------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.db"
    with SandboxServer(db_path=db, time_scale=TIME_SCALE) as first, httpx.Client(base_url=first.url, headers=AUTH) as c:
        key = create_scenario(c)
        (message_id,) = send(c, key, {"phoneNumber": "385977666111", "lineUserKey": "delivered-1"})
    with (
        SandboxServer(db_path=db, time_scale=TIME_SCALE) as second,
        httpx.Client(base_url=second.url, headers=AUTH) as c,
    ):
        assert c.get(f"/omni/1/scenarios/{key}").status_code == 200
        assert len(c.get("/omni/1/scenarios").json()["scenarios"]) == 2  # no second default scenario
        assert [m["messageId"] for m in c.get("/_sandbox/messages").json()["messages"]] == [message_id]
        assert [r["messageId"] for r in drain_reports(c, 1)] == [message_id]
    with SandboxServer(db_path=db, time_scale=TIME_SCALE) as third, httpx.Client(base_url=third.url, headers=AUTH) as c:
        assert c.get("/omni/1/reports").json()["results"] == []  # returned once, even across restarts


def test_validity_periods() -> None:
    assert validity_seconds(None, None) == MAX_VALIDITY
    assert validity_seconds(30, None) == 1800
    assert validity_seconds(90, "SECONDS") == 90
    assert validity_seconds(1, "SECONDS") == 30
    assert validity_seconds(3, "DAYS") == MAX_VALIDITY


def test_hashed_share_of_line_users_without_line_is_seeded() -> None:
    flow = (FlowStep("LINE", "app"), FlowStep("SMS", "InfoSMS"))
    keys = [{"lineUserKey": f"user-{i}", "phoneNumber": "385977666111"} for i in range(2000)]

    def failed_over(rules: DeliveryRules) -> list[bool]:
        return [rules.simulate(to, flow, {})[-1].channel == "SMS" for to in keys]

    seed0 = failed_over(DeliveryRules(seed=0))
    assert 0.22 < sum(seed0) / len(seed0) < 0.28
    assert failed_over(DeliveryRules(seed=0)) == seed0
    assert failed_over(DeliveryRules(seed=1)) != seed0
    assert not any(failed_over(DeliveryRules(no_line_share=0.0)))
    by_phone = DeliveryRules(no_line_share=0.0).simulate({"phoneNumber": "385977666618"}, flow, {})
    assert [(s.channel, s.to, s.status.name) for s in by_phone] == [("LINE", "385977666618", "DELIVERED_TO_HANDSET")]


def test_reject_suffix_rejects_in_the_send_answer_and_stores_nothing(tmp_path: Path) -> None:
    with (
        SandboxServer(db_path=tmp_path / "rej.db", reject_suffix="555") as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as c,
    ):
        key = create_scenario(c)
        body = {
            "scenarioKey": key,
            "bulkId": "b-rej",
            "destinations": [
                {"messageId": "ok", "to": {"phoneNumber": "385912345678"}},
                {"messageId": "no", "to": {"phoneNumber": "385912345555", "lineUserKey": "delivered-1"}},
            ],
            "sms": {"text": "Hello by SMS"},
            "line": {"text": "Hello on LINE"},
        }
        answer = c.post("/omni/1/advanced", json=body).json()["messages"]
        assert [(m["messageId"], m["status"]["groupName"], m["status"]["name"]) for m in answer] == [
            ("ok", "PENDING", "PENDING_ENROUTE"),
            ("no", "REJECTED", "REJECTED_DND"),
        ]
        stored = c.get("/_sandbox/messages").json()["messages"]
        assert [m["messageId"] for m in stored] == ["ok"]
        logs = c.get("/omni/1/logs", params={"bulkId": "b-rej"}).json()["results"]
        assert [e["messageId"] for e in logs] == ["ok"]
    assert not DeliveryRules().rejected_at_send({"phoneNumber": "385912345555"})  # off by default
