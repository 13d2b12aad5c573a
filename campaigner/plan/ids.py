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
    return hash_of_json(canonical_json(body))


def hash_of_json(text: str) -> str:
    """:func:`payload_hash` of the payload whose :func:`canonical_json` is ``text``."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


_encode_str = json.encoder.encode_basestring  # what the encoder above uses for strings (ensure_ascii=False)
_Shape = tuple[tuple[str, str, int, tuple[tuple[str, str], ...]], ...]


class PayloadEncoder:
    """:func:`canonical_json` of payloads, about 3x faster for the shape every payload of a campaign has.

    The first payload sets the shape: objects (``line``, ``sms``) of strings, integers, booleans and
    nulls. A payload of that shape is written from the keys sorted once; any other takes
    :func:`canonical_json`. Either way the text is the same (tests/plan/test_ids.py checks it).
    """

    __slots__ = ("_shape",)

    def __init__(self) -> None:
        self._shape: _Shape | bool | None = None

    def __call__(self, body: Mapping[str, Any]) -> str:
        shape = self._shape
        if shape is None:
            shape = self._shape = _shape_of(body)
        if shape is not False:
            text = _encode_shaped(shape, body)  # type: ignore[arg-type]
            if text is not None:
                return text
        return canonical_json(body)


def _shape_of(body: Mapping[str, Any]) -> _Shape | bool:
    """The sorted keys of a dict of flat dicts, with their JSON literals; False for any other value."""
    if type(body) is not dict or not all(type(k) is str and type(v) is dict for k, v in body.items()):
        return False
    shape = []
    for key in sorted(body):
        inner = body[key]
        if not all(type(k) is str for k in inner):
            return False
        keys = tuple((k, _encode_str(k) + ":") for k in sorted(inner))
        shape.append((key, _encode_str(key) + ":{", len(inner), keys))
    return tuple(shape)


def _encode_shaped(shape: _Shape, body: Mapping[str, Any]) -> str | None:
    if type(body) is not dict or len(body) != len(shape):
        return None
    parts = []
    for key, literal, size, keys in shape:
        inner = body.get(key)
        if type(inner) is not dict or len(inner) != size:
            return None
        items = []
        for name, prefix in keys:
            value = inner.get(name, _encode_shaped)
            kind = type(value)
            if kind is str:
                items.append(prefix + _encode_str(value))
            elif kind is int:
                items.append(prefix + int.__repr__(value))
            elif value is True:
                items.append(prefix + "true")
            elif value is False:
                items.append(prefix + "false")
            elif value is None:
                items.append(prefix + "null")
            else:  # a float, a list, a missing key: the general encoder decides
                return None
        parts.append(literal + ",".join(items) + "}")
    return "{" + ",".join(parts) + "}"
