# Strategy: what the terminal does for its transactions at start-up, kept
# apart from the engine so that start-up does not load the EMV kernels and
# the SBP client: transactions caught by a crash between sending and
# finishing are marked not approved (their reversals are already pending,
# written before the request left; an SBP refund in flight waits for its
# queued status check instead), and store-and-forward learns how to
# deliver the SBP refunds the engine queues (the SBP code loads on first use).
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cardcore.engine.states import Event, TxnState, next_state
from cardcore.journal import CUTOVER_KIND, Pending

if TYPE_CHECKING:
    from cardcore.terminal import Terminal

__all__ = ["SBP_KINDS", "recover", "register_senders"]

log = logging.getLogger(__name__)

# Store-and-forward kinds of the SBP lane (cardcore.engine.sbp sends them).
SBP_KINDS = ("sbp-refund", "sbp-refund-check")


async def recover(terminal: Terminal) -> int:
    """Mark interrupted transactions not approved; returns their count."""
    journal = terminal.journal
    # SBP refunds in flight are settled by their queued status check instead.
    unfinished = [
        record
        for record in await journal.in_states([TxnState.ONLINE, TxnState.AUTHORIZED])
        if record.channel == "card"
    ]
    for record in unfinished:
        record.state = next_state(record.state, Event.ABORTED)
        record.tstatus = "declined"
        record.decline_reason = record.decline_reason or "systemerror"
        await journal.update(record, ["state", "tstatus", "decline_reason"])
        log.warning("seq %s was interrupted; marked not approved, reversal pending", record.seq)
    if unfinished:
        terminal.host.poke()
    return len(unfinished)


def register_senders(terminal: Terminal) -> None:
    """Let store-and-forward deliver the SBP refunds the engine queues and
    the cutovers settlements owe."""

    async def send(pending: Pending) -> bool:
        from cardcore.engine.engine import TransactionEngine

        return await TransactionEngine(terminal).sbp.send(pending)

    for kind in SBP_KINDS:
        terminal.host.senders[kind] = send

    async def send_cutover(pending: Pending) -> bool:
        from cardcore.endofday.service import EndOfDay

        return await EndOfDay(terminal).send_cutover(pending)

    terminal.host.senders[CUTOVER_KIND] = send_cutover
