# Strategy: Entry Point, EMV Contactless Book B (v2.x, requirement numbers
# as published), on the kernel's sans-I/O terms: the application polls and
# activates the card (Book D, the HAL), the Entry Point does the rest.
# - Start A, pre-processing (3.1.1): per combination, fresh indicators and
#   the Copy of TTQ with byte 2 b8/b7 cleared (3.1.1.1-2); Status Check
#   Requested when supported and the amount is one unit of currency
#   (3.1.1.3); zero amount: not allowed unless Zero Amount Allowed, else the
#   Zero Amount indicator (3.1.1.4); amount >= Reader Contactless Transaction
#   Limit: not allowed (3.1.1.5); amount > Reader Contactless Floor Limit,
#   else > Terminal Floor Limit '9F1B': floor limit exceeded (3.1.1.6-7);
#   amount >= Reader CVM Required Limit: CVM required limit exceeded
#   (3.1.1.8); then the TTQ: online cryptogram required for floor limit,
#   status check and zero amount on an online-capable reader (zero amount on
#   an offline-only reader: not allowed), CVM required over the CVM limit
#   (3.1.1.9-12). No combination allowed: Try Another Interface, UI '18'
#   status Processing Error (3.1.1.13). `preprocess` is pure and runs
#   before the card is polled.
# - Start B (3.2): the application shows `polling_ui` (the retained UI
#   Request on Restart, else '15' Present Card, Ready to Read, 3.2.1.2) and
#   on a collision `collision_ui` ('19', Processing Error then Ready to Read,
#   3.2.1.4-5); `activate` starts once a card is activated.
# - Start C, combination selection (3.3.2): SELECT '2PAY.SYS.DDF01'; no
#   '9000' or no directory entry -> no candidate (3.3.2.3-4); for each
#   allowed combination and each entry: ADF Name 5..16 bytes that equals or
#   begins with the AID (3.3.2.5 A-B), Requested Kernel ID from '9F2A' (byte
#   1 b8b7 00/01: one byte; 10/11: three bytes, short id not zero) or the
#   Table 3-6 default by RID when absent (3.3.2.5 C), supported when zero or
#   equal to the combination's (3.3.2.5 D). No candidate: End Application,
#   UI '1C' Ready to Read (3.3.2.7). Final selection (3.3.3): highest
#   Application Priority Indicator (0 / absent lowest), ties by PPSE order;
#   Extended Selection '9F29' appended when supported (3.3.3.3); SELECT not
#   '9000' -> drop the candidate and select again (3.3.3.5); a Visa AID for
#   Kernel 3 whose PDOL lacks the TTQ would need Kernel 1, which this
#   terminal does not have: dropped (3.3.3.6).
# - Start D, kernel activation (3.4): the combination's kernel gets the FCI,
#   the indicators and the transaction data.
# - Outcome processing (3.5): the UI Request on Outcome is sent; Select
#   Next drops the candidate and returns to Start C; Try Again / End
#   Application with Start B return an Outcome with `restart_required`
#   (the application shows `ui_on_restart` and polls again); a communication
#   error (the HAL raised a 'tryagain' error) returns to Start B (3.3.3.7)
#   with '21' Present Card Again. Everything else is final.
# - Online Request (Book A 6.2 / 8): after the card has left, Online PIN if
#   the CVM asks for it (services.online_pin), services.go_online, and the
#   result shown: '03'/'1A' approved, '07' declined. No second tap: issuer
#   authentication data and scripts are kept, not sent to the card. A
#   refund's cryptogram always goes online (Decision ONLINE_REQUEST_HANDLED),
#   as the contact kernel does it.
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from base import tlv
from base.errors import CardcoreError, CardRemoved
from kernel import apdu
from kernel.apdu import Transmit, Transport
from kernel.capk import CaKeyStore
from kernel.config import TransactionRequest, TransactionType
from kernel.contact.context import Context
from kernel.contactless.common import (
    Activation,
    ClCandidate,
    Indicators,
    KernelResult,
    new_context,
    send_ui,
)
from kernel.contactless.config import (
    KERNEL_3,
    ContactlessAid,
    ContactlessConfig,
    KernelKind,
    default_kernel_id,
)
from kernel.contactless.mastercard import MastercardKernel
from kernel.contactless.mir import MirKernel
from kernel.contactless.outcome import (
    AlternateInterface,
    OutcomeCvm,
    OutcomeKind,
    OutcomeParameters,
    Start,
)
from kernel.contactless.services import ContactlessServices
from kernel.contactless.ui import UiRequest, UiStatus, ValueQualifier
from kernel.contactless.visa import VisaKernel
from kernel.errors import (
    CardCommunicationError,
    CardDataError,
    CardStatusError,
    CardTryAgain,
    ConfigurationError,
    NoMutualApplication,
    OdaError,
    PinEntryBypassed,
    PinPadError,
    TryAnotherInterface,
)
from kernel.outcome import Decision, Outcome
from kernel.selection import parse_fci
from kernel.services import (
    EntropySource,
    MessageId,
    OnlineRequest,
    OnlineResponse,
    OnlineResult,
    PinKind,
    PinRequest,
    SystemEntropy,
)
from kernel.values import decode_cn

__all__ = [
    "PPSE_NAME",
    "ContactlessEntryPoint",
    "Kernel",
    "Preprocessed",
    "build_candidates",
    "parse_ppse",
    "preprocess_combination",
    "requested_kernel_id",
]

log = logging.getLogger("kernel.contactless")

PPSE_NAME = b"2PAY.SYS.DDF01"
KERNEL_3_RID = bytes.fromhex("A000000003")
_TTQ_OFFLINE_ONLY = 0x08
_TTQ_ONLINE_CRYPTOGRAM = 0x80
_TTQ_CVM_REQUIRED = 0x40


class Kernel(Protocol):
    """What Entry Point activates (Book B 3.4): one transaction on the selected combination."""

    async def process(self, act: Activation, ctx: Context) -> KernelResult: ...


# --- Start A: pre-processing (Book B 3.1) ------------------------------------------


def preprocess_combination(
    combination: ContactlessAid, amount: int, currency_exponent: int = 2
) -> Indicators:
    """Book B 3.1.1.1-3.1.1.12 for one combination; pure."""
    ttq = bytearray(combination.ttq) if combination.ttq is not None else None
    if ttq is not None:
        ttq[1] &= ~(_TTQ_ONLINE_CRYPTOGRAM | _TTQ_CVM_REQUIRED) & 0xFF
    status_check = combination.status_check and amount == 10**currency_exponent
    not_allowed = zero_amount = False
    if amount == 0:
        if combination.zero_amount_allowed:
            zero_amount = True
        else:
            not_allowed = True
    if combination.transaction_limit is not None and amount >= combination.transaction_limit:
        not_allowed = True
    floor_exceeded = False
    if combination.floor_limit is not None:
        floor_exceeded = amount > combination.floor_limit
    elif combination.terminal_floor_limit is not None:
        floor_exceeded = amount > combination.terminal_floor_limit
    cvm_exceeded = (
        combination.cvm_required_limit is not None and amount >= combination.cvm_required_limit
    )
    if ttq is not None:
        if floor_exceeded or status_check:
            ttq[1] |= _TTQ_ONLINE_CRYPTOGRAM
        if zero_amount:
            if ttq[0] & _TTQ_OFFLINE_ONLY:
                not_allowed = True
            else:
                ttq[1] |= _TTQ_ONLINE_CRYPTOGRAM
        if cvm_exceeded:
            ttq[1] |= _TTQ_CVM_REQUIRED
    return Indicators(
        status_check_requested=status_check,
        not_allowed=not_allowed,
        zero_amount=zero_amount,
        cvm_required_limit_exceeded=cvm_exceeded,
        floor_limit_exceeded=floor_exceeded,
        ttq=bytes(ttq) if ttq is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Preprocessed:
    """The result of Start A for one transaction: the allowed combinations with
    their indicators, or the Try Another Interface outcome when none is."""

    request: TransactionRequest
    when: dt.datetime
    combinations: tuple[tuple[ContactlessAid, Indicators], ...]
    outcome: Outcome | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is None


# --- Start C: combination selection (Book B 3.3) -----------------------------------------


def parse_ppse(fci: bytes) -> list[dict[int, bytes]]:
    """The Directory Entries '61' of a PPSE FCI (6F / A5 / BF0C); [] when malformed."""
    try:
        (template,) = tlv.decode(fci)
        if template.tag != 0x6F:
            return []
        proprietary = next((o for o in template.children() if o.tag == 0xA5), None)
        if proprietary is None:
            return []
        discretionary = next((o for o in proprietary.children() if o.tag == 0xBF0C), None)
        if discretionary is None:
            return []
        entries = []
        for obj in discretionary.children():
            if obj.tag != 0x61:
                continue
            entry: dict[int, bytes] = {}
            for inner in obj.children():
                if not inner.constructed:
                    entry.setdefault(inner.tag, inner.value)
            entries.append(entry)
        return entries
    except (tlv.TlvError, ValueError):
        return []


def requested_kernel_id(kernel_identifier: bytes | None, matching_aid: bytes) -> bytes | None:
    """Book B 3.3.2.5 C: the kernel the directory entry asks for (None: skip the entry)."""
    if not kernel_identifier:
        return default_kernel_id(matching_aid)
    kind = kernel_identifier[0] & 0xC0
    if kind in (0x00, 0x40):
        return kernel_identifier[:1]
    if len(kernel_identifier) < 3:
        return None
    if kernel_identifier[0] & 0x3F:
        return kernel_identifier[:3]
    return kernel_identifier  # out of scope of Book B: taken as it is


def _matches(adf_name: bytes, combination: ContactlessAid) -> bool:
    if adf_name == combination.aid:
        return True
    return combination.partial_selection and adf_name.startswith(combination.aid)


def build_candidates(
    entries: Sequence[Mapping[int, bytes]],
    combinations: Sequence[tuple[ContactlessAid, Indicators]],
) -> list[ClCandidate]:
    """Book B 3.3.2.5 and the order of 3.3.3.2 (priority, then PPSE order)."""
    out: list[ClCandidate] = []
    for combination, indicators in combinations:
        if indicators.not_allowed:
            continue
        for order, entry in enumerate(entries):
            adf = entry.get(0x4F)
            if adf is None or not 5 <= len(adf) <= 16 or not _matches(adf, combination):
                continue
            requested = requested_kernel_id(entry.get(0x9F2A), combination.aid)
            if requested is None:
                continue
            if requested != b"\x00" and requested != combination.kernel_id:
                continue
            api = entry.get(0x87)
            priority = api[0] & 0x0F if api and len(api) == 1 and api[0] & 0x0F else None
            out.append(
                ClCandidate(
                    adf_name=adf,
                    combination=combination,
                    indicators=indicators,
                    priority=priority,
                    order=order,
                    extended_selection=entry.get(0x9F29),
                    label=entry.get(0x50),
                    preferred_name=entry.get(0x9F12),
                    kernel_id=requested,
                )
            )
    return sorted(out, key=lambda c: (c.priority if c.priority is not None else 16, c.order))


def _guarded(transmit: Transmit) -> Transmit:
    """HAL errors that mean "the card is gone" become CardCommunicationError (Book D)."""

    async def send(capdu: bytes) -> bytes:
        try:
            return await transmit(capdu)
        except CardRemoved as exc:
            raise CardCommunicationError(exc.message) from exc

    return send


# --- the Entry Point ----------------------------------------------------------------------


class ContactlessEntryPoint:
    """EMV contactless Entry Point with the Visa-, Mastercard- and Mir-style kernels.

    ``preprocess(request)`` before polling (Start A); ``activate(transmit,
    services, pre)`` once a card is activated (Start B..D and outcome
    processing, online processing included). Both never touch I/O themselves:
    ``transmit`` reaches the card, ``services`` the terminal."""

    def __init__(
        self,
        config: ContactlessConfig,
        ca_keys: CaKeyStore,
        *,
        entropy: EntropySource | None = None,
        trace_logger: logging.Logger | None = None,
        kernels: Mapping[KernelKind, Kernel] | None = None,
    ) -> None:
        config.validate()
        for combination in config.combinations:
            if combination.kind is KernelKind.VISA and combination.ttq is None:
                raise ConfigurationError(
                    f"{combination.aid.hex().upper()}: the Visa-style kernel needs a TTQ"
                )
        self.config = config
        self.ca_keys = ca_keys
        self.entropy: EntropySource = entropy or SystemEntropy()
        self.trace_logger = trace_logger
        self.kernels: dict[KernelKind, Kernel] = {
            KernelKind.VISA: VisaKernel(),
            KernelKind.MASTERCARD: MastercardKernel(),
            KernelKind.MIR: MirKernel(),
        }
        if kernels:
            self.kernels.update(kernels)

    # --- Start A -----------------------------------------------------------------------

    def preprocess(self, request: TransactionRequest) -> Preprocessed:
        request.validate()
        when = request.when or self.entropy.now()
        combinations = tuple(
            (c, preprocess_combination(c, request.amount, request.currency_exponent))
            for c in self.config.combinations
            if c.applies_to(request.transaction_type)
        )
        if any(not ind.not_allowed for _, ind in combinations):
            return Preprocessed(request, when, combinations)
        params = OutcomeParameters(
            OutcomeKind.TRY_ANOTHER_INTERFACE,
            ui_on_outcome=UiRequest(MessageId.INSERT_OR_SWIPE_CARD, UiStatus.PROCESSING_ERROR),
            alternate_interface=AlternateInterface.CONTACT_CHIP,
        )
        data = self.config.terminal.terminal_data()
        data.update(request.transaction_data(when))
        data[0xDF8129] = params.encode()
        outcome = Outcome(
            decision=Decision.TERMINATED,
            error=TryAnotherInterface("contactless not allowed for this amount or type"),
            messages=(int(MessageId.INSERT_OR_SWIPE_CARD),),
            data=data,
            contactless=params,
        )
        return Preprocessed(request, when, combinations, outcome)

    # --- Start B user interface ---------------------------------------------------------

    @staticmethod
    def polling_ui(restart: Outcome | None = None, *, amount: int | None = None) -> UiRequest:
        """What to show while polling (Book B 3.2.1.2)."""
        if restart is not None and restart.contactless is not None:
            retained = restart.contactless.ui_on_restart
            if retained is not None:
                return retained
        if amount is None:
            return UiRequest(MessageId.PRESENT_CARD, UiStatus.READY_TO_READ)
        return UiRequest(
            MessageId.PRESENT_CARD,
            UiStatus.READY_TO_READ,
            value_qualifier=ValueQualifier.AMOUNT,
            value=amount,
        )

    @staticmethod
    def collision_ui(*, resolved: bool = False) -> UiRequest:
        """Book B 3.2.1.4 / 3.2.1.5: '19' Please Present One Card Only."""
        status = UiStatus.READY_TO_READ if resolved else UiStatus.PROCESSING_ERROR
        return UiRequest(MessageId.PRESENT_ONE_CARD_ONLY, status)

    # --- Start B..D and outcome processing -------------------------------------------------

    async def run(
        self, transmit: Transmit, services: ContactlessServices, request: TransactionRequest
    ) -> Outcome:
        """Pre-processing and one activation (no restart handling)."""
        pre = self.preprocess(request)
        if pre.outcome is not None:
            return pre.outcome
        return await self.activate(transmit, services, pre)

    async def activate(
        self,
        transmit: Transmit,
        services: ContactlessServices,
        pre: Preprocessed,
        *,
        restart: Outcome | None = None,
    ) -> Outcome:
        """One tap: combination selection, the kernel, outcome and online processing.

        ``restart`` is the previous Outcome when this tap follows one with
        ``restart_required``. Project errors end in a TERMINATED outcome;
        anything else (cancellation above all) propagates."""
        if pre.outcome is not None:
            return pre.outcome
        transport = Transport(_guarded(transmit), self.trace_logger)
        messages: list[int] = []
        act: Activation | None = None
        ctx: Context | None = None
        try:
            candidates = await self._candidates(transport, pre)
            while True:
                if not candidates:
                    return await self._no_candidate(services, pre, messages)
                chosen = candidates[0]
                fci = await self._final_select(transport, chosen)
                kind = chosen.combination.kind
                kernel = self.kernels.get(kind) if kind is not None else None
                if fci is None or kernel is None:
                    candidates.pop(0)
                    continue
                act = Activation(
                    config=self.config,
                    candidate=chosen,
                    fci=fci[0],
                    fci_data=fci[1],
                    request=pre.request,
                    when=pre.when,
                    services=services,
                    restart=restart is not None,
                    messages=messages,
                )
                ctx = new_context(act, transport, self.entropy, self.ca_keys)
                result = await kernel.process(act, ctx)
                if result.kind is OutcomeKind.SELECT_NEXT:
                    log.info("select next: %s", chosen.adf_name.hex().upper())
                    candidates.pop(0)
                    continue
                break
        except CardCommunicationError as exc:
            log.info("communication error, the card is asked for again: %s", exc)
            return self._restart(pre, act, ctx, exc)
        except CardcoreError as exc:
            log.info("contactless transaction ended: %s", exc)
            return await self._ended(services, pre, messages, act, ctx, exc)
        return await self._outcome_processing(act, ctx, result)

    async def _candidates(self, transport: Transport, pre: Preprocessed) -> list[ClCandidate]:
        response = await transport.send(apdu.select(PPSE_NAME))
        if not response.ok:
            log.info("SELECT PPSE: %04X, no candidate", response.sw)
            return []
        allowed = [
            (c, ind)
            for c, ind in pre.combinations
            if not ind.not_allowed and c.applies_to(pre.request.transaction_type)
        ]
        return build_candidates(parse_ppse(response.data), allowed)

    @staticmethod
    async def _final_select(
        transport: Transport, chosen: ClCandidate
    ) -> tuple[bytes, dict[int, bytes]] | None:
        response = await transport.send(apdu.select(chosen.select_name))
        fci = parse_fci(response.data) if response.ok else None
        if fci is None:
            log.info("SELECT %s: %04X", chosen.select_name.hex().upper(), response.sw)
            return None
        if chosen.combination.aid[:5] == KERNEL_3_RID and chosen.combination.kernel_id == KERNEL_3:
            pdol = fci.get(0x9F38)
            try:
                has_ttq = pdol is not None and 0x9F66 in [t for t, _ in tlv.decode_dol(pdol)]
            except tlv.TlvError:
                has_ttq = False
            if not has_ttq:
                log.info("Visa AID without TTQ in the PDOL needs Kernel 1: not supported")
                return None
        return response.data, fci

    # --- outcomes ----------------------------------------------------------------------

    def _base_data(self, pre: Preprocessed) -> dict[int, bytes]:
        data = self.config.terminal.terminal_data()
        data.update(pre.request.transaction_data(pre.when))
        return data

    @staticmethod
    async def _send(
        services: ContactlessServices, messages: list[int], ui: UiRequest | None
    ) -> None:
        if ui is not None:
            await send_ui(services, messages, ui)

    async def _no_candidate(
        self, services: ContactlessServices, pre: Preprocessed, messages: list[int]
    ) -> Outcome:
        params = OutcomeParameters(
            OutcomeKind.END_APPLICATION,
            ui_on_outcome=UiRequest(MessageId.TRY_ANOTHER_CARD, UiStatus.READY_TO_READ),
        )
        await self._send(services, messages, params.ui_on_outcome)
        data = self._base_data(pre)
        data[0xDF8129] = params.encode()
        return Outcome(
            decision=Decision.TERMINATED,
            error=NoMutualApplication("no contactless application of this terminal on the card"),
            messages=tuple(messages),
            data=data,
            contactless=params,
        )

    def _restart(
        self,
        pre: Preprocessed,
        act: Activation | None,
        ctx: Context | None,
        error: CardcoreError,
    ) -> Outcome:
        again = UiRequest(MessageId.PRESENT_CARD_AGAIN, UiStatus.READY_TO_READ)
        if act is not None:
            again = act.ui(MessageId.PRESENT_CARD_AGAIN, UiStatus.READY_TO_READ)
        params = OutcomeParameters(OutcomeKind.TRY_AGAIN, start=Start.B, ui_on_restart=again)
        return self._outcome(pre, ctx, act, params, Decision.TERMINATED, None, None, error=error)

    async def _ended(
        self,
        services: ContactlessServices,
        pre: Preprocessed,
        messages: list[int],
        act: Activation | None,
        ctx: Context | None,
        error: CardcoreError,
    ) -> Outcome:
        card_error = isinstance(error, CardDataError | CardStatusError | OdaError)
        if act is not None:
            params = act.end_application()
        else:
            params = OutcomeParameters(
                OutcomeKind.END_APPLICATION,
                ui_on_outcome=UiRequest(MessageId.TRY_ANOTHER_CARD, UiStatus.NOT_READY),
            )
        if not card_error:
            params = OutcomeParameters(
                OutcomeKind.END_APPLICATION,
                ui_on_outcome=UiRequest(MessageId.PROCESSING_ERROR, UiStatus.PROCESSING_ERROR),
            )
        await self._send(services, messages, params.ui_on_outcome)
        reason = "cardprocessingerror" if card_error else "systemerror"
        cid_value = ctx.data.get(0x9F27) if ctx is not None else None
        cid = cid_value[0] if cid_value else None
        return self._outcome(pre, ctx, act, params, Decision.TERMINATED, reason, cid, error=error)

    async def _outcome_processing(
        self, act: Activation, ctx: Context, result: KernelResult
    ) -> Outcome:
        params = result.parameters
        if params.ui_on_outcome is not None:
            await act.send_ui(params.ui_on_outcome)
        kind = params.kind
        pre_request = act.request
        has_cryptogram = result.cid is not None and 0x9F26 in ctx.data
        final_kinds = (OutcomeKind.APPROVED, OutcomeKind.DECLINED, OutcomeKind.ONLINE_REQUEST)
        refund = pre_request.transaction_type == TransactionType.REFUND
        if refund and kind in final_kinds and has_cryptogram:
            return await self._online(act, ctx, result, refund=True)
        if kind is OutcomeKind.ONLINE_REQUEST:
            return await self._online(act, ctx, result, refund=False)
        if kind is OutcomeKind.APPROVED:
            ctx.data[0x8A] = b"Y1"
            return self._kernel_outcome(act, ctx, result, Decision.APPROVED_OFFLINE, None)
        if kind is OutcomeKind.DECLINED:
            ctx.data[0x8A] = b"Z1"
            declined = result.decline_reason or "offlinedeclined"
            return self._kernel_outcome(act, ctx, result, Decision.DECLINED, declined)
        error: CardcoreError
        reason: str | None = None
        if kind is OutcomeKind.TRY_ANOTHER_INTERFACE:
            error = TryAnotherInterface("the card asks for another interface")
        elif params.start is not None:
            error = CardTryAgain("present the card again")
        else:
            error = result.error or CardDataError("the kernel ended the application")
            reason = "cardprocessingerror"
        return self._kernel_outcome(act, ctx, result, Decision.TERMINATED, reason, error=error)

    async def _online(
        self, act: Activation, ctx: Context, result: KernelResult, *, refund: bool
    ) -> Outcome:
        services = act.services
        params = result.parameters
        pan = decode_cn(ctx.data[0x5A]) if 0x5A in ctx.data else ""
        if params.cvm is OutcomeCvm.ONLINE_PIN and not refund:
            await act.send_ui(act.ui(MessageId.ENTER_PIN, UiStatus.NOT_READY))
            try:
                block = await services.online_pin(
                    PinRequest(
                        PinKind.ONLINE,
                        act.request.amount,
                        act.request.currency,
                        languages=act.language,
                        pan=pan,
                    )
                )
            except (PinEntryBypassed, PinPadError) as exc:
                declined = act.declined(params.cvm)
                if declined.ui_on_outcome is not None:
                    await act.send_ui(declined.ui_on_outcome)
                return self._kernel_outcome(
                    act, ctx, result, Decision.TERMINATED, None, error=exc, params=declined
                )
            ctx.online_pin_block = block
            ctx.pin_entered = "online"
            await act.send_ui(act.ui(MessageId.AUTHORISING_PLEASE_WAIT, UiStatus.NOT_READY))
        cid_value = ctx.data.get(0x9F27, b"\x80")
        request = OnlineRequest(
            cryptogram=ctx.data.get(0x9F26, b""),
            cid=cid_value[0],
            data=ctx.snapshot(),
            pin_block=ctx.online_pin_block,
            pan=pan,
        )
        try:
            response = await services.go_online(request)
        except CardcoreError as exc:
            log.info("online authorisation failed: %s", exc)
            response = OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
        ctx.online_response = response
        _store_issuer_data(ctx, response)
        approved = response.result is OnlineResult.APPROVED
        final = act.approved(params.cvm) if approved else act.declined(params.cvm)
        if final.ui_on_outcome is not None:
            await act.send_ui(final.ui_on_outcome)
        reason: str | None = None
        if response.result is OnlineResult.DECLINED:
            reason = "onlinedeclined"
        elif response.result is OnlineResult.UNABLE_TO_GO_ONLINE:
            ctx.unable_to_go_online = True
            reason = "unabletoonline"
        if refund:
            decision = Decision.ONLINE_REQUEST_HANDLED
        else:
            decision = Decision.APPROVED_ONLINE if approved else Decision.DECLINED
        return self._kernel_outcome(act, ctx, result, decision, reason, params=final)

    def _kernel_outcome(
        self,
        act: Activation,
        ctx: Context,
        result: KernelResult,
        decision: Decision,
        reason: str | None,
        *,
        error: CardcoreError | None = None,
        params: OutcomeParameters | None = None,
    ) -> Outcome:
        chosen = params or result.parameters
        return self._outcome(
            None,
            ctx,
            act,
            chosen,
            decision,
            reason,
            result.cid,
            error=error,
            cdcvm=result.cdcvm,
            cvm=result.parameters.cvm,
        )

    def _outcome(
        self,
        pre: Preprocessed | None,
        ctx: Context | None,
        act: Activation | None,
        params: OutcomeParameters,
        decision: Decision,
        reason: str | None,
        cid: int | None,
        *,
        error: CardcoreError | None = None,
        cdcvm: bool = False,
        cvm: OutcomeCvm = OutcomeCvm.NOT_APPLICABLE,
    ) -> Outcome:
        messages = tuple(act.messages) if act is not None else ()
        if ctx is None:
            data = self._base_data(pre) if pre is not None else {}
            data[0xDF8129] = params.encode()
            return Outcome(
                decision=decision,
                decline_reason=reason,
                error=error,
                messages=messages,
                data=data,
                contactless=params,
            )
        data = ctx.snapshot()
        data[0xDF8129] = params.encode()
        return Outcome(
            decision=decision,
            decline_reason=reason,
            tvr=bytes(ctx.tvr),
            tsi=bytes(ctx.tsi),
            cid=cid,
            cvm_results=ctx.cvm_results,
            signature_required=cvm is OutcomeCvm.OBTAIN_SIGNATURE
            and decision in (Decision.APPROVED_OFFLINE, Decision.APPROVED_ONLINE),
            pin_entered=ctx.pin_entered,
            unable_to_go_online=ctx.unable_to_go_online,
            online_response=ctx.online_response,
            error=error,
            messages=messages,
            data=data,
            online_pin_block=ctx.online_pin_block,
            contactless=params,
            cdcvm=cdcvm,
            kernel_id=act.combination.kernel_id if act is not None else None,
        )


def _store_issuer_data(ctx: Context, response: OnlineResponse) -> None:
    if response.result is OnlineResult.UNABLE_TO_GO_ONLINE:
        ctx.data[0x8A] = b"Z3"
        return
    default_arc = b"00" if response.result is OnlineResult.APPROVED else b"05"
    ctx.data[0x8A] = response.arc if response.arc and len(response.arc) == 2 else default_arc
    if response.authorisation_code:
        ctx.data[0x89] = response.authorisation_code
    if response.issuer_authentication_data:
        ctx.data[0x91] = response.issuer_authentication_data
    for tag, value in response.extra.items():
        ctx.data.setdefault(tag, value)
