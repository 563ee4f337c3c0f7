# Strategy: what counts where at the end of the day, in one place. Two views
# of the open batch are computed from the journal's per-group aggregates
# (Journal.batch_groups: one row per group, so memory does not grow with the
# batch) and, for the batch upload, from its rows streamed in order.
#
# 1. The X-report of the manual («Отчет»): the merchant's view.
#    - A row counts when its tstatus is `approved` (the engine sets it only
#      with a final approval). Declined rows, and rows cancelled after the
#      fact (reversed automatically: card declined after the host approved,
#      cash register cancelled, crash; their tstatus is `declined`), are
#      listed in the full report but counted nowhere.
#    - Category by receipt type and operation: purchasereversal -> purchase-
#      reversal, refundreversal -> refund-reversal (a void is its own row with
#      the amount it took off; the original still counts as the purchase or
#      refund it was), operation purchase-with-cashback -> purchase-with-
#      cashback, else refund or purchase.
#    - Sums are the amounts authorised: a purchase with cashback counts with
#      its amount including the cashback (what the card was debited).
#    - total-card-sum = purchases + purchases with cashback + refund reversals
#      - refunds - purchase reversals, 'D' + 12 digits when >= 0 (money to the
#      merchant), else 'C'; total-card-count = the five counts added up.
#    - Card type = the scheme's RID and name (engine.receipt.SCHEMES); card
#      rows without an AID (manual entry) go under rid "" and their scheme
#      name or OTHER. SBP rows (channel sbp) count by the same rules under
#      their own card type: rid "" and name SBP. They are in the report and in
#      the grand totals, but not in the acquirer's reconciliation (the SBP
#      agent settles them itself).
#    - One section per currency.
# 2. The acquirer's batch totals (ISO 8583 0500, messages.BatchTotals): what
#    the host has booked, as far as the terminal can know. Card rows of
#    operation purchase / purchase-with-cashback (debits) and refund
#    (credits): approved ones with the amount voided off them since as their
#    reversed amount; and rows that the host approved but that ended
#    cancelled (the terminal reversed them) as wholly reversed. Void rows are
#    not records of their own: the host applies them to the original. A row
#    whose request got no answer and ended cancelled is not counted: if the
#    host booked it anyway, the totals disagree and the batch upload settles
#    it.
# 3. The currencies of the acquirer's batch, in the order settlement and
#    `clear` take them: the terminal's (always, even for an empty batch),
#    then every other one the host booked card transactions in, by code.
#    Amounts in different currencies are never added up: every total of the
#    acquirer's view is of one currency.
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acquirers.errors import MessageBuildError
from acquirers.iso8583 import response_codes
from acquirers.iso8583.dialect import Conventions
from acquirers.iso8583.messages import BatchRecord, BatchTotals, TxnType
from acquirers.link import AcquirerLink
from cardcore import hostmessages
from cardcore.hostmessages import HOST_TYPES
from cardcore.journal import TxnRecord

__all__ = [
    "CATEGORIES",
    "SBP_CARD_TYPE",
    "CardTypeTotals",
    "CurrencyTotals",
    "HostSummary",
    "batch_currencies",
    "batch_record",
    "host_approved",
    "host_summary",
    "host_type",
    "report_category",
    "report_totals",
    "signed_amount",
]

CATEGORIES = (
    "purchase",
    "refund",
    "purchase-with-cashback",
    "purchase-reversal",
    "refund-reversal",
)
# +1: money to the merchant ('D'), -1: money back to the cardholder ('C').
SIGNS = {
    "purchase": 1,
    "refund": -1,
    "purchase-with-cashback": 1,
    "purchase-reversal": -1,
    "refund-reversal": 1,
}
SBP_CARD_TYPE = ("", "SBP")
OTHER = "OTHER"


def signed_amount(value: int) -> str:
    """The manual's balance: 'D' (plus) or 'C' (minus) and 12 digits."""
    return ("D" if value >= 0 else "C") + f"{abs(value):012d}"


def report_category(operation: str, receipt_type: str) -> str | None:
    if receipt_type == "purchasereversal":
        return "purchase-reversal"
    if receipt_type == "refundreversal":
        return "refund-reversal"
    if operation == "purchase-with-cashback":
        return "purchase-with-cashback"
    if receipt_type == "refund":
        return "refund"
    if receipt_type == "purchase":
        return "purchase"
    return None


def card_type(channel: str, scheme_rid: str, scheme_name: str) -> tuple[str, str]:
    if channel == "sbp":
        return SBP_CARD_TYPE
    return scheme_rid, scheme_name or scheme_rid or OTHER


@dataclass
class CardTypeTotals:
    rid: str
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    def add(self, category: str, count: int, amount: int) -> None:
        self.counts[category] += count
        self.sums[category] += amount

    def merge(self, other: CardTypeTotals) -> None:
        for category in CATEGORIES:
            self.add(category, other.counts[category], other.sums[category])

    @property
    def total_sum(self) -> int:
        return sum(SIGNS[c] * self.sums[c] for c in CATEGORIES)

    @property
    def total_count(self) -> int:
        return sum(self.counts.values())


@dataclass
class CurrencyTotals:
    currency: str
    card_types: dict[tuple[str, str], CardTypeTotals] = field(default_factory=dict)

    def ordered(self) -> list[CardTypeTotals]:
        """Card schemes by RID, cards without a RID next, SBP last."""
        return sorted(
            self.card_types.values(),
            key=lambda t: ((t.rid, t.name) == SBP_CARD_TYPE, t.rid == "", t.rid, t.name),
        )

    def grand(self) -> CardTypeTotals:
        total = CardTypeTotals("", "")
        for one in self.card_types.values():
            total.merge(one)
        return total


def report_totals(groups: Iterable[Mapping[str, Any]]) -> dict[str, CurrencyTotals]:
    """The X-report totals per currency from Journal.batch_groups rows."""
    out: dict[str, CurrencyTotals] = {}
    for g in groups:
        if g["tstatus"] != "approved":
            continue
        category = report_category(g["operation"], g["receipt_type"])
        if category is None:
            continue
        per = out.setdefault(g["currency"], CurrencyTotals(g["currency"]))
        key = card_type(g["channel"], g["scheme_rid"], g["scheme_name"])
        totals = per.card_types.setdefault(key, CardTypeTotals(*key))
        totals.add(category, int(g["count"]), int(g["amount"] or 0))
    return out


# ---------------------------------------------------------------- the acquirer's view
def host_approved(link: AcquirerLink | None) -> Callable[[str], bool]:
    """Whether a response code is an approval, by the link's dialect (with no
    acquirer configured: 00 only)."""
    if link is None:
        return lambda code: code == "00"
    table = link.dialect.response_codes
    return lambda code: response_codes.lookup(code, table).approved


def host_type(
    channel: str,
    operation: str,
    tstatus: str | None,
    state: str,
    resp_code: str | None,
    host_approved: Callable[[str], bool],
) -> tuple[TxnType, bool] | None:
    """(type, wholly reversed) of a row as the host books it, or None when it
    is not a record of the acquirer's batch."""
    kind = HOST_TYPES.get(operation)
    if channel != "card" or kind is None:
        return None
    if tstatus == "approved":
        return kind, False
    if state == "cancelled" and resp_code and host_approved(resp_code):
        return kind, True
    return None


@dataclass(frozen=True)
class HostSummary:
    """The terminal's totals for the host and the period they cover."""

    totals: BatchTotals
    first: str | None  # ISO datetimes of the first and last transaction counted
    last: str | None

    @property
    def count(self) -> int:
        return self.totals.count


def batch_currencies(
    own: str, groups: Iterable[Mapping[str, Any]], host_approved: Callable[[str], bool]
) -> list[str]:
    """The currencies of the acquirer's batch, in order (3. above)."""
    others = {
        g["currency"]
        for g in groups
        if g["currency"] != own
        and host_type(
            g["channel"], g["operation"], g["tstatus"], g["state"], g["resp_code"], host_approved
        )
        is not None
    }
    return [own, *sorted(others)]


def host_summary(
    groups: Iterable[Mapping[str, Any]], host_approved: Callable[[str], bool], currency: str
) -> HostSummary:
    """The terminal's totals for the host in ``currency``."""
    acc = [0] * 8  # debit n/amt, debit rev n/amt, credit n/amt, credit rev n/amt
    first: str | None = None
    last: str | None = None
    for g in groups:
        if g["currency"] != currency:
            continue
        found = host_type(
            g["channel"], g["operation"], g["tstatus"], g["state"], g["resp_code"], host_approved
        )
        if found is None:
            continue
        kind, whole = found
        base = 0 if kind.is_debit else 4
        count, amount = int(g["count"]), int(g["amount"] or 0)
        acc[base] += count
        acc[base + 1] += amount
        if whole:
            acc[base + 2] += count
            acc[base + 3] += amount
        else:
            acc[base + 2] += int(g["reversed_count"] or 0)
            acc[base + 3] += int(g["reversed"] or 0)
        first = g["first"] if first is None or g["first"] < first else first
        last = g["last"] if last is None or g["last"] > last else last
    return HostSummary(BatchTotals(*acc), first, last)


def batch_record(
    record: TxnRecord,
    pan: str | None,
    host_approved: Callable[[str], bool],
    conv: Conventions,
) -> BatchRecord | None:
    """The batch upload record (0320) of a journal row, or None when the row is
    not in the acquirer's batch. MessageBuildError when a row that is cannot
    be uploaded (no card data kept). What it says of the original message
    (its MTI, response and approval codes) is cardcore.hostmessages'."""
    found = host_type(
        record.channel, record.operation, record.tstatus, record.state, record.resp_code,
        host_approved,
    )  # fmt: skip
    if found is None:
        return None
    kind, whole = found
    if pan is None or record.stan is None:
        raise MessageBuildError(f"transaction {record.seq}: no card data kept for the upload")
    return hostmessages.batch_record(record, pan, conv, kind, whole=whole)
