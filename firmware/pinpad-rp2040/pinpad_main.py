# Strategy: one turn of the reference pad's main loop, with the hardware
# passed in, so the board (code.py) and the tests run the same code: the
# host's output report, the keypad's event and the clock go to the Pad; its
# input reports go back to the host in order; the screen shows the Pad's text.
import pinpad_protocol as p

NAMED_KEYS = {"ENTER": p.KEY_ENTER, "CANCEL": p.KEY_CANCEL, "CLEAR": p.KEY_CLEAR}


def find_device(devices):
    """The pad's HID device among usb_hid.devices (usage page FF00, usage 01)."""
    for device in devices:
        if device.usage_page == p.USAGE_PAGE and device.usage == p.USAGE:
            return device
    return None


def key_for(keymap, key_number):
    """A keypad key number as Pad.key takes it: a digit '0'-'9' or a key code."""
    name = keymap[key_number] if 0 <= key_number < len(keymap) else None
    if name is None:
        return None
    return NAMED_KEYS.get(name, name)


class Loop:
    def __init__(self, pad, device, events, keymap, show):
        self.pad, self.device, self.events, self.keymap, self.show = (
            pad,
            device,
            events,
            keymap,
            show,
        )
        self._shown = None

    def step(self, now):
        out = []
        report = self.device.get_last_received_report()
        if report is not None:
            out += self.pad.report(bytes(report), now)
        event = self.events.get()
        if event is not None and event.pressed:
            key = key_for(self.keymap, event.key_number)
            if key is not None:
                out += self.pad.key(key, now)
        out += self.pad.tick(now)
        for report in out:
            try:
                self.device.send_report(report)
            except OSError:
                pass  # the host went away: the next request starts afresh
        if self.pad.screen != self._shown:
            self._shown = self.pad.screen
            self.show(self._shown)
        return out
