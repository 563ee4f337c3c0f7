# Strategy: EMV 4.3 Book 3 10.4 "Processing Restrictions", a pure function
# from the facts to the TVR bits it sets (case-table tested):
# - 10.4.1 Application Version Number: card '9F08' present and different
#   from the terminal's '9F09' -> 'ICC and terminal have different
#   application versions';
# - 10.4.2 Application Usage Control '9F07' (if present): ATM / non-ATM
#   validity, and when the Issuer Country Code '5F28' is present, domestic
#   (5F28 == 9F1A) or international validity for cash, goods, services and
#   cashback -> 'Requested service not allowed for card product';
# - 10.4.3 Effective date '5F25' after today -> 'Application not yet
#   effective'; expiration date '5F24' before today -> 'Expired application'.
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kernel.config import PurchaseKind, TransactionType
from kernel.tvr import TvrBit
from kernel.values import decode_date

__all__ = ["CASH_TYPES", "RestrictionFacts", "processing_restrictions"]

CASH_TYPES = frozenset({TransactionType.CASH, TransactionType.CASH_DISBURSEMENT})

# AUC byte 1
_DOMESTIC_CASH, _INTL_CASH = 0x80, 0x40
_DOMESTIC_GOODS, _INTL_GOODS = 0x20, 0x10
_DOMESTIC_SERVICES, _INTL_SERVICES = 0x08, 0x04
_ATM, _NON_ATM = 0x02, 0x01
# AUC byte 2
_DOMESTIC_CASHBACK, _INTL_CASHBACK = 0x80, 0x40


@dataclass(frozen=True, slots=True)
class RestrictionFacts:
    today: dt.date
    expiration_date: bytes  # 5F24
    terminal_application_version: bytes  # 9F09
    terminal_country: bytes  # 9F1A
    transaction_type: int  # 9C
    amount_other: int = 0
    is_atm: bool = False
    purchase_kind: PurchaseKind = PurchaseKind.GOODS
    card_application_version: bytes | None = None  # 9F08
    usage_control: bytes | None = None  # 9F07
    issuer_country: bytes | None = None  # 5F28
    effective_date: bytes | None = None  # 5F25


def _date_or_none(value: bytes) -> dt.date | None:
    try:
        return decode_date(value)
    except ValueError:
        return None


def processing_restrictions(f: RestrictionFacts) -> set[TvrBit]:
    bits: set[TvrBit] = set()
    if (
        f.card_application_version is not None
        and f.card_application_version != f.terminal_application_version
    ):
        bits.add(TvrBit.DIFFERENT_APPLICATION_VERSIONS)
    if f.usage_control is not None and not _usage_allowed(f):
        bits.add(TvrBit.SERVICE_NOT_ALLOWED)
    if f.effective_date is not None:
        effective = _date_or_none(f.effective_date)
        if effective is None or effective > f.today:
            bits.add(TvrBit.APPLICATION_NOT_YET_EFFECTIVE)
    expiry = _date_or_none(f.expiration_date)
    if expiry is None or expiry < f.today:
        bits.add(TvrBit.EXPIRED_APPLICATION)
    return bits


def _usage_allowed(f: RestrictionFacts) -> bool:
    auc = f.usage_control or b"\x00\x00"
    if len(auc) < 2:
        return False
    b1, b2 = auc[0], auc[1]
    if f.is_atm:
        if not b1 & _ATM:
            return False
    elif not b1 & _NON_ATM:
        return False
    if f.issuer_country is None:
        return True
    domestic = f.issuer_country == f.terminal_country
    tt = f.transaction_type
    if tt in CASH_TYPES:
        return bool(b1 & (_DOMESTIC_CASH if domestic else _INTL_CASH))
    if tt in (TransactionType.PURCHASE, TransactionType.PURCHASE_WITH_CASHBACK):
        if f.purchase_kind is PurchaseKind.GOODS:
            ok = b1 & (_DOMESTIC_GOODS if domestic else _INTL_GOODS)
        else:
            ok = b1 & (_DOMESTIC_SERVICES if domestic else _INTL_SERVICES)
        if not ok:
            return False
        if tt == TransactionType.PURCHASE_WITH_CASHBACK or f.amount_other > 0:
            return bool(b2 & (_DOMESTIC_CASHBACK if domestic else _INTL_CASHBACK))
    return True
