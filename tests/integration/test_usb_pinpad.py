"""Purchases through `cardcore serve --simulator` whose PIN pad is the USB-HID
driver on the emulated pad (`[pinpad] driver = "usbhid"`, `emulated = true`):
the kernel's offline-PIN path (format-2 block over the link key, VERIFY by
the kernel) and online-PIN path (format-0 block under the TPK, checked by the
host simulator) run through the driver's real pyusb code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cardcore.protocol.xmlcodec import decode_error_stack
from tests.integration.conftest import FAST, Served, sim, start_server, stop_server
from tests.integration.test_transactions import PURCHASE, Register, assert_consistent

CONFIG = (
    FAST
    + """
[pinpad]
driver = "usbhid"
emulated = true
[transaction]
detection-timeout = 5
"""
)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Served]:
    server = start_server(tmp_path / "data", config=CONFIG)
    try:
        yield server
    finally:
        code = stop_server(server)
        assert code == 0, server.log_text()


@pytest.mark.parametrize(
    ("profile", "pin_entered"), [("default", "offline"), ("online-pin", "online")]
)
async def test_pin_through_the_usb_pinpad(terminal: Served, profile: str, pin_entered: str) -> None:
    sim(terminal.data_dir, "present", profile)
    answer = await Register(terminal).transaction(**PURCHASE)
    assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
    receipt = answer.body["receipt"]
    assert receipt["tstatus"] == "approved", receipt
    assert receipt["pin-entered"] == pin_entered
    await assert_consistent(terminal)
    log = terminal.log_text()
    assert "PIN pad: USB-HID 1209:0001 (emulated)" in log
    assert "USB PIN pad 1209:0001: serial EMU0000000001" in log


@pytest.mark.parametrize("scheme", ["dukpt-tdes", "dukpt-aes"])
async def test_online_pin_under_dukpt_reaches_the_host(tmp_path: Path, scheme: str) -> None:
    """The pad enciphers under the transaction's DUKPT key; the 0200 carries the
    KSN (field 120); the host simulator derives the key from the base
    derivation key and checks the PIN against the card's account."""
    served = start_server(
        tmp_path / "data",
        config=CONFIG.replace("emulated = true", f'emulated = true\nemulated-scheme = "{scheme}"'),
    )
    try:
        sim(served.data_dir, "present", "online-pin")
        for _ in range(2):  # two transactions: two KSNs, two keys
            answer = await Register(served).transaction(**PURCHASE)
            receipt = answer.body["receipt"]
            assert receipt["tstatus"] == "approved", (receipt, served.log_text())
            assert receipt["pin-entered"] == "online"
        await assert_consistent(served)
        assert "DUKPT PIN block not deciphered" not in served.log_text()
    finally:
        assert stop_server(served) == 0, served.log_text()


async def test_a_missing_pad_is_said_at_start_up_and_on_the_display(tmp_path: Path) -> None:
    """`[pinpad] driver = "usbhid"` with no pad on the bus (the real libusb
    backend): a WARNING at start-up; the purchase keeps its EMV outcome (PIN
    entry fails, the CVM list falls back to signature) and the cash
    register's display says why (D6)."""
    served = start_server(
        tmp_path / "data", config=CONFIG.replace("emulated = true", "vendor-id = 0x1209")
    )
    try:
        log = served.log_text()
        assert "WARNING" in log and "PIN pad: USB PIN pad 1209:0001 is not connected" in log
        assert "PIN pad: USB-HID 1209:0001\n" not in log  # no line that sounds all right
        sim(served.data_dir, "present", "default")
        register = Register(served)
        answer = await register.transaction(**PURCHASE)
        assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
        receipt = answer.body["receipt"]
        assert receipt["tstatus"] == "approved" and receipt["signature"] == "yes", receipt
        assert receipt["pin-entered"] == "no"
        assert int(receipt["tvr"], 16) >> 16 & 0x10  # byte 3: PIN pad not present or not working
        codes = register.codes()
        assert codes.index("09") < codes.index("D6")  # ENTER PIN, then why it cannot be
        shown = [m.body["msg"] for m in register.messages if m.body.get("code") == "D6"]
        assert shown == ["ПИН-ПАД НЕ ПОДКЛЮЧЕН"]
        await assert_consistent(served)
    finally:
        assert stop_server(served) == 0, served.log_text()
