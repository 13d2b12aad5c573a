"""The campaign file format (SPEC section 2) as immutable pydantic models.

Field names that map to the provider's API keep the API's camelCase names. ``campaigner schema``
prints the JSON Schema of :class:`Campaign`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from campaigner.campaign.conditions import ConditionField, Share

CAMPAIGN_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
CHANNELS = ("LINE", "SMS")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_RATE_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION_SECONDS = 7 * 86400.0
"""Longest ``report.wait``: the provider keeps a message for 48 hours at most, reports come within that."""
MIN_RATE, MAX_RATE = 1 / 3600, 1_000_000.0
"""Requests per second: at least one an hour (below, apply would seem to hang), at most a million (finite)."""
MAX_VALIDITY_SECONDS = 48 * 3600
"""The provider cuts a longer validity period to 48 hours."""
_VALIDITY_UNIT_SECONDS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600}
Transliteration = Literal[
    "NONE",
    "ALL",
    "BALTIC",
    "CENTRAL_EUROPEAN",
    "COLOMBIAN",
    "CYRILLIC",
    "GREEK",
    "NON_UNICODE",
    "PORTUGUESE",
    "SERBIAN_CYRILLIC",
    "TURKISH",
    "BULGARIAN_CYRILLIC",
]
TRANSLITERATIONS: tuple[str, ...] = get_args(Transliteration)
"""The provider's ``TransliterationCode`` values (its OpenAPI document)."""
MAX_ALPHANUMERIC_SENDER, MAX_NUMERIC_SENDER = 11, 16
"""SMS sender ids: at most 11 letters and digits, or a number of at most 16 digits."""
MAX_SENDER = 255
_NUMERIC_SENDER = re.compile(r"^\+?[0-9]+$")


def _not_boolean(value: object) -> object:
    """YAML's true/false are not numbers (pydantic would take them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {str(value).lower()}")
    return value


StrictInt = Annotated[int, BeforeValidator(_not_boolean)]
"""An integer that refuses booleans."""


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
    if math.isnan(seconds):
        raise ValueError("expected a duration such as 30s, 10m or 1h, got .nan")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"a duration of at most {_format_seconds(MAX_DURATION_SECONDS)}, got {value!r}")
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
    if math.isnan(rate):
        raise ValueError("expected a rate such as 20/s or 600/m, got .nan")
    if rate <= 0:
        raise ValueError("a rate must be above zero")
    if rate < MIN_RATE:
        raise ValueError(f"a rate of at least 1/h, got {value!r}")
    if rate > MAX_RATE:
        raise ValueError(f"a rate of at most {int(MAX_RATE)}/s, got {value!r}")
    return rate


def _format_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


format_duration = _format_seconds  # a duration as the campaign file writes it: 20m, 1h, 30s

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

    @model_validator(mode="after")
    def _sender_length(self) -> FlowStep:
        if self.channel != "SMS":
            if len(self.sender) > MAX_SENDER:
                raise located(f"a sender has at most {MAX_SENDER} characters, got {len(self.sender)}", at=("from",))
            return self
        numeric = bool(_NUMERIC_SENDER.match(self.sender))
        digits = len(self.sender.lstrip("+"))
        if numeric and digits > MAX_NUMERIC_SENDER:
            raise located(
                f"an SMS sender number has at most {MAX_NUMERIC_SENDER} digits, got {digits}",
                at=("from",),
            )
        if not numeric and (len(self.sender) > MAX_ALPHANUMERIC_SENDER or not self.sender.isascii()):
            raise located(
                f"an alphanumeric SMS sender has at most {MAX_ALPHANUMERIC_SENDER} ASCII letters, digits or "
                f"spaces, got {len(self.sender)} characters",
                at=("from",),
                hint="the provider refuses a longer one when apply sends",
            )
        return self


class Scenario(_Model):
    """The provider-side OMNI scenario, found or created by name."""

    name: str = Field(min_length=1, max_length=200)
    flow: list[FlowStep] = Field(min_length=1, description="ordered failover steps, LINE then SMS")

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name is blank; give the scenario a name")
        return value

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


def _check_validity(period: int | None, unit: str | None) -> None:
    """A validity period the provider keeps as given: at most 48 hours (minutes unless a unit is given)."""
    if period is None:
        return
    seconds = period * _VALIDITY_UNIT_SECONDS[unit or "MINUTES"]
    if seconds > MAX_VALIDITY_SECONDS:
        shown = f"{period} {(unit or 'MINUTES').lower()}"
        raise located(
            f"a validity period of {shown} is longer than the provider keeps a message (48 hours)",
            at=("validityPeriod",),
            hint="give at most 2880 minutes; the provider would cut it to 48 hours",
        )


class LineContent(_Model):
    """LINE content: a text, or one rich type. Every string is a Jinja2 template."""

    type: Literal["TEXT", "IMAGE", "VIDEO", "AUDIO", "STICKER"] = "TEXT"
    text: str | None = None
    url: str | None = None
    thumbnailUrl: str | None = None
    duration: StrictInt | None = Field(default=None, ge=1, description="AUDIO length in milliseconds")
    packageId: str | None = None
    stickerId: str | None = None
    validityPeriod: StrictInt | None = Field(default=None, ge=1)
    validityPeriodTimeUnit: TimeUnit | None = None

    @model_validator(mode="after")
    def _validity(self) -> LineContent:
        _check_validity(self.validityPeriod, self.validityPeriodTimeUnit)
        return self

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
    validityPeriod: StrictInt | None = Field(default=None, ge=1)
    validityPeriodTimeUnit: TimeUnit | None = None
    transliteration: Transliteration | None = None

    @model_validator(mode="after")
    def _validity(self) -> SmsContent:
        _check_validity(self.validityPeriod, self.validityPeriodTimeUnit)
        return self

    def template_fields(self) -> dict[str, str]:
        return {"text": self.text}


OutcomeGroup = Literal["delivered", "undeliverable", "expired", "rejected"]
DEFAULT_CANARY_MIN = 50


class Canary(_Model):
    """Send a sample first, wait for its final reports, and decide whether to send the rest."""

    share: Share | None = Field(default=None, description='share of the recipients to send first, e.g. "1%"')
    count: int | None = Field(default=None, ge=1, description="or a number of recipients to send first")
    min: int | None = Field(
        default=None, ge=1, description="final reports needed to decide (default 50, at most count)"
    )
    wait: Duration = Field(default=1200.0, description="how long to wait for the canary's final reports")
    require: dict[OutcomeGroup, ConditionField] = Field(
        min_length=1, description='conditions over the canary\'s final outcomes, e.g. delivered: ">= 90%"'
    )

    @model_validator(mode="after")
    def _size(self) -> Canary:
        if (self.share is None) == (self.count is None):
            raise ValueError("give the canary's size as share (e.g. 1%) or as count, not both")
        if self.count is not None and self.min is not None and self.min > self.count:
            raise located(
                f"send.canary.min ({self.min}) is more than send.canary.count ({self.count})",
                at=("min",),
                hint="lower min, or raise count",
            )
        return self

    @property
    def min_reports(self) -> int:
        """Final outcomes needed before the canary can pass or fail."""
        if self.min is not None:
            return self.min
        return DEFAULT_CANARY_MIN if self.count is None else min(self.count, DEFAULT_CANARY_MIN)


class StopWhen(_Model):
    """Stop sending when errors pass a share or count (checked once ``after`` outcomes are known)."""

    rejected: ConditionField | None = Field(default=None, description="over the send answers")
    undeliverable: ConditionField | None = Field(default=None, description="over the final reports so far")
    after: int = Field(default=200, ge=1, description="answers (or final reports) before a condition counts")

    @model_validator(mode="after")
    def _some(self) -> StopWhen:
        if self.rejected is None and self.undeliverable is None:
            raise ValueError("give at least one condition: rejected or undeliverable")
        return self


Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: object) -> str:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise ValueError(f'expected a local time such as "09:00" (HH:MM, 24-hour), got {value!r}')
    return value


class LocalHours(_Model):
    """Send only in the recipient's own daytime: the window in local wall-clock time, on the allowed days."""

    start: Annotated[str, BeforeValidator(_clock_time)] = Field(alias="from", description="opens, HH:MM local")
    end: Annotated[str, BeforeValidator(_clock_time)] = Field(alias="to", description="closes, HH:MM local")
    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), min_length=1, description="allowed local weekdays"
    )
    zone: str = Field(
        default="auto",
        min_length=1,
        description="auto (from the phone number), or the CSV column holding each recipient's IANA zone",
    )
    fallback: str | None = Field(
        default=None, min_length=1, description="IANA zone for recipients whose zone cannot be known"
    )

    @model_validator(mode="after")
    def _opens_before_it_closes(self) -> LocalHours:
        if self.end <= self.start:
            raise located(
                f"send.localHours.to: {self.end} is not later than from ({self.start})",
                at=("to",),
                hint='the window is one stretch of a local day, e.g. from: "09:00", to: "20:00"',
            )
        return self


class Send(_Model):
    """How fast and when to send."""

    rateLimit: Rate = Field(default=20.0, description="requests per second to the provider")
    batchSize: StrictInt = Field(
        default=500, ge=1, le=1000, description="destinations per request when payloads are identical"
    )
    concurrency: StrictInt = Field(default=32, ge=1, le=64, description="requests in flight at once")
    notBefore: Annotated[datetime, AfterValidator(_aware)] | None = None
    notAfter: Annotated[datetime, AfterValidator(_aware)] | None = None
    canary: Canary | None = Field(default=None, description="send a sample first and decide from its reports")
    stopWhen: StopWhen | None = Field(default=None, description="stop sending when errors pass a threshold")
    localHours: LocalHours | None = Field(default=None, description="send in each recipient's local daytime")

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


_CALLING_CODE = re.compile(r"^[1-9][0-9]{0,2}$")


def _price_table(value: float | dict[str, float] | None) -> float | dict[str, float] | None:
    if isinstance(value, dict):
        for key, price in value.items():
            if key != "default" and not _CALLING_CODE.match(key):
                raise ValueError(f"{key!r} is not a country calling code (1 to 3 digits, e.g. 385) or 'default'")
            if price < 0:
                raise ValueError(f"the price for {key} cannot be negative")
    elif value is not None and value < 0:
        raise ValueError("a price cannot be negative")
    return value


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError(f"{value!r} is not a currency code: use the 3 capital letters of ISO 4217, e.g. EUR")
    return value


PriceTable = Annotated[float | dict[str, float], AfterValidator(_price_table)]


class Pricing(_Model):
    """Prices for the plan's cost estimate (the provider's invoice is the truth; this is for review)."""

    currency: Annotated[str, AfterValidator(_currency)] = Field(description="ISO 4217 currency code, e.g. EUR")
    SMS: PriceTable | None = Field(
        default=None,
        description="price of one SMS part; or country calling code (e.g. '385') -> price, 'default' for the rest",
    )
    LINE: PriceTable | None = Field(
        default=None,
        description="price of one LINE message; or country calling code -> price, 'default' for the rest",
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
    pricing: Pricing | None = Field(default=None, description="optional: prices for the plan's cost estimate")

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
