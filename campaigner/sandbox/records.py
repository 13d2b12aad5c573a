"""The sandbox's records: scenarios, parsed send requests and accepted messages (plain frozen values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from campaigner.sandbox.delivery import (
    PENDING_ACCEPTED,
    PENDING_ENROUTE,
    ChannelContent,
    FlowStep,
    Status,
    StepOutcome,
)


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    name: str | None
    flow: tuple[FlowStep, ...]
    default: bool

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key}
        if self.name is not None:
            body["name"] = self.name
        body["flow"] = [_step_json(step) for step in self.flow]
        body["default"] = self.default
        return body


def _step_json(step: FlowStep) -> dict[str, str]:
    return {"from": step.sender, "channel": step.channel} if step.sender is not None else {"channel": step.channel}


@dataclass(frozen=True, slots=True)
class ScenarioDraft:
    """A create or update body; ``None`` means "not given" (an update keeps the current value)."""

    name: str | None
    flow: tuple[FlowStep, ...]
    default: bool | None


@dataclass(frozen=True, slots=True)
class Destination:
    message_id: str | None
    to: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A parsed ``POST /omni/1/advanced`` body."""

    scenario_key: str | None
    bulk_id: str | None
    destinations: tuple[Destination, ...]
    content: Mapping[str, ChannelContent]  # by channel name (LINE, SMS, ...), for the objects present
    callback_data: str | None = None
    send_at: float | None = None  # epoch seconds


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the send answer needs: the bulkId to show (only for several destinations) and each message."""

    bulk_id: str | None
    messages: tuple[tuple[Mapping[str, Any], str], ...]
    rejected: frozenset[str] = frozenset()  # message ids the answer rejects (rejected_at_send)


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One accepted destination as stored, with everything a report or a log needs."""

    message_id: str
    bulk_id: str | None
    accepted_at: float
    sent_at: float  # epoch seconds, as shown in sentAt
    ready_at: float  # epoch seconds of the sandbox clock when the outcome is known
    steps: tuple[StepOutcome, ...]
    texts: Mapping[str, str]
    callback_data: str | None

    @property
    def final(self) -> StepOutcome:
        return self.steps[-1]

    @property
    def done_at(self) -> float:
        """doneAt: sentAt plus the simulated time the flow took."""
        return self.sent_at + self.final.end

    def current(self, now: float, time_scale: float) -> tuple[StepOutcome, Status | None]:
        """The step a log shows at ``now``, and the PENDING status to show instead of its own (or None)."""
        if now >= self.ready_at:
            return self.final, None
        if now < self.sent_at:  # held until the sandbox's clock reaches sendAt
            return self.steps[0], PENDING_ACCEPTED
        elapsed = (now - self.sent_at) * time_scale
        for step in self.steps:
            if elapsed < step.end:
                return step, PENDING_ENROUTE
        return self.final, PENDING_ENROUTE
