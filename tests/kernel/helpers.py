"""Test doubles for the kernel: scripted terminal services and a fixed entropy source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from base.crypto.pinblock import encode_iso2
from kernel.errors import PinEntryBypassed, PinPadError
from kernel.selection import Candidate
from kernel.services import MessageId, OnlineRequest, OnlineResponse, OnlineResult, PinRequest


@dataclass
class FixedEntropy:
    un: bytes = bytes.fromhex("01234567")
    percent: int = 99
    pad_byte: int = 0x5A
    moment: dt.datetime = dt.datetime(2020, 7, 24, 12, 0, 0)

    def unpredictable_number(self) -> bytes:
        return self.un

    def random_percent(self) -> int:
        return self.percent

    def random_bytes(self, n: int) -> bytes:
        return bytes([self.pad_byte]) * n

    def now(self) -> dt.datetime:
        return self.moment


PinScript = str | Callable[[PinRequest], bytes]


@dataclass
class ScriptedServices:
    """KernelServices with scripted answers; records every call."""

    pins: list[PinScript] = field(default_factory=lambda: ["1234"])
    # A card reader with its own keypad (PC/SC part 10): the status words its
    # VERIFY gets, "bypass" or "pinpad"; None: no such reader.
    reader_keypad: list[int | str] | None = None
    online_pin_block: bytes | str = b"\xee" * 8
    online: OnlineResponse | Callable[[OnlineRequest], OnlineResponse] = field(
        default_factory=lambda: OnlineResponse(OnlineResult.APPROVED, arc=b"00")
    )
    choose: int | None = 0
    confirm: bool = True
    split_amount: int = 0
    exchange: Mapping[int, bytes] = field(default_factory=dict)
    displayed: list[MessageId] = field(default_factory=list)
    pin_requests: list[PinRequest] = field(default_factory=list)
    online_requests: list[OnlineRequest] = field(default_factory=list)
    offered: list[Sequence[Candidate]] = field(default_factory=list)
    exchanged: list[tuple[str, dict[int, bytes]]] = field(default_factory=list)

    async def display(
        self, message: MessageId, *, amount: int | None = None, languages: str = ""
    ) -> None:
        self.displayed.append(message)

    async def select_application(self, candidates: Sequence[Candidate]) -> int | None:
        self.offered.append(list(candidates))
        return self.choose

    async def confirm_application(self, candidate: Candidate) -> bool:
        self.offered.append([candidate])
        return self.confirm

    async def offline_pin(self, request: PinRequest) -> bytes:
        self.pin_requests.append(request)
        script = self.pins.pop(0) if len(self.pins) > 1 else self.pins[0]
        if callable(script):
            return script(request)
        if script == "bypass":
            raise PinEntryBypassed("bypassed")
        if script == "pinpad":
            raise PinPadError("PIN pad broken")
        return encode_iso2(script)

    async def verify_pin_on_reader(self, request: PinRequest) -> int | None:
        if self.reader_keypad is None:
            return None
        self.pin_requests.append(request)
        script = self.reader_keypad.pop(0) if len(self.reader_keypad) > 1 else self.reader_keypad[0]
        if script == "bypass":
            raise PinEntryBypassed("cancelled on the reader's keypad")
        if script == "pinpad":
            raise PinPadError("reader keypad timed out")
        assert isinstance(script, int)
        return script

    async def online_pin(self, request: PinRequest) -> bytes:
        self.pin_requests.append(request)
        if self.online_pin_block == "bypass":
            raise PinEntryBypassed("bypassed")
        if self.online_pin_block == "pinpad":
            raise PinPadError("PIN pad broken")
        assert isinstance(self.online_pin_block, bytes)
        return self.online_pin_block

    async def split_sales_amount(self, pan: str, currency: int) -> int:
        return self.split_amount

    async def go_online(self, request: OnlineRequest) -> OnlineResponse:
        self.online_requests.append(request)
        if callable(self.online):
            return self.online(request)
        return self.online

    async def data_exchange(self, point: str, data: Mapping[int, bytes]) -> Mapping[int, bytes]:
        self.exchanged.append((point, dict(data)))
        return self.exchange
