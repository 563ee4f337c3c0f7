# Strategy: a virtual MIFARE Classic card (NXP MF1S50yyX / MF1S70yyX product
# data sheets, sections 8.6-8.7: memory organisation, sector trailer and
# access conditions) as a PC/SC part 3 reader sees it: the reader does the
# Crypto1 authentication with a key it holds, so the card side here checks
# the key and the access bits and keeps which sector is authenticated with
# which key. Reads of a sector trailer return key A as zeros and key B as
# zeros unless the access bits make it readable (data sheet 8.7.2).
# - 1K: 16 sectors of 4 blocks; 4K: 32 of 4 then 8 of 16; Mini: 5 of 4.
# - Block 0 (manufacturer block) is read-only: 4-byte UID, BCC, SAK, ATQA
#   (as on the air, LSB first), manufacturer data; 7-byte UID cards put the
#   UID first.
# - `mifare_card_for` gives a MIFARE Classic profile (kind "mifare", a
#   Classic SAK) its memory: a city transport card whose identity is the
#   profile's RF identity.
from __future__ import annotations

from dataclasses import dataclass, field

from base.errors import CardcoreError
from hal.atr import derive_atqa_sak
from hal.interfaces import CardType
from hal.mifare import MifareKeyType
from simulators.devices.profile import Profile

__all__ = [
    "DEFAULT_KEY",
    "TRANSPORT_ACCESS",
    "MifareCardError",
    "MifareClassicCard",
    "MifareKeyType",
    "access_bits",
    "mifare_card_for",
    "transport_card",
]

DEFAULT_KEY = bytes.fromhex("FFFFFFFFFFFF")
TRANSPORT_ACCESS = bytes.fromhex("FF078069")  # data blocks 000, trailer 001, GPB 69


class MifareCardError(CardcoreError):
    """The virtual MIFARE card refused an operation."""

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


SW_AUTH_FAILED = 0x6300
SW_NOT_AUTHENTICATED = 0x6982
SW_NOT_ALLOWED = 0x6986
SW_NO_BLOCK = 0x6A82


def access_bits(conditions: tuple[int, int, int, int], gpb: int = 0x69) -> bytes:
    """Bytes 6-9 of a sector trailer from the C1C2C3 conditions (as 3-bit
    numbers C1<<2|C2<<1|C3) of blocks 0, 1, 2 and the trailer."""
    c1 = sum(((c >> 2) & 1) << i for i, c in enumerate(conditions))
    c2 = sum(((c >> 1) & 1) << i for i, c in enumerate(conditions))
    c3 = sum((c & 1) << i for i, c in enumerate(conditions))
    b6 = ((~c2 & 0xF) << 4) | (~c1 & 0xF)
    b7 = (c1 << 4) | (~c3 & 0xF)
    b8 = (c3 << 4) | c2
    return bytes([b6, b7, b8, gpb])


def _decode_access(trailer: bytes) -> tuple[int, int, int, int] | None:
    b6, b7, b8 = trailer[6], trailer[7], trailer[8]
    c1, c2, c3 = b7 >> 4, b8 & 0xF, b8 >> 4
    if (~b6 & 0xF) != c1 or (~b6 >> 4 & 0xF) != c2 or (~b7 & 0xF) != c3:
        return None  # inconsistent access bits: the sector is blocked
    return tuple(  # type: ignore[return-value]
        ((c1 >> i) & 1) << 2 | ((c2 >> i) & 1) << 1 | ((c3 >> i) & 1) for i in range(4)
    )


# Data sheet table 8 (data blocks): condition -> (read, write) by keys "A", "B".
_DATA: dict[int, tuple[str, str]] = {
    0b000: ("AB", "AB"),
    0b010: ("AB", ""),
    0b100: ("AB", "B"),
    0b110: ("AB", "B"),
    0b001: ("AB", ""),
    0b011: ("B", "B"),
    0b101: ("B", ""),
    0b111: ("", ""),
}
# Table 7 (sector trailer): condition -> (write key A, read access, write access,
# read key B, write key B).
_TRAILER: dict[int, tuple[str, str, str, str, str]] = {
    0b000: ("A", "A", "", "A", "A"),
    0b010: ("", "A", "", "A", ""),
    0b100: ("B", "AB", "", "", "B"),
    0b110: ("", "AB", "", "", ""),
    0b001: ("A", "A", "A", "A", "A"),
    0b011: ("B", "AB", "B", "", "B"),
    0b101: ("", "AB", "B", "", ""),
    0b111: ("", "AB", "", "", ""),
}


def _geometry(card_type: CardType) -> list[tuple[int, int]]:
    """(first block, block count) of every sector."""
    if card_type is CardType.MIFARE_CLASSIC_1K:
        return [(4 * s, 4) for s in range(16)]
    if card_type is CardType.MIFARE_MINI:
        return [(4 * s, 4) for s in range(5)]
    if card_type is CardType.MIFARE_CLASSIC_4K:
        return [(4 * s, 4) for s in range(32)] + [(128 + 16 * s, 16) for s in range(8)]
    raise ValueError(f"not a MIFARE Classic type: {card_type.value}")


@dataclass
class MifareClassicCard:
    """A MIFARE Classic card: memory, and the authentication state of the
    current activation (cleared by ``reset``)."""

    name: str
    uid: bytes
    card_type: CardType
    atqa: bytes
    sak: int
    blocks: list[bytearray]
    _auth: tuple[int, MifareKeyType] | None = field(default=None, repr=False)

    @classmethod
    def blank(
        cls,
        uid: bytes,
        card_type: CardType = CardType.MIFARE_CLASSIC_1K,
        name: str = "mifare",
        *,
        atqa: bytes | None = None,
        sak: int | None = None,
    ) -> MifareClassicCard:
        """A card in transport configuration; ATQA (as on the air) and SAK
        default to the type's (hal.atr.derive_atqa_sak)."""
        geometry = _geometry(card_type)
        total = geometry[-1][0] + geometry[-1][1]
        blocks = [bytearray(16) for _ in range(total)]
        for first, count in geometry:
            blocks[first + count - 1][:] = DEFAULT_KEY + TRANSPORT_ACCESS + DEFAULT_KEY
        derived = derive_atqa_sak(card_type, uid)
        if derived is None:
            raise ValueError("UID must be 4 or 7 bytes")
        atqa = derived[0] if atqa is None else atqa
        sak = derived[1] if sak is None else sak
        if len(uid) == 4:
            bcc = uid[0] ^ uid[1] ^ uid[2] ^ uid[3]
            maker = uid + bytes([bcc, sak]) + atqa
        else:
            maker = uid + bytes([sak]) + atqa
        blocks[0][:] = (maker + bytes.fromhex("C1850800000000000000"))[:16]
        return cls(name, bytes(uid), card_type, atqa, sak, blocks)

    # --- geometry -------------------------------------------------------
    def sector_of(self, block: int) -> tuple[int, int, int]:
        """(sector, first block, block count) of ``block``."""
        for number, (first, count) in enumerate(_geometry(self.card_type)):
            if first <= block < first + count:
                return number, first, count
        raise MifareCardError(f"block {block} does not exist", SW_NO_BLOCK)

    def trailer_of(self, block: int) -> int:
        _, first, count = self.sector_of(block)
        return first + count - 1

    def _conditions(self, block: int) -> tuple[int, bool]:
        """Access condition of ``block`` and whether it is the trailer."""
        _, first, count = self.sector_of(block)
        trailer = first + count - 1
        decoded = _decode_access(bytes(self.blocks[trailer]))
        if decoded is None:
            raise MifareCardError("sector access bits are inconsistent", SW_NOT_ALLOWED)
        if block == trailer:
            return decoded[3], True
        group = (block - first) if count == 4 else (block - first) // 5
        return decoded[min(group, 2)], False

    # --- operations -------------------------------------------------------
    def reset(self) -> None:
        self._auth = None

    def authenticate(self, block: int, key_type: MifareKeyType, key: bytes) -> None:
        trailer = bytes(self.blocks[self.trailer_of(block)])
        expected = trailer[:6] if key_type is MifareKeyType.A else trailer[10:16]
        self._auth = None
        if key_type is MifareKeyType.B:
            condition, _ = self._conditions(self.trailer_of(block))
            if "A" in _TRAILER[condition][3]:  # key B readable: not usable as a key
                raise MifareCardError("key B is readable and cannot authenticate", SW_AUTH_FAILED)
        if key != expected:
            raise MifareCardError("authentication failed", SW_AUTH_FAILED)
        self._auth = (self.sector_of(block)[0], key_type)

    def _key_letter(self, block: int) -> str:
        if self._auth is None or self._auth[0] != self.sector_of(block)[0]:
            raise MifareCardError("sector not authenticated", SW_NOT_AUTHENTICATED)
        return "A" if self._auth[1] is MifareKeyType.A else "B"

    def read(self, block: int) -> bytes:
        key = self._key_letter(block)
        condition, is_trailer = self._conditions(block)
        data = bytearray(self.blocks[block])
        if is_trailer:
            rules = _TRAILER[condition]
            data[:6] = bytes(6)  # key A is never readable
            if key not in rules[1]:
                data[6:10] = bytes(4)
            if key not in rules[3]:
                data[10:16] = bytes(6)
            return bytes(data)
        if key not in _DATA[condition][0]:
            raise MifareCardError("access conditions forbid reading", SW_NOT_ALLOWED)
        return bytes(data)

    def write(self, block: int, data: bytes) -> None:
        if len(data) != 16:
            raise MifareCardError("a block is 16 bytes", 0x6700)
        if block == 0:
            raise MifareCardError("the manufacturer block is read-only", SW_NOT_ALLOWED)
        key = self._key_letter(block)
        condition, is_trailer = self._conditions(block)
        if not is_trailer:
            if key not in _DATA[condition][1]:
                raise MifareCardError("access conditions forbid writing", SW_NOT_ALLOWED)
            self.blocks[block][:] = data
            return
        write_a, _, write_access, _, write_b = _TRAILER[condition]
        if key not in write_a + write_access + write_b:
            raise MifareCardError("access conditions forbid writing the trailer", SW_NOT_ALLOWED)
        # Each part of the trailer changes only where its condition allows.
        trailer = self.blocks[block]
        if key in write_a:
            trailer[:6] = data[:6]
        if key in write_access:
            trailer[6:10] = data[6:10]
        if key in write_b:
            trailer[10:16] = data[10:16]


def transport_card(
    name: str,
    uid: bytes,
    card_type: CardType = CardType.MIFARE_CLASSIC_1K,
    *,
    atqa: bytes | None = None,
    sak: int | None = None,
) -> MifareClassicCard:
    """A city transport card: sector 1 holds a ticket readable with key A
    (A0A1A2A3A4A5) and writable with key B (B0B1B2B3B4B5) only (access 100,
    trailer 011); the other sectors are in transport configuration."""
    card = MifareClassicCard.blank(uid, card_type, name, atqa=atqa, sak=sak)
    card.blocks[4][:] = bytes.fromhex("0A000000F5FFFFFF0A00000004FB04FB")  # value block: 10 trips
    card.blocks[5][:] = b"CARDCORE TRANSIT"
    card.blocks[7][:] = (
        bytes.fromhex("A0A1A2A3A4A5")
        + access_bits((0b100, 0b100, 0b100, 0b011))
        + bytes.fromhex("B0B1B2B3B4B5")
    )
    return card


def mifare_card_for(profile: Profile) -> MifareClassicCard | None:
    """The memory of a MIFARE Classic profile's card; None for any other."""
    from hal.atr import card_type_for_sak

    rf = profile.rf
    if profile.kind != "mifare" or rf is None:
        return None
    card_type = card_type_for_sak(rf.sak)
    if not card_type.mifare_classic:
        return None
    return transport_card(profile.name, rf.uid, card_type, atqa=rf.atqa, sak=rf.sak)
