"""Simulated readers: presenting, waiting, powering, removal mid-session."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from hal.atr import parse_atr
from hal.interfaces import CardInterface, CardRemoved
from simulators.devices.profile import ProfileError
from simulators.devices.reader import SimCardReader, SimCardSlot

SELECT_PSE = bytes.fromhex("00A404000E315041592E5359532E444446303100")


async def test_wait_for_card_blocks_until_presented() -> None:
    slot = SimCardSlot()
    reader = SimCardReader(slot, CardInterface.CONTACT)
    got = []

    async def wait() -> None:
        got.append(await reader.wait_for_card())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        slot.present("visa-qvsdc", CardInterface.CONTACTLESS)  # another interface
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        slot.present("default", CardInterface.CONTACT)
    (session,) = got
    assert session.info.interface is CardInterface.CONTACT and session.info.atr[0] == 0x3B
    # The bundled cards offer T=0 alone: the case-4 SELECT goes without its Le
    # and the FCI waits for GET RESPONSE.
    assert session.info.protocol == "T=0"
    waiting = await session.transmit(SELECT_PSE)
    assert waiting[0] == 0x61 and len(waiting) == 2
    response = await session.transmit(bytes([0x00, 0xC0, 0x00, 0x00, waiting[1]]))
    assert response[-2:] == b"\x90\x00" and response[0] == 0x6F


@pytest.mark.parametrize(("protocols", "used"), [((0,), "T=0"), ((1,), "T=1"), ((0, 1), "T=1")])
async def test_the_reader_takes_t1_when_the_card_offers_it(
    protocols: tuple[int, ...], used: str
) -> None:
    slot = SimCardSlot()
    slot.present("default", CardInterface.CONTACT, protocols=protocols)
    session = await SimCardReader(slot, CardInterface.CONTACT).wait_for_card()
    assert session.info.protocol == used
    assert parse_atr(session.info.atr).protocols == protocols
    response = await session.transmit(SELECT_PSE)
    assert (response[0] == 0x61) is (used == "T=0")


async def test_removal_mid_session() -> None:
    slot = SimCardSlot()
    slot.present("default")
    session = await SimCardReader(slot, CardInterface.CONTACT).wait_for_card()
    slot.remove()
    with pytest.raises(CardRemoved):
        await session.transmit(SELECT_PSE)
    with trio.move_on_after(0.01) as scope:
        await SimCardReader(slot, CardInterface.CONTACT).wait_for_card()
    assert scope.cancelled_caught


async def test_profiles_only_go_where_they_can() -> None:
    slot = SimCardSlot()
    with pytest.raises(ProfileError):
        slot.present("default", CardInterface.CONTACTLESS)  # a contact-only card
    with pytest.raises(ProfileError):
        slot.present("visa-qvsdc", CardInterface.CONTACT)  # a contactless-only card
    with pytest.raises(ProfileError):
        slot.present_also("default")
    assert slot.presented is None
    slot.present("mifare-classic")  # the profile's own interface by default
    assert slot.presented == ("mifare-classic", CardInterface.CONTACTLESS)


async def test_counters_persist_across_presentations() -> None:
    slot = SimCardSlot()
    assert slot.card("default") is slot.card("default")
    with pytest.raises(ProfileError):
        slot.present("no-such-card")
    assert slot.presented is None
    slot.present("dda")
    assert slot.presented == ("dda", CardInterface.CONTACT)
    reader = SimCardReader(slot, CardInterface.CONTACT)
    with trio.move_on_after(0.01) as scope:
        await reader.wait_for_removal()
    assert scope.cancelled_caught
    slot.remove()
    await reader.wait_for_removal()
