"""A sending job: the campaign and target it sends, what it tells the watcher, and what it did."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from campaigner.campaign.spec import StopWhen
    from campaigner.plan.build import PlannedMessage
    from campaigner.recipients.reader import Skip
    from campaigner.sending.target import Target


class Progress(Protocol):
    """What apply tells the person watching (a bar on a terminal, lines in CI)."""

    def phase(self, text: str) -> None: ...

    def sending(self, total: int) -> None: ...

    def sent(self, accepted: int, rejected: int, unknown: int) -> None: ...

    def done_sending(self) -> None: ...


@dataclass
class SendCounts:
    """What one apply did."""

    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    adopted: int = 0
    resent: int = 0
    requests: int = 0
    window_closed: int = 0
    stopped: str | None = None  # why send.stopWhen stopped the send
    rejections: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """A campaign to send on a target: everything the sending loop needs, nothing it must look up."""

    target: Target
    campaign: str
    bulk_id: str
    messages: Callable[[], Iterator[PlannedMessage | Skip]]
    batch_size: int
    rate: float
    concurrency: int
    not_after: datetime | None = None
    stop_when: StopWhen | None = None


def merge(total: SendCounts, part: SendCounts) -> None:
    total.accepted += part.accepted
    total.rejected += part.rejected
    total.unknown += part.unknown
    total.requests += part.requests
    for k, v in part.rejections.items():
        total.rejections[k] = total.rejections.get(k, 0) + v
