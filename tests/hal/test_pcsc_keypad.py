"""PIN entry on a class-3 reader through the real PC/SC stack: the private
pcscd loads the CCID project's serial driver (libccidtwin) for an emulated
GemPC Pinpad on a pseudo-terminal (tests/hal/ccid_pinpad.py), so
SCardControl, pcscd's IFDHControl dispatch and libccid's part 10 handling
(the feature list, PIN_VERIFY_STRUCTURE to PC_to_RDR_Secure) are the real
ones; the reader's firmware and the card are the emulator's."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

import pytest
import trio

from hal.interfaces import CardInterface, ReaderKeypad
from hal.pcsc import PcscStack
from kernel.capk import CaKeyStore
from kernel.contact import ContactKernel
from kernel.errors import PinEntryBypassed, PinPadError
from kernel.services import PinRequest
from simulators.devices.card import VirtualCard
from simulators.devices.vpcd import ContactIcc, icc_for_profile
from tests.hal.ccid_pinpad import EmulatedPinpadReader, ccid_serial_driver
from tests.hal.pcscd import CONTACT_READER, Pcscd, unavailable
from tests.kernel.cards import purchase, terminal
from tests.kernel.helpers import FixedEntropy, ScriptedServices

pytestmark = pytest.mark.pcsc

NAME = "GemPC Pinpad serial"
READER = f"{NAME} 00 00"
STEP = 20.0


def default_card() -> VirtualCard:
    """The default virtual card offering T=0 alone, as most payment cards:
    the emulated reader passes T=0 TPDUs, it has no T=1 block layer."""
    icc = icc_for_profile("default", None, protocols=(0,))
    assert isinstance(icc, ContactIcc)
    return icc.card


@contextlib.asynccontextmanager
async def keypad_reader(
    pcscd: Pcscd, card: VirtualCard | None = None
) -> AsyncIterator[EmulatedPinpadReader]:
    """The emulated pad on a pty, and pcscd restarted with libccidtwin on it."""
    if ccid_serial_driver() is None:
        unavailable(
            "libccid's serial driver libccidtwin.so is not installed (apt-get install libccid)"
        )
    reader = EmulatedPinpadReader()
    reader.open()
    reader.firmware.card = card
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(reader.serve)
            restart = functools.partial(
                pcscd.restart, extra={"pinpad": reader.reader_conf(NAME)}, extra_readers=(READER,)
            )
            await trio.to_thread.run_sync(restart)
            try:
                yield reader
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(pcscd.restart)
                nursery.cancel_scope.cancel()
    finally:
        reader.close()


async def test_the_reader_reports_its_keypad_and_vpcd_does_not(pcscd: Pcscd) -> None:
    async with keypad_reader(pcscd) as reader:
        stack = PcscStack(poll=0.2)
        with trio.fail_after(STEP):
            keypad = await stack.reader_keypad(READER)
            plain = await stack.reader_keypad(CONTACT_READER)
        assert keypad is not None and keypad.reader == READER
        assert plain is None  # vpcd has no part 10 features
        assert reader.firmware.entries == []


class KeypadServices(ScriptedServices):
    """The kernel's services with the PC/SC session's keypad behind
    verify_pin_on_reader (what cardcore.engine.services does)."""

    session: ReaderKeypad | None = None

    async def verify_pin_on_reader(self, request: PinRequest) -> int | None:
        assert self.session is not None
        self.pin_requests.append(request)
        return await self.session.verify_offline_pin(timeout=30, language="ru")


async def purchase_with_keypad(pcscd: Pcscd, *entries: str) -> tuple[object, list[object]]:
    async with keypad_reader(pcscd, default_card()) as reader:
        reader.firmware.keypad.enter(*entries)
        stack = PcscStack(poll=0.2)
        with trio.fail_after(STEP):
            session = await stack.reader(CardInterface.CONTACT, [READER]).wait_for_card()
        try:
            assert isinstance(session, ReaderKeypad)
            services = KeypadServices(pins=["pinpad"])  # a PIN pad would fail
            services.session = session
            kernel = ContactKernel(terminal(), CaKeyStore(), entropy=FixedEntropy())
            with trio.fail_after(STEP):
                outcome = await kernel.run(session.transmit, services, purchase())
        finally:
            await session.close()
        return outcome, list(reader.firmware.entries)


async def test_offline_pin_entered_on_the_readers_keypad(pcscd: Pcscd) -> None:
    outcome, entries = await purchase_with_keypad(pcscd, "0000", "1234")
    assert outcome.pin_entered == "offline"  # type: ignore[attr-defined]
    assert outcome.cvm_results == bytes.fromhex("410302")  # type: ignore[attr-defined]
    # The reader got the template and sent VERIFY with the digits it took:
    # wrong PIN 63C2, then the right one 9000.
    assert [(e.template.hex().upper(), e.pin_length, e.answer.hex().upper()) for e in entries] == [
        ("002000800820FFFFFFFFFFFFFF", 4, "63C2"),
        ("002000800820FFFFFFFFFFFFFF", 4, "9000"),
    ]


async def test_cancel_and_timeout_on_the_keypad(pcscd: Pcscd) -> None:
    async with keypad_reader(pcscd, default_card()) as reader:
        stack = PcscStack(poll=0.2)
        with trio.fail_after(STEP):
            session = await stack.reader(CardInterface.CONTACT, [READER]).wait_for_card()
        try:
            assert isinstance(session, ReaderKeypad)
            reader.firmware.keypad.cancel()
            with pytest.raises(PinEntryBypassed):  # libccid: bError EF -> 6401
                await session.verify_offline_pin(timeout=5)
            with pytest.raises(PinPadError, match="timed out"):  # bError F0 -> 6400
                await session.verify_offline_pin(timeout=5)
        finally:
            await session.close()
        assert reader.firmware.entries == []  # the card never saw a VERIFY
