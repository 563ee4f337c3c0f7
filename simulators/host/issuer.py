# Strategy: the issuer side of online card authentication (EMV Book 2 8.1-8.2)
# as the host simulator sees it: for a request carrying ICC data (field 55),
# a `CardAuthenticator` derives the card's keys from its issuer master key
# (held as constructor data: the simulator cannot import the virtual cards),
# verifies the ARQC, and produces the issuer authentication data (tag 91:
# ARPC + ARC for method 1, ARPC + CSU for method 2) for the response code the
# host decided. The EMV cryptography itself is base.crypto.emv's (the card
# emulator uses the same functions, so both sides agree by construction);
# `EmvCardAuthenticator` applies it per card (exact PAN) or per issuer (PAN
# prefix), the cryptogram version either given or recognised from the IAD.
# The interface stays a Protocol so another implementation can be plugged in.
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from base import tlv
from base.crypto import emv

__all__ = [
    "ArqcCheck",
    "CardAuthenticator",
    "EmvCardAuthenticator",
    "IccData",
    "IssuerCardKeys",
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
    raises base.tlv.TlvError when malformed."""
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


@dataclass(frozen=True)
class IssuerCardKeys:
    """Issuer master keys for a card or a PAN range, and the cryptogram version
    (None: recognised from the IAD, tag 9F10, of each request)."""

    keys: emv.IssuerMasterKeys
    version: emv.CryptogramVersion | None = None


class EmvCardAuthenticator:
    """ARQC verification and ARPC generation with base.crypto.emv.

    ``cards`` maps full PANs, ``prefixes`` PAN prefixes (longest wins) to the
    issuer keys; the application builds both from the virtual cards' issuer
    key file."""

    def __init__(
        self,
        cards: Mapping[str, IssuerCardKeys] | None = None,
        prefixes: Mapping[str, IssuerCardKeys] | None = None,
    ) -> None:
        self.cards = dict(cards or {})
        self.prefixes = dict(prefixes or {})

    def _entry(self, pan: str) -> IssuerCardKeys | None:
        found = self.cards.get(pan)
        if found is not None:
            return found
        for length in range(len(pan), 0, -1):
            found = self.prefixes.get(pan[:length])
            if found is not None:
                return found
        return None

    def check(self, pan: str, psn: str | None, icc: IccData) -> ArqcCheck | None:
        entry = self._entry(pan)
        if entry is None:
            return None
        card_psn = icc.get(0x5F34)
        seq = card_psn.hex()[-2:] if card_psn else (psn or "00")[-2:].rjust(2, "0")
        version = entry.version or emv.identify_version(icc.get(0x9F10, b""))
        if version is None:
            return ArqcCheck(False, reason="unknown cryptogram version in the IAD")
        crypto = emv.IssuerCrypto(entry.keys, version)
        try:
            valid = crypto.verify_arqc(pan, seq, icc)
        except emv.CryptogramError as exc:
            return ArqcCheck(False, reason=exc.message)
        if not valid:
            return ArqcCheck(False, reason=f"{version.name} ARQC does not verify")
        data = dict(icc)

        def respond(code: str) -> bytes:
            return crypto.make_arpc(pan, seq, data, arc=code.encode("ascii"))

        return ArqcCheck(True, respond)
