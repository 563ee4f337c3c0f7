# Strategy: Terminal Verification Results (tag 95, EMV 4.3 Book 3 Annex C5)
# and Transaction Status Information (tag 9B, Annex C6) as one table each of
# (byte index, bit mask) with the Book's wording, so code and case tables say
# `TvrBit.EXPIRED_APPLICATION` rather than `tvr[1] |= 0x40`.
from __future__ import annotations

import enum

__all__ = ["Tsi", "TsiBit", "Tvr", "TvrBit"]


class TvrBit(enum.Enum):
    # byte 1
    ODA_NOT_PERFORMED = (0, 0x80)
    SDA_FAILED = (0, 0x40)
    ICC_DATA_MISSING = (0, 0x20)
    CARD_ON_EXCEPTION_FILE = (0, 0x10)
    DDA_FAILED = (0, 0x08)
    CDA_FAILED = (0, 0x04)
    SDA_SELECTED = (0, 0x02)
    # byte 2
    DIFFERENT_APPLICATION_VERSIONS = (1, 0x80)
    EXPIRED_APPLICATION = (1, 0x40)
    APPLICATION_NOT_YET_EFFECTIVE = (1, 0x20)
    SERVICE_NOT_ALLOWED = (1, 0x10)
    NEW_CARD = (1, 0x08)
    # byte 3
    CARDHOLDER_VERIFICATION_FAILED = (2, 0x80)
    UNRECOGNISED_CVM = (2, 0x40)
    PIN_TRY_LIMIT_EXCEEDED = (2, 0x20)
    PIN_PAD_NOT_WORKING = (2, 0x10)
    PIN_NOT_ENTERED = (2, 0x08)
    ONLINE_PIN_ENTERED = (2, 0x04)
    # byte 4
    FLOOR_LIMIT_EXCEEDED = (3, 0x80)
    LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED = (3, 0x40)
    UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED = (3, 0x20)
    RANDOMLY_SELECTED_ONLINE = (3, 0x10)
    MERCHANT_FORCED_ONLINE = (3, 0x08)
    # byte 5
    DEFAULT_TDOL_USED = (4, 0x80)
    ISSUER_AUTHENTICATION_FAILED = (4, 0x40)
    SCRIPT_FAILED_BEFORE_FINAL_GENAC = (4, 0x20)
    SCRIPT_FAILED_AFTER_FINAL_GENAC = (4, 0x10)

    @property
    def index(self) -> int:
        return self.value[0]

    @property
    def mask(self) -> int:
        return self.value[1]


class TsiBit(enum.Enum):
    ODA_PERFORMED = (0, 0x80)
    CARDHOLDER_VERIFICATION_PERFORMED = (0, 0x40)
    CARD_RISK_MANAGEMENT_PERFORMED = (0, 0x20)
    ISSUER_AUTHENTICATION_PERFORMED = (0, 0x10)
    TERMINAL_RISK_MANAGEMENT_PERFORMED = (0, 0x08)
    SCRIPT_PROCESSING_PERFORMED = (0, 0x04)

    @property
    def index(self) -> int:
        return self.value[0]

    @property
    def mask(self) -> int:
        return self.value[1]


class _Bits:
    SIZE = 0

    def __init__(self, value: bytes | None = None) -> None:
        if value is None:
            value = bytes(self.SIZE)
        if len(value) != self.SIZE:
            raise ValueError(f"{type(self).__name__} is {self.SIZE} bytes")
        self._b = bytearray(value)

    def _set(self, index: int, mask: int) -> None:
        self._b[index] |= mask

    def _is(self, index: int, mask: int) -> bool:
        return bool(self._b[index] & mask)

    def __bytes__(self) -> bytes:
        return bytes(self._b)

    def hex(self) -> str:
        return self._b.hex().upper()

    def clear(self) -> None:
        self._b[:] = bytes(self.SIZE)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Bits):
            return bytes(self) == bytes(other)
        if isinstance(other, bytes | bytearray):
            return bytes(self) == bytes(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hex()})"


class Tvr(_Bits):
    SIZE = 5

    def set(self, *bits: TvrBit) -> None:
        for bit in bits:
            self._set(*bit.value)

    def __contains__(self, bit: TvrBit) -> bool:
        return self._is(*bit.value)

    def bits(self) -> frozenset[TvrBit]:
        return frozenset(b for b in TvrBit if b in self)

    @classmethod
    def of(cls, *bits: TvrBit) -> Tvr:
        tvr = cls()
        tvr.set(*bits)
        return tvr

    def matches(self, action_code: bytes) -> bool:
        """Whether any TVR bit is also set in an action code (Book 3 10.7)."""
        return any(a & b for a, b in zip(self._b, action_code, strict=False))


class Tsi(_Bits):
    SIZE = 2

    def set(self, *bits: TsiBit) -> None:
        for bit in bits:
            self._set(*bit.value)

    def __contains__(self, bit: TsiBit) -> bool:
        return self._is(*bit.value)

    def bits(self) -> frozenset[TsiBit]:
        return frozenset(b for b in TsiBit if b in self)
