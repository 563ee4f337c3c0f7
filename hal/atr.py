# Strategy: reading an Answer To Reset, and the ATR a PC/SC reader
# synthesises for a contactless card.
# - ISO/IEC 7816-3 8.2: TS, T0 (Y1 and K), interface bytes TAi/TBi/TCi/TDi
#   chained by the TDi high nibbles, K historical bytes, TCK present when a
#   protocol other than T=0 is offered (XOR of T0..TCK is zero).
# - PC/SC part 3 (v2.02) 3.1.3.2.3: a contactless card appears as
#   3B 8n 80 01 <historical> TCK. For ISO 14443-4 cards the historical bytes
#   are those of the ATS (type A) or the ATQB application data (type B); for
#   storage cards they are 80 4F 0C A0 00 00 03 06 SS NN NN 00 00 00 00, where
#   SS is the standard (03 = ISO 14443 A part 3) and NN the card name of the
#   part 3 supplement's table.
# - Readers that do not report ATQA and SAK: for the MIFARE cards the values
#   follow NXP AN10833 (card identification); for ISO 14443-4 type A cards SAK
#   is '20' and ATQA carries only the UID size (ISO 14443-3 6.5.2.1). Derived
#   values are flagged as such in CardInfo. ATQA bytes are in the order they
#   travel over the air, least significant first (CardInfo.atqa).
from __future__ import annotations

from dataclasses import dataclass

from hal.interfaces import CardType

__all__ = [
    "PCSC_RID",
    "Atr",
    "AtrError",
    "ContactlessAtr",
    "card_type_for_sak",
    "contactless_atr",
    "derive_atqa_sak",
    "parse_atr",
    "parse_contactless_atr",
]

PCSC_RID = bytes.fromhex("A000000306")


class AtrError(ValueError):
    """Malformed ATR."""


@dataclass(frozen=True, slots=True)
class Atr:
    raw: bytes
    convention: str  # "direct" (3B) or "inverse" (3F)
    interface_bytes: tuple[dict[str, int], ...]  # per i: {"TA": .., "TB": .., ...}
    protocols: tuple[int, ...]  # offered, in order, T=0 when no TD1
    historical: bytes
    tck: int | None

    @property
    def first_protocol(self) -> int:
        return self.protocols[0]


def parse_atr(atr: bytes) -> Atr:
    if len(atr) < 2:
        raise AtrError("ATR shorter than TS T0")
    if atr[0] not in (0x3B, 0x3F):
        raise AtrError(f"ATR TS byte {atr[0]:02X} is neither 3B nor 3F")
    pos = 1
    y = atr[pos] >> 4
    k = atr[pos] & 0x0F
    pos += 1
    groups: list[dict[str, int]] = []
    protocols: list[int] = []
    while True:
        group: dict[str, int] = {}
        for bit, name in ((1, "TA"), (2, "TB"), (4, "TC"), (8, "TD")):
            if y & bit:
                if pos >= len(atr):
                    raise AtrError("ATR ends inside its interface bytes")
                group[name] = atr[pos]
                pos += 1
        groups.append(group)
        if "TD" not in group:
            break
        protocols.append(group["TD"] & 0x0F)
        y = group["TD"] >> 4
    if pos + k > len(atr):
        raise AtrError("ATR ends inside its historical bytes")
    historical = atr[pos : pos + k]
    pos += k
    offered = tuple(dict.fromkeys(p for p in protocols if p != 15)) or (0,)
    tck: int | None = None
    if any(p != 0 for p in protocols):
        if pos >= len(atr):
            raise AtrError("ATR lacks its TCK")
        tck = atr[pos]
        check = 0
        for b in atr[1 : pos + 1]:
            check ^= b
        if check:
            raise AtrError("ATR check byte TCK is wrong")
        pos += 1
    if pos != len(atr):
        raise AtrError("ATR has bytes after its end")
    convention = "direct" if atr[0] == 0x3B else "inverse"
    return Atr(bytes(atr), convention, tuple(groups), offered, bytes(historical), tck)


# --- PC/SC part 3 -------------------------------------------------------------

# Card names (PC/SC part 3 supplement, table 3) this terminal tells apart.
CARD_NAMES: dict[int, CardType] = {
    0x0001: CardType.MIFARE_CLASSIC_1K,
    0x0002: CardType.MIFARE_CLASSIC_4K,
    0x0003: CardType.MIFARE_ULTRALIGHT,
    0x0026: CardType.MIFARE_MINI,
    0x0036: CardType.MIFARE_CLASSIC_1K,  # MIFARE Plus 2K in security level 1
    0x0037: CardType.MIFARE_CLASSIC_4K,  # MIFARE Plus 4K in security level 1
    0x003A: CardType.MIFARE_ULTRALIGHT,  # Ultralight C
}
_NAME_OF = {
    CardType.MIFARE_CLASSIC_1K: 0x0001,
    CardType.MIFARE_CLASSIC_4K: 0x0002,
    CardType.MIFARE_ULTRALIGHT: 0x0003,
    CardType.MIFARE_MINI: 0x0026,
}
STANDARD_ISO14443A_3 = 0x03


@dataclass(frozen=True, slots=True)
class ContactlessAtr:
    card_type: CardType
    historical: bytes  # ATS historical bytes for processor cards
    standard: int | None = None  # SS of a storage card
    card_name: int | None = None  # NN of a storage card


def contactless_atr(card_type: CardType, historical: bytes = b"") -> bytes:
    """The ATR a PC/SC part 3 reader shows for a contactless card."""
    if card_type is CardType.PROCESSOR:
        hist = historical
    else:
        name = _NAME_OF.get(card_type)
        if name is None:
            raise AtrError(f"no PC/SC card name for {card_type.value}")
        hist = (
            bytes([0x80, 0x4F, 0x0C])
            + PCSC_RID
            + bytes([STANDARD_ISO14443A_3])
            + name.to_bytes(2, "big")
            + bytes(4)
        )
    if len(hist) > 15:
        raise AtrError("at most 15 historical bytes")
    body = bytes([0x80 | len(hist), 0x80, 0x01]) + hist
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


def parse_contactless_atr(atr: bytes) -> ContactlessAtr | None:
    """Interpret a PC/SC part 3 ATR; None when ``atr`` is not one (e.g. a
    contact card, or a reader that passes a card's own ATR through)."""
    try:
        parsed = parse_atr(atr)
    except AtrError:
        return None
    groups = parsed.interface_bytes
    if (
        atr[0] != 0x3B
        or len(groups) < 3
        or groups[0] != {"TD": 0x80}
        or groups[1] != {"TD": 0x01}
        or groups[2]
    ):
        return None
    hist = parsed.historical
    if len(hist) >= 15 and hist[:3] == b"\x80\x4f\x0c" and hist[3:8] == PCSC_RID:
        standard = hist[8]
        name = int.from_bytes(hist[9:11], "big")
        card_type = CARD_NAMES.get(name, CardType.STORAGE)
        return ContactlessAtr(card_type, b"", standard, name)
    return ContactlessAtr(CardType.PROCESSOR, hist)


def derive_atqa_sak(card_type: CardType, uid: bytes) -> tuple[bytes, int] | None:
    """ATQA (as on the air: least significant byte first) and SAK a type A
    card of this kind and UID length answers with (NXP AN10833 tables 4 and
    5; ISO 14443-3 6.5.2.1 for the UID size bits); None when they cannot be
    told (type B, unknown storage cards, no UID)."""
    size_bits = {4: 0x00, 7: 0x40, 10: 0x80}.get(len(uid))
    if size_bits is None:
        return None
    table: dict[CardType, tuple[int, int]] = {
        CardType.MIFARE_CLASSIC_1K: (0x04, 0x08),
        CardType.MIFARE_CLASSIC_4K: (0x02, 0x18),
        CardType.MIFARE_MINI: (0x04, 0x09),
        CardType.MIFARE_ULTRALIGHT: (0x04, 0x00),
        CardType.PROCESSOR: (0x04, 0x20),
    }
    entry = table.get(card_type)
    if entry is None:
        return None
    low, sak = entry
    if card_type is CardType.MIFARE_ULTRALIGHT:
        size_bits = 0x40  # always a 7-byte UID
    return bytes([size_bits | low, 0x00]), sak


def card_type_for_sak(sak: int) -> CardType:
    """The card type a SAK announces (NXP AN10833 table 5): b6 set means
    ISO 14443-4 (APDUs), whatever else the card also emulates."""
    if sak & 0x20:
        return CardType.PROCESSOR
    return {
        0x08: CardType.MIFARE_CLASSIC_1K,
        0x18: CardType.MIFARE_CLASSIC_4K,
        0x09: CardType.MIFARE_MINI,
        0x00: CardType.MIFARE_ULTRALIGHT,
    }.get(sak, CardType.STORAGE)
