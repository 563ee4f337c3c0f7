# Strategy: the journal's tables (SQLite), as one script run at every open
# (CREATE ... IF NOT EXISTS), with the schema version recorded and older
# journals brought up to date in the same commit (cardcore.journal.store).
from __future__ import annotations

__all__ = ["ADDED_COLUMNS", "CUTOVER_KIND", "LEGACY", "SCHEMA", "SCHEMA_VERSION"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,            -- open | closed
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    settlement TEXT                 -- JSON of the settlement report that closed it (of
                                    -- the last currency; each one's is in `settlements`)
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
    currency TEXT,                  -- the currency it reconciles (a clear: whose totals)
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
# lines out when a transaction was written; the report lays them out
# from its own layout table when it is asked for). Older journals are brought
# up to date when they are opened.
# 4: settlements.currency: a settlement row reconciles one currency (a batch
# holding several is settled once per currency); older rows (NULL) are in
# the terminal's currency. Added to an older journal when it is opened.
SCHEMA_VERSION = "4"
LEGACY = (
    "DROP TRIGGER IF EXISTS report_line_insert",
    "DROP TRIGGER IF EXISTS report_line_update",
    "DROP TRIGGER IF EXISTS report_lines_close",
    "DROP TABLE IF EXISTS report_lines",
)
# Columns a journal of an older version lacks: (table, column, definition).
ADDED_COLUMNS = (("settlements", "currency", "TEXT"),)

# The pending kind of a cutover a passed settlement still owes the host.
CUTOVER_KIND = "cutover"
