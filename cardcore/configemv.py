# Strategy: the EMV part of the configuration model (cardcore.config): the
# applications the terminal supports with their terminal action codes, risk
# management and contactless limits (EMV Book 3 10.6-10.7, Book 4 Annex A,
# Book C-2/C-3 limits), and the certification authority public keys (Book 2
# 11.2). Kept apart from the other sections because it is the one part the
# kernel reads (Terminal.kernel_config, contactless_config, ca_keys).
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

import msgspec

from cardcore.configtypes import (
    Amount,
    HexData,
    Percent,
    Section,
    check_tags,
    doc,
    hex_bytes,
    not_below,
    upper_hex,
)

__all__ = ["AidParameters", "CaKeyParameters", "EmvConfig"]


class AidParameters(Section):
    """One supported application (EMV Book 1 12.3, Book 3 10.6-10.7)."""

    aid: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(?:[0-9A-Fa-f]{2}){5,16}$", description="an AID: 5 to 16 bytes in hex"
        ),
        doc("the application identifier"),
    ]
    label: Annotated[str, doc("the application's name for people")] = ""
    partial_selection: Annotated[bool, doc("the AID also selects longer AIDs it begins")] = True
    application_version: Annotated[
        str, hex_bytes(2, "9F09"), doc("terminal application version number (9F09)")
    ] = "0096"
    tac_denial: Annotated[str, hex_bytes(5, "a TAC"), doc("Terminal Action Code - Denial")] = (
        "0010000000"
    )
    tac_online: Annotated[str, hex_bytes(5, "a TAC"), doc("Terminal Action Code - Online")] = (
        "DC4004F800"
    )
    tac_default: Annotated[str, hex_bytes(5, "a TAC"), doc("Terminal Action Code - Default")] = (
        "DC4000A800"
    )
    floor_limit: Annotated[
        int, msgspec.Meta(ge=0, le=0xFFFFFFFF), doc("terminal floor limit (9F1B, binary)")
    ] = 0
    random_selection_threshold: Annotated[
        Amount, doc("random transaction selection: threshold amount")
    ] = 0
    random_selection_target_percent: Annotated[
        Percent, doc("random transaction selection: target percentage")
    ] = 0
    random_selection_max_percent: Annotated[
        Percent, doc("random transaction selection: maximum target percentage")
    ] = 0
    default_ddol: Annotated[HexData, doc("default DDOL")] = "9F3704"
    default_tdol: Annotated[HexData, doc("default TDOL")] = ""
    # As an Application Priority Indicator's low nibble.
    priority: Annotated[
        int, msgspec.Meta(ge=0, le=15), doc("terminal tie-break: 1 first, 15 last, 0 none")
    ] = 0
    # Contactless (EMV Book B 3.1).
    kernel_id: Annotated[
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^(?:[0-9A-Fa-f]{2}){1,8}$", description="a kernel id: 1 to 8 bytes in hex"
            ),
        ]
        | None,
        doc('contactless kernel: "02" Mastercard-, "03" Visa-, "C10643" Mir-style; unset: contact'),
    ] = None
    ctls_transaction_limit: Annotated[
        Amount | None, doc("amounts from this one are not taken over the air")
    ] = None
    # Kernel 2 (Book C-2 'DF8125'); 'DF8124' is ctls-transaction-limit.
    ctls_transaction_limit_cdcvm: Annotated[
        Amount | None,
        doc("the contactless transaction limit when the phone verified its holder (on-device CVM)"),
    ] = None
    ctls_floor_limit: Annotated[Amount | None, doc("amounts over this one go online")] = None
    ctls_cvm_limit: Annotated[Amount | None, doc("amounts from this one need a CVM")] = None
    ttq: Annotated[
        Annotated[str, hex_bytes(4, "9F66")] | None,
        doc("Visa-style Terminal Transaction Qualifiers (9F66)"),
    ] = None
    tags_to_read: Annotated[list[str], doc("Mastercard-style Tags To Read (DF8112)")] = (
        msgspec.field(default_factory=list)
    )

    def __post_init__(self) -> None:
        not_below(self, "random_selection_max_percent", "random_selection_target_percent")
        check_tags("tags-to-read", self.tags_to_read)
        upper_hex(
            self, "aid", "application_version", "tac_denial", "tac_online", "tac_default",
            "default_ddol", "default_tdol", "kernel_id", "ttq", "tags_to_read",
        )  # fmt: skip


def _default_aids() -> list[AidParameters]:
    # The payment systems the simulator's virtual cards use; a provisioned
    # terminal replaces this list with the management server's EMV part.
    # Contactless limits (minor units): floor 100.00, CVM 3000.00, transaction
    # 100000.00.
    def aid(
        aid: str,
        label: str,
        version: str,
        kernel: str,
        *,
        mc: bool = False,
        ttq: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> AidParameters:
        return AidParameters(
            aid=aid, label=label, application_version=version, kernel_id=kernel, ttq=ttq,
            tags_to_read=list(tags),
            tac_denial="0000000000" if mc else "0010000000",
            tac_online="F45084800C" if mc else "DC4004F800",
            tac_default="F45084800C" if mc else "DC4000A800",
            ctls_floor_limit=10_000, ctls_cvm_limit=300_000, ctls_transaction_limit=10_000_000,
        )  # fmt: skip

    return [
        aid("A0000000031010", "VISA", "0096", "03", ttq="36004000"),
        aid("A0000000032010", "VISA ELECTRON", "0096", "03", ttq="36004000"),
        aid("A0000000041010", "MASTERCARD", "0002", "02", mc=True, tags=("9F24",)),
        aid("A0000006581010", "MIR", "0100", "C10643", mc=True),
    ]


class CaKeyParameters(Section):
    """A certification authority public key (EMV Book 2 11.2)."""

    rid: Annotated[str, hex_bytes(5, "a RID"), doc("the scheme's RID")]
    index: Annotated[str, hex_bytes(1, "a CA public key index"), doc("the key's index")]
    modulus: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(?:[0-9A-Fa-f]{2}){64,248}$", description="a modulus: 64 to 248 bytes in hex"
        ),
        doc("the modulus"),
    ]
    exponent: Annotated[
        str,
        msgspec.Meta(pattern=r"^(?:03|010001)$", description="03 or 010001 (Book 2 11.2)"),
        doc("the public exponent"),
    ]
    # Required: verified when the key is loaded (a file at start-up, the
    # management server's at updateconfiguration).
    checksum: Annotated[
        str,
        hex_bytes(20, "a SHA-1 checksum"),
        doc("SHA-1 over RID, index, modulus and exponent (Book 2 11.2.2)"),
    ]
    expiry: Annotated[
        Annotated[
            str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD")
        ]
        | None,
        doc("expiry date"),
    ] = None

    def __post_init__(self) -> None:
        upper_hex(self, "rid", "index", "modulus", "exponent", "checksum")
        digest = hashlib.sha1(  # noqa: S324 - EMV Book 2 11.2.2 defines SHA-1 here
            bytes.fromhex(self.rid + self.index + self.modulus + self.exponent)
        ).hexdigest()
        if digest.upper() != self.checksum:
            raise ValueError(f"CA key {self.rid}/{self.index}: checksum does not verify")
        if self.expiry is not None:
            try:
                dt.date.fromisoformat(self.expiry)
            except ValueError:
                raise ValueError(f"expiry: '{self.expiry}' is not a date") from None


class EmvConfig(Section):
    """Terminal EMV parameters (EMV Book 4 Annex A)."""

    country_code: Annotated[
        int, msgspec.Meta(ge=1, le=999), doc("terminal country code (9F1A), ISO 3166 numeric")
    ] = 643
    capabilities: Annotated[str, hex_bytes(3, "9F33"), doc("terminal capabilities (9F33)")] = (
        "E0F8C8"
    )
    additional_capabilities: Annotated[
        str, hex_bytes(5, "9F40"), doc("additional terminal capabilities (9F40)")
    ] = "6000F0A001"
    # Two decimal digits read as hex: 11-16, 21-26, 34-36 (Book 4 Annex A1).
    terminal_type: Annotated[
        int, msgspec.Meta(ge=0x11, le=0x36, extra={"hex": 2}), doc("terminal type (9F35)")
    ] = 0x22
    aids: Annotated[list[AidParameters], doc("the applications the terminal supports")] = (
        msgspec.field(default_factory=_default_aids)
    )
    ca_keys: Annotated[list[CaKeyParameters], doc("certification authority public keys")] = (
        msgspec.field(default_factory=list)
    )
    simulator_ca_keys: Annotated[
        bool, doc("also load the simulator's generated test CA keys (simulators/devices/pki)")
    ] = False
    data_exchange_tags: Annotated[
        list[str], doc("Data Exchange Tag List (DF811E) for dex messages")
    ] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        check_tags("data-exchange-tags", self.data_exchange_tags)
        upper_hex(self, "capabilities", "additional_capabilities", "data_exchange_tags")
