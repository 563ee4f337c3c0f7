# Strategy: EMV 4.3 Book 3 10.1 "Initiate Application Processing" and 10.2
# "Read Application Data".
# - GET PROCESSING OPTIONS carries '83' + the PDOL-related data (Book 3 5.4;
#   '83 00' without a PDOL). '6985' means "conditions of use not satisfied":
#   the caller removes the application and selects the next (10.1). Any other
#   error terminates. Response format 1 ('80': AIP || AFL) and format 2 ('77'
#   with '82' and '94') are both accepted (6.5.8.4).
# - The AFL is validated entry by entry (SFI 1..30, first record >= 1, last
#   >= first, ODA count <= number of records) and each record is read; records
#   of SFI 1..10 must be a single '70' template; a failed READ RECORD or a
#   malformed record terminates. Records the AFL marks for ODA are kept as
#   read for the Static Data to be Authenticated (Book 3 10.3).
# - Mandatory data (Book 3 7.2): '5F24', '5A', '8C', '8D'; missing -> end.
from __future__ import annotations

from collections.abc import Mapping

from base import tlv
from kernel import apdu, dictionary, dol
from kernel.contact.context import Context, log
from kernel.dictionary import Source
from kernel.errors import CardDataError
from kernel.sw import ConditionsNotSatisfied, error_for
from kernel.values import decode_cn, decode_date

__all__ = [
    "data_exchange",
    "initiate_application_processing",
    "parse_afl",
    "read_application_data",
    "store_record",
]

MANDATORY_TAGS = (0x5F24, 0x5A, 0x8C, 0x8D)


def parse_afl(afl: bytes) -> list[tuple[int, int, int, int]]:
    """Split and validate the Application File Locator (Book 3 10.2)."""
    if len(afl) % 4:
        raise CardDataError(f"AFL length {len(afl)} is not a multiple of 4")
    entries: list[tuple[int, int, int, int]] = []
    for i in range(0, len(afl), 4):
        b1, first, last, oda = afl[i : i + 4]
        sfi = b1 >> 3
        if b1 & 0x07 or not 1 <= sfi <= 30:
            raise CardDataError(f"AFL entry {i // 4 + 1}: invalid SFI byte {b1:02X}")
        if first == 0 or last < first:
            raise CardDataError(f"AFL entry {i // 4 + 1}: invalid record range {first}..{last}")
        if oda > last - first + 1:
            raise CardDataError(f"AFL entry {i // 4 + 1}: ODA count {oda} exceeds its records")
        entries.append((sfi, first, last, oda))
    return entries


async def initiate_application_processing(ctx: Context) -> None:
    pdol = ctx.selected.pdol
    if pdol:
        try:
            ctx.pdol_data = dol.build_dol_data(pdol, ctx.get)
        except tlv.TlvError as exc:
            raise CardDataError(f"malformed PDOL: {exc}") from exc
    else:
        ctx.pdol_data = b""
    response = await ctx.transport.send(apdu.get_processing_options(ctx.pdol_data, pdol))
    if response.sw == 0x6985:
        raise ConditionsNotSatisfied("GET PROCESSING OPTIONS: 6985", response.sw)
    if not response.ok:
        raise error_for(response.sw, "GET PROCESSING OPTIONS")
    try:
        (template,) = tlv.decode(response.data)
    except (tlv.TlvError, ValueError) as exc:
        raise CardDataError(f"GET PROCESSING OPTIONS response malformed: {exc}") from exc
    if template.tag == 0x80:
        if len(template.value) < 2:
            raise CardDataError("format 1 GPO response shorter than the AIP")
        ctx.aip, ctx.afl = template.value[:2], template.value[2:]
        ctx.store_icc_objects([tlv.Tlv(0x82, ctx.aip), tlv.Tlv(0x94, ctx.afl)], "GPO")
    elif template.tag == 0x77:
        try:
            objects = template.children()
        except tlv.TlvError as exc:
            raise CardDataError(f"format 2 GPO response malformed: {exc}") from exc
        ctx.store_icc_objects(objects, "GPO")
        aip, afl = ctx.data.get(0x82), ctx.data.get(0x94)
        if aip is None or afl is None:
            raise CardDataError("GPO response lacks the AIP or the AFL")
        ctx.aip, ctx.afl = aip, afl
    else:
        raise CardDataError(f"GPO response template {tlv.tag_hex(template.tag)}")
    if len(ctx.aip) != 2:
        raise CardDataError("AIP must be 2 bytes")


async def read_application_data(ctx: Context) -> None:
    for sfi, first, last, oda_count in parse_afl(ctx.afl):
        for record in range(first, last + 1):
            response = await ctx.transport.send(apdu.read_record(sfi, record))
            if not response.ok:
                raise error_for(response.sw, f"READ RECORD SFI {sfi} record {record}")
            for_oda = record - first < oda_count
            store_record(ctx, sfi, record, response.data)
            if for_oda:
                ctx.oda_records.append((sfi, response.data))
    _check_mandatory(ctx)


def store_record(ctx: Context, sfi: int, record: int, data: bytes) -> None:
    """Keep the objects of one record (a '70' template for SFI 1-10)."""
    where = f"SFI {sfi} record {record}"
    try:
        objects = tlv.decode(data)
        if len(objects) != 1 or objects[0].tag != 0x70:
            if sfi <= 10:
                raise CardDataError(f"{where} is not a '70' template")
            return  # SFI 11-30: proprietary content, used for ODA only
        ctx.store_icc_objects(objects[0].children(), where)
    except tlv.TlvError as exc:
        raise CardDataError(f"{where} malformed: {exc}") from exc


def _check_mandatory(ctx: Context) -> None:
    missing = [tlv.tag_hex(t) for t in MANDATORY_TAGS if t not in ctx.icc_tags]
    if missing:
        raise CardDataError(f"mandatory data missing: {', '.join(missing)}")
    try:
        decode_date(ctx.data[0x5F24])
        decode_cn(ctx.data[0x5A])
    except ValueError as exc:
        raise CardDataError(f"mandatory data malformed: {exc}") from exc
    for tag in (0x8C, 0x8D):
        try:
            tlv.decode_dol(ctx.data[tag])
        except tlv.TlvError as exc:
            raise CardDataError(f"{tlv.tag_hex(tag)} is not a valid DOL: {exc}") from exc


async def data_exchange(ctx: Context, point: str, tags: tuple[int, ...] | None = None) -> None:
    """Offer configured tags to the application; accept updates of terminal data only.

    ``tags`` defaults to the terminal's data exchange tag list."""
    if tags is None:
        tags = ctx.config.data_exchange_tags
    if not tags:
        return
    offered = {t: v for t in tags if (v := ctx.get(t)) is not None}
    updates: Mapping[int, bytes] = await ctx.services.data_exchange(point, offered)
    for tag, value in updates.items():
        element = dictionary.element(tag)
        if element is None or element.source is not Source.TERMINAL:
            log.info("data exchange: %s is not terminal data, ignored", tlv.tag_hex(tag))
            continue
        if not dictionary.length_ok(tag, value):
            log.info("data exchange: %s has an invalid length, ignored", tlv.tag_hex(tag))
            continue
        ctx.set_terminal(tag, value)
