# Strategy: installing a SAM AV2 host key (ECR manual «Установка ключа хоста
# для SAM AV2»), whichever way it comes: `sethostkey` or a key of type 0A in
# the key server's answer to `loadmasterkeys` (docs/protocol-decisions.md).
# The key is stored in the encrypted key store under its name, replacing any
# key of that name (the manual: each way overwrites it), and loaded into the
# SAM: the key's parameters (SAM key entry and version) come from the
# configuration's `host-key` list by name ([[sam.host-key]]). As the manual
# says, the configuration need not name the key: a key it does not name is
# stored and waits for the configuration. Loading authenticates to the SAM
# with its change key (entry 0: the key store's `[sam] change-key`, or the
# factory default), writes the entry, then authenticates with the new key to
# prove it. The key never reaches a log or an answer (only its KCV is logged).
from __future__ import annotations

import logging

from base.crypto.des import kcv_aes
from cardcore.terminal import Terminal
from hal.sam import SamKeyKind, SamNotAvailable

__all__ = ["FACTORY_MASTER_KEY", "host_key_name", "install_host_key"]

log = logging.getLogger(__name__)

FACTORY_MASTER_KEY = bytes(16)


def host_key_name(name: str) -> str:
    """The key store name of a SAM host key."""
    return f"sam-host-key/{name}"


async def install_host_key(terminal: Terminal, name: str, key: bytes) -> None:
    """Store the AES-128 host key ``key`` as ``name`` and load it into the SAM
    when the configuration names it; SamNotAvailable when it names it and
    there is no SAM (the key stays stored)."""
    stored = terminal.keystore.put(host_key_name(name), key, "aes")
    log.info("SAM host key '%s' stored (KCV %s)", name, stored.kcv)
    entry = next((k for k in terminal.config.sam.host_key if k.name == name), None)
    if entry is None:
        log.info("no [[sam.host-key]] named '%s' in the configuration: key stored only", name)
        return
    sam = terminal.devices.sam
    if sam is None:
        raise SamNotAvailable(f"host key '{name}' stored; no SAM to load it into")
    change = terminal.config.sam.change_key
    master = terminal.keystore.get(change) if change else FACTORY_MASTER_KEY
    await sam.authenticate_host(0, 0, master)
    await sam.change_key_entry(entry.entry, entry.version, key, SamKeyKind.AES128)
    await sam.authenticate_host(entry.entry, entry.version, key)
    log.info(
        "SAM host key '%s' (KCV %s) loaded into %s entry %d version %d",
        name, kcv_aes(key).hex().upper(), sam.name, entry.entry, entry.version,
    )  # fmt: skip
