"""Simulated delivery: each step of the flow in order, its outcome decided by the address and the seed.

The rules are documented for users in ``campaigner/sandbox/README.md``; keep the two in step.
Times here are simulated seconds after ``sentAt``; the model turns them into real seconds with
``time_scale``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TIME_SCALE = 1800.0  # simulated seconds per real second: 30 simulated minutes a second
DEFAULT_NO_LINE_SHARE = 0.25  # LINE addresses without LINE, chosen by hash
DEFAULT_SMS_FAILURE_RATE = 0.02  # phone numbers absent, chosen by hash

MIN_VALIDITY = 30.0
MAX_VALIDITY = 48 * 3600.0
UNIT_SECONDS = {
    "NANOSECONDS": 1e-9,
    "MICROSECONDS": 1e-6,
    "MILLISECONDS": 1e-3,
    "SECONDS": 1.0,
    "MINUTES": 60.0,
    "HOURS": 3600.0,
    "DAYS": 86400.0,
}

CURRENCY = "EUR"
PRICE = {"SMS": 0.0104, "LINE": 0.005}  # SMS per part, LINE per message

# How long a step takes, in simulated seconds, when it does not wait out its validity period.
LINE_DELIVERED_AFTER = 2.0
LINE_UNKNOWN_USER_AFTER = 1.0
SMS_DELIVERED_AFTER = 5.0
SMS_FAILED_AFTER = 3.0

_PHONE = re.compile(r"\+?[0-9]{6,15}")


@dataclass(frozen=True, slots=True)
class Status:
    group_id: int
    group_name: str
    id: int
    name: str
    description: str

    def as_json(self) -> dict[str, Any]:
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Error:
    group_id: int
    group_name: str
    id: int
    name: str
    description: str
    permanent: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "permanent": self.permanent,
        }


PENDING_ENROUTE = Status(1, "PENDING", 7, "PENDING_ENROUTE", "Message sent to next instance")
PENDING_ACCEPTED = Status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message accepted, pending for delivery")
DELIVERED = Status(3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", "Message delivered to handset")
UNDELIVERABLE = Status(2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered")
EXPIRED = Status(4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired")
REJECTED_DESTINATION = Status(5, "REJECTED", 52, "REJECTED_DESTINATION", "Invalid destination address")
REJECTED_ROUTE = Status(5, "REJECTED", 19, "REJECTED_ROUTE_NOT_AVAILABLE", "Route not available")
REJECTED_DND = Status(5, "REJECTED", 10, "REJECTED_DND", "Destination on do-not-disturb list")

STATUSES = {
    s.id: s
    for s in (
        PENDING_ENROUTE,
        PENDING_ACCEPTED,
        DELIVERED,
        UNDELIVERABLE,
        EXPIRED,
        REJECTED_DESTINATION,
        REJECTED_ROUTE,
        REJECTED_DND,
    )
}

NO_ERROR = Error(0, "OK", 0, "NO_ERROR", "No Error", False)
UNKNOWN_SUBSCRIBER = Error(1, "HANDSET_ERRORS", 1, "EC_UNKNOWN_SUBSCRIBER", "Unknown Subscriber", True)
ABSENT_SUBSCRIBER = Error(1, "HANDSET_ERRORS", 6, "EC_ABSENT_SUBSCRIBER_SM", "Absent Subscriber", False)
VALIDITY_EXPIRED = Error(2, "USER_ERRORS", 4101, "EC_VALIDITY_EXPIRED", "Validity expired", True)
UNKNOWN_USER = Error(1, "HANDSET_ERRORS", 7002, "EC_UNKNOWN_USER", "User is unknown or not registered", True)
ERRORS = {e.id: e for e in (NO_ERROR, UNKNOWN_SUBSCRIBER, ABSENT_SUBSCRIBER, VALIDITY_EXPIRED, UNKNOWN_USER)}

# Country calling code -> an illustrative MCC+MNC of one network of that country.
MCC_MNC = {
    "1": "310260", "7": "25001", "20": "60201", "27": "65501", "30": "20201", "31": "20408",
    "32": "20601", "33": "20801", "34": "21401", "36": "21630", "39": "22201", "40": "22601",
    "41": "22801", "43": "23201", "44": "23410", "45": "23801", "46": "24001", "47": "24201",
    "48": "26001", "49": "26201", "52": "334020", "55": "72405", "60": "50212", "61": "50501",
    "62": "51010", "63": "51502", "64": "53001", "65": "52501", "66": "52001", "81": "44010",
    "82": "45005", "84": "45204", "86": "46000", "90": "28601", "91": "40410", "351": "26801",
    "353": "27201", "358": "24491", "380": "25501", "381": "22001", "385": "21901", "386": "29340",
    "387": "21890", "420": "23001", "421": "23101", "852": "45400", "853": "45500", "855": "45606",
    "856": "45701", "886": "46692", "971": "42402",
}  # fmt: skip


def mcc_mnc(phone_number: str | None) -> str | None:
    """The MCC+MNC the sandbox reports for a number (longest calling-code match), or None."""
    if not phone_number:
        return None
    digits = phone_number.lstrip("+")
    for n in (3, 2, 1):
        found = MCC_MNC.get(digits[:n])
        if found:
            return found
    return None


def validity_seconds(period: int | None, unit: str | None) -> float:
    """A channel's validity period in seconds: minutes by default, 48 h when absent, clamped 30 s..48 h."""
    if period is None:
        return MAX_VALIDITY
    seconds = period * UNIT_SECONDS.get(unit or "MINUTES", 60.0)
    return min(MAX_VALIDITY, max(MIN_VALIDITY, seconds))


@dataclass(frozen=True, slots=True)
class FlowStep:
    channel: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelContent:
    """What one channel object of a send request means for delivery (the same for every destination)."""

    validity: float  # seconds
    message_count: int = 1  # SMS parts; 1 for other channels
    text: str | None = None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One step of one message: where it went, when it started and ended (simulated seconds)."""

    channel: str
    to: str | None
    sender: str | None
    start: float
    end: float
    status: Status
    error: Error
    message_count: int
    price: float
    mcc_mnc: str | None

    def to_json(self) -> list[Any]:
        return [
            self.channel,
            self.to,
            self.sender,
            self.start,
            self.end,
            self.status.id,
            self.error.id,
            self.message_count,
            self.price,
            self.mcc_mnc,
        ]

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> StepOutcome:
        channel, to, sender, start, end, status, error, count, price, mccmnc = row
        return cls(channel, to, sender, start, end, STATUSES[status], ERRORS[error], count, price, mccmnc)


def _address(to: Mapping[str, Any], key: str) -> str | None:
    value = to.get(key)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    """The deterministic outcome rules; ``seed`` changes which addresses the hashed shares pick."""

    seed: int = 0
    no_line_share: float = DEFAULT_NO_LINE_SHARE
    sms_failure_rate: float = DEFAULT_SMS_FAILURE_RATE
    reject_suffix: str | None = None  # phone numbers ending so are rejected in the send answer (off: None)

    def rejected_at_send(self, to: Mapping[str, Any]) -> bool:
        """The send answer rejects this destination (REJECTED_DND): nothing is stored, reported or logged."""
        number = to.get("phoneNumber")
        suffix = self.reject_suffix
        return bool(suffix) and isinstance(number, str) and number.endswith(suffix or "")

    def share(self, channel: str, address: str) -> float:
        """A number in [0, 1) fixed by the seed, the channel and the address."""
        digest = hashlib.blake2b(f"{self.seed}\x00{channel}\x00{address}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    def simulate(
        self,
        to: Mapping[str, Any],
        flow: Sequence[FlowStep],
        content: Mapping[str, ChannelContent],
    ) -> list[StepOutcome]:
        """Every step the message goes through, in order; the last one is the message's outcome."""
        steps: list[StepOutcome] = []
        start = 0.0
        for step in flow:
            channel_content = content.get(step.channel, ChannelContent(MAX_VALIDITY))
            outcome = self._step(to, step, channel_content, start)
            steps.append(outcome)
            if outcome.status is DELIVERED:
                break
            start = outcome.end
        return steps

    def _step(self, to: Mapping[str, Any], step: FlowStep, content: ChannelContent, start: float) -> StepOutcome:
        phone = _address(to, "phoneNumber")
        if step.channel == "LINE":
            address = _address(to, "lineUserKey") or phone
            status, error, duration = self._line(address, content.validity)
            count, unit_price = 1, PRICE["LINE"]
        elif step.channel == "SMS":
            address = phone.lstrip("+") if phone else None
            status, error, duration = self._sms(address, content.validity)
            count, unit_price = content.message_count, PRICE["SMS"]
        else:  # accepted in scenarios, not simulated: the step ends at once and the flow moves on
            address, status, error, duration = None, REJECTED_ROUTE, NO_ERROR, 0.0
            count, unit_price = 1, 0.0
        price = 0.0 if status.group_name == "REJECTED" else unit_price
        return StepOutcome(
            step.channel, address, step.sender, start, start + duration, status, error, count, price,
            mcc_mnc(phone),
        )  # fmt: skip

    def _line(self, key: str | None, validity: float) -> tuple[Status, Error, float]:
        if key is None or key.startswith("unreachable-"):
            return UNDELIVERABLE, UNKNOWN_USER, min(LINE_UNKNOWN_USER_AFTER, validity)
        if key.startswith("expire-"):
            return EXPIRED, VALIDITY_EXPIRED, validity
        if key.startswith("delivered-") or self.share("LINE", key) >= self.no_line_share:
            return DELIVERED, NO_ERROR, min(LINE_DELIVERED_AFTER, validity)
        return UNDELIVERABLE, UNKNOWN_USER, min(LINE_UNKNOWN_USER_AFTER, validity)

    def _sms(self, number: str | None, validity: float) -> tuple[Status, Error, float]:
        if number is None or not _PHONE.fullmatch(number):
            return REJECTED_DESTINATION, NO_ERROR, 0.0
        if number.endswith("000"):
            return UNDELIVERABLE, UNKNOWN_SUBSCRIBER, min(SMS_FAILED_AFTER, validity)
        if number.endswith("999"):
            return EXPIRED, VALIDITY_EXPIRED, validity
        if number.endswith("111"):
            return DELIVERED, NO_ERROR, min(SMS_DELIVERED_AFTER, validity)
        if number.endswith("998") or self.share("SMS", number) < self.sms_failure_rate:
            return UNDELIVERABLE, ABSENT_SUBSCRIBER, min(SMS_FAILED_AFTER, validity)
        return DELIVERED, NO_ERROR, min(SMS_DELIVERED_AFTER, validity)
