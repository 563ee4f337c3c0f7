"""EMV contactless: Entry Point (Book B) and the Visa-, Mastercard- and Mir-style kernels.

Public information only; see kernel/README.md for the usage and what each kernel follows.
"""

from __future__ import annotations

from kernel.contactless.common import Activation, ClCandidate, Indicators, KernelResult
from kernel.contactless.config import (
    KERNEL_2,
    KERNEL_3,
    KERNEL_MIR,
    ContactlessAid,
    ContactlessConfig,
    Kernel2Parameters,
    KernelKind,
)
from kernel.contactless.entry import ContactlessEntryPoint, Kernel, Preprocessed
from kernel.contactless.outcome import (
    AlternateInterface,
    OutcomeCvm,
    OutcomeKind,
    OutcomeParameters,
    Start,
)
from kernel.contactless.services import ContactlessServices
from kernel.contactless.ui import DEFAULT_HOLD_TIME, Lights, UiRequest, UiStatus, ValueQualifier

__all__ = [
    "DEFAULT_HOLD_TIME",
    "KERNEL_2",
    "KERNEL_3",
    "KERNEL_MIR",
    "Activation",
    "AlternateInterface",
    "ClCandidate",
    "ContactlessAid",
    "ContactlessConfig",
    "ContactlessEntryPoint",
    "ContactlessServices",
    "Indicators",
    "Kernel",
    "Kernel2Parameters",
    "KernelKind",
    "KernelResult",
    "Lights",
    "OutcomeCvm",
    "OutcomeKind",
    "OutcomeParameters",
    "Preprocessed",
    "Start",
    "UiRequest",
    "UiStatus",
    "ValueQualifier",
]
