# Strategy: what the answers of settlement (manual «Сверка итогов») and clear
# («Очистка журнала») are made of, shared by both (service.py, clear.py): the
# manual's yymmddHHMMSS stamp, the terminal's totals as the journal records
# them, and the answer itself, whose <sreport>s come one per currency of the
# batch, the terminal's first, then by code (docs/protocol-decisions.md); a
# batch in one currency answers the manual's single <sreport>.
from __future__ import annotations

import datetime as dt

from acquirers.iso8583.messages import BatchTotals
from cardcore.connection import Answer
from cardcore.protocol.xmlcodec import Body, encode_error_stack

__all__ = ["answer", "now", "stamp", "totals_json"]


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def stamp(when: dt.datetime) -> str:
    return when.strftime("%y%m%d%H%M%S")


def totals_json(totals: BatchTotals) -> dict[str, int]:
    return {
        "debit-count": totals.debit_count,
        "debit-amount": totals.debit_amount,
        "debit-reversal-count": totals.debit_reversal_count,
        "debit-reversal-amount": totals.debit_reversal_amount,
        "credit-count": totals.credit_count,
        "credit-amount": totals.credit_amount,
        "credit-reversal-count": totals.credit_reversal_count,
        "credit-reversal-amount": totals.credit_reversal_amount,
    }


def answer(
    status: str,
    sreports: list[dict[str, str]],
    errors: list[str],
    *,
    bank_name: str | None = None,
) -> Answer:
    """The manual's answer: `status`, `bank-name` (settlement's), the
    <sreport>s in the order given, the error stack."""
    body: Body = {"status": status}
    if bank_name is not None:
        body["bank-name"] = bank_name
    if sreports:
        body["sreport"] = sreports[0] if len(sreports) == 1 else sreports
    if errors:
        body["error-stack"] = encode_error_stack(errors)
    return Answer(body)
