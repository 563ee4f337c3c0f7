"""Refunds and voids are capped by what is left of the transaction they name:
the rule itself, its check inside the journal commit (two journals on one
file, racing), and the transaction command with forced (cardless)
operations as an acquirer capability. After each scenario the journal and the
host simulator's ledger agree on the merchant's net."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import trio

from cardcore.errors import InvalidArguments
from cardcore.journal import Journal, PanProtector, TxnRecord
from cardcore.ledger.claims import AlreadyReversed, Claim, ClaimKind, NotReversible, Standing
from cardcore.ledger.ledger import Ledger
from cardcore.ledger.states import Event
from cardcore.protocol.xmlcodec import Message, decode_error_stack
from simulators.simulator import host_ledger
from tests.cardcore.harness import Harness, simulated_terminal

FORCED = {"acquirer": {"forced-refund": True, "forced-void": True}}
PURCHASE = {"type": "purchase", "amount": "000000001000"}


# --- the rule -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("standing", "claim", "granted"),
    [
        (Standing("1", 1000), Claim(ClaimKind.REFUND, 400), 400),
        (Standing("1", 1000, refunded=600), Claim(ClaimKind.REFUND, 400), 400),
        (Standing("1", 1000), Claim(ClaimKind.VOID, None), 1000),
        (Standing("1", 1000, voided=300), Claim(ClaimKind.VOID, None), 700),
        (Standing("1", 1000), Claim(ClaimKind.REFUND, 1000, partial_allowed=False), 1000),
    ],
)
def test_what_a_claim_may_take(standing: Standing, claim: Claim, granted: int) -> None:
    assert claim.grant(standing) == granted


@pytest.mark.parametrize(
    ("standing", "claim", "error"),
    [
        (Standing("1", 1000, refunded=1000), Claim(ClaimKind.REFUND, 1000), AlreadyReversed),
        (Standing("1", 1000, refunded=600), Claim(ClaimKind.REFUND, 600), InvalidArguments),
        (Standing("1", 1000, voided=1000), Claim(ClaimKind.VOID, None), AlreadyReversed),
        (Standing("1", 1000, voided=10), Claim(ClaimKind.REFUND, 10), AlreadyReversed),
        (Standing("1", 1000, refunded=10), Claim(ClaimKind.VOID, None), NotReversible),
        (Standing("1", 1000), Claim(ClaimKind.VOID, 400, partial_allowed=False), InvalidArguments),
    ],
)
def test_what_a_claim_may_not_take(standing: Standing, claim: Claim, error: type) -> None:
    with pytest.raises(error):
        claim.grant(standing)


# --- inside the journal commit --------------------------------------------------
def _journal(path: Path) -> Journal:
    return Journal(path / "journal.sqlite", PanProtector(b"h" * 32, b"k" * 32))


def _row(**values: Any) -> TxnRecord:
    when = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).isoformat()
    return TxnRecord(datetime=when, **values)


async def test_two_journals_racing_cannot_both_take_the_remainder(tmp_path: Path) -> None:
    """Two connections to one journal file (as two processes would have): the
    ledger checks the claim in the commit that writes the refund, so the
    second refund of the same remainder sees the first and is refused,
    whoever goes first."""
    first, second = _journal(tmp_path), _journal(tmp_path)
    purchase = await first.create(_row(state="approved", tstatus="approved", amount=1000))
    outcomes: list[str] = []

    async def refund(journal: Journal) -> None:
        ledger = Ledger(journal)
        row = _row(operation="refund", receipt_type="refund", state="new", amount=600)
        row.original_id = purchase.id
        entry = ledger.open(row, claim=Claim(ClaimKind.REFUND, 600))
        ledger.apply(entry, Event.REQUEST_SENT, undo=b"reversal")
        try:
            await ledger.commit(entry)
            outcomes.append("written")
        except InvalidArguments:
            outcomes.append("refused")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(refund, first)
        nursery.start_soon(refund, second)
    assert sorted(outcomes) == ["refused", "written"]
    standing = await Ledger(second).standing(purchase.id)
    assert standing.refunded == 600 and standing.left == 400
    assert len(await second.pending("reversal")) == 1  # the refused one wrote nothing
    first.close()
    second.close()


async def test_a_declined_or_cancelled_claim_frees_its_amount(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    ledger = Ledger(journal)
    purchase = await journal.create(_row(state="approved", tstatus="approved", amount=1000))
    refund = _row(operation="refund", receipt_type="refund", state="new", amount=1000)
    refund.original_id = purchase.id
    entry = ledger.open(refund, claim=Claim(ClaimKind.REFUND, 1000))
    ledger.apply(entry, Event.REQUEST_SENT, undo=b"reversal")
    await ledger.commit(entry)
    assert (await ledger.standing(purchase.id)).left == 0  # in flight: it counts
    ledger.apply(entry, Event.HOST_DECLINED)
    await ledger.commit(entry)
    assert (await ledger.standing(purchase.id)).left == 1000
    assert await journal.pending() == []  # nothing to undo: its reversal went
    journal.close()


# --- the transaction command ------------------------------------------------------
async def _purchase(h: Harness) -> dict[str, Any]:
    h.sim.slot.present("default")
    answer = await h.transaction(**PURCHASE)
    assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
    receipt: dict[str, Any] = answer.body["receipt"]
    assert receipt["tstatus"] == "approved"
    return receipt


def _errors(answer: Message) -> str:
    return " | ".join(decode_error_stack(answer.body.get("error-stack")))


def _ledger_net(h: Harness) -> int:
    """What the host simulator booked, net of reversals (refunds negative)."""
    assert h.sim.host is not None
    net = 0
    for row in host_ledger(h.sim.host):
        if row["response"] in ("00", "Y1", "Y3"):
            sign = -1 if row["type"] == "refund" else 1
            net += sign * (row["amount"] - row["reversed"])
    return net


async def _journal_net(h: Harness) -> int:
    net = 0
    batch_id, _ = await h.terminal.journal.open_batch()
    async for chunk in h.terminal.journal.batch_chunks(batch_id):
        for row in chunk:
            if row.tstatus != "approved" or row.operation == "void":
                continue  # a void is its original's reversed amount
            sign = -1 if row.receipt_type == "refund" else 1
            net += sign * (row.amount - row.reversed_amount)
    return net


async def _assert_net(h: Harness, expected: int) -> None:
    await h.settle_pending()
    assert await _journal_net(h) == expected
    assert _ledger_net(h) == expected


async def test_a_purchase_is_refunded_in_full_once(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, FORCED) as h:
        rrn = (await _purchase(h))["rrn"]
        refund = {"type": "refund", "amount": "000000001000", "rrn": rrn, "forced": "true"}
        first = await h.transaction(**refund)
        assert first.body["receipt"]["tstatus"] == "approved", _errors(first)
        for _ in range(2):
            again = await h.transaction(**refund)
            assert again.status == "alreadyreversed", _errors(again)
            assert "refunded in full" in _errors(again)
        await _assert_net(h, 0)


async def test_partial_refunds_stop_at_what_is_left(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, FORCED) as h:
        rrn = (await _purchase(h))["rrn"]
        refund = {"type": "refund", "amount": "000000000600", "rrn": rrn, "forced": "true"}
        assert (await h.transaction(**refund)).body["receipt"]["tstatus"] == "approved"
        second = await h.transaction(**refund)
        assert second.status == "invalidarguments"
        assert "exceeds the 400 left" in _errors(second)
        rest = await h.transaction(**{**refund, "amount": "000000000400"})
        assert rest.body["receipt"]["tstatus"] == "approved"
        await _assert_net(h, 0)


async def test_a_card_refund_naming_a_purchase_is_capped_too(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        rrn = (await _purchase(h))["rrn"]
        refund = {"type": "refund", "amount": "000000000800", "rrn": rrn}
        assert (await h.transaction(**refund)).body["receipt"]["tstatus"] == "approved"
        over = await h.transaction(**refund)
        assert over.status == "invalidarguments", _errors(over)
        await _assert_net(h, 200)


async def test_refunded_is_not_voided_and_voided_is_not_refunded(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path, FORCED) as h:
        refunded = await _purchase(h)
        refund = {"type": "refund", "amount": "000000001000", "forced": "true"}
        answer = await h.transaction(**refund, rrn=refunded["rrn"])
        assert answer.body["receipt"]["tstatus"] == "approved"
        void = await h.transaction(type="void", number=refunded["seq"], forced="true")
        assert void.status == "notreversible", _errors(void)

        voided = await _purchase(h)
        void = await h.transaction(type="void", number=voided["seq"], forced="true")
        assert void.status == "ok", _errors(void)
        late = await h.transaction(**refund, rrn=voided["rrn"])
        assert late.status == "alreadyreversed", _errors(late)
        await _assert_net(h, 0)


async def test_forced_operations_are_off_unless_the_acquirer_allows_them(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        receipt = await _purchase(h)
        refund = await h.transaction(
            type="refund", amount="000000001000", rrn=receipt["rrn"], forced="true"
        )
        assert refund.status == "notallowedinterface", _errors(refund)
        void = await h.transaction(type="void", number=receipt["seq"], forced="true")
        assert void.status == "notallowedinterface", _errors(void)
        # Variant Б, the last transaction, is every acquirer's.
        assert (await h.transaction(type="void", number="last")).status == "ok"
        await _assert_net(h, 0)


async def test_forced_operations_can_require_the_password(tmp_path: Path) -> None:
    config = {"acquirer": {**FORCED["acquirer"], "forced-password": True}}
    async with simulated_terminal(tmp_path, config) as h:
        receipt = await _purchase(h)
        refund = {"type": "refund", "amount": "000000000100", "rrn": receipt["rrn"]}
        without = await h.transaction(**refund, forced="true")
        assert without.status == "notauthorized" and "password" in _errors(without)
        wrong = await h.transaction(**refund, forced="true", password="87654321")
        assert wrong.status == "notauthorized"
        # Voids without the card; a void of a receipt number with the card
        # needs no password.
        for cardless in ({"number": "last"}, {"number": receipt["seq"], "forced": "true"}):
            void = await h.transaction(type="void", **cardless)
            assert void.status == "notauthorized", cardless
        right = await h.transaction(**refund, forced="true", password="12345678")
        assert right.body["receipt"]["tstatus"] == "approved", _errors(right)
        await _assert_net(h, 900)
