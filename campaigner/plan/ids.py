"""Deterministic identifiers: a recipient's messageId and a campaign's bulkId, per target.

The same target, campaign and recipient always give the same messageId, so a resend after a crash
carries the id the provider may already have, and the provider's logs can tell whether it does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any


def _digest(*parts: str, size: int) -> str:
    h = hashlib.blake2b(digest_size=size, person=b"campaigner")
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def message_id(target_id: str, campaign: str, recipient_id: str) -> str:
    """A UUID-shaped id (36 characters) unique to (target, campaign, recipient)."""
    h = _digest("message", target_id, campaign, recipient_id, size=16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def message_ids(target_id: str, campaign: str) -> Callable[[str], str]:
    """``message_id`` for one target and campaign, faster per recipient (the common prefix hashed once)."""
    base = hashlib.blake2b(digest_size=16, person=b"campaigner")
    for part in ("message", target_id, campaign):
        base.update(part.encode("utf-8"))
        base.update(b"\x00")

    def make(recipient_id: str) -> str:
        h = base.copy()
        h.update(recipient_id.encode("utf-8"))
        h.update(b"\x00")
        x = h.hexdigest()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"

    return make


def bulk_id(target_id: str, campaign: str) -> str:
    """The campaign's bulkId on a target: readable, and unique to (target, campaign)."""
    return f"{campaign}-{_digest('bulk', target_id, campaign, size=6)}"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return _CANONICAL.encode(value)


def payload_hash(body: Mapping[str, Any]) -> str:
    """A short, stable hash of a rendered payload (the ``line`` and ``sms`` objects)."""
    return hashlib.blake2b(canonical_json(body).encode("utf-8"), digest_size=12).hexdigest()
