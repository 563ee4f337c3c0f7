# Strategy: the terminal's answers and messages as people read them — a
# display message as one line, a receipt as the slip a cash register prints,
# the X-report, a settlement's sreport, the terminal's parameters, the
# simulator's state — for `cardcore client`, `cardcore sim` and tools/demo.py
# alike. Pure functions from decoded bodies (cardcore.protocol.xmlcodec) to
# lines of text: whoever prints them decides where they go. Amounts are the
# manual's minor units (12 digits, or D/C and 12 digits for report sums),
# shown as 10.50 and the currency's letters. `plain-text-pan` (the full PAN
# of an encrypted answer) is never rendered: a slip shows the masked PAN.
# loadmasterkeys' receipt holds the master keys' check values and no
# transaction: it is shown as a list of keys, not as a slip.
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from cardcore.protocol.status import DESCRIPTIONS, Status
from cardcore.protocol.xmlcodec import Message, decode_error_stack

__all__ = [
    "SLIP_WIDTH",
    "answer_lines",
    "ledger_lines",
    "master_keys_lines",
    "message_line",
    "money",
    "pairs",
    "parameters_lines",
    "sim_lines",
    "slip",
    "sreport_lines",
    "status_line",
    "xreport_lines",
]

SLIP_WIDTH = 38  # characters on a 58 mm slip printer's line

# ISO 4217 numeric -> letters, for the currencies a terminal here settles in;
# all of them have two decimals. Others are shown by their number.
CURRENCIES = {
    "643": "RUB",
    "933": "BYN",
    "398": "KZT",
    "051": "AMD",
    "417": "KGS",
    "860": "UZS",
    "972": "TJS",
    "156": "CNY",
    "840": "USD",
    "978": "EUR",
}

# The manual's getparameters fields («Сведения о приложении и терминале»).
PARAMETER_LABELS = {
    "sn": "serial number",
    "app": "application version",
    "firmware-mcu": "secure core firmware",
    "firmware-boot": "boot loader",
    "os": "operating system",
    "sdk": "SDK",
    "tid": "terminal id",
    "mid": "merchant id",
    "tconf": "terminal configuration version",
    "ntconf": "terminal configuration name",
    "cconf": "common configuration version",
    "ncconf": "common configuration name",
    "econf": "EMV configuration version",
    "neconf": "EMV configuration name",
    "kconf": "CA key list version",
    "nkconf": "CA key list name",
    "acqid": "acquirer id",
    "cccert": "config server client certificate expires",
    # The same date under the name of the manual's field list (its example
    # says cccert): shown once when the two agree.
    "ccert": "config server client certificate expires (ccert)",
    "csca": "config server CA expires",
    "cshost": "config server",
    "accert": "acquirer client certificate expires",
    "asca": "acquirer CA expires",
    "ashost": "acquirer host (current)",
    "as-main-host": "acquirer host (main)",
    "as-mirror-host": "acquirer host (mirror)",
    "kccert": "key server client certificate expires",
    "ksca": "key server CA expires",
    "kshost": "key server (current)",
    "ks-main-host": "key server (main)",
    "ks-mirror-host": "key server (mirror)",
    "devid": "device id",
}

# sreport fields (manual «Сверка итогов», «Очистка журнала») in its order.
SREPORT_LABELS = {
    "resp-code": "response code",
    "approval-number": "approval number",
    "rrn": "RRN",
    "orig-amount": "terminal's total",
    "amount": "host's total",
    "datetime": "date",
    "tid": "terminal id",
    "mid": "merchant id",
    "cur": "currency",
    "from": "first transaction",
    "to": "last transaction",
    "tnum": "transactions",
    "batch-upload": "batch upload",
    "art-resp-code": "upload closing code",
    "cov-resp-code": "cutover response code",
    "cov-rrn": "cutover RRN",
}


def money(amount: str | int | None, currency: str | None = None) -> str:
    """Minor units as 10.50 (and the currency): '000000001050', 1050 or a
    report's signed 'D000000001050' (C: negative)."""
    text = str(amount if amount is not None else "0").strip()
    sign = ""
    if text[:1] in ("D", "C"):
        sign, text = ("-" if text[0] == "C" else ""), text[1:]
    try:
        minor = int(text)
    except ValueError:
        return str(amount)
    if minor < 0:
        sign, minor = "-", -minor
    shown = f"{sign}{minor // 100}.{minor % 100:02d}"
    return f"{shown} {currency_name(currency)}" if currency else shown


def currency_name(code: str | None) -> str:
    return CURRENCIES.get(code or "", code or "")


def when(stamp: Any) -> str:
    """The manual's yyMMddhhmmss as dd.mm.yyyy hh:mm:ss."""
    text = str(stamp or "")
    if len(text) != 12 or not text.isdigit():
        return text
    return f"{text[4:6]}.{text[2:4]}.20{text[0:2]} {text[6:8]}:{text[8:10]}:{text[10:12]}"


def _items(value: Any) -> list[Any]:
    """A repeated element as a list (one occurrence decodes as a single value)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _lines_of(block: Any) -> list[str]:
    """The text lines of a receipt's header/footer (`line` children) or a report
    title (`line1`, `line2`, ...)."""
    if not isinstance(block, Mapping):
        return []
    if "line" in block:
        return [str(line) for line in _items(block["line"]) if line]
    return [str(value) for value in block.values() if value]


def pairs(rows: Iterable[tuple[str, Any]], indent: str = "") -> list[str]:
    """Label-value lines with the values aligned; rows without a value are left out."""
    kept = [(label, str(value)) for label, value in rows if value not in (None, "")]
    width = max((len(label) for label, _ in kept), default=0)
    return [f"{indent}{label.ljust(width)}  {value}".rstrip() for label, value in kept]


# --- messages ---------------------------------------------------------------
def message_line(message: Message) -> str | None:
    """One line for a message of the terminal, None for those people need not
    see (keepalive; a display cleared). A `dex` message may carry card data:
    only its presence is shown."""
    body = message.body
    if message.name == "display":
        text = str(body.get("msg") or "")
        if body.get("value-qualifier") == "10":
            text = f"{text}  {money(body.get('value'), body.get('currency'))}"
        return text or None
    if message.name == "displayqrcode":
        if body.get("status") == "show":
            return f"QR code for the customer: {body.get('url', '')}"
        return "QR code removed"
    if message.name == "smartcard":
        return f"contactless card ({body.get('command', 'newcard')}): processed as a bank card"
    if message.name == "dex":
        return "data exchange with the cash register"
    if message.name == "keepalive":
        return None
    return f"message <{message.name}>"


# --- the slip ---------------------------------------------------------------
def _response_text(receipt: Mapping[str, Any]) -> str:
    """The host's response code and what it means, as the receipt says it (or,
    for a receipt without the description, the ISO 8583 table's)."""
    code = str(receipt.get("resp-code") or "")
    text = str(receipt.get("resp-code-description") or "")
    if code and not text:
        from acquirers.iso8583.response_codes import describe

        short = code[1:] if len(code) == 3 and code.startswith("0") else code
        text = describe(short, "en")
    return f"{code} {text}".strip()


def slip(receipt: Mapping[str, Any], width: int = SLIP_WIDTH) -> list[str]:
    """The receipt as the slip printer of a cash register prints it, in a box."""
    out: list[str] = []

    def line(left: str, right: Any = "") -> None:
        text = str(right)
        room = width - len(left) - 1
        if text and len(text) > room:  # a long value goes under its label
            out.append(left[:width])
            out.append(text[-width:].rjust(width))
        else:
            out.append(left + text.rjust(width - len(left)))

    def centered(text: Any) -> None:
        for piece in _wrap(str(text), width):
            out.append(piece.center(width))

    for text in _lines_of(receipt.get("header")):
        centered(text)
    line("TID", receipt.get("tid", ""))
    line("MID", receipt.get("mid", ""))
    if receipt.get("tid-sbp"):
        line("SBP TID", receipt["tid-sbp"])
    line("RECEIPT", receipt.get("seq", ""))
    line(str(receipt.get("type", "")).upper(), when(receipt.get("datetime")))
    card = receipt.get("appname") or ("SBP" if receipt.get("iface") == "sbp" else "")
    line(str(card), receipt.get("pan", ""))
    if receipt.get("aid"):
        line("AID", receipt["aid"])
    currency = receipt.get("currency")
    line("AMOUNT", money(receipt.get("amount-authorized"), currency))
    if receipt.get("amount-other"):
        line("INCL. CASHBACK", money(receipt["amount-other"], currency))
    for label, name in (("RRN", "rrn"), ("AUTH CODE", "auth-number")):
        if receipt.get(name):
            line(label, receipt[name])
    if receipt.get("resp-code"):
        line("RESPONSE", _response_text(receipt))
    if receipt.get("tvr"):
        line("TVR / TSI", f"{receipt['tvr']} / {receipt.get('tsi', '')}")
    if receipt.get("pin-entered") in ("offline", "online"):
        line("PIN VERIFIED", str(receipt["pin-entered"]).upper())
    if receipt.get("cdcvm") == "yes":
        line("VERIFIED ON THE DEVICE")
    if receipt.get("signature") == "yes":
        out.append("")
        line("SIGNATURE: ______________")
    out.append("")
    centered(str(receipt.get("tstatus") or receipt.get("status") or "").upper())
    if receipt.get("decline-reason"):
        centered(receipt["decline-reason"])
    if receipt.get("bank-name"):
        centered(receipt["bank-name"])
    for text in _lines_of(receipt.get("footer")):
        centered(text)
    rule = "+" + "-" * width + "+"
    return [rule, *(f"|{text.ljust(width)}|" for text in out), rule]


def _wrap(text: str, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = ""
        current = f"{current} {word}".strip()
        while len(current) > width:
            lines.append(current[:width])
            current = current[width:]
    return [*lines, current] if current else lines


# --- answers ----------------------------------------------------------------
def status_line(message: Message) -> str:
    """`<name>: <status> (<Appendix A wording>)`."""
    status = message.status or "(no status)"
    try:
        meaning = DESCRIPTIONS[Status(status)]
    except ValueError:
        meaning = ""
    return f"{message.name}: {status}" + (f" ({meaning})" if meaning else "")


def answer_lines(message: Message) -> list[str]:
    """An answer for people: what it carries (a slip, a report, the
    parameters), then its status when that is not ok, and the error-stack."""
    body = message.body
    out: list[str] = []
    receipt = body.get("receipt")
    if isinstance(receipt, Mapping):
        out += master_keys_lines(receipt) if message.name == "loadmasterkeys" else slip(receipt)
    for xreport in _items(body.get("xreport")):
        if isinstance(xreport, Mapping):
            out += xreport_lines(xreport)
    for sreport in _items(body.get("sreport")):  # one per currency settled
        if isinstance(sreport, Mapping):
            out += sreport_lines(message.name, body, sreport)
    if isinstance(body.get("parameters"), Mapping):
        out += parameters_lines(body["parameters"])
    out += pairs(
        row for key, value in body.items() if key not in _SHOWN for row in _rows(key, value)
    )
    if message.status != "ok" or not out:
        out.append(status_line(message))
    out += [f"error: {text}" for text in decode_error_stack(body.get("error-stack"))]
    return out


# Fields answer_lines shows in their own way, or not at all (the token is kept
# in the session file, never shown).
_SHOWN = {"status", "error-stack", "receipt", "xreport", "sreport", "parameters", "bank-name",
          "token"}  # fmt: skip


def _rows(key: str, value: Any) -> Iterator[tuple[str, str]]:
    """Any other field of an answer: a line, or a line per item of a list of
    records (loadmasterkeys' `keys/key`)."""
    if isinstance(value, Mapping) and len(value) == 1:
        items = _items(next(iter(value.values())))
        if items and all(isinstance(item, Mapping) for item in items):
            for item in items:
                yield key, _plain(item)
            return
    yield key, _plain(value)


# loadmasterkeys' key types (the manual's list; its reserved 0A is the SAM
# host key here).
KEY_TYPES = {
    "03": "MAC master key",
    "05": "PIN master key",
    "09": "traffic master key",
    "0A": "SAM host key",
    "0B": "PIN and MAC master key",
    "0C": "KLK",
    "0D": "TMK",
    "0E": "TAK",
    "10": "KMKM",
    "FF": "key block protection key",
}


def master_keys_lines(receipt: Mapping[str, Any]) -> list[str]:
    """loadmasterkeys' receipt: the check values of the PIN and MAC master
    keys the terminal holds, then each key the key server sent, with its
    result and its check value (and how it was computed) or why it failed."""
    out = ["MASTER KEYS"]
    out += pairs(
        [("PIN master key (pkcv)", receipt.get("pkcv")),
         ("MAC master key (mkcv)", receipt.get("mkcv"))], "  ",
    )  # fmt: skip
    keys = receipt.get("keys")
    entries = _items(keys.get("key")) if isinstance(keys, Mapping) else []
    rows = []
    for key in (k for k in entries if isinstance(k, Mapping)):
        kind = str(key.get("type") or "")
        name = f"{kind} {KEY_TYPES.get(kind.upper(), 'key')}".strip()
        result = str(key.get("result") or "")
        if key.get("kcv"):
            method = f" ({key['kcv-method']})" if key.get("kcv-method") else ""
            rows.append((name, f"{result:<8} kcv {key['kcv']}{method}"))
        else:
            rows.append((name, f"{result:<8} {key.get('reason') or ''}".rstrip()))
    out.append(f"KEYS FROM THE KEY SERVER ({len(rows)})")
    return out + pairs(rows, "  ")


def parameters_lines(parameters: Mapping[str, Any]) -> list[str]:
    same = parameters.get("ccert") == parameters.get("cccert")
    return pairs(
        (PARAMETER_LABELS.get(key, key), value)
        for key, value in parameters.items()
        if not (key == "ccert" and same)
    )


def sreport_lines(
    name: str, body: Mapping[str, Any], report: Mapping[str, Any] | None = None
) -> list[str]:
    """One <sreport> (``report``, default the answer's only one)."""
    report = body["sreport"] if report is None else report
    currency = report.get("cur")
    title = "SETTLEMENT" if name == "settlement" else "JOURNAL CLEARED"
    result = report.get("settlement-result")
    out = [f"{title} {str(result).upper()}" if result else title]
    rows: list[tuple[str, Any]] = [("bank", body.get("bank-name"))]
    for key, value in report.items():
        if key == "settlement-result":
            continue
        if key in ("orig-amount", "amount"):
            value = money(value, currency)
        elif key in ("datetime", "from", "to"):
            value = when(value)
        elif key == "cur":
            value = currency_name(value)
        rows.append((SREPORT_LABELS.get(key, key), value))
    return out + pairs(rows, "  ")


def _count_sum_rows(totals: Mapping[str, Any], suffix: str) -> list[str]:
    """Count and sum per category (purchase, refund, ...) of a report's totals,
    the categories with transactions only, then the total."""
    rows: list[tuple[str, str, str]] = []
    for key, count in totals.items():
        if not key.endswith(f"-{suffix}count") or key.startswith("total"):
            continue
        category = key[: -len(f"-{suffix}count")]
        if count and str(count) != "0":
            amount = money(totals.get(f"{category}-{suffix}sum"))
            rows.append((category, str(count), amount))
    total_count = totals.get("total-card-count", totals.get("total-count", "0"))
    total_sum = totals.get("total-card-sum", totals.get("total-sum"))
    rows.append(("total", str(total_count), money(total_sum)))
    width = max(len(row[0]) for row in rows)
    return [f"  {name.ljust(width)}  {count:>6}  {amount:>16}" for name, count, amount in rows]


def xreport_lines(xreport: Mapping[str, Any]) -> list[str]:
    """One currency's X-report: header, the transactions of a full report,
    totals per card type and the grand totals."""
    header = xreport.get("header") or {}
    currency = header.get("cur")
    out = [f"X-REPORT  {when(header.get('time'))}  {currency_name(currency)}"]
    out += [f"  {text}" for text in _lines_of(header.get("title"))]
    out += pairs([("terminal id", header.get("tid")), ("merchant id", header.get("mid"))], "  ")
    transactions = xreport.get("transactions")
    if isinstance(transactions, Mapping):
        rows = [t for t in _items(transactions.get("t")) if isinstance(t, Mapping)]
        out.append(f"TRANSACTIONS ({len(rows)})")
        for t in rows:
            amount = money(t.get("aa"), None)
            out.append(
                f"  {t.get('seq', ''):>6}  {when(t.get('time'))}  {t.get('type', '')!s:<16}"
                f" {amount:>12}  {t.get('pan', ''):<19} {t.get('status', ''):<8}"
                f" {t.get('arc', '')}".rstrip()
            )
    card_types = _items((xreport.get("totals") or {}).get("card-type"))
    for card_type in card_types:
        if isinstance(card_type, Mapping):
            rid = card_type.get("rid")
            out.append(f"{card_type.get('name') or 'OTHER'}" + (f" ({rid})" if rid else ""))
            out += _count_sum_rows(card_type, "")
    grand = xreport.get("grand-totals")
    if isinstance(grand, Mapping):
        out.append("GRAND TOTAL")
        out += _count_sum_rows(grand, "total-")
    return out


# --- the simulator ----------------------------------------------------------
def ledger_lines(ledger: Mapping[str, Any]) -> list[str]:
    """What the acquirer host simulator booked (its ledger has no card numbers)."""
    rows: Sequence[Mapping[str, Any]] = ledger.get("transactions") or []
    out = [f"booked transactions: {len(rows)}"]
    for row in rows:
        out.append(
            f"  {row.get('type', ''):<9} {money(row.get('amount'), None):>10}"
            f"  reversed {money(row.get('reversed'), None):>10}"
            f"  response {row.get('response', '')}  rrn {row.get('rrn', '')}"
            f"  stan {row.get('stan', '')}  tid {row.get('tid', '')}"
        )
    batches: Sequence[Mapping[str, Any]] = ledger.get("closed-batches") or []
    out.append(f"closed batches: {len(batches)}")
    for batch in batches:
        out.append(
            f"  batch {batch.get('batch', '')}  tid {batch.get('tid', '')}"
            f"  {batch.get('transactions', 0)} transactions, {batch.get('uploaded', 0)} uploaded"
        )
    return out


_SIM_PARTS = {
    "host": "acquirer host simulator",
    "sbp": "SBP agent simulator",
    "pinpad": "simulated PIN pad",
}


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value) or "-"
    return str(value)


def sim_lines(command: str, answer: Mapping[str, Any]) -> list[str]:
    """The simulator control socket's answer to `cardcore sim COMMAND`."""
    if command == "ledger":
        return ledger_lines(answer)
    if command in ("present", "remove"):
        field = answer.get("field") or []
        if not field:
            return ["no card in the field"]
        return ["in the field: " + ", ".join(f"{card} ({where})" for card, where in field)]
    part = _SIM_PARTS.get(command)
    if part is not None and set(answer) == {"mode"}:
        return [f"{part}: {answer['mode']}"]
    head = [f"{part}:"] if part else []
    return head + pairs(((key, _plain(value)) for key, value in answer.items()), "  " * bool(part))
