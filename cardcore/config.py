# Strategy: one typed configuration model (msgspec) with embedded defaults, so
# `cardcore serve --simulator` needs no file. A local TOML or JSON file
# overrides any subset; an unknown or ill-typed key is a startup error naming
# the key. Keys are kebab-case, as in the management server's documents.
# Every numeric setting carries its allowed range on its type
# (`Annotated[..., msgspec.Meta(ge=..., le=...)]`, codes a pattern and a
# description); msgspec checks it while converting and the error line reads it
# back from the type (msgspec.inspect), so a range is written once. A rule
# between two fields of a section lives in the section's `__post_init__` and
# raises `OutOfRange`, which msgspec reports at the section's path.
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect as mi

from acquirers.sbp.config import SbpConfig
from kernel import tlv
from kernel.errors import CardcoreError

__all__ = [
    "AcquirerConfig",
    "AdminConfig",
    "AidParameters",
    "CaKeyParameters",
    "Config",
    "ConfigError",
    "ConfigRangeError",
    "DeviceConfig",
    "EmvConfig",
    "HostConfig",
    "HostKeyConfig",
    "InterfacesConfig",
    "OutOfRange",
    "PinPadConfig",
    "ProvisioningConfig",
    "ReadersConfig",
    "SamConfig",
    "ServerConfig",
    "SettlementConfig",
    "TerminalConfig",
    "TransactionConfig",
    "build_config",
    "find_key",
    "load_config",
    "load_config_data",
    "merge_config_data",
]


class ConfigError(CardcoreError):
    """Invalid configuration."""

    status = "invalidarguments"


class ConfigRangeError(ConfigError):
    """A setting of the right type with a value outside its allowed range."""

    def __init__(self, key: str, shown: str, allowed: str) -> None:
        super().__init__(f"configuration key '{key}' is {shown}; allowed: {allowed}")
        self.key = key
        self.shown = shown
        self.allowed = allowed


class OutOfRange(ValueError):
    """Raised by a section's ``__post_init__`` for a rule its types cannot say:
    ``name`` (an attribute) must not be below the attribute ``at_least``, or
    must be a power of two. msgspec turns it into a ValidationError at the
    section's path, with this as its cause."""

    def __init__(
        self,
        name: str,
        value: float,
        *,
        at_least: tuple[str, float] | None = None,
        power_of_two: bool = False,
    ) -> None:
        rule = f"at least {at_least[0]} ({at_least[1]})" if at_least else "a power of two"
        super().__init__(f"{name} is {value}; must be {rule}")
        self.name = name
        self.value = value
        self.at_least = at_least
        self.power_of_two = power_of_two


def _not_below(section: msgspec.Struct, name: str, floor_name: str) -> None:
    value, floor = getattr(section, name), getattr(section, floor_name)
    if value is not None and floor is not None and value < floor:
        raise OutOfRange(name, value, at_least=(floor_name, floor))


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    pass


# Ports: a host's are 1..65535; the terminal's own listeners take 0 for a free port.
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
ListenPort = Annotated[int, msgspec.Meta(ge=0, le=65535)]
# Seconds. Below a tenth of a second no real peer or person can keep up; the
# upper bounds catch a slipped digit while leaving room for slow links.
Seconds = Annotated[float, msgspec.Meta(ge=0.1, le=600)]
LongSeconds = Annotated[float, msgspec.Meta(ge=0.1, le=86400)]
# Amounts in minor units, as ISO 8583 and EMV carry them (n12).
Amount = Annotated[int, msgspec.Meta(ge=0, le=999_999_999_999)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=99)]  # EMV Book 3 10.6.2


def _hex(nbytes: int, what: str) -> msgspec.Meta:
    """A fixed-length binary data element written as hex."""
    return msgspec.Meta(
        pattern=f"^[0-9A-Fa-f]{{{2 * nbytes}}}$", description=f"{what}: {nbytes} bytes in hex"
    )


HttpsUrl = Annotated[str, msgspec.Meta(pattern=r"^https://[!-~]+$", description="an https:// URL")]
# Binary data of any length (a DOL, a key's modulus), written as hex.
HexData = Annotated[str, msgspec.Meta(pattern=r"^(?:[0-9A-Fa-f]{2})*$", description="bytes in hex")]


def _upper(section: msgspec.Struct, *names: str) -> None:
    """Hex is kept upper-case, as EMV writes it: a value reads the same
    whether it came from a file or from the management server's tags."""
    for name in names:
        value = getattr(section, name)
        if isinstance(value, str):
            setattr(section, name, value.upper())
        elif isinstance(value, list):
            setattr(section, name, [item.upper() for item in value])


def _check_tags(name: str, tags: list[str]) -> None:
    """Each entry is one BER-TLV tag (EMV Book 3 Annex B1), as a tag list
    ('DF8112', 'DF811E') carries it."""
    for text in tags:
        try:
            value = int(text, 16)
            tlv.encode_tag(value)
        except ValueError:
            raise ValueError(f"{name}: '{text}' is not an EMV tag") from None
        if tlv.tag_hex(value) != text.upper():
            raise ValueError(f"{name}: '{text}' is not an EMV tag")


class ServerConfig(_Section):
    """The ECR listener (manual: «Протокол обмена данными», port 4433)."""

    listen: str = "0.0.0.0"  # noqa: S104 - a terminal serves the cash register on its LAN
    port: ListenPort = 4433
    activator_port: ListenPort = 4434
    # Bytes: the largest real packet (a full report) is tens of KiB.
    max_packet: Annotated[int, msgspec.Meta(ge=4 * 1024, le=16 * 1024 * 1024)] = 64 * 1024
    # Seconds: no command on an open connection, a packet left half-sent, a
    # message the client does not answer.
    idle_timeout: LongSeconds = 60.0
    frame_timeout: Seconds = 15.0
    answer_timeout: Seconds = 30.0
    keepalive_interval: Seconds = 5.0
    # Connections held at once, in all and from one peer address. Over the
    # per-address limit a newcomer is refused; with the table full, a new
    # address takes the place of the oldest idle connection of the address
    # holding the most (cardcore.connections).
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 512
    max_connections_per_peer: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 32
    # Addresses or networks ("192.0.2.10", "10.1.0.0/16", "::1") the ECR
    # port serves; empty: every address.
    allowed_clients: list[str] = msgspec.field(default_factory=list)
    # Secure-channel keys kept at once (one per logged-in secure session).
    secure_keys: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8

    def __post_init__(self) -> None:
        for entry in self.allowed_clients:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"allowed-clients: '{entry}' is not an IP address or network"
                ) from None


class AdminConfig(_Section):
    token_idle_timeout: Annotated[float, msgspec.Meta(ge=10, le=86400)] = 15 * 60.0
    # Failures in a row before the lock-out, and its first and longest length (s).
    lockout_after: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    lockout_initial: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 30.0
    lockout_max: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 15 * 60.0
    confirm_timeout: Annotated[float, msgspec.Meta(ge=1, le=600)] = 30.0
    # scrypt cost (RFC 7914), a power of two; n=2**14, r=8 costs about 16 MiB
    # and tens of ms per check, 2**20 a GiB and seconds.
    scrypt_n: Annotated[int, msgspec.Meta(ge=2**10, le=2**20)] = 2**14

    def __post_init__(self) -> None:
        _not_below(self, "lockout_max", "lockout_initial")
        if self.scrypt_n & (self.scrypt_n - 1):
            raise OutOfRange("scrypt_n", self.scrypt_n, power_of_two=True)


class DeviceConfig(_Section):
    """Hardware identity; on a real terminal filled from the device's own records."""

    serial_number: str = "000000000001"
    model: str = "CARDCORE-SIM"
    firmware_mcu: str = "none"
    firmware_boot: str = "none"
    sdk: str = "none"


class TerminalConfig(_Section):
    """Merchant-facing identity; normally provisioned by the management server
    (terminal part: 9F1C tid, 9F16 mid, 9F15 MCC, 9F4E name and location)."""

    tid: str | None = None
    mid: str | None = None
    mcc: (
        Annotated[
            str,
            msgspec.Meta(pattern=r"^[0-9]{4}$", description="a 4-digit merchant category code"),
        ]
        | None
    ) = None
    merchant_name_location: str = ""
    acquirer_id: str | None = None
    currency: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(?!000)[0-9]{3}$", description="a 3-digit ISO 4217 numeric currency code"
        ),
    ] = "643"
    header_lines: list[str] = msgspec.field(default_factory=list)
    footer_lines: list[str] = msgspec.field(default_factory=list)


class HostConfig(_Section):
    host: str
    port: Port


class AcquirerConfig(_Section):
    """The acquirer host link (ISO 8583) and what the acquirer allows."""

    # The ISO 8583 dialect the host speaks (acquirers/iso8583/dialects: generic87,
    # iso87-binary, iso87-ascii); the host simulator speaks the same.
    dialect: str = "generic87"
    main: HostConfig | None = None
    mirror: HostConfig | None = None
    connect_timeout: Seconds = 10.0
    response_timeout: Seconds = 30.0
    # TLS with the client certificate from activation (files in the data dir):
    # "auto" once activation delivered it, plain TCP before (the link carries
    # PANs and track 2: a plain link to another machine is warned about).
    tls: bool | Literal["auto"] = "auto"
    bank_name: str = ""
    acquirer_tag: str = ""
    # Operations allowed with a manually entered PAN (purchase, refund, void,
    # purchase-with-cashback); empty: manual entry not supported.
    manual_entry: list[str] = msgspec.field(default_factory=list)
    # Operations without the card (manual «Транзакция», variant В: refund or
    # void with forced=true), which only some acquirers support: off unless
    # the acquirer allows them. `void number=last` (variant Б) is always on.
    forced_refund: bool = False
    forced_void: bool = False
    # Cardless refunds and voids (forced; every void, which runs without
    # the card) need the administrator password, as manual card entry does.
    forced_password: bool = False
    partial_void: bool = False
    partial_refund: bool = True
    # Store-and-forward back-off for reversals and advices, seconds.
    retry_initial: Annotated[float, msgspec.Meta(ge=0.1, le=3600)] = 5.0
    retry_max: Annotated[float, msgspec.Meta(ge=0.1, le=86400)] = 300.0

    def __post_init__(self) -> None:
        _not_below(self, "retry_max", "retry_initial")
        from acquirers.iso8583.dialects import DIALECTS

        if self.dialect not in DIALECTS:
            raise ValueError(
                f"dialect: '{self.dialect}' is not one of {', '.join(sorted(DIALECTS))}"
            )


class SettlementConfig(_Section):
    """End of day (manual «Сверка итогов»: `settlement cutover="true"`)."""

    # Run the network cutover (0800, 201) after a settlement that passed.
    cutover: bool = False
    # The acquirer accepts a forced settlement (`<force>on</force>`) after a
    # settlement that failed out of balance.
    forced_settlement: bool = False


class TransactionConfig(_Section):
    detection_timeout: Seconds = 60.0
    pin_timeout: Seconds = 60.0
    # Manual: [JCONF] data-exchange = enabled -> `dex` messages.
    data_exchange: bool = False
    languages: str = "ruen"


class AidParameters(_Section):
    """One supported application (EMV Book 1 12.3, Book 3 10.6-10.7)."""

    aid: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(?:[0-9A-Fa-f]{2}){5,16}$", description="an AID: 5 to 16 bytes in hex"
        ),
    ]
    label: str = ""
    partial_selection: bool = True
    application_version: Annotated[str, _hex(2, "9F09")] = "0096"
    tac_denial: Annotated[str, _hex(5, "a TAC")] = "0010000000"
    tac_online: Annotated[str, _hex(5, "a TAC")] = "DC4004F800"
    tac_default: Annotated[str, _hex(5, "a TAC")] = "DC4000A800"
    floor_limit: Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)] = 0  # 9F1B is binary, 4 bytes
    random_selection_threshold: Amount = 0
    random_selection_target_percent: Percent = 0
    random_selection_max_percent: Percent = 0
    default_ddol: HexData = "9F3704"
    default_tdol: HexData = ""
    # Terminal tie-break, as an Application Priority Indicator's low nibble:
    # 1 first, 15 last, 0 none.
    priority: Annotated[int, msgspec.Meta(ge=0, le=15)] = 0
    # Contactless (EMV Book B 3.1; an AID without a kernel id is contact only).
    # Kernel ids: "02" Mastercard-style, "03" Visa-style, "C10643" Mir-style.
    kernel_id: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^(?:[0-9A-Fa-f]{2}){1,8}$", description="a kernel id: 1 to 8 bytes in hex"
            ),
        ]
        | None
    ) = None
    ctls_transaction_limit: Amount | None = None  # amount >= limit: not over the air
    # Kernel 2 (Book C-2 'DF8125'): the limit when the phone verified its holder
    # (on-device CVM); 'DF8124' is ctls-transaction-limit.
    ctls_transaction_limit_cdcvm: Amount | None = None
    ctls_floor_limit: Amount | None = None  # amount > limit: online
    ctls_cvm_limit: Amount | None = None  # amount >= limit: CVM required
    ttq: Annotated[str, _hex(4, "9F66")] | None = None  # Visa-style Terminal Transaction Qualifiers
    tags_to_read: list[str] = msgspec.field(default_factory=list)  # Kernel 2 'DF8112'

    def __post_init__(self) -> None:
        _not_below(self, "random_selection_max_percent", "random_selection_target_percent")
        _check_tags("tags-to-read", self.tags_to_read)
        _upper(
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


class CaKeyParameters(_Section):
    """A certification authority public key (EMV Book 2 11.2)."""

    rid: Annotated[str, _hex(5, "a RID")]
    index: Annotated[str, _hex(1, "a CA public key index")]
    modulus: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(?:[0-9A-Fa-f]{2}){64,248}$", description="a modulus: 64 to 248 bytes in hex"
        ),
    ]
    exponent: Annotated[
        str, msgspec.Meta(pattern=r"^(?:03|010001)$", description="03 or 010001 (Book 2 11.2)")
    ]
    # SHA-1 over RID, index, modulus and exponent (Book 2 11.2.2): required,
    # verified when the key is loaded (a file at start-up, the management
    # server's at updateconfiguration).
    checksum: Annotated[str, _hex(20, "a SHA-1 checksum")]
    expiry: (
        Annotated[
            str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD")
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        _upper(self, "rid", "index", "modulus", "exponent", "checksum")
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


class EmvConfig(_Section):
    """Terminal EMV parameters (EMV Book 4 Annex A)."""

    country_code: Annotated[int, msgspec.Meta(ge=1, le=999)] = 643  # 9F1A, ISO 3166 numeric
    capabilities: Annotated[str, _hex(3, "9F33")] = "E0F8C8"
    additional_capabilities: Annotated[str, _hex(5, "9F40")] = "6000F0A001"
    # 9F35, two decimal digits read as hex: 11-16, 21-26, 34-36 (Book 4 Annex A1).
    terminal_type: Annotated[int, msgspec.Meta(ge=0x11, le=0x36, extra={"hex": 2})] = 0x22
    aids: list[AidParameters] = msgspec.field(default_factory=_default_aids)
    ca_keys: list[CaKeyParameters] = msgspec.field(default_factory=list)
    # Load the simulator's generated test CA keys (hal/sim/pki) into the store.
    simulator_ca_keys: bool = False
    # Data Exchange Tag List (DF811E) for `dex` messages.
    data_exchange_tags: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        _check_tags("data-exchange-tags", self.data_exchange_tags)
        _upper(self, "capabilities", "additional_capabilities", "data_exchange_tags")


def _contactless_patterns() -> list[str]:
    return ["*PICC*", "*Contactless*", "*-CL*", "* CL *"]


class ReadersConfig(_Section):
    """Card readers (hal.pcsc). `driver`: auto = simulated readers with
    --simulator, PC/SC otherwise. Each interface takes the first PC/SC reader
    whose name matches one of its patterns (fnmatch, case-insensitive, tried
    in order); the contact interface never takes a reader that the
    contactless patterns or `exclude` match (SAM slots, for instance)."""

    driver: Literal["auto", "sim", "pcsc", "none"] = "auto"
    contact: list[str] = msgspec.field(default_factory=lambda: ["*"])
    contactless: list[str] = msgspec.field(default_factory=_contactless_patterns)
    exclude: list[str] = msgspec.field(default_factory=lambda: ["*SAM*"])
    # A reader-specific pseudo-APDU answering ATQA (2, as on the air) || SAK
    # (1), hex; PC/SC part 3 defines none, so by default they are derived
    # (hal.atr).
    atqa_sak_apdu: str = ""
    # Seconds a blocking PC/SC wait lasts before it is re-issued.
    poll: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0
    # Seconds transient answers after a card change are retried (0: not at all).
    settle: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0


UsbId = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF, extra={"hex": 4})]


class PinPadConfig(_Section):
    """The PIN pad (hal.usbhid). `driver`: auto = simulated with --simulator,
    the USB-HID pad otherwise; `emulated` runs the USB-HID driver against its
    built-in device emulator (bench use without a pad)."""

    driver: Literal["auto", "sim", "usbhid", "none"] = "auto"
    vendor_id: UsbId = 0x1209  # pid.codes; set the pad's own
    product_id: UsbId = 0x0001
    emulated: bool = False
    # The PIN the emulated pad's cardholder types outside simulator mode
    # (bench tests with TEST cards only; with --simulator it is the presented
    # virtual card's).
    emulated_pin: Annotated[
        str, msgspec.Meta(pattern=r"^[0-9]{4,12}$", description="4 to 12 digits (ISO 9564)")
    ] = "1234"
    # The emulated pad's online-PIN scheme: "tpk" (format 0 under the TPK),
    # or DUKPT from the TEST base derivation keys the host simulator knows
    # ("dukpt-tdes": X9.24-1, format 0; "dukpt-aes": X9.24-3, format 4).
    emulated_scheme: Literal["tpk", "dukpt-tdes", "dukpt-aes"] = "tpk"
    transfer_timeout: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 2.0  # s per USB transfer


class HostKeyConfig(_Section):
    """A SAM AV2 host key (manual: «Установка ключа хоста для SAM AV2»):
    `sethostkey` looks the key's parameters up here by name."""

    name: str
    # Key entry number in the SAM (AV2 has 128 entries) and the key's version.
    entry: Annotated[int, msgspec.Meta(ge=0, le=127)]
    version: Annotated[int, msgspec.Meta(ge=0, le=255)] = 0


class SamConfig(_Section):
    """The SAM for MIFARE authentication (hal.sam). `driver`: auto = the
    simulated SAM with --simulator, none otherwise."""

    driver: Literal["auto", "sim", "none"] = "auto"
    host_key: list[HostKeyConfig] = msgspec.field(default_factory=list)
    # Key store name of the SAM key that authorises key changes (its master
    # key, entry 0); empty: the factory default (all zero).
    change_key: str = ""


class ProvisioningConfig(_Section):
    """Activation, configuration updates and master-key loading (issue 8)."""

    # PEM file with the vendor RSA public key that signs confdata/cert. Unset:
    # the bundled TEST vendor key, which only simulator mode accepts unless
    # allow-test-vendor-key is set (test deployments).
    vendor_key_file: str | None = None
    allow_test_vendor_key: bool = False
    # Seconds: waiting for the activator to connect and send <reset>, and for
    # each of its answers; each HTTPS request to the TMS and the key server.
    activation_timeout: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 600.0
    activator_answer_timeout: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60.0
    http_timeout: Seconds = 30.0
    max_document: Annotated[int, msgspec.Meta(ge=4 * 1024, le=64 * 1024 * 1024)] = 1024 * 1024
    # Key-loader URLs (normally provisioned by the common part of the TMS).
    key_server_main: HttpsUrl | None = None
    key_server_mirror: HttpsUrl | None = None
    # Seconds between the remote-management polls of the configuration
    # server (POST {tms}/message); 0: no polling.
    poll_interval: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 300.0
    # A program that installs software the server offers (`updatesoftware`):
    # run with the server's <appmap> on its standard input, its exit status
    # the result. Unset: the command is refused. Local only (cardcore.
    # provisioning.mapping): the server never chooses what the terminal runs.
    software_update_command: list[str] = msgspec.field(default_factory=list)


class InterfacesConfig(_Section):
    """Card interfaces the terminal offers (manual [JCONF] <interfaces>)."""

    contact: bool = True
    contactless: bool = True
    # <interfaces><mifare enable="true"/>: every contactless card goes to the
    # cash register first as a `smartcard` message (manual «Сообщение smartcard»).
    mifare: bool = False
    # SBP QR payments, when an [sbp] agent is configured (manual «Система
    # быстрых платежей»: "настраивается и разрешается в конфигурации").
    sbp: bool = True


class Config(_Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    device: DeviceConfig = msgspec.field(default_factory=DeviceConfig)
    terminal: TerminalConfig = msgspec.field(default_factory=TerminalConfig)
    acquirer: AcquirerConfig = msgspec.field(default_factory=AcquirerConfig)
    transaction: TransactionConfig = msgspec.field(default_factory=TransactionConfig)
    settlement: SettlementConfig = msgspec.field(default_factory=SettlementConfig)
    emv: EmvConfig = msgspec.field(default_factory=EmvConfig)
    readers: ReadersConfig = msgspec.field(default_factory=ReadersConfig)
    pinpad: PinPadConfig = msgspec.field(default_factory=PinPadConfig)
    sam: SamConfig = msgspec.field(default_factory=SamConfig)
    interfaces: InterfacesConfig = msgspec.field(default_factory=InterfacesConfig)
    # The SBP (Faster Payments System) agent; SBP is offered when configured.
    sbp: SbpConfig | None = None
    provisioning: ProvisioningConfig = msgspec.field(default_factory=ProvisioningConfig)


_AT = re.compile(r" - at `\$((?:\.[\w-]+|\[\d+\])*)`$")
_STEP = re.compile(r"\.([\w-]+)|\[(\d+)\]")
_Steps = list[str | int]  # keys and list indexes from the top of the configuration
# What a value of each constrained type is when only its range is wrong.
_PLAIN: dict[type[mi.Type], type | tuple[type, ...]] = {
    mi.IntType: int,
    mi.FloatType: (int, float),
    mi.StrType: str,
}


def _describe(exc: msgspec.ValidationError, data: dict[str, Any]) -> ConfigError:
    text = str(exc)
    match = _AT.search(text)
    at = match.group(1) if match else ""
    path = at.lstrip(".")
    message = _AT.sub("", text)
    unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
    if unknown:
        key = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return ConfigError(f"unknown configuration key '{key}'")
    steps: _Steps = [int(index) if index else key for key, index in _STEP.findall(at)]
    if isinstance(exc.__cause__, OutOfRange):
        return _rule_error(steps, exc.__cause__)
    return _constraint_error(steps, data) or ConfigError(
        f"configuration key '{path or '(top level)'}': {message}"
    )


def _constraint_error(steps: _Steps, data: dict[str, Any]) -> ConfigRangeError | None:
    """The range error for a value of the right type that its field's
    annotation refused; None when the type itself was wrong (msgspec's own
    message names the type)."""
    value: Any = data
    for step in steps:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    field_type = _type_at(steps)
    choices = _choices(field_type)
    if choices and isinstance(value, str):
        allowed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
        return ConfigRangeError(_key(steps), repr(value), allowed)
    kind = _constraints(field_type)[0]
    wanted = _PLAIN.get(type(kind))
    if wanted is None or isinstance(value, bool) or not isinstance(value, wanted):
        return None
    return ConfigRangeError(_key(steps), _shown(value, field_type), _allowed(field_type))


def _rule_error(steps: _Steps, rule: OutOfRange) -> ConfigRangeError:
    """The range error for a section's own rule (``steps`` lead to the section)."""
    fields = {f.name: f for f in getattr(_type_at(steps), "fields", ())}
    field_type = fields[rule.name].type
    lower, upper = _bounds(field_type)
    if rule.at_least is not None:
        name, floor = rule.at_least
        allowed = f"{_key([*steps, fields[name].encode_name])} ({_number(floor)}) to {upper}"
    else:
        allowed = f"a power of two from {lower} to {upper}"
    key = _key([*steps, fields[rule.name].encode_name])
    return ConfigRangeError(key, _shown(rule.value, field_type), allowed)


@functools.cache
def _model() -> mi.Type:
    return mi.type_info(Config)


def _type_at(steps: _Steps) -> mi.Type:
    """The type of the configuration value at ``steps`` (an Optional unwrapped)."""
    current = _model()
    for step in steps:
        current = _unwrap(current)
        if isinstance(current, mi.ListType):
            current = current.item_type
        elif isinstance(current, mi.StructType):
            current = next(f.type for f in current.fields if f.encode_name == step)
    return _unwrap(current)


def _choices(t: mi.Type) -> list[str]:
    """The values a Literal (or a bool beside it) allows, as written in TOML."""
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    words = ["true", "false"] if any(isinstance(m, mi.BoolType) for m in members) else []
    texts = [repr(v) for m in members if isinstance(m, mi.LiteralType) for v in m.values]
    return words + texts if texts else []


def _unwrap(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):
        inner = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(inner) == 1:
            return inner[0]
    return t


def _constraints(t: mi.Type) -> tuple[mi.Type, dict[str, Any]]:
    """The constrained type and its annotation's extras (description, hex)."""
    t = _unwrap(t)
    if isinstance(t, mi.Metadata):
        return t.type, {**(t.extra_json_schema or {}), **(t.extra or {})}
    return t, {}


def _number(value: float, hex_digits: int | None = None) -> str:
    if hex_digits is not None and isinstance(value, int) and value >= 0:
        return f"0x{value:0{hex_digits}X}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounds(t: mi.Type) -> tuple[str, str]:
    """The lower and upper bound of a number's annotation, as words."""
    kind, extra = _constraints(t)
    digits = extra.get("hex")

    def bound(inclusive: str, exclusive: str, word: str) -> str:
        value = getattr(kind, inclusive, None)
        if value is not None:
            return _number(value, digits)
        value = getattr(kind, exclusive, None)
        return "" if value is None else f"{word} {_number(value, digits)}"

    return bound("ge", "gt", "more than"), bound("le", "lt", "less than")


def _allowed(t: mi.Type) -> str:
    kind, extra = _constraints(t)
    if "description" in extra:
        return str(extra["description"])
    if isinstance(kind, mi.StrType):
        return f"text matching {kind.pattern}"
    lower, upper = _bounds(t)
    if lower and upper:
        return f"{lower} to {upper}"
    return f"{lower} or more" if lower else f"up to {upper}"


def _shown(value: Any, t: mi.Type) -> str:
    if isinstance(value, str):
        return repr(value)
    return _number(value, _constraints(t)[1].get("hex"))


def _key(steps: _Steps) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")


def build_config(data: dict[str, Any]) -> Config:
    try:
        return msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise _describe(exc, data) from None


def merge_config_data(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A new mapping: ``base`` with ``overlay`` laid over it section by section
    (tables merge key by key; any other value, lists included, is replaced)."""
    merged: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config_data(merged[key], value)
        else:
            merged[key] = value
    return merged


def find_key(data: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Whether raw configuration ``data`` sets the dotted ``key``, and to what."""
    value: Any = data
    for name in key.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return False, None
        value = value[name]
    return True, value


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the file at ``path`` (TOML or JSON), then ``overrides``."""
    return build_config(load_config_data(path, overrides))


def load_config_data(path: Path | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The raw local configuration (file, then ``overrides``), not yet validated."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
        try:
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration {path} is not valid: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"configuration {path} must be a table of sections")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    return data
