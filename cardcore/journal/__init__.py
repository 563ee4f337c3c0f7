# Strategy: the crash-safe transaction journal (money is never lost or
# doubled):
# - SQLite in the data dir, WAL, synchronous=FULL: a commit is on disk when it
#   returns. A transaction's row and its queued messages change in one SQL
#   transaction (cardcore.ledger decides what changes), so a crash leaves the
#   state before or after it.
# - The full PAN is never stored in clear (PCI DSS 3.4): rows keep the masked
#   PAN, a keyed hash (HMAC-SHA256) for matching, and, where a later message
#   needs it, the PAN sealed with AES-256-GCM under a key from the key store.
#   Queued payloads (encoded ISO 8583 messages carrying the PAN) are sealed
#   the same way.
# - Receipt numbers (`seq`, six digits) and the STAN counter live in the same
#   database, so they survive restarts and never repeat within a batch.
# - The journal stores rows; what reads them (the ledger, end of day, the
#   report) has the rules and the layouts. Its parts: store (the connection,
#   counters, batches), transactions, pending (store-and-forward), endofday.
from __future__ import annotations

from cardcore.journal.endofday import EndOfDayRecords
from cardcore.journal.pending import PendingQueue
from cardcore.journal.records import (
    JournalError,
    Linked,
    PanProtector,
    Pending,
    SettlementRow,
    TxnRecord,
)
from cardcore.journal.schema import CUTOVER_KIND
from cardcore.journal.transactions import Transactions

__all__ = [
    "CUTOVER_KIND",
    "Journal",
    "JournalError",
    "Linked",
    "PanProtector",
    "Pending",
    "SettlementRow",
    "TxnRecord",
]


class Journal(Transactions, PendingQueue, EndOfDayRecords):
    """The journal: its transactions, queued messages and end-of-day records,
    over one SQLite connection used from worker threads in turn."""
