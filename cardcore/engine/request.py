# Strategy: the parameters of the ECR `transaction` command (manual
# «Транзакция», «Список параметров команды transaction», Appendix B) checked
# into one typed request. docs/protocol-decisions.md: amounts are exactly 12
# digits of minor units and greater than zero (a void may omit it); `payment`
# is an alias of `purchase`; parameters may be children or root attributes
# (`force-sbp`).
# A manually entered PAN must pass the Luhn check and carry a future expiry;
# the administrator password of a manual entry is checked before any of the
# card data (manual_entry_password), so a caller without it learns nothing.
# The manual's other spellings: `purchasewithcashback` (its parameter list)
# for `purchase-with-cashback` (Appendix B), and `pan`=`last` for a void of
# the last transaction without the card (its parameter list) as `number`=`last`.
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import msgspec

from base.pan import luhn_ok
from cardcore.errors import InvalidArguments
from cardcore.protocol.messages import Amount, Password, parse_params
from cardcore.protocol.xmlcodec import Message, XmlError

__all__ = [
    "ManualCard",
    "Operation",
    "TxnCommand",
    "manual_entry_password",
    "parse_transaction",
]


class Operation(StrEnum):
    PURCHASE = "purchase"
    REFUND = "refund"
    VOID = "void"
    CASHBACK = "purchase-with-cashback"


_ALIASES = {"payment": Operation.PURCHASE, "purchasewithcashback": Operation.CASHBACK}


class _TransactionParams(msgspec.Struct, rename="kebab", kw_only=True):
    type: str
    amount: Amount | None = None
    amount_other: Amount | None = None
    currency: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{3}$")] | None = None
    rrn: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z ]{1,12}$")] | None = None
    number: Annotated[str, msgspec.Meta(pattern=r"^([0-9]{1,6}|last)$")] | None = None
    pan: Annotated[str, msgspec.Meta(pattern=r"^([0-9]{12,19}|last)$")] | None = None
    expired: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$")] | None = None
    password: Password | None = None
    cardholder: Annotated[str, msgspec.Meta(max_length=26)] | None = None
    forced: str | None = None
    force_sbp: str | None = None


@dataclass(frozen=True)
class ManualCard:
    pan: str
    expiry: str  # YYMM
    cardholder: str | None

    def __repr__(self) -> str:
        return f"ManualCard(pan=****{self.pan[-4:]}, expiry={self.expiry})"


@dataclass(frozen=True)
class TxnCommand:
    operation: Operation
    amount: int | None  # minor units; None only for a full void
    amount_other: int
    currency: str
    rrn: str | None = None
    number: str | None = None  # void: receipt number or "last"
    manual: ManualCard | None = None
    password: str | None = None
    forced: bool = False
    force_sbp: bool | None = None  # None: attribute absent


def _bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise InvalidArguments(f"parameter '{name}' must be true or false")


def _amount(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    amount = int(value)
    if amount <= 0:
        raise InvalidArguments(f"parameter '{name}' must be greater than zero")
    return amount


def manual_entry_password(message: Message) -> str | None:
    """For a transaction with a manually entered card, the password it
    carries ('' when none), read before anything else of the command is
    looked at; None when it is not a manual entry."""
    try:
        params = message.params()
    except XmlError:
        return None
    pan = params.get("pan")
    if pan is None or pan == "last":
        return None
    password = params.get("password")
    return password if isinstance(password, str) else ""


def parse_transaction(message: Message, default_currency: str, today: dt.date) -> TxnCommand:
    params = parse_params(message, _TransactionParams)
    operation = _ALIASES.get(params.type) or _operation(params.type)
    if params.pan == "last":
        if operation is not Operation.VOID:
            raise InvalidArguments("'pan' last voids the last transaction: only for void")
        if params.number not in (None, "last"):
            raise InvalidArguments("'pan' last and 'number' name different transactions")
        params.number, params.pan = "last", None
    amount = _amount(params.amount, "amount")
    other = _amount(params.amount_other, "amount-other") or 0
    if amount is None and operation is not Operation.VOID:
        raise InvalidArguments("missing parameter 'amount'")
    if operation is Operation.CASHBACK:
        if not other:
            raise InvalidArguments("purchase-with-cashback needs 'amount-other'")
    elif params.amount_other is not None:
        raise InvalidArguments(
            f"'amount-other' is only for purchase-with-cashback, not {operation}"
        )
    if operation is Operation.VOID and params.number is None:
        raise InvalidArguments("void needs 'number' (a receipt number or 'last')")
    manual = None
    if params.pan is not None:
        if params.expired is None:
            raise InvalidArguments("a manually entered PAN needs 'expired' (YYMM)")
        if params.password is None:
            raise InvalidArguments("a manually entered PAN needs the administrator 'password'")
        if not luhn_ok(params.pan):
            raise InvalidArguments("the PAN fails the Luhn check")
        year, month = 2000 + int(params.expired[:2]), int(params.expired[2:])
        if not 1 <= month <= 12:
            raise InvalidArguments("'expired' must be YYMM with a month 01..12")
        if (year, month) < (today.year, today.month):
            raise InvalidArguments("the card has expired")
        manual = ManualCard(params.pan, params.expired, params.cardholder)
    forced = _bool(params.forced, "forced") or False
    if forced and operation not in (Operation.REFUND, Operation.VOID):
        raise InvalidArguments("'forced' applies to refund and void only")
    if operation is Operation.REFUND and forced and params.rrn is None:
        raise InvalidArguments("a forced refund needs the 'rrn' of the purchase")
    force_sbp = _bool(params.force_sbp, "force-sbp")
    if operation is Operation.REFUND and force_sbp and manual is None and params.rrn is None:
        raise InvalidArguments("an SBP refund needs the 'rrn' (the SBP operation id) to refund")
    return TxnCommand(
        operation=operation,
        amount=amount,
        amount_other=other,
        currency=params.currency or default_currency,
        rrn=params.rrn.strip() if params.rrn else None,
        number=params.number.zfill(6)
        if params.number and params.number != "last"
        else params.number,
        manual=manual,
        password=params.password,
        forced=forced,
        force_sbp=force_sbp,
    )


def _operation(value: str) -> Operation:
    try:
        return Operation(value)
    except ValueError:
        allowed = ", ".join([*(o.value for o in Operation), *_ALIASES])
        raise InvalidArguments(f"unknown transaction type '{value}' (allowed: {allowed})") from None
