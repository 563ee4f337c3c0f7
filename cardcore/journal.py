# Strategy: the crash-safe transaction journal (issue: "money is never lost or
# doubled").
# - SQLite in the data dir, WAL, synchronous=FULL: a commit is on disk when it
#   returns. Every state change of a transaction and of its store-and-forward
#   messages happens in one SQL transaction, so a crash leaves either the
#   state before or after it.
# - The reversal of a financial request is written (durably) before the
#   request leaves, and deleted only after the host answered and the card
#   completed; pending reversals and advices are sent before the next
#   financial message and on start-up (store-and-forward, ISO 8583 practice).
# - The full PAN is never stored in clear (PCI DSS 3.4): rows keep the masked
#   PAN, a keyed hash (HMAC-SHA256) for matching, and, where a later message
#   needs it, the PAN encrypted with AES-256-GCM under a key from the key
#   store. Store-and-forward payloads (encoded ISO 8583 messages carrying the
#   PAN) are encrypted the same way.
# - Receipt numbers (`seq`, six digits) and the STAN come from counters in the
#   same database, so they survive restarts and never repeat within a batch.
# SQLite calls run in a worker thread, one at a time, so the event loop never
# waits on fsync.
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cardcore.storage import create_private
from kernel.errors import CardcoreError

__all__ = [
    "Journal",
    "JournalError",
    "Linked",
    "PanProtector",
    "Pending",
    "SettlementRow",
    "TxnRecord",
    "mask_pan",
]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,            -- open | closed
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    settlement TEXT                 -- JSON of the settlement report that closed it
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    seq TEXT NOT NULL,
    channel TEXT NOT NULL,          -- card | sbp
    operation TEXT NOT NULL,        -- purchase | refund | purchase-with-cashback | void
    receipt_type TEXT NOT NULL,     -- purchase | refund | purchasereversal | refundreversal
    state TEXT NOT NULL,            -- the engine's transaction state
    tstatus TEXT,                   -- approved | declined
    amount INTEGER NOT NULL,
    amount_other INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    masked_pan TEXT,
    pan_hash BLOB,
    pan_enc BLOB,
    expiry TEXT,
    aid TEXT,
    scheme_rid TEXT,
    scheme_name TEXT,
    interface TEXT,
    stan TEXT,
    rrn TEXT,
    auth_code TEXT,
    resp_code TEXT,
    tvr TEXT,
    tsi TEXT,
    datetime TEXT NOT NULL,         -- ISO 8601 with offset, local time of the terminal
    original_id INTEGER REFERENCES transactions(id),
    reversed_amount INTEGER NOT NULL DEFAULT 0,
    decline_reason TEXT,
    receipt TEXT,                   -- JSON: the receipt fields (never the full PAN)
    extra TEXT                      -- JSON: channel-specific data (SBP ids, ...)
);
CREATE INDEX IF NOT EXISTS transactions_batch ON transactions(batch_id, id);
CREATE INDEX IF NOT EXISTS transactions_seq ON transactions(channel, seq);
CREATE INDEX IF NOT EXISTS transactions_rrn ON transactions(rrn);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY,
    txn_id INTEGER REFERENCES transactions(id),
    kind TEXT NOT NULL,             -- reversal | advice | sbp-refund... | cutover
    payload BLOB NOT NULL,          -- encrypted
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS pending_txn ON pending(txn_id);
CREATE TABLE IF NOT EXISTS settlements (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    kind TEXT NOT NULL,             -- settlement | clear
    state TEXT NOT NULL,            -- cardcore.endofday.states.SettlementState
    forced INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    totals TEXT,                    -- JSON: the terminal's totals as sent to the host
    outcome TEXT,                   -- why it ended: in-balance, out-of-balance, refused, ...
    report TEXT                     -- JSON: the sreport answered
);
CREATE INDEX IF NOT EXISTS settlements_batch ON settlements(batch_id, id);
"""
# 3: no report_lines table and triggers (version 2 laid the full report's
# lines out when a transaction was written; the report now lays them out
# from its own layout table when it is asked for). Older journals are brought
# up to date when they are opened.
SCHEMA_VERSION = "3"
_LEGACY_REPORT_OBJECTS = (
    "DROP TRIGGER IF EXISTS report_line_insert",
    "DROP TRIGGER IF EXISTS report_line_update",
    "DROP TRIGGER IF EXISTS report_lines_close",
    "DROP TABLE IF EXISTS report_lines",
)

# The pending kind of a cutover a passed settlement still owes the host.
CUTOVER_KIND = "cutover"


class JournalError(CardcoreError):
    """Journal access failed."""

    status = "fileioerror"


def mask_pan(pan: str) -> str:
    """The manual's receipt form: asterisks and the last four digits."""
    return "*" * max(len(pan) - 4, 0) + pan[-4:]


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
_COLUMNS = [f.name for f in fields(TxnRecord)]


def _row_to_record(row: sqlite3.Row) -> TxnRecord:
    values = dict(row)
    for name in _JSON_COLUMNS:
        raw = values.get(name)
        values[name] = json.loads(raw) if raw else ({} if name == "extra" else None)
    return TxnRecord(**values)


def _record_values(record: TxnRecord, names: list[str]) -> list[Any]:
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


def _settlement_row(row: sqlite3.Row) -> SettlementRow:
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
    )


# What the rows linked to one transaction (its refunds and voids) amount to,
# by operation and state: the ledger decides what counts (cardcore.ledger.claims).
_CLAIMS_SQL = (
    "SELECT operation, state, COALESCE(SUM(amount - reversed_amount), 0) FROM transactions "
    "WHERE original_id = ? GROUP BY operation, state"
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


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Journal:
    """Async facade over one SQLite connection used from worker threads in turn."""

    def __init__(self, path: Path, protector: PanProtector) -> None:
        self.path = path
        self.protector = protector
        self._lock = threading.Lock()
        self._trio_lock = trio.Lock()
        try:
            if str(path) != ":memory:":  # (SQLite's name for a database with no file)
                create_private(path)  # SQLite's -wal and -shm files take its mode
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._upgrade(self._db)
            if self._open_batch_id(self._db) is None:
                self._db.execute(
                    "INSERT INTO batches(number, state, opened_at) VALUES (1, 'open', ?)", (_now(),)
                )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal: {exc}") from None

    @staticmethod
    def _upgrade(db: sqlite3.Connection) -> None:
        """Record the schema version of a new journal, or bring an older one up
        to date, in one commit."""
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is not None and row[0] not in ("1", "2", SCHEMA_VERSION):
                raise JournalError(f"journal schema {row[0]} is newer than this terminal's")
            for statement in _LEGACY_REPORT_OBJECTS:
                db.execute(statement)
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- running SQL off the event loop ---------------------------------
    def _sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                raise JournalError(f"journal: {exc}") from None

    def _atomic(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return self._sync(run)

    async def run(self, fn: Callable[[sqlite3.Connection], T], atomic: bool = True) -> T:
        """Run ``fn(db)`` in a worker thread; a cancel waits for it to finish, so a
        started write always completes or rolls back, never half-applies."""
        async with self._trio_lock:
            return await trio.to_thread.run_sync(self._atomic if atomic else self._sync, fn)

    # --- counters -------------------------------------------------------
    @staticmethod
    def _next(db: sqlite3.Connection, name: str, modulo: int, count: int = 1) -> int:
        """Take ``count`` consecutive values (1..modulo, wrapping); returns the first."""
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        first = (row[0] % modulo) + 1 if row else 1
        last = (first - 1 + count - 1) % modulo + 1
        db.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, last),
        )
        return first

    @staticmethod
    def _set_counter(db: sqlite3.Connection, name: str, value: int) -> None:
        db.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def counter(self, name: str) -> int:
        """A counter's last value (0 before its first use)."""
        row = self._sync(
            lambda db: db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        )
        return int(row[0]) if row else 0

    def set_counter_sync(self, name: str, value: int) -> None:
        """Write a counter now (numbers handed out from memory, about to be used
        outside any transaction's commit)."""
        self._atomic(lambda db: self._set_counter(db, name, value))

    async def next_counter(self, name: str, modulo: int = 999_999, count: int = 1) -> int:
        return await self.run(lambda db: self._next(db, name, modulo, count))

    def next_counter_sync(self, name: str, modulo: int = 999_999, count: int = 1) -> int:
        """For sans-I/O callers that need a number now (the STAN source)."""
        return self._atomic(lambda db: self._next(db, name, modulo, count))

    # --- batches --------------------------------------------------------
    @staticmethod
    def _open_batch_id(db: sqlite3.Connection) -> int | None:
        row = db.execute("SELECT id FROM batches WHERE state = 'open'").fetchone()
        return int(row[0]) if row else None

    async def open_batch(self) -> tuple[int, int]:
        """(id, number) of the open batch."""

        def query(db: sqlite3.Connection) -> tuple[int, int]:
            row = db.execute("SELECT id, number FROM batches WHERE state = 'open'").fetchone()
            return int(row[0]), int(row[1])

        return await self.run(query, atomic=False)

    async def close_batch(self, settlement: Mapping[str, Any]) -> int:
        """Close the open batch (archived, kept for audit) and open the next one,
        in one transaction. Returns the new batch's id."""

        def close(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT id, number FROM batches WHERE state = 'open'").fetchone()
            db.execute(
                "UPDATE batches SET state = 'closed', closed_at = ?, settlement = ? WHERE id = ?",
                (_now(), json.dumps(settlement, ensure_ascii=False), row[0]),
            )
            cursor = db.execute(
                "INSERT INTO batches(number, state, opened_at) VALUES (?, 'open', ?)",
                (row[1] % 999_999 + 1, _now()),
            )
            return int(cursor.lastrowid or 0)

        return await self.run(close)

    # --- transactions ---------------------------------------------------
    def protect_pan(self, record: TxnRecord, pan: str, keep: bool = False) -> None:
        record.masked_pan = mask_pan(pan)
        record.pan_hash = self.protector.hash(pan)
        record.pan_enc = self.protector.seal(pan.encode(), b"pan") if keep else None

    def reveal_pan(self, record: TxnRecord) -> str | None:
        if record.pan_enc is None:
            return None
        return self.protector.open(record.pan_enc, b"pan").decode()

    @staticmethod
    def _insert(db: sqlite3.Connection, record: TxnRecord, seq_counter: str) -> TxnRecord:
        record.batch_id = Journal._open_batch_id(db) or 0
        record.seq = f"{Journal._next(db, seq_counter, 999_999):06d}"
        names = [n for n in _COLUMNS if n != "id"]
        cursor = db.execute(
            f"INSERT INTO transactions({', '.join(names)}) "  # noqa: S608 - column names are ours
            f"VALUES ({', '.join('?' * len(names))})",
            _record_values(record, names),
        )
        record.id = int(cursor.lastrowid or 0)
        return record

    @staticmethod
    def _update(db: sqlite3.Connection, record: TxnRecord, names: list[str]) -> None:
        unknown = set(names) - set(_COLUMNS) | ({"id"} & set(names))
        if unknown:
            raise JournalError(f"cannot update columns {sorted(unknown)}")
        if not names:
            return
        assignments = ", ".join(f"{n} = ?" for n in names)
        db.execute(
            f"UPDATE transactions SET {assignments} WHERE id = ?",  # noqa: S608 - our column names
            [*_record_values(record, names), record.id],
        )

    def _seal_payload(self, kind: str, payload: bytes) -> bytes:
        return self.protector.seal(payload, kind.encode())

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
                    (record.id, kind, blob, _now()),
                )
            self._reverse_original(db, record, reverse_original)
            for name, value in (counters or {}).items():
                self._set_counter(db, name, value)

        return write

    async def get(self, txn_id: int) -> TxnRecord | None:
        def query(db: sqlite3.Connection) -> TxnRecord | None:
            row = db.execute("SELECT * FROM transactions WHERE id = ?", (txn_id,)).fetchone()
            return _row_to_record(row) if row else None

        return await self.run(query, atomic=False)

    async def find_by_seq(self, seq: str, channel: str = "card") -> TxnRecord | None:
        """The transaction of the open batch with this receipt number."""

        def query(db: sqlite3.Connection) -> TxnRecord | None:
            row = db.execute(
                "SELECT t.* FROM transactions t JOIN batches b ON b.id = t.batch_id "
                "WHERE b.state = 'open' AND t.channel = ? AND t.seq = ? ORDER BY t.id DESC",
                (channel, seq),
            ).fetchone()
            return _row_to_record(row) if row else None

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
                if name not in _COLUMNS:
                    raise JournalError(f"unknown column {name}")
                clauses.append(f"t.{name} = ?")
                args.append(value)
            row = db.execute(
                "SELECT t.* FROM transactions t JOIN batches b ON b.id = t.batch_id "  # noqa: S608
                f"WHERE {' AND '.join(clauses)} ORDER BY t.id DESC LIMIT 1",
                args,
            ).fetchone()
            return _row_to_record(row) if row else None

        return await self.run(query, atomic=False)

    async def in_states(self, states: list[str]) -> list[TxnRecord]:
        """Rows of any batch in the given states (crash recovery)."""

        def query(db: sqlite3.Connection) -> list[TxnRecord]:
            marks = ", ".join("?" * len(states))
            rows = db.execute(
                f"SELECT * FROM transactions WHERE state IN ({marks}) ORDER BY id",  # noqa: S608
                states,
            ).fetchall()
            return [_row_to_record(r) for r in rows]

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
            return _row_to_record(row) if row else None

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
            records = [_row_to_record(r) for r in rows]
            last_id = records[-1].id
            yield records

    # --- store-and-forward ----------------------------------------------
    async def pending(self, kind: str | None = None) -> list[Pending]:
        def query(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if kind is None:
                rows = db.execute("SELECT * FROM pending ORDER BY id").fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM pending WHERE kind = ? ORDER BY id", (kind,)
                ).fetchall()
            return [tuple(r) for r in rows]

        rows = await self.run(query, atomic=False)
        return [
            Pending(
                id=r[0],
                txn_id=r[1],
                kind=r[2],
                payload=self.protector.open(r[3], r[2].encode()),
                attempts=r[4],
            )
            for r in rows
        ]

    async def pending_attempt(self, pending_id: int, error: str | None) -> None:
        await self.run(
            lambda db: db.execute(
                "UPDATE pending SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, pending_id),
            )
        )

    async def resolve_pending(
        self, pending_id: int, record: TxnRecord | None = None, names: list[str] | None = None
    ) -> None:
        """The host acknowledged: drop the message and, in the same commit,
        record what that means for its transaction."""

        def apply(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM pending WHERE id = ?", (pending_id,))
            if record is not None and names:
                self._update(db, record, names)

        await self.run(apply)

    async def count_pending(self, kinds: tuple[str, ...] | None = None) -> int:
        """Messages still to deliver (of the given kinds, or all)."""
        if kinds is None:
            return await self.run(
                lambda db: int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]),
                atomic=False,
            )
        marks = ", ".join("?" * len(kinds))
        sql = f"SELECT COUNT(*) FROM pending WHERE kind IN ({marks})"  # noqa: S608 - marks only
        return await self.run(lambda db: int(db.execute(sql, kinds).fetchone()[0]), atomic=False)

    # --- end of day: totals, report lines, settlement state -------------
    # Aggregates group the rows of a batch; the rules that decide what counts
    # where live in cardcore.endofday.totals, which reads these groups. Lines
    # and upload records are streamed in id order, a chunk at a time, so
    # memory stays constant whatever the size of the batch.
    def batch_groups_sync(self, batch_id: int) -> list[dict[str, Any]]:
        """Per (currency, channel, scheme, operation, receipt type, tstatus,
        state, response code): count, sums, reversed count and sum, first and
        last datetime. One row per group, whatever the batch size."""
        sql = (
            "SELECT currency, channel, COALESCE(scheme_rid, '') AS scheme_rid, "
            "COALESCE(scheme_name, '') AS scheme_name, operation, receipt_type, "
            "COALESCE(tstatus, '') AS tstatus, state, COALESCE(resp_code, '') AS resp_code, "
            "COUNT(*) AS count, SUM(amount) AS amount, SUM(amount_other) AS amount_other, "
            "SUM(reversed_amount > 0) AS reversed_count, SUM(reversed_amount) AS reversed, "
            "MIN(datetime) AS first, MAX(datetime) AS last "
            "FROM transactions WHERE batch_id = ? "
            "GROUP BY currency, channel, scheme_rid, scheme_name, operation, receipt_type, "
            "tstatus, state, resp_code"
        )
        return self._sync(lambda db: [dict(r) for r in db.execute(sql, (batch_id,)).fetchall()])

    async def batch_groups(self, batch_id: int) -> list[dict[str, Any]]:
        return await trio.to_thread.run_sync(self.batch_groups_sync, batch_id)

    def iter_chunks(
        self, sql: str, args: Mapping[str, Any], chunk: int = 2000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query, a chunk at a time in the order of their first
        column (a key): ``sql`` takes the named parameters ``:after`` (the
        last key read) and ``:chunk``. Synchronous (run it from a worker
        thread), constant memory."""
        params: dict[str, Any] = {**args, "after": -1, "chunk": chunk}

        def fetch(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursor = db.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, params).fetchall()

        while True:
            rows = self._sync(fetch)
            if not rows:
                return
            params["after"] = rows[-1][0]
            yield rows

    def batch_currencies_sync(self, batch_id: int) -> list[str]:
        rows = self._sync(
            lambda db: db.execute(
                "SELECT DISTINCT currency FROM transactions WHERE batch_id = ?", (batch_id,)
            ).fetchall()
        )
        return sorted(str(r[0]) for r in rows)

    async def batch_chunks(
        self, batch_id: int, chunk: int = 500, where: str = "", args: tuple[Any, ...] = ()
    ) -> AsyncIterator[list[TxnRecord]]:
        """Records of a batch in id order, one chunk per worker-thread call.
        ``where`` is an extra SQL condition of the caller's own (never input)."""
        last_id = 0
        extra = f" AND ({where})" if where else ""
        sql = (
            f"SELECT * FROM transactions WHERE batch_id = ? AND id > ?{extra} "  # noqa: S608
            "ORDER BY id LIMIT ?"
        )

        def query(after: int) -> Callable[[sqlite3.Connection], list[TxnRecord]]:
            def run(db: sqlite3.Connection) -> list[TxnRecord]:
                rows = db.execute(sql, (batch_id, after, *args, chunk)).fetchall()
                return [_row_to_record(r) for r in rows]

            return run

        while True:
            records = await self.run(query(last_id), atomic=False)
            if not records:
                return
            last_id = records[-1].id
            yield records

    async def batch_number(self, batch_id: int) -> int:
        def query(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT number FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise JournalError(f"no batch {batch_id}")
            return int(row[0])

        return await self.run(query, atomic=False)

    async def settlements(self, batch_id: int) -> list[SettlementRow]:
        """The settlements (and clear) of a batch, oldest first."""

        def query(db: sqlite3.Connection) -> list[SettlementRow]:
            rows = db.execute(
                "SELECT * FROM settlements WHERE batch_id = ? ORDER BY id", (batch_id,)
            ).fetchall()
            return [_settlement_row(r) for r in rows]

        return await self.run(query, atomic=False)

    async def unresolved_settlement(self) -> SettlementRow | None:
        """A settlement whose outcome at the host is not known yet (any batch)."""

        def query(db: sqlite3.Connection) -> SettlementRow | None:
            row = db.execute(
                "SELECT * FROM settlements WHERE state = 'reconciling' ORDER BY id DESC LIMIT 1"
            ).fetchone()
            return _settlement_row(row) if row else None

        return await self.run(query, atomic=False)

    async def settlement(self, settlement_id: int) -> SettlementRow:
        def query(db: sqlite3.Connection) -> SettlementRow:
            row = db.execute("SELECT * FROM settlements WHERE id = ?", (settlement_id,)).fetchone()
            if row is None:
                raise JournalError(f"no settlement {settlement_id}")
            return _settlement_row(row)

        return await self.run(query, atomic=False)

    async def begin_settlement(
        self, batch_id: int, *, kind: str, state: str, forced: bool, totals: Mapping[str, Any]
    ) -> SettlementRow:
        """Record a settlement before its first message leaves."""
        when = _now()

        def insert(db: sqlite3.Connection) -> SettlementRow:
            if Journal._open_batch_id(db) != batch_id:
                raise JournalError(f"batch {batch_id} is not the open batch")
            cursor = db.execute(
                "INSERT INTO settlements(batch_id, kind, state, forced, started_at, totals) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (batch_id, kind, state, int(forced), when, json.dumps(dict(totals))),
            )
            row = db.execute(
                "SELECT * FROM settlements WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            return _settlement_row(row)

        return await self.run(insert)

    async def retry_settlement(self, settlement_id: int, state: str) -> SettlementRow:
        """Another attempt at a settlement whose outcome is unknown."""

        def apply(db: sqlite3.Connection) -> SettlementRow:
            db.execute(
                "UPDATE settlements SET attempts = attempts + 1, state = ? WHERE id = ?",
                (state, settlement_id),
            )
            row = db.execute("SELECT * FROM settlements WHERE id = ?", (settlement_id,)).fetchone()
            return _settlement_row(row)

        return await self.run(apply)

    async def finish_settlement(
        self,
        settlement_id: int,
        state: str,
        *,
        outcome: str,
        report: Mapping[str, Any] | None,
        close_batch: bool = False,
        queue: str | None = None,
    ) -> int | None:
        """The final state of a settlement and, in the same commit, when
        ``close_batch``, the batch closed (archived) and the next one opened
        (its id is returned). ``queue``: a pending message of that kind for
        the settlement (its id as payload), e.g. the cutover still to run."""
        when = _now()
        text = json.dumps(dict(report), ensure_ascii=False) if report is not None else None
        queued = (
            self._seal_payload(queue, str(settlement_id).encode()) if queue is not None else None
        )

        def apply(db: sqlite3.Connection) -> int | None:
            row = db.execute(
                "SELECT batch_id FROM settlements WHERE id = ?", (settlement_id,)
            ).fetchone()
            if row is None:
                raise JournalError(f"no settlement {settlement_id}")
            batch_id = int(row[0])
            db.execute(
                "UPDATE settlements SET state = ?, outcome = ?, report = ?, finished_at = ? "
                "WHERE id = ?",
                (state, outcome, text, when, settlement_id),
            )
            if queue is not None:
                db.execute(
                    "INSERT INTO pending(txn_id, kind, payload, created_at) VALUES (NULL, ?, ?, ?)",
                    (queue, queued, when),
                )
            if not close_batch:
                return None
            batch = db.execute(
                "SELECT number, state FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            if batch["state"] != "open":
                raise JournalError(f"batch {batch_id} is already closed")
            db.execute(
                "UPDATE batches SET state = 'closed', closed_at = ?, settlement = ? WHERE id = ?",
                (when, text, batch_id),
            )
            cursor = db.execute(
                "INSERT INTO batches(number, state, opened_at) VALUES (?, 'open', ?)",
                (batch["number"] % 999_999 + 1, when),
            )
            return int(cursor.lastrowid or 0)

        return await self.run(apply)

    async def annotate_settlement(
        self, settlement_id: int, report: Mapping[str, Any], *, resolve: int | None = None
    ) -> None:
        """Replace the recorded sreport (e.g. with the cutover's result) and,
        in the same commit, drop the pending message ``resolve``."""
        text = json.dumps(dict(report), ensure_ascii=False)

        def apply(db: sqlite3.Connection) -> None:
            if resolve is not None:
                db.execute("DELETE FROM pending WHERE id = ?", (resolve,))
            db.execute("UPDATE settlements SET report = ? WHERE id = ?", (text, settlement_id))
            db.execute(
                "UPDATE batches SET settlement = ? WHERE id = "
                "(SELECT batch_id FROM settlements WHERE id = ?) AND state = 'closed'",
                (text, settlement_id),
            )

        await self.run(apply)

    async def clear_batch(
        self,
        batch_id: int,
        *,
        state: str,
        abandon_state: str,
        totals: Mapping[str, Any],
        report: Mapping[str, Any],
    ) -> tuple[int, int]:
        """`clear`: in one commit, record the clear (``state``), end any
        unresolved settlement of the batch (``abandon_state``), archive the
        batch and open the next. Returns (settlement id, new batch id)."""
        when = _now()
        text = json.dumps(dict(report), ensure_ascii=False)

        def apply(db: sqlite3.Connection) -> tuple[int, int]:
            batch = db.execute(
                "SELECT number, state FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            if batch is None or batch["state"] != "open":
                raise JournalError(f"batch {batch_id} is not the open batch")
            cursor = db.execute(
                "INSERT INTO settlements(batch_id, kind, state, started_at, finished_at, totals, "
                "outcome, report) VALUES (?, 'clear', ?, ?, ?, ?, 'cleared', ?)",
                (batch_id, state, when, when, json.dumps(dict(totals)), text),
            )
            settlement_id = int(cursor.lastrowid or 0)
            db.execute(
                "UPDATE settlements SET state = ?, outcome = 'cleared', finished_at = ? "
                "WHERE batch_id = ? AND state = 'reconciling'",
                (abandon_state, when, batch_id),
            )
            db.execute(
                "UPDATE batches SET state = 'closed', closed_at = ?, settlement = ? WHERE id = ?",
                (when, text, batch_id),
            )
            cursor = db.execute(
                "INSERT INTO batches(number, state, opened_at) VALUES (?, 'open', ?)",
                (batch["number"] % 999_999 + 1, when),
            )
            return settlement_id, int(cursor.lastrowid or 0)

        return await self.run(apply)
