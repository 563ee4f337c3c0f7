# Strategy: one SQLite connection (WAL, synchronous=FULL), used from worker
# threads one call at a time so that the event loop never waits on fsync; a
# call that writes runs in one BEGIN IMMEDIATE transaction and a cancelled
# caller still waits for it to finish (never half-applied). Counters (seq,
# STAN) and batches live here, as does the row update the other parts share.
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import trio

from cardcore.journal.records import (
    COLUMNS,
    JournalError,
    PanProtector,
    TxnRecord,
    now,
    record_values,
)
from cardcore.journal.schema import ADDED_COLUMNS, LEGACY, SCHEMA, SCHEMA_VERSION
from cardcore.storage import create_private

__all__ = ["Store"]

T = TypeVar("T")


class Store:
    """One SQLite connection, used from worker threads in turn; the journal's
    parts (transactions, queued messages, end of day) build on it."""

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
                    "INSERT INTO batches(number, state, opened_at) VALUES (1, 'open', ?)", (now(),)
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
            if row is not None and row[0] not in ("1", "2", "3", SCHEMA_VERSION):
                raise JournalError(f"journal schema {row[0]} is newer than this terminal's")
            for statement in LEGACY:
                db.execute(statement)
            for table, column, definition in ADDED_COLUMNS:
                have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
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
                (now(), json.dumps(settlement, ensure_ascii=False), row[0]),
            )
            cursor = db.execute(
                "INSERT INTO batches(number, state, opened_at) VALUES (?, 'open', ?)",
                (row[1] % 999_999 + 1, now()),
            )
            return int(cursor.lastrowid or 0)

        return await self.run(close)

    # --- rows -----------------------------------------------------------
    @staticmethod
    def _update(db: sqlite3.Connection, record: TxnRecord, names: list[str]) -> None:
        unknown = set(names) - set(COLUMNS) | ({"id"} & set(names))
        if unknown:
            raise JournalError(f"cannot update columns {sorted(unknown)}")
        if not names:
            return
        assignments = ", ".join(f"{n} = ?" for n in names)
        db.execute(
            f"UPDATE transactions SET {assignments} WHERE id = ?",  # noqa: S608 - our column names
            [*record_values(record, names), record.id],
        )

    def _seal_payload(self, kind: str, payload: bytes) -> bytes:
        return self.protector.seal(payload, kind.encode())
