"""Garbage in: any bytes give a 4xx answer or a closed connection, and the server stays up."""

from __future__ import annotations

import logging

import httpx
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acquirers.http import ServerConfig

from .helpers import exchange, start, statuses

PREFIXES = [
    b"",
    b"GET / HTTP/1.1\r\n",
    b"GET /items/x HTTP/1.1\r\nHost: a\r\n",
    b"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: ",
    b"POST /xml HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    b"GET /items/x HTTP/1.1\r\nHost: a\r\n\r\nGET ",
]
HTTPISH = st.text(alphabet=st.sampled_from(list("GETPOST /:\r\n\t HTTP1.0ab%{}[]<>&;\x00\xff")))

garbage = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=300)).map(b"".join),
    st.tuples(st.sampled_from(PREFIXES), HTTPISH.map(lambda t: t.encode("utf-8"))).map(b"".join),
)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=garbage)
async def test_garbage_gets_4xx_or_close(data: bytes) -> None:
    config = ServerConfig(
        max_header_bytes=1024, max_body_bytes=512, header_timeout=2, body_timeout=2
    )
    errors = _Errors()
    logger = logging.getLogger("acquirers.http")
    logger.addHandler(errors)
    try:
        await _check(config, data)
    finally:
        logger.removeHandler(errors)
    # An exception that escaped the protocol handling would be logged here.
    assert not errors.records, [r.getMessage() for r in errors.records]


async def _check(config: ServerConfig, data: bytes) -> None:
    async with trio.open_nursery() as nursery:
        port = await start(nursery, config)
        raw = await exchange(port, data)
        codes = statuses(raw)  # well-formed responses only
        # A garbage prefix may complete a valid GET /items/x first (200).
        valid = [c for c in codes if c == 200]
        assert all(400 <= c <= 499 for c in codes[len(valid) :]), codes
        assert all(c == 200 for c in codes[: len(valid)])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/items/alive")).status_code == 200
        nursery.cancel_scope.cancel()
