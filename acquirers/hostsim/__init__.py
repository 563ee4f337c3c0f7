"""The acquirer host simulator: a real ISO 8583 TCP server with an issuer ledger.

In-process::

    sim = HostSimulator(ledger=IssuerLedger(open_balance=10_000_000))
    port = await nursery.start(sim.serve)
    sim.control.mode = HostMode.DECLINE

Standalone: ``python -m acquirers.hostsim --port 8583``.
"""

from __future__ import annotations

from acquirers.hostsim.control import HostControl, HostMode
from acquirers.hostsim.issuer import (
    ArqcCheck,
    CardAuthenticator,
    EmvCardAuthenticator,
    IccData,
    IssuerCardKeys,
)
from acquirers.hostsim.ledger import Account, IssuerLedger
from acquirers.hostsim.server import HostSimulator, TerminalKeys

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
