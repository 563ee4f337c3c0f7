# Strategy: what the terminal does for its transactions at start-up, kept
# apart from the engine so that start-up does not load the EMV kernels and
# the SBP client: transactions caught by a crash between sending and
# finishing are marked not approved (their reversals are already pending,
# written before the request left; an SBP refund in flight waits for its
# queued status check instead), and store-and-forward learns how to
# deliver the SBP refunds the engine queues (the SBP code loads on first use).
# A transaction whose final journal write failed while the terminal ran (a
# full disk) is settled the same way, by the sender's next round that the
# journal accepts (cardcore.hostlink: unfinished).
from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from cardcore.journal import CUTOVER_KIND, Pending, TxnRecord
from cardcore.ledger.states import Event, TxnState

if TYPE_CHECKING:
    from cardcore.terminal import Terminal

__all__ = ["SBP_KINDS", "recover", "register_senders", "repair"]

log = logging.getLogger(__name__)

# Store-and-forward kinds of the SBP lane (cardcore.engine.sbp sends them).
SBP_KINDS = ("sbp-refund", "sbp-refund-check")


async def recover(terminal: Terminal) -> int:
    """Mark interrupted transactions not approved; returns their count."""
    journal = terminal.journal
    unfinished = [
        record
        for record in await journal.in_states(list(_IN_FLIGHT))
        if await _settle(terminal, record)
    ]
    if unfinished:
        terminal.host.poke()
    return len(unfinished)


async def repair(terminal: Terminal, ids: set[int]) -> None:
    """The rows of transactions whose final journal write failed, settled
    as after a crash; each id is dropped from ``ids`` once done."""
    for txn_id in sorted(ids):
        record = await terminal.journal.get(txn_id)
        if record is not None:
            await _settle(terminal, record)
        ids.discard(txn_id)


# Rows the terminal may have stopped in with a request at the host.
_IN_FLIGHT = (TxnState.ONLINE, TxnState.AUTHORIZED)


async def _settle(terminal: Terminal, record: TxnRecord) -> bool:
    """A card row caught in flight becomes not approved (its reversal is
    already queued: the ledger's aborted transition keeps it); True when it
    was. SBP refunds in flight are settled by their queued status check
    instead."""
    if record.channel != "card" or record.state not in _IN_FLIGHT:
        return False
    entry = terminal.ledger.open(record)
    terminal.ledger.apply(entry, Event.ABORTED)
    await terminal.ledger.commit(entry)
    log.warning("seq %s was interrupted; marked not approved, reversal pending", record.seq)
    return True


def register_senders(terminal: Terminal) -> None:
    """Let store-and-forward deliver the SBP refunds the engine queues and
    the cutovers settlements owe, and settle transactions whose last journal
    write failed."""

    terminal.host.repair = functools.partial(repair, terminal)

    async def send(pending: Pending) -> bool:
        from cardcore.engine.flow import Till
        from cardcore.engine.sbp import SbpFlows

        return await SbpFlows(Till(terminal)).send(pending)

    for kind in SBP_KINDS:
        terminal.host.senders[kind] = send

    async def send_cutover(pending: Pending) -> bool:
        from cardcore.endofday.service import EndOfDay

        return await EndOfDay(terminal).send_cutover(pending)

    terminal.host.senders[CUTOVER_KIND] = send_cutover
