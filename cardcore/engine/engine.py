# Strategy: the ECR `transaction` command (manual «Транзакция») end to end:
# detection through the HAL, the EMV kernel, the ISO 8583 host, the journal
# and the receipt — arranged so that no crash, timeout or cancel loses or
# doubles money:
# - Before a financial request leaves, its transaction row and its reversal
#   are committed together (state `online`). The reversal is dropped only
#   when the host answered and the card completed; otherwise it stays and the
#   store-and-forward sender delivers it (start-up, background, and before
#   the next financial request). An offline approval queues an advice.
# - Every state change goes through the table in engine.states, in the same
#   commit as the pending messages it implies.
# - The client can cancel at any time (keepalive answered `cancelled`, a
#   disconnect): the clean-up runs shielded and, once the card or host was
#   involved, ends in a reversal.
# - Cardless operations (void, forced refund) and manual PAN entry build the
#   host messages from the journal; a void is itself a reversal (0400,
#   reason 17) and is stored and forwarded like one.
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from acquirers.errors import AcquirerError
from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.messages import (
    Card,
    FinancialRequest,
    FinancialResponse,
    ReversalReason,
    build_financial,
    build_reversal,
)
from acquirers.iso8583.response_codes import describe
from acquirers.sbp.poll import SbpPaid
from cardcore.connection import Answer, CommandContext
from cardcore.engine.claims import Claim, ClaimKind, NotReversible
from cardcore.engine.detection import Detected, DetectionPlan, Found, NoDetection, detect
from cardcore.engine.display import display_body
from cardcore.engine.receipt import card_receipt, scheme_for
from cardcore.engine.recovery import recover, register_senders
from cardcore.engine.request import Operation, TxnCommand, parse_transaction
from cardcore.engine.sbp import SbpFlows
from cardcore.engine.states import Event, TxnState, next_state
from cardcore.errors import InvalidArguments, NotAuthorized, OperationCancelled
from cardcore.hostmessages import HOST_TYPES, ORIGINAL_MTI, original_message
from cardcore.journal import JournalError, TxnRecord
from cardcore.terminal import Terminal
from hal.interfaces import CardCollision, CardInterface, CardSession
from kernel import tlv
from kernel.config import TransactionRequest, TransactionType
from kernel.contact import ContactKernel
from kernel.contactless import ContactlessEntryPoint, Preprocessed, UiRequest
from kernel.errors import CardcoreError, PinPadError
from kernel.outcome import Decision, Outcome
from kernel.selection import Candidate
from kernel.services import (
    CONTACTLESS_FIELD55_TAGS,
    DEFAULT_FIELD55_TAGS,
    MessageId,
    OnlineRequest,
    OnlineResponse,
    OnlineResult,
    PinRequest,
)

__all__ = ["InterfaceNotAllowed", "NotDetected", "TransactionEngine", "TransactionNotFound"]

log = logging.getLogger(__name__)


class NotDetected(CardcoreError):
    """No card was presented before the detection timeout."""

    status = "notdetected"


class TransactionNotFound(CardcoreError):
    """The transaction to void is not in the journal."""

    status = "transactionnotfound"


class NotApproved(CardcoreError):
    """The transaction to void was not approved."""

    status = "notapproved"


class InterfaceNotAllowed(CardcoreError):
    """This interface or entry mode is not allowed for the operation."""

    status = "notallowedinterface"


_KERNEL_TYPES = {
    Operation.PURCHASE: TransactionType.PURCHASE,
    Operation.CASHBACK: TransactionType.PURCHASE_WITH_CASHBACK,
    Operation.REFUND: TransactionType.REFUND,
}
_RECEIPT_TYPES = {
    Operation.PURCHASE: "purchase",
    Operation.CASHBACK: "purchase",
    Operation.REFUND: "refund",
}


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _entry_mode(interface: CardInterface | None) -> str:
    """ISO 8583 field 22: 05 chip / 07 contactless chip, 1 = PIN entry capable."""
    return "071" if interface is CardInterface.CONTACTLESS else "051"


def _track2_text(raw: bytes | None) -> str | None:
    if not raw:
        return None
    return raw.hex().upper().rstrip("F").replace("D", "=")


@dataclass
class Flow:
    """One transaction in progress: its journal row and what the host said."""

    command: TxnCommand
    record: TxnRecord
    when: dt.datetime
    request: IsoMessage | None = None  # the 0200 as sent
    response: FinancialResponse | None = None
    request_sent: bool = False
    interface: CardInterface | None = None
    pan: str | None = field(default=None, repr=False)
    stored: bool = False  # the row is in the journal
    # STANs of the financial request and of its reversal, taken together.
    stans: tuple[str, str] | None = None
    # A refund of a journal purchase: checked again when its row is written.
    claim: Claim | None = None

    @property
    def state(self) -> TxnState:
        return TxnState(self.record.state)


class EngineServices:
    """The kernel's window on the terminal (kernel.services.KernelServices)."""

    def __init__(self, engine: TransactionEngine, ctx: CommandContext, flow: Flow) -> None:
        self.engine = engine
        self.ctx = ctx
        self.flow = flow
        self.currency = flow.command.currency

    async def display(
        self, message: MessageId, *, amount: int | None = None, languages: str = ""
    ) -> None:
        await self.engine.display(
            self.ctx, int(message), amount=amount, languages=languages, currency=self.currency
        )

    async def select_application(self, candidates: Sequence[Candidate]) -> int | None:
        # The candidates come sorted by priority (EMV Book 1 12.4); without a
        # cardholder-facing selection screen the terminal takes the first.
        await trio.lowlevel.checkpoint()
        return 0 if candidates else None

    async def confirm_application(self, candidate: Candidate) -> bool:
        await trio.lowlevel.checkpoint()
        return True

    def _pinpad(self) -> Any:
        pinpad = self.engine.terminal.devices.pinpad
        if pinpad is None:
            raise PinPadError("no PIN pad")
        return pinpad

    async def offline_pin(self, request: PinRequest) -> bytes:
        block: bytes = await self._pinpad().offline_pin(
            request.amount, request.currency, request.tries_remaining,
            self.engine.terminal.config.transaction.pin_timeout,
        )  # fmt: skip
        return block

    async def online_pin(self, request: PinRequest) -> bytes:
        block: bytes = await self._pinpad().online_pin(
            request.pan or "", request.amount, request.currency,
            self.engine.terminal.config.transaction.pin_timeout,
        )  # fmt: skip
        return block

    async def split_sales_amount(self, pan: str, currency: int) -> int:
        journal = self.engine.terminal.journal
        last = await journal.last("card", pan_hash=journal.protector.hash(pan), tstatus="approved")
        if last is None or last.when.date() != self.flow.when.date():
            return 0
        return last.amount

    async def go_online(self, request: OnlineRequest) -> OnlineResponse:
        return await self.engine.authorize(self.ctx, self.flow, request)

    async def data_exchange(self, point: str, data: Mapping[int, bytes]) -> Mapping[int, bytes]:
        return await self.engine.data_exchange(self.ctx, data)

    async def ui_request(self, request: UiRequest) -> None:
        """Contactless UI (Book A 9.4): the display message and the four lights."""
        languages = request.language or self.engine.terminal.config.transaction.languages
        body = display_body(int(request.message), languages=languages)
        body.update({k: v for k, v in request.display_fields().items() if v and k != "language"})
        await self.engine.show(body)
        await self.ctx.ask("display", body)
        indicators = self.engine.terminal.devices.indicators
        lights = request.lights
        if indicators is not None and lights is not None:
            await indicators.show(lights.lights, lights.tone)


class TransactionEngine:
    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.sbp = SbpFlows(self)

    def register_senders(self) -> None:
        """Let store-and-forward deliver the SBP refunds the engine queues."""
        register_senders(self.terminal)

    async def recover(self) -> int:
        """After a crash: see cardcore.engine.recovery."""
        return await recover(self.terminal)

    # --- messages to the cash register -----------------------------------
    async def display(
        self,
        ctx: CommandContext,
        message: int,
        *,
        amount: int | None = None,
        languages: str = "",
        currency: str = "643",
    ) -> None:
        body = display_body(
            message,
            languages=languages or self.terminal.config.transaction.languages,
            amount=amount,
            currency=currency,
        )
        await self.show(body)
        await ctx.ask("display", body)

    async def show(self, body: Mapping[str, str]) -> None:
        """The same message on the terminal's own display, when it has one."""
        screen = self.terminal.devices.display
        if screen is not None:
            with_amount = body.get("value-qualifier", "00") != "00"
            await screen.show(
                int(body["code"], 16),
                body.get("msg", ""),
                int(body.get("value") or 0) if with_amount else None,
                body.get("currency", ""),
            )

    async def data_exchange(
        self, ctx: CommandContext, data: Mapping[int, bytes]
    ) -> Mapping[int, bytes]:
        """The manual's `dex` message. Sensitive tags (PAN, track data) go only
        over the secure channel."""
        from kernel.dictionary import is_sensitive

        if not self.terminal.config.transaction.data_exchange or not data:
            return {}
        tags = [
            {"@name": tlv.tag_hex(tag), "@value": value.hex().upper()}
            for tag, value in data.items()
            if ctx.secure or not is_sensitive(tag)
        ]
        answer = await ctx.ask("dex", {"kernel-tags": {"tag": tags}})
        if answer.status != "ok":
            raise OperationCancelled(f"data exchange answered {answer.status}")
        returned = answer.body.get("terminal-tags")
        entries = returned.get("tag", []) if isinstance(returned, dict) else []
        if isinstance(entries, dict):
            entries = [entries]
        updates: dict[int, bytes] = {}
        try:
            for entry in entries:
                updates[int(entry["@name"], 16)] = bytes.fromhex(entry["@value"])
        except (KeyError, TypeError, ValueError):
            raise InvalidArguments(
                "dex answer: terminal-tags must be <tag name= value=/>"
            ) from None
        return updates

    # --- entry -----------------------------------------------------------------
    async def transaction(self, ctx: CommandContext) -> Answer:
        config = self.terminal.config
        command = parse_transaction(ctx.message, config.terminal.currency, self.terminal.today())
        if command.currency != config.terminal.currency:
            # The batch settles in one currency (the 0500 totals carry no
            # currency): a certified terminal refuses one it does not support.
            raise InvalidArguments(
                f"currency {command.currency} is not supported; this terminal works in "
                f"{config.terminal.currency}"
            )
        acquirer = config.acquirer
        if command.manual is not None:
            await self._check_password(command, "manual card entry")
            if command.operation.value not in acquirer.manual_entry:
                raise InterfaceNotAllowed(
                    f"the acquirer does not allow manual card entry for {command.operation}"
                )
        if command.forced:
            allowed = (
                acquirer.forced_void
                if command.operation is Operation.VOID
                else acquirer.forced_refund
            )
            if not allowed:
                raise InterfaceNotAllowed(
                    f"the acquirer does not allow a {command.operation} without the card"
                )
        # Every void runs without the card today (by number, `last` or
        # forced), so the password option covers them all.
        cardless = command.forced or command.operation is Operation.VOID
        if acquirer.forced_password and cardless:
            await self._check_password(command, f"a {command.operation} without the card")
        ctx.start_keepalive()
        if command.operation is Operation.VOID:
            return await self._void(ctx, command)
        if command.operation is Operation.REFUND and command.forced:
            return await self._forced_refund(ctx, command)
        return await self._with_card(ctx, command)

    async def _check_password(self, command: TxnCommand, what: str) -> None:
        if command.password is None:
            raise NotAuthorized(f"{what} needs the administrator password")
        await self.terminal.auth.check_password(command.password)

    # --- helpers ---------------------------------------------------------------
    def _new_flow(self, command: TxnCommand) -> Flow:
        # One moment for the row and the request: field 7 is rebuilt from the
        # stored time for voids and batch upload, so they must agree.
        when = _now().replace(microsecond=0)
        return Flow(command, self._new_record(command, when), when)

    def _new_record(self, command: TxnCommand, when: dt.datetime, **values: Any) -> TxnRecord:
        # The cash register's amount is the purchase; with cashback the amount
        # authorised (9F02, ISO 8583 field 4) is the purchase plus the cashback.
        record = TxnRecord(
            channel="card",
            operation=command.operation.value,
            receipt_type=_RECEIPT_TYPES.get(command.operation, "purchase"),
            state=TxnState.NEW,
            amount=(command.amount or 0) + command.amount_other,
            amount_other=command.amount_other,
            currency=command.currency,
            datetime=when.isoformat(timespec="seconds"),
        )
        for name, value in values.items():
            setattr(record, name, value)
        return record

    @staticmethod
    def _advance(flow: Flow, event: Event) -> None:
        flow.record.state = next_state(flow.record.state, event)

    async def _batch(self) -> str:
        _, number = await self.terminal.journal.open_batch()
        return f"{number:06d}"

    async def _stans(self, flow: Flow) -> tuple[str, str]:
        """The request's and its reversal's STANs, from one counter commit."""
        if flow.stans is None:
            first = await self.terminal.journal.next_counter("stan", count=2)
            flow.stans = (f"{first:06d}", f"{first % 999_999 + 1:06d}")
        return flow.stans

    def _reversal(self, flow: Flow, reason: ReversalReason) -> bytes:
        """The stored form of the reversal of this flow's request. It keeps its
        STAN whatever the reason, so it is one reversal however often it is
        rewritten."""
        host = self.terminal.host
        link = host.require()
        assert flow.request is not None and flow.stans is not None
        response = flow.response
        reversal = build_reversal(
            flow.request, link.dialect, stan=flow.stans[1], when=_now(), reason=reason,
            rrn=response.rrn if response else None,
            auth_code=response.auth_code if response else None,
        )  # fmt: skip
        return host.store(reversal)

    async def _flush_first(self) -> None:
        """Pending reversals and advices go before a new financial message; a host
        that does not answer must not hold the transaction for long."""
        host = self.terminal.host
        if host.link is None:
            return
        with trio.move_on_after(host.config.acquirer.connect_timeout + 5):
            await host.flush()

    # --- the card flow -----------------------------------------------------------
    def _kernel_request(self, flow: Flow, sequence: int = 1) -> TransactionRequest:
        return TransactionRequest(
            amount=flow.record.amount,
            amount_other=flow.record.amount_other,
            currency=int(flow.command.currency),
            transaction_type=_KERNEL_TYPES[flow.command.operation],
            when=flow.when.replace(tzinfo=None),
            sequence_counter=sequence,
        )

    def _plan(self, ctx: CommandContext, flow: Flow) -> tuple[DetectionPlan, Preprocessed | None]:
        """Which interfaces race for this transaction (manual «Транзакция», «СБП»)."""
        terminal, config = self.terminal, self.terminal.config
        command = flow.command
        readers = terminal.devices.readers
        sbp_only = command.force_sbp is True
        plan = DetectionPlan(
            amount=flow.record.amount,
            timeout=config.transaction.detection_timeout,
            mifare=config.interfaces.mifare,
            screen=terminal.devices.display,
        )
        if not sbp_only and config.interfaces.contact:
            plan.contact = readers.get(CardInterface.CONTACT)
        pre: Preprocessed | None = None
        contactless = readers.get(CardInterface.CONTACTLESS)
        if (
            not sbp_only
            and config.interfaces.contactless
            and contactless is not None
            and command.operation in (Operation.PURCHASE, Operation.REFUND)
        ):
            entry = self._entry_point()
            if entry is not None:
                pre = entry.preprocess(self._kernel_request(flow))
                if pre.allowed:
                    plan.contactless = contactless
                else:
                    pre = None  # over the contactless limits: chip only (Book B 3.1.1.4)
        sbp_wanted = command.operation is Operation.PURCHASE and command.force_sbp is not False
        if sbp_wanted and config.sbp is not None:
            plan.sbp = config.sbp
            # Unique per QR: the agent refuses an order id it has seen.
            stamp = flow.when.strftime("%y%m%d%H%M%S")
            plan.sbp_order = f"{config.sbp.terminal_id}-{stamp}-{secrets.token_hex(3)}"
            plan.on_lost_payment = functools.partial(self.sbp.refund_lost, ctx)
        elif sbp_only:
            raise InterfaceNotAllowed("SBP is not configured on this terminal")
        if plan.contact is None and plan.contactless is None and plan.sbp is None:
            raise NotDetected("no card interface is available for this operation")

        services = EngineServices(self, ctx, flow)

        async def prompt() -> None:
            if plan.contactless is not None:
                # Book B 3.2.1.2: 'Present Card' with the amount, 'Ready to
                # Read' (the first light on).
                ui = ContactlessEntryPoint.polling_ui(amount=command.amount)
                await services.ui_request(dataclasses.replace(ui, currency=int(command.currency)))
            elif plan.contact is not None:
                await self.display(
                    ctx, MessageId.INSERT_CARD, amount=command.amount, currency=command.currency
                )

        async def show(resolved: bool) -> None:
            # Book B 3.2.1.4 / 3.2.1.5: two cards in the field, and the field
            # clear of the second card again.
            await services.ui_request(ContactlessEntryPoint.collision_ui(resolved=resolved))

        plan.prompt, plan.show = prompt, show
        return plan, pre

    async def _with_card(self, ctx: CommandContext, command: TxnCommand) -> Answer:
        flow = self._new_flow(command)
        try:
            refund = command.operation is Operation.REFUND
            if refund and command.force_sbp is True and command.manual is None:
                return await self.sbp.refund(ctx, flow)
            if refund and command.rrn:
                await self._claim_purchase(flow)
            if command.manual is not None:
                return await self._manual(ctx, flow)
            await self._flush_first()
            plan, pre = self._plan(ctx, flow)
            try:
                detected = await detect(ctx, plan)
            except NoDetection as exc:
                raise NotDetected(exc.message) from None
            if detected.found is Found.MIFARE_END:
                return await self._mifare_end(detected)
            if detected.found is Found.SBP:
                assert detected.sbp is not None
                try:
                    return await self.sbp.finish(ctx, flow, detected.sbp)
                except BaseException:
                    if not flow.stored and isinstance(detected.sbp, SbpPaid):
                        # Interrupted before the payment was written: refund it.
                        with trio.CancelScope(shield=True):
                            await self.sbp.refund_lost(ctx, detected.sbp)
                    raise
            assert detected.session is not None
            flow.interface = detected.session.info.interface
            try:
                if detected.found is Found.CONTACTLESS and pre is not None:
                    outcome = await self._run_contactless(ctx, flow, detected.session, pre)
                else:
                    outcome = await self._run_kernel(ctx, flow, detected.session)
            finally:
                with trio.CancelScope(shield=True):
                    await detected.session.close()
            return await self._finish_card(ctx, flow, outcome)
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await self._end_interrupted(flow, exc)
            raise
        finally:
            self.terminal.host.release(flow.record.id)

    async def _mifare_end(self, detected: Detected) -> Answer:
        """The cash register handled a MIFARE card itself: indicators as it asked,
        no bank operation, answer `cancelled` without a receipt (manual)."""
        indicators = self.terminal.devices.indicators
        if indicators is not None and detected.indicator in ("ok", "error"):
            if detected.indicator == "ok":
                await indicators.show((True, True, True, True), "success")
            else:
                await indicators.show((False, False, False, False), "alert")
        raise OperationCancelled("the cash register finished with the MIFARE card")

    async def _run_kernel(self, ctx: CommandContext, flow: Flow, session: CardSession) -> Outcome:
        terminal = self.terminal
        kernel = ContactKernel(terminal.kernel_config(), terminal.ca_keys())
        request = self._kernel_request(flow, int((await self._stans(flow))[0]))
        services = EngineServices(self, ctx, flow)
        return await kernel.run(session.transmit, services, request)

    def _entry_point(self) -> ContactlessEntryPoint | None:
        config = self.terminal.contactless_config()
        if not config.combinations:
            return None
        return ContactlessEntryPoint(config, self.terminal.ca_keys())

    async def _run_contactless(
        self, ctx: CommandContext, flow: Flow, session: CardSession, pre: Preprocessed
    ) -> Outcome:
        """Book B Start B-D with its restarts (see phone, card lost): at most two."""
        entry = self._entry_point()
        assert entry is not None
        services = EngineServices(self, ctx, flow)
        outcome = await entry.activate(session.transmit, services, pre)
        reader = self.terminal.devices.readers[CardInterface.CONTACTLESS]
        for _ in range(2):
            if not outcome.restart_required:
                break
            await services.ui_request(entry.polling_ui(outcome, amount=flow.record.amount))
            again: CardSession | None = None
            with trio.move_on_after(self.terminal.config.transaction.detection_timeout):
                while again is None:
                    try:
                        again = await reader.wait_for_card()
                    except CardCollision:
                        await services.ui_request(entry.collision_ui())
            if again is None:
                break  # not presented again: the restart outcome stands (tryagain)
            try:
                outcome = await entry.activate(again.transmit, services, pre, restart=outcome)
            finally:
                with trio.CancelScope(shield=True):
                    await again.close()
        return outcome

    # --- online authorisation (called by the kernel) -----------------------------
    async def authorize(
        self, ctx: CommandContext, flow: Flow, request: OnlineRequest
    ) -> OnlineResponse:
        if self.terminal.host.link is None:
            return OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
        data = request.data
        expiry = data.get(0x5F24)
        psn = data.get(0x5F34)
        card = Card(
            pan=request.pan,
            expiry=expiry.hex()[:4] if expiry else None,
            sequence=psn.hex()[-2:] if psn else None,
            track2=_track2_text(data.get(0x57)),
            entry_mode=_entry_mode(flow.interface),
            icc_data=request.field55(
                CONTACTLESS_FIELD55_TAGS
                if flow.interface is CardInterface.CONTACTLESS
                else DEFAULT_FIELD55_TAGS
            ),
            pin_block=request.pin_block,
            pin_ksn=self._pin_ksn(request.pin_block),
        )
        flow.pan = request.pan
        return await self._online(ctx, flow, card)

    def _pin_ksn(self, pin_block: bytes | None) -> bytes | None:
        """The KSN of a DUKPT pad's online PIN block (the pad keeps the last
        one; nothing else uses the pad between PIN entry and this request)."""
        pinpad = self.terminal.devices.pinpad
        if pin_block is None or pinpad is None:
            return None
        return pinpad.key_serial_number

    async def _online(self, ctx: CommandContext, flow: Flow, card: Card) -> OnlineResponse:
        """Send the financial request with its reversal durably stored first."""
        host = self.terminal.host
        link = host.require()
        command = flow.command
        stans = await self._stans(flow)
        fin = FinancialRequest(
            type=HOST_TYPES[command.operation.value],
            amount=flow.record.amount,
            cashback=flow.record.amount_other,
            card=card,
            stan=stans[0],
            when=flow.when,
            original_rrn=command.rrn if command.operation is Operation.REFUND else None,
            batch=await self._batch(),
        )
        message = build_financial(fin, link.terminal, link.dialect)
        flow.request = message
        record = flow.record
        record.stan = fin.stan
        record.extra["entry-mode"] = card.entry_mode
        if card.sequence:
            record.extra["psn"] = card.sequence
        self.terminal.journal.protect_pan(record, card.pan, keep=True)
        self._advance(flow, Event.REQUEST_SENT)
        await self.terminal.journal.create(
            record, reversal=self._reversal(flow, ReversalReason.TIMEOUT), claim=flow.claim
        )
        flow.stored = True
        host.hold(record.id)  # until this flow ends (see _with_card)
        await self.display(ctx, MessageId.CONNECTING_TO_HOST)

        async def reconnecting(host: object) -> None:
            await self.display(ctx, MessageId.RECONNECTING)  # the mirror is tried next

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
                await self.terminal.journal.update(record, [], drop_pending="reversal")
            await self.display(ctx, MessageId.NO_HOST_RESPONSE)
            return OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
        flow.response = response
        record.rrn, record.auth_code, record.resp_code = (
            response.rrn,
            response.auth_code,
            response.response_code,
        )
        # The answer is committed with the card's final decision (one fsync less
        # per transaction). Should the terminal die in between, the stored
        # reversal (field 90 names the request) undoes whatever the host did.
        if response.approved:
            self._advance(flow, Event.HOST_APPROVED)
        else:
            self._advance(flow, Event.HOST_DECLINED)
            record.tstatus = "declined"
            record.decline_reason = "onlinedeclined"
        await self.display(ctx, MessageId.HOST_RESPONSE_RECEIVED)
        icc = response.icc_data or b""
        issuer_auth = tlv.find(icc, 0x91) if icc else None
        scripts = (
            b"".join(o.encode() for o in tlv.decode(icc) if o.tag in (0x71, 0x72)) if icc else b""
        )
        return OnlineResponse(
            OnlineResult.APPROVED if response.approved else OnlineResult.DECLINED,
            arc=response.response_code.encode("ascii")[:2].ljust(2, b"0"),
            issuer_authentication_data=issuer_auth,
            scripts=scripts,
            authorisation_code=response.auth_code.encode("ascii") if response.auth_code else None,
        )

    # --- finishing -------------------------------------------------------------
    def _fill_from_outcome(
        self, record: TxnRecord, outcome: Outcome, flow_interface: CardInterface | None
    ) -> None:
        aid = outcome.aid.hex().upper() if outcome.aid else None
        rid, scheme = scheme_for(aid)
        record.aid, record.scheme_rid, record.scheme_name = aid, rid, scheme
        record.tvr, record.tsi = outcome.tvr.hex().upper(), outcome.tsi.hex().upper()
        record.expiry = outcome.expiry
        record.interface = (flow_interface or CardInterface.CONTACT).value
        label = None
        for params in self.terminal.config.emv.aids:
            if aid and aid.startswith(params.aid.upper()):
                label = params.label
        record.extra.update(
            {
                "appname": label or scheme or "",
                "pin-entered": outcome.pin_entered,
                "signature": "yes" if outcome.signature_required else "no",
                "cdcvm": "yes" if outcome.cdcvm else "no",
            }
        )

    async def _finish_card(self, ctx: CommandContext, flow: Flow, outcome: Outcome) -> Answer:
        record = flow.record
        journal, host = self.terminal.journal, self.terminal.host
        if outcome.decision is Decision.TERMINATED:
            error = outcome.error or CardcoreError("card processing error")
            raise error
        self._fill_from_outcome(record, outcome, flow.interface)
        pan = outcome.pan or flow.pan
        if pan and not record.pan_hash:
            journal.protect_pan(record, pan, keep=True)
        names = [
            "state", "tstatus", "aid", "scheme_rid", "scheme_name", "tvr", "tsi", "expiry",
            "interface", "extra", "decline_reason", "masked_pan", "pan_hash", "pan_enc",
            "rrn", "auth_code", "resp_code",
        ]  # fmt: skip
        approved = outcome.approved or (
            outcome.decision is Decision.ONLINE_REQUEST_HANDLED
            and flow.response is not None
            and flow.response.approved
        )
        if approved:
            record.tstatus, record.decline_reason = "approved", None
            self._advance(flow, Event.CARD_APPROVED)
            if flow.stored:
                # The host answered (its approval is final now), or never saw the
                # request: the reversal goes. An unanswered request keeps it, and
                # the card's own approval is told to the host by an advice.
                drop = "reversal" if flow.response is not None or not flow.request_sent else None
                advice = await self._advice(flow, outcome) if outcome.unable_to_go_online else None
                await journal.update(record, names, drop_pending=drop, add_pending=advice)
            else:
                record.stan = (await self._stans(flow))[0]
                advice = await self._advice(flow, outcome)
                await journal.create(record, pending=[advice] if advice else None, claim=flow.claim)
        else:
            record.tstatus = "declined"
            record.decline_reason = record.decline_reason or outcome.decline_reason
            if not flow.stored:
                self._advance(flow, Event.CARD_DECLINED)
                await journal.create(record)
            elif flow.state is TxnState.DECLINED:
                # The host declined: nothing to undo.
                await journal.update(record, names, drop_pending="reversal")
            elif flow.state is TxnState.AUTHORIZED:
                # The host approved but the card declined: reverse, naming the answer.
                self._advance(flow, Event.CARD_DECLINED)
                await journal.update(
                    record, names, drop_pending="reversal",
                    add_pending=("reversal", self._reversal(flow, ReversalReason.CARD_DECLINED)),
                )  # fmt: skip
            else:
                # Unable to go online and the card declined: a request that may
                # have arrived keeps its reversal.
                self._advance(flow, Event.CARD_DECLINED)
                await journal.update(record, names)
        if flow.stored or approved:
            host.poke()
        # The kernel has shown APPROVED / DECLINED and REMOVE CARD (Book 4 11.2).
        return self._answer(ctx, record, outcome)

    async def _advice(self, flow: Flow, outcome: Outcome) -> tuple[str, bytes] | None:
        """An advice (0220) for an approval the host has not seen: Y1 offline,
        Y3 when the host could not be reached. It is built from the row, as
        every later message about the transaction is (cardcore.hostmessages),
        with the card's field 55, which the row does not keep."""
        host = self.terminal.host
        link = host.link
        pan = outcome.pan or flow.pan
        if link is None or pan is None:
            return None
        record = flow.record
        psn = outcome.pan_sequence_number
        # The host knows this transaction by the advice: a later void reverses
        # it and the batch upload names it.
        record.extra[ORIGINAL_MTI] = "0220"
        record.extra["unable-online"] = outcome.unable_to_go_online
        record.extra["entry-mode"] = _entry_mode(flow.interface)
        if psn is not None:
            record.extra["psn"] = f"{psn:02d}"
        record.stan = record.stan or await host.next_stan()
        advice = original_message(
            record, pan, link.terminal, link.dialect,
            batch=await self._batch(), icc_data=outcome.field55(),
        )  # fmt: skip
        return ("advice", host.store(advice))

    def _answer(self, ctx: CommandContext, record: TxnRecord, outcome: Outcome | None) -> Answer:
        config = self.terminal.config
        plain_pan = None
        if ctx.secure and record.pan_enc is not None:
            plain_pan = self.terminal.journal.reveal_pan(record)
        description = describe(record.resp_code, "ru") if record.resp_code else None
        receipt = card_receipt(
            config, record, outcome, response_description=description, plain_pan=plain_pan
        )
        return Answer({"receipt": receipt})

    async def _end_interrupted(self, flow: Flow, exc: BaseException) -> None:
        """A flow ended by an error or a cancel: undo what reached the host
        (_abort). When the journal refuses writes (a full disk) the row is
        left as a crash would leave it: store-and-forward sends its stored
        reversal at once and settles the row when the journal takes writes
        again, without waiting for the next sale."""
        if not flow.stored:
            return
        if not isinstance(exc, JournalError):
            try:
                await self._abort(flow)
                return
            except JournalError:
                pass
        self.terminal.host.unfinished(flow.record.id)

    async def _abort(self, flow: Flow) -> None:
        """Cancel, card error or crash-like failure: what reached the host is
        reversed; nothing is left half-done in the journal."""
        record = flow.record
        if not flow.stored:
            return
        if record.channel == "sbp":
            await self.sbp.abort(flow)
            return
        journal, host = self.terminal.journal, self.terminal.host
        state = flow.state
        names = ["state", "tstatus", "decline_reason", "rrn", "auth_code", "resp_code"]
        if state is TxnState.DECLINED:
            # The host declined before the interruption: nothing to undo.
            await journal.update(record, names, drop_pending="reversal")
        elif state in (TxnState.ONLINE, TxnState.AUTHORIZED):
            self._advance(flow, Event.ABORTED)
            record.tstatus = "declined"
            record.decline_reason = record.decline_reason or "systemerror"
            if flow.response is not None:
                await journal.update(
                    record, names, drop_pending="reversal",
                    add_pending=("reversal", self._reversal(flow, ReversalReason.CANCEL)),
                )  # fmt: skip
            elif flow.request_sent:
                await journal.update(record, names)  # the stored reversal goes
            else:
                await journal.update(record, names, drop_pending="reversal")
            host.poke()
        elif state is TxnState.APPROVED:
            # Approved, but the cash register cancelled before the answer went
            # out: the approval is reversed, the customer is not charged.
            await self._reverse_approved(flow.record, ReversalReason.CANCEL)

    async def _reverse_approved(self, record: TxnRecord, reason: ReversalReason) -> None:
        host = self.terminal.host
        record.state = next_state(record.state, Event.CANCELLED_AFTER_APPROVAL)
        record.tstatus = "declined"
        record.decline_reason = "systemerror"
        names = ["state", "tstatus", "decline_reason"]
        if host.link is not None:
            original = await self._original_message(record)
            reversal = build_reversal(
                original, host.link.dialect, stan=await host.next_stan(), when=_now(),
                reason=reason, rrn=record.rrn, auth_code=record.auth_code,
            )  # fmt: skip
            await self.terminal.journal.update(
                record, names, drop_pending="advice", add_pending=("reversal", host.store(reversal))
            )
            host.poke()
        else:
            await self.terminal.journal.update(record, names, drop_pending="advice")

    async def _original_message(self, record: TxnRecord) -> IsoMessage:
        """The message the host knows a journal row by (0200 or 0220), rebuilt
        from what the row kept (cardcore.hostmessages)."""
        link = self.terminal.host.require()
        journal = self.terminal.journal
        pan = journal.reveal_pan(record)
        if pan is None:
            raise NotReversible("the journal keeps no card data for this transaction")
        batch = f"{await journal.batch_number(record.batch_id):06d}"
        return original_message(record, pan, link.terminal, link.dialect, batch=batch)

    # --- manual entry ------------------------------------------------------------
    async def _manual(self, ctx: CommandContext, flow: Flow) -> Answer:
        manual = flow.command.manual
        assert manual is not None
        await self._flush_first()
        card = Card(pan=manual.pan, expiry=manual.expiry, entry_mode="012")
        flow.pan = manual.pan
        flow.record.expiry = f"{manual.expiry}{_last_day(manual.expiry)}"
        flow.record.interface = "manual"
        flow.record.extra["appname"] = "MANUAL"
        answer = await self._online(ctx, flow, card)
        return await self._finish_host_only(ctx, flow, answer)

    async def _finish_host_only(
        self, ctx: CommandContext, flow: Flow, answer: OnlineResponse
    ) -> Answer:
        """Final state of an operation the host alone decides (manual entry,
        refund without the card): one commit with its pending messages."""
        record, journal = flow.record, self.terminal.journal
        names = ["state", "tstatus", "decline_reason", "rrn", "auth_code", "resp_code",
                 "expiry", "aid", "scheme_rid", "scheme_name", "interface", "extra"]  # fmt: skip
        if answer.result is OnlineResult.APPROVED:
            record.tstatus = "approved"
            self._advance(flow, Event.CARD_APPROVED)
            await journal.update(record, names, drop_pending="reversal")
        elif answer.result is OnlineResult.UNABLE_TO_GO_ONLINE:
            record.tstatus, record.decline_reason = "declined", "unabletoonline"
            self._advance(flow, Event.ABORTED)
            await journal.update(record, names)  # the reversal stays if the request left
            self.terminal.host.poke()
        else:
            await journal.update(record, names, drop_pending="reversal")
        await self.display(
            ctx, MessageId.APPROVED if record.tstatus == "approved" else MessageId.DECLINED,
            amount=record.amount, currency=record.currency,
        )  # fmt: skip
        return self._answer(ctx, record, None)

    # --- cardless operations -------------------------------------------------------
    async def _find_original(self, command: TxnCommand) -> TxnRecord:
        journal = self.terminal.journal
        if command.number == "last":
            record = await journal.last("card")
            # `last` means the last transaction itself, which may be a void.
        else:
            record = await journal.find_by_seq(command.number or "")
        if record is None:
            raise TransactionNotFound(f"no transaction {command.number} in the current batch")
        return record

    async def _claim_purchase(self, flow: Flow) -> TxnRecord | None:
        """A refund that names a purchase of the journal (by RRN) is one of its
        claims (cardcore.engine.claims): refused at once when nothing is left
        for it, and checked again when its row is written. A refund naming a
        purchase this terminal never made stands alone (the card is there)."""
        command = flow.command
        journal = self.terminal.journal
        original = await journal.find_purchase(command.rrn or "")
        if original is None:
            return None
        partial = self.terminal.config.acquirer.partial_refund
        claim = Claim(ClaimKind.REFUND, command.amount, partial)
        claim.grant(await journal.standing(original.id))
        flow.claim = claim
        flow.record.original_id = original.id
        return original

    async def _void(self, ctx: CommandContext, command: TxnCommand) -> Answer:
        original = await self._find_original(command)
        acq = self.terminal.config.acquirer
        if original.operation == Operation.VOID.value:
            raise NotReversible(f"transaction {original.seq} is itself a void")
        if original.tstatus != "approved" or original.state != TxnState.APPROVED:
            raise NotApproved(f"transaction {original.seq} was not approved")
        journal = self.terminal.journal
        claim = Claim(ClaimKind.VOID, command.amount, acq.partial_void)
        standing = await journal.standing(original.id)
        amount = claim.grant(standing)
        # The row is written with this amount: checked again in its commit.
        claim = Claim(ClaimKind.VOID, amount, acq.partial_void)
        host = self.terminal.host
        link = host.require()
        when = _now()
        record = self._new_record(
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
            await self._original_message(original), link.dialect, stan=await host.next_stan(),
            when=when, reason=ReversalReason.CANCEL, rrn=original.rrn,
            auth_code=original.auth_code,
            remaining_amount=remaining_after if remaining_after > 0 else None,
        )  # fmt: skip
        record.stan = reversal.text(11)
        record.state = next_state(TxnState.NEW, Event.CARD_APPROVED)
        record.tstatus = "approved"
        # The void is approved for the cash register once it is durably queued
        # (store-and-forward guarantees the host gets it), in one commit with
        # the check of what is left and the amount it takes off the original.
        await journal.create(
            record, reversal=host.store(reversal), claim=claim, reverse_original=amount
        )
        with trio.move_on_after(self.terminal.config.acquirer.response_timeout + 5):
            await host.flush()
        host.poke()
        return self._answer(ctx, record, None)

    async def _forced_refund(self, ctx: CommandContext, command: TxnCommand) -> Answer:
        """A refund without the card (manual, variant В): the card data come
        from the purchase it names, which must be in the journal."""
        journal = self.terminal.journal
        flow = self._new_flow(command)
        original = await self._claim_purchase(flow)
        if original is None:
            raise TransactionNotFound(f"no approved purchase with rrn {command.rrn} in the journal")
        pan = journal.reveal_pan(original)
        if pan is None:
            raise TransactionNotFound("the journal keeps no card data for that purchase")
        flow.pan = pan
        flow.record.expiry = original.expiry
        flow.record.aid, flow.record.scheme_rid, flow.record.scheme_name = (
            original.aid,
            original.scheme_rid,
            original.scheme_name,
        )
        flow.record.extra["appname"] = original.extra.get("appname", "")
        flow.record.interface = "forced"
        try:
            await self._flush_first()
            card = Card(
                pan=pan, expiry=original.expiry[:4] if original.expiry else None, entry_mode="012"
            )
            answer = await self._online(ctx, flow, card)
            return await self._finish_host_only(ctx, flow, answer)
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await self._end_interrupted(flow, exc)
            raise
        finally:
            self.terminal.host.release(flow.record.id)


def _last_day(yymm: str) -> str:
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return f"{(first_next - dt.timedelta(days=1)).day:02d}"
