# Strategy: CircuitPython's boot.py (runs before USB enumerates): the pad is
# one vendor-defined HID interface (usb_hid.Device with the report descriptor
# of docs/pinpad-protocol.md, no report IDs, 64-byte input and output
# reports) under the VID:PID of pinpad_config. In normal operation the
# serial console, MIDI and the CIRCUITPY drive are off, so the HID interface
# is the only one, and the code may write the DUKPT counter to flash. With
# the maintenance key held at power-up, console and drive stay on (copy
# keys.json or new files; the host reaches the pad's interface all the same).
import board
import digitalio
import pinpad_config as config
import pinpad_protocol as p
import storage
import supervisor
import usb_cdc
import usb_hid
import usb_midi


def maintenance_key_held():
    index = config.KEYMAP.index(config.MAINTENANCE_KEY)
    row = digitalio.DigitalInOut(getattr(board, config.ROW_PINS[index // len(config.COLUMN_PINS)]))
    column = digitalio.DigitalInOut(
        getattr(board, config.COLUMN_PINS[index % len(config.COLUMN_PINS)])
    )
    row.switch_to_output(value=False)
    column.switch_to_input(pull=digitalio.Pull.UP)
    held = not column.value
    row.deinit()
    column.deinit()
    return held


PAD = usb_hid.Device(
    report_descriptor=p.REPORT_DESCRIPTOR,
    usage_page=p.USAGE_PAGE,
    usage=p.USAGE,
    report_ids=(0,),  # the descriptor has no report IDs
    in_report_lengths=(p.REPORT_SIZE,),
    out_report_lengths=(p.REPORT_SIZE,),
)
usb_hid.enable((PAD,))
supervisor.set_usb_identification(
    manufacturer=config.MANUFACTURER,
    product=config.PRODUCT,
    vid=config.VENDOR_ID,
    pid=config.PRODUCT_ID,
)
if not maintenance_key_held():
    usb_cdc.disable()
    usb_midi.disable()
    storage.disable_usb_drive()
    storage.remount("/", readonly=False)
