# Strategy: the X-report of the manual («Отчет»), tag for tag as its example
# (with DESIGN.md's reading of the two misspelt grand-total tags), written
# straight into the answer's spooled file (server: Answer.stream) from a
# worker thread:
# - totals come from the journal's per-group aggregates (totals.py has the
#   counting rules), so they cost one SQL query whatever the batch size;
# - the `t` lines of a full report are read in chunks of a few thousand rows
#   and formatted line by line, so memory stays flat for any batch;
# - one <xreport> per currency: the terminal's currency first (always there,
#   even for an empty batch), then any other currency the batch holds, in
#   code order; each with its own header `cur`, lines and totals.
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from cardcore.config import Config
from cardcore.endofday.totals import (
    CATEGORIES,
    CardTypeTotals,
    CurrencyTotals,
    report_totals,
    signed_amount,
)
from cardcore.engine.receipt import format_datetime, response_code_3
from cardcore.journal import Journal
from cardcore.protocol.xmlcodec import XmlWriter

__all__ = ["card_type_body", "format_lines", "grand_totals_body", "write_xreport"]


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


def _esc(value: str) -> str:
    return escape(value) if ("&" in value or "<" in value or ">" in value) else value


def format_lines(rows: Iterable[tuple[Any, ...]], depth: int) -> str:
    """`t` elements of Journal.iter_report_lines rows (REPORT_COLUMNS), laid
    out as XmlWriter.element would, without building a dict per line."""
    pad_t, pad = "  " * depth, "  " * (depth + 1)
    out: list[str] = []
    add = out.append
    for (
        _id, seq, _channel, _operation, receipt_type, tstatus, amount, amount_other, currency,
        masked_pan, expiry, aid, rrn, auth_code, resp_code, tvr, tsi, when,
    ) in rows:  # fmt: skip
        add(f"{pad_t}<t>\n")
        add(f"{pad}<status>{tstatus or 'declined'}</status>\n{pad}<state>active</state>\n")
        add(f"{pad}<type>{receipt_type}</type>\n{pad}<seq>{seq}</seq>\n")
        add(f"{pad}<aa>{amount:012d}</aa>\n")
        if amount_other:
            add(f"{pad}<ao>{amount_other:012d}</ao>\n")
        if rrn:
            add(f"{pad}<rrn>{_esc(rrn)}</rrn>\n")
        add(f"{pad}<time>{format_datetime(when)}</time>\n")
        if auth_code:
            add(f"{pad}<apn>{_esc(auth_code)}</apn>\n")
        if resp_code:
            add(f"{pad}<arc>{_esc(response_code_3(resp_code) or '')}</arc>\n")
        add(f"{pad}<cur>{currency}</cur>\n")
        if masked_pan:
            add(f"{pad}<pan>{_esc(masked_pan)}</pan>\n")
        if expiry:
            add(f"{pad}<aed>{_esc(expiry)}</aed>\n")
        if aid:
            add(f"{pad}<aid>{_esc(aid)}</aid>\n")
        if tvr:
            add(f"{pad}<tvr>{_esc(tvr)}</tvr>\n")
        if tsi:
            add(f"{pad}<tsi>{_esc(tsi)}</tsi>\n")
        add(f"{pad_t}</t>\n")
    return "".join(out)


def write_xreport(
    writer: XmlWriter,
    journal: Journal,
    config: Config,
    batch_id: int,
    *,
    full: bool,
    now: dt.datetime,
) -> None:
    """The <xreport> sections of the open batch (blocking: a worker thread)."""
    term = config.terminal
    groups = journal.batch_groups_sync(batch_id)
    per_currency = report_totals(groups)
    present = {g["currency"] for g in groups}
    currencies = [term.currency, *sorted(present - {term.currency})]
    for currency in currencies:
        totals = per_currency.get(currency, CurrencyTotals(currency))
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
            for chunk in journal.iter_report_lines(batch_id, currency):
                writer.text(format_lines(chunk, writer.depth))
            writer.close("transactions")
        types = [card_type_body(t) for t in totals.ordered()]
        writer.element("totals", {"card-type": types} if types else {})
        writer.element("grand-totals", grand_totals_body(totals.grand()))
        writer.close("xreport")
