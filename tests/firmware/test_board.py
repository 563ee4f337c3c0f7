"""boot.py and code.py of the reference pad, run under CPython with stand-ins
for the CircuitPython modules they use (usb_hid, supervisor, storage,
usb_cdc, usb_midi, board, digitalio, keypad, microcontroller), which record
what the board would be asked: the HID device CircuitPython builds from
usb_hid.Device (CircuitPython shared-bindings/usb_hid/Device.c: keyword
arguments, report_ids (0,) for a descriptor without report IDs), the USB
identity, maintenance mode, the main loop. The firmware cannot be flashed
here; this is what can be checked without the board."""

from __future__ import annotations

import json
import runpy
import sys
import types
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from hal.usbhid.protocol import REPORT_DESCRIPTOR
from tests.firmware.firmware import FIRMWARE, keyfile, logic, main
from tests.firmware.firmware import protocol as fw


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def module(self, name: str, **attributes: Any) -> types.ModuleType:
        module = types.ModuleType(name)
        for attr, value in attributes.items():
            setattr(module, attr, value)
        return module

    def recorder(self, name: str, result: Any = None) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return result

        return call

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def kwargs(self, name: str) -> dict[str, Any]:
        return next(c[2] for c in self.calls if c[0] == name)


class Pin:
    def __init__(self, name: str, recorder: Recorder, pressed: set[str]) -> None:
        self.name, self.recorder, self.pressed = name, recorder, pressed

    @property
    def value(self) -> bool:
        return self.name not in self.pressed  # pulled up; a held key pulls the column low


def circuitpython(recorder: Recorder, held: set[str]) -> dict[str, types.ModuleType]:
    class DigitalInOut:
        def __init__(self, pin: str) -> None:
            self.pin = pin

        def switch_to_output(self, value: bool) -> None:
            recorder.calls.append(("output", (self.pin, value), {}))

        def switch_to_input(self, pull: object) -> None:
            recorder.calls.append(("input", (self.pin, pull), {}))

        @property
        def value(self) -> bool:
            return self.pin not in held

        def deinit(self) -> None:
            pass

    class Device:
        def __init__(self, **kwargs: Any) -> None:
            recorder.calls.append(("Device", (), kwargs))
            self.usage_page, self.usage = kwargs["usage_page"], kwargs["usage"]

    board = recorder.module("board", **{f"GP{n}": f"GP{n}" for n in range(30)})
    return {
        "board": board,
        "digitalio": recorder.module(
            "digitalio", DigitalInOut=DigitalInOut, Pull=types.SimpleNamespace(UP="up")
        ),
        "storage": recorder.module(
            "storage",
            disable_usb_drive=recorder.recorder("disable_usb_drive"),
            remount=recorder.recorder("remount"),
        ),
        "supervisor": recorder.module(
            "supervisor", set_usb_identification=recorder.recorder("set_usb_identification")
        ),
        "usb_cdc": recorder.module("usb_cdc", disable=recorder.recorder("usb_cdc.disable")),
        "usb_midi": recorder.module("usb_midi", disable=recorder.recorder("usb_midi.disable")),
        "usb_hid": recorder.module("usb_hid", Device=Device, enable=recorder.recorder("enable")),
    }


def run_boot(monkeypatch: pytest.MonkeyPatch, held: set[str]) -> Recorder:
    recorder = Recorder()
    for name, module in circuitpython(recorder, held).items():
        monkeypatch.setitem(sys.modules, name, module)
    runpy.run_path(str(FIRMWARE / "boot.py"), run_name="__main__")
    return recorder


def test_boot_makes_the_pad_the_only_usb_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = run_boot(monkeypatch, held=set())
    device = recorder.kwargs("Device")
    assert device == {
        "report_descriptor": REPORT_DESCRIPTOR,
        "usage_page": 0xFF00,
        "usage": 0x01,
        "report_ids": (0,),
        "in_report_lengths": (64,),
        "out_report_lengths": (64,),
    }
    (enabled,), _ = next((c[1], c[2]) for c in recorder.calls if c[0] == "enable")
    assert len(enabled) == 1 and enabled[0].usage_page == 0xFF00
    assert recorder.kwargs("set_usb_identification") == {
        "manufacturer": "cardcore",
        "product": "cardcore PIN pad (reference)",
        "vid": 0x1209,
        "pid": 0x0001,
    }
    for off in ("usb_cdc.disable", "usb_midi.disable", "disable_usb_drive"):
        assert off in recorder.names()
    assert ("remount", ("/",), {"readonly": False}) in recorder.calls
    # The maintenance key (CANCEL: row GP5, column GP6) was read by driving its row low.
    assert ("output", ("GP5", False), {}) in recorder.calls
    assert ("input", ("GP6", "up"), {}) in recorder.calls


def test_maintenance_mode_keeps_console_and_drive(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = run_boot(monkeypatch, held={"GP6"})
    assert "enable" in recorder.names()
    for off in ("usb_cdc.disable", "usb_midi.disable", "disable_usb_drive", "remount"):
        assert off not in recorder.names()


class FakeHid:
    usage_page, usage = 0xFF00, 0x01

    def __init__(self, reports: list[bytes]) -> None:
        self.incoming = deque(reports)
        self.sent: list[bytes] = []

    def get_last_received_report(self) -> bytes | None:
        return self.incoming.popleft() if self.incoming else None

    def send_report(self, report: bytes) -> None:
        self.sent.append(report)


class Events:
    def __init__(self, numbers: list[int]) -> None:
        self.queue = deque(types.SimpleNamespace(key_number=n, pressed=True) for n in numbers)

    def get(self) -> Any:
        return self.queue.popleft() if self.queue else None


def test_the_loop_turns_reports_and_keys_into_answers() -> None:
    pad = logic.Pad(logic.Keys(), "S1", "F1", bytes)
    request = fw.encode(fw.OFFLINE_PIN, 9, bytes.fromhex("0000000001000643FF001E040C01"))
    device = FakeHid([fw.encode(fw.GET_INFO, 8), request])
    # 1, 2, 3, 4 (key numbers 0, 1, 2, 4) then ENTER (key 14); key 3 ("A") is unmapped.
    events = Events([3, 0, 1, 2, 4, 14])
    shown: list[str] = []
    loop = main.Loop(pad, device, events, main_config().KEYMAP, shown.append)
    for now in range(8):
        loop.step(float(now))
    kinds = [(r[0], r[1]) for r in device.sent]
    assert kinds[0] == (fw.INFO, 8)
    assert [k for k in kinds[1:] if k[0] == fw.KEY_EVENT] == [(fw.KEY_EVENT, 0)] * 5
    assert kinds[-1] == (fw.PIN_RESULT, 9)
    assert device.sent[-1][3] == fw.NO_KEY  # no link key was loaded
    assert shown[0] == "READY" and "ENTER PIN" in shown[1] and shown[-1] == "READY"
    assert "1234" not in "".join(shown)


def main_config() -> Any:
    import pinpad_config

    return pinpad_config


class Stop(Exception):
    pass


def test_code_py_runs_the_loop_on_the_board(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    device = FakeHid([fw.encode(fw.GET_INFO, 1)])
    steps = iter(range(3))

    def sleep(seconds: float) -> None:
        if next(steps, None) is None:
            raise Stop

    class KeyMatrix:
        def __init__(self, row_pins: tuple[str, ...], column_pins: tuple[str, ...]) -> None:
            recorder.calls.append(("KeyMatrix", (row_pins, column_pins), {}))
            self.events = Events([])

    modules = {
        "board": recorder.module("board", **{f"GP{n}": f"GP{n}" for n in range(30)}),
        "keypad": recorder.module("keypad", KeyMatrix=KeyMatrix),
        "microcontroller": recorder.module(
            "microcontroller", cpu=types.SimpleNamespace(uid=bytes.fromhex("E66138935F4B1234"))
        ),
        "usb_hid": recorder.module("usb_hid", devices=(device,)),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr("time.sleep", sleep)
    with pytest.raises(Stop):
        runpy.run_path(str(FIRMWARE / "code.py"), run_name="__main__")
    assert recorder.calls[0] == (
        "KeyMatrix", (("GP2", "GP3", "GP4", "GP5"), ("GP6", "GP7", "GP8", "GP9")), {},
    )  # fmt: skip
    kind, seq, payload = fw.decode(device.sent[0])
    assert (kind, seq) == (fw.INFO, 1)
    assert b"E66138935F4B1234" in payload and b"reference-1.0" in payload


def test_key_file(tmp_path: Path) -> None:
    path, counter = tmp_path / "keys.json", tmp_path / "ksn.txt"
    assert keyfile.load_keys(str(path), str(counter)).tmk is None
    path.write_text(
        json.dumps(
            {
                "tmk": "0123456789ABCDEFFEDCBA9876543210",
                "dukpt": "tdes",
                "initial-key": "6AC292FAA1315B4D858AB3A3D7D5933A",
                "ksn": "FFFF9876543210E00000",
            }
        )
    )
    keys = keyfile.load_keys(str(path), str(counter))
    assert keys.scheme == fw.SCHEME_DUKPT_TDES and keys.ksn == bytes.fromhex("FFFF9876543210E00000")
    keyfile.saver(str(counter))(bytes.fromhex("FFFF9876543210E00007"))
    again = keyfile.load_keys(str(path), str(counter))
    assert again.ksn == bytes.fromhex("FFFF9876543210E00007")  # never a spent counter again
