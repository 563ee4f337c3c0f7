# Strategy: the USB-HID PIN pad driver (pyusb, optional extra `cardcore[usb]`)
# implementing hal.interfaces.PinPad and Keypad over the report protocol of
# hal/usbhid/protocol.py (specification: docs/pinpad-protocol.md).
# - The pad is found by VID/PID from configuration; the driver sets the
#   configuration when none is set, and takes the HID interface whose report
#   descriptor (GET_DESCRIPTOR, class request) is the protocol's, detaching a
#   kernel HID driver from it (a composite board may offer other
#   interfaces); then it asks the pad what it is (GET_INFO). It then loads a fresh
#   session link key wrapped under the TMK, and the TPK when the pad uses one.
# - One request at a time: an OUT report, then IN reports until the answer
#   with the same sequence number; key events in between go to `on_key` (they
#   never carry PIN digits). pyusb blocks, so every transfer runs in a trio
#   worker thread with a short timeout; between transfers the driver checks
#   its deadline (the request's timeout plus a margin) and cancellation. A
#   cancelled or overdue request is withdrawn with CANCEL so the pad leaves
#   PIN entry.
# - Online PIN: the enciphered block as the pad returns it (format 0 under the
#   TPK, or under the DUKPT key of the KSN in `key_serial_number`; format 4
#   with AES DUKPT).
# - Offline PIN (EMV Book 3 6.5.12, Book 4 6.3.4.1): the kernel builds VERIFY
#   itself, for plaintext PIN from the format-2 block, for enciphered PIN by
#   wrapping it under the ICC key (Book 2 7.1), so it needs the format-2
#   block. The pad cannot send VERIFY through the reader: it is a separate
#   USB device with no path to the card, and the reader belongs to the
#   terminal's PC/SC stack. So the pad returns the block over a secured link:
#   AES-GCM under a link key the driver generates per session and loads into
#   the pad wrapped under the TMK (the same trust root the TPK uses). The
#   clear block exists only inside this process, between the pad's answer and
#   the kernel's VERIFY, and is never logged.
# - pyusb's exceptions are translated here: USB errors, a missing device or
#   backend -> PinPadError; the cancel key and a bypass -> PinEntryBypassed
#   (the HAL contract); a timeout -> PinPadError.
from __future__ import annotations

import contextlib
import errno
import logging
import math
import secrets
from collections.abc import Callable
from typing import Any

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.crypto.des import kcv_aes, kcv_tdes, tdes_ecb_encrypt
from base.errors import CardcoreError
from hal.interfaces import Keypad, PinPad
from hal.usbhid.protocol import (
    PROTOCOL_VERSION,
    REPORT_DESCRIPTOR,
    REPORT_SIZE,
    ConfirmRequest,
    Info,
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
from kernel.errors import PinEntryBypassed, PinPadError, PinPadNotPresent

__all__ = ["UsbHidPinPad"]

log = logging.getLogger(__name__)

# Margin on top of a request's own timeout before the driver gives up on the pad.
ANSWER_MARGIN = 5.0
# Requests that need no cardholder must be answered within this.
QUICK = 5.0
LIBUSB_ERROR_NO_DEVICE = -4
# What a USB error means for the operator (errno as libusb reports it).
_USB_REASONS = {
    errno.EBUSY: "in use by another process (another cardcore, or a kernel driver)",
    errno.EACCES: "no access to the USB device (install the udev rule, or join its group)",
    errno.EPERM: "no access to the USB device (install the udev rule, or join its group)",
}


class UsbHidPinPad(PinPad, Keypad):
    """The PIN pad at ``vendor_id``:``product_id``. ``tmk`` and ``tpk`` give
    the terminal's current TMK and TPK (None when not loaded); ``backend`` is
    a pyusb backend (None: libusb), ``on_key`` sees key events."""

    def __init__(
        self,
        *,
        vendor_id: int,
        product_id: int,
        tmk: Callable[[], bytes | None],
        tpk: Callable[[], bytes | None] = lambda: None,
        backend: Any = None,
        transfer_timeout: float = 2.0,
        poll: float = 0.1,
        on_key: Callable[[KeyEvent], None] | None = None,
        answer_margin: float = ANSWER_MARGIN,
    ) -> None:
        self.vendor_id = vendor_id
        self.answer_margin = answer_margin
        self.product_id = product_id
        self._tmk = tmk
        self._tpk = tpk
        self._backend = backend
        self.transfer_timeout = transfer_timeout
        self.poll = poll
        self.on_key = on_key
        self.info: Info | None = None
        self._device: Any = None
        self._ep_in: Any = None
        self._ep_out: Any = None
        self._seq = 0
        self._lock = trio.Lock()
        self._link: bytes | None = None
        self._tpk_kcv: bytes | None = None
        self._ksn: bytes | None = None

    @property
    def name(self) -> str:
        return f"USB PIN pad {self.vendor_id:04X}:{self.product_id:04X}"

    @property
    def key_serial_number(self) -> bytes | None:
        return self._ksn

    # --- USB plumbing (worker threads) ----------------------------------------
    def _usb(self) -> Any:
        try:
            import usb.core
            import usb.util
        except ImportError:
            raise PinPadError(
                "USB support is not installed (pip install 'cardcore[usb]')"
            ) from None
        return usb

    def _translate(self, exc: Exception, action: str) -> PinPadError:
        usb = self._usb()
        if isinstance(exc, usb.core.NoBackendError):
            return PinPadError(f"{self.name}: no USB backend (libusb) available")
        if isinstance(exc, usb.core.USBError):
            self._forget()
            reason = _USB_REASONS.get(getattr(exc, "errno", None) or 0, exc.strerror or str(exc))
            if exc.backend_error_code == LIBUSB_ERROR_NO_DEVICE:
                return PinPadNotPresent(f"{self.name}: {action}: {reason}")
            return PinPadError(f"{self.name}: {action}: {reason}")
        if isinstance(exc, ReportError):
            return PinPadError(f"{self.name}: {action}: {exc.message}")
        if isinstance(exc, ValueError):  # pyusb: no such endpoint / configuration
            self._forget()
            return PinPadError(f"{self.name}: {action}: {exc}")
        raise exc

    def _forget(self) -> None:
        self._device = self._ep_in = self._ep_out = None
        self._link = self._tpk_kcv = None
        self.info = None

    def _open_blocking(self) -> None:
        usb = self._usb()
        try:
            device = usb.core.find(
                idVendor=self.vendor_id, idProduct=self.product_id, backend=self._backend
            )
            if device is None:
                raise PinPadNotPresent(f"{self.name} is not connected")
            interface = self._claim_pad_interface(usb, device)
            if interface is None:
                raise PinPadError(f"{self.name} is not a PIN pad of this protocol")

            def direction(wanted: int) -> Callable[[Any], bool]:
                return lambda ep: bool(usb.util.endpoint_direction(ep.bEndpointAddress) == wanted)

            ep_in = usb.util.find_descriptor(
                interface, custom_match=direction(usb.util.ENDPOINT_IN)
            )
            ep_out = usb.util.find_descriptor(
                interface, custom_match=direction(usb.util.ENDPOINT_OUT)
            )
            if ep_in is None or ep_out is None:
                raise PinPadError(f"{self.name} lacks its interrupt endpoints")
        except PinPadError:
            raise
        except Exception as exc:
            raise self._translate(exc, "open") from exc
        self._device, self._ep_in, self._ep_out = device, ep_in, ep_out

    @staticmethod
    def _claim_pad_interface(usb: Any, device: Any) -> Any:
        """The HID interface whose report descriptor is the protocol's, claimed.

        A composite device (a board that also offers a serial console, or a
        keyboard under the same IDs) has other interfaces: each HID one is
        asked for its report descriptor (GET_DESCRIPTOR, HID 1.11 7.1.1) and
        given back to the kernel when it is not the pad's. The configuration
        is set only when none is: setting it again fails while the kernel
        holds another interface."""
        try:
            config = device.get_active_configuration()
        except usb.core.USBError:
            device.set_configuration()
            config = device.get_active_configuration()
        for interface in config:
            if interface.bInterfaceClass != 0x03 or interface.bAlternateSetting != 0:
                continue
            number = interface.bInterfaceNumber
            detached = False
            try:
                if device.is_kernel_driver_active(number):
                    device.detach_kernel_driver(number)
                    detached = True
            except NotImplementedError:  # backends without kernel drivers
                pass
            usb.util.claim_interface(device, number)
            descriptor = device.ctrl_transfer(0x81, 0x06, 0x2200, number, 256)
            if bytes(descriptor) == REPORT_DESCRIPTOR:
                return interface
            usb.util.release_interface(device, number)
            if detached:
                with contextlib.suppress(usb.core.USBError, NotImplementedError):
                    device.attach_kernel_driver(number)
        return None

    def _write_blocking(self, report: bytes) -> None:
        try:
            self._ep_out.write(report, timeout=int(self.transfer_timeout * 1000))
        except Exception as exc:
            raise self._translate(exc, "write") from exc

    def _read_blocking(self) -> bytes | None:
        usb = self._usb()
        try:
            data = self._ep_in.read(REPORT_SIZE, timeout=max(1, int(self.poll * 1000)))
        except usb.core.USBTimeoutError:
            return None
        except Exception as exc:
            raise self._translate(exc, "read") from exc
        return bytes(data)

    # --- requests -----------------------------------------------------------------
    async def _ensure_open(self) -> None:
        if self._device is not None:
            return
        await trio.to_thread.run_sync(self._open_blocking)
        info = Info.decode((await self._request(MsgType.GET_INFO, b"", QUICK)).payload)
        if info.version != PROTOCOL_VERSION:
            self._forget()
            raise PinPadError(f"{self.name} speaks protocol {info.version}, not {PROTOCOL_VERSION}")
        self.info = info
        log.info(
            "%s: serial %s, firmware %s, %s", self.name, info.serial, info.firmware,
            info.scheme.name,
        )  # fmt: skip
        await self._load_link_key()

    async def _load(self, key_id: WrappedKeyId, key: bytes, kcv: bytes) -> None:
        tmk = self._tmk()
        if tmk is None:
            raise PinPadError("no TMK (terminal master key) to load keys into the PIN pad")
        wrapped = tdes_ecb_encrypt(tmk, key)
        answer = await self._request(
            MsgType.LOAD_KEY, LoadKey(key_id, wrapped, kcv).encode(), QUICK
        )
        status = Status(answer.payload[0]) if answer.payload else Status.FAILURE
        if status is not Status.OK:
            raise PinPadError(f"{self.name} refused the {key_id.name} key: {status.name}")

    async def _load_link_key(self) -> None:
        link = secrets.token_bytes(16)
        await self._load(WrappedKeyId.LINK, link, kcv_aes(link))
        self._link = link

    async def _load_tpk(self) -> None:
        tpk = self._tpk()
        if tpk is None:
            raise PinPadError("the terminal holds no PIN key (TPK): load the working keys")
        kcv = kcv_tdes(tpk)
        if kcv != self._tpk_kcv:
            await self._load(WrappedKeyId.TPK, tpk, kcv)
            self._tpk_kcv = kcv

    async def _request(self, kind: MsgType, payload: bytes, timeout: float) -> Report:
        """Send a request and wait for its answer (the caller holds the lock)."""
        self._seq = self._seq % 255 + 1
        seq = self._seq
        await trio.to_thread.run_sync(self._write_blocking, Report(kind, seq, payload).encode())
        deadline = trio.current_time() + timeout
        try:
            while trio.current_time() < deadline:
                data = await trio.to_thread.run_sync(self._read_blocking)
                if data is None:
                    continue
                report = Report.decode(data)
                if report.type == MsgType.KEY_EVENT:
                    if self.on_key is not None:
                        self.on_key(KeyEvent.decode(report.payload))
                    continue
                if report.seq == seq:
                    return report
                log.debug("%s: stale answer %02X/%d ignored", self.name, report.type, report.seq)
        except BaseException:
            if self._device is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(QUICK):
                    await self._withdraw()
            raise
        await self._withdraw()
        raise PinPadError(f"{self.name} did not answer within {timeout:g} s")

    async def _withdraw(self) -> None:
        """Best effort CANCEL of whatever the pad is doing."""
        try:
            self._seq = self._seq % 255 + 1
            report = Report(MsgType.CANCEL, self._seq, b"").encode()
            await trio.to_thread.run_sync(self._write_blocking, report)
        except CardcoreError as exc:
            log.info("%s: could not withdraw the request: %s", self.name, exc.message)

    @staticmethod
    def _pin_error(result: PinResult) -> CardcoreError:
        match result.status:
            case Status.BYPASSED:
                return PinEntryBypassed("PIN entry bypassed on the PIN pad")
            case Status.CANCELLED:
                return PinEntryBypassed("PIN entry cancelled on the PIN pad")
            case Status.TIMEOUT:
                return PinPadError("PIN entry timed out")
            case Status.NO_KEY:
                return PinPadError("the PIN pad holds no key for PIN encipherment")
        return PinPadError(f"PIN pad error: {result.status.name}")

    # --- status (no cardholder, no keys) ------------------------------------------------
    def _present_blocking(self) -> bool:
        usb = self._usb()
        try:
            found = usb.core.find(
                idVendor=self.vendor_id, idProduct=self.product_id, backend=self._backend
            )
        except usb.core.NoBackendError:
            raise PinPadError(f"{self.name}: no USB backend (libusb) available") from None
        return found is not None

    async def present(self) -> bool:
        """Whether a device with the pad's VID:PID is on the bus (it is not
        opened: a running terminal keeps its claim)."""
        return await trio.to_thread.run_sync(self._present_blocking)

    async def identify(self) -> Info:
        """Open the pad and ask what it is (GET_INFO), loading no key; the
        pad is released after unless the driver had it open already."""
        async with self._lock:
            opened_here = self._device is None
            if opened_here:
                await trio.to_thread.run_sync(self._open_blocking)
            try:
                answer = await self._request(MsgType.GET_INFO, b"", QUICK)
                try:
                    return Info.decode(answer.payload)
                except ReportError as exc:
                    raise PinPadError(f"{self.name}: {exc.message}") from None
            finally:
                if opened_here:
                    await self._release()

    async def _release(self) -> None:
        device = self._device
        self._forget()
        if device is not None:
            usb = self._usb()

            def release() -> None:
                with contextlib.suppress(usb.core.USBError):
                    usb.util.dispose_resources(device)

            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(release)

    # --- PinPad ----------------------------------------------------------------------
    async def online_pin(self, pan: str, amount: int, currency: int, timeout: float) -> bytes:
        async with self._lock:
            await self._ensure_open()
            assert self.info is not None
            if self.info.scheme is KeyScheme.TPK:
                await self._load_tpk()
            request = OnlinePinRequest(pan, amount, currency, math.ceil(timeout))
            try:
                payload = request.encode()
            except ReportError as exc:
                raise PinPadError(exc.message) from None
            answer = await self._request(MsgType.ONLINE_PIN, payload, timeout + self.answer_margin)
            result = self._pin_result(answer)
            if result.status is not Status.OK:
                raise self._pin_error(result)
            expected = PinFormat.ISO4 if self.info.scheme is KeyScheme.DUKPT_AES else PinFormat.ISO0
            if result.format is not expected:
                raise PinPadError(f"PIN pad returned a format {result.format} block")
            self._ksn = result.ksn or None
            return result.block

    async def offline_pin(
        self, amount: int, currency: int, tries_remaining: int | None, timeout: float
    ) -> bytes:
        async with self._lock:
            await self._ensure_open()
            request = OfflinePinRequest(amount, currency, tries_remaining, math.ceil(timeout))
            answer = await self._request(
                MsgType.OFFLINE_PIN, request.encode(), timeout + self.answer_margin
            )
            result = self._pin_result(answer)
            if result.status is not Status.OK:
                raise self._pin_error(result)
            if result.format is not PinFormat.ISO2 or len(result.block) != 12 + 8 + 16:
                raise PinPadError("PIN pad returned a malformed offline PIN block")
            assert self._link is not None
            nonce, sealed = result.block[:12], result.block[12:]
            try:
                return AESGCM(self._link).decrypt(nonce, sealed, offline_aad(answer.seq))
            except InvalidTag:
                raise PinPadError("offline PIN block failed its link check") from None

    def _pin_result(self, answer: Report) -> PinResult:
        if answer.type == MsgType.ACK:
            status = Status(answer.payload[0]) if answer.payload else Status.FAILURE
            raise PinPadError(f"PIN pad refused the request: {status.name}")
        if answer.type != MsgType.PIN_RESULT:
            raise PinPadError("PIN pad answered with the wrong report")
        try:
            return PinResult.decode(answer.payload)
        except ReportError as exc:
            raise PinPadError(exc.message) from None

    # --- Keypad and display ------------------------------------------------------------
    async def confirm(self, prompt: str, timeout: float) -> bool:
        """OK on the pad within ``timeout``; False for cancel, timeout or a fault."""
        try:
            async with self._lock:
                await self._ensure_open()
                payload = ConfirmRequest(math.ceil(timeout), prompt).encode()
                answer = await self._request(MsgType.CONFIRM, payload, timeout + self.answer_margin)
        except PinPadError as exc:
            log.warning("%s: confirmation failed: %s", self.name, exc.message)
            return False
        return answer.type == MsgType.CONFIRM_RESULT and answer.payload[:1] == bytes([Status.OK])

    async def display(self, text: str) -> None:
        async with self._lock:
            await self._ensure_open()
            data = text.encode()[:61]
            answer = await self._request(MsgType.DISPLAY, data, QUICK)
            if answer.payload[:1] != bytes([Status.OK]):
                raise PinPadError(f"{self.name} refused the display text")

    async def close(self) -> None:
        """Release the interface (the next request opens the pad again)."""
        async with self._lock:
            await self._release()
