# Strategy: EMV 4.3 Book 3 10.5 "Cardholder Verification" and Annex C3
# (CVM List, CVM Results), independent of the card and the PIN pad: the
# PIN steps are delegated to a CvmActions object, so the rule walk is
# case-table tested with scripted actions.
# - CVM processing happens only if the AIP says cardholder verification is
#   supported (AIP byte 1 b5). Without a CVM List (or with one that has no
#   rules) TVR 'ICC data missing' is set, the CVM Results are '3F0000' and
#   the TSI bit stays clear.
# - Rules are taken in order. A rule whose condition (byte 2) is not
#   satisfied or not understood is skipped. For a satisfied rule the method
#   (byte 1 b6-b1) is performed: an unrecognised method sets 'Unrecognised
#   CVM' and counts as failed; a method the terminal does not support fails
#   (PIN methods also set 'PIN entry required and PIN pad not present or not
#   working'). On success the CVM Results are the rule's two bytes plus '02'
#   (successful) or '00' (unknown: signature, online PIN, PIN + signature).
#   On failure, b7 of byte 1 ("apply succeeding CV rule") decides whether to
#   go on; otherwise, or at the end of the list, 'Cardholder verification
#   was not successful' is set and the results are the last failed rule
#   plus '01', or '3F0001' when no rule applied.
# - Conditions (byte 2): 00 always; 01 unattended cash; 02 not unattended
#   cash, not manual cash, not purchase with cashback; 03 terminal supports
#   the CVM; 04 manual cash; 05 purchase with cashback; 06/07 transaction in
#   the application currency and under/over X; 08/09 under/over Y.
# - PIN results map onto TVR byte 3: bypassed -> 'PIN entry required, PIN
#   pad present, but PIN was not entered' (and, by terminal option, every
#   later PIN CVM counts as bypassed too); PIN pad failure -> 'PIN pad not
#   present or not working'; try limit -> 'PIN Try Limit exceeded' (later
#   offline PIN CVMs fail without prompting); online PIN -> 'Online PIN
#   entered'.
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from kernel.config import TransactionType
from kernel.contact.restrictions import CASH_TYPES
from kernel.tvr import TvrBit

__all__ = [
    "CvmActions",
    "CvmFacts",
    "CvmOutcome",
    "CvmRule",
    "PinResult",
    "cardholder_verification",
    "condition_satisfied",
    "parse_cvm_list",
]

# Method codes (CVM byte 1, b6-b1)
FAIL_CVM = 0x00
PLAINTEXT_PIN = 0x01
ONLINE_PIN = 0x02
PLAINTEXT_PIN_AND_SIGNATURE = 0x03
ENCIPHERED_PIN = 0x04
ENCIPHERED_PIN_AND_SIGNATURE = 0x05
SIGNATURE = 0x1E
NO_CVM = 0x1F
NO_CVM_PERFORMED = 0x3F
APPLY_NEXT = 0x40

RESULT_UNKNOWN = 0x00
RESULT_FAILED = 0x01
RESULT_SUCCESSFUL = 0x02

_KNOWN_METHODS = frozenset(
    {
        FAIL_CVM,
        PLAINTEXT_PIN,
        ONLINE_PIN,
        PLAINTEXT_PIN_AND_SIGNATURE,
        ENCIPHERED_PIN,
        ENCIPHERED_PIN_AND_SIGNATURE,
        SIGNATURE,
        NO_CVM,
    }
)
# Terminal Capabilities '9F33' byte 2
_CAP_PLAINTEXT_PIN = 0x80
_CAP_ONLINE_PIN = 0x40
_CAP_SIGNATURE = 0x20
_CAP_ENCIPHERED_PIN = 0x10
_CAP_NO_CVM = 0x08


class PinResult(enum.Enum):
    OK = "ok"
    BYPASSED = "bypassed"
    PIN_PAD_ERROR = "pin-pad-error"
    TRY_LIMIT_EXCEEDED = "try-limit-exceeded"
    # The method could not be carried out (e.g. no key for enciphered PIN).
    UNAVAILABLE = "unavailable"


class CvmActions(Protocol):
    async def offline_pin(self, *, enciphered: bool) -> PinResult: ...

    async def online_pin(self) -> PinResult: ...


@dataclass(frozen=True, slots=True)
class CvmRule:
    code: int
    condition: int

    @property
    def method(self) -> int:
        return self.code & 0x3F

    @property
    def apply_next(self) -> bool:
        return bool(self.code & APPLY_NEXT)


@dataclass(frozen=True, slots=True)
class CvmList:
    amount_x: int
    amount_y: int
    rules: tuple[CvmRule, ...]


def parse_cvm_list(value: bytes) -> CvmList | None:
    """Annex C3: X (4), Y (4), then two-byte rules; None when not a usable list."""
    if len(value) < 8 or len(value) % 2:
        return None
    rules = tuple(CvmRule(value[i], value[i + 1]) for i in range(8, len(value), 2))
    return CvmList(int.from_bytes(value[0:4], "big"), int.from_bytes(value[4:8], "big"), rules)


@dataclass(frozen=True, slots=True)
class CvmFacts:
    capabilities: bytes  # 9F33
    amount: int  # 9F02
    transaction_type: int  # 9C
    transaction_currency: bytes  # 5F2A
    application_currency: bytes | None  # 9F42
    attended: bool
    amount_other: int = 0
    pin_bypass_applies_to_all: bool = True


@dataclass
class CvmOutcome:
    results: bytes = b"\x3f\x00\x00"
    tvr: set[TvrBit] = field(default_factory=set)
    performed: bool = False
    signature_required: bool = False
    pin_entered: str = "no"


def _supported(method: int, caps: int) -> bool:
    need = {
        FAIL_CVM: 0,
        PLAINTEXT_PIN: _CAP_PLAINTEXT_PIN,
        ONLINE_PIN: _CAP_ONLINE_PIN,
        PLAINTEXT_PIN_AND_SIGNATURE: _CAP_PLAINTEXT_PIN | _CAP_SIGNATURE,
        ENCIPHERED_PIN: _CAP_ENCIPHERED_PIN,
        ENCIPHERED_PIN_AND_SIGNATURE: _CAP_ENCIPHERED_PIN | _CAP_SIGNATURE,
        SIGNATURE: _CAP_SIGNATURE,
        NO_CVM: _CAP_NO_CVM,
    }.get(method)
    return need is not None and caps & need == need


def condition_satisfied(rule: CvmRule, cvm: CvmList, facts: CvmFacts) -> bool:
    """Annex C3 Table 40 condition codes; unknown codes are never satisfied."""
    cond = rule.condition
    tt = facts.transaction_type
    cash = tt in CASH_TYPES
    cashback = tt == TransactionType.PURCHASE_WITH_CASHBACK or (
        tt == TransactionType.PURCHASE and facts.amount_other > 0
    )
    unattended_cash = cash and not facts.attended
    manual_cash = cash and facts.attended
    if cond == 0x00:
        return True
    if cond == 0x01:
        return unattended_cash
    if cond == 0x02:
        return not unattended_cash and not manual_cash and not cashback
    if cond == 0x03:
        return _supported(rule.method, facts.capabilities[1])
    if cond == 0x04:
        return manual_cash
    if cond == 0x05:
        return cashback
    if 0x06 <= cond <= 0x09:
        if facts.application_currency is None:
            return False
        if facts.application_currency != facts.transaction_currency:
            return False
        limit = cvm.amount_x if cond in (0x06, 0x07) else cvm.amount_y
        return facts.amount < limit if cond in (0x06, 0x08) else facts.amount > limit
    return False


class _Walk:
    def __init__(self, facts: CvmFacts, actions: CvmActions, outcome: CvmOutcome) -> None:
        self.facts = facts
        self.actions = actions
        self.out = outcome
        self.bypassed = False
        self.offline_blocked = False

    async def perform(self, method: int) -> int:
        """Carry out one CVM; returns RESULT_SUCCESSFUL / RESULT_UNKNOWN / RESULT_FAILED."""
        if method not in _KNOWN_METHODS:
            self.out.tvr.add(TvrBit.UNRECOGNISED_CVM)
            return RESULT_FAILED
        if method == FAIL_CVM:
            return RESULT_FAILED
        caps = self.facts.capabilities[1]
        pin = method in (
            PLAINTEXT_PIN,
            ONLINE_PIN,
            PLAINTEXT_PIN_AND_SIGNATURE,
            ENCIPHERED_PIN,
            ENCIPHERED_PIN_AND_SIGNATURE,
        )
        if not _supported(method, caps):
            if pin:
                self.out.tvr.add(TvrBit.PIN_PAD_NOT_WORKING)
            return RESULT_FAILED
        if method == NO_CVM:
            return RESULT_SUCCESSFUL
        if method == SIGNATURE:
            self.out.signature_required = True
            return RESULT_UNKNOWN
        if self.bypassed and self.facts.pin_bypass_applies_to_all:
            self.out.tvr.add(TvrBit.PIN_NOT_ENTERED)
            return RESULT_FAILED
        if method == ONLINE_PIN:
            result = await self.actions.online_pin()
        elif self.offline_blocked:
            self.out.tvr.add(TvrBit.PIN_TRY_LIMIT_EXCEEDED)
            return RESULT_FAILED
        else:
            enciphered = method in (ENCIPHERED_PIN, ENCIPHERED_PIN_AND_SIGNATURE)
            result = await self.actions.offline_pin(enciphered=enciphered)
        return self._pin_result(method, result)

    def _pin_result(self, method: int, result: PinResult) -> int:
        if result is PinResult.BYPASSED:
            self.bypassed = True
            self.out.tvr.add(TvrBit.PIN_NOT_ENTERED)
            return RESULT_FAILED
        if result is PinResult.PIN_PAD_ERROR:
            self.out.tvr.add(TvrBit.PIN_PAD_NOT_WORKING)
            return RESULT_FAILED
        if result is PinResult.TRY_LIMIT_EXCEEDED:
            self.offline_blocked = True
            self.out.tvr.add(TvrBit.PIN_TRY_LIMIT_EXCEEDED)
            return RESULT_FAILED
        if result is PinResult.UNAVAILABLE:
            return RESULT_FAILED
        if method == ONLINE_PIN:
            self.out.tvr.add(TvrBit.ONLINE_PIN_ENTERED)
            self.out.pin_entered = "online"
            return RESULT_UNKNOWN
        self.out.pin_entered = "offline"
        if method in (PLAINTEXT_PIN_AND_SIGNATURE, ENCIPHERED_PIN_AND_SIGNATURE):
            self.out.signature_required = True
            return RESULT_UNKNOWN
        return RESULT_SUCCESSFUL


async def cardholder_verification(
    aip: bytes, cvm_list: bytes | None, facts: CvmFacts, actions: CvmActions
) -> CvmOutcome:
    out = CvmOutcome()
    if not aip[0] & 0x10:
        return out
    parsed = parse_cvm_list(cvm_list) if cvm_list is not None else None
    if parsed is None or not parsed.rules:
        out.tvr.add(TvrBit.ICC_DATA_MISSING)
        return out
    out.performed = True
    walk = _Walk(facts, actions, out)
    last_failed: CvmRule | None = None
    for rule in parsed.rules:
        if not condition_satisfied(rule, parsed, facts):
            continue
        result = await walk.perform(rule.method)
        if result != RESULT_FAILED:
            out.results = bytes([rule.code, rule.condition, result])
            return out
        last_failed = rule
        if not rule.apply_next:
            break
    out.tvr.add(TvrBit.CARDHOLDER_VERIFICATION_FAILED)
    if last_failed is None:
        out.results = bytes([NO_CVM_PERFORMED, 0x00, RESULT_FAILED])
    else:
        out.results = bytes([last_failed.code, last_failed.condition, RESULT_FAILED])
    # A signature promised by a failed combined CVM is not owed.
    out.signature_required = False
    return out
