# Strategy: the SBP branch of the card-detection race (manual §«Система
# быстрых платежей»; issue 5). Register a dynamic QR for the amount, report
# its payload URL at once (the engine sends `displayqrcode` show), then poll
# the payment status every `poll_interval` seconds until the agent says paid
# (SUCCESS) or rejected (DECLINED). The manual's three endings map to three
# result types:
#   SbpPaid      -> hide the QR, stop card detection, answer the transaction;
#   SbpRejected  -> hide the QR, stop card detection, answer "declined";
#   SbpFailed    -> a status poll failed (or registration did): hide the QR
#                   if it was shown (`qr` is not None) and let card detection
#                   go on until its own timeout.
# The helper has no deadline of its own: the engine's detection timeout or a
# card winning the race cancels it. It is cancellable at every await and
# never catches trio.Cancelled; only SbpError (the client's translated
# errors) is turned into SbpFailed. `max_poll_errors` consecutive failures
# are tolerated (0 by default, as the manual says).
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from acquirers.sbp.api import PaymentStatus
from acquirers.sbp.client import PaymentInfo, RegisteredQr, SbpClient
from acquirers.sbp.errors import SbpError, SbpProtocolError

__all__ = ["SbpFailed", "SbpOutcome", "SbpPaid", "SbpRejected", "pay_by_qr"]

log = logging.getLogger("acquirers.sbp")


@dataclass(frozen=True, slots=True)
class SbpPaid:
    """The customer paid; ``operation_id`` goes to the receipt as rrn."""

    qr: RegisteredQr
    info: PaymentInfo
    operation_id: str

    @property
    def amount(self) -> int:
        return self.qr.amount


@dataclass(frozen=True, slots=True)
class SbpRejected:
    """The payment was declined by the customer's bank or the agent."""

    qr: RegisteredQr
    info: PaymentInfo


@dataclass(frozen=True, slots=True)
class SbpFailed:
    """Registration (``qr`` None: nothing was shown) or a status poll failed."""

    qr: RegisteredQr | None
    error: SbpError

    @property
    def shown(self) -> bool:
        return self.qr is not None


SbpOutcome = SbpPaid | SbpRejected | SbpFailed


async def pay_by_qr(
    client: SbpClient,
    amount: int,
    *,
    on_qr: Callable[[RegisteredQr], Awaitable[None]],
    order: str | None = None,
    purpose: str | None = None,
) -> SbpOutcome:
    """Take an SBP payment of ``amount`` minor units; see the module comment.

    ``on_qr`` is awaited once, right after registration, with the QR whose
    ``payload`` URL the customer must see; its exceptions propagate (the QR
    then stays registered at the agent: cancel it with
    ``client.cancel_qr``). A SUCCESS whose amount differs from the
    registered one is not taken as paid: it is returned as SbpFailed with an
    SbpProtocolError and needs reconciliation.
    """
    try:
        qr = await client.register_qr(amount, order=order, purpose=purpose)
    except SbpError as exc:
        log.warning("SBP QR registration failed: %s", exc.message)
        return SbpFailed(None, exc)
    log.info("SBP QR %s registered for %d (order %s)", qr.qrc_id, amount, qr.order)
    await on_qr(qr)
    config = client.config
    failures = 0
    while True:
        await trio.sleep(config.poll_interval)
        try:
            info = await client.payment_info(qr.qrc_id)
        except SbpError as exc:
            failures += 1
            if failures > config.max_poll_errors:
                log.warning("SBP QR %s: status poll failed: %s", qr.qrc_id, exc.message)
                return SbpFailed(qr, exc)
            log.info("SBP QR %s: status poll failed (%d tolerated)", qr.qrc_id, failures)
            continue
        failures = 0
        if info.status is PaymentStatus.SUCCESS:
            if info.amount is not None and info.amount != qr.amount:
                log.error(
                    "SBP QR %s: agent reports %d paid, %d registered: needs reconciliation",
                    qr.qrc_id,
                    info.amount,
                    qr.amount,
                )
                return SbpFailed(
                    qr, SbpProtocolError("SBP agent reports a payment of another amount")
                )
            log.info("SBP QR %s paid, operation %s", qr.qrc_id, info.operation_id)
            # The client refuses a SUCCESS without a transactionId.
            return SbpPaid(qr, info, info.operation_id or "")
        if info.status is PaymentStatus.DECLINED:
            log.info("SBP QR %s declined", qr.qrc_id)
            return SbpRejected(qr, info)
