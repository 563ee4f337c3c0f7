# Strategy: the application's shared state, built once at start-up and handed
# to the command handlers: configuration, data dir, administrator, the secure
# channel's key ring, the HAL devices. Handlers are plain functions of a
# CommandContext and this object; the server knows neither.
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

from cardcore import __version__
from cardcore.auth import AdminAuth
from cardcore.config import Config
from cardcore.protocol.secure import KeyRing
from hal.interfaces import DeviceInfo, Keypad

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
    auth: AdminAuth = field(init=False)
    keyring: KeyRing = field(init=False)

    def __post_init__(self) -> None:
        self.auth = AdminAuth(self.data_dir / "admin.json", self.config.admin)
        self.keyring = KeyRing(self.config.server.secure_keys)
        # Logging out (or a token expiring) retires the secure-channel key of that login.
        self.auth.on_revoke = self.keyring.discard_label

    async def start(self) -> None:
        await self.auth.load()

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
