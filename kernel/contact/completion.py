# Strategy: from the first GENERATE AC to the end of the card session,
# EMV 4.3 Book 3 10.8-10.11 with Book 2 6.6 (CDA) and 6.5.5 (GENERATE AC).
# - GENERATE AC: P1 b8-b7 = the cryptogram asked for, b5 = CDA signature
#   requested when CDA is the ODA method, the ICC key was recovered and a TC
#   or ARQC is asked for (never with AAC). CDOL data per Book 3 5.4; a CDOL
#   naming '98' gets the TC Hash Value, SHA-1 over the TDOL data (card TDOL,
#   else the terminal default, TVR 'Default TDOL used'). Response format 1
#   ('80': CID, ATC, AC, IAD) or 2 ('77'); a cryptogram above the one asked
#   for (AAC < ARQC < TC) or a non-'9000' status ends the transaction.
# - CDA (Book 2 6.6.2): with a TC or ARQC, the SDAD '9F4B' is verified with
#   the terminal's UN, the CID, and the Transaction Data Hash over PDOL data
#   || CDOL1 data [|| CDOL2 data] || response objects without '9F4B'; the AC
#   is taken from the signature. Failure: TVR 'CDA failed'; a TC is then
#   treated as declined, an ARQC is not sent online and the second GENERATE
#   AC asks for an AAC (Book 2 6.6.2 / Book 3 10.8).
# - Card action analysis: AAC -> declined offline ('Z1'), TC -> approved
#   offline ('Y1'), ARQC -> online processing through services.go_online.
# - Unable to go online: Default action analysis (TAC/IAC-Default) -> 'Y3'
#   (TC) or 'Z3' (AAC) in the second GENERATE AC.
# - Issuer authentication (10.9): with '91' and AIP b3, EXTERNAL
#   AUTHENTICATE once, unless the CDOL2 names '91' (the ARPC then travels in
#   the second GENERATE AC); a failure sets 'Issuer authentication failed';
#   TSI 'Issuer authentication was performed' either way.
# - Issuer scripts (10.10): '71' before and '72' after the final GENERATE
#   AC; each '86' command is sent as received; SW1 '90'/'62'/'63' is success,
#   anything else stops that script. Issuer Script Results '9F5B': per script
#   one byte (high nibble 0 not performed / 1 failed / 2 successful, low
#   nibble the failing command's number, F for 15 and more) and the 4-byte
#   Script Identifier '9F18' (zeros if absent); TVR 'Script processing
#   failed before/after final GENERATE AC'; TSI 'Script processing was
#   performed'.
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from base import tlv
from base.errors import CardcoreError
from kernel import apdu, dol
from kernel.config import TransactionType
from kernel.contact.action import ActionCodes, default_action_analysis
from kernel.contact.context import Context, OdaMethod, log
from kernel.errors import CardDataError
from kernel.oda import OdaCheckError, cda_transaction_data, verify_cda
from kernel.outcome import CryptogramType, Decision
from kernel.services import MessageId, OnlineRequest, OnlineResponse, OnlineResult
from kernel.sw import error_for
from kernel.tvr import TsiBit, TvrBit
from kernel.values import decode_cn

__all__ = ["CardDecision", "GenAcResponse", "complete_transaction", "generate_ac", "parse_scripts"]

_RANK = {CryptogramType.AAC: 0, CryptogramType.ARQC: 1, CryptogramType.TC: 2}


@dataclass(frozen=True, slots=True)
class GenAcResponse:
    requested: CryptogramType
    cid: int
    cda_requested: bool
    cda_ok: bool | None  # None when not verified
    # generate_ac(verify=False): what verify_deferred_cda needs afterwards.
    deferred: tuple[bytes, bytes | None, bytes | None] | None = None

    @property
    def cryptogram(self) -> CryptogramType:
        return CryptogramType.from_cid(self.cid)


@dataclass(frozen=True, slots=True)
class CardDecision:
    decision: Decision
    decline_reason: str | None
    cid: int | None
    reversal_required: bool = False


def _action_codes(ctx: Context) -> tuple[ActionCodes, ActionCodes]:
    aid = ctx.aid_cfg
    tac = ActionCodes(aid.tac_denial, aid.tac_online, aid.tac_default)
    iac = ActionCodes.issuer(ctx.data.get(0x9F0E), ctx.data.get(0x9F0F), ctx.data.get(0x9F0D))
    return tac, iac


def _tc_hash(ctx: Context, cdol: bytes) -> None:
    if 0x98 not in dol.dol_tags(cdol):
        return
    tdol, default_used = dol.choose_dol(ctx.data.get(0x97), ctx.aid_cfg.default_tdol)
    if default_used and tdol:
        ctx.set_tvr(TvrBit.DEFAULT_TDOL_USED)
    tdol_data = dol.build_dol_data(tdol, ctx.get) if tdol else b""
    ctx.data[0x98] = hashlib.sha1(tdol_data, usedforsecurity=False).digest()


async def generate_ac(
    ctx: Context, requested: CryptogramType, *, second: bool = False, verify: bool = True
) -> GenAcResponse:
    """GENERATE AC (Book 3 9.3, 10.8). ``verify=False`` leaves the CDA check
    to `verify_deferred_cda`, for a contactless reader that verifies once the
    card has left the field (Book C-2 3.8, Book C-3 5.9)."""
    cdol = ctx.data[0x8D if second else 0x8C]
    cda = (
        ctx.oda_method is OdaMethod.CDA
        and ctx.icc_key is not None
        and requested is not CryptogramType.AAC
        and TvrBit.CDA_FAILED not in ctx.tvr
    )
    try:
        _tc_hash(ctx, cdol)
        cdol_data = dol.build_dol_data(cdol, ctx.get)
    except tlv.TlvError as exc:
        raise CardDataError(f"malformed CDOL: {exc}") from exc
    if not second:
        ctx.cdol1_data = cdol_data
    p1 = int(requested) | (0x10 if cda else 0x00)
    response = await ctx.transport.send(apdu.generate_ac(p1, cdol_data, cdol))
    if not response.ok:
        raise error_for(response.sw, "GENERATE AC")
    cid, template_value, sdad = _parse_genac(ctx, response.data)
    got = CryptogramType.from_cid(cid)
    if cid & 0xC0 == 0xC0 or _RANK[got] > _RANK[requested]:
        raise CardDataError(f"card returned {got.name} when {requested.name} was requested")
    if cid & 0x08:
        ctx.advice_required = True
    answer = GenAcResponse(
        requested, cid, cda, None, (template_value, sdad, cdol_data if second else None)
    )
    return verify_deferred_cda(ctx, answer) if verify else answer


def verify_deferred_cda(ctx: Context, response: GenAcResponse) -> GenAcResponse:
    """Book 2 6.6.2: verify the signed dynamic data of a GENERATE AC answer."""
    if response.deferred is None:
        return response
    cda_ok: bool | None = None
    if response.cda_requested and response.cryptogram is not CryptogramType.AAC:
        template_value, sdad, cdol2_data = response.deferred
        cda_ok = _verify_cda(ctx, response.cid, template_value, sdad, cdol2_data)
        if not cda_ok:
            ctx.set_tvr(TvrBit.CDA_FAILED)
    return GenAcResponse(response.requested, response.cid, response.cda_requested, cda_ok)


def _parse_genac(ctx: Context, data: bytes) -> tuple[int, bytes, bytes | None]:
    try:
        (template,) = tlv.decode(data)
        if template.tag == 0x80:
            v = template.value
            if len(v) < 11:
                raise CardDataError("format 1 GENERATE AC response too short")
            objects = [tlv.Tlv(0x9F27, v[0:1]), tlv.Tlv(0x9F36, v[1:3]), tlv.Tlv(0x9F26, v[3:11])]
            if len(v) > 11:
                objects.append(tlv.Tlv(0x9F10, v[11:]))
            ctx.store_response_objects(objects)
            return v[0], v, None
        if template.tag == 0x77:
            objects = template.children()
            ctx.store_response_objects([o for o in objects if o.tag != 0x9F4B])
            found = {o.tag: o.value for o in objects}
            cid, atc = found.get(0x9F27), found.get(0x9F36)
            if cid is None or len(cid) != 1 or atc is None or len(atc) != 2:
                raise CardDataError("GENERATE AC response lacks CID or ATC")
            if 0x9F26 not in found and 0x9F4B not in found:
                raise CardDataError("GENERATE AC response carries no cryptogram")
            return cid[0], template.value, found.get(0x9F4B)
    except (tlv.TlvError, ValueError) as exc:
        raise CardDataError(f"GENERATE AC response malformed: {exc}") from exc
    raise CardDataError(f"GENERATE AC response template {tlv.tag_hex(template.tag)}")


def _verify_cda(
    ctx: Context, cid: int, template_value: bytes, sdad: bytes | None, cdol2_data: bytes | None
) -> bool:
    if sdad is None or ctx.icc_key is None:
        log.info("CDA failed: no signature in the GENERATE AC response")
        return False
    try:
        result = verify_cda(
            ctx.icc_key,
            sdad,
            unpredictable_number=ctx.data.get(0x9F37, b""),
            cid=cid,
            transaction_data=cda_transaction_data(
                ctx.pdol_data, ctx.cdol1_data, template_value, cdol2_data
            ),
        )
    except (OdaCheckError, tlv.TlvError) as exc:
        log.info("CDA failed: %s", exc)
        return False
    ctx.data[0x9F4C] = result.idn
    ctx.data[0x9F26] = result.ac
    return True


# --- issuer scripts (Book 3 10.10) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Script:
    template: int  # 0x71 or 0x72
    identifier: bytes
    commands: tuple[bytes, ...] | None  # None: the script could not be parsed


def parse_scripts(raw: bytes) -> list[Script]:
    """Issuer script templates '71'/'72' as received from the host."""
    try:
        templates = tlv.decode(raw)
    except tlv.TlvError:
        return [Script(0x71, bytes(4), None)]
    scripts: list[Script] = []
    for template in templates:
        if template.tag not in (0x71, 0x72):
            continue
        try:
            objects = template.children()
        except tlv.TlvError:
            scripts.append(Script(template.tag, bytes(4), None))
            continue
        ident = next((o.value for o in objects if o.tag == 0x9F18), b"")
        commands = tuple(o.value for o in objects if o.tag == 0x86)
        unknown = [o for o in objects if o.tag not in (0x86, 0x9F18)]
        ident = ident if len(ident) == 4 else bytes(4)
        scripts.append(Script(template.tag, ident, None if unknown else commands))
    return scripts


async def _run_scripts(ctx: Context, scripts: list[Script], template: int) -> None:
    failed_bit = (
        TvrBit.SCRIPT_FAILED_BEFORE_FINAL_GENAC
        if template == 0x71
        else TvrBit.SCRIPT_FAILED_AFTER_FINAL_GENAC
    )
    for script in scripts:
        if script.template != template:
            continue
        ctx.set_tsi(TsiBit.SCRIPT_PROCESSING_PERFORMED)
        result = 0x20
        if script.commands is None:
            result = 0x10
        else:
            for number, raw in enumerate(script.commands, 1):
                try:
                    command = apdu.Command.from_bytes(raw, secret=True)
                except ValueError:
                    result = 0x10 | min(number, 15)
                    break
                response = await ctx.transport.send(command)
                if response.sw1 not in (0x90, 0x62, 0x63):
                    result = 0x10 | min(number, 15)
                    break
        if result != 0x20:
            ctx.set_tvr(failed_bit)
        ctx.script_results += bytes([result]) + script.identifier


# --- completion ---------------------------------------------------------------------------


async def complete_transaction(ctx: Context, requested: CryptogramType) -> CardDecision:
    """First GENERATE AC, card action analysis and, for an ARQC, online processing."""
    first = await generate_ac(ctx, requested)
    ctx.set_tsi(TsiBit.CARD_RISK_MANAGEMENT_PERFORMED)
    got = first.cryptogram
    if got is CryptogramType.AAC:
        if ctx.request.transaction_type == TransactionType.REFUND:
            return await _refund_online(ctx, first)
        ctx.data[0x8A] = b"Z1"
        return CardDecision(Decision.DECLINED, "offlinedeclined", first.cid)
    if got is CryptogramType.TC:
        if first.cda_ok is False:
            ctx.data[0x8A] = b"Z1"
            return CardDecision(Decision.DECLINED, "offlinedeclined", first.cid)
        ctx.data[0x8A] = b"Y1"
        return CardDecision(Decision.APPROVED_OFFLINE, None, first.cid)
    # ARQC
    if first.cda_ok is False:
        ctx.data[0x8A] = b"Z1"
        second = await generate_ac(ctx, CryptogramType.AAC, second=True)
        return CardDecision(Decision.DECLINED, "offlinedeclined", second.cid)
    return await _online(ctx, first)


def _online_request(ctx: Context, first: GenAcResponse) -> OnlineRequest:
    return OnlineRequest(
        cryptogram=ctx.data.get(0x9F26, b""),
        cid=first.cid,
        data=ctx.snapshot(),
        pin_block=ctx.online_pin_block,
        pan=decode_cn(ctx.data[0x5A]),
    )


async def _go_online(ctx: Context, first: GenAcResponse) -> OnlineResponse:
    await ctx.display(MessageId.PLEASE_WAIT)
    try:
        response = await ctx.services.go_online(_online_request(ctx, first))
    except CardcoreError as exc:
        log.info("online authorisation failed: %s", exc)
        response = OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
    ctx.online_response = response
    return response


async def _refund_online(ctx: Context, first: GenAcResponse) -> CardDecision:
    response = await _go_online(ctx, first)
    _store_issuer_data(ctx, response)
    reason = None
    if response.result is OnlineResult.DECLINED:
        reason = "onlinedeclined"
    elif response.result is OnlineResult.UNABLE_TO_GO_ONLINE:
        ctx.unable_to_go_online = True
        reason = "unabletoonline"
    return CardDecision(Decision.ONLINE_REQUEST_HANDLED, reason, first.cid)


def _store_issuer_data(ctx: Context, response: OnlineResponse) -> None:
    if response.result is OnlineResult.UNABLE_TO_GO_ONLINE:
        return
    default_arc = b"00" if response.result is OnlineResult.APPROVED else b"05"
    arc = response.arc if response.arc and len(response.arc) == 2 else default_arc
    ctx.data[0x8A] = arc
    if response.authorisation_code:
        ctx.data[0x89] = response.authorisation_code
    if response.issuer_authentication_data:
        ctx.data[0x91] = response.issuer_authentication_data
    for tag, value in response.extra.items():
        ctx.data.setdefault(tag, value)


async def _online(ctx: Context, first: GenAcResponse) -> CardDecision:
    response = await _go_online(ctx, first)
    tac, iac = _action_codes(ctx)
    if response.result is OnlineResult.UNABLE_TO_GO_ONLINE:
        ctx.unable_to_go_online = True
        wanted = default_action_analysis(ctx.tvr, tac, iac)
        ctx.data[0x8A] = b"Y3" if wanted is CryptogramType.TC else b"Z3"
        second = await generate_ac(ctx, wanted, second=True)
        if second.cryptogram is CryptogramType.TC and second.cda_ok is not False:
            return CardDecision(Decision.APPROVED_OFFLINE, None, second.cid)
        return CardDecision(Decision.DECLINED, "unabletoonline", second.cid)

    _store_issuer_data(ctx, response)
    approved = response.result is OnlineResult.APPROVED
    await _issuer_authentication(ctx)
    scripts = _limited_scripts(ctx, response.scripts)
    await _run_scripts(ctx, scripts, 0x71)
    wanted = CryptogramType.TC if approved else CryptogramType.AAC
    try:
        second = await generate_ac(ctx, wanted, second=True)
    finally:
        await _run_scripts(ctx, scripts, 0x72)
    card_ok = second.cryptogram is CryptogramType.TC and second.cda_ok is not False
    if approved and card_ok:
        return CardDecision(Decision.APPROVED_ONLINE, None, second.cid)
    if approved:
        return CardDecision(Decision.DECLINED, "offlinedeclined", second.cid, True)
    return CardDecision(Decision.DECLINED, "onlinedeclined", second.cid)


def _limited_scripts(ctx: Context, raw: bytes) -> list[Script]:
    if not raw:
        return []
    scripts = parse_scripts(raw)
    if len(raw) <= ctx.config.max_script_length:
        return scripts
    log.info("issuer scripts of %d bytes exceed the terminal limit", len(raw))
    return [Script(s.template, s.identifier, None) for s in scripts]


async def _issuer_authentication(ctx: Context) -> None:
    data = ctx.data.get(0x91)
    if not data or not ctx.aip_has(0, 0x04):
        return
    ctx.set_tsi(TsiBit.ISSUER_AUTHENTICATION_PERFORMED)
    if 0x91 in dol.dol_tags(ctx.data[0x8D]):
        return  # ARPC goes to the card in the second GENERATE AC
    response = await ctx.transport.send(apdu.external_authenticate(data))
    if not response.ok:
        ctx.set_tvr(TvrBit.ISSUER_AUTHENTICATION_FAILED)
