"""An httpx transport over aiohttp: httpx's API, without its connection pool's contention under latency.

Measured against a sandbox 50 ms away (``tests/benchmarks/bench_latency.py``), httpx's own pool
reaches about a quarter of ``concurrency / latency`` at 32 requests in flight; aiohttp's reaches most
of it. ``httpx-aiohttp`` does the same job but maps a connection lost *after* the request left
(``ServerDisconnectedError``, a reset) to ``httpx.ConnectTimeout``, which the client treats as "never
sent, safe to resend": a duplicate message. Here only what certainly happened before a byte of the
request left becomes a connect error; everything else is an unknown outcome:

- ``aiohttp.ClientConnectorError`` (refused, unreachable, DNS) -> ``httpx.ConnectError``;
- ``aiohttp.ConnectionTimeoutError`` (no connection within the connect or pool time) -> ``httpx.ConnectTimeout``;
- ``aiohttp.SocketTimeoutError`` (no answer in time) -> ``httpx.ReadTimeout``;
- any other ``aiohttp.ClientError`` or ``OSError`` -> ``httpx.RemoteProtocolError``.

The whole answer is read inside the transport (OMNI's answers are small), so no aiohttp error can
surface later, from a body read outside this mapping.
"""

from __future__ import annotations

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AiohttpTransport(max_connections=n))``; one event loop per transport."""

    def __init__(self, *, max_connections: int = 16, trust_env: bool = False) -> None:
        self._limit = max_connections
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit, enable_cleanup_closed=False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=self._trust_env,
                auto_decompress=False,  # httpx decodes, as the Content-Encoding header says
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "transfer-encoding"]
        body = await request.aread()
        session = self._open()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=_sum(timeout.get("pool"), timeout.get("connect")),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                content = await answer.read()
                status, raw_headers, reason = answer.status, answer.raw_headers, answer.reason
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(_text(exc), request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(_text(exc), request=request) from exc
        except aiohttp.SocketTimeoutError as exc:
            raise httpx.ReadTimeout(_text(exc), request=request) from exc
        except TimeoutError as exc:  # any other timeout: the request may have left
            raise httpx.ReadTimeout(_text(exc), request=request) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx.RemoteProtocolError(_text(exc), request=request) from exc
        extensions = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("ascii", "replace")
        return httpx.Response(status, headers=list(raw_headers), content=content, extensions=extensions)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _sum(*parts: float | None) -> float | None:
    values = [p for p in parts if p is not None]
    return sum(values) if values else None


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
