"""`cardcore readers` without pcscd: the PSE/PPSE check against the virtual
cards, the listing for people and for scripts, the one-line failures. The
same command against the real pcscd: tests/integration/test_readers_cli.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from cardcore.config import ReadersConfig
from cardcore.devices import slot_patterns
from cardcore.readercheck import check_card
from cardcore.readers import PadReport, ReaderReport, Report, render
from hal.interfaces import KeypadPinEntry
from hal.readerselect import assign_readers
from simulators.devices.vpcd import ContactlessIcc, icc_for_profile
from tests.hal.reader_names import DESK


@pytest.mark.parametrize(
    ("profile", "line"),
    [
        (
            "default",
            'SELECT PSE: 9000 ok, 1 application: A0000000031010 "VISA CREDIT" (priority 1)',
        ),
        ("no-pse", "SELECT PSE: 6A82 file or application not found"),
        (
            "two-apps",
            'SELECT PSE: 9000 ok, 2 applications: A0000000032010 "VISA ELECTRON" (priority 1),'
            ' A0000000031010 "VISA CREDIT" (priority 2)',
        ),
        ("nested-ddf", None),
        (
            "visa-qvsdc",
            'SELECT PPSE: 9000 ok, 1 application: A0000000031010 "VISA CREDIT" (priority 1)',
        ),
        ("mir-contactless", None),
    ],
)
async def test_check_against_virtual_cards(profile: str, line: str | None) -> None:
    icc = icc_for_profile(profile, None)
    icc.power_on()

    async def transmit(capdu: bytes) -> bytes:
        await trio.lowlevel.checkpoint()
        return icc.transmit(capdu)

    result = await check_card(transmit, contactless=isinstance(icc, ContactlessIcc))
    if line is not None:
        assert result.line() == line
    else:
        assert result.sw == 0x9000 and result.entries, result.line()
    assert result.to_json()["select"] == ("PPSE" if isinstance(icc, ContactlessIcc) else "PSE")


async def test_check_of_a_card_that_stops_answering() -> None:
    async def transmit(capdu: bytes) -> bytes:
        from hal.interfaces import CardRemoved

        raise CardRemoved("card removed")

    result = await check_card(transmit, contactless=False)
    assert result.line() == "SELECT PSE: card removed"


def desk_report() -> Report:
    patterns = slot_patterns(ReadersConfig())
    readers = [*DESK, "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 01 00"]
    assignment = assign_readers(readers, patterns)
    entries = [
        ReaderReport(name, slot.role, slot.pattern, slot.spare_for)
        for name, slot in assignment.roles.items()
    ]
    entries[0].card, entries[0].atr = True, bytes.fromhex("3B6800000073C84000009000")
    entries[0].keypad = KeypadPinEntry(entries[0].name, 4, 12, 2, 16)
    entries[1].card, entries[1].atr = True, bytes.fromhex("3B8880010073C8400000900062")
    entries[1].contactless_atr = True
    return Report(
        patterns,
        assignment,
        entries,
        PadReport("usbhid", "USB-HID 1209:0001", "not connected", "PIN entry fails until it is"),
    )


def test_listing_for_people() -> None:
    lines = render(desk_report())
    text = "\n".join(lines)
    assert lines[0] == "PC/SC readers (4):"
    assert "      contact interface (pattern '*')" in lines
    assert "      card: ATR 3B 68 00 00 00 73 C8 40 00 00 90 00 (contact ATR)" in lines
    assert (
        "      keypad: its own PIN keypad (PC/SC part 10 VERIFY_PIN_DIRECT), PIN 4-12 digits,"
        " display 2x16" in lines
    )
    assert f"      spare: matches contact pattern '*', but that interface took {DESK[0]}" in lines
    assert "(contactless (PC/SC part 3) ATR)" in text
    assert "      contactless interface (pattern '*CL Smartcard*')" in lines
    assert (
        "      SAM slot (pattern '*SAM*'): no card interface takes it; [sam] driver = 'none'"
        in lines
    )
    assert f"  contact      {DESK[0]}" in lines
    assert "  PIN pad      USB-HID 1209:0001: not connected (PIN entry fails until it is)" in lines
    assert f"  keypad       offline plaintext PIN on the contact reader ({DESK[0]});" in lines


def test_a_contactless_card_in_the_contact_slot_is_pointed_out() -> None:
    report = desk_report()
    report.readers[0].contactless_atr = True
    assert any("a contactless card's ATR in the contact slot" in line for line in render(report))


def test_listing_for_scripts() -> None:
    data = desk_report().to_json()
    json.dumps(data)
    assert data["interfaces"]["contact"]["reader"] == DESK[0]
    assert data["interfaces"]["contactless"]["reader"] == DESK[2]
    assert data["interfaces"]["sam"]["readers"] == [
        "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 01 00"
    ]
    first = data["readers"][0]
    assert first["role"] == "contact" and first["pattern"] == "*" and first["card"] is True
    assert first["atr"] == "3B6800000073C84000009000" and first["keypad"]["max-pin"] == 12
    assert data["readers"][1]["spare-for"] == "contact"
    assert data["pin-entry"]["offline-plaintext"] == f"reader keypad: {DESK[0]}"
    assert data["pin-entry"]["pinpad"] == {
        "driver": "usbhid",
        "device": "USB-HID 1209:0001",
        "state": "not connected",
        "ok": False,
        "detail": "PIN entry fails until it is",
    }


def test_pin_entry_off_keeps_the_keypad_unused() -> None:
    report = desk_report()
    report.pin_entry = "off"
    assert report.to_json()["pin-entry"]["offline-plaintext"] == "PIN pad"


def test_a_bad_configuration_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[readers]\npin-entry = "sometimes"\n')
    done = subprocess.run(
        [sys.executable, "-m", "cardcore", "readers", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("cardcore: ") and "pin-entry" in done.stderr


def test_the_readmes_example_is_what_the_command_prints() -> None:
    from cardcore.readercheck import CheckResult, DirectoryEntry

    patterns = slot_patterns(ReadersConfig())
    assignment = assign_readers(list(DESK), patterns)
    entries = [
        ReaderReport(name, slot.role, slot.pattern, slot.spare_for)
        for name, slot in assignment.roles.items()
    ]
    entries[0].card, entries[0].atr = True, bytes.fromhex("3B6800000073C84000009000")
    entries[0].check = CheckResult(
        "PSE", 0x9000, [DirectoryEntry("A0000000031010", "VISA CREDIT", 1)]
    )
    pad = PadReport("usbhid", "USB-HID 1209:0001", "not connected", "PIN entry fails until it is")
    text = "\n".join(render(Report(patterns, assignment, entries, pad)))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"```\n{text}\n```" in readme


@pytest.mark.parametrize(
    ("scheme", "keys"), [("tpk", "TPK"), ("dukpt-tdes", "DUKPT_TDES"), ("dukpt-aes", "DUKPT_AES")]
)
async def test_the_emulated_pad_is_the_configured_one(scheme: str, keys: str) -> None:
    """`[pinpad] emulated = true`: the driver asks the emulated pad of the
    configuration (its VID:PID and online-PIN scheme) what it is."""
    from cardcore.config import build_config
    from cardcore.readers import _pad_report

    pinpad = {"driver": "usbhid", "emulated": True, "emulated-scheme": scheme,
              "vendor-id": 0x2222, "product-id": 0x3333}  # fmt: skip
    report = await _pad_report(build_config({"pinpad": pinpad}))
    assert report.device == "USB-HID 2222:3333" and report.state == "emulated"
    assert report.detail.endswith(f"serial EMU0000000001, firmware emulated-1.0, keys {keys}")


def test_the_readme_binds_both_vpcd_readers() -> None:
    """vpcd's two readers: the defaults leave the second one spare; the
    README's `[readers]` lines give it to the contactless interface."""
    import re
    import tomllib

    from cardcore.config import build_config

    vpcd = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    default = assign_readers(vpcd, slot_patterns(ReadersConfig()))
    assert (default.contact, default.contactless) == (vpcd[0], None)
    assert default.roles[vpcd[1]].spare_for is not None
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("(`cardcore readers` shows it as spare)")
    block = re.search(r"```toml\n(.*?)```", readme[start:], re.S)
    assert block is not None
    config = build_config(tomllib.loads(block.group(1)))
    bound = assign_readers(vpcd, slot_patterns(config.readers))
    assert (bound.contact, bound.contactless) == (vpcd[0], vpcd[1])
