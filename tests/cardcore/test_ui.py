"""The virtual terminal page's server without a browser, over real loopback
HTTP: the page and its stable test ids, the event stream carrying the
terminal's state as the HAL drivers hold it, the keypad entering a PIN and
confirming resetpassword while a page is open, the actions, and the
refusals (foreign Host, other origins, no token, not JSON, too big, too
slow, too many pages, a peer on another machine)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from acquirers.http import Request
from cardcore.journal import JournalError
from cardcore.protocol.xmlcodec import Message
from simulators.devices.profile import list_profiles
from simulators.ui import UiOptions, serve_ui
from simulators.ui import server as ui_server
from simulators.ui.face import card_choices
from simulators.ui.guard import Guard, is_loopback
from simulators.ui.page import HOST_MODES, HOST_SWITCHES, asset, render_page
from tests.cardcore.harness import Harness, simulated_terminal

from ..acquirers.http.helpers import exchange

PAN = "4761739001010010"  # the `default` card's


@dataclass
class Ui:
    harness: Harness
    port: int
    token: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, headers=headers, timeout=30)

    async def act(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        sent = {"x-cardcore-token": self.token, "origin": self.base, **headers}
        async with self.client() as client:
            return await client.post(path, json=body, headers=sent)


@asynccontextmanager
async def opened(tmp_path: Path) -> AsyncIterator[Ui]:
    async with simulated_terminal(tmp_path, {"transaction": {"detection-timeout": 20}}) as h:
        _, port = await h.nursery.start(serve_ui, h.terminal, h.sim, UiOptions("127.0.0.1", 0))
        async with httpx.AsyncClient() as client:
            page = (await client.get(f"http://127.0.0.1:{port}/")).text
        token = re.search(r'name="cardcore-token" content="([^"]*)"', page)
        assert token is not None and token.group(1)
        yield Ui(h, port, token.group(1))


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[Ui]:
    async with opened(tmp_path) as page:
        yield page


class Stream:
    """One open page's event stream: its `state` documents as they come."""

    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel[dict[str, Any]](1000)
        self.status = 0

    async def run(self, ui: Ui, query: str, *, task_status: trio.TaskStatus[None]) -> None:
        async with ui.client() as client, client.stream("GET", "/events" + query) as response:
            self.status = response.status_code
            assert response.headers["content-type"].startswith("text/event-stream")
            task_status.started()
            try:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        await self.send.send(json.loads(line[6:]))
            except (httpx.RemoteProtocolError, httpx.ReadError):
                pass  # the terminal stopped before the page

    async def until(self, check: Any, timeout: float = 20) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                state = await self.receive.receive()
                if check(state):
                    return state


class Answers:
    """What the cash register got, from a command running beside the test."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.done = trio.Event()

    async def keep(self, command: Awaitable[Message]) -> None:
        self.got.append(await command)
        self.done.set()

    async def first(self, timeout: float = 20) -> Message:
        with trio.fail_after(timeout):
            await self.done.wait()
        return self.got[0]


async def open_page(ui: Ui, nursery: trio.Nursery, *, person: bool = True) -> Stream:
    stream = Stream()
    await nursery.start(stream.run, ui, f"?token={ui.token}" if person else "")
    return stream


# --- the page ----------------------------------------------------------------------
async def test_the_page_has_every_control_with_its_test_id(ui: Ui) -> None:
    async with ui.client() as client:
        response = await client.get("/")
    html = response.text
    ids = set(re.findall(r'data-testid="([^"]+)"', html))
    keys = {f"keypad-{k}" for k in [*"0123456789", "cancel", "clear", "ok"]}
    cards = {f"card-{name}" for name in list_profiles()}
    hosts = {f"host-{mode}" for mode in [*HOST_MODES, *HOST_SWITCHES]}
    assert {"display", "leds", "receipt", "qr", "remove-card"} <= ids
    assert keys <= ids and cards <= ids and hosts <= ids
    assert {"sbp-pay", "sbp-reject", "sbp-none", "card-mifare-classic"} <= ids
    assert " disabled" not in html  # this peer (loopback) may act
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_the_readme_names_every_test_id_of_the_page() -> None:
    """The README's list of `data-testid`s is the page's, no more, no less
    (PROFILE and MODE stand for every profile and host mode)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("stable `data-testid` attributes:")
    listed = readme[start : readme.index("`GET /state`", start)]
    named = set(re.findall(r"`([^`]+)`", listed)) - {"data-testid"}
    modes = re.search(r"`host-MODE` \(([^)]*)\)", listed)
    assert modes is not None
    assert [m.strip() for m in modes.group(1).split(",")] == [*HOST_MODES, *HOST_SWITCHES]
    assert {"keypad-0", "keypad-9"} <= named  # "keypad-0 ... keypad-9"
    named = {"keypad-DIGIT" if n in ("keypad-0", "keypad-9") else n for n in named}
    html = render_page(card_choices(), token="t").decode()
    profiles = "|".join(re.escape(name) for name in list_profiles())
    shown = set()
    for testid in re.findall(r'data-testid="([^"]+)"', html):
        testid = re.sub(rf"^(card|insert|tap|also)-({profiles})$", r"\1-PROFILE", testid)
        testid = re.sub(r"^host-.*$", "host-MODE", testid)
        shown.add(re.sub(r"^keypad-[0-9]$", "keypad-DIGIT", testid))
    assert named == shown


def test_the_page_needs_nothing_from_another_host() -> None:
    for name in ("page.html", "terminal.js", "terminal.css"):
        text = asset(name).decode()
        assert not re.search(r"(https?:)?//[a-z0-9]", text, re.I), name
        assert "@import" not in text and "url(" not in text and "@font-face" not in text


async def test_assets_are_served_with_their_types(ui: Ui) -> None:
    async with ui.client() as client:
        js = await client.get("/terminal.js")
        css = await client.get("/terminal.css")
        qr = await client.get("/qr.svg")
    assert js.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    assert js.content == asset("terminal.js")
    assert qr.status_code == 404  # no QR on the display


def test_every_profile_is_a_card_and_mifare_is_one_kind() -> None:
    kinds = {c.name: c.kind for c in card_choices()}
    assert set(kinds) == set(list_profiles())
    assert kinds["default"] == "contact" and kinds["visa-qvsdc"] == "contactless"
    assert kinds["mifare-classic"] == "mifare"


# --- the event stream -----------------------------------------------------------------
async def test_the_stream_carries_what_the_drivers_show(ui: Ui, nursery: trio.Nursery) -> None:
    stream = await open_page(ui, nursery, person=False)
    first = await stream.until(lambda s: True)
    assert first["field"] == [{"profile": "default", "interface": "contact"}]
    assert first["host"]["mode"] == "approve" and first["sbp"] == "none"
    sim = ui.harness.sim
    await sim.display.show(0x03, "ОДОБРЕНО", 15000, "643", "ru")
    await sim.indicators.show((True, True, True, True), "success")
    state = await stream.until(lambda s: s["tone"] is not None)
    assert state["display"] == {"code": "03", "text": "ОДОБРЕНО", "language": "ru",
                                "amount": "150.00 RUB"}  # fmt: skip
    assert state["lights"] == [True, True, True, True]
    assert state["tone"] == {"name": "success", "count": 1}
    assert state["people"] == 0  # a page without the token only looks


async def test_a_page_with_its_token_stands_at_the_terminal(ui: Ui, nursery: trio.Nursery) -> None:
    keys = ui.harness.sim.keys
    stream = await open_page(ui, nursery)
    await stream.until(lambda s: s["people"] == 1)
    assert keys.attended


async def test_the_qr_is_drawn_while_it_is_shown(ui: Ui, nursery: trio.Nursery) -> None:
    stream = await open_page(ui, nursery, person=False)
    payload = "https://qr.nspk.ru/AD10006M8KH7SC6F8LB8A6D5SQ4NQ3IL?type=02&sum=15000&cur=RUB"
    await ui.harness.sim.display.show_qr(payload)
    state = await stream.until(lambda s: s["qr"] is not None)
    assert state["qr"]["payload"] == payload
    async with ui.client() as client:
        svg = await client.get("/qr.svg?qr=" + state["qr"]["tag"])
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    await ui.harness.sim.display.show_qr(None)
    await stream.until(lambda s: s["qr"] is None)


async def test_a_journal_that_cannot_be_read_leaves_the_page_live(
    ui: Ui, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(limit: int = 10) -> list[Any]:
        await trio.lowlevel.checkpoint()
        raise JournalError("journal: disk I/O error")

    stream = await open_page(ui, nursery, person=False)
    await stream.until(lambda s: True)
    monkeypatch.setattr(ui.harness.terminal.journal, "recent", broken)
    await ui.harness.sim.display.show(0x0E, "ДОБРО ПОЖАЛОВАТЬ")
    state = await stream.until(lambda s: s["journal-error"] is not None)
    assert state["journal-error"] == "journal: disk I/O error"
    assert state["display"]["text"] == "ДОБРО ПОЖАЛОВАТЬ"  # the rest is still read
    monkeypatch.undo()
    await ui.harness.sim.display.show(0x0E, "ДОБРО ПОЖАЛОВАТЬ", language="ru")
    await stream.until(lambda s: s["journal-error"] is None)


# --- a person at the terminal ------------------------------------------------------------
async def test_a_purchase_with_the_pin_typed_on_the_page(ui: Ui, nursery: trio.Nursery) -> None:
    stream = await open_page(ui, nursery)
    await stream.until(lambda s: s["people"] == 1)
    answers = Answers()
    nursery.start_soon(answers.keep, ui.harness.transaction(type="purchase", amount="000000015000"))
    state = await stream.until(lambda s: s["waiting"] == "pin")
    assert state["display"]["text"] == "ВВЕДИТЕ ПИН" and state["pin"] == {"typed": 0}
    for key in "1239":
        assert (await ui.act("/api/key", {"key": key})).json() == {"ok": True, "taken": True}
    assert (await ui.act("/api/key", {"key": "clear"})).status_code == 200
    typed = await stream.until(lambda s: s["pin"] == {"typed": 3})
    assert "1239" not in json.dumps(typed)
    for key in ["4", "ok"]:
        await ui.act("/api/key", {"key": key})
    approved = {"code": "03", "text": "ОДОБРЕНО", "language": "ru", "amount": "150.00 RUB"}
    state = await stream.until(lambda s: s["slip"] is not None and approved in s["log"])
    assert (await answers.first()).status == "ok"
    assert any("150.00 RUB" in line for line in state["slip"])
    assert any("APPROVED" in line for line in state["slip"])
    assert state["recent"][0]["pan"] == "*0010" and state["recent"][0]["tstatus"] == "approved"
    assert state["ledger"][0]["amount"] == "150.00"
    assert PAN not in json.dumps(state, ensure_ascii=False)
    async with ui.client() as client:
        assert PAN not in (await client.get("/state")).text


async def test_a_key_nothing_waits_for_is_not_taken(ui: Ui) -> None:
    answer = await ui.act("/api/key", {"key": "5"})
    assert answer.json() == {"ok": True, "taken": False}


async def test_resetpassword_waits_for_ok_on_the_page(ui: Ui, nursery: trio.Nursery) -> None:
    stream = await open_page(ui, nursery)
    await stream.until(lambda s: s["people"] == 1)
    answers = Answers()
    nursery.start_soon(answers.keep, ui.harness.connect().command("resetpassword"))
    state = await stream.until(lambda s: s["confirm"] is not None)
    assert "Reset the administrator password" in state["confirm"]
    assert not answers.got  # no automatic confirmation while the page is open
    await ui.act("/api/key", {"key": "ok"})
    await stream.until(lambda s: s["confirm"] is None)
    assert (await answers.first()).status == "ok"


async def test_resetpassword_refused_with_cancel(ui: Ui, nursery: trio.Nursery) -> None:
    stream = await open_page(ui, nursery)
    await stream.until(lambda s: s["people"] == 1)
    answers = Answers()
    nursery.start_soon(answers.keep, ui.harness.connect().command("resetpassword"))
    await stream.until(lambda s: s["waiting"] == "confirm")
    await ui.act("/api/key", {"key": "cancel"})
    assert (await answers.first()).status == "notauthorized"


# --- actions -------------------------------------------------------------------------
async def test_cards_host_and_customer_switches(ui: Ui) -> None:
    sim = ui.harness.sim
    assert (await ui.act("/api/card", {"profile": "visa-qvsdc"})).status_code == 200
    assert sim.slot.presented_all == [("visa-qvsdc", sim.slot.presented_all[0][1])]
    assert sim.slot.presented_all[0][1].value == "contactless"
    await ui.act("/api/card", {"profile": "mc-contactless", "how": "also"})
    assert [name for name, _ in sim.slot.presented_all] == ["visa-qvsdc", "mc-contactless"]
    await ui.act("/api/card", {"profile": "default", "how": "insert"})
    assert [(n, i.value) for n, i in sim.slot.presented_all] == [("default", "contact")]
    await ui.act("/api/card", {"profile": "mifare-classic"})
    assert [(n, i.value) for n, i in sim.slot.presented_all] == [("mifare-classic", "contactless")]
    assert (await ui.act("/api/remove", {})).status_code == 200
    assert sim.slot.presented_all == []
    assert sim.host is not None and sim.sbp is not None
    await ui.act("/api/host", {"mode": "decline"})
    await ui.act("/api/host", {"mode": "mismatch"})
    assert sim.host.control.mode.value == "decline" and sim.host.control.reconciliation_mismatch
    await ui.act("/api/sbp", {"mode": "pay"})
    assert sim.sbp.control.mode.value == "pay"


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/api/card", {"profile": "nope"}, 400, "no card profile"),
        ("/api/card", {"profile": "default", "how": "swipe"}, 400, "how must be"),
        ("/api/card", {"profile": "visa-qvsdc", "how": "insert"}, 409, "cannot be presented"),
        ("/api/card", {"profile": "default", "extra": 1}, 400, "invalid JSON"),
        ("/api/host", {"mode": "explode"}, 400, "no host mode"),
        ("/api/sbp", {"mode": "maybe"}, 400, "no SBP customer mode"),
        ("/api/key", {"key": "#"}, 400, "no key"),
        ("/api/remove", {"all": True}, 400, "invalid JSON"),
    ],
)
async def test_bad_actions_get_one_line(
    ui: Ui, path: str, body: dict[str, Any], status: int, says: str
) -> None:
    answer = await ui.act(path, body)
    assert answer.status_code == status
    assert says in answer.json()["message"]
    assert "content-security-policy" in answer.headers


# --- refusals ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/events", "/state", "/terminal.js"])
async def test_a_foreign_host_name_gets_nothing(ui: Ui, path: str) -> None:
    async with ui.client(host=f"attacker.example:{ui.port}") as client:
        response = await client.get(path)
    assert response.status_code == 421
    assert "cardcore-token" not in response.text
    async with ui.client(host=f"127.0.0.1:{ui.port + 1}") as client:
        assert (await client.get(path)).status_code == 421


async def test_localhost_and_ip_literals_are_this_server(ui: Ui) -> None:
    for host in (f"localhost:{ui.port}", f"127.0.0.1:{ui.port}", f"[::1]:{ui.port}"):
        async with ui.client(host=host) as client:
            assert (await client.get("/state")).status_code == 200, host


async def test_no_host_header_is_refused(ui: Ui) -> None:
    raw = await exchange(ui.port, b"GET / HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({"origin": "http://attacker.example"}, 403, "cross-origin"),
        ({"origin": "null"}, 403, "cross-origin"),
        ({"sec-fetch-site": "cross-site"}, 403, "cross-site"),
        ({"x-cardcore-token": ""}, 403, "token"),
        ({"x-cardcore-token": "guessed"}, 403, "token"),
        ({"content-type": "text/plain"}, 415, "application/json"),
    ],
)
async def test_cross_site_and_tokenless_actions_are_refused(
    ui: Ui, headers: dict[str, str], status: int, says: str
) -> None:
    sent = {"x-cardcore-token": ui.token, "origin": ui.base, "content-type": "application/json"}
    sent.update(headers)
    async with ui.client() as client:
        answer = await client.post("/api/remove", content=b"{}", headers=sent)
    assert answer.status_code == status
    assert says in answer.json()["message"]
    assert "access-control-allow-origin" not in answer.headers
    assert ui.harness.sim.slot.presented_all != []  # the card is still there


async def test_a_cross_origin_event_stream_is_refused(ui: Ui) -> None:
    async with ui.client(origin="http://attacker.example") as client:
        response = await client.get(f"/events?token={ui.token}")
    assert response.status_code == 403
    assert not ui.harness.sim.keys.attended


async def test_no_preflight_is_ever_granted(ui: Ui) -> None:
    async with ui.client(origin="http://attacker.example") as client:
        response = await client.options("/api/remove")
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


async def test_an_oversized_body_is_refused_unread(ui: Ui) -> None:
    body = b'{"key": "' + b"1" * 5000 + b'"}'
    async with ui.client() as client:
        response = await client.post(
            "/api/key",
            content=body,
            headers={"content-type": "application/json", "x-cardcore-token": ui.token},
        )
    assert response.status_code == 413
    assert "over the limit" in response.json()["message"]


async def test_an_oversized_head_is_refused(ui: Ui) -> None:
    async with ui.client() as client:
        response = await client.get("/", headers={"x-padding": "a" * 9000})
    assert response.status_code == 431


async def test_a_slow_request_head_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = dataclasses.replace(ui_server.UI_LIMITS, header_timeout=0.5)
    monkeypatch.setattr(ui_server, "UI_LIMITS", quick)
    async with opened(tmp_path) as ui:
        stream = await trio.open_tcp_stream("127.0.0.1", ui.port)
        async with stream:
            await stream.send_all(b"POST /api/remove HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with trio.fail_after(5):
                answer = await stream.receive_some(4096)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert ui.harness.sim.slot.presented_all != []


async def test_too_many_pages_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_server, "MAX_STREAMS", 2)
    async with opened(tmp_path) as ui, trio.open_nursery() as nursery:
        first = await open_page(ui, nursery, person=False)
        second = await open_page(ui, nursery, person=False)
        await first.until(lambda s: True)
        await second.until(lambda s: True)
        async with ui.client() as client:
            response = await client.get("/events")
        assert response.status_code == 503
        assert "2 pages are open" in response.json()["message"]
        nursery.cancel_scope.cancel()


# --- who may act ----------------------------------------------------------------------------
def _request(client: str, **headers: str) -> Request:
    sent = {"host": "127.0.0.1:8080", **headers}
    return Request("POST", "/api/remove", tuple(sent.items()), b"{}", client=(client, 5555))


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("192.0.2.7", False), ("::ffff:192.0.2.7", False), ("fe80::1%eth0", False), ("x", False)],
)  # fmt: skip
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_a_peer_on_another_machine_only_looks() -> None:
    guard = Guard(port=8080)
    remote = _request("192.0.2.7", origin="http://127.0.0.1:8080")
    assert not guard.writable(remote)
    with pytest.raises(Exception, match="read-only from other machines"):
        guard.check_write(remote)
    opened = Guard(port=8080, open_to_network=True)
    assert opened.writable(remote)


async def test_a_remote_peer_gets_the_page_without_token_or_live_controls(ui: Ui) -> None:
    server = ui_server.UiServer(ui.harness.terminal, ui.harness.sim, Guard(port=8080))
    page = await server.page(
        Request("GET", "/", (("host", "127.0.0.1:8080"),), client=("192.0.2.7", 5555))
    )
    html = page.body.decode()
    assert 'name="cardcore-token" content=""' in html
    assert 'class="read-only"' in html
    buttons = re.findall(r"<button[^>]*>", html)
    assert buttons and all(" disabled" in b for b in buttons)
