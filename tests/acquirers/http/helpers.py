"""A demo application and raw-socket helpers shared by the HTTP core tests."""

from __future__ import annotations

import re
from functools import partial

import trio

from acquirers.http import HTTPException, Request, Response, Router, ServerConfig, serve


def demo_app() -> Router:
    router = Router()

    @router.route("GET", "/items/{item}")
    async def item(request: Request) -> Response:
        return Response.json({"item": request.path_params["item"], "query": dict(request.query)})

    @router.route("POST", "/json")
    async def echo_json(request: Request) -> Response:
        return Response.json({"got": request.json()})

    @router.route("POST", "/xml")
    async def echo_xml(request: Request) -> Response:
        root = request.xml()
        return Response.xml(f"<ok><root>{root.tag}</root><text>{root.text or ''}</text></ok>")

    @router.route("GET", "/peer")
    async def peer(request: Request) -> Response:
        if request.client is None:
            raise HTTPException(500, "no peer address")
        return Response.json({"port": request.client[1]})

    @router.route("GET", "/tls")
    async def tls(request: Request) -> Response:
        cert = request.certificate()
        return Response.json(
            {
                "tls": request.tls is not None,
                "version": request.tls.version if request.tls else None,
                "subject": cert.subject.rfc4514_string() if cert else None,
            }
        )

    @router.route("GET", "/boom")
    async def boom(request: Request) -> Response:
        raise RuntimeError("handler bug")

    @router.route("GET", "/conflict")
    async def conflict(request: Request) -> Response:
        raise HTTPException(409, "already there", headers=(("x-reason", "dup"),))

    @router.route("GET", "/slow")
    async def slow(request: Request) -> Response:
        await trio.sleep(3600)
        return Response.text("late")

    return router


async def start(nursery: trio.Nursery, config: ServerConfig | None = None) -> int:
    port: int = await nursery.start(partial(serve, demo_app(), config=config))
    return port


async def exchange(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send ``data``, optionally half-close, and read until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    chunks: list[bytes] = []
    async with stream:
        try:
            await stream.send_all(data)
            if half_close:
                await stream.send_eof()
            with trio.fail_after(120):
                while chunk := await stream.receive_some(65536):
                    chunks.append(bytes(chunk))
        except trio.BrokenResourceError:
            pass  # reset by the server: counts as closed
    return b"".join(chunks)


_STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length: *(\d+)\r$")


def statuses(raw: bytes) -> list[int]:
    """Status codes of the responses in ``raw`` (each framed by Content-Length).

    Raises AssertionError on anything that is not a well-formed response.
    """
    found: list[int] = []
    position = 0
    while position < len(raw):
        line = _STATUS_LINE.match(raw, position)
        assert line, f"no status line at {position}: {raw[position : position + 40]!r}"
        end = raw.index(b"\r\n\r\n", position) + 4
        head = raw[position:end]
        status = int(line.group(1))
        found.append(status)
        length = _CONTENT_LENGTH.search(head)
        if status == 100:
            position = end
            continue
        assert length, f"no content-length in {head!r}"
        position = end + int(length.group(1))
    assert position == len(raw)
    return found
