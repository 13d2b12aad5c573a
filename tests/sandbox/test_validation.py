"""Bad input to the sandbox: the provider's status and error envelope, never a 500; auth; setup; the CLI."""

from __future__ import annotations

import base64
import json
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaigner.cli import main
from campaigner.sandbox.exceptions import SandboxError
from campaigner.sandbox.server import SandboxServer

AUTH = {"Authorization": "App sandbox"}
REPO = Path(__file__).resolve().parents[2]
FLOW = [{"from": "app", "channel": "LINE"}, {"from": "InfoSMS", "channel": "SMS"}]
TO = {"phoneNumber": "385977666111", "lineUserKey": "k"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(db_path=tmp_path_factory.mktemp("sandbox") / "sandbox.db", time_scale=36000.0) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=AUTH) as c:
        c.post("/_sandbox/reset")
        yield c


@pytest.fixture
def key(client: httpx.Client) -> str:
    created: str = client.post("/omni/1/scenarios", json={"name": "t", "flow": FLOW}).json()["key"]
    return created


def sendable(key: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scenarioKey": key,
        "destinations": [{"to": TO}],
        "line": {"text": "hello"},
        "sms": {"text": "hello"},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


BAD_SENDS: list[tuple[str, dict[str, Any], str]] = [
    ("no-destinations", {"destinations": None}, "destinations"),
    ("empty-destinations", {"destinations": []}, "destinations"),
    ("destinations-not-array", {"destinations": {"to": TO}}, "destinations"),
    ("too-many-destinations", {"destinations": [{"to": TO}] * 1001}, "destinations"),
    ("destination-not-object", {"destinations": ["385977666111"]}, "destinations[0]"),
    ("no-to", {"destinations": [{"messageId": "m"}]}, "destinations[0].to"),
    ("empty-to", {"destinations": [{"to": {}}]}, "destinations[0].to"),
    ("to-not-string", {"destinations": [{"to": {"phoneNumber": 385977666111}}]}, "destinations[0].to.phoneNumber"),
    ("line-key-not-string", {"destinations": [{"to": {"lineUserKey": 7}}]}, "destinations[0].to"),
    ("message-id-not-string", {"destinations": [{"messageId": 7, "to": TO}]}, "destinations[0].messageId"),
    ("unknown-scenario", {"scenarioKey": "0123456789ABCDEF0123456789ABCDEF"}, "scenarioKey"),
    ("scenario-key-not-string", {"scenarioKey": 12}, "scenarioKey"),
    ("missing-line-object", {"line": None}, "line"),
    ("missing-sms-object", {"sms": None}, "sms"),
    ("line-not-object", {"line": "hello"}, "line"),
    ("line-text-too-long", {"line": {"text": "x" * 5001}}, "line.text"),
    ("line-text-blank", {"line": {"text": ""}}, "line.text"),
    ("line-bad-type", {"line": {"type": "CAROUSEL", "text": "x"}}, "line.type"),
    ("image-without-thumbnail", {"line": {"type": "IMAGE", "url": "https://x/i.jpg"}}, "line.thumbnailUrl"),
    ("video-url-too-long", {"line": {"type": "VIDEO", "url": "https://" + "x" * 1000, "thumbnailUrl": "https://t"}}, "line.url"),
    ("audio-without-duration", {"line": {"type": "AUDIO", "url": "https://x/a.m4a"}}, "line.duration"),
    ("sticker-without-id", {"line": {"type": "STICKER", "packageId": "1"}}, "line.stickerId"),
    ("flex-without-alt-text", {"line": {"type": "FLEX", "contents": {"type": "BUBBLE"}}}, "line.altText"),
    ("flex-lowercase-container", {"line": {"type": "FLEX", "altText": "a", "contents": {"type": "bubble"}}}, "line.contents.type"),
    ("sticker-id-number", {"line": {"type": "STICKER", "packageId": "446", "stickerId": 1988}}, "line.stickerId"),
    ("validity-unit-object", {"sms": {"text": "a", "validityPeriodTimeUnit": {"x": 1}}}, "sms.validityPeriodTimeUnit"),
    ("validity-unit-list", {"line": {"text": "a", "validityPeriodTimeUnit": ["MINUTES"]}}, "line.validityPeriodTimeUnit"),
    ("line-type-object", {"line": {"type": {"t": 1}, "text": "a"}}, "line.type"),
    ("transliteration-object", {"sms": {"text": "a", "transliteration": {}}}, "sms.transliteration"),
    ("flex-alt-text-too-long", {"line": {"type": "FLEX", "altText": "x" * 401, "contents": {}}}, "line.altText"),
    ("flex-without-contents", {"line": {"type": "FLEX", "altText": "a"}}, "line.contents"),
    ("validity-not-integer", {"line": {"text": "a", "validityPeriod": "30"}}, "line.validityPeriod"),
    ("validity-negative", {"sms": {"text": "a", "validityPeriod": -1}}, "sms.validityPeriod"),
    ("validity-bad-unit", {"sms": {"text": "a", "validityPeriod": 1, "validityPeriodTimeUnit": "WEEKS"}}, "sms.validityPeriodTimeUnit"),
    ("sms-without-text", {"sms": {"validityPeriod": 60}}, "sms.text"),
    ("sms-26-parts", {"sms": {"text": "x" * (153 * 25 + 1)}}, "sms.text"),
    ("sms-over-4000-bytes", {"sms": {"text": "ข" * 1400}}, "sms.text"),
    ("callback-data-too-long", {"callbackData": "x" * 4001}, "callbackData"),
    ("send-at-not-a-date", {"sendAt": "tomorrow"}, "sendAt"),
    ("send-at-too-far", {"sendAt": "2999-01-01T00:00:00.000+0000"}, "sendAt"),
    ("notify-not-bool", {"notify": "yes"}, "notify"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field"), [c[1:] for c in BAD_SENDS], ids=[c[0] for c in BAD_SENDS])
def test_bad_sends_get_400_naming_the_field(
    client: httpx.Client, key: str, changes: dict[str, Any], field: str
) -> None:
    answer = client.post("/omni/1/advanced", json=sendable(key, **changes))
    assert answer.status_code == 400, answer.text
    exception = answer.json()["requestError"]["serviceException"]
    assert (exception["messageId"], exception["text"]) == ("BAD_REQUEST", "Bad request")
    assert field in exception["validationErrors"], exception
    assert all(isinstance(m, str) for ms in exception["validationErrors"].values() for m in ms)
    assert client.get("/_sandbox/stats").json()["receipts"] == 0


def test_every_line_type_with_its_fields_is_accepted(client: httpx.Client, key: str) -> None:
    for line in (
        {"type": "IMAGE", "url": "https://x/i.jpg", "thumbnailUrl": "https://x/t.jpg"},
        {"type": "VIDEO", "url": "https://x/v.mp4", "thumbnailUrl": "https://x/t.jpg"},
        {"type": "AUDIO", "url": "https://x/a.m4a", "duration": 60000},
        {"type": "STICKER", "packageId": "446", "stickerId": "1988"},
        {"type": "FLEX", "altText": "Sale", "contents": {"type": "BUBBLE"}},
        {"text": "a" * 5000, "validityPeriod": 30, "validityPeriodTimeUnit": "MINUTES"},
    ):
        assert client.post("/omni/1/advanced", json=sendable(key, line=line)).status_code == 200, line


def test_max_destinations_and_sms_parts_are_accepted(client: httpx.Client, key: str) -> None:
    destinations = [{"messageId": f"m{i}", "to": TO} for i in range(1000)]
    body = sendable(key, destinations=destinations, sms={"text": "x" * (153 * 25)})
    assert client.post("/omni/1/advanced", json=body).status_code == 200


RAW_BAD: list[tuple[str, str, str, bytes, dict[str, str], str]] = [
    ("malformed-json", "POST", "/omni/1/advanced", b'{"destinations": [', {}, "body"),
    ("not-an-object", "POST", "/omni/1/advanced", b"[1, 2]", {}, "body"),
    ("wrong-content-type", "POST", "/omni/1/advanced", b"{}", {"Content-Type": "text/plain"}, "Content-Type"),
    ("scenario-malformed", "POST", "/omni/1/scenarios", b"{", {}, "body"),
    ("scenario-without-flow", "POST", "/omni/1/scenarios", b'{"name": "x"}', {}, "flow"),
    ("scenario-empty-flow", "POST", "/omni/1/scenarios", b'{"flow": []}', {}, "flow"),
    ("scenario-bad-channel", "POST", "/omni/1/scenarios", b'{"flow": [{"channel": "FAX"}]}', {}, "flow[0].channel"),
    ("scenario-bad-from", "POST", "/omni/1/scenarios", b'{"flow": [{"channel": "SMS", "from": 1}]}', {}, "flow[0].from"),
    ("scenario-bad-default", "POST", "/omni/1/scenarios", b'{"flow": [{"channel": "SMS"}], "default": "yes"}', {}, "default"),
    ("reports-limit-zero", "GET", "/omni/1/reports?limit=0", b"", {}, "limit"),
    ("reports-limit-high", "GET", "/omni/1/reports?limit=1001", b"", {}, "limit"),
    ("reports-limit-text", "GET", "/omni/1/reports?limit=ten", b"", {}, "limit"),
    ("reports-bad-channel", "GET", "/omni/1/reports?channel=FAX", b"", {}, "channel"),
    ("logs-bad-status", "GET", "/omni/1/logs?generalStatus=GONE", b"", {}, "generalStatus"),
    ("logs-bad-since", "GET", "/omni/1/logs?sentSince=yesterday", b"", {}, "sentSince"),
    ("logs-limit-high", "GET", "/omni/1/logs?limit=5000", b"", {}, "limit"),
    ("scenarios-bad-limit", "GET", "/omni/1/scenarios?limit=-1", b"", {}, "limit"),
    ("scenarios-bad-page", "GET", "/omni/1/scenarios?page=x", b"", {}, "page"),
    ("scenarios-bad-is-default", "GET", "/omni/1/scenarios?isDefault=maybe", b"", {}, "isDefault"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "field"), [c[1:] for c in RAW_BAD], ids=[c[0] for c in RAW_BAD]
)
def test_bad_requests_get_400_naming_the_field(
    client: httpx.Client, method: str, path: str, body: bytes, headers: dict[str, str], field: str
) -> None:
    headers = {"Content-Type": "application/json", **headers}
    answer = client.request(method, path, content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["requestError"]["serviceException"]["validationErrors"]


def test_unknown_paths_and_methods_get_the_envelope(client: httpx.Client) -> None:
    for method, path, status in (("GET", "/omni/1/nothing", 404), ("DELETE", "/omni/1/scenarios/X", 405)):
        answer = client.request(method, path)
        assert answer.status_code == status
        assert answer.json()["requestError"]["serviceException"]["messageId"] in ("NOT_FOUND", "METHOD_NOT_ALLOWED")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [None, "App wrong", "App", basic("Aladdin", "sandbox"), basic("sandbox", "wrong"), "Basic !!!", "Bearer sandbox"],
    ids=["none", "wrong-key", "empty-app", "wrong-user", "wrong-password", "garbage-basic", "bearer"],
)
def test_bad_auth_gets_401(sandbox: SandboxServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (("GET", "/omni/1/scenarios"), ("POST", "/omni/1/advanced"), ("GET", "/omni/1/reports")):
        answer = httpx.request(method, f"{sandbox.url}{path}", headers=headers, json={})
        assert answer.status_code == 401
        assert answer.json() == {
            "requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}
        }


def test_basic_auth_with_the_sandbox_user_is_accepted(sandbox: SandboxServer) -> None:
    answer = httpx.get(f"{sandbox.url}/omni/1/scenarios", headers={"Authorization": basic("sandbox", "sandbox")})
    assert answer.status_code == 200


def random_json(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [None, True, -1, 0, 2**70, 1.5, "", "x", "LINE", "+385977666111", "ç" * 3]
    if depth < 3:
        choices += [
            [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))],
            {k: random_json(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 4))},
        ]
    return rng.choice(choices)


KEYS = ["scenarioKey", "destinations", "to", "messageId", "phoneNumber", "lineUserKey", "line", "sms", "text",
        "type", "validityPeriod", "validityPeriodTimeUnit", "flow", "channel", "from", "default", "sendAt"]  # fmt: skip


def test_random_bodies_never_cause_a_500(client: httpx.Client, key: str) -> None:
    rng = random.Random(1)
    for i in range(300):
        body = random_json(rng)
        if i % 3 == 0 and isinstance(body, dict):
            body = {**sendable(key), **body}
        for path in ("/omni/1/advanced", "/omni/1/scenarios"):
            answer = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
            assert answer.status_code in (200, 400, 429), (path, body, answer.text)
            assert "requestError" in answer.json() or answer.status_code == 200


def test_setup_errors_are_clear(tmp_path: Path, sandbox: SandboxServer) -> None:
    with pytest.raises(SandboxError, match="loopback only"):
        SandboxServer(db_path=tmp_path / "s.db", host="0.0.0.0")
    with pytest.raises(SandboxError, match="unknown fault"):
        SandboxServer(db_path=tmp_path / "s.db", faults="boom=1")
    with pytest.raises(SandboxError, match="time scale"):
        SandboxServer(db_path=tmp_path / "s.db", time_scale=0)
    port = int(sandbox.url.rsplit(":", 1)[1])
    with pytest.raises(SandboxError, match=f"cannot listen on 127.0.0.1:{port}"):
        SandboxServer(db_path=tmp_path / "s.db", port=port).start()
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(SandboxError, match="cannot open sandbox state"):
        SandboxServer(db_path=tmp_path / "junk.db").start()


def test_cli_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--faults", "500=2"]) == 1
    assert "Invalid value for '--faults': rate 2 for fault '500' is outside 0..1" in capsys.readouterr().err
    assert main(["sandbox", "--host", "10.0.0.1"]) == 1
    assert "loopback only" in capsys.readouterr().err


def test_cli_serves_in_the_foreground_until_interrupted(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "campaigner.cli", "sandbox", "--port", "0", "--state", str(tmp_path / "s.db")]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split("listening on ")[1].split(" ")[0]
        assert f"INFOBIP_BASE_URL={url} INFOBIP_API_KEY=sandbox" in line
        assert httpx.get(f"{url}/omni/1/scenarios", headers=AUTH).status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == "" and err == "campaigner sandbox: stopped\n"
