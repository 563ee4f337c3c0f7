# Strategy: typed builders and parsers for every message the terminal sends
# and every answer it reads, on top of `IsoMessage` and a dialect's
# `Conventions` (ISO 8583:1987 message classes, clause 4.1.1):
#   0200/0210 financial request (purchase, purchase with cashback, refund)
#   0220/0230 financial advice (transactions completed offline, Y1/Y3)
#   0400(0401)/0410 reversal (and its repeats) with the original data elements
#   0320/0330 batch upload, one per transaction of an out-of-balance batch
#   0500/0510 reconciliation (92xxxx) and closing after upload (96xxxx)
#   0800/0810 echo, sign-on, working key change, cutover
# Builders validate what the caller gives (lengths, digits, amounts) and raise
# MessageBuildError; parsers read what the host sent and raise Iso8583Error
# on anything missing or malformed. Nothing here does I/O or reads a clock:
# times are passed in.
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum

from acquirers.errors import Iso8583Error, MessageBuildError
from acquirers.iso8583 import response_codes
from acquirers.iso8583.codec import FieldValue, IsoMessage
from acquirers.iso8583.dialect import Conventions, Dialect, Element
from acquirers.iso8583.security import MasterKeys, unwrap_key
from base.pan import luhn_ok, mask_keep_first6_last4

E = Element

__all__ = [
    "BatchRecord",
    "BatchTotals",
    "Card",
    "CardAcceptor",
    "FinancialRequest",
    "FinancialResponse",
    "KeyExchangeResponse",
    "NetworkResponse",
    "ReconciliationResponse",
    "ReversalReason",
    "ReversalResponse",
    "TxnType",
    "as_repeat",
    "batch_record_from_upload",
    "build_advice",
    "build_batch_upload",
    "build_cutover",
    "build_echo",
    "build_financial",
    "build_key_change",
    "build_reconciliation",
    "build_reversal",
    "build_sign_on",
    "format_additional_amount",
    "format_original_data",
    "parse_additional_amounts",
    "parse_original_data",
]


class TxnType(Enum):
    PURCHASE = "purchase"
    CASHBACK = "cashback"  # purchase with cashback
    REFUND = "refund"

    @property
    def is_debit(self) -> bool:
        return self is not TxnType.REFUND


class ReversalReason(Enum):
    TIMEOUT = "timeout"  # no (valid) answer from the host
    CANCEL = "cancel"  # cancelled by the customer / cash register / void
    CARD_DECLINED = "card_declined"  # host approved, card declined at second GENERATE AC
    MALFUNCTION = "malfunction"  # terminal error after the request left


# ---------------------------------------------------------------- validation helpers
def _digits(value: str, length: int, what: str) -> str:
    if not (len(value) == length and value.isascii() and value.isdigit()):
        raise MessageBuildError(f"{what} must be {length} digits")
    return value


def _amount(value: int, what: str = "amount", *, zero_ok: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageBuildError(f"{what} must be an integer of minor units")
    if value < 0 or (value == 0 and not zero_ok) or value > 999_999_999_999:
        raise MessageBuildError(f"{what} out of range")
    return f"{value:012d}"


def _ans(value: str, length: int, what: str, *, pad: bool = True) -> str:
    if not (value.isascii() and value.isprintable()) or len(value) > length or not value:
        raise MessageBuildError(f"{what} must be 1..{length} printable ASCII characters")
    return value.ljust(length) if pad else value


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC)


def _f7(when: datetime) -> str:
    return _utc(when).strftime("%m%d%H%M%S")


def _f12(when: datetime) -> str:
    return when.strftime("%H%M%S")


def _f13(when: datetime) -> str:
    return when.strftime("%m%d")


# ---------------------------------------------------------------- terminal and card
@dataclass(frozen=True)
class CardAcceptor:
    """Who is talking: field 41 TID, 42 MID, 49 currency, optional 32/24."""

    tid: str
    mid: str
    currency: str = "643"
    acquirer_id: str | None = None  # field 32, n..11
    nii: str | None = None  # field 24, n3

    def __post_init__(self) -> None:
        _ans(self.tid, 8, "terminal id")
        _ans(self.mid, 15, "merchant id")
        _digits(self.currency, 3, "currency code")
        if self.acquirer_id is not None and not (
            self.acquirer_id.isdigit() and 1 <= len(self.acquirer_id) <= 11
        ):
            raise MessageBuildError("acquirer id must be 1..11 digits")
        if self.nii is not None:
            _digits(self.nii, 3, "NII")

    def elements(self) -> dict[Element, FieldValue | None]:
        return {
            E.TID: self.tid.ljust(8),
            E.MID: self.mid.ljust(15),
            E.CURRENCY: self.currency,
            E.ACQUIRER: self.acquirer_id,
            E.NII: self.nii,
        }

    def fields(self) -> dict[int, FieldValue]:
        """41/42 and, when set, 32/24: the sender of a message that is not
        about one transaction (0500/0520)."""
        numbers = {E.TID: 41, E.MID: 42, E.ACQUIRER: 32, E.NII: 24}
        return {numbers[e]: v for e, v in self.elements().items() if e in numbers and v is not None}


@dataclass(frozen=True, repr=False)
class Card:
    """What the card contributed. ``pin_block`` is already enciphered under the
    TPK (security.encipher_pin_block or the PIN pad), or under the DUKPT key
    of ``pin_ksn``: 10 bytes (X9.24-1, an 8-byte format 0 block) or 12 bytes
    (X9.24-3 AES, a 16-byte format 4 block). ``icc_data`` is the BER-TLV of
    field 55 as the kernel assembled it."""

    pan: str
    expiry: str | None = None  # YYMM
    sequence: str | None = None  # PAN sequence number, 1..3 digits ("01")
    track2: str | None = None  # digits and '=', as read (magstripe / tag 57)
    entry_mode: str = "051"  # field 22: 05 chip, 1 PIN capable
    icc_data: bytes | None = None
    pin_block: bytes | None = None
    pin_ksn: bytes | None = None

    def __post_init__(self) -> None:
        if not (self.pan.isascii() and self.pan.isdigit() and 12 <= len(self.pan) <= 19):
            raise MessageBuildError("PAN must be 12..19 digits")
        if self.expiry is not None:
            _digits(self.expiry, 4, "expiry date (YYMM)")
        if self.sequence is not None and not (
            self.sequence.isdigit() and 1 <= len(self.sequence) <= 3
        ):
            raise MessageBuildError("card sequence number must be 1..3 digits")
        if self.track2 is not None and (
            len(self.track2) > 37 or any(c not in "0123456789=" for c in self.track2)
        ):
            raise MessageBuildError("track 2 data must be up to 37 digits and '='")
        _digits(self.entry_mode, 3, "POS entry mode")
        if self.pin_block is not None:
            wanted = 16 if self.pin_ksn is not None and len(self.pin_ksn) == 12 else 8
            if len(self.pin_block) != wanted:
                raise MessageBuildError(f"PIN block must be {wanted} bytes")
        if self.pin_ksn is not None and (
            self.pin_block is None or len(self.pin_ksn) not in (10, 12)
        ):
            raise MessageBuildError("a KSN goes with a DUKPT PIN block: 10 or 12 bytes")

    def __repr__(self) -> str:
        return f"Card({mask_keep_first6_last4(self.pan)}, entry {self.entry_mode})"

    @property
    def luhn_valid(self) -> bool:
        return luhn_ok(self.pan)

    def elements(self) -> dict[Element, FieldValue | None]:
        """What the card gives a message; the message tables decide which of
        it goes (the secrets only into the 0200)."""
        out: dict[Element, FieldValue | None] = {
            E.PAN: self.pan,
            E.ENTRY_MODE: self.entry_mode,
            E.EXPIRY: self.expiry,
            E.PAN_SEQUENCE: self.sequence.zfill(3) if self.sequence is not None else None,
            E.ICC: self.icc_data or None,
            E.TRACK2: self.track2,
            E.PIN_BLOCK: self.pin_block,
        }
        if self.pin_ksn is not None and self.pin_block is not None and len(self.pin_ksn) == 12:
            # An AES block (too long for field 52) goes right after its KSN.
            out[E.KEY_DATA], out[E.PIN_BLOCK] = self.pin_ksn + self.pin_block, None
        else:
            out[E.KEY_DATA] = self.pin_ksn
        return out


# ---------------------------------------------------------------- field formats
def format_additional_amount(
    amount: int, amount_type: str, currency: str, account_type: str = "00", sign: str = "D"
) -> str:
    """One ISO 8583:1987 field 54 entry: account type 2, amount type 2,
    currency 3, sign C/D, amount 12 (20 characters)."""
    _digits(account_type, 2, "account type")
    _digits(currency, 3, "currency code")
    if sign not in ("C", "D") or len(amount_type) != 2:
        raise MessageBuildError("bad additional amount entry")
    return f"{account_type}{amount_type}{currency}{sign}{_amount(amount, zero_ok=True)}"


def parse_additional_amounts(value: str) -> list[tuple[str, str, str, int]]:
    """Field 54 entries as (account type, amount type, currency, signed amount)."""
    if len(value) % 20:
        raise Iso8583Error("field 54 length is not a multiple of 20")
    out = []
    for i in range(0, len(value), 20):
        entry = value[i : i + 20]
        sign, digits = entry[7], entry[8:]
        if sign not in "CD" or not digits.isdigit() or not entry[:2].isdigit():
            raise Iso8583Error("malformed field 54 entry")
        amount = int(digits)
        out.append((entry[:2], entry[2:4], entry[4:7], amount if sign == "C" else -amount))
    return out


def format_original_data(mti: str, stan: str, transmission: str) -> str:
    """Field 90: MTI 4, STAN 6, transmission date/time 10, acquirer and
    forwarding institution ids 11+11 (zeros)."""
    _digits(mti, 4, "original MTI")
    _digits(stan, 6, "original STAN")
    _digits(transmission, 10, "original transmission date/time")
    return mti + stan + transmission + "0" * 22


def parse_original_data(value: str) -> tuple[str, str, str]:
    """(original MTI, STAN, transmission date/time) of a field 90."""
    if len(value) != 42 or not value.isdigit():
        raise Iso8583Error("malformed original data elements (field 90)")
    return value[:4], value[4:10], value[10:20]


def _local_time(msg: IsoMessage, year: int) -> datetime:
    """Fields 13 (MMDD) and 12 (hhmmss) of ``msg`` in ``year``."""
    try:
        return datetime.strptime(f"{year:04d}{msg.text(13)}{msg.text(12)}", "%Y%m%d%H%M%S")
    except ValueError:
        raise Iso8583Error("malformed local date/time (fields 12/13)") from None


def _replacement_amounts(actual: int) -> str:
    """Field 95 (ISO 8583:1987): actual amount, transaction (n12) and
    settlement (n12, not used: zeros), then the actual transaction and
    settlement fees (x+n8 each: the terminal charges none)."""
    return _amount(actual, "remaining amount", zero_ok=True) + "0" * 12 + "D00000000" * 2


def _parse_replacement(value: str) -> int:
    if len(value) != 42 or not value[:12].isdigit():
        raise Iso8583Error("malformed replacement amounts (field 95)")
    return int(value[:12])


# ---------------------------------------------------------------- financial
@dataclass(frozen=True)
class FinancialRequest:
    """A purchase, purchase with cashback or refund. ``amount`` is the total
    (purchase with cashback: goods plus cashback, ``cashback`` the part given
    out in cash). ``when`` is the local time of the transaction; field 7 is its
    UTC equivalent (give an aware datetime, or a naive one in system local time)."""

    type: TxnType
    amount: int
    card: Card
    stan: str
    when: datetime
    cashback: int = 0
    original_rrn: str | None = None  # refund: the purchase it refunds (field 37)
    batch: str | None = None  # field 60, 6 digits
    reference: str | None = None  # field 62, e.g. the receipt number (seq)
    condition_code: str = "00"

    def __post_init__(self) -> None:
        _amount(self.amount)
        _digits(self.stan, 6, "STAN")
        if self.type is TxnType.CASHBACK:
            _amount(self.cashback, "cashback amount")
            if self.cashback > self.amount:
                raise MessageBuildError("cashback exceeds the amount")
        elif self.cashback:
            raise MessageBuildError("cashback only goes with purchase-with-cashback")
        if self.original_rrn is not None:
            _ans(self.original_rrn, 12, "original RRN", pad=False)
            if len(self.original_rrn) != 12:
                raise MessageBuildError("RRN must be 12 characters")
        if self.batch is not None:
            _digits(self.batch, 6, "batch number")
        if self.reference is not None:
            _ans(self.reference, 999, "reference", pad=False)
        _digits(self.condition_code, 2, "POS condition code")


def _transaction_elements(
    kind: TxnType,
    amount: int,
    card: Card,
    when: datetime,
    terminal: CardAcceptor,
    conv: Conventions,
    *,
    cashback: int = 0,
    batch: str | None = None,
    condition: str = "00",
) -> dict[Element, FieldValue | None]:
    """What every message about one transaction says of it (`_TRANSACTION`
    of the message tables): the transaction's own time in 12/13; the
    message's own time and STAN (7, 11) are set by each builder."""
    out = card.elements()
    out.update(terminal.elements())
    out.update(
        {
            E.PROCESSING_CODE: conv.processing_codes[kind.value],
            E.AMOUNT: _amount(amount),
            E.LOCAL_TIME: _f12(when),
            E.LOCAL_DATE: _f13(when),
            E.CONDITION: condition,
            E.BATCH: batch,
        }
    )
    if kind is TxnType.CASHBACK and cashback:
        out[E.ADDITIONAL_AMOUNTS] = format_additional_amount(
            cashback, conv.cashback_amount_type, terminal.currency
        )
    return out


def _assemble(
    mti: str, dialect: Dialect, elements: Mapping[Element, FieldValue | None]
) -> IsoMessage:
    """The message ``mti`` as the dialect's table says: each field that the
    type carries and the transaction has a value for."""
    table = dialect.conventions.messages.get(mti)
    if table is None:
        raise MessageBuildError(f"dialect {dialect.name} has no table for {mti}")
    fields = {}
    for number, element in table.items():
        value = elements.get(element)
        if value is not None:
            fields[number] = value
    return IsoMessage(mti, fields)


def _request_elements(
    req: FinancialRequest, terminal: CardAcceptor, conv: Conventions
) -> dict[Element, FieldValue | None]:
    out = _transaction_elements(
        req.type, req.amount, req.card, req.when, terminal, conv,
        cashback=req.cashback, batch=req.batch, condition=req.condition_code,
    )  # fmt: skip
    out.update(
        {
            E.TRANSMISSION: _f7(req.when),
            E.STAN: req.stan,
            E.ORIGINAL_RRN: req.original_rrn,
            E.REFERENCE: req.reference,
        }
    )
    return out


def build_financial(req: FinancialRequest, terminal: CardAcceptor, dialect: Dialect) -> IsoMessage:
    """0200 for a purchase (00), purchase with cashback (09) or refund (20)."""
    return _assemble("0200", dialect, _request_elements(req, terminal, dialect.conventions))


def build_advice(
    req: FinancialRequest,
    terminal: CardAcceptor,
    dialect: Dialect,
    *,
    unable_online: bool = False,
    auth_code: str | None = None,
) -> IsoMessage:
    """0220 for a transaction the card approved offline (39 = Y1, or Y3 when
    the host could not be reached; 38 = ``auth_code``, by default that code
    and spaces). No PIN block and no track data: an advice is stored and
    forwarded."""
    conv = dialect.conventions
    code = conv.offline_response_codes["unable_online" if unable_online else "approved_offline"]
    elements = _request_elements(req, terminal, conv)
    elements[E.RESPONSE_CODE] = code
    elements[E.AUTH_CODE] = _ans(auth_code or code, 6, "authorization code")
    return _assemble("0220", dialect, elements)


@dataclass(frozen=True)
class FinancialResponse:
    """A 0210/0230 as the transaction engine needs it."""

    response_code: str
    approved: bool
    auth_code: str | None
    rrn: str | None
    icc_data: bytes | None  # field 55: 91 issuer authentication data, 71/72 scripts
    additional_amounts: list[tuple[str, str, str, int]]
    message: IsoMessage = field(repr=False)

    @property
    def description_ru(self) -> str:
        return response_codes.describe(self.response_code, "ru")

    @property
    def description_en(self) -> str:
        return response_codes.describe(self.response_code, "en")

    @classmethod
    def from_message(cls, msg: IsoMessage, dialect: Dialect) -> FinancialResponse:
        if msg.mti not in ("0210", "0230"):
            raise Iso8583Error(f"expected a financial response, got {msg.mti}")
        code = msg.text(39)
        auth = msg.text_or_none(38)
        extra = msg.text_or_none(dialect.conventions.additional_amounts_field)
        return cls(
            response_code=code,
            approved=response_codes.lookup(code, dialect.response_codes).approved,
            auth_code=auth.strip() or None if auth is not None else None,
            rrn=msg.text_or_none(dialect.conventions.rrn_field),
            icc_data=msg.binary_or_none(55),
            additional_amounts=parse_additional_amounts(extra) if extra else [],
            message=msg,
        )


# ---------------------------------------------------------------- reversal
def build_reversal(
    original: IsoMessage,
    dialect: Dialect,
    *,
    stan: str,
    when: datetime,
    reason: ReversalReason,
    rrn: str | None = None,
    auth_code: str | None = None,
    remaining_amount: int | None = None,
) -> IsoMessage:
    """0400 reversing ``original`` (the 0200/0220 as it was sent, or as
    decoded from the journal). The reversal gets its own ``stan`` (kept for
    every 0401 repeat); field 90 names the original MTI, STAN and field 7.
    ``rrn``/``auth_code`` come from the host's answer when there was one;
    ``remaining_amount`` makes it a partial reversal (field 95). The PIN
    block and track data of the original are not repeated."""
    conv = dialect.conventions
    table = conv.messages.get(original.mti) if original.mti in ("0200", "0220") else None
    if table is None:
        raise MessageBuildError(f"cannot reverse a {original.mti}")
    _digits(stan, 6, "STAN")
    try:
        orig_stan = original.text(11)
        orig_f7 = original.text(7)
        pan = original.text_or_none(2)
        track2 = original.text_or_none(35)
    except Iso8583Error as exc:
        raise MessageBuildError(f"original message incomplete: {exc}") from None
    if pan is None:
        if track2 is None or "=" not in track2:
            raise MessageBuildError("original message has neither PAN nor track 2")
        pan = track2.split("=", 1)[0]
    # What the original said of the transaction, by the table it was built by.
    elements: dict[Element, FieldValue | None] = {
        element: original.fields.get(number) for number, element in table.items()
    }
    elements.update(
        {
            E.PAN: pan,
            E.TRANSMISSION: _f7(when),
            E.STAN: stan,
            E.RESPONSE_CODE: conv.reversal_reasons[reason.value],
            E.ORIGINAL_DATA: format_original_data(original.mti, orig_stan, orig_f7),
            E.RRN: rrn,
        }
    )
    if auth_code is not None:
        elements[E.AUTH_CODE] = _ans(auth_code, 6, "authorization code")
    if remaining_amount is not None:
        original_amount = int(original.text(4))
        if not 0 <= remaining_amount < original_amount:
            raise MessageBuildError("remaining amount must be below the original amount")
        elements[E.REPLACEMENT] = _replacement_amounts(remaining_amount)
    return _assemble("0400", dialect, elements)


def as_repeat(msg: IsoMessage) -> IsoMessage:
    """The repeat of a request: MTI origin digit 0 -> 1 (0400 -> 0401,
    0220 -> 0221), everything else unchanged (the MAC is recomputed on encode)."""
    if msg.mti[3] not in "01" or msg.mti[2] not in "02":
        raise MessageBuildError(f"{msg.mti} has no repeat")
    return msg.copy(msg.mti[:3] + "1")


@dataclass(frozen=True)
class ReversalResponse:
    response_code: str
    acknowledged: bool
    message: IsoMessage = field(repr=False)

    @classmethod
    def from_message(cls, msg: IsoMessage, dialect: Dialect) -> ReversalResponse:
        if msg.mti != "0410":
            raise Iso8583Error(f"expected 0410, got {msg.mti}")
        code = msg.text(39)
        # A reversal is acknowledged by 00; hosts also answer 25/76 when the
        # original never reached them, and that too ends the retries.
        return cls(code, code in ("00", "25", "76"), msg)


# ---------------------------------------------------------------- network management
def _network(
    code_name: str, terminal: CardAcceptor, dialect: Dialect, stan: str, when: datetime
) -> IsoMessage:
    _digits(stan, 6, "STAN")
    fields: dict[int, str | bytes] = {
        7: _f7(when),
        11: stan,
        41: terminal.tid.ljust(8),
        70: dialect.conventions.network_codes[code_name],
    }
    if terminal.nii is not None:
        fields[24] = terminal.nii
    return IsoMessage("0800", fields)


def build_echo(
    terminal: CardAcceptor, dialect: Dialect, *, stan: str, when: datetime
) -> IsoMessage:
    """0800 echo test (70 = 301)."""
    return _network("echo", terminal, dialect, stan, when)


def build_sign_on(
    terminal: CardAcceptor, dialect: Dialect, *, stan: str, when: datetime
) -> IsoMessage:
    """0800 sign-on (70 = 001)."""
    msg = _network("sign_on", terminal, dialect, stan, when)
    msg.fields[42] = terminal.mid.ljust(15)
    return msg


def build_cutover(
    terminal: CardAcceptor,
    dialect: Dialect,
    *,
    stan: str,
    when: datetime,
    currency: str | None = None,
) -> IsoMessage:
    """0800 cutover (70 = 201): the host closes the business day.
    ``currency``, where the dialect has a settlement currency field (50):
    the currency of the totals the answer is to carry, asked for by a
    terminal that takes several (their amounts do not add up); a terminal of
    one currency sends the plain 0800."""
    msg = _network("cutover", terminal, dialect, stan, when)
    msg.fields[42] = terminal.mid.ljust(15)
    number = dialect.conventions.settlement_currency_field
    if currency is not None and number is not None:
        msg.fields[number] = currency
    return msg


def build_key_change(
    terminal: CardAcceptor, dialect: Dialect, *, key_type: str, stan: str, when: datetime
) -> IsoMessage:
    """0800 working key change (70 = 161) for ``key_type`` "pin" (TPK) or
    "mac" (TAK), named in field 53."""
    conv = dialect.conventions
    if key_type not in conv.key_types:
        raise MessageBuildError(f"unknown key type {key_type!r}")
    msg = _network("key_change", terminal, dialect, stan, when)
    msg.fields[conv.key_type_field] = conv.key_types[key_type].ljust(16, "0")
    return msg


@dataclass(frozen=True)
class NetworkResponse:
    response_code: str
    approved: bool
    rrn: str | None
    network_code: str | None
    message: IsoMessage = field(repr=False)
    # A cutover's answer: its approval number and the host's totals of the
    # terminal's batch (generic87 conventions); None where the answer has none.
    approval_number: str | None = None
    totals: BatchTotals | None = None
    # The currency of ``totals`` as the answer names it (field 50); None: a
    # host that does not say, whose totals may be of every currency at once.
    totals_currency: str | None = None

    @classmethod
    def from_message(cls, msg: IsoMessage, dialect: Dialect) -> NetworkResponse:
        if msg.mti != "0810":
            raise Iso8583Error(f"expected 0810, got {msg.mti}")
        code = msg.text(39)
        try:
            totals = BatchTotals.from_message(msg, dialect)
        except Iso8583Error:
            # Only informative here (clear's `amount`): totals a host got wrong
            # must not turn a cutover it performed into one to send again.
            totals = None
        number = dialect.conventions.settlement_currency_field
        currency = msg.text_or_none(number) if number is not None else None
        return cls(
            response_code=code,
            approved=code == "00",
            rrn=msg.text_or_none(dialect.conventions.rrn_field),
            network_code=msg.text_or_none(70),
            message=msg,
            approval_number=msg.text_or_none(38),
            totals=totals,
            totals_currency=currency if totals is not None else None,
        )


@dataclass(frozen=True, repr=False)
class KeyExchangeResponse:
    """A 0810 to a key change: the new key under the master key and its KCV."""

    response_code: str
    key_type: str
    cryptogram: bytes
    check_value: bytes
    rrn: str | None
    message: IsoMessage

    def __repr__(self) -> str:
        return f"KeyExchangeResponse({self.response_code}, {self.key_type}, rrn {self.rrn})"

    @classmethod
    def from_message(cls, msg: IsoMessage, dialect: Dialect) -> KeyExchangeResponse:
        conv = dialect.conventions
        if msg.mti != "0810":
            raise Iso8583Error(f"expected 0810, got {msg.mti}")
        code = msg.text(39)
        selector = msg.text_or_none(conv.key_type_field) or ""
        names = {v: k for k, v in conv.key_types.items()}
        key_type = names.get(selector[:2], "")
        data = msg.binary_or_none(conv.key_data_field) or b""
        if code == "00" and (not key_type or len(data) != 19):
            raise Iso8583Error("key exchange answer without a usable key")
        return cls(code, key_type, data[:16], data[16:19], msg.text_or_none(conv.rrn_field), msg)

    def unwrap(self, master: MasterKeys) -> bytes:
        """The new working key in clear; KeyCheckError when the KCV disagrees."""
        return unwrap_key(master.for_type(self.key_type), self.cryptogram, self.check_value)


# ---------------------------------------------------------------- reconciliation
@dataclass(frozen=True)
class BatchTotals:
    """Batch totals in the ISO 8583:1987 sense: debits are purchases (cashback
    included in the amount), credits are refunds; reversed ones are counted
    both in their class and in its reversal totals (amount = amount reversed)."""

    debit_count: int = 0
    debit_amount: int = 0
    debit_reversal_count: int = 0
    debit_reversal_amount: int = 0
    credit_count: int = 0
    credit_amount: int = 0
    credit_reversal_count: int = 0
    credit_reversal_amount: int = 0

    @property
    def net(self) -> int:
        """Positive: net debit to cardholders (money to the merchant)."""
        return (
            self.debit_amount
            - self.debit_reversal_amount
            - self.credit_amount
            + self.credit_reversal_amount
        )

    @property
    def count(self) -> int:
        return self.debit_count + self.credit_count

    def add(self, record: BatchRecord) -> BatchTotals:
        if record.type.is_debit:
            return replace(
                self,
                debit_count=self.debit_count + 1,
                debit_amount=self.debit_amount + record.amount,
                debit_reversal_count=self.debit_reversal_count + bool(record.reversed_amount),
                debit_reversal_amount=self.debit_reversal_amount + record.reversed_amount,
            )
        return replace(
            self,
            credit_count=self.credit_count + 1,
            credit_amount=self.credit_amount + record.amount,
            credit_reversal_count=self.credit_reversal_count + bool(record.reversed_amount),
            credit_reversal_amount=self.credit_reversal_amount + record.reversed_amount,
        )

    @classmethod
    def of(cls, records: Iterable[BatchRecord]) -> BatchTotals:
        """Totals of ``records``, consumed once in constant memory."""
        acc = [0] * 8  # debit n/amt, debit rev n/amt, credit n/amt, credit rev n/amt
        for record in records:
            base = 0 if record.type.is_debit else 4
            acc[base] += 1
            acc[base + 1] += record.amount
            if record.reversed_amount:
                acc[base + 2] += 1
                acc[base + 3] += record.reversed_amount
        return cls(*acc)

    def to_fields(self, dialect: Dialect) -> dict[int, str | bytes]:
        t = dialect.conventions.totals
        counts = (
            (t.debit_count, self.debit_count),
            (t.debit_reversal_count, self.debit_reversal_count),
            (t.credit_count, self.credit_count),
            (t.credit_reversal_count, self.credit_reversal_count),
        )
        amounts = (
            (t.debit_amount, self.debit_amount),
            (t.debit_reversal_amount, self.debit_reversal_amount),
            (t.credit_amount, self.credit_amount),
            (t.credit_reversal_amount, self.credit_reversal_amount),
        )
        out: dict[int, str | bytes] = {}
        for number, value in counts:
            if not 0 <= value <= 9_999_999_999:
                raise MessageBuildError("batch count out of range")
            out[number] = f"{value:010d}"
        for number, value in amounts:
            if not 0 <= value <= 9_999_999_999_999_999:
                raise MessageBuildError("batch amount out of range")
            out[number] = f"{value:016d}"
        net = self.net
        if abs(net) > 9_999_999_999_999_999:
            raise MessageBuildError("net amount out of range")
        out[t.net_amount] = ("D" if net >= 0 else "C") + f"{abs(net):016d}"
        return out

    @classmethod
    def from_message(cls, msg: IsoMessage, dialect: Dialect) -> BatchTotals | None:
        """The totals a 0500/0510 carries, or None when it carries none."""
        t = dialect.conventions.totals
        numbers = (
            t.debit_count,
            t.debit_amount,
            t.debit_reversal_count,
            t.debit_reversal_amount,
            t.credit_count,
            t.credit_amount,
            t.credit_reversal_count,
            t.credit_reversal_amount,
        )
        if not all(number in msg for number in numbers):
            return None
        values = [int(msg.text(number)) for number in numbers]
        totals = cls(*values)
        net = msg.text_or_none(t.net_amount)
        if net is not None:
            if len(net) != 17 or net[0] not in "CD" or not net[1:].isdigit():
                raise Iso8583Error("malformed net settlement amount")
            signed = int(net[1:]) if net[0] == "D" else -int(net[1:])
            if signed != totals.net:
                raise Iso8583Error("net settlement amount disagrees with the totals")
        return totals


def build_reconciliation(
    totals: BatchTotals,
    terminal: CardAcceptor,
    dialect: Dialect,
    *,
    stan: str,
    when: datetime,
    batch: str,
    closing: bool = False,
    advice: bool = False,
) -> IsoMessage:
    """0500 with the terminal's totals: processing code 92 (reconciliation
    request) or, after a batch upload, 96 (closing). ``advice``: a 0520
    reconciliation advice with processing code 96, the forced settlement (the
    terminal has closed its batch with these totals; the host cannot refuse
    the fact, only say whether it closed its own). The totals are in the
    currency ``terminal`` names (field 49 and, where the dialect has it, 50)."""
    conv = dialect.conventions
    closing = closing or advice
    _digits(stan, 6, "STAN")
    _digits(batch, 6, "batch number")
    fields: dict[int, str | bytes] = {
        3: conv.processing_codes["closing" if closing else "reconciliation"],
        7: _f7(when),
        11: stan,
        12: _f12(when),
        13: _f13(when),
        49: terminal.currency,
        conv.batch_field: batch,
    }
    if conv.settlement_currency_field is not None:
        # The totals' currency: the one ``terminal`` names in field 49.
        fields[conv.settlement_currency_field] = terminal.currency
    fields.update(terminal.fields())
    fields.update(totals.to_fields(dialect))
    return IsoMessage("0520" if advice else "0500", fields)


@dataclass(frozen=True)
class ReconciliationResponse:
    response_code: str
    in_balance: bool
    out_of_balance: bool
    host_totals: BatchTotals | None
    rrn: str | None
    approval_code: str | None
    message: IsoMessage = field(repr=False)

    @classmethod
    def from_message(cls, msg: IsoMessage, dialect: Dialect) -> ReconciliationResponse:
        if msg.mti not in ("0510", "0530"):
            raise Iso8583Error(f"expected 0510 or 0530, got {msg.mti}")
        code = msg.text(39)
        outcome = response_codes.lookup(code, dialect.response_codes).outcome
        auth = msg.text_or_none(38)
        return cls(
            response_code=code,
            in_balance=code == "00",
            out_of_balance=outcome is response_codes.Outcome.RECONCILE,
            host_totals=BatchTotals.from_message(msg, dialect),
            rrn=msg.text_or_none(dialect.conventions.rrn_field),
            approval_code=auth.strip() or None if auth is not None else None,
            message=msg,
        )


@dataclass(frozen=True, repr=False)
class BatchRecord:
    """One transaction of the batch as the journal holds it, for totals and
    batch upload. ``amount`` is what was approved; ``reversed_amount`` what
    was reversed of it since (0 = stands whole, ``amount`` = fully reversed).
    ``mti``/``stan``/``transmission`` identify the original message."""

    type: TxnType
    amount: int
    pan: str
    stan: str
    when: datetime
    transmission: str  # field 7 of the original, MMDDhhmmss
    mti: str = "0200"
    response_code: str = "00"
    rrn: str | None = None
    auth_code: str | None = None
    expiry: str | None = None
    entry_mode: str = "051"
    sequence: str | None = None
    cashback: int = 0
    reversed_amount: int = 0
    icc_data: bytes | None = None

    def __post_init__(self) -> None:
        _amount(self.amount)
        if not 0 <= self.reversed_amount <= self.amount:
            raise MessageBuildError("reversed amount out of range")

    def __repr__(self) -> str:
        return (
            f"BatchRecord({self.type.value} {self.amount} {mask_keep_first6_last4(self.pan)}"
            f" stan {self.stan} reversed {self.reversed_amount})"
        )


def build_batch_upload(
    record: BatchRecord,
    terminal: CardAcceptor,
    dialect: Dialect,
    *,
    stan: str,
    when: datetime,
    batch: str,
) -> IsoMessage:
    """0320 for one transaction of the batch: the original's data, its
    processing code and amount, 37/38/39 of the answer it got, field 90 for
    the original message, field 95 when (part of) it was reversed."""
    conv = dialect.conventions
    _digits(stan, 6, "STAN")
    _digits(batch, 6, "batch number")
    card = Card(
        record.pan,
        expiry=record.expiry,
        sequence=record.sequence,
        entry_mode=record.entry_mode,
        icc_data=record.icc_data,
    )
    elements = _transaction_elements(
        record.type, record.amount, card, record.when, terminal, conv,
        cashback=record.cashback, batch=batch,
    )  # fmt: skip
    elements.update(
        {
            E.TRANSMISSION: _f7(when),
            E.STAN: stan,
            E.RESPONSE_CODE: record.response_code,
            E.ORIGINAL_DATA: format_original_data(record.mti, record.stan, record.transmission),
            E.RRN: record.rrn,
            E.AUTH_CODE: (
                _ans(record.auth_code, 6, "authorization code") if record.auth_code else None
            ),
        }
    )
    if record.reversed_amount:
        elements[E.REPLACEMENT] = _replacement_amounts(record.amount - record.reversed_amount)
    return _assemble("0320", dialect, elements)


def batch_record_from_upload(msg: IsoMessage, dialect: Dialect, *, year: int) -> BatchRecord:
    """The host side of build_batch_upload (``year`` completes fields 12/13)."""
    conv = dialect.conventions
    codes = {v: k for k, v in conv.processing_codes.items()}
    kind = codes.get(msg.text(3))
    if kind not in ("purchase", "cashback", "refund"):
        raise Iso8583Error("batch upload with an unknown processing code")
    amount = int(msg.text(4))
    mti, stan, transmission = parse_original_data(msg.text(conv.original_data_field))
    replacement = msg.text_or_none(conv.replacement_amounts_field)
    remaining = _parse_replacement(replacement) if replacement is not None else amount
    if remaining > amount:
        raise Iso8583Error("replacement amount above the original amount")
    cashback = 0
    extra = msg.text_or_none(conv.additional_amounts_field)
    if extra:
        for _acct, amount_type, _cur, value in parse_additional_amounts(extra):
            if amount_type == conv.cashback_amount_type:
                cashback = abs(value)
    try:
        return BatchRecord(
            type=TxnType(kind),
            amount=amount,
            pan=msg.text(2),
            stan=stan,
            when=_local_time(msg, year),
            transmission=transmission,
            mti=mti,
            response_code=msg.text(39),
            rrn=msg.text_or_none(conv.rrn_field),
            cashback=cashback,
            reversed_amount=amount - remaining,
        )
    except MessageBuildError as exc:
        raise Iso8583Error(f"malformed batch upload: {exc}") from None
