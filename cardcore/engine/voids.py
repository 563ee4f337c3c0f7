# Strategy: what every void shares (manual «Транзакция», Void and variants Б
# and В): the original found by receipt number or `last`, what is left of it
# granted by the ledger's claims (cardcore.ledger.claims) before anything is
# asked of the cardholder, and the void itself: a reversal of the original
# (0400 reason 17, field 95 naming what stays authorised), queued durably and
# approved for the cash register in the same commit that checks the claim
# again and takes the void's amount off the original. Without the card
# (`number=last`, `forced=true`: cardcore.engine.cardless) that is all; with
# the card (cardcore.engine.card) the card is read first and must be the
# original's (docs/protocol-decisions.md).
from __future__ import annotations

from dataclasses import dataclass

import trio

from acquirers.iso8583.messages import ReversalReason, build_reversal
from cardcore.connection import Answer, CommandContext
from cardcore.engine.flow import Flow, NotApproved, Till, TransactionNotFound, now
from cardcore.engine.request import Operation, TxnCommand
from cardcore.journal import TxnRecord
from cardcore.ledger.claims import Claim, ClaimKind, NotReversible
from cardcore.ledger.states import Event, TxnState

__all__ = ["PreparedVoid", "commit", "prepare"]


@dataclass
class PreparedVoid:
    """A void checked against its original: its row (not yet written) and
    what stays of the original once it is approved."""

    original: TxnRecord
    flow: Flow
    remaining_after: int


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


async def prepare(till: Till, command: TxnCommand) -> PreparedVoid:
    """The original and the void's row, refused at once when the original
    cannot be voided or nothing is left of it."""
    original = await _find_original(till, command)
    partial = till.terminal.config.acquirer.partial_void
    if original.operation == Operation.VOID.value:
        raise NotReversible(f"transaction {original.seq} is itself a void")
    if original.tstatus != "approved" or original.state != TxnState.APPROVED:
        raise NotApproved(f"transaction {original.seq} was not approved")
    standing = await till.ledger.standing(original.id)
    amount = Claim(ClaimKind.VOID, command.amount, partial).grant(standing)
    when = now().replace(microsecond=0)
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
    # The row is written with this amount: checked again in its commit.
    entry = till.ledger.open(record, claim=Claim(ClaimKind.VOID, amount, partial))
    entry.reverse_original = amount
    return PreparedVoid(original, Flow(command, entry, when), standing.left - amount)


async def commit(till: Till, ctx: CommandContext, void: PreparedVoid) -> Answer:
    """Queue the reversal and write the void in one commit, then offer it to
    the host; the cash register's answer is the void's receipt."""
    terminal, flow, original = till.terminal, void.flow, void.original
    host = terminal.host
    link = host.require()
    reversal = build_reversal(
        await till.original_message(original), link.dialect, stan=till.ledger.stans.take(),
        when=flow.when, reason=ReversalReason.CANCEL, rrn=original.rrn,
        auth_code=original.auth_code,
        remaining_amount=void.remaining_after if void.remaining_after > 0 else None,
    )  # fmt: skip
    flow.record.stan = reversal.text(11)
    till.ledger.apply(flow.entry, Event.QUEUED, undo=host.store(reversal))
    await till.ledger.commit(flow.entry)
    with trio.move_on_after(terminal.config.acquirer.response_timeout + 5):
        await host.flush()
    host.poke()
    return till.answer(ctx, flow.record, None)
