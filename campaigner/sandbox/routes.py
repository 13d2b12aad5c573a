"""The ASGI application: routes, auth, error envelopes, request recording and dropped answers."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaigner.sandbox.exceptions import ApiError, general_error, unauthorized
from campaigner.sandbox.latency import Latency
from campaigner.sandbox.models import SandboxModel
from campaigner.sandbox.responses import CONTEXT_KEY, OmniResponses, RequestContext, error_response

log = logging.getLogger("campaigner.sandbox")

Handler = Callable[[Request], Awaitable[Response]]
BASIC_USER = "sandbox"
INSPECTION_PREFIX = "/_sandbox"


class ConnectionDroppedError(Exception):
    """Raised to the server when an answer must be lost but the transport cannot be closed directly."""


def authorized(header: str | None, api_key: str) -> bool:
    """``App <key>``, or ``Basic`` with user ``sandbox`` and the key as password."""
    if not header:
        return False
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "app":
        return hmac.compare_digest(credentials.encode(), api_key.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        return bool(sep) and user == BASIC_USER and hmac.compare_digest(password.encode(), api_key.encode())
    return False


def _guarded(handler: Handler, api_key: str | None) -> Handler:
    """Auth (when ``api_key`` is set), then the handler; every failure becomes the provider's envelope."""

    async def endpoint(request: Request) -> Response:
        try:
            if api_key is not None and not authorized(request.headers.get("authorization"), api_key):
                raise unauthorized()
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except Exception:
            log.exception("sandbox: unexpected error in %s %s", request.method, request.url.path)
            return error_response(general_error())

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    names = {404: ("NOT_FOUND", "Not found"), 405: ("METHOD_NOT_ALLOWED", "Method not allowed")}
    message_id, text = names.get(status, ("BAD_REQUEST", "Bad request") if status < 500 else ("GENERAL_ERROR", ""))
    return error_response(ApiError(status, message_id, text or "Internal server error"))


def build_app(responses: OmniResponses, *, api_key: str, latency: Latency | None = None, seed: int = 0) -> ASGIApp:
    r = responses

    def api(handler: Handler) -> Handler:
        return _guarded(handler, api_key)

    def open_(handler: Handler) -> Handler:
        return _guarded(handler, None)

    routes = [
        Route("/omni/1/scenarios", api(r.list_scenarios), methods=["GET"]),
        Route("/omni/1/scenarios", api(r.create_scenario), methods=["POST"]),
        Route("/omni/1/scenarios/{key}", api(r.get_scenario), methods=["GET"]),
        Route("/omni/1/scenarios/{key}", api(r.update_scenario), methods=["PUT"]),
        Route("/omni/1/advanced", api(r.send), methods=["POST"]),
        Route("/omni/1/reports", api(r.reports), methods=["GET"]),
        Route("/omni/1/logs", api(r.logs), methods=["GET"]),
        Route(f"{INSPECTION_PREFIX}/messages", open_(r.sandbox_messages), methods=["GET"]),
        Route(f"{INSPECTION_PREFIX}/stats", open_(r.sandbox_stats), methods=["GET"]),
        Route(f"{INSPECTION_PREFIX}/requests", open_(r.sandbox_requests), methods=["GET"]),
        Route(f"{INSPECTION_PREFIX}/reset", open_(r.sandbox_reset), methods=["POST"]),
        Route(f"{INSPECTION_PREFIX}/scenarios", open_(r.sandbox_put_scenario), methods=["POST"]),
        Route(f"{INSPECTION_PREFIX}/clock", open_(r.sandbox_clock), methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return RecordingLayer(app, responses.model, latency or Latency(), seed)


class RecordingLayer:
    """Outermost ASGI layer: records every provider request, holds answers for the simulated latency
    and drops answers marked as lost."""

    def __init__(self, app: ASGIApp, model: SandboxModel, latency: Latency | None = None, seed: int = 0) -> None:
        self.app = app
        self.model = model
        self.latency = latency or Latency()
        self._rng = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrival = time.time()
        context = RequestContext()
        scope[CONTEXT_KEY] = context
        status = 0
        delay = self.latency.delay(self._rng) if self.latency and not scope["path"].startswith(INSPECTION_PREFIX) else 0

        async def guarded_send(message: Message) -> None:
            nonlocal status
            if context.drop:
                return  # the answer is lost: nothing of it leaves
            if message["type"] == "http.response.start":
                status = message["status"]
                if delay:
                    await asyncio.sleep(delay)  # the way back from a provider this far away
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
            if context.drop:
                status = 0
                await _drop_connection(send)
        finally:
            path: str = scope["path"]
            if not path.startswith(INSPECTION_PREFIX):
                route: Any = scope.get("route")
                endpoint = getattr(route, "path", path)
                try:
                    self.model.record_request(scope["method"], path, endpoint, status, context.fault, arrival)
                except Exception:  # the state file closed under a stopping server: nothing to record into
                    log.debug("sandbox: request not recorded", exc_info=True)


async def _drop_connection(send: Send) -> None:
    """Close the client's connection without an answer.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the transport: closing it
    marks the cycle disconnected, so uvicorn neither answers 500 nor logs. Elsewhere (e.g. an in-process
    ASGI transport) the drop surfaces as ConnectionDroppedError.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        raise ConnectionDroppedError("answer dropped by the lost-answer fault")
    transport.close()
    for _ in range(100):
        if getattr(cycle, "disconnected", False):
            return
        await asyncio.sleep(0)
