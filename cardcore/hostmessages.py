# Strategy: what the terminal tells the acquirer host about a transaction of
# its journal, from one place. A card row is the record of the message the
# host knows the transaction by (ISO 8583:1987 clause 4.1.1: the 0200
# request, or the 0220 advice of an offline approval, `extra["original-mti"]`),
# and every later message about it - the void's 0400 naming that original,
# the advice stored for forwarding, the 0320 of the batch upload - is built
# from the row through the functions below and the dialect's message tables
# (acquirers.iso8583.messages), so what they say of the original cannot
# drift apart: its MTI, its batch number (field 60), its approval code (38),
# response code (39) and currency (49: the transaction's, which may be one
# the acquirer takes besides the terminal's).
from __future__ import annotations

import dataclasses
import datetime as dt

from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.dialect import Conventions, Dialect
from acquirers.iso8583.messages import (
    BatchRecord,
    Card,
    CardAcceptor,
    FinancialRequest,
    TxnType,
    build_advice,
    build_financial,
)
from cardcore.journal import TxnRecord

__all__ = [
    "HOST_TYPES",
    "ORIGINAL_MTI",
    "approval",
    "batch_record",
    "card",
    "financial_request",
    "original_message",
    "original_mti",
    "sender",
]

# Card operations as the host books them (ISO 8583 processing codes 00/09/20).
HOST_TYPES = {
    "purchase": TxnType.PURCHASE,
    "purchase-with-cashback": TxnType.CASHBACK,
    "refund": TxnType.REFUND,
}
# The journal row's key for the message the host knows the transaction by.
ORIGINAL_MTI = "original-mti"


def original_mti(record: TxnRecord) -> str:
    """0220 for an offline approval told by an advice, else 0200."""
    return "0220" if record.extra.get(ORIGINAL_MTI) == "0220" else "0200"


def approval(record: TxnRecord, conv: Conventions) -> tuple[str, str | None]:
    """(response code, approval code) the host holds for the row: those of
    its answer, or for an advice the offline code in both (Y1, or Y3 when
    the host could not be reached; the approval code the advice carries)."""
    if original_mti(record) == "0220":
        name = "unable_online" if record.extra.get("unable-online") else "approved_offline"
        code = conv.offline_response_codes[name]
        return code, code.ljust(6)
    auth = (record.auth_code or "").strip() or None
    return record.resp_code or "00", auth if auth is not None and len(auth) <= 6 else None


def financial_request(
    record: TxnRecord, pan: str, *, batch: str, icc_data: bytes | None = None
) -> FinancialRequest:
    """The row's transaction as its original message said it. ``icc_data``:
    field 55, which the journal does not keep (only a message built while
    the card is there has it)."""
    kind = HOST_TYPES.get(record.operation)
    if kind is None:
        raise ValueError(f"operation {record.operation} is not a card transaction of the host")
    return FinancialRequest(
        type=kind,
        amount=record.amount,
        cashback=record.amount_other,
        card=card(record, pan, icc_data=icc_data),
        stan=record.stan or "000000",
        when=record.when,
        batch=batch,
    )


def card(record: TxnRecord, pan: str, *, icc_data: bytes | None = None) -> Card:
    """What the row keeps of the card (no secrets: never track data or PIN)."""
    return Card(
        pan=pan,
        expiry=record.expiry[:4] if record.expiry else None,
        sequence=record.extra.get("psn"),
        entry_mode=str(record.extra.get("entry-mode", "051")),
        icc_data=icc_data,
    )


def original_message(
    record: TxnRecord,
    pan: str,
    terminal: CardAcceptor,
    dialect: Dialect,
    *,
    batch: str,
    icc_data: bytes | None = None,
) -> IsoMessage:
    """The message the host knows the row's transaction by (0200 or 0220),
    as it was sent; what a void reverses and what store-and-forward sends for
    an offline approval."""
    request = financial_request(record, pan, batch=batch, icc_data=icc_data)
    terminal = sender(terminal, record.currency)
    if original_mti(record) == "0220":
        return build_advice(
            request, terminal, dialect, unable_online=bool(record.extra.get("unable-online"))
        )
    return build_financial(request, terminal, dialect)


def sender(terminal: CardAcceptor, currency: str | None) -> CardAcceptor:
    """The terminal as a message about a transaction in ``currency`` names
    it: field 49 is the transaction's currency."""
    if not currency or currency == terminal.currency:
        return terminal
    return dataclasses.replace(terminal, currency=currency)


def batch_record(
    record: TxnRecord, pan: str, conv: Conventions, kind: TxnType, *, whole: bool
) -> BatchRecord:
    """The 0320 record of a row the host booked (``whole``: reversed whole)."""
    code, auth = approval(record, conv)
    kept = card(record, pan)
    return BatchRecord(
        type=kind,
        amount=record.amount,
        pan=pan,
        stan=record.stan or "000000",
        when=record.when,
        transmission=_transmission(record.when),
        mti=original_mti(record),
        response_code=code,
        rrn=record.rrn,
        auth_code=auth,
        expiry=kept.expiry,
        entry_mode=kept.entry_mode,
        sequence=kept.sequence,
        cashback=record.amount_other,
        reversed_amount=record.amount if whole else record.reversed_amount,
    )


def _transmission(when: dt.datetime) -> str:
    """Field 7 of the original message (messages._f7: UTC)."""
    return when.astimezone(dt.UTC).strftime("%m%d%H%M%S")
