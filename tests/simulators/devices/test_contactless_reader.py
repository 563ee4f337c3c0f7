"""The simulated contactless reader: card identity, MIFARE cards, collisions (Book D/B 3.2)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from cardcore.protocol.status import status_of
from hal.interfaces import CardCollision, CardInfo, CardInterface, CardRemoved
from kernel.services import MessageId
from simulators.devices.reader import SimCardReader, SimCardSlot

H = bytes.fromhex
SELECT_PPSE = H("00A404000E325041592E5359532E444446303100")
CL = CardInterface.CONTACTLESS
EMV_PICC_ATR = "3B8880010073C8400000900062"

# profile, UID, ATQA as on the air, SAK, PC/SC ATR, SW of SELECT PPSE, manual descriptor
IDENTITIES = [
    # ATS historical bytes of a dual-interface payment card: the part 3 ATR of
    # real ones (Barclaycard Visa Wave & Pay RFID I/F in pcsc-tools' list)
    ("visa-qvsdc", "08A1C3E5", "0400", 0x20, EMV_PICC_ATR, 0x9000, "0408A1C3E5040020"),
    ("phone-wallet", "08C3E5A7", "0400", 0x20, EMV_PICC_ATR, 0x9000, "0408C3E5A7040020"),
    (
        "mifare-classic",
        "5A3C9E17",
        "0400",
        0x08,
        "3B8F8001804F0CA000000306030001000000006A",
        0x6A81,
        "045A3C9E17040008",
    ),
    (
        "mifare-7byte",
        "04A2C4E6F81A80",
        "4400",
        0x20,
        "3B8180018080",
        0x6A82,
        "0704A2C4E6F81A80440020",
    ),
]


@pytest.mark.parametrize(
    ("profile", "uid", "atqa", "sak", "atr", "sw", "descriptor"),
    IDENTITIES,
    ids=[i[0] for i in IDENTITIES],
)
async def test_activation_reports_the_type_a_identity(
    profile: str, uid: str, atqa: str, sak: int, atr: str, sw: int, descriptor: str
) -> None:
    slot = SimCardSlot()
    slot.present(profile, CL)
    session = await SimCardReader(slot, CL).wait_for_card()
    info = session.info
    assert (info.interface, info.uid, info.atqa, info.sak) == (CL, H(uid), H(atqa), sak)
    assert info.atr == H(atr)
    assert info.descriptor() == H(descriptor)
    assert info.iso14443_4 == bool(sak & 0x20)
    assert info.atqa_value == int.from_bytes(H(atqa), "little")
    response = await session.transmit(SELECT_PPSE)
    assert int.from_bytes(response[-2:], "big") == sw
    # PC/SC part 3 GET DATA pseudo-APDU: the UID, as a PC/SC reader answers it
    assert await session.transmit(H("FFCA000000")) == H(uid) + b"\x90\x00"


def test_the_manual_descriptor_example_reads_back() -> None:
    # manual: <descriptor>0705804E4B097000440028</descriptor> - UID 7 bytes, ATQA 0044, SAK 28
    info = CardInfo(CL, uid=H("05804E4B097000"), atqa=H("4400"), sak=0x28)
    assert info.descriptor().hex().upper() == "0705804E4B097000440028"
    assert info.atqa_value == 0x0044
    with pytest.raises(ValueError):
        CardInfo(CardInterface.CONTACT, atr=H("3B00")).descriptor()


async def test_two_cards_are_a_collision_until_one_leaves() -> None:
    slot = SimCardSlot()
    reader = SimCardReader(slot, CL)
    slot.present("visa-qvsdc")
    slot.present_also("mifare-classic")
    assert slot.presented_all == [("visa-qvsdc", CL), ("mifare-classic", CL)]
    with pytest.raises(CardCollision) as caught:
        await reader.wait_for_card()
    assert status_of(caught.value) == "tryagain"
    assert caught.value.message_id == MessageId.PRESENT_ONE_CARD_ONLY
    got = []

    async def wait() -> None:
        got.append(await reader.wait_for_card())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []  # the same collision is reported once, then the reader waits
        slot.remove("visa-qvsdc")
    (session,) = got
    assert session.profile.name == "mifare-classic"


async def test_a_new_collision_is_reported_again() -> None:
    slot = SimCardSlot()
    reader = SimCardReader(slot, CL)
    slot.present("visa-qvsdc")
    slot.present_also("phone-wallet")
    with pytest.raises(CardCollision):
        await reader.wait_for_card()
    slot.present_also("mifare-7byte")  # the field changed: still a collision
    with pytest.raises(CardCollision):
        await reader.wait_for_card()


async def test_a_card_entering_the_field_does_not_break_the_session() -> None:
    slot = SimCardSlot()
    slot.present("visa-qvsdc")
    session = await SimCardReader(slot, CL).wait_for_card()
    slot.present_also("mifare-classic")
    assert (await session.transmit(SELECT_PPSE))[-2:] == b"\x90\x00"
    slot.remove("visa-qvsdc")
    with pytest.raises(CardRemoved):
        await session.transmit(SELECT_PPSE)


async def test_contact_reader_ignores_the_field() -> None:
    slot = SimCardSlot()
    slot.present("visa-qvsdc")
    with trio.move_on_after(0.01) as scope:
        await SimCardReader(slot, CardInterface.CONTACT).wait_for_card()
    assert scope.cancelled_caught
