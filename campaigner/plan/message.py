"""A planned message and its payload: one recipient's rendered content, address and (maybe) its sendAt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaigner.content.sms import SmsMeasure


class Payload:
    """One rendered content: the API's ``line`` and ``sms`` objects, shared by identical recipients.

    ``hash`` is :func:`campaigner.plan.ids.payload_hash` of ``body``. A payload made in a planning worker
    travels as its canonical JSON (``json``) and is decoded into ``body`` only when read, since a plan
    reads few of them. Treat it as read-only.
    """

    __slots__ = ("_body", "hash", "json", "sms")

    def __init__(self, hash: str, body: dict[str, Any] | None, sms: SmsMeasure | None, json: str | None = None) -> None:
        if body is None and json is None:
            raise ValueError("a payload needs its body or its JSON")
        self.hash = hash
        self._body = body
        self.sms = sms
        self.json = json

    @property
    def body(self) -> dict[str, Any]:
        body = self._body
        if body is None:
            body = self._body = json.loads(self.json)  # type: ignore[arg-type]  # one of the two is set
        return body

    def __repr__(self) -> str:
        return f"Payload({self.hash!r}, {self.body!r}, {self.sms!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Payload):
            return NotImplemented
        return (self.hash, self.body, self.sms) == (other.hash, other.body, other.sms)

    def __hash__(self) -> int:
        return hash(self.hash)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its hash, JSON and measure: ~10x cheaper than the default (planning workers)."""
        if self.json is None:
            from campaigner.plan.ids import canonical_json

            self.json = canonical_json(self._body)
        return (Payload, (self.hash, None, self.sms, self.json))


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 µs more to make, once per row
class PlannedMessage:
    """One recipient's message (treat as read-only)."""

    row: int
    recipient_id: str
    message_id: str
    to: dict[str, str]
    payload: Payload
    zones: tuple[str, ...] = ()  # with send.localHours: the recipient's IANA zones
    send_at: datetime | None = None  # scheduled for this instant (send.localHours); None: at once

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as flat fields (planning workers send messages to the main process; ~10x cheaper)."""
        to = self.to
        return (
            _restored,
            (self.row, self.recipient_id, self.message_id, to.get("phoneNumber"), to.get("lineUserKey"), self.payload)
            + ((self.zones, self.send_at) if self.zones or self.send_at else ()),
        )


def _restored(
    row: int,
    recipient_id: str,
    message_id: str,
    phone: str | None,
    line: str | None,
    payload: Payload,
    zones: tuple[str, ...] = (),
    send_at: datetime | None = None,
) -> PlannedMessage:
    to = {}
    if phone is not None:
        to["phoneNumber"] = phone
    if line is not None:
        to["lineUserKey"] = line
    return PlannedMessage(row, recipient_id, message_id, to, payload, zones, send_at)
