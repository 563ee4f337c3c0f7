"""Transaction engine details in process: the `dex` data exchange, a client that
never answers a message, PIN pad outcomes, crash recovery of unfinished rows,
request parsing."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from base.pan import luhn_ok
from cardcore.client import default_message_answer
from cardcore.config import HostConfig
from cardcore.engine.request import Operation, parse_transaction
from cardcore.errors import InvalidArguments
from cardcore.journal import JournalError, TxnRecord
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack
from simulators.devices.pinpad import PinPadMode
from simulators.simulator import host_ledger
from tests.cardcore.harness import simulated_terminal

PURCHASE = {"type": "purchase", "amount": "000000001500"}
DEX = {
    "transaction": {"data-exchange": True},
    "emv": {"data-exchange-tags": ["9F02", "5A", "9F1A"]},
}


async def test_dex_offers_tags_and_takes_terminal_updates(tmp_path: Path) -> None:
    seen: list[Message] = []

    def answer(message: Message) -> Body:
        if message.name == "dex":
            seen.append(message)
            return {
                "status": "ok",
                "terminal-tags": {"tag": [{"@name": "9F1A", "@value": "0840"}]},
            }
        return default_message_answer(message)

    async with simulated_terminal(tmp_path, DEX) as h:
        result = await h.transaction(answer, **PURCHASE)
    assert result.status == "ok"
    (dex,) = seen
    tags = {t["@name"]: t["@value"] for t in dex.body["kernel-tags"]["tag"]}
    assert tags["9F02"] == "000000001500"
    assert "5A" not in tags  # the PAN only travels over the secure channel
    assert tags["9F1A"] == "0643"


async def test_dex_not_sent_when_disabled(tmp_path: Path) -> None:
    names: list[str] = []

    def answer(message: Message) -> Body:
        names.append(message.name)
        return default_message_answer(message)

    async with simulated_terminal(tmp_path, {"emv": {"data-exchange-tags": ["9F02"]}}) as h:
        assert (await h.transaction(answer, **PURCHASE)).status == "ok"
    assert "dex" not in names


async def test_a_currency_the_terminal_does_not_settle_in_is_refused(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.present("default")
        answer = await h.transaction(**{**PURCHASE, "currency": "840"})
        assert answer.status == "invalidarguments"
        assert "currency 840" in decode_error_stack(answer.body["error-stack"])[0]
        assert await h.terminal.journal.last() is None
        assert (await h.transaction(**{**PURCHASE, "currency": "643"})).status == "ok"


async def test_main_host_down_shows_reconnecting_and_the_mirror_answers(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        config = h.terminal.config
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections refused
        acquirer = msgspec.structs.replace(
            config.acquirer,
            main=HostConfig(host="127.0.0.1", port=closed.getsockname()[1]),
            mirror=config.acquirer.main,
        )
        h.terminal.reconfigure(msgspec.structs.replace(config, acquirer=acquirer))
        h.sim.slot.present("always-online")
        codes: list[str] = []

        def answer(message: Message) -> Body:
            if message.name == "display":
                codes.append(message.body.get("code", ""))
            return default_message_answer(message)

        result = await h.transaction(answer, **PURCHASE)
        closed.close()
        assert result.body["receipt"]["tstatus"] == "approved"
        assert codes.index("D1") < codes.index("D2")  # connecting, then reconnecting


async def test_client_that_never_answers_a_message(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, {"server": {"answer-timeout": 0.5}}) as h:
        conn = h.connect()
        from tests.cardcore.ecr import RawPeer

        peer = RawPeer(conn._stream)
        await peer.send(Message("transaction", PURCHASE))
        first = await peer.read()
        assert first.name == "display"
        answer = await peer.read()  # silence: the terminal gives up
        assert answer.name == "transaction" and answer.status == "timeout"
        assert await h.terminal.journal.last() is None


@pytest.mark.parametrize(
    ("mode", "pin_entered"),
    [(PinPadMode.ENTER, "offline"), (PinPadMode.BYPASS, "no"), (PinPadMode.FAIL, "no")],
)
async def test_pin_pad_outcomes(tmp_path: Path, mode: PinPadMode, pin_entered: str) -> None:
    async with simulated_terminal(tmp_path) as h:
        assert h.sim.pinpad is not None
        h.sim.pinpad.mode = mode
        answer = await h.transaction(**PURCHASE)
    assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
    assert answer.body["receipt"]["pin-entered"] == pin_entered


async def test_recovery_marks_unfinished_rows(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        record = TxnRecord(
            state="online", amount=100, datetime=dt.datetime.now().astimezone().isoformat()
        )
        await h.terminal.journal.create(record, reversal=b"stored reversal")
        from cardcore.engine.engine import TransactionEngine

        assert await TransactionEngine(h.terminal).recover() == 1
        stored = await h.terminal.journal.get(record.id)
        assert stored is not None and (stored.state, stored.tstatus) == ("cancelled", "declined")
        assert len(await h.terminal.journal.pending("reversal")) == 1
        assert await TransactionEngine(h.terminal).recover() == 0


async def test_a_failed_final_write_ends_in_a_reversal_without_another_sale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host approved and booked, then the journal refused the final write
    (a full disk): the purchase is answered fileioerror and, once the journal
    takes writes again, the stored reversal reaches the host and the row ends
    not approved, with no further sale to set store-and-forward going."""
    async with simulated_terminal(tmp_path) as h:
        journal = h.terminal.journal
        full = False
        run = journal.run

        async def run_unless_full(fn: Any, atomic: bool = True) -> Any:
            if full and atomic:
                raise JournalError("journal: database or disk is full")
            return await run(fn, atomic)

        monkeypatch.setattr(journal, "run", run_unless_full)

        def register(message: Message) -> Body:
            nonlocal full
            if message.name == "display" and message.body.get("code") == "D4":
                full = True  # the host has answered: the disk fills up now
            return default_message_answer(message)

        h.sim.slot.present("default")
        answer = await h.transaction(register, **PURCHASE)
        assert answer.status == "fileioerror", answer.body
        assert h.sim.host is not None
        (booked,) = host_ledger(h.sim.host)
        assert booked["response"] == "00" and booked["reversed"] == 0
        await trio.sleep(1)  # the journal still refuses: rounds fail, with back-off
        full = False  # and no sale follows: the sender goes on by itself
        with trio.fail_after(5):
            while host_ledger(h.sim.host)[0]["reversed"] != booked["amount"]:  # noqa: ASYNC110
                await trio.sleep(0.05)
            while (row := await journal.last()) is None or row.state != "cancelled":  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert row.tstatus == "declined" and await journal.count_pending() == 0


async def test_a_flow_in_flight_keeps_its_reversal_from_store_and_forward(
    tmp_path: Path,
) -> None:
    """The reversal stored before a request leaves is the flow's until it
    ends: sending it meanwhile (the background sender wakes whenever it
    likes) could reverse a purchase whose approval is on its way."""
    async with simulated_terminal(tmp_path) as h:
        host, journal = h.terminal.host, h.terminal.journal
        assert h.sim.host is not None
        h.sim.host.control.delay = 0.3  # the answer takes its time
        held: list[bool] = []

        def register(message: Message) -> Body:
            if message.name == "display" and message.body.get("code") == "D1":
                host.poke()  # the request is about to leave: the sender runs meanwhile
            return default_message_answer(message)

        h.sim.slot.present("default")
        original_flush = host.flush

        async def watching_flush() -> bool:
            pending = await journal.pending("reversal")
            held.extend(p.txn_id in host._held for p in pending)
            return await original_flush()

        host.flush = watching_flush  # type: ignore[method-assign]
        answer = await h.transaction(register, **PURCHASE)
        assert answer.body["receipt"]["tstatus"] == "approved"
        await h.settle_pending()
        assert True in held  # the sender did see the in-flight reversal, and left it
        (booked,) = host_ledger(h.sim.host)
        assert booked["response"] == "00" and booked["reversed"] == 0


async def test_an_approved_purchase_commits_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Durability at its minimum: the request's row and reversal before the
    request leaves, the outcome once the card has completed (tools/bench/
    durability counts the fsyncs of a real server)."""
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.present("default")
        assert (await h.transaction(**PURCHASE)).status == "ok"  # warm: keys, first use
        await h.settle_pending()
        journal = h.terminal.journal
        writes: list[str] = []
        atomic = journal._atomic

        def counting(fn: Any) -> Any:
            writes.append(getattr(fn, "__qualname__", "?"))
            return atomic(fn)

        monkeypatch.setattr(journal, "_atomic", counting)
        answer = await h.transaction(**PURCHASE)
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert len(writes) == 2, writes


def _message(**params: str) -> Message:
    return Message("transaction", params)


TODAY = dt.date(2026, 11, 28)


def test_parse_aliases_and_defaults() -> None:
    cmd = parse_transaction(
        Message("transaction", {"amount": "000000012300"}, {"type": "payment"}), "643", TODAY
    )
    assert cmd.operation is Operation.PURCHASE and cmd.amount == 12300 and cmd.currency == "643"
    void = parse_transaction(_message(type="void", number="8"), "643", TODAY)
    assert void.number == "000008" and void.amount is None
    sbp = parse_transaction(Message("transaction", PURCHASE, {"force-sbp": "true"}), "643", TODAY)
    assert sbp.force_sbp is True


@pytest.mark.parametrize(
    "params",
    [
        {
            "type": "purchase",
            "amount": "000000012300",
            "pan": "4111111111111111",
            "expired": "2512",
        },
        {
            "type": "purchase",
            "amount": "000000012300",
            "pan": "4111111111111111",
            "expired": "2413",
            "password": "12345678",
        },
        {
            "type": "purchase",
            "amount": "000000012300",
            "pan": "4111111111111111",
            "expired": "2410",
            "password": "12345678",
        },
        {"type": "purchase", "amount": "000000012300", "forced": "true"},
        {"type": "refund", "amount": "000000012300", "forced": "maybe"},
        {"type": "refund", "amount": "000000012300", "forced": "true"},
        {"type": "purchase", "amount": "000000012300", "amount-other": "000000000100"},
    ],
)
def test_parse_refusals(params: dict[str, str]) -> None:
    with pytest.raises(InvalidArguments):
        parse_transaction(_message(**params), "643", TODAY)


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("4761739001010010")
    assert not luhn_ok("4111111111111112")


async def test_keepalives_flow_while_waiting(tmp_path: Path) -> None:
    names: list[str] = []

    def answer(message: Message) -> Body:
        names.append(message.name)
        return default_message_answer(message)

    async with simulated_terminal(tmp_path, {"transaction": {"detection-timeout": 1}}) as h:
        h.sim.slot.remove()
        result = await h.transaction(answer, **PURCHASE)
        await trio.lowlevel.checkpoint()
    assert result.status == "notdetected"
    assert names.count("keepalive") >= 3
