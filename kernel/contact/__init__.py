"""EMV contact kernel (EMV 4.3 Books 1-4).

`ContactKernel(config, ca_keys).run(transmit, services, request)` -> Outcome.
"""

from __future__ import annotations

from kernel.contact.kernel import ContactKernel, run_contact_transaction

__all__ = ["ContactKernel", "run_contact_transaction"]
