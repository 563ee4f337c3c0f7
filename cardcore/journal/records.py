# Strategy: what the journal keeps, as Python values: a transaction row
# (TxnRecord; the full PAN only in sealed form, PCI DSS 3.4), a settlement
# row, a queued message, and the keyed hash and AEAD that protect card data
# and queued payloads. Rows are converted to and from SQLite here only.
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
from dataclasses import dataclass, field, fields
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.errors import CardcoreError

__all__ = [
    "COLUMNS",
    "JournalError",
    "Linked",
    "PanProtector",
    "Pending",
    "SettlementRow",
    "TxnRecord",
    "now",
    "record_values",
    "row_to_record",
    "settlement_row",
]


class JournalError(CardcoreError):
    """Journal access failed."""


class PanProtector:
    """Keyed hash for matching and AEAD encryption for what must be kept."""

    def __init__(self, hash_key: bytes, encryption_key: bytes) -> None:
        self._hash_key = hash_key
        self._aead = AESGCM(encryption_key)

    def hash(self, pan: str) -> bytes:
        return hmac.new(self._hash_key, pan.encode(), hashlib.sha256).digest()

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, context)

    def open(self, blob: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context)
        except InvalidTag:
            raise JournalError("journal record does not decrypt with the journal key") from None


@dataclass
class TxnRecord:
    """One row of `transactions` (full PAN only in sealed form)."""

    id: int = 0
    batch_id: int = 0
    seq: str = ""
    channel: str = "card"
    operation: str = "purchase"
    receipt_type: str = "purchase"
    state: str = "new"
    tstatus: str | None = None
    amount: int = 0
    amount_other: int = 0
    currency: str = "643"
    masked_pan: str | None = None
    pan_hash: bytes | None = None
    pan_enc: bytes | None = None
    expiry: str | None = None
    aid: str | None = None
    scheme_rid: str | None = None
    scheme_name: str | None = None
    interface: str | None = None
    stan: str | None = None
    rrn: str | None = None
    auth_code: str | None = None
    resp_code: str | None = None
    tvr: str | None = None
    tsi: str | None = None
    datetime: str = ""
    original_id: int | None = None
    reversed_amount: int = 0
    decline_reason: str | None = None
    receipt: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.datetime)


_JSON_COLUMNS = {"receipt", "extra"}
COLUMNS = [f.name for f in fields(TxnRecord)]


def row_to_record(row: sqlite3.Row) -> TxnRecord:
    values = dict(row)
    for name in _JSON_COLUMNS:
        raw = values.get(name)
        values[name] = json.loads(raw) if raw else ({} if name == "extra" else None)
    return TxnRecord(**values)


def record_values(record: TxnRecord, names: list[str]) -> list[Any]:
    out = []
    for name in names:
        value = getattr(record, name)
        if name in _JSON_COLUMNS:
            value = json.dumps(value, ensure_ascii=False) if value is not None else None
        out.append(value)
    return out


@dataclass(frozen=True)
class SettlementRow:
    """One settlement (or clear) of a batch: the durable state of end of day."""

    id: int
    batch_id: int
    kind: str
    state: str
    forced: bool
    attempts: int
    started_at: str
    finished_at: str | None
    totals: dict[str, Any]
    outcome: str | None
    report: dict[str, Any] | None
    currency: str | None = None  # None: the terminal's (a row of schema 3 or older)


def settlement_row(row: sqlite3.Row) -> SettlementRow:
    return SettlementRow(
        id=int(row["id"]),
        batch_id=int(row["batch_id"]),
        kind=row["kind"],
        state=row["state"],
        forced=bool(row["forced"]),
        attempts=int(row["attempts"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        totals=json.loads(row["totals"]) if row["totals"] else {},
        outcome=row["outcome"],
        report=json.loads(row["report"]) if row["report"] else None,
        currency=row["currency"],
    )


@dataclass(frozen=True)
class Linked:
    """A transaction and the sums of the rows that name it as their original,
    by (operation, state)."""

    seq: str
    amount: int
    sums: dict[tuple[str, str], int]


@dataclass(frozen=True)
class Pending:
    id: int
    txn_id: int | None
    kind: str
    payload: bytes  # decrypted
    attempts: int


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
