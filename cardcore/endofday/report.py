# Strategy: the X-report of the manual («Отчет»), tag for tag as its example
# (the two misspelt grand-total tags read as docs/protocol-decisions.md
# says), written straight into the answer's spooled
# file (connection: Answer.stream) from a worker thread, in memory that does
# not grow with the batch:
# - the totals come from the journal's per-group aggregates (one SQL query);
#   totals.py has the counting rules;
# - a full report's `t` lines are laid out from one layout table (LINE: the
#   manual's tags, the journal column each shows, and how) into one SQL
#   expression, so SQLite writes each line while the report reads the batch
#   a few thousand rows at a time: a line costs one string read and written;
# - one <xreport> per currency: the terminal's currency first (always there,
#   even for an empty batch), then any other currency the batch holds, in
#   code order; each with its own header `cur`, lines and totals.
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from cardcore.config import Config
from cardcore.endofday.totals import (
    CATEGORIES,
    CardTypeTotals,
    CurrencyTotals,
    report_totals,
    signed_amount,
)
from cardcore.journal import Journal
from cardcore.protocol.xmlcodec import XmlWriter

__all__ = [
    "LINE",
    "Cell",
    "card_type_body",
    "grand_totals_body",
    "line_sql",
    "write_lines",
    "write_xreport",
]


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


@dataclass(frozen=True)
class Cell:
    """One tag of a report line: the journal column it shows and how.
    ``optional``: absent when the column is empty (NULL, '' or, for an
    amount, 0); ``default``: shown when the column is empty."""

    tag: str
    column: str | None  # None: the constant ``default``
    kind: Literal["text", "amount", "stamp", "arc"] = "text"
    optional: bool = False
    default: str = ""


# The manual's `t` element of the full report, in its order.
LINE = (
    Cell("status", "tstatus", default="declined"),
    Cell("state", None, default="active"),
    Cell("type", "receipt_type"),
    Cell("seq", "seq"),
    Cell("aa", "amount", "amount"),
    Cell("ao", "amount_other", "amount", optional=True),
    Cell("rrn", "rrn", optional=True),
    Cell("time", "datetime", "stamp"),  # yyMMddhhmmss of the terminal's local time
    Cell("apn", "auth_code", optional=True),
    Cell("arc", "resp_code", "arc", optional=True),  # 3 digits: engine.receipt.response_code_3
    Cell("cur", "currency"),
    Cell("pan", "masked_pan", optional=True),
    Cell("aed", "expiry", optional=True),
    Cell("aid", "aid", optional=True),
    Cell("tvr", "tvr", optional=True),
    Cell("tsi", "tsi", optional=True),
)
LINE_DEPTH = 3  # <answer><xreport><transactions><t>


def _escaped(column: str) -> str:
    """SQL of a column's text, XML-escaped (as xml.sax.saxutils.escape); the
    replacing only where there is something to replace."""
    replaced = f"replace(replace(replace({column}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
    return f"CASE WHEN {column} GLOB '*[&<>]*' THEN {replaced} ELSE {column} END"


def _value_sql(cell: Cell, column: str) -> str:
    """SQL of a cell's text."""
    if cell.kind == "amount":
        return f"printf('%012d', {column})"
    if cell.kind == "stamp":
        # The journal writes ISO 8601 local time: its digits, in place.
        return " || ".join(f"substr({column}, {start}, 2)" for start in (3, 6, 9, 12, 15, 18))
    if cell.kind == "arc":  # one or two ASCII digits get leading zeros
        return (
            f"CASE WHEN {column} GLOB '[0-9]' THEN '00' || {column} "
            f"WHEN {column} GLOB '[0-9][0-9]' THEN '0' || {column} ELSE {_escaped(column)} END"
        )
    return _escaped(column)


def line_sql(depth: int = LINE_DEPTH) -> str:
    """One SQL expression laying a transaction row out as its `t` element,
    exactly as XmlWriter.element would at ``depth``: a printf whose format
    holds the fixed text and whose arguments are the cells' values (an
    optional cell is its whole element or nothing)."""
    outer, inner = "  " * depth, "  " * (depth + 1)
    layout, args = [f"{outer}<t>\n"], []
    for cell in LINE:
        column = cell.column
        if column is None:
            layout.append(f"{inner}<{cell.tag}>{cell.default}</{cell.tag}>\n")
            continue
        empty = f"{column} = 0" if cell.kind == "amount" else f"{column} = ''"
        empty = f"{column} IS NULL OR {empty}"
        value = _value_sql(cell, column)
        if cell.optional:
            element = f"'{inner}<{cell.tag}>' || {value} || '</{cell.tag}>\n'"
            layout.append("%s")
            args.append(f"CASE WHEN {empty} THEN '' ELSE {element} END")
            continue
        layout.append(f"{inner}<{cell.tag}>%s</{cell.tag}>\n")
        # (A required cell shows its value; one with a default shows it when empty.)
        args.append(
            f"CASE WHEN {empty} THEN '{cell.default}' ELSE {value} END" if cell.default else value
        )
    layout.append(f"{outer}</t>\n")
    return f"printf('{''.join(layout)}', {', '.join(args)})"


_LINES_SQL = (
    f"SELECT id, {line_sql()} FROM transactions "  # noqa: S608 - our own layout only
    "WHERE batch_id = :batch AND currency = :currency AND id > :after ORDER BY id LIMIT :chunk"
)


def write_lines(writer: XmlWriter, journal: Journal, batch_id: int, currency: str) -> int:
    """The <transactions> lines of one currency; returns how many."""
    if writer.depth != LINE_DEPTH:
        raise ValueError(f"report lines are laid out at depth {LINE_DEPTH}")
    count = 0
    for chunk in journal.iter_chunks(_LINES_SQL, {"batch": batch_id, "currency": currency}):
        writer.text("".join(line for _, line in chunk))
        count += len(chunk)
    return count


def write_xreport(
    writer: XmlWriter,
    journal: Journal,
    config: Config,
    batch_id: int,
    *,
    full: bool,
    now: dt.datetime,
) -> None:
    """The <xreport> sections of the open batch (blocking: a worker thread):
    the totals from the journal's aggregates, a full report's lines from
    the layout table."""
    term = config.terminal
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
            write_lines(writer, journal, batch_id, currency)
            writer.close("transactions")
        totals = per_currency.get(currency, CurrencyTotals(currency))
        types = [card_type_body(t) for t in totals.ordered()]
        writer.element("totals", {"card-type": types} if types else {})
        writer.element("grand-totals", grand_totals_body(totals.grand()))
        writer.close("xreport")
