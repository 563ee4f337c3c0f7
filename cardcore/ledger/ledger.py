# Strategy: the one room that owns a transaction's money (docs/conventions.md:
# one room owns money). An operation opens an entry for its
# journal row, applies events to it (cardcore.ledger.states: the next state,
# the tstatus, what happens to the queued reversal or advice) and commits at
# the points durability needs; a commit writes the row, every consequence
# applied since the last one and the STANs handed out meanwhile in one
# journal transaction. Operations never assign a state or queue a message
# themselves, and never call each other.
#
# Durability at its minimum: an approved online purchase commits twice, the
# request's row with its reversal before the request leaves, and the outcome
# (the reversal dropped, an advice queued) when the card has completed. The
# host's answer in between is applied in memory only: should the terminal die
# before the second commit, the queued reversal (field 90 names the request)
# undoes whatever the host did. STANs come from memory and are written with
# the commit that stores the message carrying them, which is always before the
# message leaves, so a restart never hands out a STAN the host has seen.
from __future__ import annotations

from dataclasses import dataclass, field

from cardcore.journal import Journal, TxnRecord
from cardcore.ledger.claims import Claim, Standing
from cardcore.ledger.states import APPROVED, Event, Queue, step

__all__ = ["ADVICE", "REVERSAL", "Entry", "Ledger", "StanCounter"]

REVERSAL = "reversal"
ADVICE = "advice"
STAN_MODULO = 999_999  # STANs run 000001..999999, then start over


class StanCounter:
    """System trace audit numbers (ISO 8583 field 11) handed out from memory."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.value = journal.counter("stan")  # the last one handed out
        self._written = self.value

    def take(self) -> str:
        """The next STAN; written with the next commit (see the strategy)."""
        self.value = self.value % STAN_MODULO + 1
        return f"{self.value:06d}"

    def take_now(self) -> str:
        """The next STAN, written at once: for a message that leaves outside
        any transaction's commit (network management, settlement)."""
        stan = self.take()
        self._journal.set_counter_sync("stan", self.value)
        self._written = self.value
        return stan

    def reserve(self, count: int) -> int:
        """``count`` consecutive STANs, written at once; returns the first (a
        batch upload sends a message per transaction: one write for all)."""
        first = self.value % STAN_MODULO + 1
        self.value = (self.value + count - 1) % STAN_MODULO + 1
        self._journal.set_counter_sync("stan", self.value)
        self._written = self.value
        return first

    def unwritten(self) -> dict[str, int]:
        """The counter for a commit to write, when it moved since the last one."""
        if self.value == self._written:
            return {}
        return {"stan": self.value}

    def written(self, counters: dict[str, int]) -> None:
        if "stan" in counters:
            self._written = counters["stan"]


@dataclass
class Entry:
    """A transaction as the ledger holds it between commits."""

    record: TxnRecord
    # A refund or void: checked against what is left of its original in the
    # commit that first writes the row.
    claim: Claim | None = None
    seq_counter: str = "seq"  # receipt numbering (SBP has its own)
    undo_kind: str = REVERSAL  # what undoes this channel's requests
    reverse_original: int = 0  # taken off the original at the next commit
    _drop: list[str] = field(default_factory=list)
    _add: list[tuple[str, bytes]] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    @property
    def stored(self) -> bool:
        return self.record.id != 0

    @property
    def state(self) -> str:
        return self.record.state

    def _queue(self, action: Queue, kind: str, message: bytes | None) -> None:
        if action in (Queue.DROP, Queue.RENEW):
            self._add = [(k, m) for k, m in self._add if k != kind]
            if self.stored:
                self._drop.append(kind)
        if action in (Queue.ADD, Queue.RENEW) and message is not None:
            self._add.append((kind, message))


class Ledger:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.stans = StanCounter(journal)

    def open(
        self,
        record: TxnRecord,
        *,
        claim: Claim | None = None,
        seq_counter: str = "seq",
        undo_kind: str = REVERSAL,
    ) -> Entry:
        """An entry for a new row (written by its first commit) or for one
        read back from the journal."""
        return Entry(record, claim=claim, seq_counter=seq_counter, undo_kind=undo_kind)

    def apply(
        self,
        entry: Entry,
        event: Event,
        *,
        undo: bytes | None = None,
        tell: bytes | None = None,
        reason: str | None = None,
    ) -> None:
        """A transition and its consequences, in memory until the next
        commit. ``undo``/``tell``: the message a transition that queues one
        queues (a reversal, a refund, a status check; an advice); ``reason``:
        why it was declined, when the table's default is not the story."""
        record = entry.record
        change = step(record.state, event)
        record.state = change.state
        entry._names.add("state")
        if change.tstatus is not None:
            record.tstatus = change.tstatus
            if change.tstatus == APPROVED:
                record.decline_reason = None
            else:
                # The caller's reason, else one already known, else the table's.
                record.decline_reason = reason or record.decline_reason or change.reason
            entry._names.update(("tstatus", "decline_reason"))
        entry._queue(change.undo, entry.undo_kind, undo)
        entry._queue(change.tell, ADVICE, tell)

    async def commit(self, entry: Entry, *names: str) -> None:
        """Write the entry: the row (inserted the first time, else the
        columns changed by events and ``names``) and every consequence since
        the last commit, in one journal transaction."""
        record = entry.record
        counters = self.stans.unwritten()
        if not entry.stored:
            claim = entry.claim
            await self.journal.create(
                record, seq_counter=entry.seq_counter, pending=entry._add,
                check=claim.check if claim is not None else None,
                reverse_original=entry.reverse_original, counters=counters,
            )  # fmt: skip
        else:
            await self.journal.update(
                record, sorted(entry._names.union(names)), drop_pending=entry._drop,
                add_pending=entry._add, reverse_original=entry.reverse_original,
                counters=counters,
            )  # fmt: skip
        self.stans.written(counters)
        entry._drop, entry._add, entry._names = [], [], set()
        entry.reverse_original = 0

    async def standing(self, original_id: int) -> Standing:
        """What is left of a transaction for its refunds and voids."""
        return Standing.of(await self.journal.linked(original_id))
