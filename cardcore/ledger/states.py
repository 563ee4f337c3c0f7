# Strategy: the money state of a journal transaction as one transition table
# (h11's _state.py is the model), each transition carrying its consequences:
# the transaction's tstatus and what happens to its queued messages. Nothing
# but the ledger (cardcore.ledger.ledger) applies it, so nothing else assigns
# `TxnRecord.state` or `tstatus`, or queues or drops a reversal or advice. The
# state says what the terminal decided; the queued messages say what the host
# (or the SBP agent) still has to be told, so that its books end consistent
# with the journal whatever happens:
#   new        -- in memory only, nothing written yet
#   online     -- the request may be at the host; what undoes it is durably
#                 queued (written before the request left)
#   authorized -- the host approved; the card has not completed yet
#   approved   -- final: approved (an offline approval has an advice queued)
#   declined   -- final: not approved and no money moved
#   cancelled  -- final: not approved; whatever reached the host is undone
#                 (client cancel, card error after going online, crash)
# Two queues matter per transaction (ISO 8583 store-and-forward practice):
#   undo -- what undoes or settles an uncertain request: a card request's
#           reversal (0400), an SBP refund's status check, a refund of SBP
#           money the terminal did not keep
#   tell -- what tells the host of an approval it has not seen: an advice (0220)
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from base.errors import CardcoreError

__all__ = [
    "APPROVED",
    "DECLINED",
    "TRANSITIONS",
    "Event",
    "IllegalTransition",
    "Queue",
    "Step",
    "TxnState",
    "step",
]


class TxnState(StrEnum):
    NEW = "new"
    ONLINE = "online"
    AUTHORIZED = "authorized"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Event(StrEnum):
    REQUEST_SENT = "request-sent"  # what undoes it queued, the request leaving
    NOT_SENT = "not-sent"  # the link says the request never left
    NO_ANSWER = "no-answer"  # no final answer: not approved for now, still in flight
    HOST_APPROVED = "host-approved"
    HOST_DECLINED = "host-declined"
    CARD_APPROVED = "card-approved"  # the final decision is approved
    CARD_DECLINED = "card-declined"  # the final decision is declined
    QUEUED = "queued"  # a cardless void: approved once its reversal is queued
    ABORTED = "aborted"  # error, cancel or crash before the final decision
    CANCELLED_AFTER_APPROVAL = "cancelled-after-approval"  # the ECR cancelled in time


class Queue(StrEnum):
    """What a transition does to one of the transaction's queued messages."""

    KEEP = "keep"
    ADD = "add"  # queue the message the caller gives
    DROP = "drop"
    RENEW = "renew"  # drop it and queue the caller's (a reversal naming the answer)


@dataclass(frozen=True)
class Step:
    state: TxnState
    tstatus: str | None = None  # None: unchanged
    reason: str | None = None  # decline reason when none is known yet
    undo: Queue = Queue.KEEP
    tell: Queue = Queue.KEEP


S, E, Q = TxnState, Event, Queue
APPROVED, DECLINED = "approved", "declined"

TRANSITIONS: dict[tuple[TxnState, Event], Step] = {
    (S.NEW, E.REQUEST_SENT): Step(S.ONLINE, undo=Q.ADD),
    # Offline approval (an advice tells the host), a cardless operation, an SBP payment.
    (S.NEW, E.CARD_APPROVED): Step(S.APPROVED, APPROVED, tell=Q.ADD),
    (S.NEW, E.QUEUED): Step(S.APPROVED, APPROVED, undo=Q.ADD),
    (S.NEW, E.CARD_DECLINED): Step(S.DECLINED, DECLINED),
    # A paid SBP QR the terminal did not keep: its refund is queued.
    (S.NEW, E.ABORTED): Step(S.CANCELLED, DECLINED, "systemerror", undo=Q.ADD),
    (S.ONLINE, E.NOT_SENT): Step(S.ONLINE, undo=Q.DROP),
    # The answer was lost or is not final (an SBP refund in progress): the
    # cash register hears "not approved", and what settles it stays queued.
    (S.ONLINE, E.NO_ANSWER): Step(S.ONLINE, DECLINED, "unabletoonline"),
    (S.ONLINE, E.HOST_APPROVED): Step(S.AUTHORIZED),
    (S.ONLINE, E.HOST_DECLINED): Step(S.DECLINED, DECLINED, "onlinedeclined", undo=Q.DROP),
    # The host could not be reached: the card decides; a request that may have
    # arrived keeps its reversal, and an approval is told by an advice (Y3).
    (S.ONLINE, E.CARD_APPROVED): Step(S.APPROVED, APPROVED, tell=Q.ADD),
    (S.ONLINE, E.CARD_DECLINED): Step(S.CANCELLED, DECLINED),
    (S.ONLINE, E.ABORTED): Step(S.CANCELLED, DECLINED, "systemerror"),
    # The host's answer is final once the card completes: nothing to undo.
    (S.AUTHORIZED, E.CARD_APPROVED): Step(S.APPROVED, APPROVED, undo=Q.DROP),
    # The host approved but the card declined or the flow ended: reverse,
    # naming the host's answer.
    (S.AUTHORIZED, E.CARD_DECLINED): Step(S.CANCELLED, DECLINED, undo=Q.RENEW),
    (S.AUTHORIZED, E.ABORTED): Step(S.CANCELLED, DECLINED, "systemerror", undo=Q.RENEW),
    # The host declined before the interruption: nothing to undo.
    (S.DECLINED, E.ABORTED): Step(S.DECLINED),
    # Approved, but the cash register cancelled before the answer went out:
    # the approval is undone, an advice not yet sent is dropped.
    (S.APPROVED, E.CANCELLED_AFTER_APPROVAL): Step(
        S.CANCELLED, DECLINED, "systemerror", undo=Q.ADD, tell=Q.DROP
    ),
}


class IllegalTransition(CardcoreError):
    """Internal error: a transaction state change that the table does not allow."""


def step(state: TxnState | str, event: Event) -> Step:
    try:
        return TRANSITIONS[(TxnState(state), event)]
    except (KeyError, ValueError):
        raise IllegalTransition(f"transaction in state {state} cannot take {event}") from None
