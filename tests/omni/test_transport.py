"""Tests for campaigner.omni.transport: aiohttp under httpx, and which failures may be resent."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from campaigner.omni.transport import AiohttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request_of(handler: Handler, *, read: float = 5.0) -> httpx.Response:
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[None]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await handler(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        timeout = httpx.Timeout(connect=2, read=read, write=2, pool=2)
        async with httpx.AsyncClient(transport=AiohttpTransport(max_connections=4), timeout=timeout) as client:
            return await client.post(f"http://127.0.0.1:{port}/omni/1/advanced", json={"a": "č"})
    finally:
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        for writer in writers:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


def test_an_answer_comes_back_as_httpx_would_give_it() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        body = gzip.compress(b'{"ok":true}')
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()

    response = asyncio.run(_request_of(answer))
    assert (response.status_code, response.reason_phrase, response.json()) == (201, "Created", {"ok": True})
    assert seen[0].endswith('{"a":"č"}'.encode())
    assert b"content-type: application/json" in seen[0].lower()


def test_a_refused_connection_was_never_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> None:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            await client.post(f"http://127.0.0.1:{port}/x", content=b"{}")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(go())


def test_a_connection_lost_after_the_request_is_an_unknown_outcome() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    with pytest.raises(httpx.RemoteProtocolError) as caught:
        asyncio.run(_request_of(hang_up))
    assert not isinstance(caught.value, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def test_no_answer_in_time_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(_request_of(silent, read=0.2))
