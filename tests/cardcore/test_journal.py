"""The journal: atomic state changes with their store-and-forward messages,
counters that survive restarts, no clear PAN at rest, batches."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest

from base.pan import mask_keep_last4
from cardcore.journal import Journal, JournalError, PanProtector, TxnRecord
from cardcore.keystore import FileMasterKeySource, KeyStore, KeyStoreError

PAN = "4761739001010010"


def open_journal(path: Path, key: bytes = b"k" * 32) -> Journal:
    return Journal(path / "journal.sqlite", PanProtector(b"h" * 32, key))


def record(amount: int = 12300) -> TxnRecord:
    return TxnRecord(
        operation="purchase",
        receipt_type="purchase",
        state="online",
        amount=amount,
        datetime=dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC).isoformat(),
    )


async def test_create_with_reversal_then_approve_drops_it(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    rec = record()
    journal.protect_pan(rec, PAN)
    await journal.create(rec, reversal=b"0400 message with " + PAN.encode())
    assert rec.seq == "000001" and rec.id > 0
    (pending,) = await journal.pending("reversal")
    assert pending.txn_id == rec.id and PAN.encode() in pending.payload
    rec.state, rec.tstatus = "approved", "approved"
    await journal.update(rec, ["state", "tstatus"], drop_pending="reversal")
    assert await journal.pending() == []
    stored = await journal.get(rec.id)
    assert (
        stored is not None
        and stored.state == "approved"
        and stored.masked_pan == "************0010"
    )


async def test_failed_update_rolls_back_everything(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    rec = record()
    await journal.create(rec, reversal=b"R")
    rec.state = "approved"
    rec.original_id = 999  # no such transaction
    with pytest.raises(JournalError):
        # the last statement fails after the first were executed: nothing applies
        await journal.update(rec, ["state"], drop_pending="reversal", reverse_original=5)
    stored = await journal.get(rec.id)
    assert stored is not None and stored.state == "online"
    assert len(await journal.pending("reversal")) == 1


async def test_seq_survives_restart_and_wraps(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    for _ in range(3):
        await journal.create(record())
    journal.close()
    journal = open_journal(tmp_path)
    rec = await journal.create(record())
    assert rec.seq == "000004"
    await journal.run(
        lambda db: db.execute("UPDATE counters SET value = 999999 WHERE name = 'seq'")
    )
    assert (await journal.create(record())).seq == "000001"


async def test_no_clear_pan_at_rest(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    rec = record()
    journal.protect_pan(rec, PAN, keep=True)
    await journal.create(rec, reversal=PAN.encode())
    assert journal.reveal_pan(rec) == PAN
    journal.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("journal"))
    assert PAN.encode() not in raw
    assert PAN[-4:].encode() in raw  # the masked PAN is there
    other = open_journal(tmp_path, key=b"x" * 32)
    with pytest.raises(JournalError):
        await other.pending()


async def test_lookups(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    a = await journal.create(record(100))
    a.rrn, a.state, a.tstatus = "123456789012", "approved", "approved"
    await journal.update(a, ["rrn", "state", "tstatus"])
    b = await journal.create(record(200))
    assert (await journal.find_by_seq(a.seq)).amount == 100  # type: ignore[union-attr]
    assert (await journal.last()).id == b.id  # type: ignore[union-attr]
    assert await journal.find_by_seq("999999") is None
    # A void copies its original's RRN; a refund names the purchase, in any batch.
    void = record(100)
    void.operation, void.receipt_type, void.rrn = "void", "purchasereversal", a.rrn
    void.state, void.tstatus, void.original_id = "approved", "approved", a.id
    await journal.create(void)
    await journal.close_batch({})
    assert (await journal.find_purchase("123456789012")).id == a.id  # type: ignore[union-attr]
    assert await journal.find_purchase("123456789012", channel="sbp") is None


async def test_close_batch_archives_and_starts_a_new_one(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    first_id, number = await journal.open_batch()
    await journal.create(record())
    new_id = await journal.close_batch({"settlement-result": "passed"})
    assert (await journal.open_batch()) == (new_id, number + 1)
    assert await journal.last() is None  # lookups see the open batch only
    rows = [r for chunk in journal.iter_batch(first_id) for r in chunk]
    assert len(rows) == 1  # archived, still there for audit


def test_mask_pan() -> None:
    assert mask_keep_last4("4000000010000001") == "************0001"


def test_keystore_encrypts_and_binds_names(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.json", FileMasterKeySource(tmp_path / "dmk"))
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    described = store.put("tak", key, "tdes")
    assert described.kcv == "08D7B4"
    assert store.get("tak") == key
    assert key.hex().encode() not in (tmp_path / "keys.json").read_bytes()
    assert key not in (tmp_path / "keys.json").read_bytes()
    reopened = KeyStore(tmp_path / "keys.json", FileMasterKeySource(tmp_path / "dmk"))
    assert reopened.get("tak") == key
    # a blob moved to another name does not decrypt
    import json

    data = json.loads((tmp_path / "keys.json").read_text())
    data["keys"]["tpk"] = data["keys"]["tak"]
    (tmp_path / "keys.json").write_text(json.dumps(data))
    moved = KeyStore(tmp_path / "keys.json", FileMasterKeySource(tmp_path / "dmk"))
    with pytest.raises(KeyStoreError):
        moved.get("tpk")
    assert (tmp_path / "dmk").stat().st_mode & 0o077 == 0


def test_keystore_wipe_takes_a_new_master_key(tmp_path: Path) -> None:
    source = FileMasterKeySource(tmp_path / "dmk")
    store = KeyStore(tmp_path / "keys.json", source)
    store.put("a", os.urandom(16), "aes")
    old = (tmp_path / "dmk").read_bytes()
    store.wipe()
    assert "a" not in store and (tmp_path / "dmk").read_bytes() != old


def test_journal_is_wal_with_full_sync(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    journal.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
