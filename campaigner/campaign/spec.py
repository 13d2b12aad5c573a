"""The campaign file format (SPEC section 2) as immutable pydantic models.

Field names that map to the provider's API keep the API's camelCase names. ``campaigner schema``
prints the JSON Schema of :class:`Campaign`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

CAMPAIGN_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
CHANNELS = ("LINE", "SMS")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_RATE_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """``10m`` / ``30s`` / ``1h`` / ``1.5h`` / ``250ms`` / a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 30s, 10m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_rate(value: object) -> float:
    """``20/s`` / ``600/m`` / a bare number (per second) -> requests per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 20/s or 600/m")
    if isinstance(value, (int, float)):
        rate = float(value)
    elif isinstance(value, str) and (m := _RATE.match(value)):
        rate = float(m.group(1)) / _RATE_UNIT[m.group(2)]
    else:
        raise ValueError(f"expected a rate such as 20/s or 600/m, got {value!r}")
    if rate <= 0:
        raise ValueError("a rate must be above zero")
    return rate


def _format_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(_format_seconds, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _DURATION.pattern},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 30s, 10m, 1h, 2d, or a number of seconds",
        }
    ),
]
Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _RATE.pattern},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "requests per unit of time: 20/s, 600/m, or a number per second",
        }
    ),
]


def _valid_region(value: str) -> str:
    import phonenumbers  # heavy: only loaded when a campaign is validated

    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not a region code the numbering plan knows; "
            "use a two-letter ISO 3166 code such as HR, DE or JP"
        )
    return region


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone offset, e.g. 2026-12-01T09:00:00+01:00")
    return value


def located(message: str, *, at: tuple[str | int, ...], hint: str | None = None) -> PydanticCustomError:
    """A rule's error that names the key it is about (relative to the model), for file:line:col."""
    return PydanticCustomError("campaign_rule", message, {"at": at, "hint": hint})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FlowStep(_Model):
    """One step of the failover flow: a channel and its sender."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)

    channel: Literal["LINE", "SMS"] = Field(description="LINE or SMS")
    sender: str = Field(
        alias="from",
        min_length=1,
        description="LINE application key, or the SMS sender (numeric or alphanumeric)",
    )


class Scenario(_Model):
    """The provider-side OMNI scenario, found or created by name."""

    name: str = Field(min_length=1, max_length=200)
    flow: list[FlowStep] = Field(min_length=1, description="ordered failover steps, LINE then SMS")

    @model_validator(mode="after")
    def _distinct_channels(self) -> Scenario:
        seen: set[str] = set()
        for i, step in enumerate(self.flow):
            if step.channel in seen:
                raise located(
                    f"scenario.flow[{i}].channel: channel {step.channel} appears twice in the flow",
                    at=("flow", i, "channel"),
                )
            seen.add(step.channel)
        return self

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(step.channel for step in self.flow)


class Recipients(_Model):
    """Where the recipients come from and how their addresses are read."""

    csv: str = Field(min_length=1, description="recipient CSV, relative to the campaign file")
    phoneNumber: str | None = Field(default=None, description="CSV column with the phone number")
    lineUserKey: str | None = Field(default=None, description="CSV column with the LINE user key")
    defaultRegion: Annotated[str, AfterValidator(_valid_region)] | None = Field(
        default=None, description="ISO region for numbers written without a country code"
    )
    exclude: list[str] = Field(
        default_factory=list, description="suppression lists: CSVs with the same address columns"
    )

    @model_validator(mode="after")
    def _some_address(self) -> Recipients:
        if not self.phoneNumber and not self.lineUserKey:
            raise ValueError("name at least one address column: phoneNumber or lineUserKey")
        return self


TimeUnit = Literal["SECONDS", "MINUTES", "HOURS"]


class LineContent(_Model):
    """LINE content: a text, or one rich type. Every string is a Jinja2 template."""

    type: Literal["TEXT", "IMAGE", "VIDEO", "AUDIO", "STICKER"] = "TEXT"
    text: str | None = None
    url: str | None = None
    thumbnailUrl: str | None = None
    duration: int | None = Field(default=None, ge=1, description="AUDIO length in milliseconds")
    packageId: str | None = None
    stickerId: str | None = None
    validityPeriod: int | None = Field(default=None, ge=1)
    validityPeriodTimeUnit: TimeUnit | None = None

    @model_validator(mode="before")
    @classmethod
    def _coerce_ids(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("packageId", "stickerId"):
                if isinstance(data.get(key), int) and not isinstance(data.get(key), bool):
                    data = {**data, key: str(data[key])}
        return data

    @model_validator(mode="after")
    def _fields_for_type(self) -> LineContent:
        required = {
            "TEXT": ("text",),
            "IMAGE": ("url", "thumbnailUrl"),
            "VIDEO": ("url", "thumbnailUrl"),
            "AUDIO": ("url", "duration"),
            "STICKER": ("packageId", "stickerId"),
        }[self.type]
        allowed = set(required)
        missing = [name for name in required if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(f"LINE {self.type} needs {' and '.join(missing)}")
        extra = [
            name
            for name in ("text", "url", "thumbnailUrl", "duration", "packageId", "stickerId")
            if name not in allowed and getattr(self, name) is not None
        ]
        if extra:
            raise ValueError(f"LINE {self.type} does not take {', '.join(extra)}")
        return self

    def template_fields(self) -> dict[str, str]:
        """The string fields that are templates, by API name."""
        names = ("text", "url", "thumbnailUrl", "packageId", "stickerId")
        return {n: v for n in names if isinstance(v := getattr(self, n), str)}


class SmsContent(_Model):
    """SMS content (the failover step). The text is a Jinja2 template."""

    text: str = Field(min_length=1)
    validityPeriod: int | None = Field(default=None, ge=1)
    validityPeriodTimeUnit: TimeUnit | None = None
    transliteration: str | None = None

    def template_fields(self) -> dict[str, str]:
        return {"text": self.text}


class Send(_Model):
    """How fast and when to send."""

    rateLimit: Rate = Field(default=20.0, description="requests per second to the provider")
    batchSize: int = Field(
        default=500, ge=1, le=1000, description="destinations per request when payloads are identical"
    )
    concurrency: int = Field(default=32, ge=1, le=64, description="requests in flight at once")
    notBefore: Annotated[datetime, AfterValidator(_aware)] | None = None
    notAfter: Annotated[datetime, AfterValidator(_aware)] | None = None

    @model_validator(mode="after")
    def _window(self) -> Send:
        if self.notBefore and self.notAfter and self.notAfter <= self.notBefore:
            raise ValueError("notAfter must be later than notBefore")
        return self


class Report(_Model):
    """Delivery reports: how long apply waits, and where the summary goes."""

    wait: Duration = Field(default=600.0)
    dir: str | None = Field(
        default=None, description="summary folder, relative to the campaign file (default reports/<campaign>)"
    )


class Campaign(_Model):
    """One campaign: send this content once to each listed recipient."""

    campaign: str = Field(pattern=CAMPAIGN_ID, description="unique id: [a-z0-9][a-z0-9._-]{0,63}")
    description: str | None = None
    scenario: Scenario
    recipients: Recipients
    vars: dict[str, str | int | float | bool] = Field(default_factory=dict)
    line: LineContent | None = None
    sms: SmsContent | None = None
    send: Send = Field(default_factory=Send)
    report: Report = Field(default_factory=Report)

    @model_validator(mode="after")
    def _content_for_flow(self) -> Campaign:
        channels = self.scenario.channels
        for channel, content in (("LINE", self.line), ("SMS", self.sms)):
            key = channel.lower()
            if channel in channels and content is None:
                step = channels.index(channel)
                article = "an" if channel == "SMS" else "a"
                raise located(
                    f"the flow has {article} {channel} step but there is no {key}: content",
                    at=("scenario", "flow", step, "channel"),
                    hint=f"add {key}: with the {channel} content, or remove the step",
                )
            if channel not in channels and content is not None:
                raise located(
                    f"{key}: content is given but the flow has no {channel} step",
                    at=(key,),
                    hint=f"add a {channel} step to scenario.flow, or remove {key}:",
                )
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a campaign file, for editors."""
    schema = Campaign.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "campaigner campaign file"
    return schema
