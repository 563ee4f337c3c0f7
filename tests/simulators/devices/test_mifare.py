"""The virtual MIFARE Classic card and the simulated part 3 reader."""

from __future__ import annotations

import itertools

import pytest

from hal.interfaces import CardType
from hal.mifare import MifareKeyType
from simulators.devices import VirtualCard, load_profile
from simulators.devices.contactless import Part3Reader, default_uid
from simulators.devices.mifare import (
    DEFAULT_KEY,
    MifareCardError,
    MifareClassicCard,
    _decode_access,
    access_bits,
    mifare_card_for,
)

A, B = MifareKeyType.A, MifareKeyType.B


def classic() -> MifareClassicCard:
    card = mifare_card_for(load_profile("mifare-classic"))
    assert card is not None
    return card


def test_only_mifare_classic_profiles_have_memory() -> None:
    assert mifare_card_for(load_profile("mifare-7byte")) is None  # ISO 14443-4 (SAK 20)
    assert mifare_card_for(load_profile("visa-qvsdc")) is None
    card = classic()
    assert card.uid == bytes.fromhex("5A3C9E17") and card.card_type is CardType.MIFARE_CLASSIC_1K


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((0, 0, 0, 0b001), "FF078069"),  # transport configuration
        ((0b100, 0b100, 0b100, 0b011), "78778869"),
        ((0, 0, 0, 0b011), "7F078869"),
    ],
)
def test_access_bits_known_values(conditions: tuple[int, int, int, int], expected: str) -> None:
    assert access_bits(conditions).hex().upper() == expected


def test_access_bits_round_trip() -> None:
    for conditions in itertools.product(range(8), repeat=4):
        encoded = access_bits(conditions)  # type: ignore[arg-type]
        assert _decode_access(bytes(6) + encoded + bytes(6)) == conditions


def test_card_geometry() -> None:
    assert len(MifareClassicCard.blank(bytes(4)).blocks) == 64
    card_4k = MifareClassicCard.blank(bytes(4), CardType.MIFARE_CLASSIC_4K)
    assert len(card_4k.blocks) == 256
    assert card_4k.sector_of(130) == (32, 128, 16) and card_4k.trailer_of(130) == 143
    assert len(MifareClassicCard.blank(bytes(4), CardType.MIFARE_MINI).blocks) == 20


def test_manufacturer_block() -> None:
    card = classic()
    block0 = bytes(card.blocks[0])
    assert block0[:4] == bytes.fromhex("5A3C9E17")
    assert block0[4] == 0x5A ^ 0x3C ^ 0x9E ^ 0x17  # BCC
    assert block0[5] == 0x08 and block0[6:8] == b"\x04\x00"  # SAK, ATQA LSB first
    card.authenticate(0, A, DEFAULT_KEY)
    assert card.read(0) == block0
    with pytest.raises(MifareCardError):
        card.write(0, bytes(16))


def test_authentication_is_per_sector_and_cleared_by_reset() -> None:
    card = classic()
    card.authenticate(8, A, DEFAULT_KEY)
    card.read(9)
    with pytest.raises(MifareCardError) as other_sector:
        card.read(5)
    assert other_sector.value.sw == 0x6982
    card.reset()
    with pytest.raises(MifareCardError):
        card.read(9)
    with pytest.raises(MifareCardError) as wrong:
        card.authenticate(4, A, DEFAULT_KEY)
    assert wrong.value.sw == 0x6300


def test_trailer_write_follows_its_access_conditions() -> None:
    card = classic()
    card.authenticate(4, B, bytes.fromhex("B0B1B2B3B4B5"))
    new_trailer = bytes.fromhex("C0C1C2C3C4C5") + access_bits((0b100, 0b100, 0b100, 0b011))
    card.write(7, new_trailer + bytes.fromhex("D0D1D2D3D4D5"))
    card.reset()
    card.authenticate(4, A, bytes.fromhex("C0C1C2C3C4C5"))
    with pytest.raises(MifareCardError) as refused:
        card.write(7, bytes(16))  # key A may not write this trailer (condition 011)
    assert refused.value.sw == 0x6986
    card.authenticate(4, B, bytes.fromhex("D0D1D2D3D4D5"))


def test_part3_reader_pseudo_apdus() -> None:
    reader = Part3Reader(classic())
    reader.activate()
    cases = [
        ("FFCA000000", "5A3C9E179000"),
        ("FFCA000004", "5A3C9E179000"),
        ("FFCA000002", "6C04"),
        ("FFCA010000", "6A81"),  # no ATS for a MIFARE Classic card
        ("FFCA000100", "6B00"),
        ("FF820002" + "06" + "FFFFFFFFFFFF", "6988"),  # only two volatile slots
        ("FF820000" + "05" + "FFFFFFFFFF", "6989"),
        ("FF822000" + "06" + "FFFFFFFFFFFF", "6986"),  # no non-volatile keys
        ("FF860000050100046001", "6300"),  # slot 1 empty
        ("FF820000" + "06" + "A0A1A2A3A4A5", "9000"),
        ("FF860000050100046000", "9000"),
        ("FFB0000510", "43415244434F5245205452414E5349549000"),
        ("FFB0000508", "6C10"),
        ("FFB0004010", "6A82"),
        ("FFD6000510" + "00" * 16, "6986"),
        ("FF860000050100046200", "6B00"),
        ("FFEE000000", "6D00"),
        ("00A4040000", "6A81"),  # no APDUs reach a MIFARE Classic
        ("FF", "6700"),
    ]
    for capdu, rapdu in cases:
        assert reader.transmit(bytes.fromhex(capdu)).hex().upper() == rapdu, capdu


def test_part3_reader_with_a_processor_card() -> None:
    card = VirtualCard(load_profile("default"))
    reader = Part3Reader(card)
    atr = reader.activate()
    assert atr[:4] == bytes.fromhex("3B888001")
    assert reader.uid == default_uid("default") and reader.sak == 0x20
    assert reader.atqa == b"\x04\x00"
    assert reader.transmit(bytes.fromhex("FFCA010000"))[:-2] == reader.historical
    assert reader.transmit(bytes.fromhex("FFB0000010")) == b"\x6a\x81"
    assert reader.transmit(bytes.fromhex("FF860000050100046000")) == b"\x6a\x81"
    response = reader.transmit(bytes.fromhex("00A404000E315041592E5359532E444446303100"))
    assert response[-2:] == b"\x90\x00"


def test_part3_reader_keeps_a_contactless_profiles_identity() -> None:
    reader = Part3Reader(VirtualCard(load_profile("visa-qvsdc")))
    assert reader.activate() == load_profile("visa-qvsdc").rf.pcsc_atr()  # type: ignore[union-attr]
    assert (reader.uid, reader.atqa, reader.sak) == (bytes.fromhex("08A1C3E5"), b"\x04\x00", 0x20)
    ppse = bytes.fromhex("00A404000E325041592E5359532E444446303100")
    assert reader.transmit(ppse)[-2:] == b"\x90\x00"
