"""SBP (Faster Payments System) link: NSPK QR payloads, agent client, polling, simulator.

For the transaction engine::

    async with SbpClient(config) as client:
        outcome = await pay_by_qr(client, amount, on_qr=show_qr, order=order)

See ``acquirers/sbp/poll.py`` for what each outcome means to card detection,
``acquirers/sbp/api.py`` for the agent API and ``acquirers/sbp/sim`` for the
simulator.
"""

from __future__ import annotations

from acquirers.sbp.api import PaymentStatus, RefundStatus
from acquirers.sbp.client import PaymentInfo, RefundResult, RegisteredQr, SbpClient
from acquirers.sbp.config import SbpConfig, SbpTlsOptions
from acquirers.sbp.errors import (
    QrFormatError,
    SbpAgentError,
    SbpCommunicationError,
    SbpConfigError,
    SbpError,
    SbpInvalidArgument,
    SbpNotFoundError,
    SbpProtocolError,
    SbpTimeoutError,
)
from acquirers.sbp.poll import SbpFailed, SbpOutcome, SbpPaid, SbpRejected, pay_by_qr
from acquirers.sbp.qr import (
    QrPayload,
    QrType,
    build_payload_url,
    crc16_ccitt_false,
    parse_payload_url,
)

__all__ = [
    "PaymentInfo",
    "PaymentStatus",
    "QrFormatError",
    "QrPayload",
    "QrType",
    "RefundResult",
    "RefundStatus",
    "RegisteredQr",
    "SbpAgentError",
    "SbpClient",
    "SbpCommunicationError",
    "SbpConfig",
    "SbpConfigError",
    "SbpError",
    "SbpFailed",
    "SbpInvalidArgument",
    "SbpNotFoundError",
    "SbpOutcome",
    "SbpPaid",
    "SbpProtocolError",
    "SbpRejected",
    "SbpTimeoutError",
    "SbpTlsOptions",
    "build_payload_url",
    "crc16_ccitt_false",
    "parse_payload_url",
    "pay_by_qr",
]
