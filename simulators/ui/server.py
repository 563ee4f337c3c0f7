# Strategy: the virtual terminal page's server (`cardcore serve --simulator
# --ui-port PORT`), on the repository's own HTTP/1.1 core (acquirers.http)
# in the terminal's trio process. One page (page.html, terminal.js,
# terminal.css: no build step, nothing from another host), the SBP QR as an
# SVG drawn by segno, and the face's readings (simulators.ui.face) as
# server-sent events (WHATWG HTML 9.2, text/event-stream): one `state` event
# per new reading, a comment line every KEEPALIVE seconds so a peer that went
# away is noticed. Actions are small JSON POSTs that do what `cardcore sim`
# does through the same handlers (simulators.simulator), or press a key
# (simulators.devices.keys). Guarded by simulators.ui.guard; bounded by the HTTP core's
# limits: a request head over 8 KiB (431), a body over 4 KiB (413), a head
# or body that dawdles (408), more than MAX_STREAMS pages open (503).
from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from acquirers.http import HTTPException, Request, Response, Router, ServerConfig, json_error
from acquirers.http.server import serve_listeners
from base.errors import CardcoreError
from simulators.devices.keys import KEYS
from simulators.ui.face import Face, card_choices
from simulators.ui.guard import SECURITY_HEADERS, Guard, is_loopback
from simulators.ui.page import HOST_MODES, HOST_SWITCHES, SBP_MODES, asset, render_page

if TYPE_CHECKING:
    from cardcore.terminal import Terminal
    from simulators.simulator import Simulator

__all__ = ["UiOptions", "UiServer", "serve_ui"]

log = logging.getLogger(__name__)

MAX_STREAMS = 16  # event streams (open pages) at once
KEEPALIVE = 15.0  # seconds between comment lines on a quiet event stream
RETRY_MS = 1000  # how soon a page reconnects its event stream
ASSETS = {
    "/terminal.js": ("terminal.js", "text/javascript; charset=utf-8"),
    "/terminal.css": ("terminal.css", "text/css; charset=utf-8"),
}
CARD_WAYS: dict[str, dict[str, Any]] = {
    "usual": {},
    "insert": {"interface": "contact"},
    "tap": {"interface": "contactless"},
    "also": {"also": True},
}


def _error(status: int, message: str) -> Response:
    rendered = json_error(status, message)
    return Response(rendered.status, rendered.body, rendered.content_type, SECURITY_HEADERS)


UI_LIMITS = ServerConfig(
    max_header_bytes=8 * 1024,
    max_body_bytes=4 * 1024,
    header_timeout=10.0,
    body_timeout=10.0,
    idle_timeout=30.0,
    write_timeout=10.0,
    handler_timeout=10.0,
    max_connections=64,
    error_renderer=_error,
)


@dataclass(frozen=True)
class UiOptions:
    host: str
    port: int
    # --ui-listen was given: peers on other addresses may act on the page.
    open_to_network: bool = False


class _Key(msgspec.Struct, forbid_unknown_fields=True):
    key: str


class _Card(msgspec.Struct, forbid_unknown_fields=True):
    profile: str
    how: str = "usual"


class _Mode(msgspec.Struct, forbid_unknown_fields=True):
    mode: str


class _Nothing(msgspec.Struct, forbid_unknown_fields=True):
    pass


def _ok(body: bytes, content_type: str) -> Response:
    return Response(200, body, content_type, SECURITY_HEADERS)


def _done(answer: dict[str, Any]) -> Response:
    return Response.json({"ok": True, **answer}, headers=SECURITY_HEADERS)


class UiServer:
    def __init__(self, terminal: Terminal, sim: Simulator, guard: Guard) -> None:
        self.terminal = terminal
        self.sim = sim
        self.guard = guard
        self.face = Face(terminal, sim)
        self.cards = card_choices()
        self.control = sim.handlers(terminal)
        router = self.router = Router()
        router.add("GET", "/", self.page)
        for path in ASSETS:
            router.add("GET", path, self.static)
        router.add("GET", "/favicon.ico", self.no_icon)
        router.add("GET", "/qr.svg", self.qr)
        router.add("GET", "/state", self.state)
        router.add("GET", "/events", self.events)
        router.add("POST", "/api/key", self.key)
        router.add("POST", "/api/card", self.card)
        router.add("POST", "/api/remove", self.remove)
        router.add("POST", "/api/host", self.host)
        router.add("POST", "/api/sbp", self.sbp)

    # --- what anyone who reaches the page may read -------------------------
    async def page(self, request: Request) -> Response:
        self.guard.check_host(request)
        token = self.guard.token if self.guard.writable(request) else None
        await trio.lowlevel.checkpoint()
        return _ok(render_page(self.cards, token=token), "text/html; charset=utf-8")

    async def static(self, request: Request) -> Response:
        self.guard.check_host(request)
        name, content_type = ASSETS[request.path]
        await trio.lowlevel.checkpoint()
        return _ok(asset(name), content_type)

    async def no_icon(self, request: Request) -> Response:
        await trio.lowlevel.checkpoint()
        return Response(204, headers=SECURITY_HEADERS)

    async def qr(self, request: Request) -> Response:
        """The QR on the display now, as segno draws it (404 when none is shown)."""
        self.guard.check_host(request)
        payload = self.sim.display.qr
        if not payload:
            raise HTTPException(404, "no QR code is shown")
        from acquirers.sbp.render import qr_svg

        try:
            svg = await trio.to_thread.run_sync(partial(qr_svg, payload, scale=6, border=4))
        except CardcoreError as exc:  # segno missing: the page shows the link instead
            raise HTTPException(503, exc.message) from None
        return _ok(svg.encode("utf-8"), "image/svg+xml")

    async def state(self, request: Request) -> Response:
        self.guard.check_host(request)
        await trio.lowlevel.checkpoint()
        return _ok(self.face.document, "application/json")

    async def events(self, request: Request) -> Response:
        host = self.guard.check_host(request)
        self.guard.check_same_origin(request, host)
        if self.face.watchers >= MAX_STREAMS:
            raise HTTPException(503, f"{MAX_STREAMS} pages are open already")
        # Only a page that may act stands at the terminal: its keypad then
        # enters the PIN and confirms, instead of the simulated cardholder.
        person = self.guard.writable(request) and self.guard.has_token(request.query.get("token"))
        await trio.lowlevel.checkpoint()
        return Response.streaming(
            self._stream(person), "text/event-stream; charset=utf-8", headers=SECURITY_HEADERS
        )

    async def _stream(self, person: bool) -> AsyncIterator[bytes]:
        face = self.face
        face.watchers += 1
        self.sim.changes.changed()  # the face reads more often while watched
        try:
            with self.sim.keys.person() if person else contextlib.nullcontext():
                yield f"retry: {RETRY_MS}\n\n".encode()
                seen = -1
                while True:
                    fresh = False
                    with trio.move_on_after(KEEPALIVE):
                        seen = await face.updates.wait(seen)
                        fresh = True
                    if fresh:
                        yield b"event: state\ndata: " + face.document + b"\n\n"
                    else:
                        yield b": keepalive\n\n"
        finally:
            face.watchers -= 1

    # --- actions: what a person at the terminal does -------------------------
    def _body(self, request: Request, kind: type[Any]) -> Any:
        self.guard.check_write(request)
        return request.json(kind)

    async def _control(self, command: str, **params: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = await self.control[command]({"command": command, **params})
        except CardcoreError as exc:
            raise HTTPException(409, exc.message) from None
        return answer

    async def key(self, request: Request) -> Response:
        body: _Key = self._body(request, _Key)
        if body.key not in KEYS:
            raise HTTPException(400, f"no key {body.key!r} (keys: {', '.join(KEYS)})")
        taken = self.sim.keys.press(body.key)
        await trio.lowlevel.checkpoint()
        return _done({"taken": taken})

    async def card(self, request: Request) -> Response:
        body: _Card = self._body(request, _Card)
        if body.how not in CARD_WAYS:
            raise HTTPException(400, f"how must be one of {', '.join(CARD_WAYS)}")
        if body.profile not in {c.name for c in self.cards}:
            raise HTTPException(400, f"no card profile {body.profile!r}")
        return _done(await self._control("present", profile=body.profile, **CARD_WAYS[body.how]))

    async def remove(self, request: Request) -> Response:
        self._body(request, _Nothing)
        return _done(await self._control("remove"))

    async def host(self, request: Request) -> Response:
        body: _Mode = self._body(request, _Mode)
        if body.mode not in HOST_MODES and body.mode not in HOST_SWITCHES:
            raise HTTPException(400, f"no host mode {body.mode!r}")
        return _done(await self._control("host", mode=body.mode))

    async def sbp(self, request: Request) -> Response:
        body: _Mode = self._body(request, _Mode)
        if body.mode not in SBP_MODES:
            raise HTTPException(400, f"no SBP customer mode {body.mode!r}")
        return _done(await self._control("sbp", mode=body.mode))


def _names(host: str) -> frozenset[str]:
    """The names the page answers to besides IP literals: localhost, a name
    given to --ui-listen, and this machine's names when it listens beyond
    loopback (a colleague types those)."""
    names = {"localhost"}
    if host and not _is_ip(host):
        names.add(host.lower())
    if not is_loopback(host) and host != "localhost":
        with contextlib.suppress(OSError):
            names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
    return frozenset(names)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def serve_ui(
    terminal: Terminal,
    sim: Simulator,
    options: UiOptions,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the page until cancelled; reports the bound (host, port)."""
    listeners = await trio.open_tcp_listeners(options.port, host=options.host)
    bound = listeners[0].socket.getsockname()
    host, port = str(bound[0]), int(bound[1])
    guard = Guard(port=port, open_to_network=options.open_to_network, names=_names(options.host))
    server = UiServer(terminal, sim, guard)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.face.run)
        await nursery.start(partial(serve_listeners, server.router, listeners, config=UI_LIMITS))
        log.info("virtual terminal page on http://%s/", _url_host(host, port))
        task_status.started((host, port))


def _url_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
