"""Tests for campaigner.sandbox.schemas: bodies checked against the provider's own OpenAPI document,
and a property-based fuzz run (schemathesis, valid and invalid data) over every documented operation."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from campaigner.sandbox.schemas import DEVIATIONS, document, field_name, operations, schema_errors
from campaigner.sandbox.server import SandboxServer

AUTH = {"Authorization": "App sandbox"}
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "infobip-omni-failover-openapi.json"
SEND = ("POST", "/omni/1/advanced")
UNITS = "must be one of NANOSECONDS, MICROSECONDS, MILLISECONDS, SECONDS, MINUTES, HOURS, DAYS"


def test_the_shipped_document_is_the_providers() -> None:
    if REFERENCE.exists():  # beside the repository on a developer's machine and in CI
        assert document() == json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert set(operations()) == {
        ("GET", "/omni/1/scenarios"),
        ("POST", "/omni/1/scenarios"),
        ("GET", "/omni/1/scenarios/{scenarioKey}"),
        ("PUT", "/omni/1/scenarios/{scenarioKey}"),
        ("POST", "/omni/1/advanced"),
        ("GET", "/omni/1/reports"),
        ("GET", "/omni/1/logs"),
    }


def test_field_names() -> None:
    assert field_name([]) == "body"
    assert field_name(["destinations", 0, "to", "phoneNumber"]) == "destinations[0].to.phoneNumber"
    assert field_name([3]) == "[3]"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"destinations": [{"to": {"phoneNumber": "385977666111"}}], "sms": {"text": "hi"}}, {}),
        ({"destinations": [{"to": {}}], "line": {"text": "hi", "validityPeriodTimeUnit": "MINUTES"}}, {}),
        ([], {"body": ["must be an object"]}),
        (
            {"sms": {"text": "", "validityPeriodTimeUnit": {"unit": "MINUTES"}}},
            {"sms.text": ["size must be at least 1"], "sms.validityPeriodTimeUnit": ["must be a string", UNITS]},
        ),
        (
            {"line": {"type": "GIF", "url": "x" * 1001}, "notify": "yes"},
            {
                "line.type": ["must be one of TEXT, IMAGE, VIDEO, AUDIO, STICKER, FLEX"],
                "line.url": ["size must be between 0 and 1000"],
                "notify": ["must be true or false"],
            },
        ),
        ({"destinations": [{"to": {"phoneNumber": 1}}] * 25}, None),
        (json.loads("[" * 900 + "]" * 900), {"body": ["is nested too deeply"]}),
        ({"notify": "\ud800"}, {"body": ["is not valid Unicode (a lone surrogate)"]}),
    ],
    ids=["valid-sms", "valid-line", "not-an-object", "sms", "line", "many", "deep", "surrogate"],
)
def test_bodies_are_checked_against_the_providers_schema(body: Any, expected: dict[str, list[str]] | None) -> None:
    found = schema_errors(*SEND, body).errors
    if expected is not None:
        assert found == expected
    else:  # 25 problems: 20 named, the rest counted
        assert len(found) == 21
        assert found["body"] == ["5 more problems"]


def test_deviations_are_the_documented_ones() -> None:
    assert set(DEVIATIONS) == {"LineData"}
    assert schema_errors(*SEND, {"line": {"text": "hi"}}).errors == {}  # the document would want every type's fields
    assert schema_errors("POST", "/omni/1/scenarios", {"name": "x"}).errors == {"flow": ["must not be null"]}


def test_operations_without_a_json_body_are_not_checked() -> None:
    assert schema_errors("GET", "/omni/1/reports", {"anything": 1}).errors == {}


def test_checking_is_fast() -> None:
    body = {
        "scenarioKey": "A" * 32,
        "destinations": [{"messageId": f"m{i}", "to": {"phoneNumber": "385977666111"}} for i in range(1000)],
        "sms": {"text": "hello", "validityPeriod": 60},
    }
    schema_errors(*SEND, body)  # compiled once
    started = time.perf_counter()
    for _ in range(20):
        assert not schema_errors(*SEND, body)
    assert (time.perf_counter() - started) / 20 < 0.02  # ~0.1 ms here; generous for a loaded machine


# ------------------------------------------------------------------------------------------- fuzzing

SCHEMA = schemathesis.openapi.from_dict(copy.deepcopy(document()))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(db_path=tmp_path_factory.mktemp("fuzz") / "sandbox.db") as server:
        yield server


@SCHEMA.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_fuzzing_every_documented_operation_finds_no_server_error(case: Any, fuzzed: SandboxServer) -> None:
    """Valid and invalid data (schemathesis's positive and negative modes) for each operation: every
    answer is 2xx or 4xx, and every 4xx is the provider's error envelope."""
    response = case.call(base_url=fuzzed.url, headers=AUTH, timeout=30)
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    if response.status_code >= 400:
        assert "serviceException" in response.json()["requestError"], response.text


def test_the_issue_example_is_a_400(fuzzed: SandboxServer) -> None:
    body = {"destinations": [{"to": {"phoneNumber": "385977666111"}}], "sms": {"text": "a"}}
    body["sms"]["validityPeriodTimeUnit"] = {"x": 1}  # type: ignore[index]
    answer = httpx.post(f"{fuzzed.url}/omni/1/advanced", json=body, headers=AUTH, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["requestError"]["serviceException"]["validationErrors"] == {
        "sms.validityPeriodTimeUnit": ["must be a string", UNITS]
    }
