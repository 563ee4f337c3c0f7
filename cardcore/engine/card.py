# Strategy: a transaction with the card (manual «Транзакция»: purchase,
# purchase with cashback, refund): the detection race (contact, contactless,
# MIFARE, SBP QR; cardcore.engine.detection), the EMV kernel (Book 3 for
# contact; Book B Entry Point with its restarts for contactless), online
# authorisation through cardcore.engine.online, and the card's final
# decision committed by the ledger with its consequences (the reversal
# dropped, kept or renewed; an advice for an approval the host has not seen).
from __future__ import annotations

import dataclasses
import functools
import secrets

import trio

from acquirers.iso8583.messages import Card, ReversalReason
from base.errors import CardcoreError
from cardcore.connection import Answer, CommandContext
from cardcore.engine import online, voids
from cardcore.engine.detection import Detected, DetectionPlan, Found, NoDetection, detect
from cardcore.engine.flow import (
    Flow,
    InterfaceNotAllowed,
    NotDetected,
    NotTheOriginalCard,
    PreprocessingFailed,
    ReaderDisabled,
    Till,
)
from cardcore.engine.receipt import scheme_for
from cardcore.engine.request import Operation
from cardcore.engine.sbp import SbpFlows
from cardcore.engine.services import Authorize, EngineServices
from cardcore.engine.voids import PreparedVoid
from cardcore.errors import OperationCancelled
from cardcore.hostmessages import ORIGINAL_MTI, original_message
from cardcore.ledger.claims import NotReversible
from cardcore.ledger.states import Event, TxnState
from hal.interfaces import CardCollision, CardInterface, CardSession
from kernel.config import TransactionRequest, TransactionType
from kernel.contact import ContactKernel
from kernel.contactless import ContactlessEntryPoint, Preprocessed
from kernel.outcome import Decision, Outcome
from kernel.services import (
    CONTACTLESS_FIELD55_TAGS,
    DEFAULT_FIELD55_TAGS,
    MessageId,
    OnlineRequest,
    OnlineResponse,
    OnlineResult,
)

__all__ = ["CardOperation"]

_KERNEL_TYPES = {
    Operation.PURCHASE: TransactionType.PURCHASE,
    Operation.CASHBACK: TransactionType.PURCHASE_WITH_CASHBACK,
    Operation.REFUND: TransactionType.REFUND,
    # A void with the card: the card is read as for a refund and asked for a
    # decline cryptogram (AAC), so that the card itself moves nothing.
    Operation.VOID: TransactionType.REFUND,
}

# Columns the card's outcome fills, beside what the ledger's events change.
CARD_COLUMNS = (
    "aid", "scheme_rid", "scheme_name", "tvr", "tsi", "expiry", "interface", "extra",
    "masked_pan", "pan_hash", "pan_enc", "rrn", "auth_code", "resp_code",
)  # fmt: skip


def entry_mode(interface: CardInterface | None) -> str:
    """ISO 8583 field 22: 05 chip / 07 contactless chip, 1 = PIN entry capable."""
    return "071" if interface is CardInterface.CONTACTLESS else "051"


def _track2_text(raw: bytes | None) -> str | None:
    if not raw:
        return None
    return raw.hex().upper().rstrip("F").replace("D", "=")


class CardOperation:
    def __init__(self, till: Till, sbp: SbpFlows) -> None:
        self.till = till
        self.sbp = sbp

    @staticmethod
    async def _detect(ctx: CommandContext, plan: DetectionPlan) -> Detected:
        """The detection race, its refusals as the manual's statuses."""
        try:
            detected = await detect(ctx, plan)
        except NoDetection as exc:
            raise NotDetected(exc.message) from None
        if detected.found is Found.DISABLED:
            raise ReaderDisabled(
                f"a card was presented to the {detected.disabled} reader, "
                "which is switched off in the configuration"
            )
        return detected

    async def run(self, ctx: CommandContext, flow: Flow, pre_check: bool = True) -> Answer:
        """Detect, read and decide; the flow's row is its ledger's to finish
        whatever interrupts it."""
        till = self.till
        try:
            await till.flush_first()
            plan, pre = self._plan(ctx, flow)
            detected = await self._detect(ctx, plan)
            if detected.found is Found.MIFARE_END:
                return await self._mifare_end(detected)
            if detected.found is Found.SBP:
                assert detected.sbp is not None
                return await self.sbp.finish_race(ctx, flow, detected.sbp)
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
            return await self._finish(ctx, flow, outcome)
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await online.end_interrupted(till, flow, exc, self._undo)
            raise

    async def _undo(self, till: Till, flow: Flow) -> None:
        if flow.record.channel == "sbp":
            await self.sbp.abort(flow)
        else:
            await online.abort(till, flow)

    # --- detection --------------------------------------------------------------
    def _kernel_request(self, flow: Flow, sequence: int = 1) -> TransactionRequest:
        return TransactionRequest(
            amount=flow.record.amount,
            amount_other=flow.record.amount_other,
            currency=int(flow.record.currency),
            transaction_type=_KERNEL_TYPES[flow.command.operation],
            when=flow.when.replace(tzinfo=None),
            sequence_counter=sequence,
        )

    def _services(
        self,
        ctx: CommandContext,
        flow: Flow,
        authorize: Authorize | None = None,
        session: CardSession | None = None,
    ) -> EngineServices:
        authorize = authorize or functools.partial(self._authorize, ctx, flow)
        return EngineServices(self.till, ctx, flow, authorize, session)

    def _plan(self, ctx: CommandContext, flow: Flow) -> tuple[DetectionPlan, Preprocessed | None]:
        """Which interfaces race for this transaction (manual «Транзакция», «СБП»)."""
        terminal = self.till.terminal
        config = terminal.config
        command = flow.command
        readers = terminal.devices.readers
        sbp_only = command.force_sbp is True
        plan = DetectionPlan(
            amount=flow.record.amount,
            timeout=config.transaction.detection_timeout,
            mifare=config.interfaces.mifare,
            screen=terminal.devices.display,
        )
        interfaces = config.interfaces
        contact = readers.get(CardInterface.CONTACT)
        contactless = readers.get(CardInterface.CONTACTLESS)
        pre: Preprocessed | None = None
        refused = False  # contactless pre-processing refused the amount
        if not sbp_only:
            if interfaces.contact:
                plan.contact = contact
            elif contact is not None:
                plan.disabled.append(contact)
            if not interfaces.contactless:
                if contactless is not None:
                    plan.disabled.append(contactless)
            elif contactless is not None and command.operation in (
                Operation.PURCHASE,
                Operation.REFUND,
                Operation.VOID,
            ):
                entry = self._entry_point()
                if entry is not None:
                    pre = entry.preprocess(self._kernel_request(flow))
                    if pre.allowed:
                        plan.contactless = contactless
                    else:
                        # Over the contactless limits: chip only (Book B 3.1.1.4).
                        pre, refused = None, True
        sbp_wanted = (
            command.operation is Operation.PURCHASE
            and command.force_sbp is not False
            and command.currency == config.terminal.currency  # SBP pays in roubles
        )
        if sbp_wanted and config.sbp is not None and config.interfaces.sbp:
            plan.sbp = config.sbp
            # Unique per QR: the agent refuses an order id it has seen.
            stamp = flow.when.strftime("%y%m%d%H%M%S")
            plan.sbp_order = f"{config.sbp.terminal_id}-{stamp}-{secrets.token_hex(3)}"
            plan.on_lost_payment = functools.partial(self.sbp.refund_lost, ctx)
        elif sbp_only:
            raise InterfaceNotAllowed("SBP is not configured on this terminal")
        if plan.contact is None and plan.contactless is None and plan.sbp is None:
            raise self._nothing_to_detect_on(flow, refused)

        services = self._services(ctx, flow)
        # The cash register's amount (a full void names none: the void's).
        amount = command.amount if command.amount is not None else flow.record.amount
        currency = flow.record.currency

        async def prompt() -> None:
            # 'Present card' where a card can be tapped: with no contactless
            # reader plugged in (none matches its patterns) the chip is asked
            # for, though a reader plugged in meanwhile is still polled.
            tap = plan.contactless is not None and (
                plan.contact is None or await plan.contactless.attached()
            )
            if tap:
                # Book B 3.2.1.2: 'Present Card' with the amount, 'Ready to
                # Read' (the first light on).
                ui = ContactlessEntryPoint.polling_ui(amount=amount)
                await services.ui_request(dataclasses.replace(ui, currency=int(currency)))
            elif plan.contact is not None:
                await self.till.display(
                    ctx, MessageId.INSERT_CARD, amount=amount, currency=currency
                )

        async def show(resolved: bool) -> None:
            # Book B 3.2.1.4 / 3.2.1.5: two cards in the field, and the field
            # clear of the second card again.
            await services.ui_request(ContactlessEntryPoint.collision_ui(resolved=resolved))

        plan.prompt, plan.show = prompt, show
        return plan, pre

    def _nothing_to_detect_on(self, flow: Flow, refused: bool) -> CardcoreError:
        """Why no interface is left for this transaction, as the manual's
        statuses say it (docs/protocol-decisions.md)."""
        interfaces = self.till.terminal.config.interfaces
        operation = flow.command.operation
        if refused:
            return PreprocessingFailed(
                f"contactless pre-processing refuses the {operation} of {flow.record.amount} "
                "on every application, and the chip reader is not in use"
            )
        if not interfaces.contact and not interfaces.contactless:
            return ReaderDisabled("every card reader is switched off in the configuration")
        if not interfaces.contact or not interfaces.contactless:
            off = "contact" if not interfaces.contact else "contactless"
            return ReaderDisabled(
                f"the {off} reader is switched off in the configuration, "
                f"and no other reader takes a {operation}"
            )
        return NotDetected("no card interface is available for this operation")

    async def _mifare_end(self, detected: Detected) -> Answer:
        """The cash register handled a MIFARE card itself: indicators as it asked,
        no bank operation, answer `cancelled` without a receipt (manual)."""
        indicators = self.till.terminal.devices.indicators
        if indicators is not None and detected.indicator in ("ok", "error"):
            if detected.indicator == "ok":
                await indicators.show((True, True, True, True), "success")
            else:
                await indicators.show((False, False, False, False), "alert")
        raise OperationCancelled("the cash register finished with the MIFARE card")

    # --- the kernels ----------------------------------------------------------------
    async def _run_kernel(
        self,
        ctx: CommandContext,
        flow: Flow,
        session: CardSession,
        authorize: Authorize | None = None,
    ) -> Outcome:
        terminal = self.till.terminal
        kernel = ContactKernel(terminal.kernel_config(), terminal.ca_keys())
        request = self._kernel_request(flow, int(self.till.stans(flow)[0]))
        services = self._services(ctx, flow, authorize, session)
        return await kernel.run(session.transmit, services, request)

    def _entry_point(self) -> ContactlessEntryPoint | None:
        terminal = self.till.terminal
        config = terminal.contactless_config()
        if not config.combinations:
            return None
        return ContactlessEntryPoint(config, terminal.ca_keys())

    async def _run_contactless(
        self,
        ctx: CommandContext,
        flow: Flow,
        session: CardSession,
        pre: Preprocessed,
        authorize: Authorize | None = None,
    ) -> Outcome:
        """Book B Start B-D with its restarts (see phone, card lost): at most two."""
        entry = self._entry_point()
        assert entry is not None
        terminal = self.till.terminal
        services = self._services(ctx, flow, authorize)
        outcome = await entry.activate(session.transmit, services, pre)
        reader = terminal.devices.readers[CardInterface.CONTACTLESS]
        for _ in range(2):
            if not outcome.restart_required:
                break
            await services.ui_request(entry.polling_ui(outcome, amount=flow.record.amount))
            again: CardSession | None = None
            with trio.move_on_after(terminal.config.transaction.detection_timeout):
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

    # --- a void with the card ---------------------------------------------------------
    async def void(self, ctx: CommandContext, void: PreparedVoid) -> Answer:
        """A void of a receipt number with the card (docs/protocol-decisions.md):
        detection as for a sale, the card read as for a refund, and its number
        must be the original's (the journal's keyed hash); then the void is
        queued as one without the card is (cardcore.engine.voids). Nothing is
        written before the card is known, so a cancel or a card error leaves
        nothing to undo."""
        flow, original = void.flow, void.original
        journal = self.till.terminal.journal
        if original.pan_hash is None:
            raise NotReversible(
                f"the journal keeps no card number for transaction {original.seq}: "
                "void it without the card (forced or number=last)"
            )
        matched: list[bool] = []

        async def authorize(request: OnlineRequest) -> OnlineResponse:
            # The card's own answer (its AAC) is not sent anywhere: the void
            # goes to the host as the original's reversal.
            ok = bool(request.pan) and journal.pan_matches(original, request.pan)
            matched.append(ok)
            if ok:
                return OnlineResponse(OnlineResult.APPROVED, arc=b"00")
            return OnlineResponse(OnlineResult.DECLINED, arc=b"05")

        plan, pre = self._plan(ctx, flow)
        detected = await self._detect(ctx, plan)
        if detected.found is Found.MIFARE_END:
            return await self._mifare_end(detected)
        assert detected.session is not None
        flow.interface = detected.session.info.interface
        try:
            if detected.found is Found.CONTACTLESS and pre is not None:
                outcome = await self._run_contactless(ctx, flow, detected.session, pre, authorize)
            else:
                outcome = await self._run_kernel(ctx, flow, detected.session, authorize)
        finally:
            with trio.CancelScope(shield=True):
                await detected.session.close()
        if not matched and outcome.pan is not None:
            matched.append(journal.pan_matches(original, outcome.pan))
        if matched and not matched[-1]:
            raise NotTheOriginalCard(
                f"the card presented is not the card of transaction {original.seq}"
            )
        if outcome.decision is Decision.TERMINATED or not matched:
            raise outcome.error or CardcoreError("the card could not be read")
        flow.record.interface = flow.interface.value
        return await voids.commit(self.till, ctx, void)

    # --- online authorisation (called by the kernel) ---------------------------------
    async def _authorize(
        self, ctx: CommandContext, flow: Flow, request: OnlineRequest
    ) -> OnlineResponse:
        if self.till.terminal.host.link is None:
            return OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
        data = request.data
        expiry = data.get(0x5F24)
        psn = data.get(0x5F34)
        card = Card(
            pan=request.pan,
            expiry=expiry.hex()[:4] if expiry else None,
            sequence=psn.hex()[-2:] if psn else None,
            track2=_track2_text(data.get(0x57)),
            entry_mode=entry_mode(flow.interface),
            icc_data=request.field55(
                CONTACTLESS_FIELD55_TAGS
                if flow.interface is CardInterface.CONTACTLESS
                else DEFAULT_FIELD55_TAGS
            ),
            pin_block=request.pin_block,
            pin_ksn=self._pin_ksn(request.pin_block),
        )
        flow.pan = request.pan
        return await online.go_online(self.till, ctx, flow, card)

    def _pin_ksn(self, pin_block: bytes | None) -> bytes | None:
        """The KSN of a DUKPT pad's online PIN block (the pad keeps the last
        one; nothing else uses the pad between PIN entry and this request)."""
        pinpad = self.till.terminal.devices.pinpad
        if pin_block is None or pinpad is None:
            return None
        return pinpad.key_serial_number

    # --- the card's decision ----------------------------------------------------------
    def _fill_from_outcome(self, flow: Flow, outcome: Outcome) -> None:
        record = flow.record
        aid = outcome.aid.hex().upper() if outcome.aid else None
        rid, scheme = scheme_for(aid)
        record.aid, record.scheme_rid, record.scheme_name = aid, rid, scheme
        record.tvr, record.tsi = outcome.tvr.hex().upper(), outcome.tsi.hex().upper()
        record.expiry = outcome.expiry
        record.interface = (flow.interface or CardInterface.CONTACT).value
        label = None
        for params in self.till.terminal.config.emv.aids:
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

    async def _finish(self, ctx: CommandContext, flow: Flow, outcome: Outcome) -> Answer:
        till, ledger = self.till, self.till.ledger
        record = flow.record
        if outcome.decision is Decision.TERMINATED:
            raise outcome.error or CardcoreError("card processing error")
        self._fill_from_outcome(flow, outcome)
        pan = outcome.pan or flow.pan
        if pan and not record.pan_hash:
            till.terminal.journal.protect_pan(record, pan, keep=True)
        approved = outcome.approved or (
            outcome.decision is Decision.ONLINE_REQUEST_HANDLED
            and flow.response is not None
            and flow.response.approved
        )
        if approved:
            if not flow.stored:
                record.stan = till.stans(flow)[0]
            # Offline (Y1), or the host unreachable (Y3): an advice tells the host.
            unseen = not flow.stored or outcome.unable_to_go_online
            advice = await self._advice(flow, outcome) if unseen else None
            ledger.apply(flow.entry, Event.CARD_APPROVED, tell=advice)
        elif flow.state is not TxnState.DECLINED:  # (the host's decline is applied)
            renewed = None
            if flow.state is TxnState.AUTHORIZED:
                # The host approved but the card declined: reverse, naming the answer.
                renewed = online.reversal(till, flow, ReversalReason.CARD_DECLINED)
            ledger.apply(flow.entry, Event.CARD_DECLINED, undo=renewed,
                         reason=outcome.decline_reason)  # fmt: skip
        await ledger.commit(flow.entry, *CARD_COLUMNS)
        if flow.stored:
            till.terminal.host.poke()
        # The kernel has shown APPROVED / DECLINED and REMOVE CARD (Book 4 11.2).
        return till.answer(ctx, record, outcome)

    async def _advice(self, flow: Flow, outcome: Outcome) -> bytes | None:
        """An advice (0220) for an approval the host has not seen: Y1 offline,
        Y3 when the host could not be reached. It is built from the row, as
        every later message about the transaction is (cardcore.hostmessages),
        with the card's field 55, which the row does not keep."""
        till = self.till
        host = till.terminal.host
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
        record.extra["entry-mode"] = entry_mode(flow.interface)
        if psn is not None:
            record.extra["psn"] = f"{psn:02d}"
        record.stan = record.stan or till.ledger.stans.take()
        advice = original_message(
            record, pan, link.terminal, link.dialect,
            batch=await till.batch(), icc_data=outcome.field55(),
        )  # fmt: skip
        return host.store(advice)
