"""The simulated SAM: host authentication, key changes, and the MIFARE
Classic sector authentication helper over a simulated part 3 reader."""

from __future__ import annotations

import pytest

from hal.interfaces import CardInterface
from hal.mifare import MifareClassic, MifareKeyType
from hal.sam import SamAuthenticationError, SamError, SamKeyKind, authenticate_sector
from simulators.devices.reader import SimCardReader, SimCardSlot
from simulators.devices.sam import SimSam

HOST = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # TEST ONLY
TRANSIT = bytes.fromhex("A0A1A2A3A4A5B0B1B2B3B4B5")  # the mifare-classic profile's sector 1


async def personalised() -> SimSam:
    sam = SimSam()
    await sam.authenticate_host(0, 0, bytes(16))
    await sam.change_key_entry(1, 2, HOST, SamKeyKind.AES128)
    await sam.change_key_entry(10, 0, TRANSIT, SamKeyKind.MIFARE, exportable=True)
    await sam.change_key_entry(11, 0, TRANSIT, SamKeyKind.MIFARE)
    sam.reset()
    return sam


async def test_host_authentication() -> None:
    sam = await personalised()
    await sam.authenticate_host(1, 2, HOST)
    assert sam.session is not None and sam.session.entry == 1
    assert len(sam.session.key) == 16 and sam.session.key != HOST
    with pytest.raises(SamAuthenticationError, match="wrong host key"):
        await sam.authenticate_host(1, 2, bytes(16))
    assert sam.session is None
    with pytest.raises(SamError, match="version 3"):
        await sam.authenticate_host(1, 3, HOST)
    with pytest.raises(SamError):
        await sam.authenticate_host(10, 0, HOST)  # a MIFARE entry is no host key


async def test_key_changes_need_the_master_key_session() -> None:
    sam = await personalised()
    await sam.authenticate_host(1, 2, HOST)
    with pytest.raises(SamAuthenticationError, match="entry 0"):
        await sam.change_key_entry(1, 2, bytes(16), SamKeyKind.AES128)
    await sam.authenticate_host(0, 0, bytes(16))
    with pytest.raises(SamError, match="16 bytes"):
        await sam.change_key_entry(1, 2, bytes(15), SamKeyKind.AES128)
    new_master = bytes(range(16))
    await sam.change_key_entry(0, 0, new_master, SamKeyKind.AES128)
    assert sam.session is None
    with pytest.raises(SamAuthenticationError):
        await sam.authenticate_host(0, 0, bytes(16))
    await sam.authenticate_host(0, 0, new_master)


async def test_sector_authentication_with_the_sams_key() -> None:
    sam = await personalised()
    slot = SimCardSlot()
    slot.present("mifare-classic", CardInterface.CONTACTLESS)
    session = await SimCardReader(slot, CardInterface.CONTACTLESS).wait_for_card()
    card = MifareClassic(session)
    with pytest.raises(SamAuthenticationError):
        await authenticate_sector(sam, card, 4, MifareKeyType.A, 10)  # host not authenticated
    await sam.authenticate_host(1, 2, HOST)
    await authenticate_sector(sam, card, 4, MifareKeyType.A, 10)
    assert await card.read_block(5) == b"CARDCORE TRANSIT"
    await authenticate_sector(sam, card, 6, MifareKeyType.B, 10)
    await card.write_block(5, b"RIDE 9 REMAINING")
    with pytest.raises(SamError, match="does not allow"):
        await authenticate_sector(sam, card, 4, MifareKeyType.A, 11)
