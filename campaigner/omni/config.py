"""Where and how the OMNI client connects: the base URL (HTTPS unless loopback), auth, timeouts.

Secrets come from the environment (:meth:`ClientConfig.from_env`) and never show in a ``repr``.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final
from urllib.parse import urlsplit

from campaigner import __version__
from campaigner.errors import TargetError
from campaigner.omni.retry import RetryPolicy

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "ClientConfig",
    "Timeouts",
    "is_loopback",
    "normalize_base_url",
    "redact",
    "secret_variants",
]

DEFAULT_USER_AGENT: Final = f"campaigner/{__version__}"
REDACTED: Final = "[redacted]"


@dataclass(frozen=True)
class ApiKeyAuth:
    """``Authorization: App <api key>`` (the provider's recommended scheme)."""

    api_key: str

    scheme: ClassVar[str] = "App"

    def header(self) -> str:
        return f"App {self.api_key}"

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)

    def __repr__(self) -> str:
        return f"ApiKeyAuth(api_key='{REDACTED}')"


@dataclass(frozen=True)
class BasicAuth:
    """``Authorization: Basic base64(username:password)``."""

    username: str
    password: str

    scheme: ClassVar[str] = "Basic"

    def header(self) -> str:
        return "Basic " + self._token()

    def _token(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        return (self.password, self._token())

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='{REDACTED}')"


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """Seconds per phase; ``read`` is per socket read, ``pool`` is the wait for a free connection."""

    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 30.0


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(value: str, *, what: str = "base URL") -> str:
    """``xxxxx.api.infobip.com`` -> ``https://xxxxx.api.infobip.com``; HTTPS unless the host is loopback."""
    raw = value.strip()
    if not raw:
        raise TargetError(f"error: {what} is empty")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise TargetError(f"error: {what} is not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise TargetError(f"error: {what} must not contain credentials (use the API key variables)")
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"error: {what} must start with https:// (got {parts.scheme}://)")
    if not host:
        raise TargetError(f"error: {what} has no host: {raw}")
    if parts.query or parts.fragment:
        raise TargetError(f"error: {what} must not have a query or fragment: {raw}")
    if parts.scheme == "http" and not is_loopback(host):
        raise TargetError(
            f"error: {what} {raw} uses plain http; https is required "
            "(http only for loopback hosts: 127.0.0.0/8, ::1, localhost)"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """A secret from the environment, its characters checked (never shown): an API key is printable ASCII
    without spaces, a user name or password has no line break or other control character.
    """
    value = _env(environ, name)
    if value is None:
        return None
    if name == "INFOBIP_API_KEY":
        bad = next((i for i, ch in enumerate(value, 1) if not ("!" <= ch <= "~")), None)
        what = "a space, a line break, a control or a non-ASCII character"
    else:
        bad = next((i for i, ch in enumerate(value, 1) if not ch.isprintable() and ch != " "), None)
        what = "a line break or another control character"
    if name == "INFOBIP_USERNAME" and bad is None and ":" in value:
        bad, what = value.index(":") + 1, "a ':'"
    if bad is not None:
        raise TargetError(
            f"error: {name} has {what} at character {bad}, which cannot be part of it "
            "(set it again, copied without surrounding text; its value is not shown)"
        )
    return value


def secret_variants(secret: str) -> tuple[str, ...]:
    """A secret as it may appear in an error's text: as is, and escaped as ``repr`` shows it and its bytes."""
    forms = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "backslashreplace"))[2:-1]}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every form of every secret replaced by :data:`REDACTED`."""
    for secret in secrets:
        for form in secret_variants(secret):
            text = text.replace(form, REDACTED)
    return text


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Where and how the client talks to OMNI. ``repr`` never shows a secret."""

    base_url: str
    auth: ApiKeyAuth | BasicAuth
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = DEFAULT_USER_AGENT
    logs_per_minute: int | None = 120  # the provider's limit on logs calls (omni-api.md section 5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))

    @property
    def origin(self) -> str:
        """Scheme and host (the ledger's ``target_id`` for a real provider)."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(urlsplit(self.base_url).hostname or "")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ClientConfig | None:
        """``INFOBIP_BASE_URL`` with ``INFOBIP_API_KEY`` (App) or ``INFOBIP_USERNAME``/``INFOBIP_PASSWORD``.

        None when none of them is set; :class:`TargetError` when the set is incomplete or ambiguous.
        """
        base = _env(environ, "INFOBIP_BASE_URL")
        key = _secret(environ, "INFOBIP_API_KEY")
        user = _secret(environ, "INFOBIP_USERNAME")
        password = _secret(environ, "INFOBIP_PASSWORD")
        if not (base or key or user or password):
            return None
        if key and (user or password):
            raise TargetError("error: set either INFOBIP_API_KEY or INFOBIP_USERNAME and INFOBIP_PASSWORD, not both")
        if base is None:
            given = "INFOBIP_API_KEY" if key else "INFOBIP_USERNAME" if user else "INFOBIP_PASSWORD"
            raise TargetError(
                f"error: {given} is set but INFOBIP_BASE_URL is not "
                "(set it to your account's base URL, e.g. https://xxxxx.api.infobip.com)"
            )
        auth: ApiKeyAuth | BasicAuth
        if key:
            auth = ApiKeyAuth(key)
        elif user and password:
            auth = BasicAuth(user, password)
        elif user or password:
            given, missing = (
                ("INFOBIP_USERNAME", "INFOBIP_PASSWORD") if user else ("INFOBIP_PASSWORD", "INFOBIP_USERNAME")
            )
            raise TargetError(f"error: {given} is set but {missing} is not")
        else:
            raise TargetError(
                "error: INFOBIP_BASE_URL is set but INFOBIP_API_KEY is not "
                "(or set INFOBIP_USERNAME and INFOBIP_PASSWORD)"
            )
        return cls(base_url=normalize_base_url(base, what="INFOBIP_BASE_URL"), auth=auth)
