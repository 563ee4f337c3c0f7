# Strategy: what differs between builds of the reference pad: USB identity,
# the keypad's wiring and key map, the optional display. The defaults are a
# Raspberry Pi Pico (RP2040) with a 4x4 membrane keypad on GP2-GP9.

VENDOR_ID = 0x1209  # pid.codes; set your own VID:PID and the same in [pinpad]
PRODUCT_ID = 0x0001  # pid.codes test PID
MANUFACTURER = "cardcore"
PRODUCT = "cardcore PIN pad (reference)"
FIRMWARE = "reference-1.0"

# Keypad: rows GP2-GP5, columns GP6-GP9 (board pin names, resolved in code.py
# and boot.py so this file imports on any Python).
ROW_PINS = ("GP2", "GP3", "GP4", "GP5")
COLUMN_PINS = ("GP6", "GP7", "GP8", "GP9")
# Key number (row * 4 + column) -> key: digits, or ENTER / CANCEL / CLEAR.
# A common 4x4 keypad reads 1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D.
KEYMAP = (
    "1", "2", "3", None,
    "4", "5", "6", None,
    "7", "8", "9", "CLEAR",
    "CANCEL", "0", "ENTER", None,
)  # fmt: skip
# Held at power-up: maintenance mode (serial console and the CIRCUITPY drive
# come up, to copy keys.json or new firmware).
MAINTENANCE_KEY = "CANCEL"
