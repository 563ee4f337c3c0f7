# Strategy: what every contactless kernel shares, EMV Contactless Book A/B
# and the kernel books (C-2, C-3) as far as public material describes them.
# - `Activation` is what Entry Point hands to the kernel at Start D (Book B
#   3.4.1: the selected combination, its Pre-Processing Indicators, the FCI
#   of the SELECT response, the transaction data) plus the terminal services.
# - `new_context` builds the kernel's data store: the contact kernel's
#   Context (one tag store, TVR/TSI, record parsing with the duplicate and
#   source checks of Book 3 10.2, the ODA key recovery and CDA verification
#   of kernel.contact), with the contactless Terminal Capabilities and POS
#   entry mode '07'. Reusing it keeps one implementation of Book 2/3 rules.
# - `read_records` reads the AFL (Book 3 10.2) without the contact
#   mandatory-data check: each kernel checks its own mandatory data.
# - `DeferredPinActions` lets the Book 3 CVM list walk choose Online PIN
#   without prompting: over contactless the PIN is entered after the card
#   has left the field (Book A: Outcome CVM = Online PIN); no offline PIN.
# - The outcome builders give the Book A 6.2 parameter sets with the UI
#   requests the kernel books prescribe: '17' Card Read OK with status Card
#   Read Successfully when the card may leave; '03' / '1A' Approved (please
#   sign), '07' Not Authorised, '1B' Authorising, '18' Insert or Swipe card
#   for Try Another Interface, '1C' Try Another Card for End Application,
#   '20' See Phone then '21' Present Card Again on restart.
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from base.errors import CardcoreError
from kernel import apdu
from kernel.apdu import Transport
from kernel.capk import CaKeyStore
from kernel.config import TransactionRequest
from kernel.contact.context import Context, log
from kernel.contact.cvm import PinResult
from kernel.contact.reading import parse_afl, store_record
from kernel.contactless.config import ContactlessAid, ContactlessConfig
from kernel.contactless.outcome import (
    AlternateInterface,
    OutcomeCvm,
    OutcomeKind,
    OutcomeParameters,
    Start,
)
from kernel.contactless.services import ContactlessServices
from kernel.contactless.ui import UiRequest, UiStatus, ValueQualifier
from kernel.errors import CardDataError
from kernel.selection import Candidate, SelectedApplication
from kernel.services import EntropySource, MessageId
from kernel.sw import error_for
from kernel.values import decode_cn, decode_date, decode_text

__all__ = [
    "Activation",
    "ClCandidate",
    "DeferredPinActions",
    "Indicators",
    "KernelResult",
    "check_card_data",
    "new_context",
    "read_records",
    "send_ui",
]


@dataclass(frozen=True, slots=True)
class Indicators:
    """Entry Point Pre-Processing Indicators of one combination (Book A Table 5-3)."""

    status_check_requested: bool = False
    not_allowed: bool = False  # 'Contactless Application Not Allowed'
    zero_amount: bool = False
    cvm_required_limit_exceeded: bool = False
    floor_limit_exceeded: bool = False
    ttq: bytes | None = None  # the Copy of TTQ, with byte 2 b8/b7 set as needed


@dataclass(frozen=True, slots=True)
class ClCandidate:
    """A Combination in the Candidate List (Book B 3.3.2.5 E)."""

    adf_name: bytes
    combination: ContactlessAid
    indicators: Indicators
    priority: int | None = None  # Application Priority Indicator b4-b1, None: 0 or absent
    order: int = 0  # position of the directory entry in the PPSE
    extended_selection: bytes | None = None  # '9F29'
    label: bytes | None = None
    preferred_name: bytes | None = None
    kernel_id: bytes = b""  # the requested kernel (Book B 3.3.2.5 C)

    @property
    def select_name(self) -> bytes:
        """ADF Name, with the Extended Selection appended when allowed (Book B 3.3.3.3)."""
        if self.extended_selection and self.combination.extended_selection:
            return self.adf_name + self.extended_selection
        return self.adf_name


@dataclass
class Activation:
    """What the kernel starts with (Book B 3.4.1)."""

    config: ContactlessConfig
    candidate: ClCandidate
    fci: bytes
    fci_data: dict[int, bytes]
    request: TransactionRequest
    when: dt.datetime
    services: ContactlessServices
    restart: bool = False
    messages: list[int] = field(default_factory=list)

    @property
    def combination(self) -> ContactlessAid:
        return self.candidate.combination

    @property
    def indicators(self) -> Indicators:
        return self.candidate.indicators

    @property
    def language(self) -> str:
        value = self.fci_data.get(0x5F2D)
        text = decode_text(value) if value else ""
        return text if text.isascii() and text.isalpha() else ""

    def ui(
        self,
        message: MessageId,
        status: UiStatus,
        *,
        hold: int = 0,
        amount: bool = False,
    ) -> UiRequest:
        return UiRequest(
            message=message,
            status=status,
            hold_time=hold,
            language=self.language,
            value_qualifier=ValueQualifier.AMOUNT if amount else ValueQualifier.NONE,
            value=self.request.amount if amount else 0,
            currency=self.request.currency if amount else 0,
        )

    async def send_ui(self, request: UiRequest) -> None:
        await send_ui(self.services, self.messages, request)

    async def card_read(self) -> None:
        """The last command is answered: the card may leave the field."""
        await self.send_ui(self.ui(MessageId.CARD_READ_OK, UiStatus.CARD_READ_SUCCESSFULLY))

    # --- outcome parameter sets (Book A 6.2) ---------------------------------

    def approved(self, cvm: OutcomeCvm) -> OutcomeParameters:
        sign = cvm is OutcomeCvm.OBTAIN_SIGNATURE
        message = MessageId.APPROVED_PLEASE_SIGN if sign else MessageId.APPROVED
        return OutcomeParameters(
            OutcomeKind.APPROVED,
            cvm=cvm,
            ui_on_outcome=self.ui(
                message, UiStatus.NOT_READY, hold=self.config.message_hold_time, amount=True
            ),
            data_record=True,
            receipt=True if sign else None,
        )

    def declined(self, cvm: OutcomeCvm = OutcomeCvm.NOT_APPLICABLE) -> OutcomeParameters:
        return OutcomeParameters(
            OutcomeKind.DECLINED,
            cvm=cvm,
            ui_on_outcome=self.ui(
                MessageId.DECLINED, UiStatus.NOT_READY, hold=self.config.message_hold_time
            ),
            data_record=True,
        )

    def online_request(self, cvm: OutcomeCvm) -> OutcomeParameters:
        return OutcomeParameters(
            OutcomeKind.ONLINE_REQUEST,
            cvm=cvm,
            ui_on_outcome=self.ui(MessageId.AUTHORISING_PLEASE_WAIT, UiStatus.NOT_READY),
            data_record=True,
            receipt=True if cvm is OutcomeCvm.OBTAIN_SIGNATURE else None,
        )

    def select_next(self) -> OutcomeParameters:
        return OutcomeParameters(OutcomeKind.SELECT_NEXT, start=Start.C)

    def try_another_interface(self) -> OutcomeParameters:
        return OutcomeParameters(
            OutcomeKind.TRY_ANOTHER_INTERFACE,
            ui_on_outcome=self.ui(MessageId.INSERT_OR_SWIPE_CARD, UiStatus.PROCESSING_ERROR),
            alternate_interface=AlternateInterface.CONTACT_CHIP,
        )

    def end_application(self) -> OutcomeParameters:
        return OutcomeParameters(
            OutcomeKind.END_APPLICATION,
            ui_on_outcome=self.ui(
                MessageId.TRY_ANOTHER_CARD, UiStatus.NOT_READY, hold=self.config.message_hold_time
            ),
        )

    def see_phone(self, kind: OutcomeKind) -> OutcomeParameters:
        """The device asks the cardholder to verify on it, then to tap again."""
        hold = self.config.message_hold_time
        return OutcomeParameters(
            kind,
            start=Start.B,
            ui_on_outcome=self.ui(MessageId.SEE_PHONE, UiStatus.NOT_READY, hold=hold),
            ui_on_restart=self.ui(MessageId.PRESENT_CARD_AGAIN, UiStatus.READY_TO_READ),
            field_off_hold_time=hold,
        )


@dataclass
class KernelResult:
    """A kernel's Outcome (Book A 6.2) and what Entry Point needs to finish."""

    parameters: OutcomeParameters
    cid: int | None = None
    decline_reason: str | None = None
    error: CardcoreError | None = None
    cdcvm: bool = False

    @property
    def kind(self) -> OutcomeKind:
        return self.parameters.kind


async def send_ui(services: ContactlessServices, messages: list[int], request: UiRequest) -> None:
    """Show a UI request; a failing display does not change the transaction's result."""
    messages.append(int(request.message))
    try:
        await services.ui_request(request)
    except CardcoreError as exc:
        log.info("UI request %02X not shown: %s", int(request.message), exc)


def new_context(
    act: Activation, transport: Transport, entropy: EntropySource, ca_keys: CaKeyStore
) -> Context:
    """The kernel's data store for the selected combination."""
    combination = act.combination
    aid_cfg = combination.aid_config()
    terminal = dataclasses.replace(
        act.config.terminal,
        capabilities=combination.capabilities,
        pos_entry_mode=act.config.pos_entry_mode,
    )
    ctx = Context(
        config=terminal,
        request=act.request,
        services=act.services,
        transport=transport,
        entropy=entropy,
        ca_keys=ca_keys,
        when=act.when,
    )
    fci = act.fci_data
    api = fci.get(0x87)
    candidate = Candidate(
        aid=act.candidate.adf_name,
        terminal_aid=aid_cfg,
        label=fci.get(0x50) or act.candidate.label,
        preferred_name=fci.get(0x9F12) or act.candidate.preferred_name,
        priority_indicator=api[0] if api and len(api) == 1 else None,
        language=act.language or None,
        order=act.candidate.order,
    )
    ctx.application = SelectedApplication(
        candidate=candidate,
        fci=act.fci,
        pdol=fci.get(0x9F38),
        language=act.language or None,
        fci_data=fci,
    )
    ctx.aid_config = aid_cfg
    ctx.data.update(terminal.terminal_data(aid_cfg))
    ctx.data.update(act.request.transaction_data(act.when))
    ctx.data[0x9F37] = entropy.unpredictable_number()
    if act.indicators.ttq is not None:
        ctx.data[0x9F66] = act.indicators.ttq
    for tag in (0x84, 0x50, 0x87, 0x9F38, 0x5F2D, 0x9F11, 0x9F12, 0xBF0C):
        value = fci.get(tag)
        if value is not None:
            ctx.data[tag] = value
    ctx.data[0x4F] = act.candidate.adf_name
    return ctx


async def read_records(ctx: Context) -> None:
    """Book 3 10.2: every record the AFL names; ODA records kept as read."""
    for sfi, first, last, oda_count in parse_afl(ctx.afl):
        for record in range(first, last + 1):
            response = await ctx.transport.send(apdu.read_record(sfi, record))
            if not response.ok:
                raise error_for(response.sw, f"READ RECORD SFI {sfi} record {record}")
            store_record(ctx, sfi, record, response.data)
            if record - first < oda_count:
                ctx.oda_records.append((sfi, response.data))


def check_card_data(ctx: Context) -> None:
    """PAN '5A' and expiry '5F24' must decode (Book 3 7.2): they reach the host and receipts."""
    try:
        if 0x5A in ctx.data:
            decode_cn(ctx.data[0x5A])
        if 0x5F24 in ctx.data:
            decode_date(ctx.data[0x5F24])
    except ValueError as exc:
        raise CardDataError(f"card data malformed: {exc}") from exc


class DeferredPinActions:
    """CVM list actions over contactless: Online PIN is chosen now and entered
    later (after the card has left); an offline PIN cannot be verified."""

    def __init__(self) -> None:
        self.online_pin_chosen = False

    async def offline_pin(self, *, enciphered: bool) -> PinResult:
        return PinResult.UNAVAILABLE

    async def online_pin(self) -> PinResult:
        self.online_pin_chosen = True
        return PinResult.OK
