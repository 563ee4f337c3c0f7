# Strategy: the one status-word table (docs/conventions.md, 5). ISO/IEC 7816-4
# status words as EMV 4.3 Book 1 Annex A / Book 3 6.3.5 (Table 4 to 6) use
# them, each mapped to the kernel error class raised when a command does not
# accept it. Commands declare which words they accept as normal outcomes (e.g.
# READ RECORD of a directory accepts 6A83 "record not found", VERIFY accepts
# 63Cx); everything else goes through `error_for`, so the flow code catches
# meaningful classes (ConditionsNotSatisfied -> select next application,
# CardBlocked -> terminate) instead of comparing numbers.
# 61xx and 6Cxx never reach this table: the transport (kernel.apdu) handles
# them once, for every command (Book 1 9.3.1.3 and Annex A).
from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import CardBlocked, CardStatusError

__all__ = [
    "SW_TABLE",
    "ApplicationBlocked",
    "AuthenticationMethodBlocked",
    "CommandNotSupported",
    "ConditionsNotSatisfied",
    "DataNotFound",
    "FileNotFound",
    "RecordNotFound",
    "ReferenceDataInvalidated",
    "SwRule",
    "VerificationFailed",
    "WrongLength",
    "describe",
    "error_for",
    "is_success",
]


class ApplicationBlocked(CardStatusError):
    """Selected file invalidated: application blocked (6283)."""


class ConditionsNotSatisfied(CardStatusError):
    """Conditions of use not satisfied (6985)."""


class FileNotFound(CardStatusError):
    """File or application not found (6A82)."""


class RecordNotFound(CardStatusError):
    """Record not found (6A83)."""


class DataNotFound(CardStatusError):
    """Referenced data not found (6A88)."""


class AuthenticationMethodBlocked(CardStatusError):
    """Authentication method blocked (6983)."""


class ReferenceDataInvalidated(CardStatusError):
    """Referenced data invalidated (6984)."""


class VerificationFailed(CardStatusError):
    """Verification failed, counter in SW2 low nibble (63Cx)."""

    @property
    def tries_left(self) -> int:
        return self.sw & 0x0F


class WrongLength(CardStatusError):
    """Wrong length (6700)."""


class CommandNotSupported(CardStatusError):
    """Instruction or class not supported (6D00/6E00)."""


@dataclass(frozen=True, slots=True)
class SwRule:
    sw: int
    mask: int
    meaning: str
    error: type[CardStatusError]


# First matching row wins; order specific words before families.
SW_TABLE: tuple[SwRule, ...] = (
    SwRule(0x9000, 0xFFFF, "normal processing", CardStatusError),
    SwRule(0x6100, 0xFF00, "response bytes available (GET RESPONSE)", CardStatusError),
    SwRule(0x6C00, 0xFF00, "wrong Le, exact length in SW2", WrongLength),
    SwRule(0x6283, 0xFFFF, "selected file invalidated", ApplicationBlocked),
    SwRule(0x6281, 0xFFFF, "part of returned data may be corrupted", CardStatusError),
    SwRule(0x6200, 0xFF00, "warning, memory unchanged", CardStatusError),
    SwRule(0x63C0, 0xFFF0, "verification failed, retries in SW2", VerificationFailed),
    SwRule(0x6300, 0xFF00, "warning, memory changed", CardStatusError),
    SwRule(0x6400, 0xFF00, "execution error, memory unchanged", CardStatusError),
    SwRule(0x6581, 0xFFFF, "memory failure", CardStatusError),
    SwRule(0x6500, 0xFF00, "execution error, memory changed", CardStatusError),
    SwRule(0x6700, 0xFFFF, "wrong length", WrongLength),
    SwRule(0x6881, 0xFFFF, "logical channel not supported", CommandNotSupported),
    SwRule(0x6882, 0xFFFF, "secure messaging not supported", CommandNotSupported),
    SwRule(0x6982, 0xFFFF, "security status not satisfied", CardStatusError),
    SwRule(0x6983, 0xFFFF, "authentication method blocked", AuthenticationMethodBlocked),
    SwRule(0x6984, 0xFFFF, "referenced data invalidated", ReferenceDataInvalidated),
    SwRule(0x6985, 0xFFFF, "conditions of use not satisfied", ConditionsNotSatisfied),
    SwRule(0x6986, 0xFFFF, "command not allowed (no current EF)", CardStatusError),
    SwRule(0x6A80, 0xFFFF, "incorrect parameters in the data field", CardStatusError),
    SwRule(0x6A81, 0xFFFF, "function not supported (card or application blocked)", CardBlocked),
    SwRule(0x6A82, 0xFFFF, "file or application not found", FileNotFound),
    SwRule(0x6A83, 0xFFFF, "record not found", RecordNotFound),
    SwRule(0x6A84, 0xFFFF, "not enough memory space in the file", CardStatusError),
    SwRule(0x6A86, 0xFFFF, "incorrect parameters P1-P2", CardStatusError),
    SwRule(0x6A88, 0xFFFF, "referenced data not found", DataNotFound),
    SwRule(0x6B00, 0xFFFF, "wrong parameters P1-P2", CardStatusError),
    SwRule(0x6D00, 0xFFFF, "instruction code not supported or invalid", CommandNotSupported),
    SwRule(0x6E00, 0xFFFF, "class not supported", CommandNotSupported),
    SwRule(0x6F00, 0xFFFF, "no precise diagnosis", CardStatusError),
)


def _rule(sw: int) -> SwRule | None:
    for rule in SW_TABLE:
        if sw & rule.mask == rule.sw:
            return rule
    return None


def describe(sw: int) -> str:
    rule = _rule(sw)
    return rule.meaning if rule else "unknown status"


def is_success(sw: int) -> bool:
    return sw == 0x9000


def error_for(sw: int, command: str) -> CardStatusError:
    """The kernel error for a status word that `command` does not accept."""
    rule = _rule(sw)
    cls = rule.error if rule else CardStatusError
    meaning = rule.meaning if rule else "unknown status"
    return cls(f"{command}: {sw:04X} {meaning}", sw)
