# Strategy: the store-and-forward queue (ISO 8583 practice): messages the
# host (or the SBP agent) still has to be told, sealed at rest, read in the
# order they were written, their attempts counted, dropped once delivered.
from __future__ import annotations

import sqlite3
from typing import Any

from cardcore.journal.records import Pending, TxnRecord
from cardcore.journal.store import Store

__all__ = ["PendingQueue"]


class PendingQueue(Store):
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
