"""The manual's rules for the card side of `transaction`, tried from outside
against `cardcore serve --simulator`: a void of a receipt number with the
card of the original, the currencies an acquirer accepts, the statuses
`readerdisabled` and `preprocessingfailed`, and a refund's display."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack
from tests.integration.conftest import FAST, Served, sim, start_server, stop_server

CONFIG = (
    FAST
    + """
[server]
keepalive-interval = 0.2
[transaction]
detection-timeout = 3
"""
)
PURCHASE = {"type": "purchase", "amount": "000000001500"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(tmp_path_factory.mktemp("card-rules") / "data", config=CONFIG)
    try:
        yield served
    finally:
        assert stop_server(served) == 0, served.log_text()


@pytest.fixture
def terminal(server: Served) -> Served:
    for args in (("present", "default", "--interface", "contact"), ("host", "approve")):
        sim(server.data_dir, *args)
    return server


@dataclass
class Register:
    """A cash register that keeps the messages it was sent."""

    served: Served
    seen: list[Message] = field(default_factory=list)

    def answer(self, message: Message) -> Body:
        self.seen.append(message)
        return default_message_answer(message)

    async def transaction(self, **params: str) -> Message:
        self.seen.clear()
        client = EcrClient(self.served.host, self.served.port, on_message=self.answer, timeout=60)
        return await client.command("transaction", params)

    def codes(self) -> list[str]:
        return [str(m.body.get("code", "")) for m in self.seen if m.name == "display"]


def errors(answer: Message) -> str:
    return " | ".join(decode_error_stack(answer.body.get("error-stack")))


# --- item: a refund's display ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "tstatus", "outcome"), [("approve", "approved", "03"), ("decline", "declined", "07")]
)
async def test_a_contact_refund_shows_its_outcome_as_a_sale_does(
    terminal: Served, host: str, tstatus: str, outcome: str
) -> None:
    register = Register(terminal)
    sale = await register.transaction(**PURCHASE)
    assert sale.status == "ok", errors(sale)
    sale_codes = register.codes()
    sim(terminal.data_dir, "host", host)
    refund = await register.transaction(type="refund", amount="000000000500")
    assert refund.status == "ok", errors(refund)
    assert refund.body["receipt"]["tstatus"] == tstatus
    codes = register.codes()
    # The host's answer received, then the outcome, then "remove card": the
    # sale's order.
    assert codes[-3:] == ["D4", outcome, "10"], codes
    if host == "approve":
        assert sale_codes[-3:] == codes[-3:]
