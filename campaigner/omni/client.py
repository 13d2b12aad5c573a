"""The OMNI HTTP client: requests, retries under one shared pause, the error envelope -> exceptions.

Its configuration (base URL, auth, timeouts) is in ``omni.config``, the retry policy in ``omni.retry``.

Retry rules (never send a message twice):

- reads (GET) are retried on 429, 5xx and network errors;
- a send (``POST /omni/1/advanced``) and scenario create/update are retried only on 429 and when the
  request certainly never reached the provider (connect error, connect timeout, pool timeout). A 5xx,
  a read/write timeout, a reset or a protocol error raise :class:`OutcomeUnknownError` at once;
- a 429 sets the client's :class:`PauseGate` from ``Retry-After``: every request awaits it, so one 429
  pauses all concurrent requests once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
import pydantic
from aiolimiter import AsyncLimiter

from campaigner.errors import (
    ConnectFailedError,
    OutcomeUnknownError,
    ProviderError,
    RateLimitedError,
    TargetError,
)
from campaigner.omni.config import (
    REDACTED,
    ApiKeyAuth,
    BasicAuth,
    ClientConfig,
    Timeouts,
    normalize_base_url,
    redact,
)
from campaigner.omni.models import (
    AdvancedRequest,
    FlowStep,
    Scenario,
    ScenarioList,
    ScenarioRequest,
    SendResponse,
    format_timestamp,
)
from campaigner.omni.retry import PauseGate, RetryPolicy, parse_retry_after

__all__ = [
    "ADVANCED_PATH",
    "LOGS_PATH",
    "REPORTS_PATH",
    "SCENARIOS_PATH",
    "ApiKeyAuth",
    "BasicAuth",
    "ClientConfig",
    "OmniClient",
    "PauseGate",
    "RetryPolicy",
    "Timeouts",
    "normalize_base_url",
    "parse_retry_after",
]

log = logging.getLogger("campaigner.http")

SCENARIOS_PATH: Final = "/omni/1/scenarios"
ADVANCED_PATH: Final = "/omni/1/advanced"
REPORTS_PATH: Final = "/omni/1/reports"
LOGS_PATH: Final = "/omni/1/logs"

# Budget for the encoded ``messageId`` list of one logs query, so that URLs stay under ~6 KB.
LOGS_IDS_BUDGET: Final = 5500
MAX_LIMIT: Final = 1000

# Raised before a single byte of the request left: always safe to retry.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_JSON_HEADERS: Final = {"Content-Type": "application/json"}

_M = TypeVar("_M", bound=pydantic.BaseModel)


def _aiohttp(max_connections: int, *, trust_env: bool) -> httpx.AsyncBaseTransport:
    """The default transport; aiohttp is imported (~0.2 s) only when a client is made without one."""
    from campaigner.omni.transport import AiohttpTransport

    return AiohttpTransport(max_connections=max_connections, trust_env=trust_env)


# --- errors ----------------------------------------------------------------------------------------


def _envelope(response: httpx.Response) -> tuple[str, str | None, dict[str, list[str]]]:
    """The provider's ``requestError.serviceException`` -> (text, messageId, validationErrors)."""
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    data: object = None
    if response.content:
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
    request_error = data.get("requestError") if isinstance(data, dict) else None
    service = request_error.get("serviceException") if isinstance(request_error, dict) else None
    if isinstance(service, dict):
        message_id = service.get("messageId")
        text = service.get("text")
        raw_errors = service.get("validationErrors")
        errors: dict[str, list[str]] = {}
        if isinstance(raw_errors, dict):
            for name, messages in raw_errors.items():
                items = messages if isinstance(messages, list) else [messages]
                errors[str(name)] = [str(m) for m in items]
        return (
            text if isinstance(text, str) and text else reason,
            message_id if isinstance(message_id, str) else None,
            errors,
        )
    content_type = response.headers.get("content-type", "")
    if response.content and "html" not in content_type:
        snippet = " ".join(response.text.split())[:200]
        if snippet:
            return f"{reason}: {snippet}", None, {}
    return reason, None, {}


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _chunks(ids: Sequence[str], *, budget: int, max_count: int) -> Iterator[list[str]]:
    """Consecutive runs of ids whose encoded comma list fits ``budget`` bytes (and ``max_count``)."""
    chunk: list[str] = []
    size = 0
    for message_id in ids:
        cost = len(quote(message_id, safe="")) + 3  # "%2C"
        if chunk and (size + cost > budget or len(chunk) >= max_count):
            yield chunk
            chunk, size = [], 0
        chunk.append(message_id)
        size += cost
    if chunk:
        yield chunk


def _query(**values: object) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            params[name] = format_timestamp(value)
        else:
            params[name] = str(value)
    return params


_RESULTS_OPEN: Final = re.compile(r'\s*\{\s*"results"\s*:\s*\[\s*')
_RESULTS_NEXT: Final = re.compile(r"\s*([,\]])\s*")
_RESULTS_CLOSE: Final = re.compile(r"\s*\}\s*\Z")
_DECODER: Final = json.JSONDecoder()


def split_results(content: bytes) -> tuple[list[dict[str, Any]], list[str]] | None:
    """The entries of a ``{"results": [...]}`` body, each with its own JSON text as it arrived (so that
    a report is stored raw without writing it out again); None for a body of any other shape (the caller
    then reads it with ``json.loads``)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    opening = _RESULTS_OPEN.match(text)
    if opening is None:
        return None
    at = opening.end()
    items: list[dict[str, Any]] = []
    texts: list[str] = []
    if text.startswith("]", at):
        at += 1
    else:
        decode, following = _DECODER.raw_decode, _RESULTS_NEXT.match
        while True:
            try:
                value, end = decode(text, at)
            except ValueError:
                return None
            if type(value) is dict:
                items.append(value)
                texts.append(text[at:end])
            separator = following(text, end)
            if separator is None:
                return None
            at = separator.end()
            if separator.group(1) == "]":
                break
    return (items, texts) if _RESULTS_CLOSE.match(text, at) else None


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")


# --- the client ------------------------------------------------------------------------------------


class OmniClient:
    """Async OMNI client over one ``httpx.AsyncClient``; use as ``async with OmniClient(config) as c``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 16,
    ) -> None:
        self.config = config
        self.gate = PauseGate()
        self._rng = random.Random()
        self._secrets = tuple(s for s in config.auth.secrets() if s)
        t = config.timeouts
        try:
            self._http = httpx.AsyncClient(
                base_url=config.base_url,
                headers={
                    "Authorization": config.auth.header(),
                    "User-Agent": config.user_agent,
                    "Accept": "application/json",
                },
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
                # aiohttp's pool under httpx's API: httpx's own pool stalls at high concurrency (omni/transport.py)
                transport=transport or _aiohttp(max_connections, trust_env=not config.is_loopback),
                follow_redirects=False,
                # Environment proxies must not capture the loopback sandbox.
                trust_env=not config.is_loopback,
            )
        except (UnicodeError, ValueError, httpx.HTTPError) as exc:  # a header no HTTP request can carry
            raise TargetError(
                "error: the credentials hold characters an HTTP header cannot carry "
                f"({type(exc).__name__}; the value is not shown): set them again"
            ) from None
        # Logs allow 120 calls a minute: a burst of that many, then two a second.
        per_minute = config.logs_per_minute
        self._logs_limiter = AsyncLimiter(per_minute, 60.0) if per_minute else None
        log.debug(
            "OMNI client for %s (Authorization: %s %s, User-Agent: %s, max %d connections)",
            config.origin,
            config.auth.scheme,
            REDACTED,
            config.user_agent,
            max_connections,
        )

    def __repr__(self) -> str:
        return f"OmniClient(base_url={self.config.base_url!r})"

    async def __aenter__(self) -> OmniClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- scenarios ---------------------------------------------------------------------------------

    async def list_scenarios(self, *, page_size: int = 100) -> list[Scenario]:
        """Every scenario, following pages until a short one (or one with nothing new)."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        found: dict[str, Scenario] = {}
        page = 0
        while True:
            params = _query(limit=page_size, page=page)
            response = await self._call("GET", SCENARIOS_PATH, params=params, safe=True)
            batch = self._parse(ScenarioList, response, "GET", SCENARIOS_PATH).scenarios
            new = [s for s in batch if s.key not in found]
            found.update((s.key, s) for s in new)
            # `not new` guards against a server that ignores `page` and repeats itself.
            if len(batch) < page_size or not new:
                return list(found.values())
            page += 1

    async def get_scenario(self, key: str) -> Scenario:
        """One scenario; :class:`ProviderError` with status 404 when the key is unknown."""
        path = f"{SCENARIOS_PATH}/{quote(str(key), safe='')}"
        response = await self._call("GET", path, safe=True)
        return self._parse(Scenario, response, "GET", path)

    async def create_scenario(
        self, name: str, flow: Sequence[FlowStep | Mapping[str, Any]], *, default: bool = False
    ) -> Scenario:
        """Create a scenario (200 or 201). Not idempotent: a 5xx or lost answer is an unknown outcome."""
        body = ScenarioRequest.model_validate({"name": name, "flow": list(flow), "default": default})
        response = await self._call("POST", SCENARIOS_PATH, content=_dumps(body.to_body()), safe=False)
        return self._parse(Scenario, response, "POST", SCENARIOS_PATH, unknown=True)

    async def update_scenario(
        self,
        key: str,
        name: str,
        flow: Sequence[FlowStep | Mapping[str, Any]],
        *,
        default: bool | None = None,
    ) -> Scenario:
        """Replace a scenario's name and flow (``default`` only when given); 404 for an unknown key."""
        body = ScenarioRequest.model_validate({"name": name, "flow": list(flow), "default": default})
        path = f"{SCENARIOS_PATH}/{quote(str(key), safe='')}"
        response = await self._call("PUT", path, content=_dumps(body.to_body()), safe=False)
        return self._parse(Scenario, response, "PUT", path, unknown=True)

    # --- sending -----------------------------------------------------------------------------------

    async def send(self, body: Mapping[str, Any] | AdvancedRequest) -> SendResponse:
        """``POST /omni/1/advanced`` with a JSON-ready body (not re-validated here: the hot path).

        Raises :class:`OutcomeUnknownError` when the request may have been processed without an answer
        (5xx, read timeout, reset), :class:`ConnectFailedError` when it certainly never arrived,
        :class:`RateLimitedError` when 429s outlast the retries, :class:`ProviderError` on a rejection.
        """
        if isinstance(body, AdvancedRequest):
            body = body.to_body()
        response = await self._call("POST", ADVANCED_PATH, content=_dumps(body), safe=False)
        return self._parse(SendResponse, response, "POST", ADVANCED_PATH, unknown=True)

    # --- reports and logs --------------------------------------------------------------------------

    async def reports(
        self,
        *,
        bulk_id: str | None = None,
        message_id: str | None = None,
        channel: str | None = None,
        limit: int = MAX_LIMIT,
    ) -> list[dict[str, Any]]:
        """Delivery reports not returned before, raw as they arrived: store them before counting them.

        The provider returns each report once, so this read is not repeated blindly: a request whose
        answer was lost (5xx, timeout, reset, an unreadable body) raises :class:`OutcomeUnknownError`,
        and the reports it may have carried are to be read from the logs.
        """
        reports, _ = await self.reports_with_text(bulk_id=bulk_id, message_id=message_id, channel=channel, limit=limit)
        return reports

    async def reports_with_text(
        self,
        *,
        bulk_id: str | None = None,
        message_id: str | None = None,
        channel: str | None = None,
        limit: int = MAX_LIMIT,
    ) -> tuple[list[dict[str, Any]], list[str] | None]:
        """:meth:`reports`, and each report's JSON text as it arrived (None when the body was not the
        plain ``{"results": [...]}`` that can be split without reading it twice)."""
        _check_limit(limit)
        params = _query(bulkId=bulk_id, messageId=message_id, channel=channel, limit=limit)
        response = await self._call("GET", REPORTS_PATH, params=params, safe=False)
        split = split_results(response.content)
        if split is not None:
            return split
        try:
            return self._results(response, REPORTS_PATH), None
        except ProviderError as exc:
            raise OutcomeUnknownError(
                f"{exc.text}; the reports it carried may be lost",
                status=response.status_code,
                method="GET",
                url_path=REPORTS_PATH,
            ) from exc

    async def logs(
        self,
        *,
        bulk_id: str | None = None,
        message_ids: Sequence[str] | None = None,
        limit: int = MAX_LIMIT,
        channel: str | None = None,
        general_status: str | None = None,
        sent_since: str | datetime | None = None,
        sent_until: str | datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Message logs, raw (readable again, kept 48 hours). Long id lists go out in several requests.

        A request that comes back full (``limit`` entries) for several ids is split in two and asked
        again, so that no log is cut off by the limit.
        """
        _check_limit(limit)
        base = _query(
            bulkId=bulk_id,
            channel=channel,
            generalStatus=general_status,
            sentSince=sent_since,
            sentUntil=sent_until,
            limit=limit,
        )
        if message_ids is None:
            return await self._logs_once(base)
        ids = list(dict.fromkeys(message_ids))
        results: list[dict[str, Any]] = []
        for chunk in _chunks(ids, budget=LOGS_IDS_BUDGET, max_count=limit):
            results.extend(await self._logs_for(base, chunk, limit))
        return results

    async def _logs_for(self, base: dict[str, str], ids: list[str], limit: int) -> list[dict[str, Any]]:
        found = await self._logs_once({**base, "messageId": ",".join(ids)})
        if len(found) >= limit and len(ids) > 1:
            half = len(ids) // 2
            return await self._logs_for(base, ids[:half], limit) + await self._logs_for(base, ids[half:], limit)
        return found

    async def _logs_once(self, params: dict[str, str]) -> list[dict[str, Any]]:
        if self._logs_limiter is not None:
            await self._logs_limiter.acquire()
        response = await self._call("GET", LOGS_PATH, params=params, safe=True)
        return self._results(response, LOGS_PATH)

    # --- the one request loop ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        safe: bool,
    ) -> httpx.Response:
        """Send with retries. ``safe``: may be repeated after it possibly reached the provider (reads)."""
        policy = self.config.retry
        attempt = 0
        while True:
            attempt += 1
            await self.gate.wait()
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    content=content,
                    headers=_JSON_HEADERS if content is not None else None,
                )
            except httpx.HTTPError as exc:
                self._log(method, path, _describe(exc), started, attempt)
                not_sent = isinstance(exc, _NOT_SENT)
                if not (safe or not_sent):
                    raise OutcomeUnknownError(
                        self._redact(f"no answer ({_describe(exc)}); the request may have been processed"),
                        method=method,
                        url_path=path,
                    ) from exc
                if attempt >= policy.max_attempts:
                    if not_sent:
                        raise ConnectFailedError(
                            self._redact(
                                f"error: cannot reach the provider at {self.config.origin} "
                                f"({_describe(exc)}) after {attempt} attempts; nothing was sent"
                            )
                        ) from exc
                    raise ProviderError(
                        0,
                        self._redact(f"no answer ({_describe(exc)}) after {attempt} attempts"),
                        method=method,
                        url_path=path,
                    ) from exc
                await asyncio.sleep(policy.delay(attempt, self._rng))
                continue

            status = response.status_code
            self._log(method, path, str(status), started, attempt)
            if 200 <= status < 300:
                return response
            if status == 429:
                error = self._error(response, method, path)
                assert isinstance(error, RateLimitedError)
                delay = error.retry_after if error.retry_after is not None else policy.delay(attempt, self._rng)
                if delay > policy.max_retry_after:
                    raise error
                self.gate.pause_for(delay)
                if attempt >= policy.max_attempts:
                    raise error
                log.debug("429 on %s %s: every request pauses %.3f s", method, path, delay)
                continue
            if status >= 500:
                if not safe:
                    text, message_id, _ = _envelope(response)
                    raise OutcomeUnknownError(
                        self._redact(f"{text}; the request may have been processed"),
                        status=status,
                        message_id=message_id,
                        method=method,
                        url_path=path,
                    )
                if attempt < policy.max_attempts:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    pause = policy.delay(attempt, self._rng) if retry_after is None else retry_after
                    await asyncio.sleep(min(pause, policy.max_retry_after))
                    continue
            raise self._error(response, method, path)

    def _error(self, response: httpx.Response, method: str, path: str) -> ProviderError:
        text, message_id, validation_errors = _envelope(response)
        text = self._redact(text)
        if response.status_code == 429:
            return RateLimitedError(
                text,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                message_id=message_id,
                validation_errors=validation_errors,
                method=method,
                url_path=path,
            )
        return ProviderError(
            response.status_code,
            text,
            message_id=message_id,
            validation_errors=validation_errors,
            method=method,
            url_path=path,
        )

    def _parse(self, model: type[_M], response: httpx.Response, method: str, path: str, *, unknown: bool = False) -> _M:
        """A 2xx body as ``model``; an unreadable one is an unknown outcome for non-idempotent calls.

        Read with ``json.loads`` and validated from Python objects (a 500-message send answer in ~60% of
        the time of pydantic's own JSON reading); a body that fails that way is read again by
        ``model_validate_json``, whose answer (and error message) stands.
        """
        try:
            data = json.loads(response.content)
        except ValueError:
            pass
        else:
            try:
                return model.model_validate(data)
            except pydantic.ValidationError:
                pass
        try:
            return model.model_validate_json(response.content)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            text = f"unreadable answer: {where}: {first['msg']}"
            if unknown:
                raise OutcomeUnknownError(
                    f"{text}; the request was processed",
                    status=response.status_code,
                    method=method,
                    url_path=path,
                ) from exc
            raise ProviderError(response.status_code, text, method=method, url_path=path) from exc

    def _results(self, response: httpx.Response, path: str) -> list[dict[str, Any]]:
        try:
            data = json.loads(response.content) if response.content else {}
        except ValueError as exc:
            raise ProviderError(
                response.status_code, "unreadable answer: not JSON", method="GET", url_path=path
            ) from exc
        results = data.get("results", []) if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ProviderError(response.status_code, "unreadable answer: no results list", method="GET", url_path=path)
        return [r for r in results if isinstance(r, dict)]

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _log(self, method: str, path: str, outcome: str, started: float, attempt: int) -> None:
        if log.isEnabledFor(logging.DEBUG):
            elapsed = (time.perf_counter() - started) * 1000
            log.debug("%s %s -> %s in %.1f ms (attempt %d)", method, path, outcome, elapsed, attempt)
