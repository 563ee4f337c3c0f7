"""From factory to first sale, as the README's guide runs it: a factory-fresh
`cardcore serve --simulator`, the activator, `updateconfiguration` and
`loadmasterkeys` from the command line, and then sales with nothing else: a
Visa-style tap, a Mastercard-style tap and the chip card (the working keys
come by themselves). Then the configuration server turns MIFARE, data
exchange and SBP on, which takes effect, and its remote commands `info`,
`getlog` and `update` go round through the terminal's poll."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message
from tests.integration.conftest import FAST, Served, sim, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (
    FAST
    + """
[server]
keepalive-interval = 0.3
[transaction]
detection-timeout = 10
[interfaces]
sbp = false          # the server turns it on
[provisioning]
poll-interval = 0.3
"""
)


def _run(served: Served, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _client(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(served, "-m", "cardcore", "client", *args, "--port", str(served.port),
                "--session", str(served.data_dir / "cli-session.json"))  # fmt: skip


def _tap_and_buy(served: Served, profile: str, *interface: str) -> None:
    sim(served.data_dir, "present", profile, *interface)
    done = _client(served, "transaction", "--type", "purchase", "--amount", "000000001500")
    assert done.returncode == 0, (profile, done.stdout, done.stderr, served.log_text()[-3000:])
    assert "approved" in done.stdout.lower(), (profile, done.stdout)


class Register:
    def __init__(self, on_qr: Callable[[], object] | None = None) -> None:
        self.messages: list[Message] = []
        self.on_qr = on_qr

    def __call__(self, message: Message) -> Body:
        self.messages.append(message)
        if message.name == "displayqrcode" and self.on_qr is not None:
            self.on_qr()
            self.on_qr = None
        return default_message_answer(message)

    def names(self) -> set[str]:
        return {m.name for m in self.messages}


async def _purchase(served: Served, register: Register) -> Message:
    client = EcrClient(served.host, served.port, on_message=register, timeout=60)
    return await client.command("transaction", {"type": "purchase", "amount": "000000001500"})


async def _remote(served: Served, code: str) -> dict[str, Any]:
    """The server issues ``code``; its result, once the terminal's poll brought it."""
    issued = sim(served.data_dir, "tms", "command", code)
    with trio.fail_after(30):
        while True:
            status = sim(served.data_dir, "tms", "status")
            (command,) = [c for c in status["commands"] if c["id"] == issued["id"]]
            if command["state"] == "done":
                return command
            await trio.sleep(0.2)


async def test_from_factory_to_first_sale(tmp_path: Path) -> None:
    served = start_server(tmp_path / "data", config=CONFIG)
    try:
        await _life_cycle(served)
    finally:
        assert stop_server(served) == 0, served.log_text()


async def _life_cycle(served: Served) -> None:
    activation = _run(served, "-m", "tools.activator", "--simulator-data-dir",
                      str(served.data_dir))  # fmt: skip
    assert activation.returncode == 0, (activation.stdout, activation.stderr, served.log_text())
    assert _client(served, "login").returncode == 0
    update = _client(served, "updateconfiguration")
    assert update.returncode == 0, (update.stdout, update.stderr)
    keys = _client(served, "loadmasterkeys")
    assert keys.returncode == 0, (keys.stdout, keys.stderr)

    # The first sales, with no other step: taps of both kernels, then the chip.
    _tap_and_buy(served, "visa-qvsdc", "--interface", "contactless")
    _tap_and_buy(served, "mc-contactless", "--interface", "contactless")
    _tap_and_buy(served, "default", "--interface", "contact")
    assert "working keys changed" in served.log_text()

    # MIFARE, data exchange and SBP are off (the defaults; SBP by the local file).
    sim(served.data_dir, "present", "mc-contactless", "--interface", "contactless")
    register = Register()
    answer = await _purchase(served, register)
    assert answer.body["receipt"]["tstatus"] == "approved", answer.body
    assert not register.names() & {"smartcard", "dex", "displayqrcode"}

    # The server turns them on; its remote `update` installs the change.
    changed = sim(served.data_dir, "tms", "set", "interfaces.mifare=true",
                   "transaction.data-exchange=true", "interfaces.sbp=true")  # fmt: skip
    assert changed["changed"] == ["cconf"]
    update_result = await _remote(served, "update")
    assert update_result["status"] == "ok", update_result
    # The card comes after the QR code is shown, as a customer's would: a
    # card already in the field ends detection before the QR is registered.
    sim(served.data_dir, "remove")
    register = Register(on_qr=lambda: sim(served.data_dir, "present", "mc-contactless"))
    answer = await _purchase(served, register)
    assert answer.body["receipt"]["tstatus"] == "approved", answer.body
    assert {"smartcard", "dex", "displayqrcode"} <= register.names(), register.names()

    # `info` and `getlog` round trip through the poll.
    info = await _remote(served, "info")
    assert info["status"] == "ok"
    parameters = ET.fromstring(info["payload"]).find("parameters")
    assert parameters is not None and parameters.findtext("tid") == "00000001"
    assert parameters.findtext("cconf") == changed["stages"]["cconf"]
    log = await _remote(served, "getlog")
    assert log["status"] == "ok"
    lines = [el.text or "" for el in ET.fromstring(log["payload"]).iter("line")]
    assert any("remote management: command getlog" in line for line in lines), lines[-20:]
    # The cards' numbers never reach the log.
    for pan in ("4761739001030018", "5413330089020011", "4761739001010010"):
        assert not any(pan in line for line in lines)
