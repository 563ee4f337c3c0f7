# Strategy: the card side of ISO/IEC 7816-3/-4 short APDUs as EMV Book 1
# section 9 and Book 3 section 6 use them.
# - Command cases 1-4 from the byte count: 4 bytes case 1, 5 bytes case 2 (Le),
#   5+Lc case 3, 6+Lc case 4. Lc = 00 announces an extended-length APDU,
#   which EMV cards do not support: 6700.
# - Le = 00 means 256 (short APDU).
# - Status words the emulator answers with are named once, here.
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SW", "ApduError", "Command", "parse"]


class SW:
    """Status words (ISO/IEC 7816-4 section 5.1.3, EMV Book 3 Annex A)."""

    OK = 0x9000
    SELECTED_FILE_INVALIDATED = 0x6283  # blocked application on SELECT
    AUTH_FAILED = 0x6300  # EXTERNAL AUTHENTICATE: ARPC did not verify
    PIN_TRIES_LEFT = 0x63C0  # | remaining tries
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURITY_STATUS = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983  # PIN try limit exhausted
    CONDITIONS_NOT_SATISFIED = 0x6985
    SM_DATA_INCORRECT = 0x6988  # issuer script MAC wrong
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81  # blocked card answers SELECT with it too
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    WRONG_P1P2 = 0x6A86
    DATA_NOT_FOUND = 0x6A88
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_DIAGNOSIS = 0x6F00


class ApduError(Exception):
    """Raised inside the emulator to answer with a bare status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None: absent; otherwise 1..256

    @property
    def p1p2(self) -> int:
        return (self.p1 << 8) | self.p2

    @property
    def has_data(self) -> bool:
        return bool(self.data)

    def header(self) -> bytes:
        return bytes([self.cla, self.ins, self.p1, self.p2])


def parse(capdu: bytes) -> Command:
    """Split a short C-APDU; malformed lengths raise ApduError(6700)."""
    n = len(capdu)
    if n < 4:
        raise ApduError(SW.WRONG_LENGTH)
    cla, ins, p1, p2 = capdu[0], capdu[1], capdu[2], capdu[3]
    if n == 4:
        return Command(cla, ins, p1, p2, b"", None)
    if n == 5:
        return Command(cla, ins, p1, p2, b"", capdu[4] or 256)
    lc = capdu[4]
    if lc == 0:
        raise ApduError(SW.WRONG_LENGTH)  # extended length
    if n == 5 + lc:
        return Command(cla, ins, p1, p2, bytes(capdu[5:]), None)
    if n == 6 + lc:
        return Command(cla, ins, p1, p2, bytes(capdu[5:-1]), capdu[-1] or 256)
    raise ApduError(SW.WRONG_LENGTH)
