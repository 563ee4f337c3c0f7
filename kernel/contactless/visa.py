# Strategy: a Visa-style contactless kernel (qVSDC), after EMV Contactless
# Book C-3 (Kernel 3) as far as public material describes it. This kernel
# follows public information only: it is not certified and leaves out the
# legacy (MSD) path, issuer update processing and the optional ODA for
# online authorisations.
# - GET PROCESSING OPTIONS with the PDOL, whose TTQ '9F66' is the Entry
#   Point's Copy of TTQ (byte 2 b8 'online cryptogram required', b7 'CVM
#   required' set at pre-processing). Status words: '6984' -> Try Another
#   Interface, '6985' -> Select Next, '6986' -> Try Again with 'See Phone'
#   (the device wants the cardholder to verify on it and tap again); any
#   other error -> End Application. The answer must be format 2 ('77').
# - READ RECORD per the AFL (optional for qVSDC), then Card Read OK: the
#   card may leave. The rest happens without the card.
# - The cryptogram type is the CID '9F27' (or, without it, IAD byte 5 b6-b5,
#   the VIS CVR layout). AAC -> Declined; ARQC -> Online Request; TC ->
#   offline approval after fDDA.
# - fDDA: the ICC key is recovered (Book 2 5.3/6.4) and the Signed Dynamic
#   Application Data '9F4B' verified over UN '9F37' || Amount '9F02' ||
#   Currency '5F2A' || Card Authentication Related Data '9F69' (fDDA version
#   01). If it fails: CTQ byte 1 b6 'go online if ODA fails' and an
#   online-capable reader -> Online Request; CTQ b5 'switch interface if ODA
#   fails' and a contact reader -> Try Another Interface; else Declined.
# - Expired application (5F24 before today): an offline approval is declined;
#   an online request goes on (the issuer decides).
# - CVM from the CTQ '9F6C' and the TTQ: 'online PIN required' (byte 1 b8) if
#   the reader supports online PIN; 'consumer device CVM performed' (byte 2
#   b8) if the reader supports CDCVM - for an offline approval the CTQ copy in
#   '9F69' must agree; 'signature required' (byte 1 b7) if the reader takes
#   signatures; a reader that required a CVM and got none it supports
#   declines. Without a CTQ the reader's own CVM-required flag decides
#   (signature, else online PIN). CVM Results '9F34' are filled in Book 3
#   codes for the receipt and the authorisation (online PIN '420300',
#   signature '1E0300', no CVM '1F0002', CDCVM '010002' as Book C-2 uses).
# - The TVR stays as sent in the PDOL: the cryptogram covers it.
from __future__ import annotations

import calendar

from base import tlv
from base.tlv import TlvError
from kernel import apdu, dol
from kernel.contact.authentication import icc_public_key
from kernel.contact.context import Context, log
from kernel.contact.reading import data_exchange
from kernel.contactless.common import Activation, KernelResult, check_card_data, read_records
from kernel.contactless.outcome import OutcomeCvm, OutcomeKind
from kernel.errors import CardDataError
from kernel.oda import OdaCheckError, verify_dda
from kernel.sw import error_for
from kernel.values import decode_date, year_from_yy

__all__ = ["VisaKernel", "card_cryptogram_type", "fdda_terminal_data", "track2_facts"]

AAC, TC, ARQC = 0x00, 0x40, 0x80

# TTQ '9F66'
TTQ_CONTACT = (0, 0x10)
TTQ_OFFLINE_ONLY = (0, 0x08)
TTQ_ONLINE_PIN = (0, 0x04)
TTQ_SIGNATURE = (0, 0x02)
TTQ_CVM_REQUIRED = (1, 0x40)
TTQ_CDCVM = (2, 0x40)
# CTQ '9F6C'
CTQ_ONLINE_PIN = (0, 0x80)
CTQ_SIGNATURE = (0, 0x40)
CTQ_ONLINE_IF_ODA_FAILS = (0, 0x20)
CTQ_SWITCH_IF_ODA_FAILS = (0, 0x10)
CTQ_CDCVM = (1, 0x80)

CVM_RESULTS = {
    OutcomeCvm.ONLINE_PIN: bytes.fromhex("420300"),
    OutcomeCvm.OBTAIN_SIGNATURE: bytes.fromhex("1E0300"),
    OutcomeCvm.NO_CVM: bytes.fromhex("1F0002"),
    OutcomeCvm.CONFIRMATION_CODE_VERIFIED: bytes.fromhex("010002"),
}


def _bit(value: bytes | None, bit: tuple[int, int]) -> bool:
    index, mask = bit
    return value is not None and len(value) > index and bool(value[index] & mask)


def card_cryptogram_type(cid: bytes | None, iad: bytes | None) -> int | None:
    """CID b8-b7, or without a CID the VIS CVR byte 2 b6-b5 in IAD byte 5."""
    if cid is not None and len(cid) == 1:
        kind = cid[0] & 0xC0
        return None if kind == 0xC0 else kind
    if iad is not None and len(iad) >= 5 and iad[0] == 0x06:
        return {0x00: AAC, 0x10: TC, 0x20: ARQC}.get(iad[4] & 0x30)
    return None


def fdda_terminal_data(data: dict[int, bytes]) -> bytes:
    """The terminal dynamic data fDDA (version 01) signs over."""
    return (
        data.get(0x9F37, bytes(4))
        + data.get(0x9F02, bytes(6))
        + data.get(0x5F2A, bytes(2))
        + data.get(0x9F69, b"")
    )


def track2_facts(track2: bytes) -> tuple[bytes, bytes] | None:
    """PAN (cn, F-padded) and expiry (YYMMDD, the month's last day) from '57'."""
    digits = track2.hex().upper()
    if "D" not in digits:
        return None
    pan, rest = digits.split("D", 1)
    if not (pan.isdigit() and 12 <= len(pan) <= 19 and len(rest) >= 4 and rest[:4].isdigit()):
        return None
    month = int(rest[2:4])
    if not 1 <= month <= 12:
        return None
    last_day = calendar.monthrange(year_from_yy(int(rest[:2])), month)[1]
    padded = pan + "F" * (len(pan) % 2)
    return bytes.fromhex(padded), bytes.fromhex(f"{rest[:4]}{last_day:02d}")


class VisaKernel:
    """qVSDC: the card decides in GET PROCESSING OPTIONS; the reader checks fDDA and CVM."""

    async def process(self, act: Activation, ctx: Context) -> KernelResult:
        pdol = ctx.selected.pdol or b""
        try:
            pdol_data = dol.build_dol_data(pdol, ctx.get)
        except TlvError as exc:
            raise CardDataError(f"malformed PDOL: {exc}") from exc
        ctx.pdol_data = pdol_data
        response = await ctx.transport.send(apdu.get_processing_options(pdol_data, pdol))
        if response.sw == 0x6984:
            return KernelResult(act.try_another_interface())
        if response.sw == 0x6985:
            return KernelResult(act.select_next())
        if response.sw == 0x6986:
            return KernelResult(act.see_phone(OutcomeKind.TRY_AGAIN))
        if not response.ok:
            raise error_for(response.sw, "GET PROCESSING OPTIONS")
        self._store_gpo(ctx, response.data)
        await read_records(ctx)
        _fill_from_track2(ctx)
        check_card_data(ctx)
        await act.card_read()
        await data_exchange(ctx, "read-application-data", act.combination.data_exchange_tags)
        return self._decide(act, ctx)

    @staticmethod
    def _store_gpo(ctx: Context, data: bytes) -> None:
        try:
            (template,) = tlv.decode(data)
            if template.tag != 0x77:
                raise CardDataError("qVSDC GPO answer is not format 2 ('77')")
            ctx.store_icc_objects(template.children(), "GPO")
        except (TlvError, ValueError) as exc:
            raise CardDataError(f"GET PROCESSING OPTIONS response malformed: {exc}") from exc
        aip = ctx.data.get(0x82)
        if aip is None or len(aip) != 2:
            raise CardDataError("GPO response lacks the AIP")
        ctx.aip, ctx.afl = aip, ctx.data.get(0x94, b"")
        for tag in (0x9F26, 0x9F36):
            if tag not in ctx.icc_tags:
                raise CardDataError(f"GPO response lacks {tlv.tag_hex(tag)}")
        if 0x57 not in ctx.icc_tags and 0x5A not in ctx.icc_tags:
            raise CardDataError("no PAN: neither '57' nor '5A'")

    def _decide(self, act: Activation, ctx: Context) -> KernelResult:
        cid = card_cryptogram_type(ctx.data.get(0x9F27), ctx.data.get(0x9F10))
        if cid is None:
            raise CardDataError("no cryptogram information ('9F27')")
        ctx.data[0x9F27] = bytes([cid | (ctx.data.get(0x9F27, b"\x00")[0] & 0x3F)])
        ttq = ctx.data.get(0x9F66)
        ctq = ctx.data.get(0x9F6C)
        if cid == AAC:
            return KernelResult(act.declined(), cid=cid, decline_reason="offlinedeclined")
        online = cid == ARQC
        if not online and self._expired(ctx):
            log.info("qVSDC: expired application, offline approval declined")
            return KernelResult(act.declined(), cid=cid, decline_reason="offlinedeclined")
        if not online and not self._fdda(ctx):
            if _bit(ctq, CTQ_ONLINE_IF_ODA_FAILS) and not _bit(ttq, TTQ_OFFLINE_ONLY):
                online = True
            elif (
                _bit(ctq, CTQ_SWITCH_IF_ODA_FAILS)
                and _bit(ttq, TTQ_CONTACT)
                and act.config.contact_interface
            ):
                return KernelResult(act.try_another_interface(), cid=cid)
            else:
                return KernelResult(act.declined(), cid=cid, decline_reason="offlinedeclined")
        cvm = self._cvm(ctx, ttq, ctq, online=online)
        if cvm is None:
            log.info("qVSDC: the reader required a CVM the card did not offer")
            return KernelResult(act.declined(), cid=cid, decline_reason="offlinedeclined")
        if cvm is OutcomeCvm.ONLINE_PIN:
            online = True
        ctx.cvm_results = CVM_RESULTS[cvm]
        cdcvm = cvm is OutcomeCvm.CONFIRMATION_CODE_VERIFIED
        if online:
            return KernelResult(act.online_request(cvm), cid=cid, cdcvm=cdcvm)
        return KernelResult(act.approved(cvm), cid=cid, cdcvm=cdcvm)

    @staticmethod
    def _expired(ctx: Context) -> bool:
        value = ctx.data.get(0x5F24)
        if value is None:
            return False
        try:
            return decode_date(value) < ctx.today
        except ValueError:
            return True

    @staticmethod
    def _fdda(ctx: Context) -> bool:
        sdad = ctx.data.get(0x9F4B)
        card_auth = ctx.data.get(0x9F69)
        if not ctx.aip[0] & 0x20 or sdad is None or card_auth is None or card_auth[:1] != b"\x01":
            log.info("fDDA not possible: AIP, SDAD or card authentication data missing")
            ctx.oda_failed = True
            return False
        try:
            key = icc_public_key(ctx)
            ctx.data[0x9F4C] = verify_dda(key, sdad, fdda_terminal_data(ctx.data))
        except OdaCheckError as exc:
            log.info("fDDA failed: %s", exc)
            ctx.oda_failed = True
            return False
        return True

    @staticmethod
    def _cvm(
        ctx: Context, ttq: bytes | None, ctq: bytes | None, *, online: bool
    ) -> OutcomeCvm | None:
        """The CVM from the CTQ and the TTQ; None: a required CVM is missing."""
        if ctq is not None:
            if _bit(ctq, CTQ_ONLINE_PIN) and _bit(ttq, TTQ_ONLINE_PIN):
                return OutcomeCvm.ONLINE_PIN
            if _bit(ctq, CTQ_CDCVM) and _bit(ttq, TTQ_CDCVM):
                card_auth = ctx.data.get(0x9F69)
                if not online and (card_auth is None or card_auth[5:7] != ctq):
                    log.info("CDCVM claimed but the signed CTQ copy differs")
                    return None
                return OutcomeCvm.CONFIRMATION_CODE_VERIFIED
            if _bit(ctq, CTQ_SIGNATURE) and _bit(ttq, TTQ_SIGNATURE):
                return OutcomeCvm.OBTAIN_SIGNATURE
            return None if _bit(ttq, TTQ_CVM_REQUIRED) else OutcomeCvm.NO_CVM
        if not _bit(ttq, TTQ_CVM_REQUIRED):
            return OutcomeCvm.NO_CVM
        if _bit(ttq, TTQ_SIGNATURE):
            return OutcomeCvm.OBTAIN_SIGNATURE
        if _bit(ttq, TTQ_ONLINE_PIN):
            return OutcomeCvm.ONLINE_PIN
        return None


def _fill_from_track2(ctx: Context) -> None:
    """qVSDC cards may return only '57': PAN and expiry for the receipt come from it."""
    track2 = ctx.data.get(0x57)
    if track2 is None:
        return
    facts = track2_facts(track2)
    if facts is None:
        raise CardDataError("Track 2 Equivalent Data malformed")
    pan, expiry = facts
    ctx.data.setdefault(0x5A, pan)
    ctx.data.setdefault(0x5F24, expiry)
