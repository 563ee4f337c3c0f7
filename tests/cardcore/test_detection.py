"""The detection race through the ECR, in process (same wiring as --simulator):
contact, contactless (offline, online, CDCVM, online PIN, limits, collisions),
MIFARE `smartcard` messages, and SBP QR payments racing the cards — paid,
rejected, never paid, poll failures, refunds, cancels while the QR is up."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from cardcore.client import default_message_answer
from cardcore.engine import detection
from cardcore.protocol.xmlcodec import Body, Message, decode_error_stack
from hal.interfaces import CardInterface
from simulators.sbp.ledger import SimMode
from tests.cardcore.harness import Harness, simulated_terminal

SMALL = {"type": "purchase", "amount": "000000001500"}  # under the contactless floor limit
LARGE = {"type": "purchase", "amount": "000000050000"}  # over the floor, under the CVM limit
OVER_CVM = {"type": "purchase", "amount": "000000400000"}  # over the CVM-required limit


class Register:
    """Records every message; answers them through ``rules`` (name -> answer)."""

    def __init__(self, rules: dict[str, Callable[[Message], Body]] | None = None) -> None:
        self.messages: list[Message] = []
        self.rules = rules or {}

    def __call__(self, message: Message) -> Body:
        self.messages.append(message)
        rule = self.rules.get(message.name)
        return rule(message) if rule else default_message_answer(message)

    def names(self) -> list[str]:
        return [m.name for m in self.messages]

    def codes(self) -> list[str]:
        return [m.body.get("code", "") for m in self.messages if m.name == "display"]

    def qr(self) -> list[str]:
        return [m.body.get("status", "") for m in self.messages if m.name == "displayqrcode"]


def tap(h: Harness, profile: str) -> None:
    h.sim.slot.present(profile, CardInterface.CONTACTLESS)


async def test_contactless_offline_approval_lights_and_receipt(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        tap(h, "visa-qvsdc")
        register = Register()
        answer = await h.transaction(register, **SMALL)
        receipt = answer.body["receipt"]
        assert answer.status == "ok" and receipt["tstatus"] == "approved"
        assert receipt["aid"] == "A0000000031010" and receipt["cdcvm"] == "no"
        assert register.codes()[:2] == ["15", "17"]  # present card, card read OK
        assert "success" in h.sim.indicators.tones
        # The terminal's own display showed the same messages, the amount with the first.
        assert h.sim.display.codes() == register.codes()
        assert (h.sim.display.history[0].amount, h.sim.display.history[0].currency) == (
            1500,
            "643",
        )
        row = await h.terminal.journal.last()
        assert row is not None and row.interface == "contactless"
        await h.settle_pending()  # the offline approval's advice reaches the host


async def test_contactless_online_uses_contactless_entry_mode(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        tap(h, "mc-contactless")
        answer = await h.transaction(**LARGE)
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert h.sim.host is not None
        (request,) = [m for m in h.sim.host.requests if m.mti == "0200"]
        assert request.text(22).startswith("07")


async def test_phone_wallet_reports_cdcvm(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        tap(h, "phone-wallet")
        answer = await h.transaction(**LARGE)
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert answer.body["receipt"]["cdcvm"] == "yes"


async def test_online_pin_over_the_cvm_limit(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        tap(h, "cl-online-pin")
        register = Register()
        answer = await h.transaction(register, **OVER_CVM)
        receipt = answer.body["receipt"]
        assert receipt["tstatus"] == "approved" and receipt["pin-entered"] == "online"
        assert "09" in register.codes()


async def test_mir_contactless(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        tap(h, "mir-contactless")
        answer = await h.transaction(**LARGE)
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert answer.body["receipt"]["ps-code"] == "22"


async def test_mastercard_tags_to_read_offered_through_dex(tmp_path: Path) -> None:
    config = {"transaction": {"data-exchange": True}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "mc-contactless")
        register = Register()
        answer = await h.transaction(register, **LARGE)
        assert answer.status == "ok"
        (dex,) = [m for m in register.messages if m.name == "dex"]
        tags = dex.body["kernel-tags"]["tag"]
        tags = tags if isinstance(tags, list) else [tags]
        assert any(t["@name"] == "9F24" for t in tags)  # Payment Account Reference


async def test_over_the_contactless_limit_only_the_chip_is_polled(tmp_path: Path) -> None:
    config = {"transaction": {"detection-timeout": 0.5}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "visa-qvsdc")
        register = Register()
        answer = await h.transaction(
            register, type="purchase", amount="000020000000"
        )  # 200000.00 > transaction limit
        assert answer.status == "notdetected"
        assert register.codes()[0] == "0B"  # insert card, not present card


async def test_two_cards_in_the_field(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        tap(h, "visa-qvsdc")
        h.sim.slot.present_also("mc-contactless")
        register = Register()

        async def lift_one() -> None:
            while "19" not in register.codes():  # noqa: ASYNC110 - waiting on the register
                await trio.sleep(0.01)
            h.sim.slot.remove("mc-contactless")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lift_one)
            answer = await h.transaction(register, **SMALL)
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert answer.body["receipt"]["aid"] == "A0000000031010"
        # Book B 3.2.1.2 / 3.2.1.4 / 3.2.1.5: present card (ready to read),
        # one card only (processing error), then again ready to read.
        shown = [
            (m.body["code"], m.body.get("status")) for m in register.messages if m.name == "display"
        ]
        assert shown[:3] == [("15", "02"), ("19", "05"), ("19", "02")]
        assert h.sim.slot.open_sessions == 0


async def test_mifare_end_with_indicator(tmp_path: Path) -> None:
    config = {"interfaces": {"mifare": True}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "mifare-classic")
        register = Register({"smartcard": lambda m: {"command": "end", "indicator": "ok"}})
        answer = await h.transaction(register, **SMALL)
        assert answer.status == "cancelled" and "receipt" not in answer.body
        (newcard,) = [m for m in register.messages if m.name == "smartcard"]
        assert newcard.body["command"] == "newcard"
        descriptor = bytes.fromhex(newcard.body["descriptor"])
        assert descriptor[0] == 4 and len(descriptor) == 1 + 4 + 2 + 1
        assert descriptor[5:7] == bytes.fromhex("0400") and descriptor[7] == 0x08
        assert h.sim.indicators.lights == (True, True, True, True)
        assert await h.terminal.journal.last() is None


async def test_mifare_retry_then_next_processes_a_bank_card(tmp_path: Path) -> None:
    config = {"interfaces": {"mifare": True}}
    answers = iter(["retry", "next"])
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "visa-qvsdc")
        register = Register({"smartcard": lambda m: {"command": next(answers)}})
        answer = await h.transaction(register, **SMALL)
        assert register.names().count("smartcard") == 2
        assert answer.body["receipt"]["tstatus"] == "approved"
        descriptor = next(m for m in register.messages if m.name == "smartcard").body["descriptor"]
        assert descriptor.startswith("0408") and descriptor.endswith("040020")  # ATQA 0004, SAK 20


async def test_retry_with_the_card_left_in_the_field_backs_off(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """`retry` with the card left in the field once sent `newcard` some
    ten thousand times in 3 s: now the card is offered again only after a
    back-off that doubles up to its maximum, and at once when it was taken
    away and presented again."""
    # The clock jumps once every task has waited 20 ms of real time: the
    # loopback sockets and threads of the terminal's start have their time.
    autojump_clock.autojump_threshold = 0.02
    config = {"interfaces": {"mifare": True}, "transaction": {"detection-timeout": 30}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "mifare-classic")
        times: list[float] = []

        def retry(message: Message) -> Body:
            times.append(trio.current_time())
            # (a flood would never let the clock reach the timeout: stop it)
            return {"command": "retry" if len(times) < 50 else "end"}

        answer = await h.transaction(Register({"smartcard": retry}), **SMALL)
        assert answer.status == "notdetected"
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
        backoff, most = detection.RETRY_BACKOFF, detection.RETRY_BACKOFF_MAX
        expected = [min(backoff * 2**i, most) for i in range(len(gaps))]
        assert gaps == pytest.approx(expected, abs=0.05)
        assert 8 <= len(times) <= 11  # 30 s: 0, 0.5, 1.5, 3.5, 7.5, then every 4 s

        # Taken away after a retry and presented again: offered at once.
        times.clear()

        retried = trio.Event()

        def retry_then_next(message: Message) -> Body:
            times.append(trio.current_time())
            retried.set()
            if len(times) == 1:
                h.sim.slot.remove()  # taken away
                return {"command": "retry"}
            return {"command": "end"}

        async def present_again() -> None:
            await retried.wait()
            await trio.sleep(0.2)  # the register has answered retry: the field is empty
            tap(h, "mifare-classic")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(present_again)
            answer = await h.transaction(Register({"smartcard": retry_then_next}), **SMALL)
        assert answer.status == "cancelled"
        assert len(times) == 2 and times[1] - times[0] < detection.RETRY_BACKOFF


async def test_chip_inserted_while_the_register_decides_on_a_tapped_card(tmp_path: Path) -> None:
    config = {"interfaces": {"mifare": True}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "mifare-classic")
        asked = trio.Event()

        async def on_message(message: Message) -> Body:
            if message.name == "smartcard":
                asked.set()
                await trio.sleep(0.5)  # still deciding when the chip card wins
                return {"command": "next"}
            return default_message_answer(message)

        async def insert_chip() -> None:
            await asked.wait()
            h.sim.slot.present("default")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(insert_chip)
            answer = await h.connect(on_message).command("transaction", SMALL)
        assert answer.body["receipt"]["tstatus"] == "approved"
        row = await h.terminal.journal.last()
        assert row is not None and row.interface == "contact"
        # The tapped card the contactless task held was powered off.
        assert h.sim.slot.open_sessions == 0


async def test_register_cancels_while_deciding_on_a_tapped_card(tmp_path: Path) -> None:
    config = {"interfaces": {"mifare": True}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "mifare-classic")
        register = Register({"smartcard": lambda m: {"status": "cancelled"}})
        answer = await h.transaction(register, **SMALL)
        assert answer.status == "cancelled"
        assert h.sim.slot.open_sessions == 0  # the tapped card was powered off
        assert await h.terminal.journal.last() is None


async def test_unknown_smartcard_answer_counts_as_next(tmp_path: Path) -> None:
    config = {"interfaces": {"mifare": True}}
    async with simulated_terminal(tmp_path, config) as h:
        tap(h, "visa-qvsdc")
        register = Register({"smartcard": lambda m: {"status": "notimplemented"}})
        answer = await h.transaction(register, **SMALL)
        assert answer.body["receipt"]["tstatus"] == "approved"


# --- SBP ---------------------------------------------------------------------------


def sbp_mode(h: Harness, mode: SimMode | str, *, pay_delay: float = 0.3) -> None:
    assert h.sim.sbp is not None
    h.sim.sbp.control.set_mode(mode)
    h.sim.sbp.control.pay_delay = pay_delay


async def test_the_qr_is_on_the_terminal_display_while_it_can_be_paid(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.PAY, pay_delay=0.5)
        seen: list[str | None] = []

        def on_message(message: Message) -> Body:
            if message.name == "displayqrcode":
                seen.append(h.sim.display.qr)
            return default_message_answer(message)

        answer = await h.transaction(on_message, **SMALL)
        assert answer.body["receipt"]["iface"] == "sbp"
        shown, hidden = seen
        assert shown is not None and shown.startswith("https://qr.nspk.ru/")
        assert hidden is None


async def test_sbp_paid_while_waiting_for_a_card(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.PAY)
        register = Register()
        answer = await h.transaction(register, **SMALL)
        receipt = answer.body["receipt"]
        assert answer.status == "ok" and receipt["iface"] == "sbp"
        assert receipt["status"] == "approved" and receipt["tid-sbp"] == "SBP00000001"
        assert receipt["bank-name"] == "SIMULATOR SBP BANK" and receipt["seq"] == "000001"
        assert register.qr() == ["show", "hide"]
        url = next(m for m in register.messages if m.name == "displayqrcode").body["url"]
        assert url.startswith("https://qr.nspk.ru/") and "sum=1500" in url
        assert h.sim.display.qr is None  # up on the terminal too, and down again
        # its own numbering: a card purchase next is receipt 000001 of the card channel
        h.sim.slot.present("default", CardInterface.CONTACT)
        sbp_mode(h, SimMode.NONE)
        card = await h.transaction(**SMALL)
        assert card.body["receipt"]["seq"] == "000001"


async def test_sbp_rejected(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.REJECT)
        register = Register()
        answer = await h.transaction(register, **SMALL)
        assert answer.body["receipt"]["status"] == "declined"
        assert register.qr() == ["show", "hide"]


async def test_card_tapped_while_the_qr_is_shown(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.NONE)
        register = Register()

        async def tap_later() -> None:
            while "show" not in register.qr():  # noqa: ASYNC110
                await trio.sleep(0.01)
            tap(h, "visa-qvsdc")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tap_later)
            answer = await h.transaction(register, **SMALL)
        assert answer.body["receipt"]["tstatus"] == "approved"
        assert answer.body["receipt"].get("iface") is None  # a card receipt
        assert register.qr() == ["show", "hide"]
        assert h.sim.sbp is not None
        assert h.sim.sbp.ledger.paid_total == 0


async def test_sbp_poll_failure_hides_the_qr_and_cards_go_on(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.NONE)
        assert h.sim.sbp is not None
        register = Register()

        async def break_agent_then_tap() -> None:
            while "show" not in register.qr():  # noqa: ASYNC110
                await trio.sleep(0.01)
            h.sim.sbp.control.set_fault(500)  # type: ignore[union-attr]
            while "hide" not in register.qr():  # noqa: ASYNC110
                await trio.sleep(0.01)
            tap(h, "visa-qvsdc")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(break_agent_then_tap)
            answer = await h.transaction(register, **SMALL)
        assert answer.body["receipt"]["tstatus"] == "approved"


async def test_force_sbp_offers_sbp_only_and_false_offers_none(tmp_path: Path) -> None:
    config = {"transaction": {"detection-timeout": 0.8}}
    async with simulated_terminal(tmp_path, config) as h:
        sbp_mode(h, SimMode.NONE)
        only = Register()
        conn = h.connect(only)
        answer = await conn.command("transaction", SMALL, {"force-sbp": "true"})
        assert answer.status == "notdetected" and only.qr() == ["show", "hide"]
        assert "15" not in only.codes()  # the card in the slot is not even looked at
        without = Register()
        conn = h.connect(without)
        answer = await conn.command("transaction", SMALL, {"force-sbp": "false"})
        assert answer.body["receipt"]["tstatus"] == "approved" and without.qr() == []


async def test_sbp_refund_by_operation_id(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.PAY)
        paid = (await h.transaction(**SMALL)).body["receipt"]
        conn = h.connect()
        refund = await conn.command(
            "transaction", {"type": "refund", "amount": "000000000500", "rrn": paid["rrn"]},
            {"force-sbp": "true"},
        )  # fmt: skip
        assert refund.status == "ok", decode_error_stack(refund.body.get("error-stack"))
        receipt = refund.body["receipt"]
        assert receipt["type"] == "refund" and receipt["status"] == "approved"
        assert h.sim.sbp is not None and h.sim.sbp.ledger.refunded_total == 500
        again = await h.connect().command(
            "transaction", {"type": "refund", "amount": "000000001500", "rrn": paid["rrn"]},
            {"force-sbp": "true"},
        )  # fmt: skip
        assert again.status == "invalidarguments"  # only 10.00 is left


async def test_cancel_while_the_qr_is_shown(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.NONE)
        register = Register({"keepalive": lambda m: {"status": "cancelled"}})
        answer = await h.transaction(register, **SMALL)
        assert answer.status == "cancelled"
        assert register.qr() == ["show"]  # the register cancelled: it takes the QR down itself
        assert h.sim.sbp is not None and h.sim.sbp.ledger.paid_total == 0
        (record,) = h.sim.sbp.ledger.records()
        assert record.state.value == "cancelled"  # withdrawn at the agent


async def test_cancel_after_the_payment_refunds_it(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        h.sim.slot.remove()
        sbp_mode(h, SimMode.PAY)

        def on_qr(message: Message) -> Body:
            if message.body.get("status") == "hide":
                return {"status": "cancelled"}  # paid, hidden - and now the register cancels
            return {"status": "ok"}

        register = Register({"displayqrcode": on_qr})
        answer = await h.transaction(register, **SMALL)
        assert answer.status == "cancelled"
        await h.settle_pending()
        assert h.sim.sbp is not None
        assert h.sim.sbp.ledger.paid_total == 1500 and h.sim.sbp.ledger.refunded_total == 1500
        row = await h.terminal.journal.last("sbp")
        assert row is not None and row.tstatus == "declined"


async def test_lost_race_payment_is_refunded(tmp_path: Path) -> None:
    """A QR paid in the moment a card won: the engine's lost-payment path."""
    from acquirers.sbp.client import SbpClient
    from acquirers.sbp.poll import SbpPaid
    from cardcore.engine.engine import TransactionEngine

    async with simulated_terminal(tmp_path) as h:
        sbp_mode(h, SimMode.PAY, pay_delay=0)
        config = h.terminal.config.sbp
        assert config is not None
        async with SbpClient(config) as client:
            qr = await client.register_qr(700)
            with trio.fail_after(5):
                info = await client.payment_info(qr.qrc_id)
                while info.status.value != "SUCCESS":
                    await trio.sleep(0.05)
                    info = await client.payment_info(qr.qrc_id)
        engine = TransactionEngine(h.terminal)
        await engine.sbp.refund_lost(None, SbpPaid(qr, info, info.operation_id or ""))  # type: ignore[arg-type]
        await h.settle_pending()
        assert h.sim.sbp is not None and h.sim.sbp.ledger.refunded_total == 700
