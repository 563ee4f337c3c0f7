# Strategy: the SBP agent's JSON API, as data (docs/conventions.md, 3). The
# vectors (tests/vectors/sbp.txt §2) leave the choice of agent API open; this
# follows the public Raiffeisen SBP API v1 (ecom-API sbp.yml), the one the
# vectors document best:
#
#   POST   /api/sbp/v1/qr/register          RegisterQr   -> QrResponse
#   GET    /api/sbp/v1/qr/{qrId}/info                    -> QrResponse
#   GET    /api/sbp/v1/qr/{qrId}/payment-info            -> PaymentInfoResponse
#   POST   /api/sbp/v1/refund               RefundRequest -> RefundResponse
#   GET    /api/sbp/v1/refund/{refundId}                 -> RefundResponse
#   DELETE /api/sbp/v1/qr/{qrId}                         -> PaymentInfoResponse  (extension)
#
# Every answer carries `code`: "SUCCESS" or an error code ("ERROR.NOT_FOUND",
# "ERROR.INVALID_REQUEST", "ERROR.REFUND_INSUFFICIENT_FUNDS", ...) with a
# `message`. Amounts are JSON numbers in roubles with up to two decimals
# (BigDecimal in the original); everything inside cardcore is integer minor
# units and the conversion below is exact or refuses. paymentStatus is one of
# SUCCESS, DECLINED, NO_INFO, IN_PROGRESS; refundStatus one of IN_PROGRESS,
# COMPLETED, DECLINED. `Authorization: Bearer <secret>` when configured.
#
# Extensions, all optional for an agent: `terminalId` in the registration
# (the SBP terminal id, as terminal-side agents such as T-Bank QRPay's terId
# expect) and DELETE of a QR, which makes an unpaid QR unpayable and answers
# its final payment info (so a terminal whose customer paid by card can make
# sure the QR shown a moment ago will not be paid as well). `transactionId`,
# an integer, is the SBP operation id the terminal prints as `rrn` and refunds
# by; the simulator keeps it within 12 digits to fit the ECR `rrn` field.
from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec

from acquirers.sbp.errors import SbpProtocolError

__all__ = [
    "CANCEL_PATH",
    "PAYMENT_INFO_PATH",
    "QR_INFO_PATH",
    "REFUND_INFO_PATH",
    "REFUND_PATH",
    "REGISTER_PATH",
    "SUCCESS",
    "ErrorResponse",
    "PaymentInfoResponse",
    "PaymentStatus",
    "QrResponse",
    "RefundRequest",
    "RefundResponse",
    "RefundStatus",
    "RegisterQr",
    "minor_units",
    "roubles",
]

REGISTER_PATH = "/api/sbp/v1/qr/register"
QR_INFO_PATH = "/api/sbp/v1/qr/{qrId}/info"
PAYMENT_INFO_PATH = "/api/sbp/v1/qr/{qrId}/payment-info"
CANCEL_PATH = "/api/sbp/v1/qr/{qrId}"
REFUND_PATH = "/api/sbp/v1/refund"
REFUND_INFO_PATH = "/api/sbp/v1/refund/{refundId}"

SUCCESS = "SUCCESS"


class PaymentStatus(StrEnum):
    SUCCESS = "SUCCESS"
    DECLINED = "DECLINED"
    NO_INFO = "NO_INFO"
    IN_PROGRESS = "IN_PROGRESS"

    @property
    def final(self) -> bool:
        return self in (PaymentStatus.SUCCESS, PaymentStatus.DECLINED)


class RefundStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"

    @property
    def final(self) -> bool:
        return self is not RefundStatus.IN_PROGRESS


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    pass


class RegisterQr(_Wire):
    # No default: omit_defaults would drop it from the wire.
    qr_type: str
    sbp_merchant_id: str | None = None
    order: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    qr_expiration_date: str | None = None
    payment_details: str | None = None
    additional_info: str | None = None
    terminal_id: str | None = None


class QrResponse(_Wire):
    code: str
    message: str | None = None
    qr_id: str | None = None
    payload: str | None = None
    qr_url: str | None = None


class PaymentInfoResponse(_Wire):
    code: str
    message: str | None = None
    qr_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    order: str | None = None
    payment_status: PaymentStatus | None = None
    transaction_id: int | None = None
    transaction_date: str | None = None
    create_date: str | None = None
    qr_expiration_date: str | None = None
    sbp_merchant_id: str | None = None
    additional_info: str | None = None
    payment_purpose: str | None = None


class RefundRequest(_Wire):
    amount: Decimal
    refund_id: str
    order: str | None = None
    transaction_id: int | None = None
    sbp_merchant_id: str | None = None
    payment_details: str | None = None


class RefundResponse(_Wire):
    code: str
    message: str | None = None
    amount: Decimal | None = None
    refund_status: RefundStatus | None = None


class ErrorResponse(_Wire):
    code: str
    message: str | None = None


# JSON numbers for Decimal amounts, as the API documents them.
ENCODER = msgspec.json.Encoder(decimal_format="number")


def roubles(minor: int) -> Decimal:
    """Minor units (kopecks) as a rouble Decimal with two places: 12300 -> 123.00."""
    return Decimal(minor).scaleb(-2)


def minor_units(amount: Decimal) -> int:
    """A rouble amount from the wire as kopecks, exactly, or SbpProtocolError."""
    if not amount.is_finite() or amount < 0 or amount.adjusted() > 14:
        raise SbpProtocolError(f"amount {amount} out of range")
    kopecks = amount.scaleb(2)
    if kopecks != kopecks.to_integral_value():
        raise SbpProtocolError(f"amount {amount} has fractions of a kopeck")
    return int(kopecks)
