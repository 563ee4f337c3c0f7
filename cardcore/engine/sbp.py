# Strategy: payments and refunds through the Faster Payments System (manual
# «Система быстрых платежей») as journal transactions of their own channel:
# - A paid QR becomes an approved `sbp` row with its own receipt numbering
#   (seq counter `seq-sbp`), the agent's operation id as rrn, and the receipt
#   of the manual's SBP example (`iface` sbp, `tid-sbp`, the SBP bank name).
# - Money that moved must come back when the terminal did not keep it: a QR
#   paid in the moment a card won the race, or a payment the cash register
#   cancelled before the answer went out, is refunded. The refund is queued in
#   the journal (store-and-forward lane `sbp`) in the same commit as the row
#   that records it, and the agent's refunds are idempotent per refund id.
# - A refund (force-sbp="true", rrn = the operation id) is written with a
#   pending status check before it is sent, so a refund whose answer was lost
#   is settled by asking the agent, never by refunding twice.
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import Any

import trio

from acquirers.sbp.api import RefundStatus
from acquirers.sbp.client import SbpClient
from acquirers.sbp.config import SbpConfig
from acquirers.sbp.errors import SbpCommunicationError, SbpError, SbpNotFoundError
from acquirers.sbp.poll import SbpPaid, SbpRejected
from cardcore.connection import Answer, CommandContext
from cardcore.engine.flow import Flow, InterfaceNotAllowed, Till, TransactionNotFound
from cardcore.engine.receipt import format_datetime, response_code_3
from cardcore.journal import Pending, TxnRecord
from cardcore.ledger.claims import Claim, ClaimKind
from cardcore.ledger.ledger import Entry
from cardcore.ledger.states import Event, TxnState

__all__ = ["SbpFlows"]

log = logging.getLogger(__name__)

SEQ = "seq-sbp"  # SBP's own receipt numbers
REFUND = "sbp-refund"  # money to give back, queued
CHECK = "sbp-refund-check"  # a refund request whose answer may be lost, queued


class SbpFlows:
    def __init__(self, till: Till) -> None:
        self.till = till

    def _config(self) -> SbpConfig:
        config = self.till.terminal.config.sbp
        if config is None:
            raise InterfaceNotAllowed("SBP is not configured on this terminal")
        return config

    @staticmethod
    def _record(flow: Flow, **values: Any) -> TxnRecord:
        record = flow.record
        record.channel = "sbp"
        record.interface = "sbp"
        record.amount_other = 0
        for name, value in values.items():
            setattr(record, name, value)
        return record

    # --- payment ---------------------------------------------------------------
    async def finish_race(
        self, ctx: CommandContext, flow: Flow, outcome: SbpPaid | SbpRejected
    ) -> Answer:
        """The QR won the detection race (paid or rejected)."""
        try:
            return await self.finish(ctx, flow, outcome)
        except BaseException:
            if not flow.stored and isinstance(outcome, SbpPaid):
                # Interrupted before the payment was written: refund it.
                with trio.CancelScope(shield=True):
                    await self.refund_lost(ctx, outcome)
            raise

    async def finish(
        self, ctx: CommandContext, flow: Flow, outcome: SbpPaid | SbpRejected
    ) -> Answer:
        ledger = self.till.ledger
        record = self._record(
            flow,
            rrn=outcome.operation_id if isinstance(outcome, SbpPaid) else None,
            extra={"qrc-id": outcome.qr.qrc_id, "order": outcome.qr.order},
        )
        flow.entry.seq_counter = SEQ
        if isinstance(outcome, SbpPaid):
            record.resp_code = "00"
            ledger.apply(flow.entry, Event.CARD_APPROVED)
        else:
            ledger.apply(flow.entry, Event.CARD_DECLINED, reason="onlinedeclined")
        await ledger.commit(flow.entry)
        return Answer({"receipt": self.receipt(record)})

    async def refund_lost(self, ctx: CommandContext, paid: SbpPaid) -> None:
        """A QR paid while a card won: keep a record and refund it (queued)."""
        till = self.till
        record = TxnRecord(
            channel="sbp", operation="purchase", receipt_type="purchase", state=TxnState.NEW,
            amount=paid.amount, currency=till.terminal.config.terminal.currency,
            rrn=paid.operation_id, interface="sbp", datetime=_now_iso(),
            extra={"qrc-id": paid.qr.qrc_id, "lost-race": True},
        )  # fmt: skip
        entry = till.ledger.open(record, seq_counter=SEQ, undo_kind=REFUND)
        refund = _refund_payload(paid.amount, f"lost-{paid.qr.qrc_id}", paid.operation_id)
        till.ledger.apply(entry, Event.ABORTED, undo=refund)
        await till.ledger.commit(entry)
        log.warning("SBP QR %s was paid after a card won: refund queued", paid.qr.qrc_id)
        till.terminal.host.poke()

    async def abort(self, flow: Flow) -> None:
        """The cash register cancelled after the payment was taken: refund it."""
        record = flow.record
        if record.state != TxnState.APPROVED:
            return
        flow.entry.undo_kind = REFUND
        refund = _refund_payload(record.amount, f"cancel-{record.extra.get('qrc-id', record.id)}",
                                 record.rrn)  # fmt: skip
        self.till.ledger.apply(flow.entry, Event.CANCELLED_AFTER_APPROVAL, undo=refund)
        await self.till.ledger.commit(flow.entry)
        self.till.terminal.host.poke()

    # --- refund ------------------------------------------------------------------
    async def refund(self, ctx: CommandContext, flow: Flow) -> Answer:
        """force-sbp="true" refund: rrn is the SBP operation id (manual «СБП»)."""
        config = self._config()
        till = self.till
        command = flow.command
        original = await till.terminal.journal.find_purchase(command.rrn or "", channel="sbp")
        if original is None:
            raise TransactionNotFound(f"no SBP payment with operation id {command.rrn}")
        # The agent takes partial refunds of a payment, up to what is left of it.
        amount = Claim(ClaimKind.REFUND, command.amount).grant(
            await till.ledger.standing(original.id)
        )
        record = self._record(flow, receipt_type="refund", operation="refund", amount=amount,
                              original_id=original.id, rrn=original.rrn)  # fmt: skip
        # The agent knows the refund by this id: asking for it settles a lost answer.
        refund_id = f"{config.terminal_id}-R{flow.when:%y%m%d%H%M%S}-{secrets.token_hex(3)}"
        record.extra["refund-id"] = refund_id
        entry = flow.entry
        entry.seq_counter, entry.undo_kind = SEQ, CHECK
        entry.claim = Claim(ClaimKind.REFUND, amount)
        # Durable before the request, with the check of what is left in the same
        # commit: a lost answer is settled by asking, never by refunding again.
        check = json.dumps({"refund-id": refund_id}).encode()
        till.ledger.apply(entry, Event.REQUEST_SENT, undo=check)
        await till.ledger.commit(entry)
        # The queued check is for a lost answer: not while the request is out.
        till.terminal.host.hold(record.id)
        try:
            return await self._request_refund(config, entry, original.rrn, refund_id)
        finally:
            till.terminal.host.release(record.id)

    async def _request_refund(
        self, config: SbpConfig, entry: Entry, operation_id: str | None, refund_id: str
    ) -> Answer:
        ledger, record = self.till.ledger, entry.record
        try:
            async with SbpClient(config) as client:
                result = await client.refund(
                    amount=record.amount, refund_id=refund_id, operation_id=operation_id
                )
        except SbpError as exc:
            if isinstance(exc, SbpCommunicationError):
                # The agent may have taken it: the row stays in flight (its
                # amount still claimed) until the queued check settles it.
                ledger.apply(entry, Event.NO_ANSWER)
                await ledger.commit(entry)
                self.till.terminal.host.poke()
                raise
            await self._settle_refund(entry, RefundStatus.DECLINED)
            return Answer({"receipt": self.receipt(record)})
        if result.status is RefundStatus.IN_PROGRESS:
            # Not final yet: the queued check settles it.
            ledger.apply(entry, Event.NO_ANSWER)
            await ledger.commit(entry)
            self.till.terminal.host.poke()
        else:
            await self._settle_refund(entry, result.status)
        return Answer({"receipt": self.receipt(record)})

    async def _settle_refund(self, entry: Entry, status: RefundStatus) -> None:
        """The final state of a refund in flight and, in the same commit, its
        check dropped and (completed) its amount off the payment."""
        ledger = self.till.ledger
        if status is RefundStatus.COMPLETED:
            entry.record.resp_code = "00"
            ledger.apply(entry, Event.HOST_APPROVED)
            ledger.apply(entry, Event.CARD_APPROVED)
            entry.reverse_original = entry.record.amount
        else:
            ledger.apply(entry, Event.HOST_DECLINED, reason="onlinedeclined")
        await ledger.commit(entry, "resp_code")

    # --- store-and-forward lane ---------------------------------------------------
    async def send(self, pending: Pending) -> bool:
        """Deliver one queued SBP message; True when it is settled."""
        config = self.till.terminal.config.sbp
        if config is None:
            return False
        data = json.loads(pending.payload)
        journal = self.till.terminal.journal
        try:
            async with SbpClient(config) as client:
                if pending.kind == REFUND:
                    result = await client.refund(
                        amount=data["amount"], refund_id=data["refund-id"],
                        operation_id=data["operation-id"],
                    )  # fmt: skip
                    done = result.status is RefundStatus.COMPLETED
                    if done:
                        await journal.resolve_pending(pending.id)
                    return done
                try:
                    status = (await client.refund_info(data["refund-id"])).status
                except SbpNotFoundError:
                    status = RefundStatus.DECLINED  # it never reached the agent
        except SbpError as exc:
            await journal.pending_attempt(pending.id, exc.message)
            return False
        if status is RefundStatus.IN_PROGRESS:
            await journal.pending_attempt(pending.id, "refund in progress")
            return False
        record = await journal.get(pending.txn_id) if pending.txn_id is not None else None
        if record is None or record.state != TxnState.ONLINE:
            await journal.resolve_pending(pending.id)  # nothing left to settle
            return True
        # Completed, declined, or unknown to the agent (the request never
        # reached it): the refund's final state.
        entry = self.till.ledger.open(record, seq_counter=SEQ, undo_kind=CHECK)
        await self._settle_refund(entry, status)
        return True

    # --- receipt -----------------------------------------------------------------
    def receipt(self, record: TxnRecord) -> dict[str, Any]:
        """The manual's SBP receipt (example in «Система быстрых платежей»)."""
        config = self.till.terminal.config
        sbp = config.sbp
        header = config.terminal.header_lines
        receipt: dict[str, Any] = {
            "header": {"line": list(header)} if header else None,
            "tid": config.terminal.tid or "",
            "mid": config.terminal.mid or "",
            "seq": record.seq,
            "type": record.receipt_type,
            "status": record.tstatus or "declined",
            "tstatus": record.tstatus or "declined",
            "amount-authorized": f"{record.amount:012d}",
            "currency": record.currency,
            "rrn": record.rrn or "",
            "resp-code": response_code_3(record.resp_code) or "",
            "auth-number": record.auth_code or "",
            "datetime": format_datetime(record.datetime),
            "iface": "sbp",
            "tid-sbp": sbp.terminal_id if sbp else "",
            "bank-name": sbp.bank_name if sbp else "",
        }
        if record.tstatus != "approved":
            receipt["decline-reason"] = record.decline_reason
        footer = config.terminal.footer_lines
        if footer:
            receipt["footer"] = {"line": list(footer)}
        return {k: v for k, v in receipt.items() if v is not None}


def _refund_payload(amount: int, refund_id: str, operation_id: str | None) -> bytes:
    return json.dumps(
        {"amount": amount, "refund-id": refund_id, "operation-id": operation_id}
    ).encode()


def _now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
