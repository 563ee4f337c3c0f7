# Strategy: the receipt of a card transaction exactly as the manual's
# «Транзакция» answer lists it (field names and order of its example), built
# from the journal record and the kernel's outcome. The full PAN appears only
# as `plain-text-pan`, and only in an answer that travels encrypted (manual
# «Шифрование команд»); the receipt itself carries the masked PAN.
from __future__ import annotations

import datetime as dt
from typing import Any

from cardcore.config import Config
from cardcore.journal import TxnRecord
from kernel.outcome import Outcome

__all__ = ["SCHEMES", "card_receipt", "format_datetime", "response_code_3", "scheme_for"]

# RID -> (ps-code of the manual, scheme name for reports)
SCHEMES: dict[str, tuple[str, str]] = {
    "A000000003": ("4", "VISA"),
    "A000000004": ("5", "MASTERCARD"),
    "A000000005": ("5", "MASTERCARD"),
    "A000000333": ("6", "UNIONPAY"),
    "A000000658": ("22", "MIR"),
}


def scheme_for(aid: str | None) -> tuple[str | None, str | None]:
    """(RID, scheme name) of an AID."""
    if not aid:
        return None, None
    rid = aid[:10].upper()
    return rid, SCHEMES.get(rid, ("", rid))[1]


def format_datetime(value: str) -> str:
    """yyMMddhhmmss in the terminal's local time (the manual's «datetime»)."""
    return dt.datetime.fromisoformat(value).strftime("%y%m%d%H%M%S")


def response_code_3(code: str | None) -> str | None:
    """The host's response code in the receipt's three-character form ("00" -> "000")."""
    if code is None:
        return None
    return code.rjust(3, "0") if code.isascii() and code.isdigit() else code


def _lines(lines: list[str]) -> dict[str, list[str]] | None:
    return {"line": list(lines)} if lines else None


def card_receipt(
    config: Config,
    record: TxnRecord,
    outcome: Outcome | None = None,
    *,
    response_description: str | None = None,
    plain_pan: str | None = None,
) -> dict[str, Any]:
    """The <receipt> body. ``plain_pan`` only for an encrypted answer."""
    term, acq = config.terminal, config.acquirer
    rid = record.scheme_rid or ""
    ps_code = SCHEMES.get(rid, ("", ""))[0]
    receipt: dict[str, Any] = {
        "header": _lines(term.header_lines),
        "tid": term.tid or "",
        "mid": term.mid or "",
        "seq": record.seq,
        "type": record.receipt_type,
        "state": "active",
        "tstatus": record.tstatus or "declined",
        "amount-authorized": f"{record.amount:012d}",
    }
    if record.amount_other:
        receipt["amount-other"] = f"{record.amount_other:012d}"
    receipt["currency"] = record.currency
    if record.aid:
        receipt["aid"] = record.aid
    if ps_code:
        receipt["ps-code"] = ps_code
    extra = record.extra
    if extra.get("appname"):
        receipt["appname"] = extra["appname"]
    if outcome is not None:
        if outcome.preferred_name:
            receipt["apname"] = outcome.preferred_name.hex().upper()
        if outcome.application_label:
            receipt["alabel"] = outcome.application_label
        if outcome.issuer_code_table_index is not None:
            receipt["ict-id"] = f"{outcome.issuer_code_table_index:02d}"
    if record.masked_pan:
        receipt["pan"] = record.masked_pan
    if plain_pan:
        receipt["plain-text-pan"] = plain_pan
    if record.expiry:
        receipt["aed"] = record.expiry
    if record.rrn:
        receipt["rrn"] = record.rrn
    if record.resp_code:
        receipt["resp-code"] = response_code_3(record.resp_code)
        if response_description:
            receipt["resp-code-description"] = response_description
    if record.auth_code:
        receipt["auth-number"] = record.auth_code
    receipt["datetime"] = format_datetime(record.datetime)
    if record.tsi:
        receipt["tsi"] = record.tsi
    if record.tvr:
        receipt["tvr"] = record.tvr
    receipt["pin-entered"] = extra.get("pin-entered", "no")
    receipt["cdcvm"] = extra.get("cdcvm", "no")
    receipt["signature"] = extra.get("signature", "no")
    receipt["decline-reason"] = record.decline_reason if record.tstatus != "approved" else None
    receipt["acquirer-tag"] = acq.acquirer_tag
    receipt["bank-name"] = acq.bank_name
    receipt["footer"] = _lines(term.footer_lines)
    return {k: v for k, v in receipt.items() if v is not None or k == "decline-reason"}
