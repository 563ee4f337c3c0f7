"""Card transactions end to end over TCP against a real `cardcore serve
--simulator`: virtual card -> kernel -> ISO 8583 host simulator -> journal ->
receipt; host approving, declining, timing out and down; voids, refunds,
cashback, manual entry; cancels at each stage and disconnects. After each
scenario the journal and the host simulator's ledger must agree."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import trio

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
[acquirer]
forced-refund = true
response-timeout = 2
connect-timeout = 2
retry-initial = 0.2
retry-max = 1
"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One terminal for the module: every scenario starts from the same settings
    (see `terminal`) and checks what it added, so a server start is shared."""
    served = start_server(tmp_path_factory.mktemp("txn") / "data", config=CONFIG)
    try:
        yield served
    finally:
        code = stop_server(served)
        assert code == 0, served.log_text()


@pytest.fixture
def terminal(server: Served) -> Iterator[Served]:
    for args in (("present", "default", "--interface", "contact"), ("host", "approve"),
                 ("pinpad", "enter"), ("sbp", "none")):  # fmt: skip
        sim(server.data_dir, *args)
    trio.run(settled, server)
    server.baseline = len(journal_rows(server))  # type: ignore[attr-defined]
    yield server
    assert server.process.poll() is None, server.log_text()


def new_rows(served: Served) -> list[sqlite3.Row]:
    """Journal rows the current scenario added."""
    return journal_rows(served)[served.baseline :]  # type: ignore[attr-defined]


@dataclass
class Register:
    """A cash register that records messages and can cancel at one of them."""

    served: Served
    cancel_at: Callable[[Message], bool] | None = None
    messages: list[Message] = field(default_factory=list)

    def answer(self, message: Message) -> Body:
        self.messages.append(message)
        if self.cancel_at is not None and self.cancel_at(message):
            return {"status": "cancelled"}
        return default_message_answer(message)

    async def transaction(self, **params: str) -> Message:
        client = EcrClient(self.served.host, self.served.port, on_message=self.answer, timeout=60)
        body = {k.replace("_", "-"): v for k, v in params.items()}
        return await client.command("transaction", body)

    def codes(self) -> list[str]:
        return [m.body.get("code", "") for m in self.messages if m.name == "display"]


def journal_rows(served: Served) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{served.data_dir / 'journal.sqlite'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM transactions ORDER BY id").fetchall()
    finally:
        db.close()


def pending_count(served: Served) -> int:
    db = sqlite3.connect(f"file:{served.data_dir / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
    finally:
        db.close()


async def settled(served: Served, timeout: float = 15) -> None:
    """Wait until store-and-forward has delivered everything."""
    with trio.fail_after(timeout):
        while pending_count(served):  # noqa: ASYNC110 - another process writes it
            await trio.sleep(0.05)


def ledger_net(served: Served) -> int:
    """What the host booked net of reversals (approved financial messages)."""
    rows = sim(served.data_dir, "ledger")["transactions"]
    net = 0
    for row in rows:
        if row["response"] not in ("00", "Y1", "Y3"):
            continue
        sign = -1 if row["type"] == "refund" else 1
        net += sign * (row["amount"] - row["reversed"])
    return net


def journal_net(served: Served) -> int:
    net = 0
    for row in journal_rows(served):
        if row["tstatus"] != "approved":
            continue
        if row["operation"] == "void":
            continue  # voids show up as the original's reversed amount
        sign = -1 if row["receipt_type"] == "refund" else 1
        net += sign * (row["amount"] - row["reversed_amount"])
    return net


async def assert_consistent(served: Served) -> None:
    await settled(served)
    assert journal_net(served) == ledger_net(served)


PURCHASE = {"type": "purchase", "amount": "000000001500", "currency": "643"}


async def test_approved_purchase_receipt(terminal: Served) -> None:
    register = Register(terminal)
    answer = await register.transaction(**PURCHASE)
    assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
    receipt = answer.body["receipt"]
    assert receipt["tstatus"] == "approved" and receipt["type"] == "purchase"
    for name in ("tid", "mid", "seq", "state", "amount-authorized", "currency", "aid", "ps-code",
                 "appname", "alabel", "pan", "aed", "rrn", "resp-code", "auth-number",
                 "datetime", "tsi", "tvr", "pin-entered", "cdcvm", "signature", "acquirer-tag",
                 "bank-name", "header"):  # fmt: skip
        assert name in receipt, name
    assert receipt["pan"] == "************0010"
    assert "plain-text-pan" not in receipt
    assert receipt["ps-code"] == "4" and receipt["pin-entered"] == "offline"
    assert len(receipt["datetime"]) == 12 and len(receipt["seq"]) == 6 and receipt["seq"].isdigit()
    codes = register.codes()
    assert codes[0] == "15" and "D1" in codes and "D4" in codes and "03" in codes
    await assert_consistent(terminal)
    assert "4761739001010010" not in terminal.log_text()


async def test_plain_text_pan_only_when_encrypted(terminal: Served) -> None:
    client = EcrClient(terminal.host, terminal.port, timeout=60)
    assert (await client.login("12345678", secure=True)).status == "ok"
    answer = await client.command("transaction", PURCHASE, secure=True)
    assert answer.body["receipt"]["plain-text-pan"] == "4761739001010010"


async def test_host_decline(terminal: Served) -> None:
    sim(terminal.data_dir, "host", "decline")
    answer = await Register(terminal).transaction(**PURCHASE)
    receipt = answer.body["receipt"]
    assert answer.status == "ok" and receipt["tstatus"] == "declined"
    assert receipt["decline-reason"] == "onlinedeclined" and receipt["resp-code"] == "005"
    await assert_consistent(terminal)


async def test_host_timeout_then_store_and_forward(terminal: Served) -> None:
    sim(terminal.data_dir, "host", "timeout")
    register = Register(terminal)
    answer = await register.transaction(**PURCHASE)
    assert answer.status == "ok"
    assert "D3" in register.codes()
    # The default card approves offline within its limits (Y3) -> an advice,
    # and the unanswered 0200 is reversed.
    assert pending_count(terminal) >= 1
    sim(terminal.data_dir, "host", "approve")
    await assert_consistent(terminal)


async def test_host_down(terminal: Served) -> None:
    sim(terminal.data_dir, "host", "down")
    answer = await Register(terminal).transaction(**PURCHASE)
    assert answer.status == "ok"
    sim(terminal.data_dir, "host", "approve")
    await assert_consistent(terminal)


async def test_always_online_card_declines_when_host_down(terminal: Served) -> None:
    sim(terminal.data_dir, "present", "always-online")
    sim(terminal.data_dir, "host", "down")
    answer = await Register(terminal).transaction(**PURCHASE)
    receipt = answer.body["receipt"]
    assert receipt["tstatus"] == "declined" and receipt["decline-reason"] == "unabletoonline"
    sim(terminal.data_dir, "host", "approve")
    await assert_consistent(terminal)


async def test_void_refund_cashback(terminal: Served) -> None:
    register = Register(terminal)
    first = (await register.transaction(**PURCHASE)).body["receipt"]
    cashback = await register.transaction(
        type="purchase-with-cashback", amount="000000002000", amount_other="000000000500"
    )
    assert cashback.body["receipt"]["amount-authorized"] == "000000002500"
    assert cashback.body["receipt"]["amount-other"] == "000000000500"
    refund = await register.transaction(type="refund", amount="000000000700", rrn=first["rrn"])
    assert refund.body["receipt"]["type"] == "refund"
    assert refund.body["receipt"]["tstatus"] == "approved", refund.body
    # A refunded purchase is not voided as well; a voided one is not voided again.
    refunded = await register.transaction(type="void", number=first["seq"])
    assert refunded.status == "notreversible"
    second = (await register.transaction(**PURCHASE)).body["receipt"]
    void = await register.transaction(type="void", number=second["seq"])
    assert void.status == "ok" and void.body["receipt"]["type"] == "purchasereversal"
    again = await register.transaction(type="void", number=second["seq"])
    assert again.status == "alreadyreversed"
    partial = await register.transaction(
        type="void", number=refund.body["receipt"]["seq"], amount="000000000100"
    )
    assert partial.status == "ok" and partial.body["receipt"]["type"] == "refundreversal"
    assert (await register.transaction(type="void", number="last")).status == "notreversible"
    assert (await register.transaction(type="void", number="999999")).status == (
        "transactionnotfound"
    )
    await assert_consistent(terminal)


async def test_void_of_declined_is_notapproved(terminal: Served) -> None:
    sim(terminal.data_dir, "host", "decline")
    declined = await Register(terminal).transaction(**PURCHASE)
    sim(terminal.data_dir, "host", "approve")
    answer = await Register(terminal).transaction(
        type="void", number=declined.body["receipt"]["seq"]
    )
    assert answer.status == "notapproved"


async def test_forced_refund_and_manual_entry(terminal: Served) -> None:
    register = Register(terminal)
    purchase = (await register.transaction(**PURCHASE)).body["receipt"]
    forced = await register.transaction(
        type="refund", amount="000000001500", rrn=purchase["rrn"], forced="true"
    )
    assert forced.status == "ok" and forced.body["receipt"]["tstatus"] == "approved"
    manual = await register.transaction(
        type="purchase", amount="000000000900", pan="4761739001010010", expired="3412",
        password="12345678", cardholder="JOHN SMITH",
    )  # fmt: skip
    assert manual.status == "ok" and manual.body["receipt"]["tstatus"] == "approved"
    bad = await register.transaction(
        type="purchase", amount="000000000900", pan="4761739001010011", expired="3412",
        password="12345678",
    )  # fmt: skip
    assert bad.status == "invalidarguments"
    wrong = await register.transaction(
        type="purchase", amount="000000000900", pan="4761739001010010", expired="3412",
        password="87654321",
    )  # fmt: skip
    assert wrong.status == "notauthorized"
    await assert_consistent(terminal)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "purchase"},
        {"type": "purchase", "amount": "000000000000"},
        {"type": "purchase", "amount": "12300"},
        {"type": "teleport", "amount": "000000001500"},
        {"type": "void"},
        {"type": "purchase-with-cashback", "amount": "000000001500"},
    ],
)
async def test_invalid_arguments(terminal: Served, bad: dict[str, str]) -> None:
    answer = await Register(terminal).transaction(**bad)
    assert answer.status == "invalidarguments"
    assert decode_error_stack(answer.body["error-stack"])


async def test_no_card_times_out(terminal: Served) -> None:
    sim(terminal.data_dir, "remove")
    answer = await Register(terminal).transaction(**PURCHASE)
    assert answer.status == "notdetected"
    assert new_rows(terminal) == []


@pytest.mark.parametrize(
    ("stage", "expect_rows"),
    [
        ("15", 0),  # waiting for the card
        ("09", 0),  # PIN entry
        ("D1", 1),  # about to send the request (reversal stored, request not sent)
        ("D4", 1),  # the host approved; the card has not completed
        ("03", 1),  # the card approved; the answer has not gone out
    ],
)
async def test_cancel_at_each_stage(terminal: Served, stage: str, expect_rows: int) -> None:
    register = Register(terminal, cancel_at=lambda m: m.body.get("code") == stage)
    answer = await register.transaction(**PURCHASE)
    assert answer.status == "cancelled"
    rows = new_rows(terminal)
    assert len(rows) == expect_rows
    assert all(r["tstatus"] != "approved" for r in rows)
    await assert_consistent(terminal)


async def test_keepalive_cancel_while_waiting_for_card(terminal: Served) -> None:
    sim(terminal.data_dir, "remove")
    register = Register(terminal, cancel_at=lambda m: m.name == "keepalive")
    answer = await register.transaction(**PURCHASE)
    assert answer.status == "cancelled"


async def test_disconnect_mid_transaction(terminal: Served) -> None:
    sim(terminal.data_dir, "host", "timeout")
    stream = await trio.open_tcp_stream(terminal.host, terminal.port)
    from tests.cardcore.ecr import RawPeer

    peer = RawPeer(stream)
    await peer.send(Message("transaction", PURCHASE))
    while True:
        message = await peer.read()
        if message.body.get("code") == "D1":
            await peer.send(Message("display", {"status": "ok"}))
            break
        await peer.send(Message(message.name, default_message_answer(message)))
    await stream.aclose()  # gone while the host is silent
    sim(terminal.data_dir, "host", "approve")
    await assert_consistent(terminal)
    rows = new_rows(terminal)
    assert len(rows) == 1 and rows[0]["tstatus"] != "approved"


async def test_busy_while_a_transaction_runs(terminal: Served) -> None:
    sim(terminal.data_dir, "remove")
    register = Register(terminal)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(register.transaction, **PURCHASE))
        await trio.sleep(0.5)
        other = await Register(terminal).transaction(**PURCHASE)
        assert other.status == "failed"
        assert decode_error_stack(other.body["error-stack"]) == ["terminal busy"]
        sim(terminal.data_dir, "present", "default")
