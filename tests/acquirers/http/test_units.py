"""Routing table, request helpers, safe XML and the httpx error boundary, without servers."""

from __future__ import annotations

from functools import partial

import httpx
import msgspec
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from acquirers.http import (
    HTTPException,
    HttpLinkError,
    HttpLinkTimeout,
    Request,
    Response,
    Router,
    map_httpx_errors,
    serve,
)
from base.errors import CardcoreError
from cardcore.protocol.status import status_of


async def _ok(request: Request) -> Response:
    return Response.json({"route": "ok", "params": dict(request.path_params)})


async def _other(request: Request) -> Response:
    return Response.text("other")


def _request(method: str, target: str, body: bytes = b"", **headers: str) -> Request:
    return Request(
        method, target, tuple((k.replace("_", "-"), v) for k, v in headers.items()), body
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/qr/AD12/status", ("GET", {"qr": "AD12"})),
        ("GET", "/qr/a%2Fb/status", ("GET", {"qr": "a/b"})),
        ("POST", "/qr/x/status", ("POST", {"qr": "x"})),
        ("HEAD", "/qr/x/status", ("GET", {"qr": "x"})),
        ("GET", "/", ("GET", {})),
        ("GET", "/qr/x/status/", ("GET", {"qr": "x"})),
    ],
)
def test_router_matches(method: str, path: str, expected: tuple[str, dict[str, str]]) -> None:
    router = Router()
    router.add("GET", "/qr/{qr}/status", _ok)
    router.add("POST", "/qr/{qr}/status", _other)
    router.add("GET", "/", _other)
    route, params = router.match(method, path)
    assert (route.method, params) == expected


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/qr//status", 404),
        ("GET", "/qr/x", 404),
        ("PUT", "/qr/x/status", 405),
        ("GET", "/qr/%ff/status", 400),
    ],
)
def test_router_refuses(method: str, path: str, status: int) -> None:
    router = Router()
    router.add("GET", "/qr/{qr}/status", _ok)
    with pytest.raises(HTTPException) as caught:
        router.match(method, path)
    assert caught.value.status_code == status


def test_router_rejects_bad_tables() -> None:
    router = Router()
    router.add("GET", "/a/{x}", _ok)
    with pytest.raises(ValueError):
        router.add("GET", "/a/{y}", _ok)  # same shape, same method
    with pytest.raises(ValueError):
        router.add("GET", "/b/{x}/{x}", _ok)
    with pytest.raises(ValueError):
        router.add("get", "/c", _ok)
    with pytest.raises(ValueError):
        router.add("GET", "c", _ok)


async def test_router_dispatch_sets_path_params() -> None:
    router = Router()
    router.add("GET", "/t/{sn}", _ok)
    response = await router(_request("GET", "/t/00012345?x=1"))
    assert msgspec.json.decode(response.body) == {"route": "ok", "params": {"sn": "00012345"}}


class Thing(msgspec.Struct):
    name: str
    count: int


def test_request_helpers() -> None:
    request = _request(
        "POST",
        "/p%20q?a=1&a=2&b",
        b'{"name": "x", "count": 2}',
        Content_Type="Application/JSON; x=y",
    )
    assert request.path == "/p q" and request.raw_path == "/p%20q"
    assert request.query == {"a": "1", "b": ""}
    assert request.header("CONTENT-TYPE") == "Application/JSON; x=y"
    assert request.content_type == "application/json"
    assert request.json(Thing) == Thing("x", 2)
    with pytest.raises(HTTPException) as caught:
        _request("POST", "/", b'{"name": 1, "count": 2}').json(Thing)
    assert caught.value.status_code == 400
    assert request.certificate() is None


def test_http_exception_only_for_errors() -> None:
    with pytest.raises(ValueError):
        HTTPException(200)
    assert isinstance(HTTPException(404), CardcoreError)


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>',
        b"<!DOCTYPE a><a/>",
    ],
)
def test_xml_bodies_refuse_dtds(document: bytes) -> None:
    with pytest.raises(HTTPException) as caught:
        _request("POST", "/", document).xml()
    assert caught.value.status_code == 400
    assert "forbidden XML" in caught.value.message


def test_xml_bodies_keep_attributes_and_text() -> None:
    root = _request(
        "POST",
        "/",
        '<?xml version="1.0" encoding="windows-1251"?><t a="1"><b>x</b>y</t>'.encode("cp1251"),
    ).xml()
    assert root.tag == "t" and root.attrib == {"a": "1"}
    assert root.find("b") is not None and root.find("b").text == "x"  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_xml_bodies_of_garbage_are_400(data: bytes) -> None:
    try:
        _request("POST", "/", data).xml()
    except HTTPException as exc:
        assert exc.status_code == 400


# --- the httpx boundary ---------------------------------------------------


async def test_map_httpx_errors_connection_refused() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    async with httpx.AsyncClient() as client:
        with pytest.raises(HttpLinkError) as caught, map_httpx_errors("probe"):
            await client.get(f"http://127.0.0.1:{port}/")
    assert status_of(caught.value) == "communicationerror"
    assert not isinstance(caught.value, HttpLinkTimeout)


async def test_map_httpx_errors_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow(request: Request) -> Response:
        await trio.sleep(100)
        return Response.text("late")

    port = await nursery.start(partial(serve, slow))
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(HttpLinkTimeout) as caught, map_httpx_errors("probe"):
            await client.get(f"http://127.0.0.1:{port}/")
    assert status_of(caught.value) == "timeout"


async def test_map_httpx_errors_uses_given_classes_and_passes_cancellation() -> None:
    class MyError(CardcoreError):
        pass

    with pytest.raises(MyError), map_httpx_errors("x", communication=MyError):
        raise httpx.RemoteProtocolError("bad")
    with trio.move_on_after(0) as scope, map_httpx_errors("x"):
        await trio.sleep(1)
    assert scope.cancelled_caught


@settings(max_examples=300)
@given(st.floats(min_value=0, max_value=2**33 - 1, allow_nan=False))
def test_date_header_is_email_utils_formatdate(when: float) -> None:
    from email.utils import formatdate

    from acquirers.http.server import http_date

    assert http_date(when) == formatdate(when, usegmt=True)
