# Strategy: the report protocol of docs/pinpad-protocol.md on the pad's
# side, in plain Python for CircuitPython and CPython alike (the repository's
# tests run the same vectors through this module and hal/usbhid/protocol.py).
# Every report is 64 bytes: type | sequence | payload length | payload |
# zero fill; fields big-endian; amounts 6-byte BCD, currencies 2-byte BCD.

REPORT_SIZE = 64
MAX_PAYLOAD = REPORT_SIZE - 3
PROTOCOL_VERSION = 1

# Vendor-defined usage page FF00, usage 01: one 64-byte input report (usage
# 02) and one 64-byte output report (usage 03), no report IDs.
REPORT_DESCRIPTOR = bytes((
    0x06, 0x00, 0xFF,  # Usage Page (Vendor Defined 0xFF00)
    0x09, 0x01,        # Usage (0x01)
    0xA1, 0x01,        # Collection (Application)
    0x15, 0x00,        #   Logical Minimum (0)
    0x26, 0xFF, 0x00,  #   Logical Maximum (255)
    0x75, 0x08,        #   Report Size (8)
    0x95, 0x40,        #   Report Count (64)
    0x09, 0x02,        #   Usage (0x02)
    0x81, 0x02,        #   Input (Data, Variable, Absolute)
    0x95, 0x40,        #   Report Count (64)
    0x09, 0x03,        #   Usage (0x03)
    0x91, 0x02,        #   Output (Data, Variable, Absolute)
    0xC0,              # End Collection
))  # fmt: skip
USAGE_PAGE, USAGE = 0xFF00, 0x01

# Message types
GET_INFO, DISPLAY, ONLINE_PIN, OFFLINE_PIN, CONFIRM, CANCEL, LOAD_KEY = range(1, 8)
INFO, ACK, PIN_RESULT, CONFIRM_RESULT, KEY_EVENT = 0x81, 0x82, 0x83, 0x84, 0x90

# Status
OK, BYPASSED, CANCELLED, TIMEOUT, NO_KEY, BAD_REQUEST, BUSY = range(7)
KEY_CHECK_FAILED, FAILURE, ABORTED = 7, 8, 9

# Key schemes, PIN block formats, loadable keys
SCHEME_TPK, SCHEME_DUKPT_TDES, SCHEME_DUKPT_AES = 0, 1, 2
FORMAT_ISO0, FORMAT_ISO2, FORMAT_ISO4 = 0, 2, 4
KEY_TPK, KEY_LINK = 1, 2

# Keys in KEY_EVENT
KEY_ENTER, KEY_CANCEL, KEY_CLEAR, KEY_HIDDEN_DIGIT, KEY_DIGIT = 0x0D, 0x1B, 0x08, 0x2A, 0x30

FLAG_BYPASS_ALLOWED = 0x01


class BadReport(ValueError):
    pass


def encode(kind, seq, payload=b""):
    if len(payload) > MAX_PAYLOAD:
        raise BadReport("payload too long")
    report = bytes((kind, seq, len(payload))) + payload
    return report + bytes(REPORT_SIZE - len(report))


def decode(data):
    """(type, sequence, payload) of a 64-byte report."""
    if len(data) != REPORT_SIZE:
        raise BadReport("a report is 64 bytes")
    if data[2] > MAX_PAYLOAD:
        raise BadReport("payload length out of range")
    return data[0], data[1], bytes(data[3 : 3 + data[2]])


def _unbcd(data):
    value = 0
    for byte in data:
        high, low = byte >> 4, byte & 0x0F
        if high > 9 or low > 9:
            raise BadReport("malformed BCD")
        value = value * 100 + high * 10 + low
    return value


class _Fields:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, size):
        if self.pos + size > len(self.data):
            raise BadReport("payload too short")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return int.from_bytes(self.take(2), "big")

    def lv(self):
        return self.take(self.byte())

    def end(self):
        if self.pos != len(self.data):
            raise BadReport("trailing bytes")


class PinRequest:
    """ONLINE_PIN / OFFLINE_PIN, decoded."""

    def __init__(self, online, amount, currency, timeout, min_length, max_length, bypass,
                 pan="", tries=None):  # fmt: skip
        self.online, self.pan = online, pan
        self.amount, self.currency, self.timeout = amount, currency, timeout
        self.min_length, self.max_length, self.bypass = min_length, max_length, bypass
        self.tries = tries


def parse_pin_request(kind, payload):
    f = _Fields(payload)
    pan = ""
    if kind == ONLINE_PIN:
        pan = f.lv().decode()
        if not (pan.isdigit() and 12 <= len(pan) <= 19):
            raise BadReport("PAN of 12 to 19 digits")
    amount, currency = _unbcd(f.take(6)), _unbcd(f.take(2))
    tries = None
    if kind == OFFLINE_PIN:
        tries = f.byte()
        tries = None if tries == 0xFF else tries
    timeout, low, high, flags = f.u16(), f.byte(), f.byte(), f.byte()
    f.end()
    if not 4 <= low <= high <= 12:
        raise BadReport("PIN lengths out of range")
    return PinRequest(kind == ONLINE_PIN, amount, currency, timeout, low, high,
                      bool(flags & FLAG_BYPASS_ALLOWED), pan, tries)  # fmt: skip


def parse_confirm(payload):
    """(timeout, prompt)"""
    f = _Fields(payload)
    return f.u16(), payload[2:].decode()


def parse_load_key(payload):
    """(key id, wrapped key, kcv)"""
    f = _Fields(payload)
    key_id, wrapped, kcv = f.byte(), f.lv(), f.take(3)
    f.end()
    if key_id not in (KEY_TPK, KEY_LINK):
        raise BadReport("unknown key id")
    return key_id, wrapped, kcv


def info(scheme, serial, firmware):
    serial, firmware = serial.encode(), firmware.encode()
    return (
        bytes((PROTOCOL_VERSION, scheme, len(serial))) + serial + bytes((len(firmware),)) + firmware
    )


def pin_result(status, block_format=FORMAT_ISO0, ksn=b"", block=b""):
    return bytes((status, block_format, len(ksn))) + ksn + bytes((len(block),)) + block


def key_event(key, digits=0):
    return bytes((key, digits))


def offline_aad(seq):
    """Associated data of the offline PIN block: the answer it travels in."""
    return bytes((PIN_RESULT, seq)) + b"offline-pin"
