# Strategy: the result of one kernel run, shared by the contact kernel and
# the contactless kernels. It carries the decision (EMV 4.3 Book 3
# 10.8-10.11: approved/declined offline after the first GENERATE AC, approved
# or declined after online processing, or the unable-to-go-online default
# path), the TVR/TSI/CID/CVM results, and everything the application needs
# for ISO 8583 field 55 and the receipt (AID, labels, code table index, PAN,
# expiry, PSN, ATC, AC, IAD, UN, ...). `decline_reason` uses the receipt
# values of the ECR manual (`unabletoonline`, `offlinedeclined`,
# `onlinedeclined`, `cardprocessingerror`, `systemerror`).
# repr() never shows the PAN, track data or PIN block: the caller masks the
# PAN for the receipt itself.
# Contactless runs (kernel.contactless) fill three more fields: `contactless`,
# the EMV Contactless Book A 6.2 Outcome parameter set (outcome kind, Start
# for a restart, CVM, UI requests on outcome and on restart, field off,
# removal timeout, alternate interface, receipt); `cdcvm`, the cardholder
# was verified on the consumer device (the receipt's cdcvm=yes); and
# `kernel_id`, the kernel that processed the card.
from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from base.errors import CardcoreError
from kernel.services import DEFAULT_FIELD55_TAGS, OnlineResponse, encode_field55
from kernel.values import decode_cn, decode_preferred_name, decode_text

if TYPE_CHECKING:
    from kernel.contactless.outcome import OutcomeParameters

__all__ = ["CryptogramType", "Decision", "Outcome"]


def _empty() -> Mapping[int, bytes]:
    return MappingProxyType({})


class CryptogramType(enum.IntEnum):
    """Cryptogram types of the CID '9F27' b8-b7 and GENERATE AC P1 b8-b7 (Book 3 6.5.5)."""

    AAC = 0x00
    TC = 0x40
    ARQC = 0x80

    @classmethod
    def from_cid(cls, cid: int) -> CryptogramType:
        return cls(cid & 0xC0) if cid & 0xC0 != 0xC0 else cls.AAC


class Decision(enum.Enum):
    APPROVED_OFFLINE = "approved-offline"
    APPROVED_ONLINE = "approved-online"
    DECLINED = "declined"
    # The card asked for (or the transaction type needs) an online message that
    # the application handled without a second card decision (e.g. refunds).
    ONLINE_REQUEST_HANDLED = "online-request-handled"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    decline_reason: str | None = None
    tvr: bytes = bytes(5)
    tsi: bytes = bytes(2)
    cid: int | None = None
    cvm_results: bytes = b"\x3f\x00\x00"
    signature_required: bool = False
    pin_entered: str = "no"  # "offline" | "online" | "no"
    unable_to_go_online: bool = False
    online_response: OnlineResponse | None = None
    # The card declined after the host approved: the application must reverse.
    reversal_required: bool = False
    advice_required: bool = False
    issuer_script_results: bytes = b""
    error: CardcoreError | None = None
    messages: Sequence[int] = ()
    data: Mapping[int, bytes] = field(default_factory=_empty, repr=False)
    online_pin_block: bytes | None = field(default=None, repr=False)
    # contactless only (None / False / None for a contact transaction)
    contactless: OutcomeParameters | None = None
    cdcvm: bool = False
    kernel_id: bytes | None = None

    @property
    def restart_required(self) -> bool:
        """A contactless outcome asking for the card again (Start B: try again,
        "see phone", communication error); see kernel.contactless."""
        return self.contactless is not None and self.contactless.start is not None

    # --- convenience accessors (receipt and journal) --------------------------

    def get(self, tag: int) -> bytes | None:
        return self.data.get(tag)

    @property
    def approved(self) -> bool:
        return self.decision in (Decision.APPROVED_OFFLINE, Decision.APPROVED_ONLINE)

    @property
    def aid(self) -> bytes | None:
        return self.data.get(0x84) or self.data.get(0x4F) or self.data.get(0x9F06)

    @property
    def application_label(self) -> str | None:
        v = self.data.get(0x50)
        return decode_text(v) if v else None

    @property
    def preferred_name(self) -> bytes | None:
        """Raw '9F12'; decode it with the Issuer Code Table Index (ISO 8859 part n)."""
        return self.data.get(0x9F12)

    @property
    def preferred_name_text(self) -> str | None:
        """'9F12' decoded with the Issuer Code Table Index, if the terminal supports it."""
        raw = self.data.get(0x9F12)
        return decode_preferred_name(raw, self.issuer_code_table_index) if raw else None

    @property
    def issuer_code_table_index(self) -> int | None:
        v = self.data.get(0x9F11)
        return int(v.hex()) if v and v.hex().isdigit() else None

    @property
    def pan(self) -> str | None:
        v = self.data.get(0x5A)
        try:
            return decode_cn(v) if v else None
        except ValueError:
            return None

    @property
    def pan_sequence_number(self) -> int | None:
        v = self.data.get(0x5F34)
        return int(v.hex()) if v and v.hex().isdigit() else None

    @property
    def expiry(self) -> str | None:
        """YYMMDD of '5F24'."""
        v = self.data.get(0x5F24)
        return v.hex() if v else None

    @property
    def track2(self) -> bytes | None:
        return self.data.get(0x57)

    @property
    def atc(self) -> bytes | None:
        return self.data.get(0x9F36)

    @property
    def cryptogram(self) -> bytes | None:
        return self.data.get(0x9F26)

    @property
    def issuer_application_data(self) -> bytes | None:
        return self.data.get(0x9F10)

    @property
    def unpredictable_number(self) -> bytes | None:
        return self.data.get(0x9F37)

    @property
    def cryptogram_type(self) -> CryptogramType | None:
        return None if self.cid is None else CryptogramType.from_cid(self.cid)

    def field55(self, tags: Sequence[int] = DEFAULT_FIELD55_TAGS) -> bytes:
        """ICC data for ISO 8583 field 55 (sensitive tags are never included)."""
        return encode_field55(self.data, tags)
