# Strategy: offline data authentication as EMV 4.3 Book 3 10.3 schedules it,
# using the Book 2 cryptography of kernel.oda.
# - Method: CDA if card (AIP b1) and terminal (9F33 byte 3 b4) support it,
#   else DDA (AIP b6, 9F33 b7), else SDA (AIP b7, 9F33 b8); none -> TVR
#   'Offline data authentication was not performed'. TSI 'ODA was
#   performed' is set as soon as one is attempted; TVR 'SDA selected' with SDA.
# - Data the method needs (CA PK index '8F', '90', '9F32', '93' for SDA,
#   '9F46', '9F47' for DDA/CDA, and a remainder the certificate says is
#   needed) missing -> TVR 'ICC data missing' and the method failed.
# - CA key by RID (first 5 bytes of the AID) and index, expired keys count as
#   absent; the revocation list is consulted for the issuer certificate.
# - DDA: DDOL from the card or the terminal default (must contain '9F37',
#   Book 2 6.5.1), INTERNAL AUTHENTICATE, SDAD from format 1 ('80') or
#   format 2 ('77'/'9F4B'); the IDN is kept as '9F4C'.
# - CDA: the ICC key is recovered here; the signature itself is verified with
#   the GENERATE AC response (kernel.contact.completion). If the key cannot be
#   recovered, 'CDA failed' is set now and GENERATE AC does not ask for CDA.
# - The enciphered offline PIN (Book 2 7.1) takes the ICC PIN Encipherment
#   key ('9F2D') if present, else the ICC key; both are recovered on demand.
from __future__ import annotations

from base import tlv
from base.crypto.rsa import RsaPublicKey
from kernel import apdu, dol
from kernel.contact.context import Context, OdaMethod, log
from kernel.oda import (
    IssuerPublicKey,
    OdaCheckError,
    OdaFailure,
    recover_icc_key,
    recover_icc_pin_key,
    recover_issuer_key,
    static_data_to_authenticate,
    verify_dda,
    verify_sda,
)
from kernel.tvr import TsiBit, TvrBit

__all__ = [
    "choose_oda_method",
    "icc_public_key",
    "oda_failed",
    "offline_data_authentication",
    "pin_encipherment_key",
]

_FAILED_BIT = {
    OdaMethod.SDA: TvrBit.SDA_FAILED,
    OdaMethod.DDA: TvrBit.DDA_FAILED,
    OdaMethod.CDA: TvrBit.CDA_FAILED,
}


def choose_oda_method(aip: bytes, capabilities: bytes) -> OdaMethod | None:
    """Book 3 10.3: CDA, else DDA, else SDA, each if both card and terminal support it."""
    if aip[0] & 0x01 and capabilities[2] & 0x08:
        return OdaMethod.CDA
    if aip[0] & 0x20 and capabilities[2] & 0x40:
        return OdaMethod.DDA
    if aip[0] & 0x40 and capabilities[2] & 0x80:
        return OdaMethod.SDA
    return None


def _require(ctx: Context, *tags: int) -> None:
    missing = [tlv.tag_hex(t) for t in tags if t not in ctx.icc_tags]
    if missing:
        raise OdaCheckError(OdaFailure.DATA_MISSING, ", ".join(missing))


def _issuer_key(ctx: Context) -> IssuerPublicKey:
    if ctx.issuer_key is not None:
        return ctx.issuer_key
    _require(ctx, 0x8F, 0x90, 0x9F32)
    rid = ctx.selected.candidate.aid[:5]
    index = ctx.data[0x8F][0]
    ca = ctx.ca_keys.get(rid, index, ctx.today)
    if ca is None:
        raise OdaCheckError(OdaFailure.CA_KEY_NOT_FOUND, f"{rid.hex().upper()}/{index:02X}")
    try:
        key = recover_issuer_key(
            ca.public_key,
            ctx.data[0x90],
            exponent=ctx.data[0x9F32],
            remainder=ctx.data.get(0x92),
            pan=ctx.data[0x5A],
            today=ctx.today,
            is_revoked=lambda serial: ctx.ca_keys.is_revoked(rid, index, serial),
        )
    except OdaCheckError as exc:
        if exc.reason is OdaFailure.REMAINDER and 0x92 not in ctx.icc_tags:
            raise OdaCheckError(OdaFailure.DATA_MISSING, "issuer public key remainder") from exc
        raise
    ctx.issuer_key = key
    return key


def _static_data(ctx: Context) -> bytes:
    return static_data_to_authenticate(ctx.oda_records, ctx.aip, ctx.data.get(0x9F4A))


def _icc_key(ctx: Context) -> RsaPublicKey:
    if ctx.icc_key is not None:
        return ctx.icc_key
    _require(ctx, 0x9F46, 0x9F47)
    issuer = _issuer_key(ctx)
    try:
        key = recover_icc_key(
            issuer,
            ctx.data[0x9F46],
            exponent=ctx.data[0x9F47],
            remainder=ctx.data.get(0x9F48),
            pan=ctx.data[0x5A],
            static_data=_static_data(ctx),
            today=ctx.today,
        )
    except OdaCheckError as exc:
        if exc.reason is OdaFailure.REMAINDER and 0x9F48 not in ctx.icc_tags:
            raise OdaCheckError(OdaFailure.DATA_MISSING, "ICC public key remainder") from exc
        raise
    ctx.icc_key = key
    return key


def icc_public_key(ctx: Context) -> RsaPublicKey:
    """The ICC public key (issuer then ICC certificate, Book 2 5.3/6.4), recovered once.

    Raises OdaCheckError; the caller decides what a failure means (fDDA)."""
    return _icc_key(ctx)


async def offline_data_authentication(ctx: Context) -> None:
    method = choose_oda_method(ctx.aip, bytes(ctx.get(0x9F33) or ctx.config.capabilities))
    ctx.oda_method = method
    if method is None:
        ctx.set_tvr(TvrBit.ODA_NOT_PERFORMED)
        return
    ctx.set_tsi(TsiBit.ODA_PERFORMED)
    if method is OdaMethod.SDA:
        ctx.set_tvr(TvrBit.SDA_SELECTED)
    try:
        if method is OdaMethod.SDA:
            _require(ctx, 0x8F, 0x90, 0x9F32, 0x93)
            issuer = _issuer_key(ctx)
            ctx.data[0x9F45] = verify_sda(issuer, ctx.data[0x93], _static_data(ctx))
        elif method is OdaMethod.DDA:
            _require(ctx, 0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47)
            await _dynamic_data_authentication(ctx, _icc_key(ctx))
        else:
            _require(ctx, 0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47)
            _icc_key(ctx)
    except OdaCheckError as exc:
        oda_failed(ctx, exc)


def oda_failed(ctx: Context, exc: OdaCheckError) -> None:
    method = ctx.oda_method
    if method is None:
        return
    ctx.oda_failed = True
    ctx.set_tvr(_FAILED_BIT[method])
    if exc.reason is OdaFailure.DATA_MISSING:
        ctx.set_tvr(TvrBit.ICC_DATA_MISSING)
    log.info("%s failed: %s", method.value, exc)


async def _dynamic_data_authentication(ctx: Context, icc_key: RsaPublicKey) -> None:
    ddol, _ = dol.choose_dol(ctx.data.get(0x9F49), ctx.aid_cfg.default_ddol)
    try:
        tags = dol.dol_tags(ddol)
    except tlv.TlvError as exc:
        raise OdaCheckError(OdaFailure.DDOL, "malformed DDOL") from exc
    if 0x9F37 not in tags:
        raise OdaCheckError(OdaFailure.DDOL)
    ddol_data = dol.build_dol_data(ddol, ctx.get)
    response = await ctx.transport.send(apdu.internal_authenticate(ddol_data, ddol))
    if not response.ok:
        raise OdaCheckError(OdaFailure.DYNAMIC_DATA, f"INTERNAL AUTHENTICATE {response.sw:04X}")
    sdad = _sdad_from_response(ctx, response.data)
    ctx.data[0x9F4C] = verify_dda(icc_key, sdad, ddol_data)


def _sdad_from_response(ctx: Context, data: bytes) -> bytes:
    try:
        (template,) = tlv.decode(data)
        if template.tag == 0x80:
            return template.value
        if template.tag == 0x77:
            objects = template.children()
            ctx.store_response_objects([o for o in objects if o.tag != 0x9F4B])
            for obj in objects:
                if obj.tag == 0x9F4B:
                    return obj.value
    except (tlv.TlvError, ValueError):
        pass
    raise OdaCheckError(OdaFailure.DYNAMIC_DATA, "INTERNAL AUTHENTICATE response malformed")


def pin_encipherment_key(ctx: Context) -> RsaPublicKey | None:
    """Key for the enciphered offline PIN (Book 2 7.1), or None if it cannot be recovered."""
    try:
        if 0x9F2D in ctx.icc_tags:
            _require(ctx, 0x9F2E)
            return recover_icc_pin_key(
                _issuer_key(ctx),
                ctx.data[0x9F2D],
                exponent=ctx.data[0x9F2E],
                remainder=ctx.data.get(0x9F2F),
                pan=ctx.data[0x5A],
                today=ctx.today,
            )
        return _icc_key(ctx)
    except OdaCheckError as exc:
        log.info("PIN encipherment key not available: %s", exc)
        return None
