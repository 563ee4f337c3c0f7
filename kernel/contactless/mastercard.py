# Strategy: a Mastercard-style contactless kernel, after EMV Contactless
# Book C-2 (Kernel 2, M/Chip with CDA) as far as public material describes
# it. This kernel follows public information only: it is not certified and
# leaves out the mag-stripe mode (COMPUTE CRYPTOGRAPHIC CHECKSUM), torn
# transaction recovery, relay resistance, IDS, balance reading and the
# two-tap issuer update. On top of the EMV-mode single tap
# (kernel.contactless.emvmode) it does:
# - EMV mode only: a card without AIP byte 2 b8 ('EMV mode supported') is
#   sent to another interface (or ends when the terminal has none).
# - Reader Contactless Transaction Limit 'DF8124' (no on-device CVM) /
#   'DF8125' (on-device CVM: AIP byte 1 b2 and Kernel Configuration 'DF811B'
#   b6): an amount above it -> Select Next.
# - Data exchange: the Tags To Read 'DF8112' - from the records, else by GET
#   DATA - are handed to services.data_exchange at 'read-application-data'
#   (the application offers them through the ECR `dex` message); terminal
#   tags it returns are taken before GENERATE AC.
# - CVM: with on-device cardholder verification (AIP byte 1 b2 and 'DF811B'
#   b6) the device verified the cardholder: over the Reader CVM Required
#   Limit the Outcome CVM is 'Confirmation Code Verified' with CVM Results
#   '010002' (cdcvm=yes on the receipt), under it No CVM, '3F0002'.
#   Otherwise the CVM list with 'CVM Capability - CVM Required' 'DF8118'
#   over the limit, 'No CVM Required' 'DF8119' under it. Book C-2 compares
#   "amount greater than the limit" (Book B pre-processing uses "greater
#   than or equal"); this kernel follows Book C-2 for its own decisions.
# - ODA: CDA only ('DF811F' Security Capability goes into '9F33' byte 3).
from __future__ import annotations

from base import tlv
from kernel import apdu
from kernel.contact.context import Context, log
from kernel.contact.reading import data_exchange
from kernel.contactless.common import Activation, KernelResult
from kernel.contactless.config import Kernel2Parameters
from kernel.contactless.emvmode import EmvModeKernel
from kernel.contactless.outcome import OutcomeCvm

__all__ = ["MastercardKernel"]

_MAX_GET_DATA = 8


class MastercardKernel(EmvModeKernel):
    @staticmethod
    def _params(act: Activation) -> Kernel2Parameters:
        return act.combination.kernel2 or Kernel2Parameters()

    def _on_device(self, act: Activation, ctx: Context) -> bool:
        return bool(ctx.aip[0] & 0x02) and self._params(act).on_device_cvm_supported

    def after_gpo(self, act: Activation, ctx: Context) -> KernelResult | None:
        if not ctx.aip[1] & 0x80:
            log.info("Kernel 2: the card does not support EMV mode")
            if act.config.contact_interface:
                return KernelResult(act.try_another_interface())
            return KernelResult(act.end_application())
        params = self._params(act)
        if self._on_device(act, ctx):
            limit = params.transaction_limit_on_device_cvm
        else:
            limit = params.transaction_limit_no_on_device_cvm
        if limit is not None and act.request.amount > limit:
            log.info("Kernel 2: amount over the reader contactless transaction limit")
            return KernelResult(act.select_next())
        return None

    async def exchange(self, act: Activation, ctx: Context) -> None:
        tags = self._params(act).tags_to_read
        if not tags:
            return
        fetched = 0
        for tag in tags:
            if ctx.has(tag) or not 0x100 <= tag <= 0xFFFF or fetched >= _MAX_GET_DATA:
                continue
            fetched += 1
            response = await ctx.transport.send(apdu.get_data(tag))
            if not response.ok:
                continue
            try:
                objects = tlv.decode(response.data)
            except tlv.TlvError:
                continue
            if len(objects) == 1 and objects[0].tag == tag and not objects[0].constructed:
                ctx.store_icc_objects(objects, f"GET DATA {tlv.tag_hex(tag)}")
        await data_exchange(ctx, "read-application-data", tags)

    def capabilities(self, act: Activation, ctx: Context) -> bytes:
        caps = act.combination.capabilities
        return bytes([caps[0], caps[1], self._params(act).security_capability])

    def cvm_required(self, act: Activation, ctx: Context) -> bool:
        limit = act.combination.cvm_required_limit
        return limit is not None and act.request.amount > limit

    def cvm_capability(self, act: Activation, required: bool) -> int:
        params = self._params(act)
        if required:
            return params.cvm_capability_cvm_required
        return params.cvm_capability_no_cvm_required

    def on_device_cvm(self, act: Activation, ctx: Context) -> tuple[OutcomeCvm, bool] | None:
        if not self._on_device(act, ctx):
            return None
        if self.cvm_required(act, ctx):
            ctx.cvm_results = bytes.fromhex("010002")
            return OutcomeCvm.CONFIRMATION_CODE_VERIFIED, True
        ctx.cvm_results = bytes.fromhex("3F0002")
        return OutcomeCvm.NO_CVM, False
