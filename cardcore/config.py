# Strategy: one typed configuration model (msgspec) with embedded defaults, so
# `cardcore serve --simulator` needs no file. A local TOML or JSON file
# overrides any subset; an unknown or ill-typed key is a startup error naming
# the key. Keys are kebab-case, as in the management server's documents.
from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from acquirers.sbp.config import SbpConfig
from kernel.errors import CardcoreError

__all__ = [
    "AcquirerConfig",
    "AdminConfig",
    "AidParameters",
    "CaKeyParameters",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "EmvConfig",
    "HostConfig",
    "HostKeyConfig",
    "InterfacesConfig",
    "PinPadConfig",
    "ProvisioningConfig",
    "ReadersConfig",
    "SamConfig",
    "ServerConfig",
    "SettlementConfig",
    "TerminalConfig",
    "TransactionConfig",
    "build_config",
    "load_config",
    "load_config_data",
    "merge_config_data",
]


class ConfigError(CardcoreError):
    """Invalid configuration."""

    status = "invalidarguments"


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    pass


Seconds = Annotated[float, msgspec.Meta(gt=0)]


class ServerConfig(_Section):
    """The ECR listener (manual: «Протокол обмена данными», port 4433)."""

    listen: str = "0.0.0.0"  # noqa: S104 - a terminal serves the cash register on its LAN
    port: int = 4433
    activator_port: int = 4434
    max_packet: int = 64 * 1024
    # Seconds: no command on an open connection, a packet left half-sent, a
    # message the client does not answer.
    idle_timeout: Seconds = 60.0
    frame_timeout: Seconds = 15.0
    answer_timeout: Seconds = 30.0
    keepalive_interval: Seconds = 5.0
    # Connections held at once, in all and from one peer address. Over the
    # per-address limit a newcomer is refused; with the table full, a new
    # address takes the place of the oldest idle connection of the address
    # holding the most (cardcore.connections).
    max_connections: int = 512
    max_connections_per_peer: int = 32
    # Addresses or networks ("192.0.2.10", "10.1.0.0/16", "::1") the ECR
    # port serves; empty: every address.
    allowed_clients: list[str] = msgspec.field(default_factory=list)
    secure_keys: int = 8

    def __post_init__(self) -> None:
        for entry in self.allowed_clients:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"allowed-clients: '{entry}' is not an IP address or network"
                ) from None


class AdminConfig(_Section):
    token_idle_timeout: float = 15 * 60.0
    lockout_after: int = 5
    lockout_initial: float = 30.0
    lockout_max: float = 15 * 60.0
    confirm_timeout: float = 30.0
    # scrypt cost (RFC 7914); n=2**14, r=8 costs about 16 MiB and tens of ms.
    scrypt_n: int = 2**14


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
    mcc: str | None = None
    merchant_name_location: str = ""
    acquirer_id: str | None = None
    currency: str = "643"
    header_lines: list[str] = msgspec.field(default_factory=list)
    footer_lines: list[str] = msgspec.field(default_factory=list)


class HostConfig(_Section):
    host: str
    port: int


class AcquirerConfig(_Section):
    """The acquirer host link (ISO 8583) and what the acquirer allows."""

    # The ISO 8583 dialect the host speaks (acquirers/iso8583/dialects: generic87,
    # iso87-binary, iso87-ascii); the host simulator speaks the same.
    dialect: str = "generic87"
    main: HostConfig | None = None
    mirror: HostConfig | None = None
    connect_timeout: float = 10.0
    response_timeout: float = 30.0
    # TLS with the client certificate from activation (files in the data dir).
    tls: bool = False
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
    retry_initial: float = 5.0
    retry_max: float = 300.0

    def __post_init__(self) -> None:
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
    detection_timeout: float = 60.0
    pin_timeout: float = 60.0
    # Manual: [JCONF] data-exchange = enabled -> `dex` messages.
    data_exchange: bool = False
    languages: str = "ruen"


class AidParameters(_Section):
    """One supported application (EMV Book 1 12.3, Book 3 10.6-10.7)."""

    aid: str
    label: str = ""
    partial_selection: bool = True
    application_version: str = "0096"
    tac_denial: str = "0010000000"
    tac_online: str = "DC4004F800"
    tac_default: str = "DC4000A800"
    floor_limit: int = 0
    random_selection_threshold: int = 0
    random_selection_target_percent: int = 0
    random_selection_max_percent: int = 0
    default_ddol: str = "9F3704"
    default_tdol: str = ""
    priority: int = 0
    # Contactless (EMV Book B 3.1; an AID without a kernel id is contact only).
    # Kernel ids: "02" Mastercard-style, "03" Visa-style, "C10643" Mir-style.
    kernel_id: str | None = None
    ctls_transaction_limit: int | None = None  # amount >= limit: not over the air
    ctls_floor_limit: int | None = None  # amount > limit: online
    ctls_cvm_limit: int | None = None  # amount >= limit: CVM required
    ttq: str | None = None  # Visa-style Terminal Transaction Qualifiers '9F66'
    tags_to_read: list[str] = msgspec.field(default_factory=list)  # Kernel 2 'DF8112'


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

    rid: str
    index: str
    modulus: str
    exponent: str
    # SHA-1 over RID, index, modulus and exponent (Book 2 11.2.2): required,
    # verified when the key is loaded.
    checksum: str
    expiry: str | None = None


class EmvConfig(_Section):
    """Terminal EMV parameters (EMV Book 4 Annex A)."""

    country_code: int = 643
    capabilities: str = "E0F8C8"
    additional_capabilities: str = "6000F0A001"
    terminal_type: int = 0x22
    aids: list[AidParameters] = msgspec.field(default_factory=_default_aids)
    ca_keys: list[CaKeyParameters] = msgspec.field(default_factory=list)
    # Load the simulator's generated test CA keys (hal/sim/pki) into the store.
    simulator_ca_keys: bool = False
    # Data Exchange Tag List (DF811E) for `dex` messages.
    data_exchange_tags: list[str] = msgspec.field(default_factory=list)


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
    poll: float = 1.0  # seconds a blocking PC/SC wait lasts before it is re-issued
    settle: float = 2.0  # seconds transient answers after a card change are retried


class PinPadConfig(_Section):
    """The PIN pad (hal.usbhid). `driver`: auto = simulated with --simulator,
    the USB-HID pad otherwise; `emulated` runs the USB-HID driver against its
    built-in device emulator (bench use without a pad)."""

    driver: Literal["auto", "sim", "usbhid", "none"] = "auto"
    vendor_id: int = 0x1209  # pid.codes; set the pad's own
    product_id: int = 0x0001
    emulated: bool = False
    # The PIN the emulated pad's cardholder types outside simulator mode
    # (bench tests with TEST cards only; with --simulator it is the presented
    # virtual card's).
    emulated_pin: str = "1234"
    # The emulated pad's online-PIN scheme: "tpk" (format 0 under the TPK),
    # or DUKPT from the TEST base derivation keys the host simulator knows
    # ("dukpt-tdes": X9.24-1, format 0; "dukpt-aes": X9.24-3, format 4).
    emulated_scheme: Literal["tpk", "dukpt-tdes", "dukpt-aes"] = "tpk"
    transfer_timeout: float = 2.0  # seconds per USB transfer


class HostKeyConfig(_Section):
    """A SAM AV2 host key (manual: «Установка ключа хоста для SAM AV2»):
    `sethostkey` looks the key's parameters up here by name."""

    name: str
    entry: int  # key entry number in the SAM
    version: int = 0


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
    activation_timeout: float = 600.0
    activator_answer_timeout: float = 60.0
    http_timeout: float = 30.0
    max_document: int = 1024 * 1024
    # Key-loader URLs (normally provisioned by the common part of the TMS).
    key_server_main: str | None = None
    key_server_mirror: str | None = None


class InterfacesConfig(_Section):
    """Card interfaces the terminal offers (manual [JCONF] <interfaces>)."""

    contact: bool = True
    contactless: bool = True
    # <interfaces><mifare enable="true"/>: every contactless card goes to the
    # cash register first as a `smartcard` message (manual «Сообщение smartcard»).
    mifare: bool = False


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


def _describe(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    match = _AT.search(text)
    path = match.group(1).lstrip(".") if match else ""
    message = _AT.sub("", text)
    unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
    if unknown:
        key = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return f"unknown configuration key '{key}'"
    return f"configuration key '{path or '(top level)'}': {message}"


def build_config(data: dict[str, Any]) -> Config:
    try:
        return msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


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
