"""The log's PAN safety net: a PAN wherever it can stand in a log line is
masked to its last four digits; the kernel trace's other numbers are not."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardcore import logs
from cardcore.logs import RedactingFilter, is_pan, redact
from simulators.devices.profile import list_profiles, load_profile

VISA = "4761739001010010"  # the default virtual card
MIR = "2200000000010005001"  # 19 digits
AMEX = "378282246310005"  # a public test number


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (f"pan {VISA}", "pan ************0010"),
        (f"{VISA}", "************0010"),
        (f"pan={VISA},", "pan=************0010,"),
        (f'{{"pan": "{VISA}"}}', '{"pan": "************0010"}'),
        (f"card_{VISA}_x", "card_************0010_x"),
        (f"PAN {MIR} read", "PAN ***************5001 read"),
        (f"amex {AMEX}.", "amex ***********0005."),
        # printed in groups
        ("4761 7390 0101 0010", "************0010"),
        ("4761-7390-0101-0010 approved", "************0010 approved"),
        ("3782 822463 10005", "***********0005"),
        ("2200 0000 0001 0005 001", "***************5001"),
        # track 2, track 1, track 2 equivalent data (EMV 57)
        (f";{VISA}=34122010000000000?", ";************0010=34122010000000000?"),
        (f"%B{VISA}^CARDCORE/TEST^3412201", "%B************0010^CARDCORE/TEST^3412201"),
        (f"57 {VISA}D34122010000000000000F", "57 ************0010D34122010000000000000F"),
        # tag 5A and 57 values inside a hex dump (a whole R-APDU)
        (
            f"70285713{VISA}D34122010000000000000F5A08{VISA}5F340101",
            "70285713************0010D34122010000000000000F5A08************00105F340101",
        ),
        (f"5A0A{MIR}F5F2403341231", "5A0A***************5001F5F2403341231"),
        ("two 4761739001010010 and 5413330089010046", "two ************0010 and ************0046"),
    ],
)
def test_a_pan_is_masked_where_it_can_stand(line: str, masked: str) -> None:
    assert redact(line) == masked


@pytest.mark.parametrize(
    "line",
    [
        # the --econs kernel trace: AIDs, cryptograms, TVR, IAD, ATC, dates
        "SELECT 00A4040007 A0000000031010 -> 9000",
        "    84 Dedicated File (DF) Name [7] A0000000031010",
        "    4F Application Identifier (AID) [7] A0000006581010",
        "    9F26 Application Cryptogram [8] 8A3C1F0E5B7D2946",
        "    9F10 Issuer Application Data [7] 06011203A0B800",
        "    95 Terminal Verification Results [5] 0000008000",
        "    9F36 Application Transaction Counter [2] 0011",
        "    5A Application Primary Account Number (PAN) [8] <redacted 8 bytes>",
        # ISO 8583 and receipt numbers: STAN, RRN, amounts, TID, MID
        "0200 stan 000123 rrn 633217000001 amount 000000015000 tid 00000001",
        "merchant 000000000123456 terminal 12345678",
        "receipt pan ************0010 approved",
        # digit runs inside longer hex or alphanumeric words
        f"A{VISA}",
        f"{VISA}B",
        f"x{VISA}9F",
        f"hex 9F26{VISA}",
        # a 16-digit number that fails Luhn, one starting with 0, one too short
        "4761739001010011",
        "0761739001010010",
        "476173900101",
        # numbers that are not grouped like a PAN
        "ports 4433 4434 35963 35964",
        "2024-06-01 12:00:00",
    ],
)
def test_other_numbers_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_luhn() -> None:
    assert is_pan(VISA) and is_pan(MIR) and is_pan(AMEX)
    assert not is_pan("4761739001010011") and not is_pan("12345") and not is_pan("4761x")


@given(st.text(alphabet="0123456789ABCDEF =;^%-DB", max_size=120))
def test_redaction_never_lengthens_a_line_or_uncovers_a_pan(text: str) -> None:
    out = redact(text)
    assert len(out) == len(text) or "*" in out
    assert redact(out) == out  # masked text holds no PAN any more


def test_no_profile_pan_passes_the_filter() -> None:
    """Every virtual card's PAN, in the forms a log line may carry it, reaches
    a handler masked."""
    logger = logging.getLogger("test.logs")
    handler_filter = RedactingFilter()
    for name in list_profiles():
        for app in load_profile(name).applications:
            pan = app.data[0x5A].hex().upper().rstrip("F")
            for line in (
                f"pan {pan}",
                f"track2 {app.data[0x57].hex().upper()}",
                f"record 5A{len(app.data[0x5A]):02X}{app.data[0x5A].hex().upper()}",
            ):
                record = logger.makeRecord(
                    "test.logs", logging.INFO, __file__, 1, "%s", (line,), None
                )
                assert handler_filter.filter(record)
                assert pan not in record.getMessage(), (name, line)
                assert pan[-4:] in record.getMessage()


@pytest.fixture
def syslog_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket where /dev/log would be, as journald and rsyslog bind it."""
    path = tmp_path / "log"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setattr(logs, "_SYSLOG_SOCKETS", (str(path),))
    # setup_logging changes these loggers for the whole process: put them back,
    # or a later test in this worker (caplog on the kernel trace) sees nothing.
    loggers = [logging.getLogger(name) for name in ("", logs.KERNEL_TRACE, "httpx", "httpcore")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield sock
    sock.close()
    for lg, handlers, level, propagate in saved:
        for handler in list(lg.handlers):
            lg.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            lg.addHandler(handler)
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.mark.parametrize(
    ("identifier", "facility", "code"),
    [("cardcore", "daemon", 3), ("pos-bank", "local3", 19)],
)
def test_syslog_lines_carry_the_identifier_facility_and_pid(
    syslog_socket: socket.socket, identifier: str, facility: str, code: int
) -> None:
    logs.setup_logging(
        console=False, kernel_console=False, level=logging.WARNING,
        identifier=identifier, facility=facility,
    )  # fmt: skip
    logging.getLogger("cardcore.test").info("below the level")
    logging.getLogger("cardcore.test").warning("card 4111111111111111 seen")
    # RFC 3164: <PRI>TAG[PID]: text, PRI = facility * 8 + severity (warning: 4).
    line = f"{identifier}[{os.getpid()}]: cardcore.test WARNING card ************1111 seen"
    assert syslog_socket.recv(4096) == f"<{code * 8 + 4}>{line}\x00".encode()


def test_without_a_syslog_socket_the_log_goes_to_stderr_after_one_line_saying_so(
    syslog_socket: socket.socket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(logs, "_SYSLOG_SOCKETS", (str(tmp_path / "no-such-socket"),))
    logs.setup_logging(console=False, kernel_console=False, level=logging.INFO)
    logging.getLogger("cardcore.test").warning("card 4111111111111111 seen")
    # The README quotes this line.
    assert capsys.readouterr().err.splitlines() == [
        "cardcore: no syslog socket; logging to stderr",
        "WARNING cardcore.test: card ************1111 seen",
    ]
