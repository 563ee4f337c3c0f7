"""SBP (Faster Payments System) link: NSPK QR payloads, agent client, polling, simulator.

For the transaction engine::

    async with SbpClient(config) as client:
        outcome = await pay_by_qr(client, amount, on_qr=show_qr, order=order)

See ``acquirers/sbp/poll.py`` for what each outcome means to card detection,
``acquirers/sbp/api.py`` for the agent API and ``simulators/sbp`` for the
simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from base.lazy import lazy_attributes

if TYPE_CHECKING:
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

# Names load on first use: importing one submodule (say, the configuration
# types) must not pull the whole package in at start-up.
_MODULES = {
    "PaymentStatus": "acquirers.sbp.api",
    "RefundStatus": "acquirers.sbp.api",
    "PaymentInfo": "acquirers.sbp.client",
    "RefundResult": "acquirers.sbp.client",
    "RegisteredQr": "acquirers.sbp.client",
    "SbpClient": "acquirers.sbp.client",
    "SbpConfig": "acquirers.sbp.config",
    "SbpTlsOptions": "acquirers.sbp.config",
    "QrFormatError": "acquirers.sbp.errors",
    "SbpAgentError": "acquirers.sbp.errors",
    "SbpCommunicationError": "acquirers.sbp.errors",
    "SbpConfigError": "acquirers.sbp.errors",
    "SbpError": "acquirers.sbp.errors",
    "SbpInvalidArgument": "acquirers.sbp.errors",
    "SbpNotFoundError": "acquirers.sbp.errors",
    "SbpProtocolError": "acquirers.sbp.errors",
    "SbpTimeoutError": "acquirers.sbp.errors",
    "SbpFailed": "acquirers.sbp.poll",
    "SbpOutcome": "acquirers.sbp.poll",
    "SbpPaid": "acquirers.sbp.poll",
    "SbpRejected": "acquirers.sbp.poll",
    "pay_by_qr": "acquirers.sbp.poll",
    "QrPayload": "acquirers.sbp.qr",
    "QrType": "acquirers.sbp.qr",
    "build_payload_url": "acquirers.sbp.qr",
    "crc16_ccitt_false": "acquirers.sbp.qr",
    "parse_payload_url": "acquirers.sbp.qr",
}


__getattr__ = lazy_attributes(__name__, _MODULES)


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
