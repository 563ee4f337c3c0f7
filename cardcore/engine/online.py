# Strategy: the acquirer's part of a transaction, arranged so that no crash,
# timeout or cancel loses or doubles money (ISO 8583 store-and-forward
# practice; cardcore.ledger holds the rules):
# - Before a financial request leaves, its row and its reversal are one
#   commit (request-sent). The host's answer is applied in memory; the
#   outcome is committed when the card (or, without a card, the host alone)
#   has decided: two commits for an approved purchase.
# - While the flow runs, store-and-forward leaves its reversal alone (the
#   host link holds the transaction); when the flow ends, whatever it left
#   queued goes.
# - A flow ended by an error or a cancel undoes what reached the host
#   (aborted, cancelled after approval). If the journal refuses writes (a
#   full disk), the row is left as a crash would leave it, and store-and-
#   forward settles it once the journal takes writes again.
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from acquirers.errors import AcquirerError
from acquirers.iso8583.messages import (
    Card,
    FinancialRequest,
    ReversalReason,
    build_financial,
    build_reversal,
)
from base import tlv
from cardcore.connection import CommandContext
from cardcore.engine.flow import Flow, Till, now
from cardcore.engine.request import Operation
from cardcore.hostmessages import HOST_TYPES, sender
from cardcore.journal import JournalError
from cardcore.ledger.states import Event, TxnState
from kernel.services import MessageId, OnlineResponse, OnlineResult

__all__ = ["abort", "end_interrupted", "finish_host_only", "go_online", "reversal"]

log = logging.getLogger("cardcore.engine")

# Columns the host's answer fills.
ANSWER_COLUMNS = ("rrn", "auth_code", "resp_code")


def reversal(till: Till, flow: Flow, reason: ReversalReason) -> bytes:
    """The stored form of the reversal of this flow's request. It keeps its
    STAN whatever the reason, so it is one reversal however often it is
    rewritten; once the host answered, it names the answer."""
    host = till.terminal.host
    link = host.require()
    assert flow.request is not None and flow.stans is not None
    response = flow.response
    message = build_reversal(
        flow.request, link.dialect, stan=flow.stans[1], when=now(), reason=reason,
        rrn=response.rrn if response else None,
        auth_code=response.auth_code if response else None,
    )  # fmt: skip
    return host.store(message)


async def go_online(till: Till, ctx: CommandContext, flow: Flow, card: Card) -> OnlineResponse:
    """Send the financial request with its reversal durably stored first.
    Without working keys (or with keys the host called stale) the key
    exchange runs before anything is stored: a request is never declined for
    a missing key without the terminal having tried to get one."""
    host, ledger = till.terminal.host, till.ledger
    link = host.require()
    await host.ensure_working_keys()
    command = flow.command
    stans = till.stans(flow)
    fin = FinancialRequest(
        type=HOST_TYPES[command.operation.value],
        amount=flow.record.amount,
        cashback=flow.record.amount_other,
        card=card,
        stan=stans[0],
        when=flow.when,
        original_rrn=command.rrn if command.operation is Operation.REFUND else None,
        batch=await till.batch(),
    )
    message = build_financial(fin, sender(link.terminal, flow.record.currency), link.dialect)
    flow.request = message
    record = flow.record
    record.stan = fin.stan
    record.extra["entry-mode"] = card.entry_mode
    if card.sequence:
        record.extra["psn"] = card.sequence
    till.terminal.journal.protect_pan(record, card.pan, keep=True)
    ledger.apply(flow.entry, Event.REQUEST_SENT, undo=reversal(till, flow, ReversalReason.TIMEOUT))
    await ledger.commit(flow.entry)
    host.hold(record.id)  # until the flow ends (the operation releases it)
    await till.display(ctx, MessageId.CONNECTING_TO_HOST)

    async def reconnecting(host: object) -> None:
        await till.display(ctx, MessageId.RECONNECTING)  # the mirror is tried next

    # From here on the request may be at the host, whatever interrupts us
    # (a cancel included): only the link can say it never left.
    flow.request_sent = True
    try:
        response = await link.financial(message, on_failover=reconnecting)
    except AcquirerError as exc:
        flow.request_sent = exc.request_sent
        log.info("seq %s: host not reached: %s", record.seq, exc.message)
        if not exc.request_sent:
            # Nothing reached the host: the stored reversal is not needed.
            ledger.apply(flow.entry, Event.NOT_SENT)
        await till.display(ctx, MessageId.NO_HOST_RESPONSE)
        return OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
    flow.response = response
    record.rrn, record.auth_code, record.resp_code = (
        response.rrn,
        response.auth_code,
        response.response_code,
    )
    ledger.apply(flow.entry, Event.HOST_APPROVED if response.approved else Event.HOST_DECLINED)
    await till.display(ctx, MessageId.HOST_RESPONSE_RECEIVED)
    icc = response.icc_data or b""
    issuer_auth = tlv.find(icc, 0x91) if icc else None
    scripts = b"".join(o.encode() for o in tlv.decode(icc) if o.tag in (0x71, 0x72)) if icc else b""
    return OnlineResponse(
        OnlineResult.APPROVED if response.approved else OnlineResult.DECLINED,
        arc=response.response_code.encode("ascii")[:2].ljust(2, b"0"),
        issuer_authentication_data=issuer_auth,
        scripts=scripts,
        authorisation_code=response.auth_code.encode("ascii") if response.auth_code else None,
    )


# Columns an operation without the card (manual entry, forced refund) fills.
HOST_ONLY_COLUMNS = (*ANSWER_COLUMNS, "expiry", "aid", "scheme_rid", "scheme_name", "interface",
                     "extra")  # fmt: skip


async def finish_host_only(
    till: Till, ctx: CommandContext, flow: Flow, answer: OnlineResponse
) -> None:
    """The outcome of an operation the host alone decides (manual entry,
    refund without the card): one commit with its consequences."""
    ledger, record = till.ledger, flow.record
    if answer.result is OnlineResult.APPROVED:
        ledger.apply(flow.entry, Event.CARD_APPROVED)
    elif answer.result is OnlineResult.UNABLE_TO_GO_ONLINE:
        # The reversal stays if the request left.
        ledger.apply(flow.entry, Event.ABORTED, reason="unabletoonline")
    await ledger.commit(flow.entry, *HOST_ONLY_COLUMNS)
    till.terminal.host.poke()
    await till.display(
        ctx, MessageId.APPROVED if record.tstatus == "approved" else MessageId.DECLINED,
        amount=record.amount, currency=record.currency,
    )  # fmt: skip


# How a flow's channel undoes what reached its host (abort for cards).
Undo = Callable[["Till", Flow], Awaitable[None]]


async def end_interrupted(
    till: Till, flow: Flow, exc: BaseException, undo: Undo | None = None
) -> None:
    """A flow ended by an error or a cancel: undo what reached the host
    (``undo``, by default abort). When the journal refuses writes (a full
    disk) the row is left as a crash would leave it: store-and-forward sends
    its stored reversal at once and settles the row when the journal takes
    writes again, without waiting for the next sale."""
    if not flow.stored:
        return
    if not isinstance(exc, JournalError):
        try:
            await (undo or abort)(till, flow)
            return
        except JournalError:
            pass
    till.terminal.host.unfinished(flow.record.id)


async def abort(till: Till, flow: Flow) -> None:
    """Cancel, card error or crash-like failure: what reached the host is
    reversed (the ledger's aborted and cancelled-after-approval
    transitions); nothing is left half-done in the journal."""
    ledger, host = till.ledger, till.terminal.host
    state = flow.state
    if state in (TxnState.ONLINE, TxnState.AUTHORIZED, TxnState.DECLINED):
        renewed = None
        if state is TxnState.AUTHORIZED:
            renewed = reversal(till, flow, ReversalReason.CANCEL)  # naming the answer
        ledger.apply(flow.entry, Event.ABORTED, undo=renewed)
        await ledger.commit(flow.entry, *ANSWER_COLUMNS)
        host.poke()
    elif state is TxnState.APPROVED:
        # Approved, but the cash register cancelled before the answer went
        # out: the approval is reversed, the customer is not charged.
        await _reverse_approved(till, flow)


async def _reverse_approved(till: Till, flow: Flow) -> None:
    host, record = till.terminal.host, flow.record
    undo = None
    if host.link is not None:
        message = build_reversal(
            await till.original_message(record), host.link.dialect,
            stan=till.ledger.stans.take(), when=now(), reason=ReversalReason.CANCEL,
            rrn=record.rrn, auth_code=record.auth_code,
        )  # fmt: skip
        undo = host.store(message)
    till.ledger.apply(flow.entry, Event.CANCELLED_AFTER_APPROVAL, undo=undo)
    await till.ledger.commit(flow.entry)
    host.poke()
