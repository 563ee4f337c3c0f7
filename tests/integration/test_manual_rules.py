"""The manual's rules a cash register written from it relies on, tried from
outside against `cardcore serve --simulator`: a message answered
`notimplemented`, keepalive answers other than `cancelled`, and the other
points where the terminal once read the manual differently from a register."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack
from tests.integration.conftest import (
    FAST,
    Served,
    ready_for_a_contact_sale,
    serving,
    sim,
)

CONFIG = (
    FAST
    + """
[server]
keepalive-interval = 0.2
[transaction]
detection-timeout = 3
data-exchange = true
[emv]
data-exchange-tags = ["9F02", "9F1A"]
"""
)
PURCHASE = {"type": "purchase", "amount": "000000001500"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("rules") / "data", config=CONFIG) as served:
        yield served


@pytest.fixture
def terminal(server: Served) -> Served:
    return ready_for_a_contact_sale(server)


@dataclass
class Register:
    """A cash register that answers some messages its own way."""

    served: Served
    answers: dict[str, Callable[[Message], Body]] = field(default_factory=dict)
    seen: list[Message] = field(default_factory=list)

    def answer(self, message: Message) -> Body:
        self.seen.append(message)
        special = self.answers.get(message.name)
        return special(message) if special else default_message_answer(message)

    async def command(self, name: str, body: Body, attrs: dict[str, str] | None = None) -> Message:
        client = EcrClient(self.served.host, self.served.port, on_message=self.answer, timeout=60)
        return await client.command(name, body, attrs)

    def names(self) -> list[str]:
        return [m.name for m in self.seen]


def errors(answer: Message) -> str:
    return " | ".join(decode_error_stack(answer.body.get("error-stack")))


async def test_dex_answered_notimplemented_lets_the_sale_go_on(terminal: Served) -> None:
    register = Register(terminal, {"dex": lambda m: {"status": "notimplemented"}})
    answer = await register.command("transaction", PURCHASE)
    assert "dex" in register.names()
    assert answer.status == "ok", errors(answer)
    assert answer.body["receipt"]["tstatus"] == "approved"


@pytest.mark.parametrize("status", ["notimplemented", "failed", "busy"])
async def test_only_cancelled_in_a_keepalive_answer_cancels(terminal: Served, status: str) -> None:
    sim(terminal.data_dir, "remove")  # waiting for a card: keepalives flow
    register = Register(terminal, {"keepalive": lambda m: {"status": status}})
    answer = await register.command("transaction", {**PURCHASE, "amount": "000000000100"})
    assert register.names().count("keepalive") >= 3  # it went on asking
    assert answer.status == "notdetected", errors(answer)  # the timeout, not a cancel
    cancelling = Register(terminal, {"keepalive": lambda m: {"status": "cancelled"}})
    answer = await cancelling.command("transaction", PURCHASE)
    assert answer.status == "cancelled"
