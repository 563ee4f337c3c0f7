"""Store-and-forward and end-of-day flows against the real host simulator: reversal
idempotency, advices, key exchange (good and wrong KCV), reconciliation in and out of
balance with batch upload and closing, cutover."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import trio

from acquirers.errors import KeyCheckError
from acquirers.iso8583 import messages as m
from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.security import kcv
from acquirers.link import AcquirerLink
from cardcore.protocol.status import status_of
from tests.acquirers.conftest import EXPIRY, PAN, TERMINAL, D, Env

TID = "00001234"


def _reversal(env: Env, original: IsoMessage, **kw: object) -> IsoMessage:
    return m.build_reversal(
        original,
        D,
        stan=env.stan.next_stan(),
        when=datetime.now().astimezone(),
        reason=kw.pop("reason", m.ReversalReason.TIMEOUT),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- reversals
async def test_reversal_is_applied_once_however_often_repeated(env: Env) -> None:
    link = env.link()
    purchase = env.purchase(10_000)
    answer = await link.financial(purchase)
    assert answer.approved and env.sim.ledger.balance(PAN) == 90_000

    reversal = _reversal(env, purchase, rrn=answer.rrn, reason=m.ReversalReason.CANCEL)
    first = await link.reverse(reversal)
    assert first.acknowledged and first.response_code == "00"
    assert env.sim.ledger.balance(PAN) == 100_000
    for _ in range(3):  # store-and-forward retries after a lost 0410
        again = await link.reverse(reversal, repeat=True)
        assert again.acknowledged
    assert env.sim.counts["0400"] == 1 and env.sim.counts["0401"] == 3
    assert env.sim.ledger.balance(PAN) == 100_000
    totals = env.sim.ledger.totals(TID)
    assert (totals.debit_count, totals.debit_reversal_count, totals.debit_reversal_amount) == (
        1,
        1,
        10_000,
    )
    assert totals.net == 0


async def test_reversal_after_timeout_restores_the_ledger(env: Env) -> None:
    from acquirers.errors import HostTimeoutError
    from simulators.host import HostMode

    link = env.link(response_timeout=0.3)
    purchase = env.purchase(4_000)
    reversal = _reversal(env, purchase)  # written to the journal before sending
    env.sim.control.mode = HostMode.TIMEOUT
    with pytest.raises(HostTimeoutError):
        await link.financial(purchase)
    assert env.sim.ledger.balance(PAN) == 96_000  # the host booked it silently
    with pytest.raises(HostTimeoutError):
        await link.reverse(reversal)  # still down: stays in the journal
    env.sim.control.mode = HostMode.APPROVE
    ack = await link.reverse(reversal, repeat=True)
    assert ack.acknowledged and env.sim.ledger.balance(PAN) == 100_000


async def test_reversal_of_a_request_the_host_never_saw(env: Env) -> None:
    link = env.link()
    purchase = env.purchase(3_000)  # never sent
    assert (await link.reverse(_reversal(env, purchase))).acknowledged
    # If the original turns up after its reversal, it is not booked.
    late = await link.financial(purchase)
    assert not late.approved and env.sim.ledger.balance(PAN) == 100_000


async def test_partial_reversal(env: Env) -> None:
    link = env.link()
    purchase = env.purchase(10_000)
    answer = await link.financial(purchase)
    rev = _reversal(
        env, purchase, rrn=answer.rrn, reason=m.ReversalReason.CANCEL, remaining_amount=6_000
    )
    assert (await link.reverse(rev)).acknowledged
    assert env.sim.ledger.balance(PAN) == 94_000
    totals = env.sim.ledger.totals(TID)
    assert (totals.debit_amount, totals.debit_reversal_amount, totals.net) == (10_000, 4_000, 6_000)


# ---------------------------------------------------------------- advices
async def test_advice_booked_once(env: Env) -> None:
    link = env.link()
    req = m.FinancialRequest(
        type=m.TxnType.PURCHASE,
        amount=2_500,
        card=m.Card(PAN, expiry=EXPIRY, entry_mode="051"),
        stan=env.stan.next_stan(),
        when=datetime.now().astimezone(),
        batch="000001",
    )
    advice = m.build_advice(req, TERMINAL, D, auth_code="Y1")
    answer = await link.advice(advice)
    assert answer.approved and answer.rrn is not None
    assert (await link.advice(advice, repeat=True)).approved
    assert env.sim.counts["0220"] == 1 and env.sim.counts["0221"] == 1
    assert env.sim.ledger.balance(PAN) == 97_500
    assert env.sim.ledger.totals(TID).debit_amount == 2_500
    # An offline-approved transaction reversed later (e.g. a void) is undone too.
    rev = m.build_reversal(
        advice,
        D,
        stan=env.stan.next_stan(),
        when=datetime.now().astimezone(),
        reason=m.ReversalReason.CANCEL,
    )
    assert (await link.reverse(rev)).acknowledged
    assert env.sim.ledger.balance(PAN) == 100_000


# ---------------------------------------------------------------- key exchange
async def test_key_exchange_installs_new_keys(env: Env) -> None:
    link = env.link()
    old = env.keys.working
    result = await link.change_working_keys(env.keys.master)
    assert result.keys.tpk not in (None, old.tpk) and result.keys.tak not in (None, old.tak)
    assert result.pin_rrn and result.mac_rrn and result.pin_rrn != result.mac_rrn
    assert link.keys is old  # not installed by the link: the caller persists first
    host_state = env.sim.terminal(TID)
    assert host_state.pending_tak == result.keys.tak and host_state.tak == old.tak

    link.keys = result.keys
    answer = await link.financial(env.purchase(1_000, tpk=result.keys.tpk))
    assert answer.approved  # MAC and PIN block under the new keys
    assert host_state.tak == result.keys.tak and host_state.tpk == result.keys.tpk
    assert host_state.pending_tak is None and host_state.pending_tpk is None


async def test_key_exchange_with_wrong_kcv_keeps_the_old_keys(env: Env) -> None:
    env.sim.control.wrong_kcv = True
    link = env.link()
    old = link.keys
    with pytest.raises(KeyCheckError) as info:
        await link.change_working_keys(env.keys.master)
    assert status_of(info.value) == "verificationfailed"
    assert "PIN working key rejected" in info.value.message
    assert link.keys is old
    answer = await link.financial(env.purchase(1_000))
    assert answer.approved  # host still takes the old keys
    assert env.sim.terminal(TID).tak == old.tak  # type: ignore[union-attr]


async def test_key_exchange_under_wrong_master_key(env: Env) -> None:
    from acquirers.iso8583.security import MasterKeys, generate_key

    link = env.link()
    with pytest.raises(KeyCheckError):
        await link.change_working_keys(MasterKeys(pin=generate_key(), mac=generate_key()))


def test_test_keys_are_consistent(keys: object) -> None:
    from simulators.testkeys import SimulatorKeys

    assert isinstance(keys, SimulatorKeys)
    assert kcv(keys.master.pin).hex().upper() == "3BB049"
    assert kcv(keys.working.tak or b"").hex().upper() == "1AC3B3"


# ---------------------------------------------------------------- reconciliation
async def _run_batch(env: Env, link: AcquirerLink) -> list[m.BatchRecord]:
    """Purchases, cashback, a refund and a void: the journal's view as BatchRecords."""
    records = []
    plan: list[tuple[m.TxnType, int, dict[str, object], bool]] = [
        (m.TxnType.PURCHASE, 10_000, {}, False),
        (m.TxnType.CASHBACK, 6_000, {"cashback": 1_000}, False),
        (m.TxnType.PURCHASE, 2_500, {}, True),
        (m.TxnType.REFUND, 3_000, {}, False),
    ]
    for kind, amount, extra, void in plan:
        pin = None if kind is m.TxnType.REFUND else "1234"
        request = env.purchase(amount, kind=kind, pin=pin, **extra)
        answer = await link.financial(request)
        assert answer.approved
        reversed_amount = 0
        if void:
            rev = _reversal(env, request, rrn=answer.rrn, reason=m.ReversalReason.CANCEL)
            assert (await link.reverse(rev)).acknowledged
            reversed_amount = amount
        records.append(
            m.BatchRecord(
                type=kind,
                amount=amount,
                pan=PAN,
                stan=request.text(11),
                when=datetime.now(),
                transmission=request.text(7),
                rrn=answer.rrn,
                auth_code=answer.auth_code,
                cashback=int(extra.get("cashback", 0)),  # type: ignore[call-overload]
                reversed_amount=reversed_amount,
            )
        )
    return records


async def test_reconciliation_in_balance(env: Env) -> None:
    link = env.link()
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)
    assert totals.net == 10_000 + 6_000 - 3_000
    result = await link.settle(totals, records, batch="000001")
    assert result.passed and result.batch_upload is None and result.uploaded == 0
    assert result.final.host_totals == totals and result.final.rrn is not None
    assert result.final.approval_code is not None
    assert env.sim.counts["0320"] == 0
    assert len(env.sim.ledger.closed_batches) == 1 and env.sim.ledger.totals(TID).count == 0


async def test_reconciliation_out_of_balance_uploads_and_closes(env: Env) -> None:
    env.sim.control.reconciliation_mismatch = True
    link = env.link()
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)

    async def stream() -> AsyncIterator[m.BatchRecord]:  # a journal streaming its batch
        for record in records:
            yield record

    result = await link.settle(totals, stream(), batch="000001")
    assert result.reconciliation.out_of_balance and result.reconciliation.response_code == "95"
    assert result.reconciliation.host_totals is not None
    assert result.reconciliation.host_totals.debit_count == totals.debit_count + 1
    assert result.batch_upload is True and result.uploaded == len(records)
    assert result.closing is not None and result.closing.response_code == "00"
    assert result.closing.host_totals == totals and result.passed
    assert env.sim.counts["0320"] == len(records) and env.sim.counts["0500"] == 2
    sent = [r for r in env.sim.requests if r.mti == "0500"]
    assert [r.fields[3] for r in sent] == ["920000", "960000"]
    closed_tid, closed = env.sim.ledger.closed_batches[-1]
    assert closed_tid == TID and len(closed.uploaded) == len(records)


async def test_incomplete_batch_upload_fails(env: Env) -> None:
    env.sim.control.reconciliation_mismatch = True
    link = env.link()
    records = await _run_batch(env, link)
    result = await link.settle(m.BatchTotals.of(records), records[:-1], batch="000001")
    assert result.batch_upload is False and not result.passed
    assert result.closing is not None and result.closing.response_code == "95"
    assert env.sim.ledger.closed_batches == []  # the host keeps the batch open


async def test_terminal_and_host_disagree_for_real(env: Env) -> None:
    link = env.link()
    records = await _run_batch(env, link)
    lost = records[0]  # e.g. the terminal lost the void of this one
    wrong = [*records[1:], m.BatchRecord(**{**lost.__dict__, "reversed_amount": 500})]
    result = await link.settle(m.BatchTotals.of(wrong), wrong, batch="000001")
    assert result.reconciliation.out_of_balance
    # The upload carries the terminal's view; the host closes on it.
    assert result.passed and result.uploaded == len(wrong)


async def test_settlement_then_cutover(env: Env) -> None:
    link = env.link()
    records = await _run_batch(env, link)
    result = await link.settle(m.BatchTotals.of(records), records, batch="000001")
    assert result.passed
    cutover = await link.cutover()
    assert cutover.approved and cutover.rrn is not None
    # The next batch starts empty on both sides.
    empty = await link.reconcile(m.BatchTotals(), batch="000002")
    assert empty.in_balance and empty.host_totals == m.BatchTotals()


async def test_cutover_answers_the_host_totals_in_the_currency_it_names(env: Env) -> None:
    link = env.link()
    assert (await link.financial(env.purchase(10_000))).approved
    dollars = env.purchase(2_500)
    dollars.fields[49] = "840"
    assert (await link.financial(dollars)).approved
    # The host's books: each currency's totals of its own transactions.
    assert env.sim.ledger.totals(TID).debit_amount == 10_000
    assert env.sim.ledger.totals(TID, "840").debit_amount == 2_500
    cutover = await link.cutover("643")
    assert cutover.approved and cutover.totals_currency == "643"
    assert cutover.totals == m.BatchTotals(debit_count=1, debit_amount=10_000)
    # A cutover in 840 gets the host's 840 totals alone.
    dollars = await link.cutover("840")
    assert dollars.totals_currency == "840"
    assert dollars.totals == m.BatchTotals(debit_count=1, debit_amount=2_500)
    # A plain 0800 names no currency: no totals of a batch in two.
    plain = await link.cutover()
    assert plain.approved and plain.totals is None and plain.totals_currency is None


async def test_a_plain_cutover_gets_the_totals_of_a_batch_in_one_currency(env: Env) -> None:
    link = env.link()
    dollars = env.purchase(2_500)
    dollars.fields[49] = "840"
    assert (await link.financial(dollars)).approved
    plain = await link.cutover()
    assert plain.approved and plain.totals_currency is None
    assert plain.totals == m.BatchTotals(debit_count=1, debit_amount=2_500)


async def test_repeated_settlement_of_a_closed_batch_gets_the_same_answer(env: Env) -> None:
    """A terminal that never recorded the host's answer settles again: the host
    answers as before and does not close a second batch."""
    link = env.link()
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)
    first = await link.settle(totals, records, batch="000001")
    again = await link.settle(totals, records, batch="000001")
    assert first.passed and again.passed and again.batch_upload is None
    assert again.final.rrn == first.final.rrn
    assert again.final.approval_code == first.final.approval_code
    assert again.final.host_totals == totals
    assert len(env.sim.ledger.closed_batches) == 1 and env.sim.counts["replayed"] == 1
    # Another batch number, or other totals, is a new settlement.
    other = await link.reconcile(m.BatchTotals(), batch="000002")
    assert other.in_balance and len(env.sim.ledger.closed_batches) == 2


async def test_repeat_after_upload_and_closing_replays_the_closing(env: Env) -> None:
    env.sim.control.reconciliation_mismatch = True
    link = env.link()
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)
    first = await link.settle(totals, records, batch="000001")
    assert first.passed and first.batch_upload is True
    again = await link.settle(totals, records, batch="000001")
    assert again.passed and again.batch_upload is None  # no second upload
    assert again.final.rrn == first.final.rrn
    assert len(env.sim.ledger.closed_batches) == 1


async def test_closing_without_an_answer_is_uncertain(env: Env) -> None:
    env.sim.control.reconciliation_mismatch = True
    link = env.link(response_timeout=0.5)
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)

    async def stream() -> AsyncIterator[m.BatchRecord]:
        for record in records:
            yield record
        env.sim.control.delay = 1.0  # every 0320 answered: the host sits on the 96's answer

    result = await link.settle(totals, stream(), batch="000001")
    assert not result.passed and result.batch_upload is False
    assert result.closing is None and result.closing_unknown
    env.sim.control.delay = 0.0
    await trio.sleep(1.0)  # the late answer goes nowhere
    # The host did close; the repeat tells the terminal so.
    assert len(env.sim.ledger.closed_batches) == 1
    again = await link.settle(totals, records, batch="000001")
    assert again.passed and len(env.sim.ledger.closed_batches) == 1


async def test_a_lost_transaction_is_recovered_by_the_upload(env: Env) -> None:
    env.sim.control.lose_transaction = True
    link = env.link()
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)
    result = await link.settle(totals, records, batch="000001")
    assert result.reconciliation.out_of_balance
    host = result.reconciliation.host_totals
    assert host is not None and host.count == totals.count - 1
    assert result.passed and result.uploaded == len(records)


async def test_refused_upload_fails_with_certainty(env: Env) -> None:
    env.sim.control.reconciliation_mismatch = True
    env.sim.control.refuse_upload = True
    link = env.link()
    records = await _run_batch(env, link)
    result = await link.settle(m.BatchTotals.of(records), records, batch="000001")
    assert result.batch_upload is False and not result.closing_unknown
    assert result.closing is None and result.upload_error is not None
    assert "refused (58)" in result.upload_error
    assert env.sim.ledger.closed_batches == []


async def test_forced_settlement_closes_the_host_batch(env: Env) -> None:
    env.sim.control.reconciliation_mismatch = True
    link = env.link()
    records = await _run_batch(env, link)
    totals = m.BatchTotals.of(records)
    env.sim.control.accept_forced = False
    refused = await link.force_close(totals, batch="000001")
    assert refused.response_code == "12" and not refused.in_balance
    assert env.sim.ledger.closed_batches == []
    env.sim.control.accept_forced = True
    forced = await link.force_close(totals, batch="000001")
    assert forced.in_balance and forced.message.mti == "0530"
    assert forced.host_totals == totals  # the host's own books, here the same
    assert len(env.sim.ledger.closed_batches) == 1
    repeat = await link.force_close(totals, batch="000001", repeat=True)
    assert repeat.in_balance and repeat.rrn == forced.rrn
    assert [r.mti for r in env.sim.requests if r.mti.startswith("052")] == [
        "0520",
        "0520",
        "0521",
    ]
    assert len(env.sim.ledger.closed_batches) == 1
