# Strategy: an application the card and the terminal both support, as
# application selection finds it (EMV 4.3 Book 1 12.3) and final selection
# orders and offers it (12.4). Its own module: selection builds candidates
# and the kernel's services (the cardholder's choice) take them.
from __future__ import annotations

from dataclasses import dataclass, field

from kernel.config import AidConfig
from kernel.values import decode_preferred_name, decode_text

__all__ = ["Candidate"]


@dataclass(frozen=True, slots=True)
class Candidate:
    aid: bytes  # ADF name as the card gives it (DF Name)
    terminal_aid: AidConfig = field(repr=False)
    label: bytes | None = None  # '50'
    preferred_name: bytes | None = None  # '9F12'
    priority_indicator: int | None = None  # '87'
    issuer_code_table_index: int | None = None  # '9F11'
    language: str | None = None  # '5F2D'
    order: int = 0

    @property
    def priority(self) -> int | None:
        """Application priority 1..15 (b4-b1 of '87'), None when absent or 0."""
        if self.priority_indicator is None or self.priority_indicator & 0x0F == 0:
            return None
        return self.priority_indicator & 0x0F

    @property
    def confirmation_required(self) -> bool:
        return self.priority_indicator is not None and bool(self.priority_indicator & 0x80)

    @property
    def display_name(self) -> str:
        """Preferred name in its issuer code table, else the label, else the AID (Book 1 12.4)."""
        if self.preferred_name:
            name = decode_preferred_name(self.preferred_name, self.issuer_code_table_index)
            if name is not None:
                return name
        if self.label:
            return decode_text(self.label)
        return self.aid.hex().upper()
