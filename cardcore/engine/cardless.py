# Strategy: transactions without a card in the reader (manual «Транзакция»,
# variants А, Б and В): manual entry of the card data, a void (a reversal,
# 0400 reason 17, approved for the cash register once it is durably queued),
# and a refund without the card (its card data from the purchase it names).
# The host messages come from the journal's rows (cardcore.hostmessages); a
# refund or void is a claim on its original, checked by the ledger in the
# commit that writes it (cardcore.ledger.claims).
from __future__ import annotations

import datetime as dt

import trio

from acquirers.iso8583.messages import Card, ReversalReason, build_reversal
from cardcore.connection import Answer, CommandContext
from cardcore.engine import online
from cardcore.engine.flow import Flow, NotApproved, Till, TransactionNotFound, now
from cardcore.engine.request import Operation, TxnCommand
from cardcore.journal import TxnRecord
from cardcore.ledger.claims import Claim, ClaimKind, NotReversible
from cardcore.ledger.states import Event, TxnState

__all__ = ["claim_purchase", "forced_refund", "manual_entry", "void"]


async def claim_purchase(till: Till, flow: Flow) -> TxnRecord | None:
    """A refund that names a purchase of the journal (by RRN) is one of its
    claims: refused at once when nothing is left for it, and checked again
    when its row is written. A refund naming a purchase this terminal never
    made stands alone (the card is there)."""
    command = flow.command
    original = await till.terminal.journal.find_purchase(command.rrn or "")
    if original is None:
        return None
    claim = Claim(ClaimKind.REFUND, command.amount, till.terminal.config.acquirer.partial_refund)
    claim.grant(await till.ledger.standing(original.id))
    flow.entry.claim = claim
    flow.record.original_id = original.id
    return original


async def manual_entry(till: Till, ctx: CommandContext, flow: Flow) -> Answer:
    """Variant А: the card data typed in (the password was checked first)."""
    manual = flow.command.manual
    assert manual is not None
    try:
        await till.flush_first()
        card = Card(pan=manual.pan, expiry=manual.expiry, entry_mode="012")
        flow.pan = manual.pan
        flow.record.expiry = f"{manual.expiry}{_last_day(manual.expiry)}"
        flow.record.interface = "manual"
        flow.record.extra["appname"] = "MANUAL"
        answer = await online.go_online(till, ctx, flow, card)
        await online.finish_host_only(till, ctx, flow, answer)
        return till.answer(ctx, flow.record, None)
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await online.end_interrupted(till, flow, exc)
        raise


async def forced_refund(till: Till, ctx: CommandContext, flow: Flow) -> Answer:
    """Variant В: a refund without the card; the card data come from the
    purchase it names, which must be in the journal."""
    command, journal = flow.command, till.terminal.journal
    original = await claim_purchase(till, flow)
    if original is None:
        raise TransactionNotFound(f"no approved purchase with rrn {command.rrn} in the journal")
    pan = journal.reveal_pan(original)
    if pan is None:
        raise TransactionNotFound("the journal keeps no card data for that purchase")
    record = flow.record
    flow.pan = pan
    record.expiry = original.expiry
    record.aid, record.scheme_rid, record.scheme_name = (
        original.aid,
        original.scheme_rid,
        original.scheme_name,
    )
    record.extra["appname"] = original.extra.get("appname", "")
    record.interface = "forced"
    try:
        await till.flush_first()
        card = Card(
            pan=pan, expiry=original.expiry[:4] if original.expiry else None, entry_mode="012"
        )
        answer = await online.go_online(till, ctx, flow, card)
        await online.finish_host_only(till, ctx, flow, answer)
        return till.answer(ctx, record, None)
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await online.end_interrupted(till, flow, exc)
        raise


async def _find_original(till: Till, command: TxnCommand) -> TxnRecord:
    journal = till.terminal.journal
    if command.number == "last":
        record = await journal.last("card")
        # `last` means the last transaction itself, which may be a void.
    else:
        record = await journal.find_by_seq(command.number or "")
    if record is None:
        raise TransactionNotFound(f"no transaction {command.number} in the current batch")
    return record


async def void(till: Till, ctx: CommandContext, command: TxnCommand) -> Answer:
    """A void by receipt number or `last` (variants Б and В): a reversal of
    the original, queued durably and approved for the cash register in the
    same commit that checks what is left of the original and takes the
    void's amount off it."""
    terminal = till.terminal
    original = await _find_original(till, command)
    acq = terminal.config.acquirer
    if original.operation == Operation.VOID.value:
        raise NotReversible(f"transaction {original.seq} is itself a void")
    if original.tstatus != "approved" or original.state != TxnState.APPROVED:
        raise NotApproved(f"transaction {original.seq} was not approved")
    standing = await till.ledger.standing(original.id)
    amount = Claim(ClaimKind.VOID, command.amount, acq.partial_void).grant(standing)
    host = terminal.host
    link = host.require()
    when = now()
    record = till.new_record(
        command,
        when,
        operation=Operation.VOID.value,
        receipt_type="purchasereversal"
        if original.receipt_type == "purchase"
        else "refundreversal",
        amount=amount,
        amount_other=0,
        currency=original.currency,
        original_id=original.id,
        masked_pan=original.masked_pan,
        pan_hash=original.pan_hash,
        expiry=original.expiry,
        aid=original.aid,
        scheme_rid=original.scheme_rid,
        scheme_name=original.scheme_name,
        interface=original.interface,
        rrn=original.rrn,
        auth_code=original.auth_code,
        extra={"appname": original.extra.get("appname", "")},
    )
    # Field 95: what stays authorised of the original after this void.
    remaining_after = standing.left - amount
    reversal = build_reversal(
        await till.original_message(original), link.dialect, stan=till.ledger.stans.take(),
        when=when, reason=ReversalReason.CANCEL, rrn=original.rrn,
        auth_code=original.auth_code,
        remaining_amount=remaining_after if remaining_after > 0 else None,
    )  # fmt: skip
    record.stan = reversal.text(11)
    # The row is written with this amount: checked again in its commit.
    entry = till.ledger.open(record, claim=Claim(ClaimKind.VOID, amount, acq.partial_void))
    entry.reverse_original = amount
    till.ledger.apply(entry, Event.QUEUED, undo=host.store(reversal))
    await till.ledger.commit(entry)
    with trio.move_on_after(acq.response_timeout + 5):
        await host.flush()
    host.poke()
    return till.answer(ctx, record, None)


def _last_day(yymm: str) -> str:
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return f"{(first_next - dt.timedelta(days=1)).day:02d}"
