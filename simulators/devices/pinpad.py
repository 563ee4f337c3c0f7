# Strategy: a simulated PIN pad. The simulated cardholder knows the PIN of the
# presented virtual card (its profile's offline PIN, else "1234") and types it,
# a wrong one, bypasses entry, or the pad fails — as the simulator control
# sets. While a person is at the terminal (simulators.devices.keys: the virtual terminal
# page is open) the pad waits for their keys instead: digits (4 to 12, ISO
# 9564-1 5.1), clear takes back the last one, OK with none bypasses entry and
# cancel stops it (hal.interfaces.PinPad), and the timeout is a pad failure.
# Like a real pad it never hands out the PIN, not even its digits to the page
# (only how many were typed): online PIN leaves as an ISO 9564 format-0 block
# enciphered under the TPK the pad holds; offline PIN as the format-2 block
# VERIFY carries (the pad's secured link to the kernel).
from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import trio

from base.crypto.des import tdes_ecb_encrypt
from base.crypto.pinblock import encode_iso0, encode_iso2
from hal.interfaces import PinPad
from kernel.errors import PinEntryBypassed, PinPadError
from simulators.devices.keys import TerminalKeys

__all__ = ["PinPadMode", "SimPinPad"]

DEFAULT_PIN = "1234"
WRONG_PIN = "0000"
PIN_LENGTHS = range(4, 13)  # ISO 9564-1 5.1: 4 to 12 digits


class PinPadMode(StrEnum):
    ENTER = "enter"  # the cardholder types the right PIN
    WRONG = "wrong"  # a wrong PIN
    BYPASS = "bypass"  # the cardholder bypasses PIN entry
    FAIL = "fail"  # the pad does not answer


class SimPinPad(PinPad):
    def __init__(
        self,
        cardholder_pin: Callable[[], str | None],
        tpk: Callable[[], bytes | None],
        mode: PinPadMode = PinPadMode.ENTER,
        keys: TerminalKeys | None = None,
    ) -> None:
        self._cardholder_pin = cardholder_pin
        self._tpk = tpk
        self.mode = mode
        self.keys = keys
        self.entries = 0
        # While a person types: how many digits they have typed (never which).
        self.typed: int | None = None

    async def _entered(self, timeout: float) -> str:
        keys = self.keys
        if keys is None or not keys.attended:
            await trio.lowlevel.checkpoint()
            return self._typed()
        self.entries += 1
        digits = ""
        self.typed = 0
        try:
            with keys.reading("pin"), trio.move_on_after(timeout):
                while True:
                    key = await keys.next_key()
                    if key.isdigit():
                        if len(digits) < PIN_LENGTHS[-1]:
                            digits += key
                    elif key == "clear":
                        digits = digits[:-1]
                    elif key == "cancel":
                        raise PinEntryBypassed("PIN entry cancelled on the PIN pad")
                    elif key == "ok":
                        if not digits:
                            raise PinEntryBypassed("PIN entry bypassed")
                        if len(digits) in PIN_LENGTHS:
                            return digits
                    self.typed = len(digits)
                    keys.changes.changed()
            raise PinPadError("no PIN was entered in time")
        finally:
            self.typed = None
            keys.changes.changed()

    def _typed(self) -> str:
        self.entries += 1
        if self.mode is PinPadMode.BYPASS:
            raise PinEntryBypassed("PIN entry bypassed")
        if self.mode is PinPadMode.FAIL:
            raise PinPadError("PIN pad does not answer")
        if self.mode is PinPadMode.WRONG:
            return WRONG_PIN
        return self._cardholder_pin() or DEFAULT_PIN

    async def online_pin(self, pan: str, amount: int, currency: int, timeout: float) -> bytes:
        pin = await self._entered(timeout)
        key = self._tpk()
        if key is None:
            raise PinPadError("the PIN pad holds no PIN key (TPK): load the working keys")
        return tdes_ecb_encrypt(key, encode_iso0(pin, pan))

    async def offline_pin(
        self, amount: int, currency: int, tries_remaining: int | None, timeout: float
    ) -> bytes:
        return encode_iso2(await self._entered(timeout))
