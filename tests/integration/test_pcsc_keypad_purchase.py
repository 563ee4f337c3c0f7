"""Purchases through `cardcore serve` whose contact reader takes the PIN on
its own keypad: the emulated GemPC Pinpad behind the CCID project's driver
in the private pcscd (tests/hal/ccid_pinpad.py). No PIN pad is configured,
so a PIN that did not go through the reader's keypad could not be entered at
all: the receipt says whether it was."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import trio

from cardcore.protocol.xmlcodec import decode_error_stack
from tests.hal.pcscd import Pcscd
from tests.hal.test_pcsc_keypad import NAME, READER, default_card, keypad_reader
from tests.integration.conftest import FAST, start_server, stop_server
from tests.integration.test_transactions import PURCHASE, Register, assert_consistent

pytestmark = pytest.mark.pcsc

CONFIG = (
    FAST
    + f"""
[readers]
driver = "pcsc"
contact = ["{NAME}*"]
contactless = ["nothing here"]
poll = 0.5
[pinpad]
driver = "none"
[transaction]
detection-timeout = 30
"""
)


async def test_offline_pin_on_the_contact_readers_keypad(pcscd: Pcscd, tmp_path: Path) -> None:
    async with keypad_reader(pcscd, default_card()) as reader:
        reader.firmware.keypad.enter("9999", "1234")  # a wrong PIN first
        served = await trio.to_thread.run_sync(
            functools.partial(start_server, tmp_path / "data", config=CONFIG)
        )
        try:
            register = Register(served)
            answer = await register.transaction(**PURCHASE)
            assert answer.status == "ok", decode_error_stack(answer.body.get("error-stack"))
            receipt = answer.body["receipt"]
            assert receipt["tstatus"] == "approved", receipt
            assert receipt["pin-entered"] == "offline" and receipt["signature"] == "no"
            codes = register.codes()
            assert "0A" in codes and "0D" in codes  # INCORRECT PIN, then PIN OK
            await assert_consistent(served)
        finally:
            assert await trio.to_thread.run_sync(stop_server, served) == 0, served.log_text()
        assert [e.answer.hex().upper() for e in reader.firmware.entries] == ["63C2", "9000"]
    log = served.log_text()
    assert f"contact interface: PC/SC reader {READER}" in log
    assert "9999" not in log and "1234" not in log


async def test_nobody_at_the_keypad(pcscd: Pcscd, tmp_path: Path) -> None:
    """The reader times out (part 10 6400): PIN pad not working, signature,
    and the cash register's display says PIN PAD ERROR (D7)."""
    async with keypad_reader(pcscd, default_card()) as reader:
        served = await trio.to_thread.run_sync(
            functools.partial(start_server, tmp_path / "data", config=CONFIG)
        )
        try:
            register = Register(served)
            answer = await register.transaction(**PURCHASE)
            receipt = answer.body["receipt"]
            assert receipt["tstatus"] == "approved" and receipt["signature"] == "yes", receipt
            assert receipt["pin-entered"] == "no"
            assert int(receipt["tvr"], 16) >> 16 & 0x10  # PIN pad not present or not working
            shown = [m.body["msg"] for m in register.messages if m.body.get("code") == "D7"]
            assert shown == ["ОШИБКА ПИН-ПАДА"]
        finally:
            assert await trio.to_thread.run_sync(stop_server, served) == 0, served.log_text()
        assert reader.firmware.entries == []
