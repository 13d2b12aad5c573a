"""A planned message and its payload: one recipient's rendered content, address and (maybe) its sendAt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaigner.content.sms import SmsMeasure


@dataclass(frozen=True, slots=True)
class Payload:
    """One rendered content: the API's ``line`` and ``sms`` objects, shared by identical recipients."""

    hash: str
    body: dict[str, Any]
    sms: SmsMeasure | None


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One recipient's message."""

    row: int
    recipient_id: str
    message_id: str
    to: dict[str, str]
    payload: Payload
    zones: tuple[str, ...] = ()  # with send.localHours: the recipient's IANA zones
    send_at: datetime | None = None  # scheduled for this instant (send.localHours); None: at once
