# Strategy: contactless terminal configuration as frozen dataclasses.
# - `ContactlessAid` is one Entry Point Combination {AID, Kernel ID} with its
#   Entry Point Configuration Data (EMV Contactless Book A 5.2.3 / Book B
#   3.1: Status Check Support, Zero Amount Allowed, Reader Contactless
#   Transaction Limit, Reader Contactless Floor Limit, Terminal Floor Limit
#   '9F1B', Reader CVM Required Limit, TTQ '9F66', Extended Selection
#   Support) and what its kernel needs: TACs, application version, the
#   contactless Terminal Capabilities, the Data Exchange Tag List 'DF811E'
#   and, for the Mastercard-style kernel, the Book C-2 parameters
#   (`Kernel2Parameters`: Tags To Read 'DF8112', CVM Capability - CVM
#   Required 'DF8118' / No CVM Required 'DF8119', Kernel Configuration
#   'DF811B', Security Capability 'DF811F', Reader Contactless Transaction
#   Limit (No On-device CVM) 'DF8124' / (On-device CVM) 'DF8125').
# - `ContactlessConfig` adds the terminal (kernel.config.TerminalConfig: the
#   same country, type, IFD serial, merchant data as the contact side), the
#   message hold time and whether the terminal has a contact interface to
#   offer ("try another interface").
# Amounts are minor units; a limit of None is "not configured" (Book B: the
# check is skipped), which is not the same as 0.
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kernel.config import AidConfig, TerminalConfig
from kernel.errors import ConfigurationError

__all__ = [
    "KERNEL_2",
    "KERNEL_3",
    "KERNEL_MIR",
    "ContactlessAid",
    "ContactlessConfig",
    "Kernel2Parameters",
    "KernelKind",
    "default_kernel_id",
]

KERNEL_2 = b"\x02"  # Book C-2 (Mastercard)
KERNEL_3 = b"\x03"  # Book C-3 (Visa)
# Mir's registered kernel identifier is not public: this project uses a
# domestic-kernel form (Book B 3.3.2.5: b8b7 = 11, short kernel id 1,
# extended id 0643 = Russia). The virtual Mir card announces it in '9F2A'.
KERNEL_MIR = bytes.fromhex("C10643")

# Book B Table 3-6: the kernel a PPSE entry without '9F2A' asks for, by RID.
_DEFAULT_KERNELS = {
    bytes.fromhex("A000000004"): KERNEL_2,
    bytes.fromhex("A000000003"): KERNEL_3,
    bytes.fromhex("A000000025"): b"\x04",
    bytes.fromhex("A000000065"): b"\x05",
    bytes.fromhex("A000000152"): b"\x06",
    bytes.fromhex("A000000333"): b"\x07",
}


def default_kernel_id(aid: bytes) -> bytes:
    """Book B Table 3-6 default Requested Kernel ID for an AID (b'\\x00': none)."""
    return _DEFAULT_KERNELS.get(aid[:5], b"\x00")


class KernelKind(enum.Enum):
    MASTERCARD = "kernel-2"  # M/Chip style, Book C-2 (public information only)
    VISA = "kernel-3"  # qVSDC style, Book C-3 (public information only)
    MIR = "mir"  # Mir-style EMV-mode single tap (public information only)

    @classmethod
    def for_kernel_id(cls, kernel_id: bytes) -> KernelKind | None:
        return {KERNEL_2: cls.MASTERCARD, KERNEL_3: cls.VISA, KERNEL_MIR: cls.MIR}.get(kernel_id)


def _empty() -> Mapping[int, bytes]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Kernel2Parameters:
    """Book C-2 reader parameters of the Mastercard-style kernel."""

    tags_to_read: tuple[int, ...] = ()  # 'DF8112', handed to services.data_exchange
    cvm_capability_cvm_required: int = 0x60  # 'DF8118': online PIN, signature
    cvm_capability_no_cvm_required: int = 0x08  # 'DF8119': no CVM
    kernel_configuration: int = 0x20  # 'DF811B': b6 on-device cardholder verification
    security_capability: int = 0x08  # 'DF811F': CDA
    transaction_limit_no_on_device_cvm: int | None = None  # 'DF8124'
    transaction_limit_on_device_cvm: int | None = None  # 'DF8125'

    @property
    def on_device_cvm_supported(self) -> bool:
        return bool(self.kernel_configuration & 0x20)


_ALL_TYPES: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ContactlessAid:
    """One Combination {AID, Kernel ID} and its configuration data."""

    aid: bytes
    kernel_id: bytes
    kernel: KernelKind | None = None  # None: from the kernel id
    label: str = ""
    partial_selection: bool = True  # the ADF name may extend the AID (Book B 3.3.2.5 B)
    application_version: bytes = b"\x00\x02"  # '9F09'
    # Entry Point Configuration Data (Book B 3.1)
    transaction_limit: int | None = None  # Reader Contactless Transaction Limit
    floor_limit: int | None = None  # Reader Contactless Floor Limit
    terminal_floor_limit: int | None = None  # '9F1B', used when floor_limit is None
    cvm_required_limit: int | None = None  # Reader CVM Required Limit
    status_check: bool = False  # Status Check Support flag
    zero_amount_allowed: bool = True  # Zero Amount Allowed flag
    extended_selection: bool = False  # Extended Selection Support flag
    ttq: bytes | None = None  # '9F66' (Visa-style kernel)
    transaction_types: frozenset[int] = _ALL_TYPES  # '9C' values; empty: every type
    # kernel data
    tac_denial: bytes = bytes(5)
    tac_online: bytes = bytes(5)
    tac_default: bytes = bytes(5)
    # contactless '9F33'; byte 2 is replaced per transaction by the kernels that
    # switch the CVM capability at the CVM-required limit
    capabilities: bytes = bytes.fromhex("E06008")
    cvm_capability_cvm_required: int = 0x60  # 9F33 byte 2 over the CVM-required limit
    cvm_capability_no_cvm_required: int = 0x08  # and under it
    data_exchange_tags: tuple[int, ...] = ()  # 'DF811E' Data Exchange Tag List
    kernel2: Kernel2Parameters | None = None
    default_ddol: bytes = b"\x9f\x37\x04"
    extra: Mapping[int, bytes] = field(default_factory=_empty)

    @property
    def kind(self) -> KernelKind | None:
        return self.kernel if self.kernel is not None else KernelKind.for_kernel_id(self.kernel_id)

    def applies_to(self, transaction_type: int) -> bool:
        return not self.transaction_types or transaction_type in self.transaction_types

    def aid_config(self) -> AidConfig:
        """The contact-style AID record the shared kernel pieces read (TACs, versions)."""
        floor = self.floor_limit if self.floor_limit is not None else self.terminal_floor_limit
        return AidConfig(
            aid=self.aid,
            partial_selection=self.partial_selection,
            application_version=self.application_version,
            tac_denial=self.tac_denial,
            tac_online=self.tac_online,
            tac_default=self.tac_default,
            floor_limit=min(floor or 0, 0xFFFFFFFF),
            default_ddol=self.default_ddol,
            label=self.label,
            extra=self.extra,
        )

    def validate(self) -> None:
        self.aid_config().validate()
        if not self.kernel_id or len(self.kernel_id) > 8:
            raise ConfigurationError(f"kernel id of {self.aid.hex().upper()} must be 1-8 bytes")
        if self.kind is None:
            raise ConfigurationError(
                f"no kernel for kernel id {self.kernel_id.hex().upper()} ({self.aid.hex().upper()})"
            )
        if self.ttq is not None and len(self.ttq) != 4:
            raise ConfigurationError("TTQ must be 4 bytes")
        if len(self.capabilities) != 3:
            raise ConfigurationError("contactless terminal capabilities must be 3 bytes")
        for name in ("transaction_limit", "floor_limit", "terminal_floor_limit"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 999_999_999_999:
                raise ConfigurationError(f"{name} out of range")
        if self.cvm_required_limit is not None and not self.cvm_required_limit >= 0:
            raise ConfigurationError("cvm_required_limit out of range")


@dataclass(frozen=True, slots=True)
class ContactlessConfig:
    terminal: TerminalConfig
    combinations: tuple[ContactlessAid, ...]
    message_hold_time: int = 13  # 100 ms units (Book C-2 'DF812D' default)
    contact_interface: bool = True  # a contact reader to send the cardholder to
    pos_entry_mode: int = 0x07  # '9F39': contactless integrated circuit

    def validate(self) -> None:
        if not self.combinations:
            raise ConfigurationError("no contactless combinations configured")
        self.terminal.validate_terminal()
        for combination in self.combinations:
            combination.validate()
        if not 0 <= self.message_hold_time <= 999_999:
            raise ConfigurationError("message hold time out of range")
