"""Command parameter models and the Appendix A status table."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import acquirers
import cardcore
import hal
import kernel
from base.errors import CardcoreError
from cardcore.protocol.messages import ChangePassword, InvalidArguments, Login, parse_params
from cardcore.protocol.status import DESCRIPTIONS, Status
from cardcore.protocol.xmlcodec import decode_message


@pytest.mark.parametrize(
    ("xml", "error"),
    [
        (b"<login/>", "missing parameter 'password'"),
        (b"<login><password>1234567</password></login>", "parameter 'password' is ill-formed"),
        (b"<login><password>1234567a</password></login>", "parameter 'password' is ill-formed"),
        (b"<login><password><x/></password></login>", "parameter 'password' is (structured)"),
    ],
)
def test_login_invalid(xml: bytes, error: str) -> None:
    with pytest.raises(InvalidArguments) as info:
        parse_params(decode_message(xml), Login)
    assert info.value.status == "invalidarguments"
    assert info.value.message.startswith(error)


def test_login_from_attributes_and_unknown_parameters_ignored() -> None:
    message = decode_message(
        b'<login client-handshake="AAA" vendor="x"><password>12345678</password></login>'
    )
    assert parse_params(message, Login) == Login(password="12345678", client_handshake="AAA")


def test_changepassword() -> None:
    xml = (
        b"<changepassword><token>DE9773A8CB888560AB0F89C07623FE03</token>"
        b"<password>12345678</password><newpassword>87654321</newpassword></changepassword>"
    )
    params = parse_params(decode_message(xml), ChangePassword)
    assert params.newpassword == "87654321"


def test_status_table_is_appendix_a() -> None:
    assert len(Status) == 30
    assert Status("formaterror") is Status.FORMAT_ERROR
    assert set(DESCRIPTIONS) == set(Status)


def _all_subclasses(cls: type) -> set[type]:
    out = set(cls.__subclasses__())
    for sub in list(out):
        out |= _all_subclasses(sub)
    return out


def test_every_error_maps_to_an_appendix_a_status() -> None:
    for package in (cardcore, hal, kernel, acquirers):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # optional extras (pyscard, pyusb) may be absent
                if exc.name in ("smartcard", "usb"):
                    continue
                raise
    classes = _all_subclasses(CardcoreError) | {CardcoreError}
    assert len(classes) > 5
    for cls in classes:
        assert cls.status in set(Status), f"{cls.__qualname__}.status = {cls.status!r}"
