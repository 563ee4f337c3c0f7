# Strategy: the SAM (secure access module, NXP MIFARE SAM AV2 class) as the
# terminal uses it for MIFARE: it stores keys in numbered, versioned key
# entries, authenticates the host (the terminal) with a host key before it
# serves it, and takes new keys only from a host authenticated with the
# entry's change key (entry 0, the SAM master key, here).
# - Host authentication is a three-pass mutual AES-128 challenge-response
#   modelled on AV2's SAM_AuthenticateHost (and DESFire EV1 AES
#   authentication): SAM sends E(K, RndB); host answers E(K, RndA ||
#   RndB<<<8); SAM answers E(K, RndA<<<8); AES-CBC with a zero IV; the session
#   key is E(K, RndA[0:4] || RndB[0:4] || RndA[12:16] || RndB[12:16]). The
#   byte format of NXP's commands is not public here, so a real AV2 driver is
#   not part of this project: only this interface and the simulated SAM.
# - MIFARE Classic sector authentication through a PC/SC part 3 reader: the
#   reader does Crypto1 with a key in its volatile key slot, so the sector key
#   has to reach the reader. The SAM releases a MIFARE key only from entries
#   marked exportable and only to an authenticated host (AV2 lets key entries
#   be dumped to the host the same way); `authenticate_sector` loads it into
#   the reader and authenticates, and nothing keeps or logs it. Readers with
#   the SAM wired to their RF chip (AV2 X-mode) keep keys inside instead.
from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from base.errors import CardcoreError
from hal.interfaces import ReaderError, ReaderNotAvailable
from hal.mifare import MifareClassic, MifareKeyType

__all__ = [
    "Sam",
    "SamAuthenticationError",
    "SamError",
    "SamKeyKind",
    "SamNotAvailable",
    "authenticate_sector",
]


class SamError(ReaderError):
    """SAM error."""


class SamNotAvailable(ReaderNotAvailable):
    """No SAM available."""


class SamAuthenticationError(CardcoreError):
    """Authentication with the SAM failed."""


class SamKeyKind(StrEnum):
    AES128 = "aes128"  # host keys, the master key (16 bytes)
    MIFARE = "mifare"  # a MIFARE Classic key pair: key A (6) || key B (6)


class Sam(Protocol):
    @property
    def name(self) -> str: ...

    async def authenticate_host(self, entry: int, version: int, key: bytes) -> None:
        """Mutual authentication with the key in ``entry``/``version``; opens
        the host session the other commands need. SamAuthenticationError when
        the keys differ."""
        ...

    async def change_key_entry(
        self, entry: int, version: int, key: bytes, kind: SamKeyKind, *, exportable: bool = False
    ) -> None:
        """Write a key entry (overwriting it); the host session must be one
        authenticated with the change key (entry 0)."""
        ...

    async def mifare_key(self, entry: int, version: int, key_type: MifareKeyType) -> bytes:
        """The 6-byte MIFARE key A or B of an exportable MIFARE entry, for an
        authenticated host."""
        ...


async def authenticate_sector(
    sam: Sam,
    card: MifareClassic,
    block: int,
    key_type: MifareKeyType,
    entry: int,
    version: int = 0,
) -> None:
    """Authenticate ``block``'s sector of a MIFARE Classic card with the key
    the SAM holds in ``entry``: the key goes from the SAM to the reader's
    volatile key slot and is dropped here."""
    key = await sam.mifare_key(entry, version, key_type)
    await card.authenticate_with(block, key_type, key)
