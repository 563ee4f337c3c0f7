"""ATR parsing (ISO 7816-3 8.2) and PC/SC part 3 contactless ATRs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.atr import (
    AtrError,
    card_type_for_sak,
    contactless_atr,
    derive_atqa_sak,
    parse_atr,
    parse_contactless_atr,
)
from hal.interfaces import CardType
from simulators.devices import VirtualCard, load_profile
from simulators.devices.card import HISTORICAL_BYTES


def with_tck(body: str) -> bytes:
    raw = bytes.fromhex(body)
    tck = 0
    for b in raw[1:]:
        tck ^= b
    return raw + bytes([tck])


@pytest.mark.parametrize(
    ("atr", "protocols", "historical", "interface"),
    [
        (bytes.fromhex("3B6800000073C84013009000"), (0,), "0073C84013009000", [{"TB": 0, "TC": 0}]),
        (
            with_tck("3BDA18FF81B1FE751F03" + "0031C573C00140009000"),
            (1,),
            "0031C573C00140009000",
            [
                {"TA": 0x18, "TC": 0xFF, "TD": 0x81},
                {"TD": 0xB1},
                {"TA": 0xFE, "TB": 0x75, "TD": 0x1F},
            ],
        ),
        (with_tck("3B8880010073C84013009000"), (0, 1), "0073C84013009000", None),
        (bytes.fromhex("3F65000011223344" + "55"), (0,), "1122334455", [{"TB": 0, "TC": 0}]),
    ],
)
def test_parse(
    atr: bytes, protocols: tuple[int, ...], historical: str, interface: list[dict[str, int]] | None
) -> None:
    parsed = parse_atr(atr)
    assert parsed.protocols == protocols
    assert parsed.historical == bytes.fromhex(historical)
    if interface is not None:
        assert list(parsed.interface_bytes[: len(interface)]) == interface


@pytest.mark.parametrize("protocols", [(0,), (1,), (0, 1)])
def test_emulator_atrs_parse(protocols: tuple[int, ...]) -> None:
    card = VirtualCard(load_profile("default"), t0=0 in protocols, protocols=protocols)
    atr = parse_atr(card.atr)
    assert atr.protocols == protocols and (atr.tck is None) is (protocols == (0,))
    assert atr.historical == HISTORICAL_BYTES
    # card capabilities (ISO/IEC 7816-4 8.1.1.2.7): third software function
    # table 00 - no logical channel, the answer MANAGE CHANNEL gets agrees
    assert atr.historical[1:5] == bytes.fromhex("73C84000")
    assert load_profile("default").protocols == (0,)


@pytest.mark.parametrize(
    ("atr", "reason"),
    [
        ("", "shorter"),
        ("3C00", "TS"),
        ("3B90", "interface"),
        ("3B8180", "interface"),
        ("3B8F8001804F", "historical"),
        ("3B8180018000", "TCK is wrong"),
        ("3B0000", "after its end"),
    ],
)
def test_malformed(atr: str, reason: str) -> None:
    with pytest.raises(AtrError, match=reason):
        parse_atr(bytes.fromhex(atr))


def test_mifare_classic_1k_atr_is_the_known_one() -> None:
    """The ATR every PC/SC part 3 reader shows for a MIFARE Classic 1K."""
    atr = contactless_atr(CardType.MIFARE_CLASSIC_1K)
    assert atr.hex().upper() == "3B8F8001804F0CA000000306030001000000006A"
    parsed = parse_contactless_atr(atr)
    assert parsed is not None
    assert parsed.card_type is CardType.MIFARE_CLASSIC_1K
    assert (parsed.standard, parsed.card_name) == (0x03, 0x0001)


@pytest.mark.parametrize(
    "card_type",
    [
        CardType.MIFARE_CLASSIC_1K,
        CardType.MIFARE_CLASSIC_4K,
        CardType.MIFARE_MINI,
        CardType.MIFARE_ULTRALIGHT,
    ],
)
def test_storage_card_round_trip(card_type: CardType) -> None:
    parsed = parse_contactless_atr(contactless_atr(card_type))
    assert parsed is not None and parsed.card_type is card_type


def test_unknown_storage_card_and_contact_atrs() -> None:
    atr = bytearray(contactless_atr(CardType.MIFARE_CLASSIC_1K))
    atr[14] = 0x7F  # card name 007F, not one this terminal knows
    atr[-1] ^= 0x01 ^ 0x7F
    parsed = parse_contactless_atr(bytes(atr))
    assert parsed is not None and parsed.card_type is CardType.STORAGE
    assert parse_contactless_atr(bytes.fromhex("3B6800000073C84013009000")) is None
    assert parse_contactless_atr(b"\x00") is None


@given(historical=st.binary(max_size=15))
def test_processor_card_atr_round_trip(historical: bytes) -> None:
    atr = contactless_atr(CardType.PROCESSOR, historical)
    parsed = parse_contactless_atr(atr)
    if historical[:3] == b"\x80\x4f\x0c" and len(historical) >= 15:
        return  # looks like a storage card's, by construction
    assert parsed is not None
    assert parsed.card_type is CardType.PROCESSOR and parsed.historical == historical


@given(atr=st.binary(max_size=40))
def test_garbage_parses_or_raises_atr_error(atr: bytes) -> None:
    with contextlib.suppress(AtrError):
        parse_atr(atr)
    parse_contactless_atr(atr)  # never raises


@pytest.mark.parametrize(
    ("card_type", "uid", "atqa", "sak"),
    [
        (CardType.MIFARE_CLASSIC_1K, "04A1B2C3", "0400", 0x08),
        (CardType.MIFARE_CLASSIC_1K, "04112233445566", "4400", 0x08),
        (CardType.MIFARE_CLASSIC_4K, "04A1B2C3", "0200", 0x18),
        (CardType.MIFARE_MINI, "04A1B2C3", "0400", 0x09),
        (CardType.MIFARE_ULTRALIGHT, "04112233445566", "4400", 0x00),
        (CardType.PROCESSOR, "08123456", "0400", 0x20),
        (CardType.PROCESSOR, "04112233445566", "4400", 0x20),
    ],
)
def test_derived_atqa_sak(card_type: CardType, uid: str, atqa: str, sak: int) -> None:
    assert derive_atqa_sak(card_type, bytes.fromhex(uid)) == (bytes.fromhex(atqa), sak)


def test_no_derivation_without_a_type_a_uid() -> None:
    assert derive_atqa_sak(CardType.PROCESSOR, b"") is None
    assert derive_atqa_sak(CardType.STORAGE, bytes(4)) is None


@pytest.mark.parametrize(
    ("sak", "card_type"),
    [
        (0x08, CardType.MIFARE_CLASSIC_1K),
        (0x18, CardType.MIFARE_CLASSIC_4K),
        (0x09, CardType.MIFARE_MINI),
        (0x00, CardType.MIFARE_ULTRALIGHT),
        (0x20, CardType.PROCESSOR),
        (0x28, CardType.PROCESSOR),  # Classic emulation beside ISO 14443-4: APDUs win
        (0x11, CardType.STORAGE),
    ],
)
def test_card_type_for_sak(sak: int, card_type: CardType) -> None:
    assert card_type_for_sak(sak) is card_type
