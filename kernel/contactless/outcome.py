# Strategy: the Outcome of a contactless kernel and of Entry Point, EMV
# Contactless Book A 6.2 ("Outcomes" and their parameters): the outcome kind
# (Approved, Declined, Online Request, Try Again, Select Next, Try Another
# Interface, End Application), Start (where Entry Point restarts: B for a new
# tap, C for the next combination), CVM (No CVM, Obtain Signature, Online PIN,
# Confirmation Code Verified = consumer-device CVM), UI Request on Outcome and
# on Restart, Data Record / Discretionary Data presence, Alternate Interface
# Preference, Receipt, Field Off Request (hold time) and Removal Timeout.
# `encode` gives the 8-byte Outcome Parameter Set of Book C-2 A.1.117
# ('DF8129': status, start, online response data, CVM, presence bits,
# alternate interface, field off, removal timeout) for traces and the
# journal. The shared kernel.outcome.Outcome carries these parameters in its
# `contactless` field.
from __future__ import annotations

import enum
from dataclasses import dataclass

from kernel.contactless.ui import UiRequest

__all__ = ["AlternateInterface", "OutcomeCvm", "OutcomeKind", "OutcomeParameters", "Start"]


class OutcomeKind(enum.Enum):
    """Book A 6.2.1; the value is the Book C-2 'DF8129' byte 1 code."""

    APPROVED = 0x10
    DECLINED = 0x20
    ONLINE_REQUEST = 0x30
    END_APPLICATION = 0x40
    SELECT_NEXT = 0x50
    TRY_ANOTHER_INTERFACE = 0x60
    TRY_AGAIN = 0x70


class Start(enum.Enum):
    """Where Entry Point starts again (Book A 6.2.2, Book B 3.5)."""

    A = 0x00
    B = 0x10  # protocol activation: the card is presented again
    C = 0x20  # combination selection: the next candidate
    D = 0x30  # kernel activation


class OutcomeCvm(enum.Enum):
    NO_CVM = 0x00
    OBTAIN_SIGNATURE = 0x10
    ONLINE_PIN = 0x20
    CONFIRMATION_CODE_VERIFIED = 0x30  # consumer-device CVM (CDCVM)
    NOT_APPLICABLE = 0xF0


class AlternateInterface(enum.Enum):
    CONTACT_CHIP = 0x10
    MAG_STRIPE = 0x20
    NOT_APPLICABLE = 0xF0


@dataclass(frozen=True, slots=True)
class OutcomeParameters:
    """The Book A 6.2 Outcome parameter set. Times are in units of 100 ms;
    ``field_off_hold_time`` None means N/A (leave the field on)."""

    kind: OutcomeKind
    start: Start | None = None
    cvm: OutcomeCvm = OutcomeCvm.NOT_APPLICABLE
    ui_on_outcome: UiRequest | None = None
    ui_on_restart: UiRequest | None = None
    data_record: bool = False
    discretionary_data: bool = False
    alternate_interface: AlternateInterface = AlternateInterface.NOT_APPLICABLE
    receipt: bool | None = None
    field_off_hold_time: int | None = None
    removal_timeout: int = 0

    def encode(self) -> bytes:
        """The Outcome Parameter Set 'DF8129' (Book C-2 A.1.117), 8 bytes."""
        presence = (
            (0x80 if self.ui_on_outcome is not None else 0)
            | (0x40 if self.ui_on_restart is not None else 0)
            | (0x20 if self.data_record else 0)
            | (0x10 if self.discretionary_data else 0)
            | (0x08 if self.receipt else 0)
        )
        field_off = 0xFF if self.field_off_hold_time is None else min(self.field_off_hold_time, 254)
        return bytes(
            [
                self.kind.value,
                0xF0 if self.start is None else self.start.value,
                0xF0,  # online response data: N/A (no two-tap issuer update)
                self.cvm.value,
                presence,
                self.alternate_interface.value,
                field_off,
                min(self.removal_timeout, 255),
            ]
        )
