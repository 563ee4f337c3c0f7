# Strategy: the administrator commands of the ECR manual: «Вход в режим
# администратора» (login, with the secure-channel handshake of «Шифрование
# команд»), «Выход из режима администратора» (logout), «Смена пароля
# администратора» (changepassword), «Сброс пароля» (resetpassword, which takes
# no credentials and so needs a physical confirmation on the terminal,
# docs/protocol-decisions.md) and «Сведения о приложении и терминале»
# (getparameters).
from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec
from msgspec.structs import replace

from cardcore.auth import token_id
from cardcore.connection import Answer, Command, CommandContext
from cardcore.errors import InvalidArguments, NotAuthorized
from cardcore.parameters import Parameters
from cardcore.protocol.messages import ChangePassword, Login, TokenCommand, parse_params
from cardcore.protocol.secure import (
    SecureChannelError,
    derive_key,
    parse_client_handshake,
    server_handshake,
)
from cardcore.terminal import Terminal
from hal.interfaces import DeviceInfo

__all__ = ["commands", "parameters"]


def commands(terminal: Terminal) -> dict[str, Command]:
    auth = terminal.auth

    async def login(ctx: CommandContext) -> Answer:
        params = parse_params(ctx.message, Login)
        peer_key: ec.EllipticCurvePublicKey | None = None
        if params.client_handshake is not None:
            try:
                peer_key = parse_client_handshake(params.client_handshake)
            except SecureChannelError as exc:
                raise InvalidArguments(exc.message) from None
        await auth.check_password(params.password)
        token = auth.issue_token()
        if peer_key is None:
            return Answer({"token": token})
        own = ec.generate_private_key(ec.SECP256R1())
        key = derive_key(own, peer_key)
        terminal.keyring.add(key, label=token_id(token))
        return Answer(
            {"token": token},
            attrs={"server-handshake": server_handshake(own.public_key())},
            seal_with=key,
        )

    async def logout(ctx: CommandContext) -> Answer:
        auth.revoke(auth.authorize(ctx.message))
        return Answer()

    async def changepassword(ctx: CommandContext) -> Answer:
        auth.authorize(ctx.message)
        params = parse_params(ctx.message, ChangePassword)
        await auth.change_password(params.password, params.newpassword)
        return Answer()

    async def resetpassword(ctx: CommandContext) -> Answer:
        confirmed = await terminal.devices.keypad.confirm(
            "Reset the administrator password? Press OK to confirm",
            terminal.config.admin.confirm_timeout,
        )
        if not confirmed:
            raise NotAuthorized("password reset was not confirmed on the terminal")
        await auth.reset_password()
        return Answer()

    async def getparameters(ctx: CommandContext) -> Answer:
        auth.authorize(ctx.message)
        parse_params(ctx.message, TokenCommand)
        return Answer({"parameters": parameters(terminal)})

    return {
        "login": Command(login),
        "logout": Command(logout),
        "changepassword": Command(changepassword),
        "resetpassword": Command(resetpassword, exclusive=True),
        "getparameters": Command(getparameters, audit=False),
    }


def parameters(terminal: Terminal) -> Parameters:
    """Every field of «Сведения о приложении и терминале»; `none` where the
    terminal has not been provisioned with a value yet (cardcore.provisioning.info)."""
    out = replace(_device_fields(terminal))  # a copy
    _provisioning_parameters(terminal, out)
    cfg = terminal.config.terminal
    if cfg.tid:
        out.tid = cfg.tid
    if cfg.mid:
        out.mid = cfg.mid
    if cfg.acquirer_id:
        out.acqid = cfg.acquirer_id
    out.ccert = out.cccert  # the configuration client certificate's
    return out


_device: tuple[DeviceInfo, str, Parameters] | None = None


def _device_fields(terminal: Terminal) -> Parameters:
    """The device's own fields (identity and firmware, fixed while the
    application runs), the others `none`. Made once for the device (and
    again only if it were another one); callers copy it."""
    global _device
    info, version = terminal.devices.info, terminal.app_version
    if _device is None or _device[0] is not info or _device[1] != version:
        device = {
            "sn": info.serial_number,
            "app": version,
            "firmware_mcu": info.firmware_mcu,
            "firmware_boot": info.firmware_boot,
            "os": info.os,
            "sdk": info.sdk,
            "devid": terminal.device_identifier,
        }
        known = Parameters(**{name: value for name, value in device.items() if value})
        _device = (info, version, known)
    return _device[2]


_provisioning: Callable[[Terminal, Parameters], None] | None = None


def _provisioning_parameters(terminal: Terminal, out: Parameters) -> None:
    # Certificate parsing is loaded on first use, not at start-up.
    global _provisioning
    if _provisioning is None:
        from cardcore.provisioning.info import provisioning_parameters

        _provisioning = provisioning_parameters
    _provisioning(terminal, out)
