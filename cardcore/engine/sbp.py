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
from typing import TYPE_CHECKING, Any

from acquirers.sbp.api import RefundStatus
from acquirers.sbp.client import SbpClient
from acquirers.sbp.errors import SbpError, SbpNotFoundError
from acquirers.sbp.poll import SbpPaid, SbpRejected
from cardcore.connection import Answer, CommandContext
from cardcore.engine.claims import Claim, ClaimKind
from cardcore.engine.receipt import format_datetime, response_code_3
from cardcore.engine.states import Event, TxnState, next_state
from cardcore.journal import Pending, TxnRecord

if TYPE_CHECKING:
    from cardcore.engine.engine import Flow, TransactionEngine

__all__ = ["SbpFlows"]

log = logging.getLogger(__name__)


class SbpFlows:
    def __init__(self, engine: TransactionEngine) -> None:
        self.engine = engine

    @property
    def _terminal(self) -> Any:
        return self.engine.terminal

    def _config(self) -> Any:
        config = self._terminal.config.sbp
        if config is None:
            from cardcore.engine.engine import InterfaceNotAllowed

            raise InterfaceNotAllowed("SBP is not configured on this terminal")
        return config

    def _record(self, flow: Flow, **values: Any) -> TxnRecord:
        record = flow.record
        record.channel = "sbp"
        record.interface = "sbp"
        record.amount_other = 0
        for name, value in values.items():
            setattr(record, name, value)
        return record

    # --- payment ---------------------------------------------------------------
    async def finish(
        self, ctx: CommandContext, flow: Flow, outcome: SbpPaid | SbpRejected
    ) -> Answer:
        journal = self._terminal.journal
        record = self._record(
            flow,
            rrn=outcome.operation_id if isinstance(outcome, SbpPaid) else None,
            extra={"qrc-id": outcome.qr.qrc_id, "order": outcome.qr.order},
        )
        if isinstance(outcome, SbpPaid):
            record.state = next_state(TxnState.NEW, Event.CARD_APPROVED)
            record.tstatus, record.resp_code = "approved", "00"
        else:
            record.state = next_state(TxnState.NEW, Event.CARD_DECLINED)
            record.tstatus, record.decline_reason = "declined", "onlinedeclined"
        await journal.create(record, seq_counter="seq-sbp")
        flow.stored = True
        return Answer({"receipt": self.receipt(record)})

    async def refund_lost(self, ctx: CommandContext, paid: SbpPaid) -> None:
        """A QR paid while a card won: keep a record and refund it (queued)."""
        journal = self._terminal.journal
        record = TxnRecord(
            channel="sbp", operation="purchase", receipt_type="purchase",
            state=next_state(TxnState.NEW, Event.ABORTED), tstatus="declined",
            decline_reason="systemerror", amount=paid.amount,
            currency=self._terminal.config.terminal.currency, rrn=paid.operation_id,
            interface="sbp", datetime=_now_iso(),
            extra={"qrc-id": paid.qr.qrc_id, "lost-race": True},
        )  # fmt: skip
        refund = _refund_payload(paid.amount, f"lost-{paid.qr.qrc_id}", paid.operation_id)
        await journal.create(record, seq_counter="seq-sbp", pending=[("sbp-refund", refund)])
        log.warning("SBP QR %s was paid after a card won: refund queued", paid.qr.qrc_id)
        self._terminal.host.poke()

    async def abort(self, flow: Flow) -> None:
        """The cash register cancelled after the payment was taken: refund it."""
        record = flow.record
        if record.state != TxnState.APPROVED:
            return
        record.state = next_state(record.state, Event.CANCELLED_AFTER_APPROVAL)
        record.tstatus, record.decline_reason = "declined", "systemerror"
        refund = _refund_payload(record.amount, f"cancel-{record.extra.get('qrc-id', record.id)}",
                                 record.rrn)  # fmt: skip
        await self._terminal.journal.update(
            record, ["state", "tstatus", "decline_reason"], add_pending=("sbp-refund", refund)
        )
        self._terminal.host.poke()

    # --- refund ------------------------------------------------------------------
    async def refund(self, ctx: CommandContext, flow: Flow) -> Answer:
        """force-sbp="true" refund: rrn is the SBP operation id (manual «СБП»)."""
        config = self._config()
        command = flow.command
        journal = self._terminal.journal
        original = await journal.find_purchase(command.rrn or "", channel="sbp")
        if original is None:
            from cardcore.engine.engine import TransactionNotFound

            raise TransactionNotFound(f"no SBP payment with operation id {command.rrn}")
        # The agent takes partial refunds of a payment, up to what is left of it.
        amount = Claim(ClaimKind.REFUND, command.amount).grant(await journal.standing(original.id))
        record = self._record(flow, receipt_type="refund", operation="refund", amount=amount,
                              original_id=original.id, rrn=original.rrn)  # fmt: skip
        record.state = next_state(TxnState.NEW, Event.REQUEST_SENT)
        # The agent knows the refund by this id: asking for it settles a lost answer.
        refund_id = f"{config.terminal_id}-R{flow.when:%y%m%d%H%M%S}-{secrets.token_hex(3)}"
        record.extra["refund-id"] = refund_id
        check = json.dumps({"refund-id": refund_id}).encode()
        # Durable before the request, with the check of what is left in the same
        # commit: a lost answer is settled by asking, never by refunding again.
        await journal.create(
            record, seq_counter="seq-sbp", pending=[("sbp-refund-check", check)],
            claim=Claim(ClaimKind.REFUND, amount),
        )  # fmt: skip
        flow.stored = True
        # The queued check is for a lost answer: not while the request is out.
        self._terminal.host.hold(record.id)
        try:
            return await self._request_refund(config, record, original.rrn, refund_id)
        finally:
            self._terminal.host.release(record.id)

    async def _request_refund(
        self, config: Any, record: TxnRecord, operation_id: str | None, refund_id: str
    ) -> Answer:
        journal = self._terminal.journal
        amount = record.amount
        try:
            async with SbpClient(config) as client:
                result = await client.refund(
                    amount=amount, refund_id=refund_id, operation_id=operation_id
                )
        except SbpError as exc:
            if exc.status in ("communicationerror", "timeout"):
                # The agent may have taken it: the row stays in flight (its
                # amount still claimed) until the queued check settles it.
                record.tstatus, record.decline_reason = "declined", "unabletoonline"
                await journal.update(record, ["tstatus", "decline_reason"])
                self._terminal.host.poke()
                raise
            await self._settle_refund(record, RefundStatus.DECLINED)
            return Answer({"receipt": self.receipt(record)})
        if result.status is RefundStatus.IN_PROGRESS:
            # Not final yet: the queued check settles it.
            record.tstatus, record.decline_reason = "declined", "unabletoonline"
            await journal.update(record, ["tstatus", "decline_reason"])
            self._terminal.host.poke()
        else:
            await self._settle_refund(record, result.status)
        return Answer({"receipt": self.receipt(record)})

    async def _settle_refund(self, record: TxnRecord, status: RefundStatus) -> None:
        """The final state of a refund in flight and, in the same commit, its
        check dropped and (completed) its amount off the payment."""
        if status is RefundStatus.COMPLETED:
            record.state = next_state(record.state, Event.HOST_APPROVED)
            record.state = next_state(record.state, Event.CARD_APPROVED)
            record.tstatus, record.decline_reason, record.resp_code = "approved", None, "00"
        else:
            record.state = next_state(record.state, Event.HOST_DECLINED)
            record.tstatus, record.decline_reason = "declined", "onlinedeclined"
        await self._terminal.journal.update(
            record, ["state", "tstatus", "decline_reason", "resp_code"],
            drop_pending="sbp-refund-check",
            reverse_original=record.amount if status is RefundStatus.COMPLETED else 0,
        )  # fmt: skip

    # --- store-and-forward lane ---------------------------------------------------
    async def send(self, pending: Pending) -> bool:
        """Deliver one queued SBP message; True when it is settled."""
        config = self._terminal.config.sbp
        if config is None:
            return False
        data = json.loads(pending.payload)
        journal = self._terminal.journal
        try:
            async with SbpClient(config) as client:
                if pending.kind == "sbp-refund":
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
        await self._settle_refund(record, status)
        return True

    # --- receipt -----------------------------------------------------------------
    def receipt(self, record: TxnRecord) -> dict[str, Any]:
        """The manual's SBP receipt (example in «Система быстрых платежей»)."""
        config = self._terminal.config
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
