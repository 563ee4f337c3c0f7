# Strategy: `clear` (manual «Очистка журнала»): the open batch is archived
# without the host, then the cutover (0800, 201) ends the host's business day.
# - One commit (Journal.clear_batch) archives the batch, ends any unresolved
#   settlement of it (`abandoned`) and records a `clear` row per currency of
#   the acquirer's batch (totals.py, 3.: the terminal's first, then by code),
#   each with that currency's totals and sreport. Pending reversals and
#   advices are kept: they still reach the host.
# - The answer is the manual's <sreport>: `resp-code`, `approval-number`,
#   `rrn` of the cutover, `orig-amount` (the terminal's net), `amount` (the
#   host's net), `datetime`, `tid`, `mid`. A batch in several currencies
#   answers an <sreport> per currency, as settlement does, each with its own
#   amounts and with `cur` after `mid` where settlement's sreport has it; the
#   cutover is one exchange for the whole day, so its fields are in each. A
#   batch in one currency answers the manual's single <sreport>, without
#   `cur` (docs/protocol-decisions.md).
# - The cutover's totals are the host's in the currency its answer names
#   (field 50; a terminal that takes several currencies asks for its own,
#   one of a single currency sends the plain 0800): `amount` is only in that
#   currency's sreport. An answer that names none is believed only for a
#   batch in one currency: it may add up every currency the host holds.
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from acquirers.errors import AcquirerError
from acquirers.iso8583.messages import NetworkResponse
from acquirers.link import AcquirerLink
from cardcore.connection import Answer
from cardcore.endofday import answers
from cardcore.endofday import totals as rules
from cardcore.endofday.states import SettlementEvent as Event
from cardcore.endofday.states import SettlementState as State
from cardcore.endofday.states import next_state
from cardcore.engine.receipt import response_code_3
from cardcore.terminal import Terminal

__all__ = ["clear_journal", "host_amounts", "run_cutover"]

log = logging.getLogger(__name__)


async def run_cutover(
    terminal: Terminal, link: AcquirerLink
) -> tuple[NetworkResponse | None, str | None]:
    """The cutover and what went wrong with it: no answer (None), or refused.
    A terminal that takes several currencies asks for the host's totals in
    its own; one of a single currency sends the plain 0800."""
    config = terminal.config
    currency = config.terminal.currency if config.acquirer.currencies else None
    try:
        answer = await link.cutover(currency)
    except AcquirerError as exc:
        return None, f"cutover failed: {exc.message}"
    if not answer.approved:
        return answer, f"cutover refused by the host ({answer.response_code})"
    return answer, None


def host_amounts(cutover: NetworkResponse | None, currencies: list[str]) -> dict[str, str]:
    """The host's net of the cutover's answer, by the currency it is in."""
    if cutover is None or cutover.totals is None:
        return {}
    currency = cutover.totals_currency
    if currency is None:
        if len(currencies) != 1:
            return {}
        currency = currencies[0]
    return {currency: rules.signed_amount(cutover.totals.net)}


def cutover_sreport(
    recorded: dict[str, str], cutover: NetworkResponse | None, amount: str | None
) -> dict[str, str]:
    """One currency's sreport: what was recorded with the clear (the
    terminal's side) and the cutover's answer, in the manual's order:
    resp-code, approval-number, rrn, orig-amount, amount, datetime, tid, mid."""
    sreport: dict[str, str] = {}
    if cutover is not None:
        sreport["resp-code"] = response_code_3(cutover.response_code) or ""
        if cutover.approved and cutover.approval_number:
            sreport["approval-number"] = cutover.approval_number
        if cutover.rrn:
            sreport["rrn"] = cutover.rrn
    sreport["orig-amount"] = recorded["orig-amount"]
    if amount is not None:
        sreport["amount"] = amount
    sreport.update(recorded)
    return sreport


async def clear_journal(terminal: Terminal, checkpoint: Callable[[str], Awaitable[None]]) -> Answer:
    """`clear`; ``checkpoint`` is called once the batch is archived (where the
    tests stop it)."""
    journal, host = terminal.journal, terminal.host
    batch_id, number = await journal.open_batch()
    link = host.link
    groups = await journal.batch_groups(batch_id)
    approved = rules.host_approved(link)
    term = terminal.config.terminal
    currencies = rules.batch_currencies(term.currency, groups, approved)
    summaries = {c: rules.host_summary(groups, approved, c) for c in currencies}
    when = answers.stamp(answers.now())
    recorded: dict[str, dict[str, str]] = {}
    for currency in currencies:
        recorded[currency] = {
            "orig-amount": rules.signed_amount(summaries[currency].totals.net),
            "datetime": when,
            "tid": term.tid or "",
            "mid": term.mid or "",
        }
        if len(currencies) > 1:
            recorded[currency]["cur"] = currency
    row_ids, _ = await journal.clear_batch(
        batch_id,
        state=next_state(State.NEW, Event.CLEARED),
        abandon_state=next_state(State.RECONCILING, Event.CLEARED),
        parts=[(c, answers.totals_json(summaries[c].totals), recorded[c]) for c in currencies],
    )
    log.warning("journal cleared: batch %06d archived without settlement", number)
    await checkpoint("cleared")
    errors: list[str] = []
    cutover: NetworkResponse | None = None
    if link is None:
        errors.append("journal cleared; cutover not done: no acquirer host configured")
    else:
        cutover, error = await run_cutover(terminal, link)
        if error:
            errors.append(f"journal cleared; {error}")
    amounts = host_amounts(cutover, currencies)
    sreports = []
    for currency, row_id in zip(currencies, row_ids, strict=True):
        sreport = cutover_sreport(recorded[currency], cutover, amounts.get(currency))
        await journal.annotate_settlement(row_id, sreport)
        sreports.append(sreport)
    status = "ok"
    if errors:
        status = "failed" if cutover is not None else "communicationerror"
    return answers.answer(status, sreports, errors)
