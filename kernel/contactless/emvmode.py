# Strategy: the EMV-mode single tap shared by the Mastercard-style kernel
# (EMV Contactless Book C-2, Kernel 2) and the Mir-style kernel, as far as
# public material describes them: the contact flow of EMV 4.3 Book 3
# compressed into one tap with one GENERATE AC and no second one.
# - GET PROCESSING OPTIONS (PDOL data, Book 3 10.1; '6985' -> Select Next),
#   READ RECORD per the AFL (Book 3 10.2), the kernel's data exchange,
#   offline data authentication (CDA when card and the contactless security
#   capability allow it, else what Book 3 10.3 chooses; Book C-2 readers
#   support CDA only), processing restrictions (Book 3 10.4), cardholder
#   verification (Book 3 10.5 with the contactless CVM capability: Terminal
#   Capabilities byte 2 becomes 'CVM Capability - CVM Required' over the
#   CVM-required limit and 'No CVM Required' under it, Book C-2 'DF8118' /
#   'DF8119'; Online PIN is chosen, entered later; no offline PIN),
#   terminal risk management (the reader's contactless floor limit: TVR
#   'transaction exceeds floor limit'), terminal action analysis with the
#   combination's TACs (Book 3 10.7), then GENERATE AC with CDA requested
#   (Book 2 6.6) - the last command: Card Read OK.
# - After the card has left: CDA verification (kernel.contact.completion);
#   TC -> Approved, ARQC -> Online Request, AAC -> Declined; CDA failed ->
#   Declined.
# Hooks for the kernels: `after_gpo` (mode and limit checks), `exchange`
# (the data exchange tag list), `cvm_required` and `on_device_cvm`.
from __future__ import annotations

from base.tlv import tag_hex
from kernel.contact.action import ActionCodes, terminal_action_analysis
from kernel.contact.authentication import offline_data_authentication
from kernel.contact.completion import generate_ac, verify_deferred_cda
from kernel.contact.context import Context
from kernel.contact.cvm import CvmFacts, cardholder_verification
from kernel.contact.reading import data_exchange, initiate_application_processing
from kernel.contact.restrictions import RestrictionFacts, processing_restrictions
from kernel.contactless.common import (
    Activation,
    DeferredPinActions,
    KernelResult,
    check_card_data,
    read_records,
)
from kernel.contactless.outcome import OutcomeCvm
from kernel.errors import CardDataError
from kernel.outcome import CryptogramType
from kernel.sw import ConditionsNotSatisfied
from kernel.tvr import TsiBit, TvrBit

__all__ = ["EmvModeKernel"]

MANDATORY_TAGS = (0x5A, 0x5F24, 0x8C)


class EmvModeKernel:
    """GPO, READ RECORD, one GENERATE AC with CDA (subclassed per scheme)."""

    async def process(self, act: Activation, ctx: Context) -> KernelResult:
        try:
            await initiate_application_processing(ctx)
        except ConditionsNotSatisfied:
            return KernelResult(act.select_next())
        early = self.after_gpo(act, ctx)
        if early is not None:
            return early
        await read_records(ctx)
        missing = [tag_hex(t) for t in MANDATORY_TAGS if t not in ctx.icc_tags]
        if missing:
            raise CardDataError(f"mandatory data missing: {', '.join(missing)}")
        check_card_data(ctx)
        await self.exchange(act, ctx)
        ctx.data[0x9F33] = self.capabilities(act, ctx)
        await offline_data_authentication(ctx)
        self._restrictions(ctx)
        cvm, cdcvm = await self._cvm(act, ctx)
        if act.indicators.floor_limit_exceeded:
            ctx.set_tvr(TvrBit.FLOOR_LIMIT_EXCEEDED)
        ctx.set_tsi(TsiBit.TERMINAL_RISK_MANAGEMENT_PERFORMED)
        combination = act.combination
        tac = ActionCodes(combination.tac_denial, combination.tac_online, combination.tac_default)
        iac = ActionCodes.issuer(ctx.data.get(0x9F0E), ctx.data.get(0x9F0F), ctx.data.get(0x9F0D))
        requested = terminal_action_analysis(
            ctx.tvr,
            tac,
            iac,
            online_capable=ctx.config.online_capable,
            online_only=ctx.config.online_only,
            force_online=act.request.force_online,
            transaction_type=act.request.transaction_type,
        )
        first = await generate_ac(ctx, requested, verify=False)
        ctx.set_tsi(TsiBit.CARD_RISK_MANAGEMENT_PERFORMED)
        await act.card_read()
        first = verify_deferred_cda(ctx, first)  # the card may leave: no more APDUs
        got = first.cryptogram
        if first.cda_ok is False:
            return KernelResult(act.declined(cvm), cid=first.cid, decline_reason="offlinedeclined")
        if got is CryptogramType.TC:
            return KernelResult(act.approved(cvm), cid=first.cid, cdcvm=cdcvm)
        if got is CryptogramType.ARQC:
            return KernelResult(act.online_request(cvm), cid=first.cid, cdcvm=cdcvm)
        return KernelResult(act.declined(cvm), cid=first.cid, decline_reason="offlinedeclined")

    # --- hooks ---------------------------------------------------------------------

    def after_gpo(self, act: Activation, ctx: Context) -> KernelResult | None:
        return None

    async def exchange(self, act: Activation, ctx: Context) -> None:
        await data_exchange(ctx, "read-application-data", act.combination.data_exchange_tags)

    def capabilities(self, act: Activation, ctx: Context) -> bytes:
        """Terminal Capabilities '9F33' before the CVM capability is chosen."""
        return act.combination.capabilities

    def cvm_required(self, act: Activation, ctx: Context) -> bool:
        return act.indicators.cvm_required_limit_exceeded

    def cvm_capability(self, act: Activation, required: bool) -> int:
        combination = act.combination
        if required:
            return combination.cvm_capability_cvm_required
        return combination.cvm_capability_no_cvm_required

    def on_device_cvm(self, act: Activation, ctx: Context) -> tuple[OutcomeCvm, bool] | None:
        return None

    # --- steps ---------------------------------------------------------------------

    @staticmethod
    def _restrictions(ctx: Context) -> None:
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

    async def _cvm(self, act: Activation, ctx: Context) -> tuple[OutcomeCvm, bool]:
        on_device = self.on_device_cvm(act, ctx)
        if on_device is not None:
            return on_device
        caps = ctx.data[0x9F33]
        caps = bytes([caps[0], self.cvm_capability(act, self.cvm_required(act, ctx)), caps[2]])
        ctx.data[0x9F33] = caps
        if not ctx.aip[0] & 0x10:  # the card does not support cardholder verification
            ctx.cvm_results = bytes.fromhex("3F0000")
            return OutcomeCvm.NO_CVM, False
        facts = CvmFacts(
            capabilities=caps,
            amount=act.request.amount,
            transaction_type=act.request.transaction_type,
            transaction_currency=ctx.data[0x5F2A],
            application_currency=ctx.data.get(0x9F42),
            attended=ctx.config.attended,
            amount_other=act.request.amount_other,
        )
        actions = DeferredPinActions()
        result = await cardholder_verification(ctx.aip, ctx.data.get(0x8E), facts, actions)
        ctx.cvm_results = result.results
        ctx.set_tvr(*result.tvr)
        if result.performed:
            ctx.set_tsi(TsiBit.CARDHOLDER_VERIFICATION_PERFORMED)
        if actions.online_pin_chosen and result.pin_entered == "online":
            return OutcomeCvm.ONLINE_PIN, False
        if result.signature_required:
            return OutcomeCvm.OBTAIN_SIGNATURE, False
        return OutcomeCvm.NO_CVM, False
