# Strategy: the application's shared state, built once at start-up and handed
# to the command handlers: configuration, data dir, administrator, the secure
# channel's key ring, the key store, the journal, the acquirer host service
# and the HAL devices. Handlers are plain functions of a CommandContext and
# this object; the server knows neither.
from __future__ import annotations

import datetime as dt
import logging
import platform
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from cardcore import version
from cardcore.auth import AdminAuth
from cardcore.config import AidParameters, Config, ConfigError, build_config, merge_config_data
from cardcore.errors import DataFileError
from cardcore.journal import Journal, PanProtector
from cardcore.keystore import FileMasterKeySource, KeyStore
from cardcore.ledger.ledger import Ledger
from cardcore.protocol.secure import KeyRing
from cardcore.provisioning.credentials import client_ssl_context, holds_identity, identity
from cardcore.provisioning.errors import ProvisioningFormatError
from cardcore.provisioning.store import Generation, ProvisioningStore, Staging
from hal.interfaces import (
    CardInterface,
    CardReader,
    DeviceInfo,
    Display,
    Indicators,
    Keypad,
    PinPad,
)
from hal.sam import Sam

if TYPE_CHECKING:
    import ssl

    from cardcore.hostlink import HostService
    from kernel.capk import CaKeyStore, CaPublicKey
    from kernel.config import AidConfig, TerminalConfig
    from kernel.contactless import ContactlessConfig

__all__ = ["Devices", "Terminal", "os_version"]

# The terminal key store's keys that protect the journal (PAN hash, PAN data key).
JOURNAL_KEYS = ("journal-pan-hash", "journal-dek")

log = logging.getLogger(__name__)


@dataclass
class Devices:
    """The HAL drivers the terminal runs with (simulated or real)."""

    info: DeviceInfo
    keypad: Keypad
    readers: dict[CardInterface, CardReader] = field(default_factory=dict)
    pinpad: PinPad | None = None
    sam: Sam | None = None
    indicators: Indicators | None = None
    display: Display | None = None


@dataclass
class Terminal:
    config: Config
    data_dir: Path
    devices: Devices
    simulator: bool = False
    # The local configuration (embedded defaults are applied by build_config;
    # this is the file plus command-line overrides) under the provisioned
    # overlay. None: taken from `config` as given.
    config_data: dict[str, Any] | None = None
    # Start with a new, empty journal when the one this terminal had is lost
    # (`cardcore serve --new-journal`); otherwise a lost journal stops the start.
    accept_new_journal: bool = False
    # Where `emv.simulator-ca-keys` finds the simulator's TEST ONLY CA keys:
    # the composition root hands the simulators' loader in, so the product
    # itself never imports a simulator.
    test_ca_keys: Callable[[], list[dict[str, Any]]] | None = None
    auth: AdminAuth = field(init=False)
    keyring: KeyRing = field(init=False)
    provisioning: ProvisioningStore = field(init=False)
    # The live provisioned generation and its key store (master keys from
    # loadmasterkeys, under that generation's device master key).
    generation: Generation = field(init=False)
    provisioned_keys: KeyStore = field(init=False)
    # Set up by start():
    keystore: KeyStore = field(init=False)
    journal: Journal = field(init=False)
    ledger: Ledger = field(init=False)
    host: HostService = field(init=False)
    # Simulated parties (slot, host simulator, ...) in simulator mode.
    sim: Any = None
    # Simulator mode: the in-process management servers (simulators.servers).
    simulators: Any = None
    # The remote-management poll (cardcore.provisioning.remote), once started.
    remote: Any = None
    # Set once the host link, the simulated parties and crash recovery are up
    # (the ECR listener opens before; device operations wait for this).
    ready: trio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.ready = trio.Event()
        self.auth = AdminAuth(self.data_dir / "admin.json", self.config.admin)
        self.keyring = KeyRing(self.config.server.secure_keys)
        # Logging out (or a token expiring) retires the secure-channel key of that login.
        self.auth.on_revoke = self.keyring.discard_label
        if self.config_data is None:
            self.config_data = msgspec.to_builtins(self.config)
        self.provisioning = ProvisioningStore(self.data_dir)

    async def start(self) -> None:
        await self.auth.load()
        generation = self.provisioning.open()
        try:
            config = self.provisioned_config(generation.overlay())
        except ProvisioningFormatError as exc:
            # The overlay was valid when installed; a changed local file can
            # make it clash. Run on the local configuration and say so.
            log.error("provisioned configuration not applied: %s", exc.message)
            config = self.config
        self.generation = generation
        self.provisioned_keys = generation.keystore()
        self.config = config
        self.keystore, self.journal = self._open_journal()
        self.ledger = Ledger(self.journal)

    def _open_journal(self) -> tuple[KeyStore, Journal]:
        """The key store and the journal its keys protect. Each records that
        the other exists: the journal's keys are made with the journal, so a
        store holding them and no journal means the journal was lost (with its
        pending reversals and the open batch), and a journal without the store
        cannot be read. Either refuses the start, naming the file, instead of
        starting afresh and forgetting money."""
        journal_path = self.data_dir / "journal.sqlite"
        keys_path = self.data_dir / "keys.json"
        if _holds_data(journal_path) and not keys_path.exists():
            raise DataFileError(
                f"{keys_path} is missing, but the journal {journal_path.name} exists: its "
                "records are sealed under the keys that file held. Restore keys.json (and "
                "device-master.key) from the terminal's backup"
            )
        keystore = KeyStore(keys_path, FileMasterKeySource(self.data_dir / "device-master.key"))
        had_journal = all(name in keystore for name in JOURNAL_KEYS)
        if had_journal and not journal_path.exists():
            if not self.accept_new_journal:
                raise DataFileError(
                    f"the journal {journal_path} is missing, but this terminal had one (its keys "
                    "are in keys.json): its pending reversals and open batch would be lost. "
                    "Restore journal.sqlite from the terminal's backup; if it is lost for good, "
                    "settle with the acquirer by hand and start with `--new-journal`"
                )
            log.error("the journal was lost; a new, empty one is started (--new-journal)")
            for name in JOURNAL_KEYS:
                keystore.put(name, secrets.token_bytes(32), "raw")
        hash_key, data_key = (keystore.get_or_create(name, 32) for name in JOURNAL_KEYS)
        return keystore, Journal(journal_path, PanProtector(hash_key, data_key))

    def start_host(self) -> None:
        """The acquirer host link (imports the ISO 8583 stack: after the listener is up)."""
        from cardcore.hostlink import HostService

        self.host = HostService(
            self.config,
            self.journal,
            self.keystore,
            master_store=lambda: self.provisioned_keys,
            tls=self.acquirer_tls,
            stans=self.ledger.stans,
        )

    def acquirer_tls_on(self, config: Config) -> bool:
        """acquirer.tls: true, false, or "auto": TLS once the terminal holds
        the acquirer client certificate from activation."""
        wanted = config.acquirer.tls
        return holds_identity(self.generation, "acquirer") if wanted == "auto" else wanted

    def acquirer_tls(self, config: Config) -> ssl.SSLContext | None:
        """docs/architecture.md: with TLS on the host link runs TLS 1.2+,
        presenting the acquirer client certificate from activation and
        trusting only the acquirer CA activation delivered."""
        if not self.acquirer_tls_on(config):
            return None
        return client_ssl_context(self.generation, "acquirer", identity("acquirer").ca_file)

    def reconfigure(self, config: Config) -> None:
        """Switch to a new configuration (validated by the caller) at once.
        It also becomes the local base the provisioned overlay is laid over
        (simulator mode fills in its parties this way)."""
        self.config_data = msgspec.to_builtins(config)
        self.config = config
        self.host.configure(config)

    def close(self) -> None:
        self.journal.close()

    # --- provisioning ---------------------------------------------------
    @property
    def activated(self) -> bool:
        return self.generation.state.activated

    def provisioned_config(self, overlay: dict[str, Any]) -> Config:
        """Embedded defaults + local configuration + ``overlay``, validated."""
        try:
            return build_config(merge_config_data(self.config_data or {}, overlay))
        except ConfigError as exc:
            raise ProvisioningFormatError(
                f"provisioned configuration refused: {exc.message}"
            ) from None

    def forget_working_keys(self) -> None:
        """Activation resets the terminal: the acquirer working keys and the
        SAM host keys of its previous life go; the journal's own keys stay
        (the open batch must remain readable and settle)."""
        gone = self.keystore.retain(JOURNAL_KEYS)
        if gone:
            log.info("activation: keys of the previous activation forgotten: %s", ", ".join(gone))
        self.host.configure(self.config)

    def publish(self, staging: Staging, config: Config) -> None:
        """Make a staged generation live and switch to ``config`` (already
        validated from the staged overlay): disk first, then memory."""
        generation = self.provisioning.publish(staging)
        self.generation = generation
        self.provisioned_keys = generation.keystore()
        self.config = config
        self.host.configure(config)

    @property
    def app_version(self) -> str:
        return version()

    @property
    def device_identifier(self) -> str:
        """The device's symbolic identifier: model and serial number."""
        info = self.devices.info
        return f"{info.model}-{info.serial_number}"

    # --- EMV ----------------------------------------------------------------
    def ca_keys(self) -> CaKeyStore:
        from kernel.capk import CaKeyStore  # the EMV parts load with the first transaction

        store = CaKeyStore()
        emv = self.config.emv
        if emv.simulator_ca_keys:
            if self.test_ca_keys is None:
                raise ConfigError(
                    "emv.simulator-ca-keys: this terminal was built without test CA keys"
                )
            for row in self.test_ca_keys():
                store.add(_ca_key(row))
        for key in emv.ca_keys:
            store.add(_ca_key(msgspec_to_dict(key)))
        return store

    def kernel_config(self) -> TerminalConfig:
        """The kernel's view of the configuration (EMV Book 4 Annex A)."""
        from kernel.config import TerminalConfig

        emv, term = self.config.emv, self.config.terminal
        return TerminalConfig(
            aids=tuple(_aid(a) for a in emv.aids),
            country_code=emv.country_code,
            capabilities=bytes.fromhex(emv.capabilities),
            additional_capabilities=bytes.fromhex(emv.additional_capabilities),
            terminal_type=emv.terminal_type,
            ifd_serial=self.devices.info.serial_number[-8:].rjust(8, "0"),
            terminal_id=term.tid or "",
            merchant_id=term.mid or "",
            merchant_category_code=int(term.mcc) if term.mcc else None,
            merchant_name_location=term.merchant_name_location,
            data_exchange_tags=tuple(int(t, 16) for t in emv.data_exchange_tags),
        )

    def contactless_config(self) -> ContactlessConfig:
        """The contactless Entry Point's view: AIDs with a kernel id (Book B 3.1)."""
        from kernel.contactless import ContactlessAid, ContactlessConfig, Kernel2Parameters

        emv = self.config.emv
        combinations = []
        for params in emv.aids:
            if params.kernel_id is None:
                continue
            kernel2 = None
            limit, cdcvm_limit = params.ctls_transaction_limit, params.ctls_transaction_limit_cdcvm
            if params.tags_to_read or cdcvm_limit is not None:
                kernel2 = Kernel2Parameters(
                    tags_to_read=tuple(int(t, 16) for t in params.tags_to_read),
                    transaction_limit_no_on_device_cvm=limit if cdcvm_limit is not None else None,
                    transaction_limit_on_device_cvm=cdcvm_limit,
                )
                # Kernel 2 tells the two limits apart once the card's AIP says
                # whether it verifies its holder itself (Book C-2 DF8124/DF8125):
                # Entry Point lets through what either allows.
                if cdcvm_limit is not None and limit is not None:
                    limit = max(limit, cdcvm_limit)
            combinations.append(
                ContactlessAid(
                    bytes.fromhex(params.aid),
                    bytes.fromhex(params.kernel_id),
                    label=params.label,
                    partial_selection=params.partial_selection,
                    application_version=bytes.fromhex(params.application_version),
                    transaction_limit=limit,
                    floor_limit=params.ctls_floor_limit,
                    terminal_floor_limit=params.floor_limit,
                    cvm_required_limit=params.ctls_cvm_limit,
                    ttq=bytes.fromhex(params.ttq) if params.ttq else None,
                    tac_denial=bytes.fromhex(params.tac_denial),
                    tac_online=bytes.fromhex(params.tac_online),
                    tac_default=bytes.fromhex(params.tac_default),
                    data_exchange_tags=tuple(int(t, 16) for t in emv.data_exchange_tags),
                    kernel2=kernel2,
                )
            )
        return ContactlessConfig(
            self.kernel_config(),
            tuple(combinations),
            contact_interface=self.config.interfaces.contact,
        )

    def today(self) -> dt.date:
        return dt.datetime.now().astimezone().date()


def _holds_data(journal: Path) -> bool:
    """The journal holds something: its file, or in WAL mode its -wal file
    before the first checkpoint, is not empty (an empty file is what a start
    stopped before SQLite wrote anything leaves)."""
    for path in (journal, journal.with_name(f"{journal.name}-wal")):
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            continue
    return False


def msgspec_to_dict(value: Any) -> dict[str, Any]:
    import msgspec

    result: dict[str, Any] = msgspec.to_builtins(value)
    return result


def _ca_key(row: dict[str, Any]) -> CaPublicKey:
    from kernel.capk import CaPublicKey

    expiry = row.get("expiry")
    return CaPublicKey(
        rid=bytes.fromhex(row["rid"]),
        index=int(row["index"], 16),
        modulus=bytes.fromhex(row["modulus"]),
        exponent=bytes.fromhex(row["exponent"]),
        expiry=dt.date.fromisoformat(expiry) if expiry else None,
        checksum=bytes.fromhex(row["checksum"]),  # required (Book 2 11.2.2)
    )


def _aid(params: AidParameters) -> AidConfig:
    from kernel.config import AidConfig

    return AidConfig(
        aid=bytes.fromhex(params.aid),
        partial_selection=params.partial_selection,
        application_version=bytes.fromhex(params.application_version),
        tac_denial=bytes.fromhex(params.tac_denial),
        tac_online=bytes.fromhex(params.tac_online),
        tac_default=bytes.fromhex(params.tac_default),
        floor_limit=params.floor_limit,
        random_selection_threshold=params.random_selection_threshold,
        random_selection_target_percent=params.random_selection_target_percent,
        random_selection_max_percent=params.random_selection_max_percent,
        default_ddol=bytes.fromhex(params.default_ddol),
        default_tdol=bytes.fromhex(params.default_tdol),
        priority=params.priority,
        label=params.label,
    )


def os_version() -> str:
    return f"{platform.system()} {platform.release()}".strip() or "unknown"
