"""The plan digest: one hash of exactly what a plan would send, and what differs from a reviewed one.

The digest covers the scenario action (with the scenario's name and flow), then each message to send, in
plan order: its message id and its payload hash. Message ids derive from the target, the campaign and the
recipient; payload hashes from the rendered content. Neither holds a path, a time or a random value, so
the same inputs and ledger give the same digest on every machine and in every working directory.

Beside the hash, three small figures let a mismatch be explained in counts: the number of messages, an
order-free fingerprint of the recipients and one of the payloads. ``token()`` carries all of them
(``sha256:…,messages=N,recipients=…,payloads=…,scenario=…``); ``--expect-digest`` takes the token or the
bare ``sha256:…``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from campaigner.plan.ids import canonical_json

PREFIX = "sha256:"
_MASK = (1 << 64) - 1
_TOKEN = re.compile(r"^sha256:[0-9a-f]{64}(,[a-z_]+=[^,]*)*$")


@dataclass(frozen=True)
class PlanDigest:
    """A plan's digest and its explaining figures (``None`` when only the bare hash is known)."""

    value: str
    messages: int | None = None
    recipients: str | None = None
    payloads: str | None = None
    scenario: str | None = None

    def token(self) -> str:
        return (
            f"{self.value},messages={self.messages},recipients={self.recipients},"
            f"payloads={self.payloads},scenario={self.scenario}"
        )

    @classmethod
    def parse(cls, text: str) -> PlanDigest:
        """``sha256:HEX`` or a full token; ValueError with a readable reason otherwise."""
        text = text.strip()
        if not _TOKEN.match(text):
            raise ValueError("expected sha256: and 64 hex digits, as `campaigner plan` prints after 'Plan digest:'")
        value, *fields = text.split(",")
        parts = dict(f.split("=", 1) for f in fields)
        messages = parts.get("messages")
        if messages is not None and not messages.isdigit():
            raise ValueError(f"messages={messages} is not a count")
        return cls(
            value,
            int(messages) if messages is not None else None,
            parts.get("recipients"),
            parts.get("payloads"),
            parts.get("scenario"),
        )

    def differences(self, reviewed: PlanDigest) -> str:
        """What differs from the ``reviewed`` digest, in counts where the reviewed figures are known."""
        if self.value == reviewed.value:
            return "nothing"
        parts: list[str] = []
        if reviewed.scenario is not None and reviewed.scenario != self.scenario:
            parts.append(f"scenario {self.scenario} (reviewed: {reviewed.scenario})")
        if reviewed.messages is not None and self.messages is not None:
            diff = self.messages - reviewed.messages
            if diff:
                word = "more" if diff > 0 else "fewer"
                parts.append(
                    f"{abs(diff)} {word} message{'s' if abs(diff) != 1 else ''} to send "
                    f"({self.messages}, reviewed {reviewed.messages})"
                )
            elif reviewed.recipients is not None and reviewed.recipients != self.recipients:
                parts.append(f"other recipients (the same count, {self.messages})")
        if reviewed.payloads is not None and reviewed.payloads != self.payloads:
            parts.append("the payloads differ (a template, a variable or a CSV value changed)")
        if not parts and reviewed.messages is None:
            parts.append(f"now {self.messages} message(s) to send, scenario {self.scenario}")
        if not parts:
            parts.append("the same messages and payloads, assigned or ordered differently")
        return "; ".join(parts)


class DigestBuilder:
    """Fed each message to send in plan order; ``result()`` is the plan's :class:`PlanDigest`.

    Messages are taken in chunks (about 1 µs each on a laptop-class core: a 1,000,000-row plan pays ~1 s).
    """

    CHUNK = 4096

    def __init__(self, action: str, name: str, flow: Sequence[tuple[str, str]]) -> None:
        self._hash = hashlib.sha256()
        self._action = action
        head = {"digest": 1, "scenario": {"action": action, "name": name, "flow": [list(step) for step in flow]}}
        self._hash.update((canonical_json(head) + "\n").encode("utf-8"))
        self.messages = 0
        self._recipients = 0
        self._payloads = 0
        self._pending: list[tuple[str, str]] = []

    def add(self, message_id: str, payload_hash: str) -> None:
        self._pending.append((message_id, payload_hash))
        if len(self._pending) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        chunk, self._pending = self._pending, []
        self._hash.update("".join([f"{m} {p}\n" for m, p in chunk]).encode("ascii"))
        self.messages += len(chunk)
        # Both are hash values already (hex): their low bits summed are order-free fingerprints.
        self._recipients = (self._recipients + sum(map(int, [m[-12:] for m, _ in chunk], repeat(16)))) & _MASK
        self._payloads = (self._payloads + sum(map(int, [p[:16] for _, p in chunk], repeat(16)))) & _MASK

    def result(self) -> PlanDigest:
        self._flush()
        return PlanDigest(
            PREFIX + self._hash.hexdigest(),
            self.messages,
            f"{self._recipients:016x}",
            f"{self._payloads:016x}",
            self._action,
        )
