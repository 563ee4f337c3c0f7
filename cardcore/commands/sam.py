# Strategy: «Установка ключа хоста для SAM AV2» of the ECR manual:
# `sethostkey` (token, name, material = the key in clear, base64) stores the
# SAM host key in the encrypted key store under its name, replacing any key of
# that name (the manual warns that configuration, loadmasterkeys and this
# command all overwrite it), and loads it into the SAM: the key's parameters
# (SAM key entry and version) come from the configuration's `host-key` list
# by name ([[sam.host-key]]). As the manual says, the command does not check
# that the configuration names the key: a key it does not name is stored and
# waits for the configuration. Loading authenticates to the SAM with its
# change key (entry 0: the key store's `[sam] change-key`, or the factory
# default), writes the entry, then authenticates with the new key to prove it.
# The manual recommends the secure channel for this command; the key never
# reaches a log or an answer (only its KCV is logged).
from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

import msgspec

from base.crypto.des import kcv_aes
from cardcore.connection import Answer, Command, CommandContext
from cardcore.errors import InvalidArguments
from cardcore.protocol.messages import Token, parse_params
from cardcore.terminal import Terminal
from hal.sam import SamKeyKind, SamNotAvailable

__all__ = ["SetHostKey", "commands", "host_key_name"]

log = logging.getLogger(__name__)

KeyName = Annotated[str, msgspec.Meta(pattern=r"^[\x21-\x7e]{1,64}$")]
FACTORY_MASTER_KEY = bytes(16)


class SetHostKey(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=False):
    token: Token
    name: KeyName
    material: str


def host_key_name(name: str) -> str:
    """The key store name of a SAM host key."""
    return f"sam-host-key/{name}"


def _decode_material(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArguments("parameter 'material' is not base64") from None
    if len(key) != 16:
        raise InvalidArguments("parameter 'material' must be an AES-128 key (16 bytes)")
    return key


def commands(terminal: Terminal) -> dict[str, Command]:
    async def sethostkey(ctx: CommandContext) -> Answer:
        terminal.auth.authorize(ctx.message)
        params = parse_params(ctx.message, SetHostKey)
        key = _decode_material(params.material)
        if not ctx.secure:
            log.warning("%s: sethostkey sent in clear; use the secure channel", ctx.peer)
        stored = terminal.keystore.put(host_key_name(params.name), key, "aes")
        log.info("%s: SAM host key '%s' stored (KCV %s)", ctx.peer, params.name, stored.kcv)
        entry = next((k for k in terminal.config.sam.host_key if k.name == params.name), None)
        if entry is None:
            log.info("no [[sam.host-key]] named '%s' in the configuration: key stored only",
                     params.name)  # fmt: skip
            return Answer()
        sam = terminal.devices.sam
        if sam is None:
            raise SamNotAvailable(f"host key '{params.name}' stored; no SAM to load it into")
        change = terminal.config.sam.change_key
        master = terminal.keystore.get(change) if change else FACTORY_MASTER_KEY
        await sam.authenticate_host(0, 0, master)
        await sam.change_key_entry(entry.entry, entry.version, key, SamKeyKind.AES128)
        await sam.authenticate_host(entry.entry, entry.version, key)
        log.info(
            "SAM host key '%s' (KCV %s) loaded into %s entry %d version %d",
            params.name, kcv_aes(key).hex().upper(), sam.name, entry.entry, entry.version,
        )  # fmt: skip
        return Answer()

    return {"sethostkey": Command(sethostkey, exclusive=True)}
