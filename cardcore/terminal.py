# Strategy: the application's shared state, built once at start-up and handed
# to the command handlers: configuration, data dir, administrator, the secure
# channel's key ring, the HAL devices. Handlers are plain functions of a
# CommandContext and this object; the server knows neither.
from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from cardcore import __version__
from cardcore.auth import AdminAuth
from cardcore.config import Config, ConfigError, build_config, merge_config_data
from cardcore.keystore import KeyStore
from cardcore.protocol.secure import KeyRing
from cardcore.provisioning.errors import ProvisioningFormatError
from cardcore.provisioning.store import Generation, ProvisioningStore, Staging
from hal.interfaces import DeviceInfo, Keypad

log = logging.getLogger(__name__)

__all__ = ["Devices", "Terminal"]


@dataclass
class Devices:
    """The HAL drivers the terminal runs with (simulated or real)."""

    info: DeviceInfo
    keypad: Keypad


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
    auth: AdminAuth = field(init=False)
    keyring: KeyRing = field(init=False)
    provisioning: ProvisioningStore = field(init=False)
    generation: Generation = field(init=False)
    keystore: KeyStore = field(init=False)
    # Simulator mode: the in-process management servers (cardcore.simservers).
    simulators: Any = None

    def __post_init__(self) -> None:
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
        self._switch(generation, config)

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

    def publish(self, staging: Staging, config: Config) -> None:
        """Make a staged generation live and switch to ``config`` (already
        validated from the staged overlay): disk first, then memory."""
        self._switch(self.provisioning.publish(staging), config)

    def _switch(self, generation: Generation, config: Config) -> None:
        self.generation = generation
        self.keystore = generation.keystore()
        self.config = config

    @property
    def app_version(self) -> str:
        return __version__

    @property
    def device_identifier(self) -> str:
        """The device's symbolic identifier: model and serial number."""
        info = self.devices.info
        return f"{info.model}-{info.serial_number}"


def os_version() -> str:
    return f"{platform.system()} {platform.release()}".strip() or "unknown"
