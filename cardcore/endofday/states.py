# Strategy: the durable state of a settlement as one transition table
# (docs/conventions.md, 2). A row in the journal's `settlements` table carries
# it; nothing else assigns `SettlementRow.state`. The rule it enforces
# (issue 6: "a crash at any point of settlement must neither lose the batch
# nor close it twice"):
#   reconciling -- written (durably) before the first reconciliation message
#                  leaves; from then on the host may have closed its batch, so
#                  the terminal's batch is frozen (no transactions) until a
#                  later attempt learns the outcome. Every retry re-sends the
#                  same batch number and totals; the host answers a repeat of a
#                  batch it already closed with the answer that closed it.
#   passed      -- final: the host agreed; the batch was closed (archived) and
#                  the next one opened in the same commit. A row reconciles
#                  one currency: in a batch of several, a passed row of a
#                  currency settled before the last leaves the batch open but
#                  frozen, and that currency is never sent again.
#   failed      -- final: the host refused (out of balance, other codes) or
#                  surely never got the request; the batch stays open.
#   abandoned   -- final: a `clear` archived the batch while its settlement was
#                  still unresolved.
#   cleared     -- final: the row of a `clear` itself (the batch archived
#                  without the host).
from __future__ import annotations

from enum import StrEnum

from base.errors import CardcoreError

__all__ = [
    "TRANSITIONS",
    "IllegalSettlementTransition",
    "SettlementEvent",
    "SettlementState",
    "next_state",
]


class SettlementState(StrEnum):
    NEW = "new"  # in memory only
    RECONCILING = "reconciling"
    PASSED = "passed"
    FAILED = "failed"
    ABANDONED = "abandoned"
    CLEARED = "cleared"


class SettlementEvent(StrEnum):
    SENDING = "sending"  # the (next) reconciliation message is about to leave
    AGREED = "agreed"  # the host answered in balance (directly, after upload, or forced)
    REFUSED = "refused"  # the host answered and did not close its batch
    NOT_SENT = "not-sent"  # the first attempt never reached the host
    UNKNOWN = "unknown"  # a message may have reached the host; no answer
    CLEARED = "cleared"  # `clear` archived the batch


S, E = SettlementState, SettlementEvent

TRANSITIONS: dict[tuple[SettlementState, SettlementEvent], SettlementState] = {
    (S.NEW, E.SENDING): S.RECONCILING,
    (S.NEW, E.CLEARED): S.CLEARED,
    (S.RECONCILING, E.SENDING): S.RECONCILING,  # a retry of an unknown outcome
    (S.RECONCILING, E.AGREED): S.PASSED,
    (S.RECONCILING, E.REFUSED): S.FAILED,
    (S.RECONCILING, E.NOT_SENT): S.FAILED,
    (S.RECONCILING, E.UNKNOWN): S.RECONCILING,
    (S.RECONCILING, E.CLEARED): S.ABANDONED,
}


class IllegalSettlementTransition(CardcoreError):
    """Internal error: a settlement state change the table does not allow."""


def next_state(state: SettlementState | str, event: SettlementEvent) -> SettlementState:
    try:
        return TRANSITIONS[(SettlementState(state), event)]
    except (KeyError, ValueError):
        raise IllegalSettlementTransition(
            f"settlement in state {state} cannot take {event}"
        ) from None
