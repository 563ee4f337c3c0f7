# Strategy: an emulated USB-HID PIN pad: the device side of the report
# protocol (hal/usbhid/protocol.py, docs/pinpad-protocol.md) and the USB
# descriptors a real pad presents (USB 2.0 ch. 9; HID 1.11 6.2: HID and
# report descriptors), plus a scripted cardholder. simulators/usbhid/backend.py
# puts it on an emulated bus at transfer level, so the terminal's driver
# (hal/usbhid/pinpad.py) runs its real pyusb code against it; it is also the
# PIN pad of a bench without one (`[pinpad] emulated = true`).
# - The report descriptor and the offline block's associated data are the
#   protocol's (hal/usbhid/protocol.py), the same bytes the driver checks.
# - PIN entry happens here: the cardholder "types" the PIN of the card (a
#   callable, so the simulator can give the presented card's), or a wrong
#   one, or bypasses, cancels, lets it time out, or the pad stays silent.
#   Answers come at once: the pad's clock is not modelled, a TIMEOUT answer
#   stands for a cardholder who never finished.
# - Keys: the TMK is injected at construction (key loading happens at a key
#   injection facility, not over this link); the TPK and the per-session link
#   key arrive over LOAD_KEY wrapped under the TMK and are checked by KCV. A
#   DUKPT pad gets its initial key and KSN at construction instead.
# - The PIN never leaves in clear: online as an enciphered block, offline as
#   the format-2 block under the link key (AES-GCM, the request bound in the
#   associated data).
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.crypto.des import kcv_aes, kcv_tdes, tdes_ecb_decrypt, tdes_ecb_encrypt
from base.crypto.dukpt import DukptOriginator, encipher_iso4
from base.crypto.pinblock import encode_iso0, encode_iso2
from hal.usbhid.protocol import (
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    REPORT_DESCRIPTOR,
    ConfirmRequest,
    Info,
    Key,
    KeyEvent,
    KeyScheme,
    LoadKey,
    MsgType,
    OfflinePinRequest,
    OnlinePinRequest,
    PinFormat,
    PinResult,
    Report,
    ReportError,
    Status,
    WrappedKeyId,
    offline_aad,
)

__all__ = [
    "DEFAULT_PRODUCT_ID",
    "DEFAULT_VENDOR_ID",
    "EP_IN",
    "EP_OUT",
    "Behaviour",
    "Cardholder",
    "EmulatedPinPad",
]

DEFAULT_VENDOR_ID = 0x1209  # pid.codes
DEFAULT_PRODUCT_ID = 0x0001  # pid.codes test PID
EP_IN = 0x81
EP_OUT = 0x01


class Behaviour(StrEnum):
    ENTER = "enter"  # types the right PIN, confirms
    WRONG = "wrong"  # types a wrong PIN
    BYPASS = "bypass"  # presses ENTER without digits
    CANCEL = "cancel"  # presses CANCEL
    TIMEOUT = "timeout"  # never finishes: the pad reports a timeout
    SILENT = "silent"  # the pad takes the request and never answers


@dataclass
class Cardholder:
    behaviour: Behaviour = Behaviour.ENTER
    pin: Callable[[], str | None] = lambda: None  # None: "1234"


def _string(text: str) -> bytes:
    body = text.encode("utf-16-le")
    return bytes([2 + len(body), 0x03]) + body


@dataclass
class EmulatedPinPad:
    """The emulated pad. Thread-safe: the driver writes and reads from worker threads."""

    vendor_id: int = DEFAULT_VENDOR_ID
    product_id: int = DEFAULT_PRODUCT_ID
    serial: str = "EMU0000000001"
    firmware: str = "emulated-1.0"
    tmk: bytes | None = None
    # Where the TMK comes from when it can change (bench emulation follows the
    # terminal's key store); overrides `tmk`.
    tmk_source: Callable[[], bytes | None] | None = field(default=None, repr=False)
    dukpt: DukptOriginator | None = None
    cardholder: Cardholder = field(default_factory=Cardholder)
    # What the pad has shown, newest last (tests read it; never PIN digits).
    screen: list[str] = field(default_factory=list)
    plugged: bool = True
    configuration: int = 0
    _tpk: bytes | None = field(default=None, repr=False)
    _link: bytes | None = field(default=None, repr=False)
    _pending: int | None = None  # sequence of a request the SILENT pad sits on
    _queue: deque[bytes] = field(default_factory=deque, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def scheme(self) -> KeyScheme:
        if self.dukpt is None:
            return KeyScheme.TPK
        return KeyScheme.DUKPT_AES if self.dukpt.aes else KeyScheme.DUKPT_TDES

    # --- descriptors ---------------------------------------------------------
    def device_descriptor(self) -> bytes:
        head = bytes([0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40])
        ids = self.vendor_id.to_bytes(2, "little") + self.product_id.to_bytes(2, "little")
        return head + ids + bytes([0x00, 0x01, 1, 2, 3, 1])

    def report_descriptor(self) -> bytes:
        return REPORT_DESCRIPTOR

    def hid_descriptor(self) -> bytes:
        size = len(self.report_descriptor()).to_bytes(2, "little")
        return bytes([0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22]) + size

    def configuration_descriptor(self) -> bytes:
        interface = bytes([0x09, 0x04, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00])
        ep_in = bytes([0x07, 0x05, EP_IN, 0x03, 0x40, 0x00, 0x01])
        ep_out = bytes([0x07, 0x05, EP_OUT, 0x03, 0x40, 0x00, 0x01])
        body = interface + self.hid_descriptor() + ep_in + ep_out
        total = (9 + len(body)).to_bytes(2, "little")
        return bytes([0x09, 0x02]) + total + bytes([0x01, 0x01, 0x00, 0x80, 0x32]) + body

    def string_descriptor(self, index: int) -> bytes | None:
        if index == 0:
            return bytes([0x04, 0x03, 0x09, 0x04])  # en-US
        text = {1: "cardcore", 2: "cardcore PIN pad (emulated)", 3: self.serial}.get(index)
        return _string(text) if text is not None else None

    # --- transfers -----------------------------------------------------------
    def write_report(self, data: bytes) -> None:
        """An output report (interrupt OUT or SET_REPORT)."""
        try:
            report = Report.decode(bytes(data))
        except ReportError:
            self._send(Report(MsgType.ACK, 0, bytes([Status.BAD_REQUEST])))
            return
        try:
            self._handle(report)
        except ReportError:
            self._send(Report(MsgType.ACK, report.seq, bytes([Status.BAD_REQUEST])))

    def read_report(self, timeout: float) -> bytes | None:
        """The next input report, waiting up to ``timeout`` seconds."""
        with self._cond:
            if not self._queue:
                self._cond.wait(timeout)
            return self._queue.popleft() if self._queue else None

    def pending_input(self) -> int:
        with self._cond:
            return len(self._queue)

    def _send(self, report: Report) -> None:
        with self._cond:
            self._queue.append(report.encode())
            self._cond.notify_all()

    # --- the pad's logic -----------------------------------------------------
    def _handle(self, report: Report) -> None:
        seq, payload = report.seq, report.payload
        match report.type:
            case MsgType.GET_INFO:
                info = Info(PROTOCOL_VERSION, self.scheme, self.serial, self.firmware)
                self._send(Report(MsgType.INFO, seq, info.encode()))
            case MsgType.DISPLAY:
                self.screen.append(payload.decode("utf-8", "replace"))
                self._ack(seq, Status.OK)
            case MsgType.LOAD_KEY:
                self._ack(seq, self._load_key(LoadKey.decode(payload)))
            case MsgType.CANCEL:
                if self._pending is not None:
                    self._send(Report(MsgType.PIN_RESULT, self._pending, PinResult(
                        Status.ABORTED).encode()))  # fmt: skip
                    self._pending = None
                self._ack(seq, Status.OK)
            case MsgType.CONFIRM:
                self._confirm(seq, ConfirmRequest.decode(payload))
            case MsgType.ONLINE_PIN:
                self._online(seq, OnlinePinRequest.decode(payload))
            case MsgType.OFFLINE_PIN:
                self._offline(seq, OfflinePinRequest.decode(payload))
            case _:
                self._ack(seq, Status.BAD_REQUEST)

    def _ack(self, seq: int, status: Status) -> None:
        self._send(Report(MsgType.ACK, seq, bytes([status])))

    def _load_key(self, request: LoadKey) -> Status:
        tmk = self.tmk_source() if self.tmk_source is not None else self.tmk
        if tmk is None:
            return Status.NO_KEY
        if len(request.wrapped) != 16:
            return Status.BAD_REQUEST
        key = tdes_ecb_decrypt(tmk, request.wrapped)
        if request.key_id is WrappedKeyId.TPK:
            if kcv_tdes(key) != request.kcv:
                return Status.KEY_CHECK_FAILED
            self._tpk = key
        else:
            if kcv_aes(key) != request.kcv:
                return Status.KEY_CHECK_FAILED
            self._link = key
        return Status.OK

    def _confirm(self, seq: int, request: ConfirmRequest) -> None:
        self.screen.append(request.prompt)
        behaviour = self.cardholder.behaviour
        if behaviour is Behaviour.SILENT:
            return
        if behaviour is Behaviour.TIMEOUT:
            self._send(Report(MsgType.CONFIRM_RESULT, seq, bytes([Status.TIMEOUT])))
            return
        ok = behaviour is Behaviour.ENTER
        key = Key.ENTER if ok else Key.CANCEL
        self._send(Report(MsgType.KEY_EVENT, 0, KeyEvent(key).encode()))
        status = Status.OK if ok else Status.CANCELLED
        self._send(Report(MsgType.CONFIRM_RESULT, seq, bytes([status])))

    def _entered_pin(self, seq: int, bypass_allowed: bool) -> str | PinResult | None:
        """What the cardholder does: a PIN, a final result, or None (silent)."""
        behaviour = self.cardholder.behaviour
        if behaviour is Behaviour.SILENT:
            self._pending = seq
            return None
        if behaviour is Behaviour.TIMEOUT:
            return PinResult(Status.TIMEOUT)
        if behaviour is Behaviour.CANCEL:
            self._send(Report(MsgType.KEY_EVENT, 0, KeyEvent(Key.CANCEL).encode()))
            return PinResult(Status.CANCELLED)
        if behaviour is Behaviour.BYPASS:
            self._send(Report(MsgType.KEY_EVENT, 0, KeyEvent(Key.ENTER).encode()))
            return PinResult(Status.BYPASSED if bypass_allowed else Status.TIMEOUT)
        pin = self.cardholder.pin() or "1234"
        if behaviour is Behaviour.WRONG:
            pin = "0000" if pin != "0000" else "9999"
        for count in range(1, len(pin) + 1):
            self._send(Report(MsgType.KEY_EVENT, 0, KeyEvent(Key.HIDDEN_DIGIT, count).encode()))
        self._send(Report(MsgType.KEY_EVENT, 0, KeyEvent(Key.ENTER, len(pin)).encode()))
        self.screen.append("*" * len(pin))
        return pin

    def _online(self, seq: int, request: OnlinePinRequest) -> None:
        self.screen.append(f"{request.amount / 100:.2f} {request.currency:03d}\nENTER PIN")
        entered = self._entered_pin(seq, request.bypass_allowed)
        if entered is None:
            return
        if isinstance(entered, PinResult):
            result = entered
        elif self.dukpt is not None:
            ksn = self.dukpt.next_ksn()
            key = self.dukpt.pin_key(ksn)
            if self.dukpt.aes:
                block = encipher_iso4(key, entered, request.pan)
                result = PinResult(Status.OK, PinFormat.ISO4, ksn, block)
            else:
                block = tdes_ecb_encrypt(key, encode_iso0(entered, request.pan))
                result = PinResult(Status.OK, PinFormat.ISO0, ksn, block)
        elif self._tpk is None:
            result = PinResult(Status.NO_KEY)
        else:
            block = tdes_ecb_encrypt(self._tpk, encode_iso0(entered, request.pan))
            result = PinResult(Status.OK, PinFormat.ISO0, b"", block)
        self._send(Report(MsgType.PIN_RESULT, seq, result.encode()))

    def _offline(self, seq: int, request: OfflinePinRequest) -> None:
        tries = "" if request.tries_remaining is None else f" ({request.tries_remaining} left)"
        self.screen.append(f"{request.amount / 100:.2f} {request.currency:03d}\nENTER PIN{tries}")
        entered = self._entered_pin(seq, request.bypass_allowed)
        if entered is None:
            return
        if isinstance(entered, PinResult):
            result = entered
        elif self._link is None:
            result = PinResult(Status.NO_KEY)
        else:
            nonce = os.urandom(12)
            sealed = AESGCM(self._link).encrypt(nonce, encode_iso2(entered), offline_aad(seq))
            result = PinResult(Status.OK, PinFormat.ISO2, b"", nonce + sealed)
        payload = result.encode()
        assert len(payload) <= MAX_PAYLOAD
        self._send(Report(MsgType.PIN_RESULT, seq, payload))
