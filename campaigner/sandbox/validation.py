"""Parsing and checking request bodies and query parameters; every problem becomes a 400 naming its field.

A body is checked against the provider's own schema first (:mod:`campaigner.sandbox.schemas`), then by
the rules here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from campaigner.content.sms import measure
from campaigner.sandbox.delivery import UNIT_SECONDS, ChannelContent, FlowStep, validity_seconds
from campaigner.sandbox.exceptions import FieldErrors, bad_request
from campaigner.sandbox.records import Destination, Scenario, ScenarioDraft, SendRequest
from campaigner.sandbox.schemas import schema_errors

CHANNELS = ("SMS", "EMAIL", "VOICE", "PUSH", "VIBER", "LINE", "VKONTAKTE", "KAKAO_CHINGU", "KAKAO_ALIM", "WHATSAPP")
CHANNEL_FIELDS = {
    "SMS": "sms",
    "EMAIL": "email",
    "VOICE": "voice",
    "PUSH": "push",
    "VIBER": "viber",
    "LINE": "line",
    "VKONTAKTE": "vKontakte",
    "KAKAO_CHINGU": "kakaoChingu",
    "KAKAO_ALIM": "kakaoAlim",
    "WHATSAPP": "whatsApp",
}
GENERAL_STATUSES = ("ACCEPTED", "PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED")
LINE_TYPES = ("TEXT", "IMAGE", "VIDEO", "AUDIO", "STICKER", "FLEX")

MAX_DESTINATIONS = 1000
MAX_MESSAGE_ID = 200
MAX_LINE_TEXT = 5000
MAX_URL = 1000
MAX_ALT_TEXT = 400
MAX_SMS_PARTS = 25
MAX_SMS_BYTES = 4000  # UTF-8 bytes of the text
MAX_CALLBACK_DATA = 4000
MAX_SEND_AT_AHEAD = 180 * 86400.0
MAX_DESTINATION_ERRORS = 20  # destinations named in one answer; the rest are summarized


def parse_json(body: bytes, content_type: str | None) -> Any:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise bad_request({"Content-Type": ["must be application/json"]})
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise bad_request({"body": ["malformed JSON"]}) from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(errors: FieldErrors, obj: Mapping[str, Any], key: str, field: str, *, max_len: int | None = None,
            required: bool = False) -> str | None:  # fmt: skip
    value = obj.get(key)
    if value is None:
        if required:
            errors.add(field, "must not be null")
        return None
    if not isinstance(value, str):
        errors.add(field, "must be a string")
        return None
    if required and not value.strip():
        errors.add(field, "must not be blank")
        return None
    if max_len is not None and len(value) > max_len:
        errors.add(field, f"size must be between {1 if required else 0} and {max_len}")
        return None
    return value


def _object(errors: FieldErrors, value: object, field: str) -> Mapping[str, Any] | None:
    if not isinstance(value, dict):
        errors.add(field, "must be an object")
        return None
    return value


def parse_scenario(obj: Any) -> ScenarioDraft:
    """A create or update body (one schema for both), checked by the provider's schema, then ours."""
    schema_errors("POST", "/omni/1/scenarios", obj).raise_if_any()
    errors = FieldErrors()
    body = _object(errors, obj, "body")
    errors.raise_if_any()
    assert body is not None
    name = _string(errors, body, "name", "name", max_len=255)
    default: bool | None = None
    for key in ("default", "defaultScenario"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            errors.add(key, "must be true or false")
        elif default is None:
            default = value
    flow: list[FlowStep] = []
    raw_flow = body.get("flow")
    if raw_flow is None:
        errors.add("flow", "must not be null")
    elif not isinstance(raw_flow, list) or not raw_flow:
        errors.add("flow", "must be a non-empty array of steps")
    else:
        for i, raw in enumerate(raw_flow):
            field = f"flow[{i}]"
            step = _object(errors, raw, field)
            if step is None:
                continue
            channel = step.get("channel")
            if channel not in CHANNELS:
                errors.add(f"{field}.channel", f"must be one of {', '.join(CHANNELS)}")
                continue
            sender = _string(errors, step, "from", f"{field}.from", max_len=255)
            flow.append(FlowStep(channel, sender))
    errors.raise_if_any()
    return ScenarioDraft(name, tuple(flow), default)


def parse_send(obj: Any, now: float) -> SendRequest:
    """A send body, checked by the provider's schema, then by the sandbox's rules."""
    schema_errors("POST", "/omni/1/advanced", obj).raise_if_any()
    errors = FieldErrors()
    body = _object(errors, obj, "body")
    errors.raise_if_any()
    assert body is not None
    scenario_key = _string(errors, body, "scenarioKey", "scenarioKey", max_len=255)
    if scenario_key is not None and not scenario_key.strip():
        errors.add("scenarioKey", "must not be blank")
        scenario_key = None
    bulk_id = _string(errors, body, "bulkId", "bulkId", max_len=MAX_MESSAGE_ID) or None
    destinations = _destinations(errors, body.get("destinations"))
    callback_data = _string(errors, body, "callbackData", "callbackData", max_len=MAX_CALLBACK_DATA)
    _string(errors, body, "notifyUrl", "notifyUrl", max_len=2048)
    _string(errors, body, "notifyContentType", "notifyContentType")
    for key in ("notify", "intermediateReport"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            errors.add(key, "must be true or false")
    send_at = _send_at(errors, body.get("sendAt"), now)
    content: dict[str, ChannelContent] = {}
    for channel, key in CHANNEL_FIELDS.items():
        if body.get(key) is None:
            continue
        data = _object(errors, body[key], key)
        if data is None:
            continue
        validity = _validity(errors, data, key)
        if channel == "LINE":
            content[channel] = ChannelContent(validity, 1, _line(errors, data))
        elif channel == "SMS":
            text = _string(errors, data, "text", "sms.text", required=True)
            parts = _sms_parts(errors, text)
            content[channel] = ChannelContent(validity, parts, text)
        else:
            content[channel] = ChannelContent(validity)
    errors.raise_if_any()
    return SendRequest(scenario_key, bulk_id, tuple(destinations), content, callback_data, send_at)


def _destinations(errors: FieldErrors, raw: object) -> list[Destination]:
    if raw is None:
        errors.add("destinations", "must not be null")
        return []
    if not isinstance(raw, list):
        errors.add("destinations", "must be an array")
        return []
    if not raw:
        errors.add("destinations", "must not be empty")
        return []
    if len(raw) > MAX_DESTINATIONS:
        errors.add("destinations", f"at most {MAX_DESTINATIONS} destinations per request, got {len(raw)}")
        return []
    destinations: list[Destination] = []
    bad = 0
    for i, item in enumerate(raw):
        local = FieldErrors()
        field = f"destinations[{i}]"
        destination = _object(local, item, field)
        if destination is not None:
            message_id = _string(local, destination, "messageId", f"{field}.messageId", max_len=MAX_MESSAGE_ID)
            if message_id is not None and not message_id.strip():
                local.add(f"{field}.messageId", "must not be blank")
            to = _object(local, destination.get("to"), f"{field}.to")
            if to is not None:
                addresses = [value for value in to.values() if value is not None]
                if any(not isinstance(value, str) for value in addresses):
                    local.add(f"{field}.to", "addresses must be strings")
                elif not any(value.strip() for value in addresses):
                    local.add(f"{field}.to", "must contain at least one address")
                elif not local:
                    destinations.append(Destination(message_id, to))
        if local:
            bad += 1
            if bad <= MAX_DESTINATION_ERRORS:
                for name, messages in local.errors.items():
                    for message in messages:
                        errors.add(name, message)
    if bad > MAX_DESTINATION_ERRORS:
        errors.add("destinations", f"{bad - MAX_DESTINATION_ERRORS} more destinations are invalid")
    return destinations


def _validity(errors: FieldErrors, data: Mapping[str, Any], key: str) -> float:
    period = data.get("validityPeriod")
    unit = data.get("validityPeriodTimeUnit")
    ok = True
    if period is not None and (not _is_int(period) or period < 1):
        errors.add(f"{key}.validityPeriod", "must be a positive integer")
        ok = False
    if unit is not None and unit not in UNIT_SECONDS:
        errors.add(f"{key}.validityPeriodTimeUnit", f"must be one of {', '.join(UNIT_SECONDS)}")
        ok = False
    return validity_seconds(period, unit) if ok else 0.0


def _line(errors: FieldErrors, data: Mapping[str, Any]) -> str | None:
    kind = data.get("type", "TEXT")
    if kind is None:
        kind = "TEXT"
    if kind not in LINE_TYPES:
        errors.add("line.type", f"must be one of {', '.join(LINE_TYPES)}")
        return None
    if kind == "TEXT":
        return _string(errors, data, "text", "line.text", required=True, max_len=MAX_LINE_TEXT)
    if kind in ("IMAGE", "VIDEO", "AUDIO"):
        _string(errors, data, "url", "line.url", required=True, max_len=MAX_URL)
    if kind in ("IMAGE", "VIDEO"):
        _string(errors, data, "thumbnailUrl", "line.thumbnailUrl", required=True, max_len=MAX_URL)
    if kind == "AUDIO":
        duration = data.get("duration")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 1:
            errors.add("line.duration", "must be a positive integer (milliseconds)")
    if kind == "STICKER":
        for key in ("packageId", "stickerId"):
            value = data.get(key)
            if _is_int(value):
                continue
            if not isinstance(value, str) or not value.strip():
                errors.add(f"line.{key}", "must not be blank")
    if kind == "FLEX":
        alt_text = _string(errors, data, "altText", "line.altText", required=True, max_len=MAX_ALT_TEXT)
        if not isinstance(data.get("contents"), dict):
            errors.add("line.contents", "must be an object")
        return alt_text
    return None


def _sms_parts(errors: FieldErrors, text: str | None) -> int:
    if text is None:
        return 1
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SMS_BYTES:
        errors.add("sms.text", f"too long: {size} bytes, at most {MAX_SMS_BYTES}")
        return 1
    parts = measure(text).parts
    if parts > MAX_SMS_PARTS:
        errors.add("sms.text", f"too long: {parts} parts, at most {MAX_SMS_PARTS}")
    return parts


def _send_at(errors: FieldErrors, value: object, now: float) -> float | None:
    if value is None:
        return None
    at = parse_datetime(value) if isinstance(value, str) else None
    if at is None:
        errors.add("sendAt", "must be a date-time such as 2026-12-01T09:00:00.000+0100")
        return None
    if at - now > MAX_SEND_AT_AHEAD:
        errors.add("sendAt", "must be sooner than 180 days from now")
    return at


def check_flow(send: SendRequest, scenario: Scenario) -> None:
    """Every channel of the scenario's flow needs its channel object in the body."""
    errors = FieldErrors()
    for step in scenario.flow:
        if step.channel not in send.content:
            field = CHANNEL_FIELDS[step.channel]
            message = f"must be given: scenario {scenario.key} has a {step.channel} step"
            if message not in errors.errors.get(field, []):
                errors.add(field, message)
    errors.raise_if_any()


# -- query parameters and times ----------------------------------------------------------------------


def parse_datetime(text: str) -> float | None:
    """``2026-12-01T09:00:00.000+0100`` / ``...+01:00`` / ``...Z`` / naive (UTC) -> epoch seconds."""
    text = text.strip().replace(" ", "+")  # a '+' decoded from a query string arrives as a space
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_datetime(epoch: float) -> str:
    """Epoch seconds -> ``2016-02-23T17:41:11.833+0000`` (milliseconds, ``+hhmm``; UTC)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def query_int(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request({name: ["must be an integer"]}) from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request({name: [f"must be {bounds}"]})
    return value


def query_bool(params: Mapping[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise bad_request({name: ["must be true or false"]})


def query_enum(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise bad_request({name: [f"must be one of {', '.join(allowed)}"]})
    return raw


def query_time(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_datetime(raw)
    if value is None:
        raise bad_request({name: ["must be a date-time such as 2015-02-22T17:42:05.390+01:00"]})
    return value
