# Strategy: the journal's end of day: per-group aggregates of a batch (the
# counting rules are cardcore.endofday.totals'), rows read in chunks in key
# order for reports and batch upload (constant memory), and the settlement
# records with the batch closed in the commit that decides it.
from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import trio

from cardcore.journal.records import (
    JournalError,
    SettlementRow,
    TxnRecord,
    now,
    row_to_record,
    settlement_row,
)
from cardcore.journal.store import Store

__all__ = ["EndOfDayRecords"]


class EndOfDayRecords(Store):
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
                return [row_to_record(r) for r in rows]

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
            return [settlement_row(r) for r in rows]

        return await self.run(query, atomic=False)

    async def unresolved_settlement(self) -> SettlementRow | None:
        """A settlement whose outcome at the host is not known yet (any batch),
        else one of a currency the host closed while the batch stays open
        (others of its currencies still to settle)."""

        def query(db: sqlite3.Connection) -> SettlementRow | None:
            row = db.execute(
                "SELECT * FROM settlements WHERE state = 'reconciling' ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT s.* FROM settlements s JOIN batches b ON b.id = s.batch_id "
                    "WHERE s.kind = 'settlement' AND s.state = 'passed' AND b.state = 'open' "
                    "ORDER BY s.id DESC LIMIT 1"
                ).fetchone()
            return settlement_row(row) if row else None

        return await self.run(query, atomic=False)

    async def settlement(self, settlement_id: int) -> SettlementRow:
        def query(db: sqlite3.Connection) -> SettlementRow:
            row = db.execute("SELECT * FROM settlements WHERE id = ?", (settlement_id,)).fetchone()
            if row is None:
                raise JournalError(f"no settlement {settlement_id}")
            return settlement_row(row)

        return await self.run(query, atomic=False)

    async def begin_settlement(
        self,
        batch_id: int,
        *,
        kind: str,
        state: str,
        forced: bool,
        totals: Mapping[str, Any],
        currency: str | None = None,
    ) -> SettlementRow:
        """Record a settlement (of ``currency``) before its first message leaves."""
        when = now()

        def insert(db: sqlite3.Connection) -> SettlementRow:
            if Store._open_batch_id(db) != batch_id:
                raise JournalError(f"batch {batch_id} is not the open batch")
            cursor = db.execute(
                "INSERT INTO settlements(batch_id, kind, currency, state, forced, started_at, "
                "totals) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch_id, kind, currency, state, int(forced), when, json.dumps(dict(totals))),
            )
            row = db.execute(
                "SELECT * FROM settlements WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            return settlement_row(row)

        return await self.run(insert)

    async def retry_settlement(self, settlement_id: int, state: str) -> SettlementRow:
        """Another attempt at a settlement whose outcome is unknown."""

        def apply(db: sqlite3.Connection) -> SettlementRow:
            db.execute(
                "UPDATE settlements SET attempts = attempts + 1, state = ? WHERE id = ?",
                (state, settlement_id),
            )
            row = db.execute("SELECT * FROM settlements WHERE id = ?", (settlement_id,)).fetchone()
            return settlement_row(row)

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
        when = now()
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
        parts: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
    ) -> tuple[list[int], int]:
        """`clear`: in one commit, record the clear (``state``) with a row per
        currency of ``parts`` (currency, its totals, its report), end any
        unresolved settlement of the batch (``abandon_state``), archive the
        batch and open the next. Returns (the rows' ids in the order of
        ``parts``, new batch id). The batch keeps the last part's report, as a
        settlement in several currencies keeps the last one's."""
        if not parts:
            raise JournalError("a clear records at least the terminal's currency")
        when = now()
        texts = [json.dumps(dict(report), ensure_ascii=False) for _, _, report in parts]

        def apply(db: sqlite3.Connection) -> tuple[list[int], int]:
            batch = db.execute(
                "SELECT number, state FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            if batch is None or batch["state"] != "open":
                raise JournalError(f"batch {batch_id} is not the open batch")
            ids = []
            for (currency, totals, _), text in zip(parts, texts, strict=True):
                cursor = db.execute(
                    "INSERT INTO settlements(batch_id, kind, currency, state, started_at, "
                    "finished_at, totals, outcome, report) "
                    "VALUES (?, 'clear', ?, ?, ?, ?, ?, 'cleared', ?)",
                    (batch_id, currency, state, when, when, json.dumps(dict(totals)), text),
                )
                ids.append(int(cursor.lastrowid or 0))
            db.execute(
                "UPDATE settlements SET state = ?, outcome = 'cleared', finished_at = ? "
                "WHERE batch_id = ? AND state = 'reconciling'",
                (abandon_state, when, batch_id),
            )
            db.execute(
                "UPDATE batches SET state = 'closed', closed_at = ?, settlement = ? WHERE id = ?",
                (when, texts[-1], batch_id),
            )
            cursor = db.execute(
                "INSERT INTO batches(number, state, opened_at) VALUES (?, 'open', ?)",
                (batch["number"] % 999_999 + 1, when),
            )
            return ids, int(cursor.lastrowid or 0)

        return await self.run(apply)
