# Strategy: CircuitPython's code.py: the reference pad's hardware (keypad
# matrix, the HID device boot.py made, the clock, the serial console or a
# display) wired to pinpad_main.Loop. See README.md for the build.
import os
import time

import board
import keypad
import microcontroller
import pinpad_config as config
import usb_hid
from pinpad_keys import load_keys, saver
from pinpad_logic import Pad
from pinpad_main import Loop, find_device


def show(text):
    print("--\n" + text)  # the serial console (maintenance mode); wire a display here


device = find_device(usb_hid.devices)
if device is None:
    raise RuntimeError("boot.py did not enable the PIN pad's HID device")
matrix = keypad.KeyMatrix(
    row_pins=tuple(getattr(board, name) for name in config.ROW_PINS),
    column_pins=tuple(getattr(board, name) for name in config.COLUMN_PINS),
)
serial = "".join(f"{b:02X}" for b in microcontroller.cpu.uid)
pad = Pad(load_keys(), serial, config.FIRMWARE, os.urandom, counter_changed=saver())
loop = Loop(pad, device, matrix.events, config.KEYMAP, show)
while True:
    loop.step(time.monotonic())
    time.sleep(0.002)
