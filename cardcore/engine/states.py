# Strategy: the money state of a journal transaction as one transition table
# (DESIGN.md convention 2; h11's _state.py is the model). Nothing else assigns
# `TxnRecord.state`. The state says what the terminal decided; the journal's
# pending messages (reversals, advices) say what the host still has to be
# told, so that the host ledger ends consistent whatever happens:
#   new        -- in memory only, nothing written yet
#   online     -- the financial request may be at the host; its reversal is
#                 durably pending (written before the request left)
#   authorized -- the host approved; the card has not completed yet; the
#                 reversal stays pending
#   approved   -- final: approved (an offline approval has an advice pending)
#   declined   -- final: not approved and no money moved
#   cancelled  -- final: not approved; whatever reached the host is reversed
#                 (client cancel, card error after going online, crash)
from __future__ import annotations

from enum import StrEnum

from kernel.errors import CardcoreError

__all__ = ["TRANSITIONS", "Event", "IllegalTransition", "TxnState", "next_state"]


class TxnState(StrEnum):
    NEW = "new"
    ONLINE = "online"
    AUTHORIZED = "authorized"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Event(StrEnum):
    REQUEST_SENT = "request-sent"  # reversal stored, request leaving
    HOST_APPROVED = "host-approved"
    HOST_DECLINED = "host-declined"
    CARD_APPROVED = "card-approved"  # the final decision is approved
    CARD_DECLINED = "card-declined"  # the final decision is declined
    ABORTED = "aborted"  # error, cancel or crash before the final decision
    CANCELLED_AFTER_APPROVAL = "cancelled-after-approval"  # the ECR cancelled in time


S, E = TxnState, Event

TRANSITIONS: dict[tuple[TxnState, Event], TxnState] = {
    (S.NEW, E.REQUEST_SENT): S.ONLINE,
    (S.NEW, E.CARD_APPROVED): S.APPROVED,  # offline approval, or a cardless operation
    (S.NEW, E.CARD_DECLINED): S.DECLINED,
    (S.NEW, E.ABORTED): S.CANCELLED,
    (S.ONLINE, E.HOST_APPROVED): S.AUTHORIZED,
    (S.ONLINE, E.HOST_DECLINED): S.DECLINED,
    # The host could not be reached: the card decides (unable-to-go-online path).
    (S.ONLINE, E.CARD_APPROVED): S.APPROVED,
    (S.ONLINE, E.CARD_DECLINED): S.CANCELLED,
    (S.ONLINE, E.ABORTED): S.CANCELLED,
    (S.AUTHORIZED, E.CARD_APPROVED): S.APPROVED,
    (S.AUTHORIZED, E.CARD_DECLINED): S.CANCELLED,
    (S.AUTHORIZED, E.ABORTED): S.CANCELLED,
    (S.APPROVED, E.CANCELLED_AFTER_APPROVAL): S.CANCELLED,
}


class IllegalTransition(CardcoreError):
    """Internal error: a transaction state change that the table does not allow."""

    status = "systemerror"


def next_state(state: TxnState | str, event: Event) -> TxnState:
    try:
        return TRANSITIONS[(TxnState(state), event)]
    except (KeyError, ValueError):
        raise IllegalTransition(f"transaction in state {state} cannot take {event}") from None
