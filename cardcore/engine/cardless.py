# Strategy: transactions without a card in the reader (manual «Транзакция»,
# variants А and В): manual entry of the card data and a refund without the
# card (its card data from the purchase it names). A void without the card
# (variants Б and В) is cardcore.engine.voids alone.
# The host messages come from the journal's rows (cardcore.hostmessages); a
# refund or void is a claim on its original, checked by the ledger in the
# commit that writes it (cardcore.ledger.claims).
from __future__ import annotations

import datetime as dt

import trio

from acquirers.iso8583.messages import Card
from cardcore.connection import Answer, CommandContext
from cardcore.engine import online
from cardcore.engine.flow import Flow, Till, TransactionNotFound
from cardcore.journal import TxnRecord
from cardcore.ledger.claims import Claim, ClaimKind

__all__ = ["claim_purchase", "forced_refund", "manual_entry"]


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


def _last_day(yymm: str) -> str:
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return f"{(first_next - dt.timedelta(days=1)).day:02d}"
