# Strategy: one typed configuration model (msgspec) with embedded defaults, so
# `cardcore serve --simulator` needs no file. A local TOML or JSON file
# overrides any subset; an unknown or ill-typed key is a startup error naming
# the key. Keys are kebab-case, as in the management server's documents.
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from kernel.errors import CardcoreError

__all__ = [
    "AdminConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "ServerConfig",
    "TerminalConfig",
    "build_config",
    "load_config",
]


class ConfigError(CardcoreError):
    """Invalid configuration."""

    status = "invalidarguments"


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    pass


class ServerConfig(_Section):
    """The ECR listener (manual: «Протокол обмена данными», port 4433)."""

    listen: str = "0.0.0.0"  # noqa: S104 - a terminal serves the cash register on its LAN
    port: int = 4433
    activator_port: int = 4434
    max_packet: int = 64 * 1024
    # Seconds: no command on an open connection, a packet left half-sent, a
    # message the client does not answer.
    idle_timeout: float = 60.0
    frame_timeout: float = 15.0
    answer_timeout: float = 30.0
    keepalive_interval: float = 5.0
    max_connections: int = 512
    secure_keys: int = 8


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
    """Merchant-facing identity; normally provisioned by the management server."""

    tid: str | None = None
    mid: str | None = None
    acquirer_id: str | None = None
    currency: str = "643"
    header_lines: list[str] = msgspec.field(default_factory=list)
    footer_lines: list[str] = msgspec.field(default_factory=list)


class Config(_Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    device: DeviceConfig = msgspec.field(default_factory=DeviceConfig)
    terminal: TerminalConfig = msgspec.field(default_factory=TerminalConfig)


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


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the file at ``path`` (TOML or JSON), then ``overrides``."""
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
    return build_config(data)
