# Strategy: the effective configuration and where each value came from, for
# `cardcore config show` (docs/conventions.md, the command line). Three layers,
# each laid over the one before key by key (cardcore.config.merge_config_data;
# a list is one value, replaced whole):
#   1. the embedded defaults (cardcore.config, one typed model);
#   2. the local file (`--config`) and command-line overrides;
#   3. the management server's configuration, as the last updateconfiguration
#      installed it (<data-dir>/provisioning/current/overlay.json).
# The server wins over the file: the acquirer and the bank own what it sends
# (identities, hosts, applications and limits, key servers) and change it for
# a whole fleet at once; a local value that silently outlived their change
# would leave one terminal selling under settings nobody manages. The file
# keeps what the server never sends (cardcore.provisioning.mapping.LOCAL_ONLY:
# the device's identity, the provisioning trust anchor, TEST ONLY shortcuts)
# and every key the server leaves out; this listing shows which one won.
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from cardcore.config import build_config, find_key, load_config_data, merge_config_data
from cardcore.provisioning.store import ProvisioningStore

__all__ = ["Setting", "Source", "config_sources", "effective_config"]

Source = Literal["default", "file", "server"]


@dataclass(frozen=True)
class Setting:
    """One key of the effective configuration: its value and the layer it came from."""

    value: Any
    source: Source


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{key}.")
        else:
            yield key, value


def config_sources(local: Mapping[str, Any], server: Mapping[str, Any]) -> dict[str, Setting]:
    """Every key of the configuration that ``local`` (the file's data) and
    ``server`` (the provisioned overlay) make, with its value (as the file
    would write it) and its source. ConfigError when they do not make a valid one."""
    config = build_config(merge_config_data(dict(local), dict(server)))
    values: dict[str, Any] = msgspec.to_builtins(config)
    settings: dict[str, Setting] = {}
    for key, value in _leaves(values):
        source: Source = "default"
        if find_key(server, key)[0]:
            source = "server"
        elif find_key(local, key)[0]:
            source = "file"
        settings[key] = Setting(value, source)
    return settings


def effective_config(
    config_file: Path | None, data_dir: Path, overrides: dict[str, Any] | None = None
) -> dict[str, Setting]:
    """`cardcore config show`: the configuration `cardcore serve --config
    config_file --data-dir data_dir` runs with (before simulator mode fills
    in its simulated parties), key by key. Reads only; a data dir never
    provisioned has no server layer."""
    local = load_config_data(config_file, overrides)
    store = ProvisioningStore(data_dir)
    server = store.current().overlay() if store.link.is_symlink() else {}
    return config_sources(local, server)
