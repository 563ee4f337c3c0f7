"""`cardcore readers` as a bench runs it, against the private pcscd: the vpcd
readers with virtual cards in them (contact and PC/SC part 3 contactless),
real reader names as pcscd offers them, a class-3 reader behind the CCID
project's driver, pcscd gone; and `cardcore serve`'s start-up warning for a
configured reader that is missing."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from simulators.devices.vpcd import icc_for_profile
from tests.hal.pcscd import CONTACT_READER, CONTACTLESS_READER, Pcscd, plugged
from tests.hal.test_pcsc_keypad import NAME as KEYPAD_NAME
from tests.hal.test_pcsc_keypad import READER as KEYPAD_READER
from tests.hal.test_pcsc_keypad import default_card, keypad_reader
from tests.integration.conftest import FAST, start_server, stop_server

pytestmark = pytest.mark.pcsc

VPCD = f"""
[readers]
contact = ["{CONTACT_READER}"]
contactless = ["{CONTACTLESS_READER}"]
[pinpad]
driver = "usbhid"
emulated = true
"""


async def readers(tmp_path: Path, config: str | None, *options: str) -> tuple[int, str, str]:
    args = [sys.executable, "-m", "cardcore", "readers", *options]
    if config is not None:
        path = tmp_path / "bench.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    done = await trio.run_process(args, capture_stdout=True, capture_stderr=True, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def readers_json(tmp_path: Path, config: str | None, *options: str) -> dict[str, Any]:
    code, out, err = await readers(tmp_path, config, "--json", *options)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in data["readers"]}


async def test_cards_in_the_vpcd_readers(pcscd: Pcscd, tmp_path: Path) -> None:
    contact = icc_for_profile("default", None)
    tap = icc_for_profile("visa-qvsdc", None)
    async with (
        trio.open_nursery() as nursery,
        plugged(nursery, pcscd, contact, 0),
        plugged(nursery, pcscd, tap, 1),
    ):
        data = await readers_json(tmp_path, VPCD, "--check")
        code, text, _ = await readers(tmp_path, VPCD, "--check")
    got = by_name(data)
    first, second = got[CONTACT_READER], got[CONTACTLESS_READER]
    assert (first["role"], first["pattern"]) == ("contact", CONTACT_READER)
    assert (second["role"], second["pattern"]) == ("contactless", CONTACTLESS_READER)
    assert first["atr"] == contact.atr.hex().upper() and first["atr-contactless"] is False
    assert second["atr"] == tap.atr.hex().upper() and second["atr-contactless"] is True
    assert first["keypad"] is None and second["keypad"] is None  # vpcd: no part 10
    assert first["check"]["select"] == "PSE" and first["check"]["sw"] == "9000"
    assert first["check"]["applications"][0]["aid"] == "A0000000031010"
    assert second["check"]["select"] == "PPSE" and second["check"]["sw"] == "9000"
    assert data["interfaces"]["contact"]["reader"] == CONTACT_READER
    assert data["pin-entry"]["pinpad"]["state"] == "emulated"
    assert code == 0
    assert f"  contact      {CONTACT_READER}" in text.splitlines()
    assert 'check: SELECT PPSE: 9000 ok, 1 application: A0000000031010 "VISA CREDIT"' in text


async def test_real_reader_names_through_pcscd(pcscd: Pcscd, tmp_path: Path) -> None:
    """vpcd named as an OMNIKEY 5422's contactless interface: pcscd offers
    the name with its brackets and parentheses, the default patterns give
    it to contactless (its second vpcd slot is a spare contactless one)."""
    body = (
        "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422CL Smartcard Reader]"
        " (IM0O2C00NF10456904)"
    )
    await trio.to_thread.run_sync(functools.partial(pcscd.restart, body))
    try:
        data = await readers_json(tmp_path, None)
    finally:
        await trio.to_thread.run_sync(pcscd.restart)
    got = by_name(data)
    assert got[f"{body} 00 00"]["role"] == "contactless"
    assert got[f"{body} 00 00"]["pattern"] == "*CL Smartcard*"
    assert got[f"{body} 00 01"]["role"] == "spare"
    assert data["interfaces"]["contact"]["reader"] is None
    assert data["interfaces"]["contactless"]["reader"] == f"{body} 00 00"


async def test_a_class_3_reader_shows_its_keypad(pcscd: Pcscd, tmp_path: Path) -> None:
    config = f'[readers]\ncontact = ["{KEYPAD_NAME}*"]\n'
    async with keypad_reader(pcscd, default_card()):
        data = await readers_json(tmp_path, config)
        code, text, _ = await readers(tmp_path, config)
        off = await readers_json(tmp_path, config + 'pin-entry = "off"\n')
    entry = by_name(data)[KEYPAD_READER]
    assert entry["role"] == "contact" and entry["keypad"] is not None
    assert entry["atr"] == default_card().atr.hex().upper()
    assert data["pin-entry"]["offline-plaintext"] == f"reader keypad: {KEYPAD_READER}"
    assert off["pin-entry"]["offline-plaintext"] == "PIN pad"
    assert code == 0 and "keypad: its own PIN keypad (PC/SC part 10 VERIFY_PIN_DIRECT)" in text


async def test_pcscd_not_running_is_one_line(pcscd: Pcscd, tmp_path: Path) -> None:
    await trio.to_thread.run_sync(pcscd.stop)
    try:
        code, out, err = await readers(tmp_path, None)
    finally:
        await trio.to_thread.run_sync(pcscd.start)
    assert code == 1 and out == ""
    assert err == (
        "cardcore: the PC/SC service (pcscd) is not running (0x8010001D);"
        " start it: systemctl start pcscd.socket (or run pcscd -f)\n"
    )


def test_serve_warns_about_a_configured_reader_that_is_missing(
    pcscd: Pcscd, tmp_path: Path
) -> None:
    config = FAST + '\n[readers]\ndriver = "pcsc"\ncontact = ["Gemalto*"]\n'
    served = start_server(tmp_path / "data", config=config)
    try:
        log = served.log_text()
    finally:
        assert stop_server(served) == 0
    assert "contact interface: no PC/SC reader matches 'Gemalto*'" in log
    assert f"(readers: {CONTACT_READER}, {CONTACTLESS_READER})" in log
    assert "WARNING" in log
