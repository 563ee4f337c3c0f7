# Strategy: the journal's transaction rows: written with their queued
# messages (a reversal, an advice) in one commit, checked there against what
# is left of the original they name (cardcore.ledger.claims hands the check
# in), and read back by the lookups the operations and end of day need.
from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from base.pan import mask_keep_last4
from cardcore.journal.records import (
    COLUMNS,
    JournalError,
    Linked,
    TxnRecord,
    now,
    record_values,
    row_to_record,
)
from cardcore.journal.store import Store

__all__ = ["Transactions"]

# What the rows linked to one transaction (its refunds and voids) amount to,
# by operation and state: the ledger decides what counts (cardcore.ledger.claims).
_CLAIMS_SQL = (
    "SELECT operation, state, COALESCE(SUM(amount - reversed_amount), 0) FROM transactions "
    "WHERE original_id = ? GROUP BY operation, state"
)


class Transactions(Store):
    # --- transactions ---------------------------------------------------
    def protect_pan(self, record: TxnRecord, pan: str, keep: bool = False) -> None:
        record.masked_pan = mask_keep_last4(pan)
        record.pan_hash = self.protector.hash(pan)
        record.pan_enc = self.protector.seal(pan.encode(), b"pan") if keep else None

    def pan_matches(self, record: TxnRecord, pan: str) -> bool:
        """Whether ``pan`` is the card of ``record`` (by its keyed hash)."""
        if record.pan_hash is None:
            return False
        return hmac.compare_digest(self.protector.hash(pan), record.pan_hash)

    def reveal_pan(self, record: TxnRecord) -> str | None:
        if record.pan_enc is None:
            return None
        return self.protector.open(record.pan_enc, b"pan").decode()

    @staticmethod
    def _insert(db: sqlite3.Connection, record: TxnRecord, seq_counter: str) -> TxnRecord:
        record.batch_id = Store._open_batch_id(db) or 0
        record.seq = f"{Store._next(db, seq_counter, 999_999):06d}"
        names = [n for n in COLUMNS if n != "id"]
        cursor = db.execute(
            f"INSERT INTO transactions({', '.join(names)}) "  # noqa: S608 - column names are ours
            f"VALUES ({', '.join('?' * len(names))})",
            record_values(record, names),
        )
        record.id = int(cursor.lastrowid or 0)
        return record

    @staticmethod
    def _linked(db: sqlite3.Connection, txn_id: int) -> Linked:
        row = db.execute("SELECT seq, amount FROM transactions WHERE id = ?", (txn_id,)).fetchone()
        if row is None:
            raise JournalError(f"no transaction {txn_id}")
        sums = {(op, state): int(total) for op, state, total in db.execute(_CLAIMS_SQL, (txn_id,))}
        return Linked(seq=row[0], amount=int(row[1]), sums=sums)

    async def linked(self, txn_id: int) -> Linked:
        """A transaction and what the rows naming it amount to."""
        return await self.run(lambda db: self._linked(db, txn_id), atomic=False)

    @staticmethod
    def _reverse_original(db: sqlite3.Connection, record: TxnRecord, amount: int) -> None:
        if amount:
            cursor = db.execute(
                "UPDATE transactions SET reversed_amount = reversed_amount + ? WHERE id = ?",
                (amount, record.original_id),
            )
            if cursor.rowcount != 1:
                raise JournalError(f"transaction {record.seq} names no original to reverse")

    async def create(
        self,
        record: TxnRecord,
        *,
        seq_counter: str = "seq",
        reversal: bytes | None = None,
        pending: list[tuple[str, bytes]] | None = None,
        check: Callable[[Linked], object] | None = None,
        reverse_original: int = 0,
        counters: Mapping[str, int] | None = None,
    ) -> TxnRecord:
        """Insert a transaction (allocating its seq) and, in the same commit, its
        pending messages (a reversal, advices). ``check``: called with what is
        already linked to ``record.original_id``, in this commit, before the
        row is written (it raises to refuse, and nothing is written);
        ``reverse_original``: an amount added to the original's reversed
        amount (an approved void); ``counters``: values the named counters
        take in the same commit (numbers handed out from memory)."""
        messages = list(pending or [])
        if reversal is not None:
            messages.insert(0, ("reversal", reversal))
        await self.run(
            self._writer(
                record, None, seq_counter=seq_counter, add=messages, check=check,
                reverse_original=reverse_original, counters=counters,
            )
        )  # fmt: skip
        return record

    async def create_many(self, records: list[TxnRecord], *, seq_counter: str = "seq") -> None:
        """Insert finished transactions in one commit (imports, benchmarks and
        tests that need a big batch; the engine writes one at a time)."""

        def insert(db: sqlite3.Connection) -> None:
            for record in records:
                self._insert(db, record, seq_counter)

        await self.run(insert)

    async def update(
        self,
        record: TxnRecord,
        names: list[str],
        *,
        drop_pending: str | Sequence[str] | None = None,
        add_pending: tuple[str, bytes] | Sequence[tuple[str, bytes]] | None = None,
        reverse_original: int = 0,
        counters: Mapping[str, int] | None = None,
    ) -> None:
        """Update columns of a record and its pending messages in one commit:
        e.g. approve and drop the reversal, or mark declined and keep it.
        Pending messages of the kinds in ``drop_pending`` go before those in
        ``add_pending`` are queued. ``reverse_original``: an amount added, in
        the same commit, to the reversed amount of the record's original (an
        approved refund that its channel counts that way)."""
        drops = [drop_pending] if isinstance(drop_pending, str) else list(drop_pending or [])
        if isinstance(add_pending, tuple) and isinstance(add_pending[0], str):
            adds = [add_pending]
        else:
            adds = list(add_pending or [])  # type: ignore[arg-type]
        await self.run(
            self._writer(
                record, names, drop=drops, add=adds, reverse_original=reverse_original,
                counters=counters,
            )
        )  # fmt: skip

    def _writer(
        self,
        record: TxnRecord,
        names: list[str] | None,
        *,
        seq_counter: str = "seq",
        drop: Sequence[str] = (),
        add: Sequence[tuple[str, bytes]] = (),
        check: Callable[[Linked], object] | None = None,
        reverse_original: int = 0,
        counters: Mapping[str, int] | None = None,
    ) -> Callable[[sqlite3.Connection], None]:
        """One commit for a transaction: insert it (``names`` None) or update
        ``names``, drop its pending messages of the ``drop`` kinds, queue
        ``add``, and what goes with them (see create)."""
        sealed = [(kind, self._seal_payload(kind, payload)) for kind, payload in add]
        if (check is not None or reverse_original) and record.original_id is None:
            raise JournalError("a refund or void must name its original transaction")

        def write(db: sqlite3.Connection) -> None:
            if names is None:
                if check is not None and record.original_id is not None:
                    check(self._linked(db, record.original_id))
                self._insert(db, record, seq_counter)
            else:
                self._update(db, record, names)
            for kind in drop:
                db.execute("DELETE FROM pending WHERE txn_id = ? AND kind = ?", (record.id, kind))
            for kind, blob in sealed:
                db.execute(
                    "INSERT INTO pending(txn_id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                    (record.id, kind, blob, now()),
                )
            self._reverse_original(db, record, reverse_original)
            for name, value in (counters or {}).items():
                self._set_counter(db, name, value)

        return write

    async def get(self, txn_id: int) -> TxnRecord | None:
        def query(db: sqlite3.Connection) -> TxnRecord | None:
            row = db.execute("SELECT * FROM transactions WHERE id = ?", (txn_id,)).fetchone()
            return row_to_record(row) if row else None

        return await self.run(query, atomic=False)

    async def recent(self, limit: int = 10) -> list[TxnRecord]:
        """The newest transactions of any batch, newest first."""

        def query(db: sqlite3.Connection) -> list[TxnRecord]:
            rows = db.execute(
                "SELECT * FROM transactions ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
            return [row_to_record(r) for r in rows]

        return await self.run(query, atomic=False)

    async def find_by_seq(self, seq: str, channel: str = "card") -> TxnRecord | None:
        """The transaction of the open batch with this receipt number."""

        def query(db: sqlite3.Connection) -> TxnRecord | None:
            row = db.execute(
                "SELECT t.* FROM transactions t JOIN batches b ON b.id = t.batch_id "
                "WHERE b.state = 'open' AND t.channel = ? AND t.seq = ? ORDER BY t.id DESC",
                (channel, seq),
            ).fetchone()
            return row_to_record(row) if row else None

        return await self.run(query, atomic=False)

    async def last(self, channel: str | None = None, **where: Any) -> TxnRecord | None:
        """The newest transaction of the open batch matching the column filters."""

        def query(db: sqlite3.Connection) -> TxnRecord | None:
            clauses = ["b.state = 'open'"]
            args: list[Any] = []
            if channel is not None:
                clauses.append("t.channel = ?")
                args.append(channel)
            for name, value in where.items():
                if name not in COLUMNS:
                    raise JournalError(f"unknown column {name}")
                clauses.append(f"t.{name} = ?")
                args.append(value)
            row = db.execute(
                "SELECT t.* FROM transactions t JOIN batches b ON b.id = t.batch_id "  # noqa: S608
                f"WHERE {' AND '.join(clauses)} ORDER BY t.id DESC LIMIT 1",
                args,
            ).fetchone()
            return row_to_record(row) if row else None

        return await self.run(query, atomic=False)

    async def in_states(self, states: list[str]) -> list[TxnRecord]:
        """Rows of any batch in the given states (crash recovery)."""

        def query(db: sqlite3.Connection) -> list[TxnRecord]:
            marks = ", ".join("?" * len(states))
            rows = db.execute(
                f"SELECT * FROM transactions WHERE state IN ({marks}) ORDER BY id",  # noqa: S608
                states,
            ).fetchall()
            return [row_to_record(r) for r in rows]

        return await self.run(query, atomic=False)

    async def find_purchase(self, rrn: str, channel: str = "card") -> TxnRecord | None:
        """The newest approved purchase with this RRN, in any batch: what a
        refund names (a void copies its original's RRN, so it is no match)."""

        def query(db: sqlite3.Connection) -> TxnRecord | None:
            row = db.execute(
                "SELECT * FROM transactions WHERE channel = ? AND rrn = ? "
                "AND receipt_type = 'purchase' AND tstatus = 'approved' ORDER BY id DESC LIMIT 1",
                (channel, rrn),
            ).fetchone()
            return row_to_record(row) if row else None

        return await self.run(query, atomic=False)

    async def sum_by_pan_hash(self, pan_hash: bytes, since: str) -> int:
        """Approved amounts on one card since ``since`` (split-sales check, EMV Book 3 10.6.1)."""

        def query(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM transactions "
                "WHERE pan_hash = ? AND tstatus = 'approved' AND datetime >= ? "
                "AND receipt_type = 'purchase'",
                (pan_hash, since),
            ).fetchone()
            return int(row[0])

        return await self.run(query, atomic=False)

    def iter_batch(self, batch_id: int, chunk: int = 500) -> Iterator[list[TxnRecord]]:
        """Synchronous, chunked iteration (run it from a worker thread): constant memory."""
        sql = "SELECT * FROM transactions WHERE batch_id = ? AND id > ? ORDER BY id LIMIT ?"
        last_id = 0
        while True:
            args = (batch_id, last_id, chunk)
            rows: list[sqlite3.Row] = self._sync(lambda db: db.execute(sql, args).fetchall())  # noqa: B023 - used at once
            if not rows:
                return
            records = [row_to_record(r) for r in rows]
            last_id = records[-1].id
            yield records
