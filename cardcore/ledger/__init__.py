"""The ledger: the one room that owns a transaction's money state, its queued
reversals and advices, and what refunds and voids may take."""
