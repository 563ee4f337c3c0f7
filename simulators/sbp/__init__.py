"""SBP agent simulator: a real HTTP(S) server with run-time modes pay / reject / none.

In-process::

    sim = SbpAgentSimulator()
    port = await nursery.start(sim.serve)
    sim.control.set_mode("reject")        # what `cardcore sim sbp reject` does
    sim.ledger.snapshot()                  # registered, paid, rejected, refunded

Standalone: ``python -m simulators.sbp --port 8090`` (see ``--help``).
"""

from __future__ import annotations

from simulators.sbp.agent import SIM_BANK_ID, SbpAgentSimulator, SbpSimControl
from simulators.sbp.ledger import QrRecord, QrState, RefundRecord, SbpLedger, SimMode

__all__ = [
    "SIM_BANK_ID",
    "QrRecord",
    "QrState",
    "RefundRecord",
    "SbpAgentSimulator",
    "SbpLedger",
    "SbpSimControl",
    "SimMode",
]
