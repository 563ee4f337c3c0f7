# Strategy: one typed configuration model (msgspec) with embedded defaults, so
# `cardcore serve --simulator` needs no file. A local TOML or JSON file
# overrides any subset; an unknown or ill-typed key is a startup error naming
# the key. Keys are kebab-case, as in the management server's documents.
# Every numeric setting carries its allowed range on its type
# (`Annotated[..., msgspec.Meta(ge=..., le=...)]`, codes a pattern and a
# description); msgspec checks it while converting and the error line reads it
# back from the type (cardcore.configcheck), so a range is written once. A rule
# between two fields of a section lives in the section's `__post_init__` and
# raises `OutOfRange`, which msgspec reports at the section's path. Every
# setting also carries a one-line description on its type (`doc`), which
# `cardcore config show` and the README's configuration reference print next
# to its value and range (cardcore.configdoc).
from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from acquirers.sbp.config import SbpConfig
from cardcore.configcheck import (
    ConfigError,
    ConfigRangeError,
    OutOfRange,
    allowed_text,
    describe,
    format_number,
    setting_type,
)
from cardcore.configemv import AidParameters, CaKeyParameters, EmvConfig
from cardcore.configtypes import (
    Currency,
    HttpsUrl,
    ListenPort,
    LongSeconds,
    Port,
    Seconds,
    Section,
    doc,
    not_below,
)

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
    "LogConfig",
    "OutOfRange",
    "PinPadConfig",
    "ProvisioningConfig",
    "ReadersConfig",
    "SamConfig",
    "ServerConfig",
    "SettlementConfig",
    "TerminalConfig",
    "TransactionConfig",
    "allowed_text",
    "build_config",
    "doc",
    "find_key",
    "format_number",
    "load_config",
    "load_config_data",
    "merge_config_data",
    "setting_type",
]


class ServerConfig(Section):
    """The ECR listener (manual: «Протокол обмена данными», port 4433)."""

    listen: Annotated[str, doc("address the ECR listener binds; 0.0.0.0: every address")] = (
        "0.0.0.0"  # noqa: S104 - a terminal serves the cash register on its LAN
    )
    port: Annotated[ListenPort, doc("the ECR port; 0: a free one (see run/ecr.addr)")] = 4433
    activator_port: Annotated[
        ListenPort, doc("port the activator connects to during runreset; 0: a free one")
    ] = 4434
    # The largest real packet (a full report) is tens of KiB.
    max_packet: Annotated[
        int,
        msgspec.Meta(ge=4 * 1024, le=16 * 1024 * 1024),
        doc("bytes: longer (or empty) packets from a client are refused unread"),
    ] = 64 * 1024
    idle_timeout: Annotated[
        LongSeconds, doc("seconds without a command before a connection is closed")
    ] = 60.0
    frame_timeout: Annotated[
        Seconds, doc("seconds for a whole packet to arrive, from its first byte")
    ] = 15.0
    answer_timeout: Annotated[Seconds, doc("seconds the cash register has to answer a message")] = (
        30.0
    )
    keepalive_interval: Annotated[
        Seconds, doc("seconds between keepalives while a long command runs")
    ] = 5.0
    # Over the per-address limit a newcomer is refused; with the table full, a
    # new address takes the place of the oldest idle connection of the address
    # holding the most (cardcore.connections).
    max_connections: Annotated[
        int, msgspec.Meta(ge=1, le=65536), doc("connections held at once")
    ] = 512
    max_connections_per_peer: Annotated[
        int, msgspec.Meta(ge=1, le=65536), doc("connections held at once from one address")
    ] = 32
    allowed_clients: Annotated[
        list[str],
        doc('addresses or networks served, e.g. ["10.1.0.0/16"]; empty: every address'),
    ] = msgspec.field(default_factory=list)
    secure_keys: Annotated[
        int,
        msgspec.Meta(ge=1, le=1024),
        doc("secure-channel keys kept at once (one per secure login, ended with its token)"),
    ] = 64

    def __post_init__(self) -> None:
        for entry in self.allowed_clients:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"allowed-clients: '{entry}' is not an IP address or network"
                ) from None


class AdminConfig(Section):
    """The administrator's password and tokens."""

    # The manual: a token is valid until logout. An idle timeout is for those
    # who want one; logins beyond max-tokens end the least recently used.
    token_idle_timeout: Annotated[
        float,
        msgspec.Meta(ge=0, le=86400),
        doc("seconds a token may go unused before it expires; 0: never (until logout)"),
    ] = 0.0
    max_tokens: Annotated[
        int,
        msgspec.Meta(ge=1, le=1024),
        doc("tokens kept at once; a login beyond them ends the least recently used"),
    ] = 64
    lockout_after: Annotated[
        int, msgspec.Meta(ge=1, le=100), doc("failed password checks in a row before a lock-out")
    ] = 5
    lockout_initial: Annotated[
        float, msgspec.Meta(ge=1, le=86400), doc("seconds of the first lock-out; each next doubles")
    ] = 30.0
    lockout_max: Annotated[
        float, msgspec.Meta(ge=1, le=86400), doc("seconds of the longest lock-out")
    ] = 15 * 60.0
    confirm_timeout: Annotated[
        float,
        msgspec.Meta(ge=1, le=600),
        doc("seconds to confirm resetpassword on the terminal's keypad"),
    ] = 30.0
    # n=2**14, r=8 costs about 16 MiB and tens of ms per check, 2**20 a GiB and seconds.
    scrypt_n: Annotated[
        int,
        msgspec.Meta(ge=2**10, le=2**20),
        doc("scrypt cost of the stored password hash (RFC 7914), a power of two"),
    ] = 2**14

    def __post_init__(self) -> None:
        not_below(self, "lockout_max", "lockout_initial")
        if self.scrypt_n & (self.scrypt_n - 1):
            raise OutOfRange("scrypt_n", self.scrypt_n, power_of_two=True)


class DeviceConfig(Section):
    """Hardware identity; on a real terminal filled from the device's own records."""

    serial_number: Annotated[str, doc("the terminal's serial number (getparameters sn)")] = (
        "000000000001"
    )
    model: Annotated[str, doc("the device model; with the serial number, the device id")] = (
        "CARDCORE-SIM"
    )
    firmware_mcu: Annotated[str, doc("secure core firmware version (getparameters)")] = "none"
    firmware_boot: Annotated[str, doc("boot loader version (getparameters)")] = "none"
    sdk: Annotated[str, doc("SDK version (getparameters)")] = "none"


class TerminalConfig(Section):
    """Merchant-facing identity; normally provisioned by the management server
    (terminal part: 9F1C tid, 9F16 mid, 9F15 MCC, 9F4E name and location)."""

    tid: Annotated[str | None, doc("terminal id (EMV 9F1C; ISO 8583 field 41)")] = None
    mid: Annotated[str | None, doc("merchant id (EMV 9F16; ISO 8583 field 42)")] = None
    mcc: Annotated[
        Annotated[
            str,
            msgspec.Meta(pattern=r"^[0-9]{4}$", description="a 4-digit merchant category code"),
        ]
        | None,
        doc("merchant category code (EMV 9F15)"),
    ] = None
    merchant_name_location: Annotated[str, doc("merchant name and location (EMV 9F4E)")] = ""
    acquirer_id: Annotated[str | None, doc("acquirer id (EMV 9F01; getparameters acqid)")] = None
    currency: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(?!000)[0-9]{3}$", description="a 3-digit ISO 4217 numeric currency code"
        ),
        doc("the terminal's currency (EMV 5F2A); a batch settles in it first"),
    ] = "643"
    header_lines: Annotated[list[str], doc("lines at the top of receipts and reports")] = (
        msgspec.field(default_factory=list)
    )
    footer_lines: Annotated[list[str], doc("lines at the bottom of receipts")] = msgspec.field(
        default_factory=list
    )


class HostConfig(Section):
    host: Annotated[str, doc("host name or address")]
    port: Annotated[Port, doc("TCP port")]


class AcquirerConfig(Section):
    """The acquirer host link (ISO 8583) and what the acquirer allows."""

    # The host simulator speaks the same dialect.
    dialect: Annotated[
        str, doc("ISO 8583 dialect of the host: generic87, iso87-binary or iso87-ascii")
    ] = "generic87"
    main: Annotated[HostConfig | None, doc('the host, e.g. { host = "10.0.0.5", port = 8583 }')] = (
        None
    )
    mirror: Annotated[HostConfig | None, doc("the host tried when main fails")] = None
    connect_timeout: Annotated[Seconds, doc("seconds to connect to the host")] = 10.0
    response_timeout: Annotated[Seconds, doc("seconds to wait for the host's answer")] = 30.0
    # The link carries PANs and track 2: a plain link to another machine is
    # warned about at start-up.
    tls: Annotated[
        bool | Literal["auto"],
        doc("TLS with the client certificate from activation; auto: once it is held"),
    ] = "auto"
    bank_name: Annotated[str, doc("the bank's name on receipts")] = ""
    acquirer_tag: Annotated[str, doc("acquirer-tag of receipts")] = ""
    manual_entry: Annotated[
        list[str],
        doc("operations allowed with a keyed-in PAN, e.g. purchase, refund; empty: none"),
    ] = msgspec.field(default_factory=list)
    # Operations without the card (manual «Транзакция», variant В: refund or
    # void with forced=true), which only some acquirers support: off unless
    # the acquirer allows them. `void number=last` (variant Б) is always on.
    forced_refund: Annotated[bool, doc("refunds without the card (forced=true) allowed")] = False
    forced_void: Annotated[bool, doc("voids without the card (forced=true) allowed")] = False
    forced_password: Annotated[
        bool, doc("refunds and voids without the card need the administrator password")
    ] = False
    partial_void: Annotated[bool, doc("a void may take part of the amount")] = False
    partial_refund: Annotated[bool, doc("a refund may take part of the amount")] = True
    # Manual «Список параметров команды transaction»: `currency` is given "if
    # it differs from the default in the configuration" (terminal.currency).
    currencies: Annotated[
        list[Currency],
        doc('currencies the acquirer takes besides terminal.currency, e.g. ["840"]; empty: none'),
    ] = msgspec.field(default_factory=list)
    retry_initial: Annotated[
        float,
        msgspec.Meta(ge=0.1, le=3600),
        doc("seconds before store-and-forward retries a failed round; doubles"),
    ] = 5.0
    retry_max: Annotated[
        float,
        msgspec.Meta(ge=0.1, le=86400),
        doc("longest store-and-forward back-off, seconds; also how often it looks"),
    ] = 300.0

    def __post_init__(self) -> None:
        not_below(self, "retry_max", "retry_initial")
        from acquirers.iso8583.dialects import DIALECTS

        if self.dialect not in DIALECTS:
            raise ValueError(
                f"dialect: '{self.dialect}' is not one of {', '.join(sorted(DIALECTS))}"
            )


class SettlementConfig(Section):
    """End of day (manual «Сверка итогов»: `settlement cutover="true"`)."""

    cutover: Annotated[bool, doc("network cutover (0800, 201) after a settlement that passed")] = (
        False
    )
    forced_settlement: Annotated[
        bool, doc("the acquirer accepts <force>on</force> after an out-of-balance settlement")
    ] = False


class TransactionConfig(Section):
    """Card transactions."""

    detection_timeout: Annotated[Seconds, doc("seconds to wait for a card (or an SBP payment)")] = (
        60.0
    )
    pin_timeout: Annotated[Seconds, doc("seconds for the cardholder to enter the PIN")] = 60.0
    # Manual: [JCONF] data-exchange = enabled -> `dex` messages.
    data_exchange: Annotated[bool, doc("send dex messages (emv.data-exchange-tags)")] = False
    languages: Annotated[
        str, doc("display languages, ISO 639-1 pairs, preferred first (ru, en)")
    ] = "ruen"


def _contactless_patterns() -> list[str]:
    # Generic words first, then readers whose contactless slot has no such
    # word in its PC/SC name (tests/hal/reader_names.py holds the real names
    # these are checked against).
    return [
        "*PICC*",
        "*Contactless*",
        "*CL Reader*",
        "*CL Smartcard*",
        "* CL *",
        "*-CL*",
        "*OMNIKEY 5022*",
        "*5427 CK*",
        "*ACR122*",
        "*ACR1281* ?? 01",
        "*CardMan 5x21 ?? 01",
    ]


class ReadersConfig(Section):
    """Card readers (hal.pcsc). Each interface takes the first PC/SC reader
    whose name matches one of its patterns (fnmatch, case-insensitive, tried
    in order); the contact interface never takes a reader that the
    contactless or SAM patterns or `exclude` match, and neither takes a SAM
    slot. `cardcore readers` shows which reader each pattern picks."""

    driver: Annotated[
        Literal["auto", "sim", "pcsc", "none"],
        doc("auto: simulated readers with --simulator, PC/SC otherwise"),
    ] = "auto"
    contact: Annotated[list[str], doc("reader name patterns of the contact interface")] = (
        msgspec.field(default_factory=lambda: ["*"])
    )
    contactless: Annotated[list[str], doc("reader name patterns of the contactless interface")] = (
        msgspec.field(default_factory=_contactless_patterns)
    )
    sam: Annotated[
        list[str], doc("reader name patterns of SAM slots (no interface takes them)")
    ] = msgspec.field(default_factory=lambda: ["*SAM*", "*ACR1281* ?? 02"])
    exclude: Annotated[list[str], doc("reader name patterns no interface takes")] = msgspec.field(
        default_factory=list
    )
    pin_entry: Annotated[
        Literal["auto", "off"],
        doc(
            "auto: a contact reader with its own keypad (PC/SC part 10) takes offline"
            " plaintext PIN itself; off: always the PIN pad"
        ),
    ] = "auto"
    # PC/SC part 3 defines none, so by default they are derived (hal.atr).
    atqa_sak_apdu: Annotated[
        str, doc("a reader's pseudo-APDU answering ATQA || SAK, hex; empty: derived")
    ] = ""
    poll: Annotated[
        float, msgspec.Meta(ge=0.1, le=60), doc("seconds a blocking PC/SC wait lasts")
    ] = 1.0
    settle: Annotated[
        float,
        msgspec.Meta(ge=0, le=60),
        doc("seconds transient answers after a card change are retried"),
    ] = 2.0


UsbId = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF, extra={"hex": 4})]


class PinPadConfig(Section):
    """The PIN pad (hal.usbhid)."""

    driver: Annotated[
        Literal["auto", "sim", "usbhid", "none"],
        doc("auto: simulated with --simulator, the USB-HID pad otherwise"),
    ] = "auto"
    vendor_id: Annotated[UsbId, doc("the pad's USB vendor id (pid.codes by default)")] = 0x1209
    product_id: Annotated[UsbId, doc("the pad's USB product id")] = 0x0001
    emulated: Annotated[
        bool, doc("run the USB-HID driver on its built-in emulated pad (a bench without one)")
    ] = False
    # With --simulator it is the presented virtual card's.
    emulated_pin: Annotated[
        str,
        msgspec.Meta(pattern=r"^[0-9]{4,12}$", description="4 to 12 digits (ISO 9564)"),
        doc("the PIN the emulated pad's cardholder types (TEST cards only)", secret=True),
    ] = "1234"
    # "tpk": format 0 under the TPK; DUKPT from the TEST base derivation keys
    # the host simulator knows ("dukpt-tdes": X9.24-1, format 0; "dukpt-aes":
    # X9.24-3, format 4).
    emulated_scheme: Annotated[
        Literal["tpk", "dukpt-tdes", "dukpt-aes"], doc("the emulated pad's online-PIN scheme")
    ] = "tpk"
    transfer_timeout: Annotated[
        float, msgspec.Meta(ge=0.1, le=60), doc("seconds per USB transfer")
    ] = 2.0


class HostKeyConfig(Section):
    """A SAM AV2 host key (manual: «Установка ключа хоста для SAM AV2»):
    `sethostkey` looks the key's parameters up here by name."""

    name: Annotated[str, doc("the name sethostkey gives")]
    entry: Annotated[
        int, msgspec.Meta(ge=0, le=127), doc("key entry number in the SAM (AV2 has 128)")
    ]
    version: Annotated[int, msgspec.Meta(ge=0, le=255), doc("the key's version")] = 0


class SamConfig(Section):
    """The SAM for MIFARE authentication (hal.sam)."""

    driver: Annotated[
        Literal["auto", "sim", "none"], doc("auto: the simulated SAM with --simulator, else none")
    ] = "auto"
    host_key: Annotated[list[HostKeyConfig], doc("SAM AV2 host keys")] = msgspec.field(
        default_factory=list
    )
    change_key: Annotated[
        str,
        doc("key store name of the SAM's master key (entry 0); empty: the factory default"),
    ] = ""


class ProvisioningConfig(Section):
    """Activation, configuration updates and master-key loading."""

    # Unset: the bundled TEST vendor key, which only simulator mode accepts
    # unless allow-test-vendor-key is set (test deployments).
    vendor_key_file: Annotated[
        str | None, doc("PEM file of the vendor RSA public key that signs confdata")
    ] = None
    allow_test_vendor_key: Annotated[
        bool, doc("accept the bundled TEST vendor key outside simulator mode")
    ] = False
    activation_timeout: Annotated[
        float,
        msgspec.Meta(ge=1, le=86400),
        doc("seconds to wait for the activator to connect and send reset"),
    ] = 600.0
    activator_answer_timeout: Annotated[
        float, msgspec.Meta(ge=1, le=3600), doc("seconds for each of the activator's answers")
    ] = 60.0
    http_timeout: Annotated[
        Seconds, doc("seconds per HTTPS request to the management and key servers")
    ] = 30.0
    max_document: Annotated[
        int,
        msgspec.Meta(ge=4 * 1024, le=64 * 1024 * 1024),
        doc("bytes of the largest document taken from those servers"),
    ] = 1024 * 1024
    # Normally provisioned by the common part of the management server's configuration.
    key_server_main: Annotated[HttpsUrl | None, doc("URL of the key-loading server")] = None
    key_server_mirror: Annotated[HttpsUrl | None, doc("URL of the key-loading server's mirror")] = (
        None
    )
    poll_interval: Annotated[
        float,
        msgspec.Meta(ge=0, le=86400),
        doc("seconds between remote-management polls of the configuration server; 0: none"),
    ] = 300.0
    # Local only (cardcore.provisioning.mapping): the server never chooses
    # what the terminal runs.
    software_update_command: Annotated[
        list[str],
        doc("program run with the server's <appmap> on stdin for updatesoftware; empty: refused"),
    ] = msgspec.field(default_factory=list)


LogLevel = Literal["debug", "info", "warning", "error"]
# The facilities a service may log under (RFC 5424 6.2.1): its own, or one of
# the eight the image's syslog rules can route apart.
SyslogFacility = Literal[
    "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
]  # fmt: skip


class LogConfig(Section):
    """Logging (manual Appendix B «Лог»): the system log, or the console with --acons."""

    level: Annotated[LogLevel, doc("the lowest level logged; serve --log-level overrides it")] = (
        "info"
    )
    syslog_identifier: Annotated[
        str,
        msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,32}$"),
        doc("the syslog tag of each line (journalctl -t; SYSLOG_IDENTIFIER)"),
    ] = "cardcore"
    syslog_facility: Annotated[SyslogFacility, doc("the syslog facility of each line")] = "daemon"


class InterfacesConfig(Section):
    """Card interfaces the terminal offers (manual [JCONF] <interfaces>)."""

    contact: Annotated[bool, doc("the chip reader")] = True
    contactless: Annotated[bool, doc("the contactless reader")] = True
    # <interfaces><mifare enable="true"/> (manual «Сообщение smartcard»).
    mifare: Annotated[
        bool, doc("every contactless card goes to the cash register first (smartcard)")
    ] = False
    # Manual «Система быстрых платежей»: "настраивается и разрешается в конфигурации".
    sbp: Annotated[bool, doc("SBP QR payments, when an [sbp] agent is configured")] = True


class Config(Section):
    server: Annotated[ServerConfig, doc("the ECR listener")] = msgspec.field(
        default_factory=ServerConfig
    )
    admin: Annotated[AdminConfig, doc("the administrator's password and tokens")] = msgspec.field(
        default_factory=AdminConfig
    )
    device: Annotated[DeviceConfig, doc("hardware identity")] = msgspec.field(
        default_factory=DeviceConfig
    )
    terminal: Annotated[TerminalConfig, doc("the merchant's terminal")] = msgspec.field(
        default_factory=TerminalConfig
    )
    acquirer: Annotated[AcquirerConfig, doc("the acquirer host and what the acquirer allows")] = (
        msgspec.field(default_factory=AcquirerConfig)
    )
    transaction: Annotated[TransactionConfig, doc("card transactions")] = msgspec.field(
        default_factory=TransactionConfig
    )
    settlement: Annotated[SettlementConfig, doc("end of day")] = msgspec.field(
        default_factory=SettlementConfig
    )
    emv: Annotated[EmvConfig, doc("terminal EMV parameters")] = msgspec.field(
        default_factory=EmvConfig
    )
    readers: Annotated[ReadersConfig, doc("card readers")] = msgspec.field(
        default_factory=ReadersConfig
    )
    pinpad: Annotated[PinPadConfig, doc("the PIN pad")] = msgspec.field(
        default_factory=PinPadConfig
    )
    sam: Annotated[SamConfig, doc("the SAM for MIFARE authentication")] = msgspec.field(
        default_factory=SamConfig
    )
    interfaces: Annotated[InterfacesConfig, doc("card interfaces offered")] = msgspec.field(
        default_factory=InterfacesConfig
    )
    sbp: Annotated[
        SbpConfig | None, doc("the SBP agent (Faster Payments); SBP is offered when set")
    ] = None
    provisioning: Annotated[
        ProvisioningConfig, doc("activation, configuration updates, master keys")
    ] = msgspec.field(default_factory=ProvisioningConfig)
    log: Annotated[LogConfig, doc("logging: level, syslog tag and facility")] = msgspec.field(
        default_factory=LogConfig
    )


def build_config(data: dict[str, Any]) -> Config:
    try:
        return msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise describe(exc, data, Config) from None


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
