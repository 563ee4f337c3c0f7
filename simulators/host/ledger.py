# Strategy: the books of the simulated acquirer/issuer. Card accounts are kept
# by a keyed hash of the PAN (HMAC-SHA-256), never by the PAN itself; each
# holds a balance, an optional PIN for online PIN verification with a try
# counter, and the currency. The acquirer side keeps, per terminal, the open
# batch of approved transactions (keyed by TID + original MTI + STAN +
# transmission time, the identity field 90 carries), the reversals applied
# (one per original: a repeated 0400/0401 changes nothing), the advices
# applied (a repeated 0220/0221 changes nothing) and the records of a batch
# upload in progress. Totals are computed from the batch the way the terminal
# computes them (messages.BatchTotals), per currency (field 49 of the message
# that booked each transaction), so the two can be compared: a reconciliation
# in one currency closes that currency's part of the batch and leaves the
# others open. The last batch closed for each terminal and currency is
# remembered with the answer that closed it, so a terminal that repeats the
# settlement of that batch (it crashed before recording the answer) gets the
# same answer again instead of closing twice.
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from acquirers.iso8583.messages import BatchRecord, BatchTotals, TxnType

__all__ = ["Account", "HostTxn", "IssuerLedger", "TerminalBatch", "TxnKey"]


@dataclass
class Account:
    balance: int
    currency: str = "643"
    pin: str | None = None
    pin_tries_left: int = 3
    blocked: bool = False

    def __repr__(self) -> str:
        return f"Account(balance={self.balance}, currency={self.currency}, blocked={self.blocked})"


@dataclass(frozen=True)
class TxnKey:
    tid: str
    mti: str
    stan: str
    transmission: str


@dataclass
class HostTxn:
    key: TxnKey
    type: TxnType
    amount: int
    pan_hash: str
    rrn: str
    auth_code: str
    response_code: str
    cashback: int = 0
    reversed_amount: int = 0
    currency: str = "643"  # field 49 of the message that booked it

    def record(self) -> BatchRecord:
        """As a BatchRecord (the PAN is not kept: a placeholder stands in)."""
        return BatchRecord(
            type=self.type,
            amount=self.amount,
            pan="0" * 16,
            stan=self.key.stan,
            when=datetime(2000, 1, 1),
            transmission=self.key.transmission,
            mti=self.key.mti,
            response_code=self.response_code,
            rrn=self.rrn,
            cashback=self.cashback,
            reversed_amount=self.reversed_amount,
        )


@dataclass
class TerminalBatch:
    number: str = ""
    transactions: dict[TxnKey, HostTxn] = field(default_factory=dict)
    uploaded: list[BatchRecord] = field(default_factory=list)
    currency: str | None = None  # of a closed batch: the currency reconciled

    def totals(self, currency: str) -> BatchTotals:
        """The totals of the transactions in ``currency`` (amounts in
        different currencies are never added up)."""
        return BatchTotals.of(t.record() for t in self.in_currency(currency))

    def in_currency(self, currency: str) -> list[HostTxn]:
        return [t for t in self.transactions.values() if t.currency == currency]


class IssuerLedger:
    """Accounts by PAN hash and per-terminal batches."""

    def __init__(self, hash_key: bytes | None = None, *, open_balance: int | None = None) -> None:
        self._hash_key = hash_key or secrets.token_bytes(32)
        self._accounts: dict[str, Account] = {}
        self.open_balance = open_balance  # unknown cards get an account with this balance
        self.batches: dict[str, TerminalBatch] = {}
        self.closed_batches: list[tuple[str, TerminalBatch]] = []
        self.reversed: set[TxnKey] = set()  # originals a reversal was applied for
        self.advised: set[TxnKey] = set()
        self.responses: dict[TxnKey, tuple[str, dict[int, str | bytes]]] = {}
        # (TID, currency) -> the batch number last closed, the terminal's
        # totals for it and the fields of the answer that closed it.
        self.settled: dict[tuple[str, str], tuple[str, BatchTotals, dict[int, str | bytes]]] = {}

    @property
    def hash_key(self) -> bytes:
        """The key of the PAN hashes (kept with the books: simulators.host.state)."""
        return self._hash_key

    def accounts(self) -> dict[str, Account]:
        """The accounts by PAN hash."""
        return dict(self._accounts)

    def put_account(self, pan_hash: str, account: Account) -> None:
        """Keep ``account`` under ``pan_hash`` (an account restored from disk)."""
        self._accounts[pan_hash] = account

    def pan_hash(self, pan: str) -> str:
        return hmac.new(self._hash_key, pan.encode("ascii"), hashlib.sha256).hexdigest()

    def open_account(
        self, pan: str, balance: int, *, pin: str | None = None, currency: str = "643"
    ) -> Account:
        account = Account(balance=balance, currency=currency, pin=pin)
        self._accounts[self.pan_hash(pan)] = account
        return account

    def account(self, pan: str) -> Account | None:
        found = self._accounts.get(self.pan_hash(pan))
        if found is None and self.open_balance is not None:
            found = self.open_account(pan, self.open_balance)
        return found

    def account_by_hash(self, pan_hash: str) -> Account | None:
        return self._accounts.get(pan_hash)

    def balance(self, pan: str) -> int:
        account = self._accounts.get(self.pan_hash(pan))
        if account is None:
            raise KeyError("no such account")
        return account.balance

    def batch(self, tid: str) -> TerminalBatch:
        return self.batches.setdefault(tid, TerminalBatch())

    def find(self, key: TxnKey) -> HostTxn | None:
        batch = self.batches.get(key.tid)
        return batch.transactions.get(key) if batch else None

    def post(self, txn: HostTxn) -> None:
        """Book an approved transaction on the account and in the batch."""
        account = self._accounts.get(txn.pan_hash)
        if account is not None:
            account.balance += -txn.amount if txn.type.is_debit else txn.amount
        self.batch(txn.key.tid).transactions[txn.key] = txn

    def reverse(self, key: TxnKey, remaining: int | None) -> bool:
        """Apply a reversal of ``key``: the amount that stays becomes
        ``remaining`` (field 95; None: nothing stays). Several partial
        reversals may follow one another; a repeat that lowers nothing is not
        applied again (False). A reversal for an original that never arrived is
        remembered, so a late original cannot be booked after it."""
        txn = self.find(key)
        if txn is None:
            if key in self.reversed:
                return False
            self.reversed.add(key)
            return True
        kept = txn.amount - txn.reversed_amount
        new_remaining = 0 if remaining is None else min(remaining, kept)
        if new_remaining >= kept:
            return False
        undo = kept - new_remaining
        txn.reversed_amount += undo
        if new_remaining == 0:
            self.reversed.add(key)
        account = self._accounts.get(txn.pan_hash)
        if account is not None:
            account.balance += undo if txn.type.is_debit else -undo
        return True

    def close_batch(self, tid: str, currency: str | None = None) -> TerminalBatch:
        """Archive the terminal's batch (with any uploaded records) and open a
        new one; with ``currency``, only that currency's transactions: the
        others stay in the open batch for their own reconciliation."""
        batch = self.batches.pop(tid, TerminalBatch())
        if currency is not None:
            others = {k: t for k, t in batch.transactions.items() if t.currency != currency}
            if others:
                self.batches[tid] = TerminalBatch(number=batch.number, transactions=others)
            batch.transactions = {
                k: t for k, t in batch.transactions.items() if t.currency == currency
            }
            batch.currency = currency
        self.closed_batches.append((tid, batch))
        return batch

    def totals(self, tid: str, currency: str = "643") -> BatchTotals:
        """The totals of the terminal's open batch in ``currency``."""
        return self.batch(tid).totals(currency)
