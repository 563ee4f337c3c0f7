"""What the acquirer host simulator keeps across a restart
(simulators.host.state): a host that saved its state after every request and
a new one that took it up are the same host to the terminal: the keys of a
key exchange still pending, the balances and PIN try counters, the answer to
a repeated request, the business day and fresh RRNs. The file holds no card
number and no PIN, is the service user's alone, and one that cannot be read
stops the start with one line, untouched."""

from __future__ import annotations

import stat
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from acquirers.iso8583 import messages as m
from cardcore.errors import DataFileError
from simulators.host.ledger import IssuerLedger
from simulators.host.server import HostSimulator
from simulators.host.state import SAVE_EVERY, HostStateFile, Saver, capture, restore
from simulators.testkeys import load_test_keys
from tests.acquirers.conftest import EXPIRY, OTHER_PAN, PAN, PIN, TERMINAL, D, Env, start_sim

TID = TERMINAL.tid


def _ledger(hash_key: bytes | None = None) -> IssuerLedger:
    """The accounts every start opens (their PINs are not kept on disk)."""
    ledger = IssuerLedger(hash_key)
    ledger.open_account(PAN, 100_000, pin=PIN)
    ledger.open_account(OTHER_PAN, 50_000)
    return ledger


async def test_a_restarted_host_is_the_same_host(nursery: trio.Nursery, tmp_path: Path) -> None:
    store = HostStateFile(tmp_path / "host.json")
    first, port = await start_sim(nursery, ledger=_ledger())
    first.on_change = partial(store.save, first)
    env = Env(first, port, load_test_keys())
    link = env.link()
    purchase = env.purchase(10_000)
    approved = await link.financial(purchase)
    assert approved.approved
    assert (await link.financial(env.purchase(1_000, pin="9999"))).response_code == "55"
    advice = m.build_advice(
        m.FinancialRequest(
            type=m.TxnType.PURCHASE, amount=2_500, card=m.Card(OTHER_PAN, expiry=EXPIRY),
            stan=env.stan.next_stan(), when=datetime.now().astimezone(), batch="000001",
        ),
        TERMINAL, D, auth_code="Y1",
    )  # fmt: skip
    assert (await link.advice(advice)).approved
    exchanged = await link.change_working_keys(env.keys.master)  # pending at the host
    assert (await link.cutover()).response_code == "00"
    seen_rrns = {approved.rrn, exchanged.pin_rrn, exchanged.mac_rrn}

    # The restart: a new host made from the file alone.
    saved = store.load()
    assert saved is not None
    second, port = await start_sim(nursery, ledger=_ledger(saved.ledger_key()))
    restore(second, saved)
    assert capture(second) == capture(first)
    again = Env(second, port, env.keys, env.stan)
    assert second.business_day == 2
    account = second.ledger.account(PAN)
    assert account is not None and (account.balance, account.pin_tries_left) == (90_000, 2)
    assert second.ledger.balance(OTHER_PAN) == 47_500
    # A repeat of the purchase: the answer it had, booked once.
    repeat = await again.link().financial(purchase)
    assert (repeat.rrn, repeat.auth_code) == (approved.rrn, approved.auth_code)
    assert second.ledger.balance(PAN) == 90_000
    # The keys of the exchange before the restart: MAC and PIN block verify.
    fresh = await again.link(keys=exchanged.keys).financial(
        again.purchase(1_000, tpk=exchanged.keys.tpk)
    )
    assert fresh.approved and fresh.rrn not in seen_rrns
    assert second.terminal(TID).tak == exchanged.keys.tak
    assert second.ledger.balance(PAN) == 89_000
    # A settlement balances against the books kept (no batch upload).
    totals = second.ledger.totals(TID)
    assert (totals.debit_count, totals.debit_amount) == (3, 13_500)


def test_the_file_holds_no_card_number_and_is_private(tmp_path: Path) -> None:
    from simulators.host.server import HostSimulator

    host = HostSimulator(ledger=_ledger())
    host.ledger.batch(TID).uploaded.append(
        m.BatchRecord(
            type=m.TxnType.PURCHASE, amount=100, pan=PAN, stan="000001",
            when=datetime(2024, 1, 2, 3, 4, 5), transmission="0102030405", expiry=EXPIRY,
            sequence="01", icc_data=bytes.fromhex("9F2608AABBCCDDEEFF0011"),
        )
    )  # fmt: skip
    store = HostStateFile(tmp_path / "host.json")
    store.save(host)
    text = store.path.read_text()
    for secret in (PAN, "AABBCCDDEEFF0011", "qrvM3e7/ABE", '"pin"'):
        assert secret not in text
    assert '"expiry":null' in text and '"sequence":null' in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    saved = store.load()
    assert saved is not None
    (record,) = saved.batches[TID].uploaded
    assert (record.amount, record.stan, record.pan) == (100, "000001", "0" * 16)


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"format": "something else"}', b"[]",
     b'{"format": "cardcore host simulator state", "version": 99}'],
)  # fmt: skip
def test_a_file_that_is_not_the_state_stops_the_start(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "host.json"
    path.write_bytes(content)
    with pytest.raises(DataFileError) as caught:
        HostStateFile(path).load()
    assert str(path) in caught.value.message and "\n" not in caught.value.message
    assert path.read_bytes() == content


def test_a_damaged_key_is_found_at_load(tmp_path: Path) -> None:
    from simulators.host.server import HostSimulator

    store = HostStateFile(tmp_path / "host.json")
    host = HostSimulator(ledger=_ledger())
    host.terminal(TID)
    store.save(host)
    text = store.path.read_text()
    tak = host.terminal(TID).tak
    assert tak is not None
    store.path.write_text(text.replace(tak.hex().upper(), "ABCD", 1))
    with pytest.raises(DataFileError, match="not the host simulator's state"):
        store.load()


class _CountedFile(HostStateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.saves: list[float] = []

    def save(self, host: HostSimulator) -> None:
        self.saves.append(trio.current_time())
        super().save(host)


async def test_a_busy_host_saves_at_most_every_so_often(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A quiet host saves before it answers; under load the saves come
    SAVE_EVERY apart, the last changes included, and at the end."""
    host = HostSimulator(ledger=_ledger())
    store = _CountedFile(tmp_path / "host.json")
    saver = Saver(store, host)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(saver.run)
        start = trio.current_time()
        saver.changed()  # quiet: at once
        assert store.saves == [start]
        for _ in range(50):  # a busy spell: 50 requests in SAVE_EVERY * 2.5
            await trio.sleep(SAVE_EVERY / 20)
            saver.changed()
        await trio.sleep(SAVE_EVERY * 3)
        assert store.saves == [start + SAVE_EVERY * k for k in range(len(store.saves))]
        assert len(store.saves) in (3, 4)  # not 51
        assert store.saves[-1] >= start + SAVE_EVERY * 2.5  # the last change is in
        host.business_day = 7
        saver.changed()  # quiet again: at once
        assert len(store.saves) in (4, 5)
        host.business_day = 8
        saver.changed()  # too soon: left to run, then the end saves it
        nursery.cancel_scope.cancel()
    state = store.load()
    assert state is not None and state.business_day == 8


class _FullDisk(HostStateFile):
    """A store whose first save fails, as on a full disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failed = False

    def save(self, host: HostSimulator) -> None:
        if not self.failed:
            self.failed = True
            raise OSError(28, "No space left on device")
        super().save(host)


async def test_a_save_that_failed_is_tried_again_with_the_next_change(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = HostSimulator(ledger=_ledger())
    store = _FullDisk(tmp_path / "host.json")
    saver = Saver(store, host)
    with pytest.raises(OSError):
        saver.changed()  # the host does not answer (HostSimulator.handle)
    await trio.sleep(SAVE_EVERY / 10)
    saver.changed()  # nothing is saved yet: at once, not in a while
    assert store.load() is not None
