"""Streamed responses (server-sent events and the like) over real loopback
sockets: chunked as they come, and the stream closed however the peer leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import trio

from acquirers.http import Request, Response, Router, ServerConfig, serve

from .helpers import exchange


class Streams:
    def __init__(self) -> None:
        self.closed = trio.Event()
        self.sent = 0

    async def counting(
        self, n: int | None, size: int = 8, pause: float = 0.0
    ) -> AsyncIterator[bytes]:
        try:
            i = 0
            while n is None or i < n:
                yield f"{i:0{size}d}\n".encode()
                self.sent += 1
                i += 1
                if pause:
                    await trio.sleep(pause)
        finally:
            self.closed.set()

    async def failing(self) -> AsyncIterator[bytes]:
        yield b"first\n"
        raise RuntimeError("the stream broke")

    def router(self) -> Router:
        router = Router()

        async def three(request: Request) -> Response:
            return Response.streaming(self.counting(3), "text/plain")

        async def forever(request: Request) -> Response:
            return Response.streaming(self.counting(None, pause=0.01), "text/event-stream")

        async def flood(request: Request) -> Response:
            return Response.streaming(self.counting(None, size=65535), "text/plain")

        async def broken(request: Request) -> Response:
            return Response.streaming(self.failing(), "text/plain")

        async def plain(request: Request) -> Response:
            return Response.text("still here")

        for path, handler in [("/three", three), ("/forever", forever), ("/flood", flood),
                              ("/broken", broken), ("/plain", plain)]:  # fmt: skip
            router.add("GET", path, handler)
        return router


async def _start(nursery: trio.Nursery, streams: Streams, **limits: float) -> str:
    config = ServerConfig(**limits)  # type: ignore[arg-type]
    port = await nursery.start(partial(serve, streams.router(), config=config))
    return f"http://127.0.0.1:{port}"


async def test_a_stream_goes_out_chunked_in_order(nursery: trio.Nursery) -> None:
    streams = Streams()
    base = await _start(nursery, streams)
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/three")
        head = await client.head("/three")
    assert response.status_code == 200
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert response.text == "00000000\n00000001\n00000002\n"
    assert head.status_code == 200 and head.content == b""
    assert streams.closed.is_set()


async def test_the_stream_is_closed_when_the_peer_goes_away(nursery: trio.Nursery) -> None:
    streams = Streams()
    base = await _start(nursery, streams)
    async with (
        httpx.AsyncClient(base_url=base) as client,
        client.stream("GET", "/forever") as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        lines = response.aiter_lines()
        assert await lines.__anext__() == "00000000"
    with trio.fail_after(5):
        await streams.closed.wait()


async def test_a_peer_that_stops_reading_is_dropped_at_the_write_timeout(
    nursery: trio.Nursery,
) -> None:
    streams = Streams()
    base = await _start(nursery, streams, write_timeout=0.3)
    port = int(base.rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.fail_after(10):
            await streams.closed.wait()  # it never reads: the server gives up on it
    assert streams.sent < 1000  # bounded by the socket buffers, not by the stream


async def test_a_failing_stream_ends_its_connection_only(nursery: trio.Nursery) -> None:
    streams = Streams()
    base = await _start(nursery, streams)
    port = int(base.rsplit(":", 1)[1])
    answer = await exchange(port, b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n", half_close=False)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"first\n" in answer
    # No last chunk: the peer can tell the body was cut short (RFC 9112 7.1).
    assert not answer.endswith(b"0\r\n\r\n")
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/plain")).text == "still here"
