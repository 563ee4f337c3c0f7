# Strategy: the SBP agent simulator's books, sans-I/O: every QR registered,
# what the simulated customer did with it, and every refund, with amounts in
# kopecks. Time comes in as an argument (`now`, trio's clock in the server,
# so tests can use a virtual clock); wall-clock dates only label records.
# QR states change in one place, through the transition table below
# (docs/conventions.md, 2); records are immutable values replaced on change,
# so snapshots handed out never move.
#
#   NEW --scan--> PROCESSING --pay--> PAID
#                            --reject--> REJECTED
#   NEW --cancel--> CANCELLED         NEW --expire--> EXPIRED
#
# Refunds follow the agent API's rules (api.py): a refund names a PAID
# operation by transactionId (or order); the sum of refunds never exceeds the
# payment (ERROR.REFUND_INSUFFICIENT_FUNDS); repeating a refundId with the
# same operation and amount is idempotent and answers the first refund;
# reusing it for anything else is ERROR.INVALID_REQUEST.
from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from acquirers.sbp.api import PaymentStatus, RefundStatus
from acquirers.sbp.errors import SbpAgentError

__all__ = ["QrRecord", "QrState", "RefundRecord", "SbpLedger", "SimMode"]


class SimMode(StrEnum):
    """What the simulated customer does with a QR (`cardcore sim sbp MODE`)."""

    PAY = "pay"
    REJECT = "reject"
    NONE = "none"  # never scans it


class QrState(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    PAID = "paid"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TRANSITIONS: dict[tuple[QrState, str], QrState] = {
    (QrState.NEW, "scan"): QrState.PROCESSING,
    (QrState.PROCESSING, "pay"): QrState.PAID,
    (QrState.PROCESSING, "reject"): QrState.REJECTED,
    (QrState.NEW, "cancel"): QrState.CANCELLED,
    (QrState.NEW, "expire"): QrState.EXPIRED,
}

PAYMENT_STATUS: dict[QrState, PaymentStatus] = {
    QrState.NEW: PaymentStatus.NO_INFO,
    QrState.PROCESSING: PaymentStatus.IN_PROGRESS,
    QrState.PAID: PaymentStatus.SUCCESS,
    QrState.REJECTED: PaymentStatus.DECLINED,
    QrState.CANCELLED: PaymentStatus.NO_INFO,
    QrState.EXPIRED: PaymentStatus.NO_INFO,
}


@dataclass(frozen=True, slots=True)
class QrRecord:
    qrc_id: str
    order: str
    amount: int
    merchant_id: str
    terminal_id: str | None
    payload: str
    created_at: float
    expires_at: float
    create_date: str
    expiration_date: str
    state: QrState = QrState.NEW
    outcome: SimMode | None = None
    scanned_at: float | None = None
    operation_id: int | None = None
    transaction_date: str | None = None

    @property
    def payment_status(self) -> PaymentStatus:
        return PAYMENT_STATUS[self.state]


@dataclass(frozen=True, slots=True)
class RefundRecord:
    refund_id: str
    qrc_id: str
    operation_id: int
    amount: int
    requested_at: float
    completes_at: float
    status: RefundStatus


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _error(code: str, message: str) -> SbpAgentError:
    return SbpAgentError.from_code(code, message)


class SbpLedger:
    """The simulator's operations: QRs, payments, refunds (amounts in kopecks).

    ``first_operation_id`` starts the transactionId counter; by default it is
    taken from the wall clock so that ids differ between runs, and stays
    within 12 digits (the ECR `rrn`).
    """

    def __init__(
        self,
        *,
        first_operation_id: int | None = None,
        wall_clock: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        self._qrs: dict[str, QrRecord] = {}
        self._refunds: dict[str, RefundRecord] = {}
        self._next_operation = first_operation_id or int(time.time() * 10) % 10**11
        self._wall = wall_clock

    # --- queries --------------------------------------------------------------

    def qr(self, qrc_id: str) -> QrRecord:
        try:
            return self._qrs[qrc_id]
        except KeyError:
            raise _error("ERROR.NOT_FOUND", "QR-код не найден у данного партнера") from None

    def records(self) -> tuple[QrRecord, ...]:
        return tuple(self._qrs.values())

    def refunds(self) -> tuple[RefundRecord, ...]:
        return tuple(self._refunds.values())

    def by_operation(self, operation_id: int) -> QrRecord | None:
        for record in self._qrs.values():
            if record.operation_id == operation_id:
                return record
        return None

    def refunded(self, qrc_id: str) -> int:
        """Kopecks refunded (or being refunded) against a QR's payment."""
        return sum(
            r.amount
            for r in self._refunds.values()
            if r.qrc_id == qrc_id and r.status is not RefundStatus.DECLINED
        )

    @property
    def paid_total(self) -> int:
        return sum(r.amount for r in self._qrs.values() if r.state is QrState.PAID)

    @property
    def refunded_total(self) -> int:
        return sum(
            r.amount for r in self._refunds.values() if r.status is not RefundStatus.DECLINED
        )

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of the books (for the control API and logs)."""
        return {
            "qrs": [
                {
                    "qrId": r.qrc_id,
                    "order": r.order,
                    "amount": r.amount,
                    "state": r.state.value,
                    "operationId": r.operation_id,
                    "refunded": self.refunded(r.qrc_id),
                }
                for r in self._qrs.values()
            ],
            "refunds": [
                {
                    "refundId": r.refund_id,
                    "qrId": r.qrc_id,
                    "operationId": r.operation_id,
                    "amount": r.amount,
                    "status": r.status.value,
                }
                for r in self._refunds.values()
            ],
            "paidTotal": self.paid_total,
            "refundedTotal": self.refunded_total,
        }

    # --- changes --------------------------------------------------------------

    def _apply(self, record: QrRecord, event: str, **changes: Any) -> QrRecord:
        """The only place a QR changes state."""
        target = TRANSITIONS.get((record.state, event))
        if target is None:
            raise ValueError(f"no transition {record.state.value} --{event}-->")
        updated = dataclasses.replace(record, state=target, **changes)
        self._qrs[record.qrc_id] = updated
        return updated

    def register(
        self,
        *,
        qrc_id: str,
        order: str,
        amount: int,
        merchant_id: str,
        terminal_id: str | None,
        payload: str,
        now: float,
        lifetime: float,
    ) -> QrRecord:
        if qrc_id in self._qrs:
            raise ValueError("QR id already registered")
        if any(r.order == order and r.state is QrState.PAID for r in self._qrs.values()):
            raise _error(
                "ERROR.ORDER_NUMBER_ALREADY_REGISTERED",
                f"QR-код с номером заказа {order} и успешными платежами уже зарегистрирован",
            )
        wall = self._wall()
        record = QrRecord(
            qrc_id=qrc_id,
            order=order,
            amount=amount,
            merchant_id=merchant_id,
            terminal_id=terminal_id,
            payload=payload,
            created_at=now,
            expires_at=now + lifetime,
            create_date=wall.isoformat(),
            expiration_date=(wall + datetime.timedelta(seconds=lifetime)).isoformat(
                timespec="seconds"
            ),
        )
        self._qrs[qrc_id] = record
        return record

    def advance(
        self,
        qrc_id: str,
        *,
        now: float,
        mode: SimMode,
        pay_delay: float,
        confirm_delay: float = 0.0,
    ) -> QrRecord:
        """Let the simulated customer act on a QR, as of ``now``.

        ``pay_delay`` seconds after registration a customer in mode pay or
        reject scans the QR; ``confirm_delay`` later the payment is paid or
        rejected. In mode none nobody scans. A QR past its lifetime expires
        unless it was scanned.
        """
        mode = SimMode(mode)
        record = self.qr(qrc_id)
        if record.state is QrState.NEW:
            if now >= record.expires_at:
                return self._apply(record, "expire")
            if mode is not SimMode.NONE and now >= record.created_at + pay_delay:
                record = self._apply(record, "scan", scanned_at=now, outcome=mode)
        if (
            record.state is QrState.PROCESSING
            and record.scanned_at is not None
            and now >= record.scanned_at + confirm_delay
        ):
            if record.outcome is SimMode.PAY:
                operation_id = self._next_operation
                self._next_operation += 1
                record = self._apply(
                    record,
                    "pay",
                    operation_id=operation_id,
                    transaction_date=self._wall().isoformat(),
                )
            else:
                record = self._apply(record, "reject")
        return record

    def cancel(self, qrc_id: str) -> QrRecord:
        """Make a QR unpayable if nobody has scanned it; answers its record."""
        record = self.qr(qrc_id)
        if record.state is QrState.NEW:
            record = self._apply(record, "cancel")
        return record

    def refund(
        self,
        *,
        refund_id: str,
        amount: int,
        operation_id: int | None,
        order: str | None,
        now: float,
        delay: float = 0.0,
    ) -> RefundRecord:
        if amount < 1:
            raise _error("ERROR.INVALID_REQUEST", "Сумма возврата не может быть меньше 1 копейки")
        target = self._refund_target(operation_id, order)
        existing = self._refunds.get(refund_id)
        if existing is not None:
            if (
                target is not None
                and existing.qrc_id == target.qrc_id
                and existing.amount == amount
            ):
                return self.refund_info(refund_id, now=now)
            raise _error("ERROR.INVALID_REQUEST", f"refundId {refund_id} уже использован")
        if target is None:
            raise _error("ERROR.NOT_FOUND", "Платеж не найден")
        if target.state is not QrState.PAID or target.operation_id is None:
            raise _error("ERROR.NOT_FOUND", "QR не был оплачен")
        if self.refunded(target.qrc_id) + amount > target.amount:
            raise _error(
                "ERROR.REFUND_INSUFFICIENT_FUNDS", "Сумма возврата больше суммы остатка по платежу"
            )
        record = RefundRecord(
            refund_id=refund_id,
            qrc_id=target.qrc_id,
            operation_id=target.operation_id,
            amount=amount,
            requested_at=now,
            completes_at=now + delay,
            status=RefundStatus.COMPLETED if delay <= 0 else RefundStatus.IN_PROGRESS,
        )
        self._refunds[refund_id] = record
        return record

    def refund_info(self, refund_id: str, *, now: float) -> RefundRecord:
        record = self._refunds.get(refund_id)
        if record is None:
            raise _error("ERROR.REFUND_NOT_FOUND", f"Возврат с refundId {refund_id} не найден")
        if record.status is RefundStatus.IN_PROGRESS and now >= record.completes_at:
            record = dataclasses.replace(record, status=RefundStatus.COMPLETED)
            self._refunds[refund_id] = record
        return record

    def _refund_target(self, operation_id: int | None, order: str | None) -> QrRecord | None:
        if operation_id is None and order is None:
            raise _error("ERROR.INVALID_REQUEST", "Не передан обязательный параметр")
        by_operation = None if operation_id is None else self.by_operation(operation_id)
        if order is None:
            return by_operation
        by_order = [r for r in self._qrs.values() if r.order == order]
        paid = [r for r in by_order if r.state is QrState.PAID]
        chosen = paid[0] if paid else (by_order[0] if by_order else None)
        if operation_id is not None and chosen is not by_operation:
            raise _error(
                "ERROR.INVALID_REQUEST", "order и transactionId относятся к разным платежам"
            )
        return chosen
