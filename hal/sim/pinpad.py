# Strategy: a simulated PIN pad. The simulated cardholder knows the PIN of the
# presented virtual card (its profile's offline PIN, else "1234") and types it,
# a wrong one, bypasses entry, or the pad fails — as the simulator control
# sets. Like a real pad it never hands out the PIN: online PIN leaves as an
# ISO 9564 format-0 block enciphered under the TPK the pad holds; offline PIN
# as the format-2 block VERIFY carries (the pad's secured link to the kernel).
from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import trio

from base.crypto.des import tdes_ecb_encrypt
from base.crypto.pinblock import encode_iso0, encode_iso2
from hal.interfaces import PinPad
from kernel.errors import PinEntryBypassed, PinPadError

__all__ = ["PinPadMode", "SimPinPad"]

DEFAULT_PIN = "1234"
WRONG_PIN = "0000"


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
    ) -> None:
        self._cardholder_pin = cardholder_pin
        self._tpk = tpk
        self.mode = mode
        self.entries = 0

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
        await trio.lowlevel.checkpoint()
        pin = self._typed()
        key = self._tpk()
        if key is None:
            raise PinPadError("the PIN pad holds no PIN key (TPK): load the working keys")
        return tdes_ecb_encrypt(key, encode_iso0(pin, pan))

    async def offline_pin(
        self, amount: int, currency: int, tries_remaining: int | None, timeout: float
    ) -> bytes:
        await trio.lowlevel.checkpoint()
        return encode_iso2(self._typed())
