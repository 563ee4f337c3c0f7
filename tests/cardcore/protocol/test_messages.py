"""Command parameter models and the Appendix A status table."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import acquirers
import base
import cardcore
import hal
import kernel
import simulators
from base.errors import CardcoreError
from cardcore.protocol.messages import ChangePassword, InvalidArguments, Login, parse_params
from cardcore.protocol.status import DESCRIPTIONS, ERROR_STATUS, Status, status_of
from cardcore.protocol.xmlcodec import decode_message
from kernel.errors import CardCommunicationError, TryAnotherInterface


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
    assert status_of(info.value) == "invalidarguments"
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


def _every_error_class() -> dict[str, type]:
    for package in (base, cardcore, hal, kernel, acquirers, simulators):
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
    products = ("base.", "cardcore.", "hal.", "kernel.", "acquirers.", "simulators.")
    named = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in classes}
    return {name: cls for name, cls in named.items() if name.startswith(products)}


def _inherited(cls: type) -> Status | None:
    """What ``cls`` would answer if the table had no line for it."""
    names = (f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__[1:])
    return next((ERROR_STATUS[n] for n in names if n in ERROR_STATUS), None)


def test_the_error_table_names_real_classes_and_no_line_repeats_its_parent() -> None:
    classes = _every_error_class()
    assert len(classes) > 50
    assert set(ERROR_STATUS) <= set(classes), set(ERROR_STATUS) - set(classes)
    for name, status in ERROR_STATUS.items():
        cls = classes[name]
        if cls is not CardcoreError:
            assert status != _inherited(cls), f"{name}: {status} is what its parent answers"


def test_no_error_class_carries_a_wire_status() -> None:
    # The ECR status of an error is the table's to say, for every layer.
    carrying = [name for name, cls in _every_error_class().items() if "status" in vars(cls)]
    assert carrying == []


def test_an_error_answers_as_its_nearest_named_ancestor() -> None:
    class Unlisted(TryAnotherInterface):
        pass

    assert status_of(Unlisted("x")) is Status.TRY_ANOTHER_INTERFACE
    assert status_of(CardCommunicationError("x")) is Status.TRY_AGAIN  # via CardTryAgain
    assert status_of(ValueError("not ours")) is Status.SYSTEM_ERROR


def test_an_error_message_is_what_the_raiser_wrote_never_a_docstring() -> None:
    assert TryAnotherInterface("use the chip reader").message == "use the chip reader"
    with pytest.raises(TypeError):
        TryAnotherInterface()  # type: ignore[call-arg]
