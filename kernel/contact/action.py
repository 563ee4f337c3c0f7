# Strategy: EMV 4.3 Book 3 10.7 "Terminal Action Analysis" as pure functions
# (case-table tested).
# - Issuer Action Codes absent from the card default to: IAC-Denial all
#   zeros, IAC-Online and IAC-Default all ones (Book 3 10.7).
# - Denial: a TVR bit also set in TAC-Denial or IAC-Denial -> AAC.
# - Online-capable terminal: a TVR bit in TAC-Online or IAC-Online -> ARQC,
#   else TC. An online-only terminal (Book 4 A1 types x1/x4) asks for ARQC
#   whenever it does not decline (it cannot complete offline anyway), and so
#   does a transaction the merchant forced online (TVR byte 4 b4, Book 4 6.5).
# - Offline-only terminal: a TVR bit in TAC-Default or IAC-Default -> AAC,
#   else TC.
# - default_action_analysis is the same Default check for an online-capable
#   terminal that could not go online (Book 3 10.7, last paragraphs; ARC
#   'Y3'/'Z3').
# - A refund asks the card for an AAC: the card cannot approve a credit; the
#   application sends the refund online itself.
from __future__ import annotations

from dataclasses import dataclass

from kernel.config import TransactionType
from kernel.outcome import CryptogramType
from kernel.tvr import Tvr

__all__ = ["ActionCodes", "default_action_analysis", "terminal_action_analysis"]

ZEROS = bytes(5)
ONES = b"\xff" * 5


@dataclass(frozen=True, slots=True)
class ActionCodes:
    denial: bytes
    online: bytes
    default: bytes

    @classmethod
    def issuer(
        cls, denial: bytes | None, online: bytes | None, default: bytes | None
    ) -> ActionCodes:
        return cls(denial or ZEROS, online or ONES, default or ONES)


def terminal_action_analysis(
    tvr: Tvr,
    tac: ActionCodes,
    iac: ActionCodes,
    *,
    online_capable: bool,
    online_only: bool = False,
    force_online: bool = False,
    transaction_type: int = TransactionType.PURCHASE,
) -> CryptogramType:
    if tvr.matches(tac.denial) or tvr.matches(iac.denial):
        return CryptogramType.AAC
    if transaction_type == TransactionType.REFUND:
        return CryptogramType.AAC
    if online_capable:
        if online_only or force_online:
            return CryptogramType.ARQC
        if tvr.matches(tac.online) or tvr.matches(iac.online):
            return CryptogramType.ARQC
        return CryptogramType.TC
    return default_action_analysis(tvr, tac, iac)


def default_action_analysis(tvr: Tvr, tac: ActionCodes, iac: ActionCodes) -> CryptogramType:
    if tvr.matches(tac.default) or tvr.matches(iac.default):
        return CryptogramType.AAC
    return CryptogramType.TC
