"""Driver selection by configuration ([readers]) and `cardcore sim vpcd`'s
command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from base.crypto.des import tdes_ecb_decrypt
from base.crypto.pinblock import decode_iso0, decode_iso2
from cardcore.config import ConfigError, build_config
from cardcore.devices import apply_configured_drivers, pinpad_driver, reader_driver
from cardcore.hostlink import KEY_NAMES
from cardcore.terminal import Devices, Terminal
from hal.interfaces import CardInterface, DeviceInfo, NoKeypad
from simulators.devices.reader import SimCardReader, SimCardSlot

CONTACT, CONTACTLESS = CardInterface.CONTACT, CardInterface.CONTACTLESS
INFO = DeviceInfo("000000000009", "M2100", "1", "1", "Linux", "1")
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # TEST ONLY
TPK = bytes.fromhex("89ABCDEF0123456776543210FEDCBA98")  # TEST ONLY


@asynccontextmanager
async def terminal(tmp_path: Path, data: dict[str, Any]) -> AsyncIterator[Terminal]:
    config = build_config({"admin": {"scrypt-n": 1024}, **data})
    slot = SimCardSlot()
    readers = {i: SimCardReader(slot, i) for i in CardInterface}
    term = Terminal(config, tmp_path, Devices(INFO, NoKeypad(), readers))  # type: ignore[arg-type]
    await term.start()
    term.start_host()
    try:
        yield term
    finally:
        term.close()


@pytest.mark.parametrize(
    ("driver", "simulator", "expected"),
    [
        ("auto", True, "sim"),
        ("auto", False, "pcsc"),
        ("pcsc", True, "pcsc"),
        ("sim", False, "sim"),
        ("none", True, "none"),
    ],
)
def test_reader_driver(driver: str, simulator: bool, expected: str) -> None:
    config = build_config({"readers": {"driver": driver}})
    assert reader_driver(config.readers, simulator) == expected


async def test_pcsc_readers_replace_the_simulated_ones(tmp_path: Path) -> None:
    from hal.pcsc import PcscReader

    readers_config = {
        "driver": "pcsc",
        "contact": ["Gemalto*", "*"],
        "contactless": ["*PICC*"],
        "atqa-sak-apdu": "FFCAF00000",
        "poll": 0.5,
    }
    async with terminal(tmp_path, {"readers": readers_config}) as term:
        monitors = apply_configured_drivers(term, simulator=True)
        readers = term.devices.readers
    contact, contactless = readers[CONTACT], readers[CONTACTLESS]
    assert isinstance(contact, PcscReader) and isinstance(contactless, PcscReader)
    assert contact.selector.patterns == ("Gemalto*", "*")
    assert contact.selector.exclude == ("*PICC*", "*SAM*", "*ACR1281* ?? 02")
    assert contactless.selector.exclude == ("*SAM*", "*ACR1281* ?? 02")
    assert contactless.atqa_sak_apdu == bytes.fromhex("FFCAF00000")
    assert contact.stack.poll == 0.5 and len(monitors.tasks) == 1
    names = ["ACS ACR1252 1S CL Reader [PICC] 00 00", "ACS ACR1252 1S CL Reader [SAM] 00 01"]
    assert contact.selector.choose(names) is None
    assert contactless.selector.choose(names) == names[0]


async def test_simulated_and_no_readers(tmp_path: Path) -> None:
    async with terminal(tmp_path, {}) as term:
        assert not apply_configured_drivers(term, simulator=True).tasks
        assert isinstance(term.devices.readers[CONTACT], SimCardReader)
    async with terminal(tmp_path, {"readers": {"driver": "none"}}) as term:
        apply_configured_drivers(term, simulator=True)
        assert term.devices.readers == {}


async def test_bad_atqa_sak_apdu(tmp_path: Path) -> None:
    async with terminal(tmp_path, {"readers": {"driver": "pcsc", "atqa-sak-apdu": "FFCAZZ"}}) as t:
        with pytest.raises(ConfigError, match="atqa-sak-apdu"):
            apply_configured_drivers(t, simulator=False)


@pytest.mark.parametrize(
    ("driver", "simulator", "expected"),
    [("auto", True, "sim"), ("auto", False, "usbhid"), ("usbhid", True, "usbhid"),
     ("none", False, "none")],
)  # fmt: skip
def test_pinpad_driver(driver: str, simulator: bool, expected: str) -> None:
    assert pinpad_driver(build_config({"pinpad": {"driver": driver}}).pinpad, simulator) == expected


async def test_emulated_usb_pinpad_with_the_terminals_keys(tmp_path: Path) -> None:
    """`[pinpad] driver = "usbhid"`, `emulated = true`: the real driver on the
    emulated pad, keys from the key store, the configured bench PIN."""
    from hal.usbhid.pinpad import UsbHidPinPad

    config = {"pinpad": {"driver": "usbhid", "emulated": True, "emulated-pin": "4711",
                         "vendor-id": 0x2222, "product-id": 0x3333}}  # fmt: skip
    async with terminal(tmp_path, config) as term:
        term.provisioned_keys.put_many({KEY_NAMES["master-pin"]: (TMK, "tdes"),
                                        KEY_NAMES["master-mac"]: (TPK, "tdes")})  # fmt: skip
        term.keystore.put(KEY_NAMES["tpk"], TPK, "tdes")
        apply_configured_drivers(term, simulator=False)
        pad = term.devices.pinpad
        assert isinstance(pad, UsbHidPinPad) and term.devices.keypad is pad
        assert pad.name == "USB PIN pad 2222:3333"
        block = await pad.online_pin("4761739001010010", 100, 643, 30)
        assert decode_iso0(tdes_ecb_decrypt(TPK, block), "4761739001010010") == "4711"
        assert decode_iso2(await pad.offline_pin(100, 643, None, 30)) == "4711"
        assert await term.devices.keypad.confirm("OK?", 5)


async def test_usb_pinpad_without_keys_is_a_pinpad_error(tmp_path: Path) -> None:
    from kernel.errors import PinPadError

    config = {"pinpad": {"driver": "usbhid", "emulated": True}}
    async with terminal(tmp_path, config) as term:
        apply_configured_drivers(term, simulator=False)
        pad = term.devices.pinpad
        assert pad is not None
        with pytest.raises(PinPadError, match="TMK"):
            await pad.offline_pin(100, 643, None, 30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-card"], "unknown virtual card profile"),
        (["mifare-classic", "--interface", "contact"], "cannot be presented contact"),
        (["default", "--port", "70000"], "out of range"),
        (["default", "--interface", "mifare"], "invalid choice"),
    ],
)
def test_sim_vpcd_refuses_bad_arguments(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cardcore", "sim", "vpcd", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("driver", "simulator", "installed"),
    [("auto", True, True), ("auto", False, False), ("sim", False, True), ("none", True, False)],
)
async def test_sam_driver(tmp_path: Path, driver: str, simulator: bool, installed: bool) -> None:
    from simulators.devices.sam import SimSam

    async with terminal(tmp_path, {"sam": {"driver": driver}, "pinpad": {"driver": "none"}}) as t:
        apply_configured_drivers(t, simulator=simulator)
        assert isinstance(t.devices.sam, SimSam) is installed
