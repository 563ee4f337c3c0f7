# Strategy: the command parameters of the ECR manual («Команды») as msgspec
# models. A parsed packet's parameters (root attributes and children merged,
# see xmlcodec) are converted with `parse_params`; a missing or ill-formed
# parameter is `invalidarguments` naming the parameter. Unknown parameters are
# ignored, as cash registers send vendor extensions.
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from base.errors import CardcoreError
from cardcore.protocol.xmlcodec import Message

__all__ = [
    "Amount",
    "ChangePassword",
    "Clear",
    "InvalidArguments",
    "Login",
    "Password",
    "Report",
    "ResetPassword",
    "RunReset",
    "Settlement",
    "Token",
    "TokenCommand",
    "parse_params",
]

Password = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{8}$")]
Token = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Fa-f]{32}$")]
# Amounts are exactly 12 digits of minor units (docs/protocol-decisions.md); zero
# is refused by the handlers.
Amount = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{12}$")]


class InvalidArguments(CardcoreError):
    """Invalid parameter values."""


class _Params(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=False):
    pass


class Login(_Params):
    password: Password
    client_handshake: str | None = None


class TokenCommand(_Params):
    """Commands whose only parameter is the admin token."""

    token: Token


class RunReset(_Params):
    """runreset: the token may be absent while the terminal is in factory state."""

    token: Token | None = None


class ChangePassword(_Params):
    token: Token
    password: Password
    newpassword: Password


class ResetPassword(_Params):
    pass


class Report(_Params):
    """report: brief or full X-report (manual «Отчет»); brief when absent."""

    password: Password
    report_type: Literal["brief", "full"] = "brief"


# The manual's example sends <force>on</force>.
Switch = Annotated[str, msgspec.Meta(pattern=r"^(?i:on|off|true|false|yes|no|1|0)$")]


class Settlement(_Params):
    password: Password
    force: Switch | None = None

    @property
    def forced(self) -> bool:
        return self.force is not None and self.force.lower() in ("on", "true", "yes", "1")


class Clear(_Params):
    password: Password


T = TypeVar("T", bound=msgspec.Struct)

_PATH = re.compile(r"`\$\.([^`\[]+)")


def parse_params(message: Message, model: type[T]) -> T:
    # (convert only reads: the body itself when there are no attributes to merge)
    params: dict[str, Any] = message.params() if message.attrs else message.body
    try:
        return msgspec.convert(params, model)  # strict (msgspec's default: no keyword to parse)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        name = match.group(1) if match else None
        if text.startswith("Object missing required field"):
            field = text.split("`")[1]
            raise InvalidArguments(f"missing parameter '{field}'") from None
        if name is not None:
            value = params.get(name)
            shown = "(structured)" if isinstance(value, dict | list) else "ill-formed"
            raise InvalidArguments(f"parameter '{name}' is {shown}: {_hint(model, name)}") from None
        raise InvalidArguments(text) from None


def _hint(model: type[msgspec.Struct], name: str) -> str:
    hints = {
        "password": "8 digits",
        "newpassword": "8 digits",
        "token": "32 hex characters",
        "amount": "12 digits",
        "amount-other": "12 digits",
        "report-type": "brief or full",
        "force": "on or off",
    }
    return hints.get(name, f"not valid for <{model.__name__.lower()}>")
