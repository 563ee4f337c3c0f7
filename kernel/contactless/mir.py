# Strategy: a Mir-style contactless kernel. Mir's contactless kernel
# specification is not public; this kernel follows public information only:
# the EMV-mode single tap of kernel.contactless.emvmode (EMV 4.3 Book 3 in
# one tap: GPO with the card's PDOL, READ RECORD, ODA - CDA if card and
# reader support it, else DDA or SDA as Book 3 10.3 chooses with the
# combination's contactless capabilities -, processing restrictions, the CVM
# list with the contactless CVM capability switched at the Reader CVM
# Required Limit as Entry Point pre-processing computed it (Book B "greater
# than or equal"), the contactless floor limit, terminal action analysis,
# one GENERATE AC with CDA). Data exchange uses the Data Exchange Tag List
# 'DF811E' of the combination. The kernel identifier is the project's own
# (kernel.contactless.config.KERNEL_MIR). Cryptograms are whatever the card
# computes: the issuer verifies them; the kernel does not.
from __future__ import annotations

from kernel.contactless.emvmode import EmvModeKernel

__all__ = ["MirKernel"]


class MirKernel(EmvModeKernel):
    """EMV-mode single tap with the Entry Point's CVM-required indicator."""
