# Strategy: the X-report of the manual («Отчет»), tag for tag as its example
# (the two misspelt grand-total tags read as docs/protocol-decisions.md says), written
# straight into the answer's spooled file (server: Answer.stream) from a
# worker thread, in memory that does not grow with the batch:
# - a brief report's totals come from the journal's per-group aggregates (one
#   SQL query); totals.py has the counting rules;
# - a full report reads the batch once, a few thousand lines at a time: each
#   transaction's `t` element was laid out by the journal when it was written
#   (journal.REPORT_LINES_SCHEMA, the layout of format_lines below), so a
#   line costs three values read and one string written; its totals group is
#   tallied for the totals that follow the lines. format_lines lays out the
#   rare line the journal could not (and is the reference the journal's SQL
#   is tested against).
# - one <xreport> per currency: the terminal's currency first (always there,
#   even for an empty batch), then any other currency the batch holds, in
#   code order; each with its own header `cur`, lines and totals.
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from cardcore.config import Config
from cardcore.endofday.totals import (
    CATEGORIES,
    CardTypeTotals,
    CurrencyTotals,
    report_totals,
    signed_amount,
)
from cardcore.engine.receipt import format_datetime
from cardcore.journal import REPORT_LINE_DEPTH, Journal
from cardcore.protocol.xmlcodec import XmlWriter, escape

__all__ = ["card_type_body", "format_lines", "grand_totals_body", "write_lines", "write_xreport"]


def _title(lines: list[str]) -> dict[str, str] | None:
    return {f"line{i}": line for i, line in enumerate(lines, 1)} or None


def card_type_body(totals: CardTypeTotals) -> dict[str, str]:
    body = {"rid": totals.rid, "name": totals.name}
    for category in CATEGORIES:
        body[f"{category}-count"] = str(totals.counts[category])
        body[f"{category}-sum"] = f"{totals.sums[category]:012d}"
    body["total-card-sum"] = signed_amount(totals.total_sum)
    body["total-card-count"] = str(totals.total_count)
    return body


def grand_totals_body(totals: CardTypeTotals) -> dict[str, str]:
    body: dict[str, str] = {}
    for category in CATEGORIES:
        body[f"{category}-total-count"] = str(totals.counts[category])
        body[f"{category}-total-sum"] = f"{totals.sums[category]:012d}"
    body["total-sum"] = signed_amount(totals.total_sum)
    body["total-count"] = str(totals.total_count)
    return body


def _esc(value: Any) -> Any:
    if isinstance(value, str) and ("&" in value or "<" in value or ">" in value):
        return escape(value)
    return value


def _stamp(value: str) -> str:
    """yyMMddhhmmss of the journal's ISO datetime (engine.receipt.format_datetime),
    by slicing when it has the journal's own shape (it always does)."""
    if len(value) >= 19 and value[4] == "-" and value[10] == "T" and value[13] == ":":
        return value[2:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
    return format_datetime(value)


Tally = dict[tuple[str, ...], list[int]]


def format_lines(rows: Iterable[tuple[Any, ...]], depth: int) -> str:
    """`t` elements of rows (`id` then REPORT_COLUMNS), laid out as
    XmlWriter.element would."""
    pt, p = "  " * depth, "  " * (depth + 1)
    o_rrn, o_apn, o_arc, o_pan = f"{p}<rrn>", f"{p}<apn>", f"{p}<arc>", f"{p}<pan>"
    o_aed, o_aid, o_tvr, o_tsi = f"{p}<aed>", f"{p}<aid>", f"{p}<tvr>", f"{p}<tsi>"
    out: list[str] = []
    add = out.append
    for row in rows:
        (
            _id, seq, _channel, _operation, receipt_type, tstatus, amount, amount_other,
            currency, masked_pan, expiry, aid, _rid, _name, rrn, auth_code, resp_code, tvr, tsi,
            when,
        ) = row  # fmt: skip
        probe = f"{seq}{receipt_type}{tstatus}{rrn}{auth_code}{resp_code}{currency}{masked_pan}"
        probe += f"{expiry}{aid}{tvr}{tsi}"
        if "&" in probe or "<" in probe or ">" in probe:  # never from this terminal's own data
            seq, receipt_type, tstatus, rrn, auth_code, resp_code = map(
                _esc, (seq, receipt_type, tstatus, rrn, auth_code, resp_code)
            )
            currency, masked_pan, expiry, aid, tvr, tsi = map(
                _esc, (currency, masked_pan, expiry, aid, tvr, tsi)
            )
        if resp_code and len(resp_code) < 3 and resp_code.isascii() and resp_code.isdigit():
            resp_code = resp_code.rjust(3, "0")  # engine.receipt.response_code_3
        add(
            f"{pt}<t>\n{p}<status>{tstatus or 'declined'}</status>\n{p}<state>active</state>\n"
            f"{p}<type>{receipt_type}</type>\n{p}<seq>{seq}</seq>\n{p}<aa>{amount:012d}</aa>\n"
        )
        if amount_other:
            add(f"{p}<ao>{amount_other:012d}</ao>\n")
        if rrn:
            add(f"{o_rrn}{rrn}</rrn>\n")
        add(f"{p}<time>{_stamp(when)}</time>\n")
        if auth_code:
            add(f"{o_apn}{auth_code}</apn>\n")
        if resp_code:
            add(f"{o_arc}{resp_code}</arc>\n")
        add(f"{p}<cur>{currency}</cur>\n")
        if masked_pan:
            add(f"{o_pan}{masked_pan}</pan>\n")
        if expiry:
            add(f"{o_aed}{expiry}</aed>\n")
        if aid:
            add(f"{o_aid}{aid}</aid>\n")
        if tvr:
            add(f"{o_tvr}{tvr}</tvr>\n")
        if tsi:
            add(f"{o_tsi}{tsi}</tsi>\n")
        add(f"{pt}</t>\n")
    return "".join(out)


def _tally_groups(tally: Tally) -> list[dict[str, Any]]:
    """A tally in the shape of Journal.batch_groups rows (for totals.report_totals)."""
    names = ("currency", "channel", "scheme_rid", "scheme_name", "operation", "receipt_type")
    return [
        {**dict(zip(names, key[:6], strict=True)), "tstatus": key[6], "count": n, "amount": total}
        for key, (n, total) in tally.items()
    ]


def write_lines(writer: XmlWriter, journal: Journal, batch_id: int, currency: str) -> Tally:
    """The <transactions> of one currency; returns the tally of their groups."""
    if writer.depth != REPORT_LINE_DEPTH:
        raise ValueError(f"report lines are laid out at depth {REPORT_LINE_DEPTH}")
    groups: dict[str, list[int]] = {}
    for chunk in journal.iter_report_lines(batch_id, currency):
        lines: list[str] = []
        for txn_id, group, amount, line in chunk:
            cell = groups.get(group)
            if cell is None:
                groups[group] = [1, amount]
            else:
                cell[0] += 1
                cell[1] += amount
            if line is None:
                line = format_lines(journal.report_rows_sync([txn_id]), REPORT_LINE_DEPTH)
            lines.append(line)
        writer.text("".join(lines))
    return {tuple(json.loads(group)): cell for group, cell in groups.items()}


def write_xreport(
    writer: XmlWriter,
    journal: Journal,
    config: Config,
    batch_id: int,
    *,
    full: bool,
    now: dt.datetime,
) -> None:
    """The <xreport> sections of the open batch (blocking: a worker thread).
    A brief report's totals come from the journal's aggregates; a full
    report counts its lines as it writes them (one pass over the batch)."""
    term = config.terminal
    if full:
        per_currency: dict[str, CurrencyTotals] = {}
        present = set(journal.batch_currencies_sync(batch_id))
    else:
        groups = journal.batch_groups_sync(batch_id)
        per_currency = report_totals(groups)
        present = {g["currency"] for g in groups}
    currencies = [term.currency, *sorted(present - {term.currency})]
    for currency in currencies:
        writer.open("xreport")
        writer.element(
            "header",
            {
                "mid": term.mid or "",
                "tid": term.tid or "",
                "title": _title(term.header_lines),
                "cur": currency,
                "time": now.strftime("%y%m%d%H%M%S"),
            },
        )
        if full:
            writer.open("transactions")
            tally = write_lines(writer, journal, batch_id, currency)
            writer.close("transactions")
            per_currency.update(report_totals(_tally_groups(tally)))
        totals = per_currency.get(currency, CurrencyTotals(currency))
        types = [card_type_body(t) for t in totals.ordered()]
        writer.element("totals", {"card-type": types} if types else {})
        writer.element("grand-totals", grand_totals_body(totals.grand()))
        writer.close("xreport")
