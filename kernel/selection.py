# Strategy: contact application selection, EMV 4.3 Book 1 section 12.
# - 12.3.2 PSE method: SELECT '1PAY.SYS.DDF01'; '6A81' terminates the card
#   session (card blocked / SELECT not supported); any other failure, an FCI
#   without SFI '88', a directory read error or no mutually supported entry
#   falls back to the list of AIDs. Directory records ('70' with '61'
#   entries) are read from record 1 until '6A83'. ADF entries ('4F') that
#   match a terminal AID are candidates; DDF entries ('9D') are collected and,
#   once the current directory is read, selected and read in turn
#   (depth-first, bounded, each DDF once).
# - 12.3.3 List of AIDs: SELECT each terminal AID; on '9000'/'6283' compare
#   the DF Name with the AID: equal -> candidate, longer and the ASI allows
#   partial selection -> candidate; blocked ('6283') applications are not
#   added; with partial selection allowed, SELECT next occurrence (P2 '02')
#   until the card stops answering with a matching name.
# - 12.3.1 matching: exact, or partial when the Application Selection
#   Indicator allows it (card AID longer and starting with the terminal AID).
# - 12.4 final selection: candidates in priority order ('87' b4-b1, 1 first,
#   none last, then terminal priority and discovery order); one candidate
#   without '87' b8 is selected automatically; one needing confirmation is
#   confirmed by the cardholder (or not selected if the terminal cannot ask);
#   several are offered to the cardholder (or the first not needing
#   confirmation is taken). A failed final SELECT (incl. '6283') removes the
#   candidate, shows TRY AGAIN and selection starts over ("select next"),
#   exactly as Book 3 10.1 prescribes after GPO '6985'.
from __future__ import annotations

import logging
from dataclasses import dataclass

from base import tlv
from kernel import apdu
from kernel.apdu import Transport
from kernel.candidate import Candidate
from kernel.config import AidConfig, TerminalConfig
from kernel.errors import CardBlocked, NoMutualApplication, TransactionCancelled
from kernel.services import KernelServices, MessageId
from kernel.values import decode_text

__all__ = [
    "PSE_NAME",
    "Candidate",
    "SelectedApplication",
    "build_candidate_list",
    "final_selection",
    "match_terminal_aid",
    "order_candidates",
    "parse_fci",
]

PSE_NAME = b"1PAY.SYS.DDF01"
_MAX_DDF_DEPTH = 4
_MAX_RECORDS = 64
_MAX_OCCURRENCES = 16

log = logging.getLogger("kernel.selection")


@dataclass(frozen=True, slots=True)
class SelectedApplication:
    candidate: Candidate
    fci: bytes  # R-APDU data of the final SELECT ('6F' template)
    pdol: bytes | None
    language: str | None
    fci_data: dict[int, bytes]


def match_terminal_aid(card_aid: bytes, aids: tuple[AidConfig, ...]) -> AidConfig | None:
    """Book 1 12.3.1: an exact match first, else the first partial match the ASI allows."""
    for aid in aids:
        if card_aid == aid.aid:
            return aid
    for aid in aids:
        if aid.partial_selection and len(card_aid) > len(aid.aid) and card_aid.startswith(aid.aid):
            return aid
    return None


def parse_fci(data: bytes) -> dict[int, bytes] | None:
    """Primitive objects of an FCI '6F' (DF name and 'A5' contents); None if not an FCI."""
    try:
        objects = tlv.decode(data)
        if len(objects) != 1 or objects[0].tag != 0x6F:
            return None
        out: dict[int, bytes] = {}
        for obj in objects[0].children():
            out[obj.tag] = obj.value
            if obj.tag == 0xA5:
                for inner in obj.children():
                    out.setdefault(inner.tag, inner.value)
        return out
    except tlv.TlvError:
        return None


def _language(value: bytes | None) -> str | None:
    if not value:
        return None
    text = decode_text(value)
    return text if text.isascii() else None


def _int(value: bytes | None) -> int | None:
    return value[0] if value and len(value) == 1 else None


def _bcd(value: bytes | None) -> int | None:
    if value and len(value) == 1 and value.hex().isdigit():
        return int(value.hex())
    return None


# --- PSE (Book 1 12.3.2) ---------------------------------------------------------


class _PseUnusable(Exception):
    """Internal: the PSE cannot be used; fall back to the list of AIDs."""


async def _pse_candidates(transport: Transport, config: TerminalConfig) -> list[Candidate]:
    response = await transport.send(apdu.select(PSE_NAME))
    if response.sw == 0x6A81:
        raise CardBlocked("card blocked or SELECT not supported", response.sw)
    if not response.ok:
        raise _PseUnusable(f"SELECT PSE {response.sw:04X}")
    candidates: list[Candidate] = []
    seen_ddfs: set[bytes] = {PSE_NAME}
    await _read_directory(transport, config, response.data, candidates, seen_ddfs, 0)
    return candidates


def _directory_sfi(fci_data: bytes) -> int:
    fci = parse_fci(fci_data)
    sfi = fci.get(0x88) if fci else None
    if sfi is None or len(sfi) != 1 or not 1 <= sfi[0] <= 10:
        raise _PseUnusable("directory FCI without a valid SFI")
    return sfi[0]


async def _read_directory(
    transport: Transport,
    config: TerminalConfig,
    fci_data: bytes,
    candidates: list[Candidate],
    seen_ddfs: set[bytes],
    depth: int,
) -> None:
    sfi = _directory_sfi(fci_data)
    ddfs: list[bytes] = []
    for record in range(1, _MAX_RECORDS + 1):
        response = await transport.send(apdu.read_record(sfi, record))
        if response.sw == 0x6A83:
            break
        if not response.ok:
            raise _PseUnusable(f"READ RECORD of directory {response.sw:04X}")
        for entry in _directory_entries(response.data):
            if 0x4F in entry:
                _add_adf_entry(entry, config, candidates)
            elif 0x9D in entry:
                ddfs.append(entry[0x9D])
    if depth >= _MAX_DDF_DEPTH:
        return
    for ddf in ddfs:
        if ddf in seen_ddfs:
            continue
        seen_ddfs.add(ddf)
        response = await transport.send(apdu.select(ddf))
        if not response.ok:
            log.info("DDF %s not selectable (%04X), skipped", ddf.hex().upper(), response.sw)
            continue
        try:
            await _read_directory(
                transport, config, response.data, candidates, seen_ddfs, depth + 1
            )
        except _PseUnusable as exc:
            log.info("DDF %s skipped: %s", ddf.hex().upper(), exc)


def _directory_entries(record: bytes) -> list[dict[int, bytes]]:
    try:
        objects = tlv.decode(record)
        if len(objects) != 1 or objects[0].tag != 0x70:
            raise _PseUnusable("directory record is not a '70' template")
        entries: list[dict[int, bytes]] = []
        for obj in objects[0].children():
            if obj.tag != 0x61:
                continue
            entry: dict[int, bytes] = {}
            for inner in obj.children():
                entry.setdefault(inner.tag, inner.value)
            entries.append(entry)
        return entries
    except tlv.TlvError as exc:
        raise _PseUnusable(f"malformed directory record: {exc}") from exc


def _add_adf_entry(entry: dict[int, bytes], config: TerminalConfig, out: list[Candidate]) -> None:
    card_aid = entry[0x4F]
    if not 5 <= len(card_aid) <= 16:
        return
    terminal_aid = match_terminal_aid(card_aid, config.aids)
    if terminal_aid is None or any(c.aid == card_aid for c in out):
        return
    out.append(
        Candidate(
            aid=card_aid,
            terminal_aid=terminal_aid,
            label=entry.get(0x50),
            preferred_name=entry.get(0x9F12),
            priority_indicator=_int(entry.get(0x87)),
            issuer_code_table_index=_bcd(entry.get(0x9F11)),
            language=_language(entry.get(0x5F2D)),
            order=len(out),
        )
    )


# --- List of AIDs (Book 1 12.3.3) ---------------------------------------------------


async def _aid_list_candidates(transport: Transport, config: TerminalConfig) -> list[Candidate]:
    out: list[Candidate] = []
    for terminal_aid in config.aids:
        next_occurrence = False
        seen: set[bytes] = set()
        for _ in range(_MAX_OCCURRENCES):
            response = await transport.send(
                apdu.select(terminal_aid.aid, next_occurrence=next_occurrence)
            )
            if response.sw == 0x6A81:
                raise CardBlocked("card blocked or SELECT not supported", response.sw)
            if response.sw not in (0x9000, 0x6283):
                break  # 6A82 and anything else: next terminal AID
            fci = parse_fci(response.data)
            df_name = fci.get(0x84) if fci else None
            if df_name is None or df_name in seen:
                break
            seen.add(df_name)
            exact = df_name == terminal_aid.aid
            partial = (
                terminal_aid.partial_selection
                and len(df_name) > len(terminal_aid.aid)
                and df_name.startswith(terminal_aid.aid)
            )
            if (exact or partial) and response.sw == 0x9000 and fci is not None:
                if not any(c.aid == df_name for c in out):
                    out.append(_candidate_from_fci(df_name, terminal_aid, fci, len(out)))
            elif response.sw == 0x6283:
                log.info("application %s blocked, not a candidate", df_name.hex().upper())
            if not terminal_aid.partial_selection:
                break
            next_occurrence = True
    return out


def _candidate_from_fci(
    df_name: bytes, terminal_aid: AidConfig, fci: dict[int, bytes], order: int
) -> Candidate:
    return Candidate(
        aid=df_name,
        terminal_aid=terminal_aid,
        label=fci.get(0x50),
        preferred_name=fci.get(0x9F12),
        priority_indicator=_int(fci.get(0x87)),
        issuer_code_table_index=_bcd(fci.get(0x9F11)),
        language=_language(fci.get(0x5F2D)),
        order=order,
    )


async def build_candidate_list(transport: Transport, config: TerminalConfig) -> list[Candidate]:
    """Book 1 12.3: PSE first (if the terminal uses it), else the list of AIDs."""
    if config.use_pse:
        try:
            found = await _pse_candidates(transport, config)
            if found:
                return found
            log.info("PSE lists no mutually supported application")
        except _PseUnusable as exc:
            log.info("PSE not usable: %s", exc)
    return await _aid_list_candidates(transport, config)


# --- final selection (Book 1 12.4) ---------------------------------------------------


def order_candidates(candidates: list[Candidate], config: TerminalConfig) -> list[Candidate]:
    """Priority order: card priority 1..15, then none; ties by terminal priority and order found."""
    position = {aid.aid: i for i, aid in enumerate(config.aids)}

    def key(c: Candidate) -> tuple[int, int, int, int]:
        card = c.priority if c.priority is not None else 16
        terminal = c.terminal_aid.priority or 16
        return card, terminal, position.get(c.terminal_aid.aid, 99), c.order

    return sorted(candidates, key=key)


async def _choose(
    ordered: list[Candidate], config: TerminalConfig, services: KernelServices
) -> Candidate:
    if len(ordered) == 1:
        only = ordered[0]
        if not only.confirmation_required:
            return only
        if not config.cardholder_selection:
            raise NoMutualApplication("application needs confirmation the terminal cannot ask for")
        if await services.confirm_application(only):
            return only
        raise TransactionCancelled("application not confirmed")
    if config.cardholder_selection:
        index = await services.select_application(ordered)
        if index is None:
            raise TransactionCancelled("no application chosen")
        if not 0 <= index < len(ordered):
            raise TransactionCancelled(f"application index {index} out of range")
        return ordered[index]
    for candidate in ordered:
        if not candidate.confirmation_required:
            return candidate
    raise NoMutualApplication("every application needs cardholder confirmation")


async def final_selection(
    transport: Transport,
    config: TerminalConfig,
    services: KernelServices,
    candidates: list[Candidate],
) -> SelectedApplication:
    """Choose and SELECT an application; failed ones leave `candidates` ("select next")."""
    while True:
        if not candidates:
            raise NoMutualApplication("no mutually supported application")
        chosen = await _choose(order_candidates(candidates, config), config, services)
        response = await transport.send(apdu.select(chosen.aid))
        fci = parse_fci(response.data) if response.ok else None
        if fci is not None and fci.get(0x84) == chosen.aid:
            return SelectedApplication(
                candidate=chosen,
                fci=response.data,
                pdol=fci.get(0x9F38),
                language=_language(fci.get(0x5F2D)) or chosen.language,
                fci_data=fci,
            )
        log.info("final SELECT of %s failed (%04X)", chosen.aid.hex().upper(), response.sw)
        candidates.remove(chosen)
        await services.display(MessageId.TRY_AGAIN)
