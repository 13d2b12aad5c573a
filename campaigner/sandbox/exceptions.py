"""The sandbox's errors: provider answers with their HTTP status and error envelope, and setup errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from campaigner.errors import CampaignerError


class SandboxError(CampaignerError):
    """The sandbox cannot start as configured (bad fault spec, host, state file, port in use)."""


class FaultSpecError(SandboxError, ValueError):
    """A ``--faults`` specification that cannot be parsed."""


class ApiError(Exception):
    """An answer in the provider's error envelope, raised by the model or the request parsers.

    The body is ``{"requestError":{"serviceException":{"messageId":..., "text":..., "validationErrors":
    {field: [message, ...]}}}}``; ``validationErrors`` is present only when there are some.
    """

    def __init__(
        self,
        status: int,
        message_id: str,
        text: str,
        *,
        validation_errors: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message_id = message_id
        self.text = text
        self.validation_errors = {k: list(v) for k, v in (validation_errors or {}).items()}
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status} {message_id}: {text} {self.validation_errors or ''}".rstrip())

    def body(self) -> dict[str, Any]:
        exception: dict[str, Any] = {"messageId": self.message_id, "text": self.text}
        if self.validation_errors:
            exception["validationErrors"] = self.validation_errors
        return {"requestError": {"serviceException": exception}}


def bad_request(validation_errors: Mapping[str, Sequence[str]]) -> ApiError:
    return ApiError(400, "BAD_REQUEST", "Bad request", validation_errors=validation_errors)


def unauthorized() -> ApiError:
    return ApiError(401, "UNAUTHORIZED", "Invalid login details")


def not_found(text: str = "Not found") -> ApiError:
    return ApiError(404, "NOT_FOUND", text)


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, "TOO_MANY_REQUESTS", "Too many requests", headers={"Retry-After": str(max(1, retry_after))})


def general_error() -> ApiError:
    return ApiError(500, "GENERAL_ERROR", "Internal server error")


class FieldErrors:
    """Collects validation errors by field, so one answer names every problem of a request."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise bad_request(self.errors)
