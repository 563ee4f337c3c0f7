"""The manual's rules for the card side of `transaction`, tried from outside
against `cardcore serve --simulator`: a void of a receipt number with the
card of the original, the currencies an acquirer accepts, the statuses
`readerdisabled` and `preprocessingfailed`, and a refund's display."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from cardcore.client import EcrClient, default_message_answer
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack
from tests.integration.conftest import (
    FAST,
    Served,
    ready_for_a_contact_sale,
    serving,
    sim,
    start_server,
    stop_server,
)

CONFIG = (
    FAST
    + """
[server]
keepalive-interval = 0.2
[transaction]
detection-timeout = 3
[acquirer]
forced-void = true
"""
)
PURCHASE = {"type": "purchase", "amount": "000000001500"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("card-rules") / "data", config=CONFIG) as served:
        yield served


@pytest.fixture
def terminal(server: Served) -> Served:
    return ready_for_a_contact_sale(server)


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
        body = {name.replace("_", "-"): value for name, value in params.items()}
        return await client.command("transaction", body)

    def codes(self) -> list[str]:
        return [str(m.body.get("code", "")) for m in self.seen if m.name == "display"]


def errors(answer: Message) -> str:
    return " | ".join(decode_error_stack(answer.body.get("error-stack")))


# --- item: a void of a receipt number is made with the card ---------------------------------


async def test_a_void_of_a_receipt_number_needs_the_original_card(terminal: Served) -> None:
    register = Register(terminal)
    sale = (await register.transaction(**PURCHASE)).body["receipt"]
    # Another card: refused, and the sale stands.
    sim(terminal.data_dir, "present", "dda", "--interface", "contact")
    other = await register.transaction(type="void", number=sale["seq"])
    assert other.status == "notreversible", errors(other)
    assert "not the card of transaction" in errors(other)
    # The card was asked for as for a sale ("present card"), read, and refused.
    assert register.codes()[0] == "15" and register.codes()[-2:] == ["07", "10"]
    # No card at all: detection times out as a sale's does.
    sim(terminal.data_dir, "remove")
    nothing = await register.transaction(type="void", number=sale["seq"], amount="000000000500")
    assert nothing.status == "notdetected", errors(nothing)
    # The original card: a partial void, then the rest.
    sim(terminal.data_dir, "present", "default", "--interface", "contact")
    part = await register.transaction(type="void", number=sale["seq"], amount="000000000500")
    assert part.status == "ok", errors(part)
    receipt = part.body["receipt"]
    assert receipt["type"] == "purchasereversal" and receipt["tstatus"] == "approved"
    assert receipt["amount-authorized"] == "000000000500" and receipt["pan"] == sale["pan"]
    assert register.codes()[-2:] == ["03", "10"]
    # The claims still apply, before the card is asked for.
    over = await register.transaction(type="void", number=sale["seq"], amount="000000001500")
    assert over.status == "invalidarguments" and not register.codes(), errors(over)
    assert "exceeds the 1000 left" in errors(over)
    rest = await register.transaction(type="void", number=sale["seq"])
    assert rest.status == "ok", errors(rest)
    assert rest.body["receipt"]["amount-authorized"] == "000000001000"
    again = await register.transaction(type="void", number=sale["seq"])
    assert again.status == "alreadyreversed" and not register.codes(), errors(again)


async def test_a_tapped_sale_is_voided_by_a_tap(terminal: Served) -> None:
    sim(terminal.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    register = Register(terminal)
    sale = (await register.transaction(**PURCHASE)).body["receipt"]
    void = await register.transaction(type="void", number=sale["seq"])
    assert void.status == "ok", errors(void)
    assert void.body["receipt"]["type"] == "purchasereversal"


@pytest.mark.parametrize("cardless", [{"number": "last"}, {"forced": "true"}])
async def test_last_and_forced_voids_stay_without_the_card(
    terminal: Served, cardless: dict[str, str]
) -> None:
    register = Register(terminal)
    sale = (await register.transaction(**PURCHASE)).body["receipt"]
    sim(terminal.data_dir, "remove")
    void = await register.transaction(type="void", **{"number": sale["seq"], **cardless})
    assert void.status == "ok", errors(void)
    assert void.body["receipt"]["type"] == "purchasereversal"
    assert not register.codes()  # nothing asked of the cardholder


# --- item: the currencies an acquirer accepts ------------------------------------------------

DOLLARS = CONFIG.replace("[acquirer]\n", '[acquirer]\ncurrencies = ["840"]\n')


@pytest.fixture(scope="module")
def dollars(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A terminal in roubles whose acquirer also takes US dollars."""
    with serving(tmp_path_factory.mktemp("dollars") / "data", config=DOLLARS) as served:
        yield served


def booked(served: Served, rrn: str) -> dict[str, object]:
    (row,) = [r for r in sim(served.data_dir, "ledger")["transactions"] if r["rrn"] == rrn]
    return row


async def test_an_accepted_currency_goes_through_and_another_is_refused(dollars: Served) -> None:
    sim(dollars.data_dir, "present", "default", "--interface", "contact")
    sim(dollars.data_dir, "host", "approve")
    register = Register(dollars)
    sale = await register.transaction(**PURCHASE, currency="840")
    assert sale.status == "ok", errors(sale)
    receipt = sale.body["receipt"]
    assert receipt["tstatus"] == "approved" and receipt["currency"] == "840"
    assert booked(dollars, receipt["rrn"])["currency"] == "840"  # ISO 8583 field 49
    roubles = (await register.transaction(**PURCHASE)).body["receipt"]
    assert roubles["currency"] == "643" and booked(dollars, roubles["rrn"])["currency"] == "643"
    # Not taken: refused before anything is asked, naming what is.
    euros = await register.transaction(**PURCHASE, currency="978")
    assert euros.status == "invalidarguments" and not register.codes()
    assert "978 is not accepted" in errors(euros) and "643, 840" in errors(euros)
    # A refund and a void keep the currency; the void's reversal reaches the host.
    refund = await register.transaction(type="refund", amount="000000000100", currency="840")
    assert refund.body["receipt"]["currency"] == "840", errors(refund)
    void = await register.transaction(type="void", number=receipt["seq"])
    assert void.status == "ok", errors(void)
    assert void.body["receipt"]["currency"] == "840"
    with trio.fail_after(15):
        while booked(dollars, receipt["rrn"])["reversed"] != 1500:  # noqa: ASYNC110
            await trio.sleep(0.1)
    # The X-report has a section per currency.
    client = EcrClient(dollars.host, dollars.port, timeout=60)
    report = await client.command("report", {"password": "12345678"})
    sections = report.body["xreport"]
    sections = sections if isinstance(sections, list) else [sections]
    assert [s["header"]["cur"] for s in sections] == ["643", "840"]
    # The settlement reconciles each currency on its own, roubles first.
    closed_before = len(sim(dollars.data_dir, "ledger")["closed-batches"])
    settlement = await client.command("settlement", {"password": "12345678"})
    assert settlement.status == "ok", errors(settlement)
    rub, usd = settlement.body["sreport"]
    assert (rub["cur"], usd["cur"]) == ("643", "840")
    assert rub["settlement-result"] == usd["settlement-result"] == "passed"
    assert usd["orig-amount"] == usd["amount"] == "C000000000100"  # the refund stands alone
    closed = sim(dollars.data_dir, "ledger")["closed-batches"][closed_before:]
    assert [(c["currency"], c["transactions"]) for c in closed] == [("643", 1), ("840", 2)]


async def test_purchases_in_two_currencies_settle_in_balance(dollars: Served) -> None:
    sim(dollars.data_dir, "present", "default", "--interface", "contact")
    sim(dollars.data_dir, "host", "approve")
    register = Register(dollars)
    for currency in ("840", "643", "840"):
        sale = await register.transaction(**PURCHASE, currency=currency)
        assert sale.body["receipt"]["tstatus"] == "approved", errors(sale)
    closed_before = len(sim(dollars.data_dir, "ledger")["closed-batches"])
    client = EcrClient(dollars.host, dollars.port, timeout=60)
    settlement = await client.command("settlement", {"password": "12345678"})
    assert settlement.status == "ok", errors(settlement)
    rub, usd = settlement.body["sreport"]
    assert (rub["cur"], rub["tnum"], rub["orig-amount"]) == ("643", "1", "D000000001500")
    assert (usd["cur"], usd["tnum"], usd["orig-amount"]) == ("840", "2", "D000000003000")
    assert rub["amount"] == rub["orig-amount"] and usd["amount"] == usd["orig-amount"]
    assert "batch-upload" not in rub and "batch-upload" not in usd  # in balance at once
    # The host's ledger: two reconciliations, one per currency.
    closed = sim(dollars.data_dir, "ledger")["closed-batches"][closed_before:]
    assert [(c["currency"], c["transactions"]) for c in closed] == [("643", 1), ("840", 2)]
    assert len({c["batch"] for c in closed}) == 1


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


# --- item: readerdisabled and preprocessingfailed ---------------------------------------------

# SBP off: with it, a purchase would go on with the QR alone.
CONTACT_OFF = CONFIG + "[interfaces]\ncontact = false\nsbp = false\n"
ALL_OFF = CONFIG + "[interfaces]\ncontact = false\ncontactless = false\nsbp = false\n"
OVER_CONTACTLESS_LIMIT = "000010000000"  # the default contactless transaction limit


@pytest.fixture(scope="module")
def chipless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A terminal whose chip reader is switched off in the configuration."""
    with serving(tmp_path_factory.mktemp("chipless") / "data", config=CONTACT_OFF) as served:
        yield served


async def test_a_card_in_a_switched_off_reader_is_readerdisabled(chipless: Served) -> None:
    sim(chipless.data_dir, "host", "approve")
    sim(chipless.data_dir, "present", "default", "--interface", "contact")
    register = Register(chipless)
    with trio.fail_after(2.5):  # at once, not at the detection timeout
        answer = await register.transaction(**PURCHASE)
    assert answer.status == "readerdisabled", errors(answer)
    assert "contact reader" in errors(answer)
    # The contactless reader still sells.
    sim(chipless.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    answer = await register.transaction(**PURCHASE)
    assert answer.status == "ok", errors(answer)
    assert answer.body["receipt"]["tstatus"] == "approved"


async def test_no_reader_left_for_the_operation_is_readerdisabled(chipless: Served) -> None:
    # Cashback is a chip operation, and the chip reader is off.
    sim(chipless.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    answer = await Register(chipless).transaction(
        type="purchase-with-cashback", amount="000000001000", amount_other="000000000100"
    )
    assert answer.status == "readerdisabled", errors(answer)


async def test_contactless_refusing_the_amount_with_nothing_else_is_preprocessingfailed(
    chipless: Served,
) -> None:
    sim(chipless.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    for operation in ("purchase", "refund"):
        answer = await Register(chipless).transaction(type=operation, amount=OVER_CONTACTLESS_LIMIT)
        assert answer.status == "preprocessingfailed", errors(answer)


async def test_over_the_contactless_limit_with_the_chip_reader_on_waits_for_the_chip(
    terminal: Served,
) -> None:
    sim(terminal.data_dir, "present", "visa-qvsdc", "--interface", "contactless")
    register = Register(terminal)
    answer = await register.transaction(type="purchase", amount=OVER_CONTACTLESS_LIMIT)
    assert answer.status == "notdetected", errors(answer)  # the tap is not read
    assert register.codes()[:1] == ["0B"]  # "insert card": the chip only


async def test_every_reader_switched_off_is_readerdisabled(tmp_path: Path) -> None:
    served = start_server(tmp_path / "data", config=ALL_OFF)
    try:
        register = Register(served)
        for operation in (PURCHASE, {"type": "refund", "amount": "000000000500"}):
            answer = await register.transaction(**operation)
            assert answer.status == "readerdisabled", errors(answer)
            assert "every card reader" in errors(answer)
            assert not register.codes()  # nothing asked of the cardholder
    finally:
        assert stop_server(served) == 0, served.log_text()
