# Strategy: «Установка ключа хоста для SAM AV2» of the ECR manual:
# `sethostkey` (token, name, material = the key in clear, base64) installs the
# SAM host key as cardcore.samhostkey does for every way the key comes. The
# manual recommends the secure channel for this command: sent in clear, it is
# still obeyed, and the log says so.
from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

import msgspec

from cardcore.connection import Answer, Command, CommandContext
from cardcore.errors import InvalidArguments
from cardcore.protocol.messages import Token, parse_params
from cardcore.samhostkey import host_key_name, install_host_key
from cardcore.terminal import Terminal

__all__ = ["SetHostKey", "commands", "host_key_name"]

log = logging.getLogger(__name__)

KeyName = Annotated[str, msgspec.Meta(pattern=r"^[\x21-\x7e]{1,64}$")]


class SetHostKey(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=False):
    token: Token
    name: KeyName
    material: str


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
        await install_host_key(terminal, params.name, key)
        return Answer()

    return {"sethostkey": Command(sethostkey, exclusive=True)}
