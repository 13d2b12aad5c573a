"""The OMNI API's request and response bodies as frozen pydantic models (see shared/omni-api.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Self, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CHANNELS",
    "AdvancedRequest",
    "Channel",
    "DeliveryReport",
    "Destination",
    "FlowStep",
    "LineData",
    "OmniLog",
    "Price",
    "ReportError",
    "Scenario",
    "ScenarioList",
    "ScenarioRequest",
    "SendResponse",
    "SentMessage",
    "SentTo",
    "SmsData",
    "SmsLanguage",
    "Status",
    "To",
    "format_timestamp",
    "parse_timestamp",
]

Channel = Literal[
    "SMS", "EMAIL", "VOICE", "PUSH", "VIBER", "LINE", "VKONTAKTE", "KAKAO_CHINGU", "KAKAO_ALIM", "WHATSAPP"
]
CHANNELS: tuple[str, ...] = get_args(Channel)
TimeUnit = Literal["SECONDS", "MINUTES", "HOURS"]
LineType = Literal["TEXT", "IMAGE", "VIDEO", "AUDIO", "STICKER", "FLEX"]

# Answers tolerate fields the provider adds later; requests are exact.
_ANSWER = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
_REQUEST = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def parse_timestamp(value: str) -> datetime:
    """The provider's ``2016-02-23T17:41:11.833+0100`` (or ``+01:00``, or no fraction) -> aware datetime."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a provider timestamp: {value!r}")


def format_timestamp(value: datetime) -> str:
    """A datetime -> the provider's ``2016-02-23T17:41:11.833+0100``; a naive one is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}{value:%z}"


# --- scenarios -------------------------------------------------------------------------------------


class FlowStep(BaseModel):
    """One step of a scenario's flow; ``from`` is the sender (for LINE, the LINE application key)."""

    # Extra fields are dropped so that two steps compare equal on (from, channel) only.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    channel: str

    def to_body(self) -> dict[str, str]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Scenario(BaseModel):
    """A scenario as the provider returns it; ``key`` is kept as a string whatever its JSON type."""

    model_config = _ANSWER

    key: str
    name: str | None = None
    flow: tuple[FlowStep, ...] = ()
    default: bool = Field(default=False, validation_alias=AliasChoices("default", "defaultScenario"))

    @field_validator("key", mode="before")
    @classmethod
    def _key_as_string(cls, value: object) -> object:
        # The OpenAPI says int64, the examples and the seed say a 32-character string.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class ScenarioList(BaseModel):
    """``GET /omni/1/scenarios``."""

    model_config = _ANSWER

    scenarios: tuple[Scenario, ...] = ()


class _RequestStep(BaseModel):
    model_config = _REQUEST

    from_: str | None = Field(default=None, alias="from")
    channel: Channel


class ScenarioRequest(BaseModel):
    """The body of ``POST /omni/1/scenarios`` and ``PUT /omni/1/scenarios/{key}``."""

    model_config = _REQUEST

    name: str | None = None
    flow: tuple[_RequestStep, ...] = Field(min_length=1)
    default: bool | None = None

    @field_validator("flow", mode="before")
    @classmethod
    def _steps_as_dicts(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            return [v.to_body() if isinstance(v, FlowStep) else v for v in value]
        return value

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- sending ---------------------------------------------------------------------------------------


class To(BaseModel):
    """A destination's addresses: the seed sends LINE to ``lineUserKey``, SMS to ``phoneNumber``."""

    model_config = _REQUEST

    phoneNumber: str | None = None
    lineUserKey: str | None = None

    @model_validator(mode="after")
    def _some_address(self) -> To:
        if self.phoneNumber is None and self.lineUserKey is None:
            raise ValueError("a destination needs phoneNumber or lineUserKey")
        return self


class Destination(BaseModel):
    model_config = _REQUEST

    messageId: str | None = None
    to: To


_LINE_NEEDS: dict[str, tuple[str, ...]] = {
    "TEXT": ("text",),
    "IMAGE": ("url", "thumbnailUrl"),
    "VIDEO": ("url", "thumbnailUrl"),
    "AUDIO": ("url", "duration"),
    "STICKER": ("packageId", "stickerId"),
    "FLEX": ("altText", "contents"),
}


class LineData(BaseModel):
    """The ``line`` object; which fields are required depends on ``type`` (TEXT when absent)."""

    model_config = _REQUEST

    type: LineType | None = None
    text: str | None = Field(default=None, max_length=5000)
    validityPeriod: int | None = Field(default=None, gt=0)
    validityPeriodTimeUnit: TimeUnit | None = None
    url: str | None = Field(default=None, max_length=1000)
    thumbnailUrl: str | None = Field(default=None, max_length=1000)
    duration: int | None = Field(default=None, gt=0)
    packageId: str | None = None
    stickerId: str | None = None
    altText: str | None = Field(default=None, max_length=400)
    contents: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> LineData:
        missing = [name for name in _LINE_NEEDS[self.type or "TEXT"] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"LINE {self.type or 'TEXT'} message needs {', '.join(missing)}")
        return self


class SmsLanguage(BaseModel):
    model_config = _REQUEST

    languageCode: Literal["NONE", "TR", "ES", "PT", "AUTODETECT"]


class SmsData(BaseModel):
    """The ``sms`` object; no ``from``: the sender comes from the scenario step."""

    model_config = _REQUEST

    text: str = Field(min_length=1)
    validityPeriod: int | None = Field(default=None, gt=0)
    validityPeriodTimeUnit: TimeUnit | None = None
    transliteration: str | None = None
    language: SmsLanguage | None = None


class AdvancedRequest(BaseModel):
    """The body of ``POST /omni/1/advanced``. The client sends plain dicts; this model checks them."""

    model_config = _REQUEST

    scenarioKey: str | None = None
    bulkId: str | None = None
    destinations: tuple[Destination, ...] = Field(min_length=1)
    line: LineData | None = None
    sms: SmsData | None = None
    notifyUrl: str | None = None
    notify: bool | None = None
    intermediateReport: bool | None = None
    callbackData: str | None = Field(default=None, max_length=4000)
    sendAt: str | None = None

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Status(BaseModel):
    """A message status: group (PENDING, DELIVERED, ...) and detail."""

    model_config = _ANSWER

    groupId: int
    groupName: str
    id: int
    name: str
    description: str | None = None


class SentTo(BaseModel):
    """The destination as sent, echoed in the send answer."""

    model_config = _ANSWER

    phoneNumber: str | None = None
    lineUserKey: str | None = None


class SentMessage(BaseModel):
    model_config = _ANSWER

    to: SentTo
    status: Status
    messageId: str


class SendResponse(BaseModel):
    """The answer to ``POST /omni/1/advanced``; ``bulkId`` only for more than one destination."""

    model_config = _ANSWER

    bulkId: str | None = None
    messages: tuple[SentMessage, ...] = ()


# --- reports and logs ------------------------------------------------------------------------------


class Price(BaseModel):
    model_config = _ANSWER

    pricePerMessage: Decimal | None = None
    currency: str | None = None


class ReportError(BaseModel):
    model_config = _ANSWER

    groupId: int
    groupName: str
    id: int
    name: str
    description: str | None = None
    permanent: bool = False


class _Outcome(BaseModel):
    model_config = _ANSWER

    bulkId: str | None = None
    messageId: str
    to: str | None = None
    sentAt: str | None = None
    doneAt: str | None = None
    messageCount: int | None = None
    mccMnc: str | None = None
    price: Price | None = None
    status: Status
    channel: str | None = None

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Self:
        """Parse one raw dict as returned by the client (the ledger keeps the raw dict itself)."""
        return cls.model_validate(raw)


class DeliveryReport(_Outcome):
    """One final (or intermediate) delivery report; each is returned by the provider only once."""

    error: ReportError | None = None
    callbackData: str | None = None


class OmniLog(_Outcome):
    """One log entry: like a report, without ``error``, with ``from`` and ``text``; readable again."""

    from_: str | None = Field(default=None, alias="from")
    text: str | None = None
