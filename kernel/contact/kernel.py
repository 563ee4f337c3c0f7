# Strategy: the EMV contact transaction flow of EMV 4.3 Book 3 section 10
# (Figure 7), one step per function of the sibling modules, in the Book's
# order: application selection (Book 1 12) -> initiate application
# processing (10.1, with "select next" on '6985') -> read application data
# (10.2) -> data exchange hook -> offline data authentication (10.3) ->
# processing restrictions (10.4) -> cardholder verification (10.5) ->
# terminal risk management (10.6) -> terminal action analysis (10.7) ->
# first GENERATE AC and card action analysis (10.8) -> online processing,
# issuer authentication, scripts and completion (10.9-10.11).
# Standard messages (Book 4 11.2) are shown at the points a terminal shows
# them: TRY AGAIN on "select next", ENTER PIN / INCORRECT PIN / PIN OK around
# offline PIN, PLEASE WAIT while online, APPROVED / DECLINED at the end, NOT
# ACCEPTED / CARD ERROR / PROCESSING ERROR on termination, REMOVE CARD last.
# Errors of the project hierarchy end the transaction with a TERMINATED
# outcome carrying the error; anything
# else - trio cancellation above all - propagates untouched.
from __future__ import annotations

import logging

from base.errors import CardcoreError
from kernel.apdu import Transmit, Transport
from kernel.capk import CaKeyStore
from kernel.config import TerminalConfig, TransactionRequest
from kernel.contact.action import ActionCodes, terminal_action_analysis
from kernel.contact.authentication import offline_data_authentication
from kernel.contact.completion import CardDecision, complete_transaction
from kernel.contact.context import Context, log
from kernel.contact.cvm import CvmFacts, cardholder_verification
from kernel.contact.pin import CardPinActions
from kernel.contact.reading import (
    data_exchange,
    initiate_application_processing,
    read_application_data,
)
from kernel.contact.restrictions import RestrictionFacts, processing_restrictions
from kernel.contact.risk import terminal_risk_management
from kernel.errors import (
    CardDataError,
    CardNotDetected,
    CardStatusError,
    NoMutualApplication,
    TransactionCancelled,
)
from kernel.outcome import Decision, Outcome
from kernel.selection import SelectedApplication, build_candidate_list, final_selection
from kernel.services import EntropySource, KernelServices, MessageId, OnlineResult, SystemEntropy
from kernel.sw import ConditionsNotSatisfied
from kernel.tvr import TsiBit

__all__ = ["ContactKernel", "run_contact_transaction"]


class ContactKernel:
    """EMV Level 2 contact kernel: configure once, `run` once per card transaction.

    `transmit(capdu) -> rapdu` reaches the card (R-APDU including SW1 SW2);
    `services` is the terminal (display, PIN pad, journal, host). The APDU
    trace goes to the "kernel.trace" logger at DEBUG level, redacted.
    """

    def __init__(
        self,
        config: TerminalConfig,
        ca_keys: CaKeyStore,
        *,
        entropy: EntropySource | None = None,
        trace_logger: logging.Logger | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.ca_keys = ca_keys
        self.entropy: EntropySource = entropy or SystemEntropy()
        self.trace_logger = trace_logger

    async def run(
        self, transmit: Transmit, services: KernelServices, request: TransactionRequest
    ) -> Outcome:
        request.validate()
        when = request.when or self.entropy.now()
        ctx = Context(
            config=self.config,
            request=request,
            services=services,
            transport=Transport(transmit, self.trace_logger),
            entropy=self.entropy,
            ca_keys=self.ca_keys,
            when=when,
        )
        base = self.config.terminal_data()
        base.update(request.transaction_data(when))
        base[0x9F37] = self.entropy.unpredictable_number()
        ctx.data.update(base)
        try:
            decision = await _process(ctx, base)
        except CardcoreError as exc:
            return await _terminated(ctx, exc)
        return await _finish(ctx, decision)


async def run_contact_transaction(
    transmit: Transmit,
    services: KernelServices,
    config: TerminalConfig,
    request: TransactionRequest,
    ca_keys: CaKeyStore,
    *,
    entropy: EntropySource | None = None,
) -> Outcome:
    """One-shot form of ContactKernel(config, ca_keys).run(transmit, services, request)."""
    return await ContactKernel(config, ca_keys, entropy=entropy).run(transmit, services, request)


def _start_application(ctx: Context, selected: SelectedApplication, base: dict[int, bytes]) -> None:
    """Book 3 10.1: fresh TVR/TSI and card data for the application being processed."""
    aid = selected.candidate.terminal_aid
    ctx.application = selected
    ctx.aid_config = aid
    ctx.data.clear()
    ctx.data.update(base)
    ctx.data.update(ctx.config.terminal_data(aid))
    ctx.icc_tags.clear()
    ctx.tvr.clear()
    ctx.tsi.clear()
    ctx.oda_records.clear()
    # FCI data are kept but do not count for the record duplicate check (Book 3
    # 10.2 concerns GPO and READ RECORD data); a record may repeat e.g. '50'.
    for tag in (0x84, 0x50, 0x87, 0x9F38, 0x5F2D, 0x9F11, 0x9F12, 0xBF0C):
        value = selected.fci_data.get(tag)
        if value is not None:
            ctx.data[tag] = value
    ctx.data[0x4F] = selected.candidate.aid


async def _process(ctx: Context, base: dict[int, bytes]) -> CardDecision:
    candidates = await build_candidate_list(ctx.transport, ctx.config)
    while True:
        selected = await final_selection(ctx.transport, ctx.config, ctx.services, candidates)
        _start_application(ctx, selected, base)
        try:
            await initiate_application_processing(ctx)
            break
        except ConditionsNotSatisfied:
            log.info("GPO: conditions not satisfied, selecting the next application")
            candidates.remove(selected.candidate)
            await ctx.display(MessageId.TRY_AGAIN)
    await read_application_data(ctx)
    await data_exchange(ctx, "read-application-data")
    await offline_data_authentication(ctx)
    _processing_restrictions(ctx)
    await _cardholder_verification(ctx)
    await terminal_risk_management(ctx)
    tac = ActionCodes(ctx.aid_cfg.tac_denial, ctx.aid_cfg.tac_online, ctx.aid_cfg.tac_default)
    iac = ActionCodes.issuer(ctx.data.get(0x9F0E), ctx.data.get(0x9F0F), ctx.data.get(0x9F0D))
    requested = terminal_action_analysis(
        ctx.tvr,
        tac,
        iac,
        online_capable=ctx.config.online_capable,
        online_only=ctx.config.online_only,
        force_online=ctx.request.force_online,
        transaction_type=ctx.request.transaction_type,
    )
    return await complete_transaction(ctx, requested)


def _processing_restrictions(ctx: Context) -> None:
    facts = RestrictionFacts(
        today=ctx.today,
        expiration_date=ctx.data[0x5F24],
        terminal_application_version=ctx.aid_cfg.application_version,
        terminal_country=ctx.data[0x9F1A],
        transaction_type=ctx.request.transaction_type,
        amount_other=ctx.request.amount_other,
        is_atm=ctx.config.is_atm,
        purchase_kind=ctx.request.purchase_kind,
        card_application_version=ctx.data.get(0x9F08),
        usage_control=ctx.data.get(0x9F07),
        issuer_country=ctx.data.get(0x5F28),
        effective_date=ctx.data.get(0x5F25),
    )
    ctx.set_tvr(*processing_restrictions(facts))


async def _cardholder_verification(ctx: Context) -> None:
    facts = CvmFacts(
        capabilities=ctx.data[0x9F33],
        amount=ctx.request.amount,
        transaction_type=ctx.request.transaction_type,
        transaction_currency=ctx.data[0x5F2A],
        application_currency=ctx.data.get(0x9F42),
        attended=ctx.config.attended,
        amount_other=ctx.request.amount_other,
        pin_bypass_applies_to_all=ctx.config.pin_bypass_applies_to_all,
    )
    result = await cardholder_verification(ctx.aip, ctx.data.get(0x8E), facts, CardPinActions(ctx))
    ctx.cvm_results = result.results
    ctx.set_tvr(*result.tvr)
    if result.performed:
        ctx.set_tsi(TsiBit.CARDHOLDER_VERIFICATION_PERFORMED)
    ctx.signature_required = result.signature_required
    ctx.pin_entered = result.pin_entered


def _outcome(
    ctx: Context,
    decision: Decision,
    reason: str | None,
    cid: int | None,
    *,
    reversal: bool = False,
    error: CardcoreError | None = None,
) -> Outcome:
    data = ctx.snapshot()
    if ctx.script_results:
        data[0x9F5B] = bytes(ctx.script_results)
    return Outcome(
        decision=decision,
        decline_reason=reason,
        tvr=bytes(ctx.tvr),
        tsi=bytes(ctx.tsi),
        cid=cid,
        cvm_results=ctx.cvm_results,
        signature_required=ctx.signature_required,
        pin_entered=ctx.pin_entered,
        unable_to_go_online=ctx.unable_to_go_online,
        online_response=ctx.online_response,
        reversal_required=reversal,
        advice_required=ctx.advice_required,
        issuer_script_results=bytes(ctx.script_results),
        error=error,
        messages=tuple(ctx.messages),
        data=data,
        online_pin_block=ctx.online_pin_block,
    )


async def _finish(ctx: Context, result: CardDecision) -> Outcome:
    if result.decision in (Decision.APPROVED_OFFLINE, Decision.APPROVED_ONLINE):
        await ctx.display(MessageId.APPROVED, amount=ctx.request.amount)
    elif result.decision is Decision.DECLINED:
        await ctx.display(MessageId.DECLINED)
    elif result.decision is Decision.ONLINE_REQUEST_HANDLED:
        # A refund: the card's AAC decides nothing, the host's answer does,
        # and the cardholder sees it as after a sale (Book 4 11.2).
        response = ctx.online_response
        if response is not None and response.result is OnlineResult.APPROVED:
            await ctx.display(MessageId.APPROVED, amount=ctx.request.amount)
        else:
            await ctx.display(MessageId.DECLINED)
    await ctx.display(MessageId.REMOVE_CARD)
    return _outcome(
        ctx, result.decision, result.decline_reason, result.cid, reversal=result.reversal_required
    )


async def _terminated(ctx: Context, exc: CardcoreError) -> Outcome:
    log.info("transaction terminated: %s", exc)
    if isinstance(exc, NoMutualApplication):
        message: MessageId | None = MessageId.NOT_ACCEPTED
    elif isinstance(exc, CardDataError | CardStatusError):
        message = MessageId.CARD_ERROR
    elif isinstance(exc, TransactionCancelled | CardNotDetected):
        message = None
    else:
        message = MessageId.PROCESSING_ERROR
    try:
        if message is not None:
            await ctx.display(message)
        if not isinstance(exc, CardNotDetected):
            await ctx.display(MessageId.REMOVE_CARD)
    except CardcoreError as display_error:
        log.info("display failed while terminating: %s", display_error)
    host_approved = (
        ctx.online_response is not None and ctx.online_response.result is OnlineResult.APPROVED
    )
    reason = None
    if isinstance(exc, CardDataError | CardStatusError | CardNotDetected):
        reason = "cardprocessingerror"
    elif not isinstance(exc, TransactionCancelled | NoMutualApplication):
        reason = "systemerror"
    cid_value = ctx.data.get(0x9F27)
    cid = cid_value[0] if cid_value else None
    return _outcome(ctx, Decision.TERMINATED, reason, cid, reversal=host_approved, error=exc)
