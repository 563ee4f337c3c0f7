"""The acquirer host simulator: a real ISO 8583 TCP server with an issuer ledger.

In-process::

    sim = HostSimulator(ledger=IssuerLedger(open_balance=10_000_000))
    port = await nursery.start(sim.serve)
    sim.control.mode = HostMode.DECLINE

Standalone: ``python -m simulators.host --port 8583``.
"""

from __future__ import annotations

from simulators.host.control import HostControl, HostMode
from simulators.host.issuer import (
    ArqcCheck,
    CardAuthenticator,
    EmvCardAuthenticator,
    IccData,
    IssuerCardKeys,
)
from simulators.host.ledger import Account, IssuerLedger
from simulators.host.server import HostSimulator, TerminalKeys

__all__ = [
    "Account",
    "ArqcCheck",
    "CardAuthenticator",
    "EmvCardAuthenticator",
    "HostControl",
    "HostMode",
    "HostSimulator",
    "IccData",
    "IssuerCardKeys",
    "IssuerLedger",
    "TerminalKeys",
]
