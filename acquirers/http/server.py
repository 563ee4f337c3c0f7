# Strategy: a small HTTP/1.1 server (RFC 9112) for the simulated and real
# parties the terminal talks to over HTTP(S): the SBP agent simulator now, the
# configuration and key-server simulators later. h11 is the sans-I/O protocol
# engine; this module is the thin trio adapter around it (docs/conventions.md,
# 1): it feeds received bytes to h11, enforces the limits h11 leaves to its
# user, reads each request body whole and calls one handler per request.
#
# Limits (all in `ServerConfig`):
# - header block size (h11 `max_incomplete_event_size`, answered 431);
# - body size: a Content-Length over the limit is answered 413 before any of
#   the body is read (and without "100 Continue"); a chunked body is cut off
#   at the limit with 413;
# - timeouts: a new connection must complete its request head within
#   `header_timeout`; between keep-alive requests the connection may stay
#   silent for `idle_timeout` (then it is closed without an answer) and,
#   once the next request starts, the head must arrive within
#   `header_timeout` (slow-loris); the body within `body_timeout`; writing a
#   response within `write_timeout`; a handler within `handler_timeout`.
#   Stalled heads and bodies are answered 408 and closed;
# - concurrent connections: over `max_connections` new ones get 503 (on a
#   TLS server they are closed before the handshake instead).
# A streamed response (Response.stream) goes out chunk by chunk as its
# iterator yields them, each write within `write_timeout`; the handler's
# time limit covers producing the response, not the life of its stream.
# Protocol errors are answered with h11's status hint (400, 431, 505) and the
# connection is closed; every response that ends a connection says
# "Connection: close". A handler's `HTTPException` becomes its response; any
# other exception is logged and answered 500. Nothing a peer sends can stop
# the server: each connection's failures stay in its own task.
#
# TLS is optional: with an `ssl.SSLContext` every connection is wrapped in a
# `trio.SSLStream`; a context with `verify_mode = CERT_REQUIRED` and a CA makes
# it mutual TLS and the verified client certificate reaches handlers in
# `Request.tls` (see `acquirers.http.tls`).
from __future__ import annotations

import contextlib
import datetime
import logging
import math
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import h11
import trio

from acquirers.http.message import (
    HTTPException,
    Request,
    Response,
    TlsInfo,
    reason_phrase,
    text_error,
)
from acquirers.http.routing import Handler

__all__ = ["ServerConfig", "http_date", "serve", "serve_listeners"]

log = logging.getLogger("acquirers.http")

_RECEIVE_SIZE = 16384
_CLOSE_GRACE = 1.0  # seconds for a TLS close_notify
_LINGER_TIME = 2.0  # seconds to drain a refused request before closing
_LINGER_BYTES = 4 * 1024 * 1024
_SERVER_NAME = "cardcore"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: float | None = None) -> str:
    """The Date header's IMF-fixdate (RFC 9110 5.6.7), as
    email.utils.formatdate(usegmt=True) gives it without the email package."""
    # datetime, as formatdate, rounds to the microsecond: 1.9999996 is 00:00:02
    t = datetime.datetime.fromtimestamp(time.time() if when is None else when, datetime.UTC)
    return (
        f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Limits and options of one server; the defaults suit a loopback simulator.

    ``error_renderer`` builds the body of errors the core answers itself (and
    of ``HTTPException`` without an explicit response), e.g. ``json_error``.
    ``handler_timeout`` of ``None`` lets handlers run unbounded.
    """

    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    write_timeout: float = 10.0
    handler_timeout: float | None = 30.0
    max_connections: int = 128
    ssl_context: ssl.SSLContext | None = None
    error_renderer: Callable[[int, str], Response] = text_error

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "idle_timeout", "write_timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.handler_timeout is not None and not self.handler_timeout > 0:
            raise ValueError("handler_timeout must be positive or None")
        if self.max_header_bytes < 256 or self.max_body_bytes < 0 or self.max_connections < 1:
            raise ValueError("limits out of range")


async def serve(
    handler: Handler,
    *,
    host: str | None = "127.0.0.1",
    port: int = 0,
    config: ServerConfig | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` and serve ``handler`` until cancelled.

    Use ``port = await nursery.start(serve, handler)``: readiness is reported
    with the bound TCP port (useful with ``port=0``). With ``host=None`` trio
    may open several listeners (IPv4 and IPv6); the port of the first one is
    reported, so pass an explicit port in that case.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    await serve_listeners(handler, listeners, config=config, task_status=task_status)


async def serve_listeners(
    handler: Handler,
    listeners: list[trio.SocketListener],
    *,
    config: ServerConfig | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` on already open listeners (reports the first port)."""
    server = _Server(handler, config or ServerConfig())
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, server.handle_stream, listeners)
        log.info("HTTP%s server listening on port %d", "S" if server.tls else "", bound)
        task_status.started(bound)


class _Failure(Exception):
    """Answer ``status`` (rendered) and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Closed(Exception):
    """The peer went away or stayed silent: close without answering."""


class _Server:
    def __init__(self, handler: Handler, config: ServerConfig) -> None:
        self.handler = handler
        self.config = config
        self.tls = config.ssl_context
        self.slots = trio.CapacityLimiter(config.max_connections)

    async def handle_stream(self, stream: trio.SocketStream) -> None:
        client = _peer_address(stream)
        try:
            self.slots.acquire_nowait()
        except trio.WouldBlock:
            await self._refuse(stream, 503, "too many connections")
            return
        connected: trio.abc.Stream = stream
        try:
            tls_info: TlsInfo | None = None
            if self.tls is not None:
                ssl_stream = trio.SSLStream(
                    stream, self.tls, server_side=True, https_compatible=True
                )
                with trio.move_on_after(self.config.header_timeout) as scope:
                    await ssl_stream.do_handshake()
                if scope.cancelled_caught:
                    log.debug("TLS handshake timed out from %s", client)
                    return
                connected = ssl_stream
                tls_info = _tls_info(ssl_stream)
            await _Connection(self, connected, client, tls_info).run()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            # Includes TLS failures (bad or missing client certificate).
            log.debug("connection from %s broken: %s", client, exc.__cause__ or exc)
        except Exception:
            log.exception("HTTP connection from %s failed", client)
        finally:
            self.slots.release()
            if connected is not stream:
                # Sends close_notify if it can; closes the socket in any case.
                with trio.move_on_after(_CLOSE_GRACE):
                    await connected.aclose()
            await trio.aclose_forcefully(stream)

    async def _refuse(self, stream: trio.SocketStream, status: int, message: str) -> None:
        try:
            if self.tls is None:
                data = _raw_response(self.config, status, message)
                await _answer_and_linger(stream, data, self.config.write_timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


class _Connection:
    def __init__(
        self,
        server: _Server,
        stream: trio.abc.Stream,
        client: tuple[str, int] | None,
        tls: TlsInfo | None,
    ) -> None:
        self.server = server
        self.config = server.config
        self.stream = stream
        self.client = client
        self.tls = tls
        self.conn = h11.Connection(
            h11.SERVER, max_incomplete_event_size=server.config.max_header_bytes
        )
        self.served = 0

    async def run(self) -> None:
        while True:
            try:
                head = await self._receive_head()
                body = await self._receive_body(head)
            except _Closed:
                return
            except _Failure as failure:
                await self._refuse(failure.status, failure.message)
                return
            except h11.RemoteProtocolError as exc:
                # h11's message may quote the peer's bytes: log it, do not echo it.
                log.debug("bad request from %s: %s", self.client, exc)
                status = exc.error_status_hint if 400 <= exc.error_status_hint < 600 else 400
                await self._refuse(status, "malformed request")
                return
            request = _make_request(head, body, self.client, self.tls)
            response = await self._dispatch(request)
            if not await self._send_response(request, response):
                return
            self.served += 1
            if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                self.conn.start_next_cycle()
            else:
                return

    async def _refuse(self, status: int, message: str) -> None:
        data = _raw_response(self.config, status, message)
        await _answer_and_linger(self.stream, data, self.config.write_timeout)

    async def _receive(self, deadline: float) -> bytes | None:
        """Some bytes, ``b""`` at end of stream, None when ``deadline`` passed."""
        with trio.move_on_at(deadline):
            return bytes(await self.stream.receive_some(_RECEIVE_SIZE))
        return None

    async def _receive_head(self) -> h11.Request:
        # h11 bounds only a head that arrives in pieces; one that arrives in a
        # single read is measured here from what h11 consumed.
        available = len(self.conn.trailing_data[0])
        started = bool(available)
        first_wait = self.config.idle_timeout if self.served else self.config.header_timeout
        deadline = trio.current_time() + (self.config.header_timeout if started else first_wait)
        while True:
            event = self.conn.next_event()
            if isinstance(event, h11.Request):
                if available - len(self.conn.trailing_data[0]) > self.config.max_header_bytes:
                    raise _Failure(431, "request head too large")
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise _Closed
            if event is not h11.NEED_DATA:
                raise _Failure(400, "unexpected data before the request")
            data = await self._receive(deadline)
            if data is None:
                if started:
                    raise _Failure(408, "request head not received in time")
                raise _Closed
            if data and not started:
                started = True
                deadline = trio.current_time() + self.config.header_timeout
            available += len(data)
            self.conn.receive_data(data)

    async def _receive_body(self, head: h11.Request) -> bytes:
        limit = self.config.max_body_bytes
        length = _content_length(head)
        if length is not None and length > limit:
            raise _Failure(413, f"body of {length} bytes is over the limit of {limit}")
        if self.conn.they_are_waiting_for_100_continue:
            await self._send_events(h11.InformationalResponse(status_code=100, headers=[]))
        deadline = trio.current_time() + self.config.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            event = self.conn.next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise _Failure(413, f"body over the limit of {limit} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            elif event is h11.NEED_DATA:
                data = await self._receive(deadline)
                if data is None:
                    raise _Failure(408, "request body not received in time")
                self.conn.receive_data(data)
            else:
                raise _Failure(400, "malformed request body")

    async def _dispatch(self, request: Request) -> Response:
        config = self.config
        try:
            if config.handler_timeout is None:
                return await self.server.handler(request)
            with trio.fail_after(config.handler_timeout):
                return await self.server.handler(request)
        except HTTPException as exc:
            if exc.response is not None:
                return exc.response
            rendered = config.error_renderer(exc.status_code, exc.message)
            return Response(
                rendered.status,
                rendered.body,
                rendered.content_type,
                rendered.headers + exc.headers,
            )
        except trio.TooSlowError:
            log.warning("handler for %s %s timed out", request.method, request.raw_path)
            return config.error_renderer(503, "handler timed out")
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.raw_path)
            return config.error_renderer(500, "internal error")

    async def _send_response(self, request: Request, response: Response) -> bool:
        """Send one response; False when the connection is unusable after it."""
        status = response.status if 200 <= response.status <= 599 else 500
        no_body = request.method == "HEAD" or status in (204, 304)
        headers = [(name.lower(), value) for name, value in response.headers]
        names = {name for name, _ in headers}
        if response.content_type and "content-type" not in names:
            headers.append(("content-type", response.content_type))
        streamed = response.stream is not None and not no_body
        if status not in (204, 304):
            headers = [h for h in headers if h[0] not in ("content-length", "transfer-encoding")]
            if not streamed:  # h11 frames a stream: chunked, or closed for HTTP/1.0
                headers.append(("content-length", str(len(response.body))))
        headers.append(("date", http_date()))
        if "server" not in names:
            headers.append(("server", _SERVER_NAME))
        events: list[Any] = [
            h11.Response(status_code=status, headers=headers, reason=reason_phrase(status))
        ]
        if not no_body and response.body and not streamed:
            events.append(h11.Data(data=response.body))
        if not streamed:
            events.append(h11.EndOfMessage())
        try:
            if not await self._send_events(*events):
                return False
            if streamed and response.stream is not None:
                return await self._send_stream(request, response.stream)
            return True
        except h11.LocalProtocolError:
            log.exception(
                "handler for %s %s gave an invalid response", request.method, request.raw_path
            )
            return False

    async def _send_stream(self, request: Request, stream: AsyncIterable[bytes]) -> bool:
        """The chunks of a streamed body, then its end; False when the
        connection is unusable after it (a write timed out, the stream failed)."""
        try:
            async with _closing(stream) as chunks:
                async for chunk in chunks:
                    if chunk and not await self._send_events(h11.Data(data=chunk)):
                        return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception:
            log.exception("stream for %s %s failed", request.method, request.raw_path)
            return False
        return await self._send_events(h11.EndOfMessage())

    async def _send_events(self, *events: Any) -> bool:
        data = b"".join(self.conn.send(event) or b"" for event in events)
        return await self._send_raw(data)

    async def _send_raw(self, data: bytes) -> bool:
        with trio.move_on_after(self.config.write_timeout):
            await self.stream.send_all(data)
            return True
        log.debug("write to %s timed out", self.client)
        return False


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterable[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """The stream's iterator, closed (an async generator's ``finally`` run)
    however the sending ends: done, cancelled or the peer gone."""
    iterator = aiter(stream)
    try:
        yield iterator
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def _answer_and_linger(stream: trio.abc.Stream, data: bytes, write_timeout: float) -> None:
    """Send a final answer, then drain what the peer still sends, for a while.

    Closing with unread data resets the connection and the peer may never
    read the answer (a 413 while it is still sending its body), so the rest
    is read and discarded for a short time (a "lingering close").
    """
    with trio.move_on_after(write_timeout) as scope:
        await stream.send_all(data)
    if scope.cancelled_caught:
        return
    if isinstance(stream, trio.abc.HalfCloseableStream):
        await stream.send_eof()
    drained = 0
    with trio.move_on_after(_LINGER_TIME):
        while drained < _LINGER_BYTES:
            chunk = await stream.receive_some(_RECEIVE_SIZE)
            if not chunk:
                break
            drained += len(chunk)


def _content_length(head: h11.Request) -> int | None:
    for name, value in head.headers:
        if name == b"content-length":
            # h11 has checked it is all digits; avoid int() on absurd lengths.
            return int(value) if len(value) <= 18 else 10**18
    return None


def _make_request(
    head: h11.Request, body: bytes, client: tuple[str, int] | None, tls: TlsInfo | None
) -> Request:
    return Request(
        method=head.method.decode("ascii"),
        target=head.target.decode("ascii", errors="replace"),
        headers=tuple(
            (name.decode("ascii"), value.decode("iso-8859-1")) for name, value in head.headers
        ),
        body=body,
        http_version=head.http_version.decode("ascii"),
        client=client,
        tls=tls,
    )


def _raw_response(config: ServerConfig, status: int, message: str) -> bytes:
    """Serialize an error answer that closes the connection.

    Written without h11 because h11 only lets a server answer once a request
    head has arrived or failed to parse; a timed-out head has neither.
    """
    rendered = config.error_renderer(status, message)
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
    headers = dict((k.lower(), v) for k, v in rendered.headers)
    if rendered.content_type:
        headers.setdefault("content-type", rendered.content_type)
    headers["content-length"] = str(len(rendered.body))
    headers["connection"] = "close"
    headers["date"] = http_date()
    headers.setdefault("server", _SERVER_NAME)
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
    return head + rendered.body


def _peer_address(stream: trio.SocketStream) -> tuple[str, int] | None:
    try:
        peer = stream.socket.getpeername()
    except OSError:
        return None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None


def _tls_info(stream: trio.SSLStream[trio.SocketStream]) -> TlsInfo:
    ssl_object: Any = stream  # trio forwards these SSLObject methods
    cipher = ssl_object.cipher()
    return TlsInfo(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        alpn=ssl_object.selected_alpn_protocol(),
        peer_cert_der=ssl_object.getpeercert(binary_form=True),
        peer_cert=ssl_object.getpeercert() or None,
    )
