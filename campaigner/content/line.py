"""LINE content: the provider's limits on rendered values (omni-api.md section 3) and the API object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from campaigner.campaign.spec import LineContent

LINE_TEXT_MAX = 5000
URL_MAX = 1000


def _shown(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


def text_problem(value: str) -> str | None:
    """What is wrong with a rendered LINE text, or None."""
    if not value.strip():
        return "renders empty"
    if len(value) > LINE_TEXT_MAX:
        return f"is {len(value)} characters long; the limit is {LINE_TEXT_MAX}"
    return None


def url_problem(value: str) -> str | None:
    """What is wrong with a rendered media URL (``url``, ``thumbnailUrl``), or None."""
    if not value.strip():
        return "renders empty"
    if len(value) > URL_MAX:
        return f"is {len(value)} characters long; the limit is {URL_MAX}"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return f"must not contain spaces or control characters: {_shown(value)}"
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return f"is not a valid URL: {_shown(value)}"
    if parts.scheme.lower() != "https":
        return f"must be an https:// URL: {_shown(value)}"
    if not host:
        return f"has no host: {_shown(value)}"
    return None


def url_prefix_problem(prefix: str, source: str) -> str | None:
    """What is wrong with a URL template whose literal start is ``prefix`` (before any ``{{``), or None.

    Lets a template such as ``http://cdn.example/{{ segment }}.jpg`` fail once, at the campaign file,
    instead of once per recipient.
    """
    start = prefix.lower()
    if "https://".startswith(start) or start.startswith("https://"):
        return None
    return f"must be an https:// URL: {_shown(source)}"


def id_problem(value: str) -> str | None:
    """What is wrong with a rendered STICKER ``packageId`` / ``stickerId``, or None."""
    return "renders empty" if not value.strip() else None


def field_check(name: str) -> Callable[[str], str | None]:
    """The check of one LINE template field, by API name."""
    return {"text": text_problem, "url": url_problem, "thumbnailUrl": url_problem}.get(name, id_problem)


def line_payload(content: LineContent, fields: dict[str, str]) -> dict[str, Any]:
    """The API's ``line`` object from rendered template ``fields`` (by API name)."""
    payload: dict[str, Any] = {}
    if content.type != "TEXT":
        payload["type"] = content.type
    for name in ("text", "url", "thumbnailUrl", "packageId", "stickerId"):
        if name in fields:
            payload[name] = fields[name]
    if content.type == "AUDIO":
        payload["duration"] = content.duration
    if content.validityPeriod is not None:
        payload["validityPeriod"] = content.validityPeriod
    if content.validityPeriodTimeUnit is not None:
        payload["validityPeriodTimeUnit"] = content.validityPeriodTimeUnit
    return payload
