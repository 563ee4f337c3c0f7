# Strategy: MIFARE Classic operations through the reader's PC/SC part 3
# pseudo-APDUs (part 3 v2.02, 3.2.2.1.4 LOAD KEYS, 3.2.2.1.6 GENERAL
# AUTHENTICATE, 3.2.2.1.8 READ BINARY, 3.2.2.1.9 UPDATE BINARY), over any
# CardSession whose reader speaks part 3: the PC/SC driver passes them to the
# reader, the simulated contactless reader answers them itself. The reader
# performs Crypto1 with a key held in one of its volatile key slots; keys
# loaded here stay in the reader until it is powered down, so callers load a
# key right before authenticating and never log it.
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from hal.interfaces import CardInfo, CardSession, ReaderError

__all__ = [
    "MifareAuthenticationError",
    "MifareClassic",
    "MifareError",
    "MifareKeyType",
]


class MifareKeyType(IntEnum):
    """Key type byte of GENERAL AUTHENTICATE."""

    A = 0x60
    B = 0x61


class MifareError(ReaderError):
    """MIFARE operation failed."""

    def __init__(self, message: str, sw: int = 0) -> None:
        super().__init__(message)
        self.sw = sw


class MifareAuthenticationError(MifareError):
    """MIFARE authentication failed (wrong key or key type)."""


_MEANING = {
    0x6300: "operation failed",
    0x6581: "memory failure",
    0x6700: "wrong length",
    0x6981: "command incompatible with the card",
    0x6982: "security status not satisfied (authenticate first)",
    0x6986: "command not allowed by the access conditions",
    0x6988: "key number not valid",
    0x6989: "key length not correct",
    0x6A81: "function not supported by the reader",
    0x6A82: "block does not exist",
    0x6B00: "wrong parameters",
}


@dataclass
class MifareClassic:
    """MIFARE Classic access through ``session``'s reader; ``key_slot`` is the
    reader's volatile key number used for loaded keys."""

    session: CardSession
    key_slot: int = 0

    @property
    def info(self) -> CardInfo:
        return self.session.info

    async def _exchange(self, capdu: bytes, what: str) -> bytes:
        rapdu = await self.session.transmit(capdu)
        if len(rapdu) < 2:
            raise MifareError(f"{what}: malformed reader response")
        sw = int.from_bytes(rapdu[-2:], "big")
        if sw != 0x9000:
            meaning = _MEANING.get(sw, "error")
            raise MifareError(f"{what}: {meaning} ({sw:04X})", sw)
        return rapdu[:-2]

    async def load_key(self, key: bytes, slot: int | None = None) -> None:
        if len(key) != 6:
            raise MifareError("a MIFARE Classic key is 6 bytes")
        slot = self.key_slot if slot is None else slot
        await self._exchange(bytes([0xFF, 0x82, 0x00, slot, 0x06]) + key, "LOAD KEYS")

    async def authenticate(
        self, block: int, key_type: MifareKeyType, slot: int | None = None
    ) -> None:
        slot = self.key_slot if slot is None else slot
        data = bytes([0x01, 0x00, block & 0xFF, key_type, slot])
        try:
            await self._exchange(bytes([0xFF, 0x86, 0x00, 0x00, len(data)]) + data, "AUTHENTICATE")
        except MifareError as exc:
            if exc.sw == 0x6300:
                raise MifareAuthenticationError(
                    f"authentication of block {block} with key {key_type.name} failed", exc.sw
                ) from None
            raise

    async def authenticate_with(self, block: int, key_type: MifareKeyType, key: bytes) -> None:
        """Load ``key`` into the reader and authenticate ``block``'s sector."""
        await self.load_key(key)
        await self.authenticate(block, key_type)

    async def read_block(self, block: int) -> bytes:
        data = await self._exchange(
            bytes([0xFF, 0xB0, (block >> 8) & 0xFF, block & 0xFF, 0x10]), f"READ block {block}"
        )
        if len(data) != 16:
            raise MifareError(f"READ block {block}: {len(data)} bytes instead of 16")
        return data

    async def write_block(self, block: int, data: bytes) -> None:
        if len(data) != 16:
            raise MifareError("a MIFARE Classic block is 16 bytes")
        await self._exchange(
            bytes([0xFF, 0xD6, (block >> 8) & 0xFF, block & 0xFF, 0x10]) + data,
            f"UPDATE block {block}",
        )

    async def uid(self) -> bytes:
        """GET DATA UID (FF CA 00 00 00)."""
        return await self._exchange(bytes.fromhex("FFCA000000"), "GET DATA UID")
