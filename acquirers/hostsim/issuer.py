# Strategy: the issuer side of online card authentication (EMV Book 2 8.1-8.2)
# as the host simulator sees it: for a request carrying ICC data (field 55),
# a `CardAuthenticator` derives the card's keys from its issuer master key
# (held as constructor data: the simulator cannot import the virtual cards),
# verifies the ARQC, and produces the issuer authentication data (tag 91:
# ARPC + ARC for method 1, ARPC + CSU for method 2) for the response code the
# host decided. The EMV cryptography itself lives in kernel.crypto; this
# module only defines the interface and the ledger-side plumbing, so any
# implementation (the kernel's, or a test's) can be plugged in.
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kernel import tlv

__all__ = [
    "ArqcCheck",
    "CardAuthenticator",
    "IccData",
    "icc_tags",
    "issuer_response_icc",
]

IccData = Mapping[int, bytes]


@dataclass(frozen=True)
class ArqcCheck:
    """The outcome of an ARQC verification. ``respond(arc)`` gives the value of
    tag 91 for the two-character response code ``arc`` (only when valid)."""

    valid: bool
    respond: Callable[[str], bytes] | None = None
    reason: str = ""


class CardAuthenticator(Protocol):
    """Verifies ARQCs of the cards whose issuer keys it holds."""

    def check(self, pan: str, psn: str | None, icc: IccData) -> ArqcCheck | None:
        """None when this card has no issuer keys here (no online card
        authentication possible: the host decides without it)."""
        ...


def icc_tags(field55: bytes) -> dict[int, bytes]:
    """The primitive data objects of field 55 (first occurrence wins);
    raises kernel.tlv.TlvError when malformed."""
    out: dict[int, bytes] = {}
    for obj in tlv.iter_primitives(field55):
        out.setdefault(obj.tag, obj.value)
    return out


def issuer_response_icc(issuer_auth_data: bytes | None, scripts: list[bytes]) -> bytes:
    """Field 55 of the answer: tag 91 then the issuer script templates (71/72)
    exactly as configured."""
    out = b""
    if issuer_auth_data is not None:
        out += tlv.encode(0x91, issuer_auth_data)
    for script in scripts:
        out += script
    return out
