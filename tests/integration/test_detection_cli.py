"""The detection race against a real `cardcore serve --simulator`, driven only
through the command line, as scripts outside the repository would:
`cardcore sim present PROFILE --interface contact|contactless|mifare [--also]`,
`cardcore sim sbp pay|reject|none`, `cardcore sim remove`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message
from tests.integration.conftest import FAST, Served, sim, start_server, stop_server

CONFIG = (
    FAST
    + """
[server]
keepalive-interval = 0.3
[transaction]
detection-timeout = 4
[interfaces]
mifare = true
"""
)
SMALL = {"type": "purchase", "amount": "000000001500"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_server(tmp_path_factory.mktemp("detect") / "data", config=CONFIG)
    try:
        yield server
    finally:
        assert stop_server(server) == 0, server.log_text()


class Register:
    def __init__(self, smartcard: str = "next") -> None:
        self.smartcard = smartcard
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> Body:
        self.messages.append(message)
        if message.name == "smartcard":
            return {"command": self.smartcard, "indicator": "ok"}
        return default_message_answer(message)


async def purchase(served: Served, register: Register) -> Message:
    client = EcrClient(served.host, served.port, on_message=register, timeout=60)
    return await client.command("transaction", SMALL)


async def test_contactless_tap(served: Served) -> None:
    sim(served.data_dir, "sbp", "none")
    sim(served.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    register = Register()
    answer = await purchase(served, register)
    assert answer.body["receipt"]["tstatus"] == "approved"
    assert any(m.name == "smartcard" for m in register.messages)  # MIFARE hook saw it first


async def test_mifare_card_handled_by_the_register(served: Served) -> None:
    sim(served.data_dir, "present", "mifare-classic", "--interface", "mifare")
    register = Register(smartcard="end")
    answer = await purchase(served, register)
    assert answer.status == "cancelled"
    (newcard,) = [m for m in register.messages if m.name == "smartcard"]
    assert newcard.body["descriptor"].startswith("04")
    assert sim(served.data_dir, "status")["lights"] == [True, True, True, True]


async def test_two_cards_in_the_field(served: Served) -> None:
    sim(served.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    sim(served.data_dir, "present", "mc-contactless", "--also")
    register = Register()

    async def lift_one() -> None:
        while not any(m.body.get("code") == "19" for m in register.messages):  # noqa: ASYNC110
            await trio.sleep(0.05)
        sim(
            served.data_dir, "present", "visa-qvsdc", "--interface", "contactless"
        )  # the other one left

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lift_one)
        answer = await purchase(served, register)
    assert answer.body["receipt"]["tstatus"] == "approved"


async def test_sbp_payment(served: Served) -> None:
    sim(served.data_dir, "remove")
    sim(served.data_dir, "sbp", "pay")
    register = Register()
    answer = await purchase(served, register)
    receipt = answer.body["receipt"]
    assert receipt["iface"] == "sbp" and receipt["status"] == "approved"
    assert [m.body["status"] for m in register.messages if m.name == "displayqrcode"] == [
        "show",
        "hide",
    ]
    sim(served.data_dir, "sbp", "none")
    sim(served.data_dir, "present", "default", "--interface", "contact")
