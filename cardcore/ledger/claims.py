# Strategy: what a refund or a void may take off the transaction it names
# (manual «Транзакция», variants Б and В; Appendix A: alreadyreversed,
# notreversible). A refund or void is linked to its original by the journal's
# `original_id`; together they are the original's claims. The rules:
# - The claims on one transaction never exceed its amount. A claim counts
#   while it may move money: in flight (online, authorized) or approved; a
#   declined or cancelled one frees its amount again, and a refund that was
#   itself voided counts only for what is left of it.
# - A transaction that was voided is not refunded as well (alreadyreversed),
#   and one that was refunded is not voided (notreversible): a void undoes
#   the original authorisation, which a refund has already answered.
# The ledger runs the check inside the commit that records the new request
# (the journal hands over what is linked to the original, in that commit), so
# two requests racing each other cannot both pass on the same remainder; it
# is run once before as well, to refuse at once instead of after detection.
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from base.errors import CardcoreError
from cardcore.errors import InvalidArguments
from cardcore.journal import Linked

__all__ = [
    "CLAIMING_STATES",
    "AlreadyReversed",
    "Claim",
    "ClaimKind",
    "NotReversible",
    "Standing",
]

# Transaction states in which a refund or void may move money
# (cardcore.ledger.states: the request may be at the host, or it was approved).
CLAIMING_STATES = ("online", "authorized", "approved")


class AlreadyReversed(CardcoreError):
    """The transaction is already voided (or refunded in full)."""


class NotReversible(CardcoreError):
    """The transaction cannot be voided."""


class ClaimKind(StrEnum):
    REFUND = "refund"
    VOID = "void"


@dataclass(frozen=True)
class Standing:
    """A transaction and what its refunds and voids claim of it."""

    seq: str
    amount: int
    refunded: int = 0  # refunds in flight or approved, less what was voided off them
    voided: int = 0  # approved voids

    @property
    def left(self) -> int:
        return self.amount - self.refunded - self.voided

    @classmethod
    def of(cls, linked: Linked) -> Standing:
        """From the journal's sums of the rows naming the transaction."""

        def claimed(operation: str) -> int:
            return sum(
                total
                for (op, state), total in linked.sums.items()
                if op == operation and state in CLAIMING_STATES
            )

        return cls(linked.seq, linked.amount, claimed("refund"), claimed("void"))


@dataclass(frozen=True)
class Claim:
    """A refund or void of ``amount`` (None: whatever is left, a full void)."""

    kind: ClaimKind
    amount: int | None
    partial_allowed: bool = True

    def check(self, linked: Linked) -> int:
        """grant() on the journal's view of the original (Journal.create)."""
        return self.grant(Standing.of(linked))

    def grant(self, standing: Standing) -> int:
        """The amount this claim takes of ``standing``; raises the manual's
        status when the rules above refuse it."""
        seq, left = standing.seq, standing.left
        if self.kind is ClaimKind.VOID:
            if standing.refunded > 0:
                raise NotReversible(f"transaction {seq} has been refunded; it cannot be voided")
            if left <= 0:
                raise AlreadyReversed(f"transaction {seq} is already voided")
        else:
            if standing.voided > 0:
                raise AlreadyReversed(f"transaction {seq} was voided; there is nothing to refund")
            if left <= 0:
                raise AlreadyReversed(f"transaction {seq} is already refunded in full")
        amount = left if self.amount is None else self.amount
        if amount > left:
            raise InvalidArguments(
                f"the {self.kind} of {amount} exceeds the {left} left of transaction {seq}"
            )
        if amount < left and not self.partial_allowed:
            raise InvalidArguments(f"the acquirer does not allow a partial {self.kind}")
        return amount
