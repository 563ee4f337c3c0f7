# Strategy: what the simulated acquirer host keeps across a restart, as a
# real host keeps it in its database: each terminal's working keys (with a
# key change not yet taken into use), the books (the accounts by PAN hash
# with their balances and PIN try counters, the open and the closed batches,
# the reversals and advices applied, the answers kept for repeats, the
# batches settled), the business day and the counter behind its RRNs. One
# JSON file, <data-dir>/sim/host.json beside the management servers' TEST
# PKI, written before the answer to a request after a quiet spell, and at
# most every SAVE_EVERY seconds under load (Saver: the file holds the whole
# state, which grows with the books): a new file (mode 0600, in the 0700 sim
# dir) renamed over the old one, so a process that dies leaves the old state
# or the new, never half of one. Not fsynced, like the TEST PKI's files: the
# simulator's books outlive the process, not a power cut, and the only
# durable commits of a purchase stay the terminal's own (which `cardcore-bench durability` counts).
# Not kept: card numbers (the books hold HMAC-SHA-256 hashes; a batch
# upload's records are kept without PAN, expiry, card sequence number and
# chip data, which totals do not use), the cardholders' PINs (they come
# with the accounts at every start, from the virtual card profiles), the
# master keys (the TEST ONLY set of simulators/test_keys.json, read at
# every start), the switches of `cardcore sim host` (a restart brings the
# defaults) and the diagnostic counters.
# Like the TEST PKI's private keys beside it, the working keys and the key
# of the PAN hashes are kept in clear in a file only the service user reads:
# they are a simulator's and protect no real card. A file that cannot be
# read as this state stops the start with one line naming it; nothing is
# overwritten.
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from pathlib import Path

import msgspec
import trio

from acquirers.iso8583.messages import BatchRecord, BatchTotals
from acquirers.iso8583.security import WorkingKeys
from base.errors import CardcoreError
from cardcore.errors import DataFileError
from simulators.host.ledger import Account, HostTxn, IssuerLedger, TerminalBatch, TxnKey
from simulators.host.server import HostSimulator, TerminalKeys
from simulators.testkeys import SimulatorKeys

__all__ = ["FILE_NAME", "SAVE_EVERY", "HostState", "HostStateFile", "Saver", "capture", "restore"]

log = logging.getLogger(__name__)

FILE_NAME = "host.json"
FORMAT = "cardcore host simulator state"
VERSION = 1
_NO_PAN = "0" * 16


class _Bin(msgspec.Struct, forbid_unknown_fields=True):
    """A binary field of a kept answer (field 55), as hex."""

    hex: str


Fields = dict[int, str | _Bin]


class _Keys(msgspec.Struct, forbid_unknown_fields=True):
    """A terminal's working keys in hex; None: none."""

    tpk: str | None
    tak: str | None
    pending_tpk: str | None = None
    pending_tak: str | None = None


class _Account(msgspec.Struct, forbid_unknown_fields=True):
    balance: int
    currency: str
    pin_tries_left: int
    blocked: bool


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    number: str
    currency: str | None
    transactions: list[HostTxn]
    uploaded: list[BatchRecord]


class _Response(msgspec.Struct, forbid_unknown_fields=True):
    key: TxnKey
    mti: str
    fields: Fields


class _Settled(msgspec.Struct, forbid_unknown_fields=True):
    tid: str
    currency: str
    number: str
    totals: BatchTotals
    fields: Fields


class HostState(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    business_day: int
    stan: int
    pan_hash_key: str
    default_keys: _Keys  # a terminal the host has not met yet gets these
    terminals: dict[str, _Keys]
    accounts: dict[str, _Account]
    batches: dict[str, _Batch]
    closed_batches: list[tuple[str, _Batch]]
    reversed: list[TxnKey]
    advised: list[TxnKey]
    responses: list[_Response]
    settled: list[_Settled]

    def ledger_key(self) -> bytes:
        """The key of the PAN hashes, which the ledger must be made with."""
        return bytes.fromhex(self.pan_hash_key)


# --- to the file -------------------------------------------------------------
def _hex(key: bytes | None) -> str | None:
    return None if key is None else key.hex().upper()


def _fields(fields: dict[int, str | bytes]) -> Fields:
    return {n: v if isinstance(v, str) else _Bin(v.hex().upper()) for n, v in fields.items()}


def _batch(batch: TerminalBatch) -> _Batch:
    uploaded = [
        dataclasses.replace(r, pan=_NO_PAN, expiry=None, sequence=None, icc_data=None)
        for r in batch.uploaded
    ]
    return _Batch(batch.number, batch.currency, list(batch.transactions.values()), uploaded)


def capture(host: HostSimulator) -> HostState:
    """The state of ``host`` to keep."""
    ledger = host.ledger
    working = host.default_keys.working
    return HostState(
        format=FORMAT,
        version=VERSION,
        business_day=host.business_day,
        stan=host.stan.last,
        pan_hash_key=ledger.hash_key.hex(),
        default_keys=_Keys(_hex(working.tpk), _hex(working.tak)),
        terminals={
            tid: _Keys(_hex(k.tpk), _hex(k.tak), _hex(k.pending_tpk), _hex(k.pending_tak))
            for tid, k in host.terminals.items()
        },
        accounts={
            pan_hash: _Account(a.balance, a.currency, a.pin_tries_left, a.blocked)
            for pan_hash, a in ledger.accounts().items()
        },
        batches={tid: _batch(batch) for tid, batch in ledger.batches.items()},
        closed_batches=[(tid, _batch(batch)) for tid, batch in ledger.closed_batches],
        reversed=sorted(ledger.reversed, key=dataclasses.astuple),
        advised=sorted(ledger.advised, key=dataclasses.astuple),
        responses=[_Response(k, mti, _fields(f)) for k, (mti, f) in ledger.responses.items()],
        settled=[
            _Settled(tid, currency, number, totals, _fields(fields))
            for (tid, currency), (number, totals, fields) in ledger.settled.items()
        ],
    )


# --- from the file -----------------------------------------------------------
def _key(text: str | None) -> bytes | None:
    if text is None:
        return None
    key = bytes.fromhex(text)
    WorkingKeys(tpk=key)  # a double-length TDES key, or MessageBuildError
    return key


def _values(fields: Fields) -> dict[int, str | bytes]:
    return {n: v if isinstance(v, str) else bytes.fromhex(v.hex) for n, v in fields.items()}


def _terminal_batch(batch: _Batch) -> TerminalBatch:
    return TerminalBatch(
        number=batch.number,
        transactions={t.key: t for t in batch.transactions},
        uploaded=list(batch.uploaded),
        currency=batch.currency,
    )


def restore(host: HostSimulator, state: HostState) -> None:
    """Lay ``state`` over ``host``, whose ledger was made with
    ``state.ledger_key()`` and holds the accounts of this start (their PINs)."""
    master = host.default_keys.master
    default = state.default_keys
    host.default_keys = SimulatorKeys(
        master, WorkingKeys(tpk=_key(default.tpk), tak=_key(default.tak))
    )
    host.terminals = {
        tid: TerminalKeys(
            master, _key(k.tpk), _key(k.tak), _key(k.pending_tpk), _key(k.pending_tak)
        )
        for tid, k in state.terminals.items()
    }
    host.business_day = state.business_day
    host.stan.last = state.stan
    ledger: IssuerLedger = host.ledger
    for pan_hash, kept in state.accounts.items():
        account = ledger.account_by_hash(pan_hash)
        if account is None:  # opened for a card the host met (open balance)
            account = Account(balance=kept.balance)
            ledger.put_account(pan_hash, account)
        account.balance, account.currency = kept.balance, kept.currency
        account.pin_tries_left, account.blocked = kept.pin_tries_left, kept.blocked
    ledger.batches = {tid: _terminal_batch(b) for tid, b in state.batches.items()}
    ledger.closed_batches = [(tid, _terminal_batch(b)) for tid, b in state.closed_batches]
    ledger.reversed = set(state.reversed)
    ledger.advised = set(state.advised)
    ledger.responses = {r.key: (r.mti, _values(r.fields)) for r in state.responses}
    ledger.settled = {
        (s.tid, s.currency): (s.number, s.totals, _values(s.fields)) for s in state.settled
    }


class HostStateFile:
    """The host's state in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._encoder = msgspec.json.Encoder()

    def _damaged(self, why: str) -> DataFileError:
        return DataFileError(
            f"{self.path}: not the host simulator's state ({why}); move it away to start the"
            " simulated host afresh"
        )

    def load(self) -> HostState | None:
        """The state kept, None when there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DataFileError(f"{self.path}: {exc.strerror}") from None
        try:
            state = msgspec.json.decode(data, type=HostState)
        except (msgspec.DecodeError, CardcoreError) as exc:
            raise self._damaged(str(exc)) from None
        if state.format != FORMAT or state.version != VERSION:
            raise self._damaged(f"format {state.format!r} version {state.version}")
        # Everything restore() reads can be read: a start fails here or not at all.
        try:
            state.ledger_key()
            for keys in (state.default_keys, *state.terminals.values()):
                for text in (keys.tpk, keys.tak, keys.pending_tpk, keys.pending_tak):
                    _key(text)
            for response in state.responses:
                _values(response.fields)
            for settled in state.settled:
                _values(settled.fields)
        except (ValueError, CardcoreError) as exc:
            raise self._damaged(str(exc)) from None
        return state

    def save(self, host: HostSimulator) -> None:
        data = self._encoder.encode(capture(host))
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            out.write(data)
        os.replace(tmp, self.path)


# The file holds the whole state and grows with the books (some 300 bytes of
# JSON a transaction), so a busy host does not rewrite it after every request.
SAVE_EVERY = 0.5


class Saver:
    """Keeps ``store`` up to date with ``host`` (its `on_change`): a change is
    saved at once when the last save is SAVE_EVERY old (a quiet host, a key
    exchange, commits before it answers), else by `run` once that much time
    has passed since the last save, and at the end. A process killed in
    between loses at most the last SAVE_EVERY of the books, which the
    terminal's reversals and its batch upload at settlement make good, as
    with a real host that restarts."""

    def __init__(self, store: HostStateFile, host: HostSimulator, every: float = SAVE_EVERY):
        self.store, self.host, self.every = store, host, every
        self._saved_at = -math.inf
        self._pending = False
        self._wake = trio.Event()

    def _save(self) -> None:
        # A save that fails leaves the change pending: the next change, or
        # the end, tries again.
        self.store.save(self.host)
        self._pending = False
        self._saved_at = trio.current_time()

    def changed(self) -> None:
        """The host's state changed (OSError: it could not be saved now)."""
        if trio.current_time() - self._saved_at >= self.every:
            self._save()
        else:
            self._pending = True
            self._wake.set()

    async def run(self) -> None:
        """Save what changed since the last save, SAVE_EVERY after it."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                await trio.sleep_until(self._saved_at + self.every)
                if self._pending:
                    try:
                        self._save()
                    except OSError as exc:
                        log.error("host simulator state not saved: %s", exc)
        finally:
            if self._pending:
                with contextlib.suppress(OSError):
                    self._save()
