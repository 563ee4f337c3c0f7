"""HTTP/1.1 server core over real loopback sockets: routing, bodies, limits, timeouts."""

from __future__ import annotations

import httpx
import pytest
import trio

from acquirers.http import ServerConfig, json_error

from .helpers import exchange, start, statuses


@pytest.fixture
async def base_url(nursery: trio.Nursery) -> str:
    return f"http://127.0.0.1:{await start(nursery)}"


async def test_get_with_path_params_and_query(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/items/a%2Fb%20c?x=1&x=2&y=")
    assert response.status_code == 200
    assert response.json() == {"item": "a/b c", "query": {"x": "1", "y": ""}}
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["content-length"]) == len(response.content)
    assert "date" in response.headers


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/nothing", 404, None),
        ("GET", "/items", 404, None),
        ("GET", "/items/a/b", 404, None),
        ("DELETE", "/items/a", 405, "GET, HEAD"),
        ("GET", "/json", 405, "POST"),
    ],
)
async def test_unknown_resources(
    base_url: str, method: str, path: str, status: int, allow: str | None
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers.get("allow") == allow


async def test_head_has_headers_but_no_body(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        get = await client.get("/items/x")
        head = await client.head("/items/x")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_json_bodies(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        ok = await client.post("/json", json={"a": [1, "б"]})
        bad = await client.post("/json", content=b'{"a": ')
        empty = await client.post("/json")
    assert ok.status_code == 200 and ok.json() == {"got": {"a": [1, "б"]}}
    assert bad.status_code == 400
    assert empty.status_code == 400


async def test_chunked_request_body(base_url: str) -> None:
    async def parts() -> object:
        yield b'{"chunked":'
        yield b" true}"

    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/json", content=parts())  # type: ignore[arg-type]
    assert response.status_code == 200 and response.json() == {"got": {"chunked": True}}


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>"""


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            '<?xml version="1.0" encoding="UTF-8"?><keyrequest>Ключ</keyrequest>'.encode(),
            200,
            b"<root>keyrequest</root><text>\xd0\x9a\xd0\xbb\xd1\x8e\xd1\x87</text>",
        ),
        (b"<a>&amp;&#65;</a>", 200, b"<text>&A</text>"),
        (b"<a>", 400, None),
        (b"<a>&undefined;</a>", 400, None),
        (BILLION_LAUGHS, 400, None),
        (XXE, 400, None),
        (b"<!DOCTYPE a><a/>", 400, None),
    ],
)
async def test_xml_bodies(base_url: str, body: bytes, status: int, expected: bytes | None) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/xml", content=body)
    assert response.status_code == status
    if expected is not None:
        assert expected in response.content


async def test_keep_alive_reuses_the_connection(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        ports = {(await client.get("/peer")).json()["port"] for _ in range(5)}
    assert len(ports) == 1


async def test_connection_close_is_honoured(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    raw = await exchange(
        port,
        b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n",
        half_close=False,
    )
    assert statuses(raw) == [200]
    assert b"connection: close" in raw.lower()


async def test_pipelined_requests_answered_in_order(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    raw = await exchange(
        port,
        b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert statuses(raw) == [200, 404, 200]
    assert raw.index(b'"item":"1"') < raw.index(b'"got":{}')


async def test_http_1_0_request_is_answered_and_closed(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    raw = await exchange(port, b"GET /items/z HTTP/1.0\r\n\r\n", half_close=False)
    assert statuses(raw) == [200]


async def test_handler_errors(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        boom = await client.get("/boom")
        conflict = await client.get("/conflict")
        after = await client.get("/items/still-up")
    assert boom.status_code == 500
    assert b"handler bug" not in boom.content
    assert conflict.status_code == 409 and conflict.headers["x-reason"] == "dup"
    assert b"already there" in conflict.content
    assert after.status_code == 200


async def test_json_error_renderer(nursery: trio.Nursery) -> None:
    port = await start(nursery, ServerConfig(error_renderer=json_error))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get("/nothing")
    assert response.status_code == 404
    assert response.json() == {"code": "HTTP_404", "message": "no such resource"}


# --- limits ---------------------------------------------------------------


async def test_content_length_over_limit_is_refused_unread(nursery: trio.Nursery) -> None:
    port = await start(nursery, ServerConfig(max_body_bytes=100))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        small = await client.post("/json", content=b"[" + b"1," * 40 + b"1]")
        big = await client.post("/json", content=b"[" + b"1," * 60 + b"1]")
    assert small.status_code == 200
    assert big.status_code == 413


async def test_chunked_body_over_limit(nursery: trio.Nursery) -> None:
    port = await start(nursery, ServerConfig(max_body_bytes=100))
    chunk = b"x" * 60
    raw = await exchange(
        port,
        b"POST /json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"3c\r\n" + chunk + b"\r\n") * 3
        + b"0\r\n\r\n",
    )
    assert statuses(raw) == [413]


async def test_expect_100_continue(nursery: trio.Nursery) -> None:
    port = await start(nursery, ServerConfig(max_body_bytes=100))
    refused = await exchange(
        port,
        b"POST /json HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
        half_close=False,
    )
    assert statuses(refused) == [413]

    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"POST /json HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        interim = await stream.receive_some(1024)
        assert interim.startswith(b"HTTP/1.1 100 ")
        await stream.send_all(b"[]")
        final = await stream.receive_some(1024)
    assert statuses(bytes(final)) == [200]


async def test_oversized_head_gets_431(nursery: trio.Nursery) -> None:
    port = await start(nursery, ServerConfig(max_header_bytes=1024))
    raw = await exchange(
        port, b"GET /items/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n"
    )
    assert statuses(raw) == [431]


async def test_too_many_connections(nursery: trio.Nursery) -> None:
    port = await start(nursery, ServerConfig(max_connections=1))
    holder = await trio.open_tcp_stream("127.0.0.1", port)
    async with holder:
        await holder.send_all(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert statuses(bytes(await holder.receive_some(4096))) == [200]
        refused = await exchange(port, b"GET /items/2 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert statuses(refused) == [503]
    # The slot is freed when the first connection goes away.
    with trio.fail_after(5):
        while True:
            raw = await exchange(port, b"GET /items/3 HTTP/1.1\r\nHost: x\r\n\r\n")
            if statuses(raw) == [200]:
                break
            await trio.sleep(0.01)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ServerConfig(header_timeout=0)
    with pytest.raises(ValueError):
        ServerConfig(idle_timeout=float("inf"))
    with pytest.raises(ValueError):
        ServerConfig(max_connections=0)


# --- timeouts (virtual clock) --------------------------------------------


async def test_silent_new_connection_is_closed_without_answer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    port = await start(nursery, ServerConfig(header_timeout=5))
    start_time = trio.current_time()
    raw = await exchange(port, b"", half_close=False)
    assert raw == b""
    assert trio.current_time() - start_time >= 5


async def test_slow_head_gets_408(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    port = await start(nursery, ServerConfig(header_timeout=5, idle_timeout=100))
    start_time = trio.current_time()
    raw = await exchange(port, b"GET /items/x HTTP/1.1\r\nHost: x\r\n", half_close=False)
    assert statuses(raw) == [408]
    assert 5 <= trio.current_time() - start_time < 100


async def test_slow_body_gets_408(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    port = await start(nursery, ServerConfig(body_timeout=7))
    raw = await exchange(
        port,
        b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n[1,",
        half_close=False,
    )
    assert statuses(raw) == [408]


async def test_idle_keep_alive_connection_is_closed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    port = await start(nursery, ServerConfig(header_timeout=5, idle_timeout=30))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert statuses(bytes(await stream.receive_some(4096))) == [200]
        idle_from = trio.current_time()
        assert await stream.receive_some(4096) == b""  # closed, no answer
    assert trio.current_time() - idle_from >= 30


async def test_slow_handler_gets_503_and_cancellation_reaches_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    port = await start(nursery, ServerConfig(handler_timeout=10))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        response = await client.get("/slow")
        assert response.status_code == 503
        assert (await client.get("/items/ok")).status_code == 200


async def test_client_disconnect_does_not_hurt_the_server(nursery: trio.Nursery) -> None:
    port = await start(nursery)
    for data in (b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", b"GET"):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(data)
        await stream.aclose()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/items/ok")).status_code == 200


async def test_serve_reports_an_explicit_port(nursery: trio.Nursery) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    free_port = listener.getsockname()[1]
    listener.close()
    from functools import partial

    from acquirers.http import serve

    from .helpers import demo_app

    port = await nursery.start(partial(serve, demo_app(), port=free_port))
    assert port == free_port
