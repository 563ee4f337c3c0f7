"""A purchase from the cash register through `cardcore serve` whose card
readers are PC/SC: the card is a virtual card that `cardcore sim vpcd` plugs
into vsmartcard's vpcd reader of a real pcscd, so the APDUs go kernel ->
hal.pcsc -> pyscard -> libpcsclite -> pcscd -> vpcd -> the virtual card, the
code path a USB reader on a bench PC takes. Hosts and PIN pad are simulated
(`--simulator`), readers are not (`[readers] driver = "pcsc"`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardcore.protocol.xmlcodec import decode_error_stack
from tests.hal.pcscd import CONTACT_READER, CONTACTLESS_READER, Pcscd
from tests.integration.conftest import FAST, Served, start_server, stop_server
from tests.integration.test_transactions import PURCHASE, Register, assert_consistent

# Every test here shares the one private pcscd: they run in their own, serial
# pytest run (make unit), never beside each other on two workers.
pytestmark = pytest.mark.pcsc

CONFIG = (
    FAST
    + f"""
[readers]
driver = "pcsc"
contact = ["{CONTACT_READER}"]
contactless = ["{CONTACTLESS_READER}"]
poll = 0.5
[transaction]
detection-timeout = 30
[acquirer]
response-timeout = 5
"""
)


def vpcd_card(port: int, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cardcore", "sim", "vpcd", *extra, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "virtual card" in first, first
    return process


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then everything it printed after its first line (read through
    the same buffered pipe object the first line came from)."""
    assert process.stdout is not None
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.returncode, process.stdout.read()


@pytest.fixture
def terminal(pcscd: Pcscd, tmp_path: Path) -> Iterator[Served]:
    server = start_server(tmp_path / "data", config=CONFIG)
    try:
        yield server
    finally:
        code = stop_server(server)
        assert code == 0, server.log_text()


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
async def test_purchase_with_a_card_in_a_pcsc_reader(
    pcscd: Pcscd, terminal: Served, t0: bool
) -> None:
    """The default card offers T=0 alone, as most payment cards; `--t1` makes
    it a T=1 card."""
    card = vpcd_card(pcscd.port, "default", *([] if t0 else ["--t1"]))
    try:
        register = Register(terminal)
        answer = await register.transaction(**PURCHASE)
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        receipt = answer.body["receipt"]
        assert receipt["tstatus"] == "approved", receipt
        assert receipt["pan"] == "************0010" and receipt["pin-entered"] == "offline"
        assert receipt["aid"] == "A0000000031010"
        await assert_consistent(terminal)
    finally:
        code, output = stop(card)
    assert code == 0, output
    assert "virtual card connected to vpcd" in output
    log = terminal.log_text()
    assert "card readers: PC/SC" in log
    assert f"contact interface: PC/SC reader {CONTACT_READER}" in log
    assert f"card in {CONTACT_READER}: ATR 3B" in log
    assert ", T=0" in log if t0 else ", T=1" in log
    assert "4761739001010010" not in log and "4761739001010010" not in output


async def test_contactless_purchase_through_a_pcsc_contactless_reader(
    pcscd: Pcscd, terminal: Served
) -> None:
    """A tap: the card on vpcd's second slot as a PC/SC part 3 contactless
    reader shows it (ATR, GET DATA UID); the Entry Point and the kernel run
    over the same PC/SC session."""
    card = vpcd_card(pcscd.port + 1, "visa-qvsdc")
    try:
        answer = await Register(terminal).transaction(**PURCHASE)
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        receipt = answer.body["receipt"]
        assert receipt["tstatus"] == "approved", receipt
        await assert_consistent(terminal)
    finally:
        code, output = stop(card)
    assert code == 0, output
    log = terminal.log_text()
    assert f"contactless interface: PC/SC reader {CONTACTLESS_READER}" in log
    assert f"card in {CONTACTLESS_READER}: ATR 3B8" in log


async def test_no_card_in_the_pcsc_reader_times_out(pcscd: Pcscd, tmp_path: Path) -> None:
    config = CONFIG.replace("detection-timeout = 30", "detection-timeout = 2")
    server = start_server(tmp_path / "data", config=config)
    try:
        answer = await Register(server).transaction(**PURCHASE)
        assert answer.status == "notdetected", answer.body
        assert "no card presented" in decode_error_stack(answer.body["error-stack"])[0]
    finally:
        assert stop_server(server) == 0
