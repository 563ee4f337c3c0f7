"""One HAL conformance suite for card readers, run against the simulated
readers and against the PC/SC driver talking to a real pcscd, whose vpcd
reader holds the same virtual cards (`Virtual PCD 00 00` as the contact
reader, `Virtual PCD 00 01` as a PC/SC part 3 contactless reader).

Every test sees a `Rig`: the two readers, and the customer's hand
(`present`, `remove`). The PC/SC rig's hand plugs a virtual card into vpcd.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pytest
import trio
import trio.testing

from hal.atr import parse_atr, parse_contactless_atr
from hal.interfaces import CardInterface, CardReader, CardRemoved, CardSession, CardType
from hal.mifare import MifareAuthenticationError, MifareClassic, MifareError, MifareKeyType
from kernel.apdu import Transport, get_data, select
from simulators.devices.reader import SimCardReader, SimCardSlot
from tests.hal.pcscd import CONTACT_READER, CONTACTLESS_READER, Pcscd

# Every test here shares the one private pcscd: they run in their own, serial
# pytest run (make unit), never beside each other on two workers.
pytestmark = pytest.mark.pcsc

CONTACT, CONTACTLESS = CardInterface.CONTACT, CardInterface.CONTACTLESS
SELECT_PSE = bytes.fromhex("00A404000E315041592E5359532E444446303100")
KEY_A = bytes.fromhex("A0A1A2A3A4A5")
KEY_B = bytes.fromhex("B0B1B2B3B4B5")
# Real time for the PC/SC rig: pcscd polls vpcd about every 0.4 s. This bounds
# a test that hangs; nothing asserts on durations.
STEP = 20.0


class Rig(Protocol):
    kind: str

    def reader(self, interface: CardInterface) -> CardReader: ...

    async def present(
        self,
        name: str,
        interface: CardInterface = CONTACT,
        *,
        protocols: tuple[int, ...] | None = None,
    ) -> None:
        """``protocols``: what a contact card's ATR offers (default the profile's)."""
        ...

    async def remove(self, interface: CardInterface = CONTACT) -> None: ...

    async def settle(self) -> None:
        """Give the readers time to notice a change (to check nothing happened)."""
        ...


class SimRig:
    kind = "sim"

    def __init__(self) -> None:
        self.slot = SimCardSlot()
        self.readers = {i: SimCardReader(self.slot, i) for i in CardInterface}

    def reader(self, interface: CardInterface) -> CardReader:
        return self.readers[interface]

    async def present(
        self,
        name: str,
        interface: CardInterface = CONTACT,
        *,
        protocols: tuple[int, ...] | None = None,
    ) -> None:
        self.slot.present(name, interface, protocols=protocols)
        await trio.lowlevel.checkpoint()

    async def remove(self, interface: CardInterface = CONTACT) -> None:
        if self.slot.presented is not None and self.slot.presented[1] is interface:
            self.slot.remove()
        await trio.lowlevel.checkpoint()

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()


class PcscRig:
    kind = "pcsc"

    def __init__(self, daemon: Pcscd, nursery: trio.Nursery) -> None:
        from hal.pcsc import PcscStack

        self.daemon = daemon
        self.nursery = nursery
        self.stack = PcscStack(poll=1.0, settle=3.0)
        self.readers = {
            CONTACT: self.stack.reader(CONTACT, [CONTACT_READER]),
            CONTACTLESS: self.stack.reader(CONTACTLESS, [CONTACTLESS_READER]),
        }
        self._cards: dict[CardInterface, trio.CancelScope] = {}

    def reader(self, interface: CardInterface) -> CardReader:
        return self.readers[interface]

    async def present(
        self,
        name: str,
        interface: CardInterface = CONTACT,
        *,
        protocols: tuple[int, ...] | None = None,
    ) -> None:
        from simulators.devices.vpcd import icc_for_profile, run_vpcd_card

        await self.remove(interface)
        icc = icc_for_profile(name, interface, protocols=protocols)
        port = self.daemon.port + (0 if interface is CONTACT else 1)
        scope = trio.CancelScope()
        self._cards[interface] = scope

        async def plug(task_status: trio.TaskStatus[None]) -> None:
            with scope:
                await run_vpcd_card(icc, port=port, task_status=task_status)

        await self.nursery.start(plug)

    async def remove(self, interface: CardInterface = CONTACT) -> None:
        scope = self._cards.pop(interface, None)
        if scope is not None:
            scope.cancel()
            await trio.lowlevel.checkpoint()

    async def settle(self) -> None:
        await trio.sleep(1.5)  # pcscd polls vpcd every 0.4 s

    async def close(self) -> None:
        for interface in list(self._cards):
            await self.remove(interface)


@pytest.fixture(params=["sim", "pcsc"])
def rig_kind(request: pytest.FixtureRequest) -> Pcscd | None:
    if request.param == "pcsc":
        daemon: Pcscd = request.getfixturevalue("pcscd")
        return daemon
    return None


@pytest.fixture
async def rig(rig_kind: Pcscd | None, nursery: trio.Nursery) -> AsyncIterator[Rig]:
    if rig_kind is None:
        yield SimRig()
        return
    pcsc = PcscRig(rig_kind, nursery)
    yield pcsc
    await pcsc.close()
    # Leave the readers empty for the next test.
    with trio.fail_after(STEP):
        for reader in pcsc.readers.values():
            await reader.wait_for_removal()


async def wait_card(rig: Rig, interface: CardInterface = CONTACT) -> CardSession:
    with trio.fail_after(STEP):
        return await rig.reader(interface).wait_for_card()


# --- contact ------------------------------------------------------------------


async def test_wait_for_card_blocks_until_a_card_is_presented(rig: Rig) -> None:
    got: list[CardSession] = []
    arrived = trio.Event()

    async def wait() -> None:
        got.append(await rig.reader(CONTACT).wait_for_card())
        arrived.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await rig.present("visa-qvsdc", CONTACTLESS)  # another interface
        await rig.settle()
        assert not arrived.is_set()
        await rig.present("default", CONTACT)
        with trio.fail_after(STEP):
            await arrived.wait()
    (session,) = got
    try:
        info = session.info
        assert info.interface is CONTACT
        atr = parse_atr(info.atr)
        assert atr.protocols == (0,) and info.protocol == "T=0"  # as most payment cards
        response = await Transport(session.transmit).send(select(b"1PAY.SYS.DDF01"))
        assert response.ok and response.data[0] == 0x6F
    finally:
        await session.close()


@pytest.mark.parametrize(("protocols", "used"), [((1,), "T=1"), ((0, 1), "T=1")])
async def test_the_reader_takes_t1_when_the_card_offers_it(
    rig: Rig, protocols: tuple[int, ...], used: str
) -> None:
    """A terminal accepting T=0 and T=1 gets T=1 when the ATR offers it (pcscd
    negotiates it with a PPS, ISO/IEC 7816-3 9); a case-4 APDU then travels
    with its Le and the answer comes whole."""
    await rig.present("default", CONTACT, protocols=protocols)
    session = await wait_card(rig)
    try:
        assert session.info.protocol == used
        assert parse_atr(session.info.atr).protocols == protocols
        response = await session.transmit(SELECT_PSE)
        assert response[-2:] == b"\x90\x00" and response[0] == 0x6F
    finally:
        await session.close()


async def test_t0_card_procedure_bytes_reach_the_transport(rig: Rig) -> None:
    """A T=0 card answers a case-4 SELECT with 61xx; the session passes it up
    unchanged and kernel.apdu.Transport completes it with GET RESPONSE."""
    await rig.present("default", CONTACT, protocols=(0,))
    session = await wait_card(rig)
    try:
        assert session.info.protocol == "T=0"
        assert parse_atr(session.info.atr).protocols == (0,)
        raw = await session.transmit(select(bytes.fromhex("A0000000031010")).encode())
        assert raw[0] == 0x61 and len(raw) == 2
        response = await Transport(session.transmit).send(select(bytes.fromhex("A0000000031010")))
        assert response.ok and response.data[0] == 0x6F
    finally:
        await session.close()


async def test_card_removed_mid_session(rig: Rig) -> None:
    await rig.present("default")
    session = await wait_card(rig)
    try:
        await rig.remove()
        with trio.fail_after(STEP):
            await rig.reader(CONTACT).wait_for_removal()
        with pytest.raises(CardRemoved):
            await session.transmit(SELECT_PSE)
    finally:
        await session.close()
        await session.close()  # closing twice, and a gone card, is harmless


async def test_wait_for_removal_blocks_while_present_and_is_cancellable(rig: Rig) -> None:
    await rig.present("default")
    session = await wait_card(rig)
    await session.close()
    with trio.move_on_after(0.5) as scope:
        await rig.reader(CONTACT).wait_for_removal()
    assert scope.cancelled_caught
    await rig.remove()
    with trio.fail_after(STEP):
        await rig.reader(CONTACT).wait_for_removal()


async def test_cancelled_wait_leaves_the_reader_usable(rig: Rig) -> None:
    for _ in range(3):
        with trio.move_on_after(0.2) as scope:
            await rig.reader(CONTACT).wait_for_card()
        assert scope.cancelled_caught
    await rig.present("sda")
    session = await wait_card(rig)
    try:
        response = await Transport(session.transmit).send(select(b"1PAY.SYS.DDF01"))
        assert response.ok
    finally:
        await session.close()


async def test_card_counters_persist_across_power_cycles(rig: Rig) -> None:
    """The same card powered twice: GET PROCESSING OPTIONS moves the ATC each
    time, and a power cycle keeps it (the card's own counter, EMV Book 3 9F36)."""

    async def gpo_then_atc() -> int:
        session = await wait_card(rig)
        try:
            transport = Transport(session.transmit)
            assert (await transport.send(select(bytes.fromhex("A0000000031010")))).ok
            gpo = await session.transmit(bytes.fromhex("80A8000006830406430643") + b"\x00")
            assert gpo[-2:] == b"\x90\x00" or gpo[0] == 0x61
            # a T=0 card may answer the case-2 GET DATA with '6Cxx' first
            data = await transport.send(get_data(0x9F36))
            assert data.ok and data.data[:3] == b"\x9f\x36\x02"
            return int.from_bytes(data.data[3:5], "big")
        finally:
            await session.close()

    await rig.present("default")
    first = await gpo_then_atc()
    second = await gpo_then_atc()  # powered down and up again, not removed
    assert second == first + 1


# --- contactless --------------------------------------------------------------


SELECT_PPSE = bytes.fromhex("00A404000E325041592E5359532E444446303100")


async def test_contactless_processor_card(rig: Rig) -> None:
    await rig.present("visa-qvsdc", CONTACTLESS)
    session = await wait_card(rig, CONTACTLESS)
    try:
        info = session.info
        assert info.interface is CONTACTLESS and info.protocol == "T=1"
        assert info.card_type is CardType.PROCESSOR and info.iso14443_4
        assert info.uid == bytes.fromhex("08A1C3E5")
        assert info.atqa == b"\x04\x00" and info.sak == 0x20  # ATQA as on the air
        parsed = parse_contactless_atr(info.atr)
        assert parsed is not None and parsed.card_type is CardType.PROCESSOR
        assert info.descriptor() == bytes.fromhex("0408A1C3E5040020")
        response = await session.transmit(SELECT_PPSE)
        assert response[-2:] == b"\x90\x00" and response[0] == 0x6F
    finally:
        await session.close()


async def test_contactless_mifare_family_card_with_apdus(rig: Rig) -> None:
    """mifare-7byte: a 7-byte UID, ISO 14443-4, no EMV application."""
    await rig.present("mifare-7byte", CONTACTLESS)
    session = await wait_card(rig, CONTACTLESS)
    try:
        info = session.info
        assert info.uid == bytes.fromhex("04A2C4E6F81A80") and len(info.uid) == 7
        assert info.atqa == b"\x44\x00" and info.sak == 0x20
        assert info.card_type is CardType.PROCESSOR
        assert (await session.transmit(SELECT_PPSE))[-2:] == b"\x6a\x82"
    finally:
        await session.close()


async def test_mifare_classic_through_pseudo_apdus(rig: Rig) -> None:
    await rig.present("mifare-classic", CONTACTLESS)
    session = await wait_card(rig, CONTACTLESS)
    try:
        info = session.info
        assert info.card_type is CardType.MIFARE_CLASSIC_1K and not info.iso14443_4
        assert info.uid == bytes.fromhex("5A3C9E17")
        assert info.atqa == b"\x04\x00" and info.sak == 0x08
        assert parse_contactless_atr(info.atr) is not None
        card = MifareClassic(session)
        assert await card.uid() == bytes.fromhex("5A3C9E17")
        with pytest.raises(MifareError) as not_authenticated:
            await card.read_block(5)
        assert not_authenticated.value.sw == 0x6982
        await card.authenticate_with(4, MifareKeyType.A, KEY_A)
        assert await card.read_block(5) == b"CARDCORE TRANSIT"
        trailer = await card.read_block(7)
        assert trailer[:6] == bytes(6) and trailer[6:9] == bytes.fromhex("787788")
        with pytest.raises(MifareError) as refused:
            await card.write_block(5, b"A" * 16)  # key A may only read sector 1
        assert refused.value.sw == 0x6986
        await card.authenticate_with(4, MifareKeyType.B, KEY_B)
        await card.write_block(5, b"RIDE 2 REMAINING")
        assert await card.read_block(5) == b"RIDE 2 REMAINING"
        with pytest.raises(MifareAuthenticationError):
            await card.authenticate_with(8, MifareKeyType.A, KEY_A)  # sector 2: default keys
        await card.authenticate_with(8, MifareKeyType.A, bytes.fromhex("FFFFFFFFFFFF"))
        assert await card.read_block(8) == bytes(16)
        assert (await session.transmit(SELECT_PPSE))[-2:] == b"\x6a\x81"  # no APDUs
    finally:
        await session.close()


async def test_contactless_card_does_not_wake_the_contact_reader(rig: Rig) -> None:
    woke = trio.Event()

    async def wait() -> None:
        await rig.reader(CONTACT).wait_for_card()
        woke.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await rig.present("mifare-classic", CONTACTLESS)
        session = await wait_card(rig, CONTACTLESS)
        await session.close()
        await rig.settle()
        assert not woke.is_set()
        nursery.cancel_scope.cancel()
