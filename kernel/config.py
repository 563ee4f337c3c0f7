# Strategy: terminal configuration and the transaction request as typed,
# frozen dataclasses. They carry the terminal-sourced data elements of EMV
# 4.3 Book 3 Annex A1 / Book 4 Annex A (terminal country 9F1A, capabilities
# 9F33/9F40, type 9F35, IFD serial 9F1E, ...) and the per-AID parameters of
# Book 3 10.6/10.7 (floor limit, random selection, TAC denial/online/default,
# default DDOL/TDOL) and Book 1 12.3 (AID, Application Selection Indicator).
# `terminal_data` turns them into the tag -> value map the kernel starts a
# transaction with, so the encodings live in one place.
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kernel.errors import ConfigurationError, InvalidTransactionRequest
from kernel.values import encode_date, encode_n, encode_text, encode_time

__all__ = [
    "AidConfig",
    "PurchaseKind",
    "TerminalConfig",
    "TransactionRequest",
    "TransactionType",
]


def _empty() -> Mapping[int, bytes]:
    return MappingProxyType({})


class TransactionType(enum.IntEnum):
    """Transaction Type '9C' values (first two digits of ISO 8583 processing code)."""

    PURCHASE = 0x00
    CASH = 0x01
    PURCHASE_WITH_CASHBACK = 0x09
    CASH_DISBURSEMENT = 0x17
    REFUND = 0x20


class PurchaseKind(enum.Enum):
    """Whether a purchase is of goods or of services (AUC check, Book 3 10.4.2)."""

    GOODS = "goods"
    SERVICES = "services"


@dataclass(frozen=True, slots=True)
class AidConfig:
    """One entry of the terminal's list of supported applications."""

    aid: bytes
    # Application Selection Indicator (Book 1 12.3.1): partial name match allowed.
    partial_selection: bool = True
    application_version: bytes = b"\x00\x8c"  # 9F09
    tac_denial: bytes = bytes(5)
    tac_online: bytes = bytes(5)
    tac_default: bytes = bytes(5)
    floor_limit: int = 0  # 9F1B, minor units
    random_selection_threshold: int = 0
    random_selection_target_percent: int = 0
    random_selection_max_percent: int = 0
    default_ddol: bytes = b"\x9f\x37\x04"
    default_tdol: bytes = b""
    # Terminal tie-break when the card gives no priority: 1 first, 0 = none.
    priority: int = 0
    label: str = ""
    # Further AID-specific terminal data objects (e.g. 9F53, 9F1D).
    extra: Mapping[int, bytes] = field(default_factory=_empty)

    def validate(self) -> None:
        if not 5 <= len(self.aid) <= 16:
            raise ConfigurationError(f"AID {self.aid.hex()} must be 5 to 16 bytes")
        for name in ("tac_denial", "tac_online", "tac_default"):
            if len(getattr(self, name)) != 5:
                raise ConfigurationError(f"{name} must be 5 bytes")
        if len(self.application_version) != 2:
            raise ConfigurationError("application version must be 2 bytes")
        if not 0 <= self.floor_limit <= 0xFFFFFFFF:
            raise ConfigurationError("floor limit out of range")
        lo, hi = self.random_selection_target_percent, self.random_selection_max_percent
        if not (0 <= lo <= 99 and 0 <= hi <= 99 and lo <= hi):
            raise ConfigurationError("random selection percentages must be 0..99, target <= max")
        if self.random_selection_threshold < 0:
            raise ConfigurationError("random selection threshold must not be negative")

    @property
    def rid(self) -> bytes:
        return self.aid[:5]


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    aids: tuple[AidConfig, ...]
    country_code: int = 643  # 9F1A, ISO 3166 numeric
    capabilities: bytes = bytes.fromhex("E0F8C8")  # 9F33
    additional_capabilities: bytes = bytes.fromhex("6000F0A001")  # 9F40
    terminal_type: int = 0x22  # 9F35
    ifd_serial: str = "00000001"  # 9F1E
    terminal_id: str = ""  # 9F1C
    merchant_id: str = ""  # 9F16
    merchant_category_code: int | None = None  # 9F15
    merchant_name_location: str = ""  # 9F4E
    acquirer_id: int | None = None  # 9F01
    pos_entry_mode: int = 0x05  # 9F39, integrated circuit
    use_pse: bool = True
    # Terminal supports cardholder selection and confirmation (Book 1 12.4).
    cardholder_selection: bool = True
    # Once PIN entry is bypassed, later PIN CVMs count as bypassed too (Book 3 10.5).
    pin_bypass_applies_to_all: bool = True
    # Perform terminal risk management even if the AIP does not ask for it.
    trm_regardless_of_aip: bool = False
    # Issuer script bytes the terminal accepts per transaction (Book 3 10.10).
    max_script_length: int = 1024
    # Tags handed to services.data_exchange after reading application data.
    data_exchange_tags: tuple[int, ...] = ()
    extra: Mapping[int, bytes] = field(default_factory=_empty)

    def validate(self) -> None:
        if not self.aids:
            raise ConfigurationError("no supported applications configured")
        for aid in self.aids:
            aid.validate()
        self.validate_terminal()

    def validate_terminal(self) -> None:
        """The terminal-level checks only (a contactless reader may have no contact AIDs)."""
        if len(self.capabilities) != 3:
            raise ConfigurationError("terminal capabilities must be 3 bytes")
        if len(self.additional_capabilities) != 5:
            raise ConfigurationError("additional terminal capabilities must be 5 bytes")
        if len(self.ifd_serial) != 8:
            raise ConfigurationError("IFD serial number must be 8 characters")
        digits = f"{self.terminal_type:02X}"
        if not (digits.isdigit() and digits[0] in "123" and digits[1] in "123456"):
            raise ConfigurationError(f"terminal type {digits} not defined in Book 4 Annex A1")

    # --- derived facts (Book 4 Annex A1/A2/A3) --------------------------------

    @property
    def environment(self) -> int:
        """Second digit of the terminal type: 1..3 attended, 4..6 unattended."""
        return self.terminal_type & 0x0F

    @property
    def attended(self) -> bool:
        return self.environment in (1, 2, 3)

    @property
    def online_capable(self) -> bool:
        return self.environment in (1, 2, 4, 5)

    @property
    def online_only(self) -> bool:
        return self.environment in (1, 4)

    @property
    def offline_only(self) -> bool:
        return self.environment in (3, 6)

    @property
    def is_atm(self) -> bool:
        """Terminal types 14/15/16 with cash capability are ATMs (Book 4 A1 note)."""
        return self.terminal_type in (0x14, 0x15, 0x16) and bool(
            self.additional_capabilities[0] & 0x80
        )

    def cda_supported(self) -> bool:
        return bool(self.capabilities[2] & 0x08)

    def dda_supported(self) -> bool:
        return bool(self.capabilities[2] & 0x40)

    def sda_supported(self) -> bool:
        return bool(self.capabilities[2] & 0x80)

    def terminal_data(self, aid: AidConfig | None = None) -> dict[int, bytes]:
        data: dict[int, bytes] = {
            0x9F1A: encode_n(self.country_code, 2),
            0x9F33: self.capabilities,
            0x9F40: self.additional_capabilities,
            0x9F35: bytes([self.terminal_type]),
            0x9F1E: encode_text(self.ifd_serial, 8),
            0x9F39: bytes([self.pos_entry_mode]),
        }
        if self.terminal_id:
            data[0x9F1C] = encode_text(self.terminal_id, 8)
        if self.merchant_id:
            data[0x9F16] = encode_text(self.merchant_id, 15)
        if self.merchant_category_code is not None:
            data[0x9F15] = encode_n(self.merchant_category_code, 2)
        if self.merchant_name_location:
            data[0x9F4E] = encode_text(self.merchant_name_location)
        if self.acquirer_id is not None:
            data[0x9F01] = encode_n(self.acquirer_id, 6)
        data.update(self.extra)
        if aid is not None:
            data[0x9F06] = aid.aid
            data[0x9F09] = aid.application_version
            data[0x9F1B] = aid.floor_limit.to_bytes(4, "big")
            data.update(aid.extra)
        return data


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    amount: int  # minor units, 9F02 / 81
    currency: int  # 5F2A, ISO 4217 numeric
    transaction_type: int = TransactionType.PURCHASE  # 9C
    amount_other: int = 0  # 9F03 / 9F04 (cashback)
    currency_exponent: int = 2  # 5F36
    when: dt.datetime | None = None  # 9A / 9F21; None: the kernel's clock
    sequence_counter: int = 1  # 9F41
    force_online: bool = False  # merchant forced online (TVR byte 4 b4)
    purchase_kind: PurchaseKind = PurchaseKind.GOODS
    # Transaction-specific data objects (merchant data, 9F53, ...).
    extra: Mapping[int, bytes] = field(default_factory=_empty)

    def validate(self) -> None:
        if not 0 <= self.amount <= 999_999_999_999:
            raise InvalidTransactionRequest("amount must be 0..999999999999 minor units")
        if not 0 <= self.amount_other <= 999_999_999_999:
            raise InvalidTransactionRequest("amount other must be 0..999999999999")
        if not 0 < self.currency <= 999:
            raise InvalidTransactionRequest("currency must be an ISO 4217 numeric code")
        if not (0 <= self.transaction_type <= 0x99 and f"{self.transaction_type:02X}".isdigit()):
            raise InvalidTransactionRequest("transaction type must be two BCD digits")
        if not 0 <= self.sequence_counter <= 99_999_999:
            raise InvalidTransactionRequest("sequence counter out of range")

    def transaction_data(self, when: dt.datetime) -> dict[int, bytes]:
        data = {
            0x9F02: encode_n(self.amount, 6),
            0x81: min(self.amount, 0xFFFFFFFF).to_bytes(4, "big"),
            0x9F03: encode_n(self.amount_other, 6),
            0x9F04: min(self.amount_other, 0xFFFFFFFF).to_bytes(4, "big"),
            0x5F2A: encode_n(self.currency, 2),
            0x5F36: encode_n(self.currency_exponent, 1),
            0x9C: bytes([self.transaction_type]),
            0x9A: encode_date(when.date()),
            0x9F21: encode_time(when),
            0x9F41: encode_n(self.sequence_counter, 4),
        }
        data.update(self.extra)
        return data
