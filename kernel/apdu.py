# Strategy: command APDUs of EMV 4.3 Book 3 6.5 and Book 1 11.3, and the one
# transport wrapper around the raw `transmit(capdu) -> rapdu` callable.
# - Commands are short APDUs (Book 1 9.4): case 2/4 commands carry Le '00'
#   the way a T=1 terminal sends them; a T=0 reader driver strips it.
# - The wrapper handles the transport-level status words once, for every
#   command (Book 1 9.3.1.3, Annex A): '61xx' -> GET RESPONSE with Le=xx,
#   repeated while the card has more; '6Cxx' -> the same command re-sent once
#   with Le=xx; for a case 4 command answered with a '62xx'/'63xx' warning and
#   no data, GET RESPONSE is issued and the warning is kept (T=0 case 4).
# - Each physical exchange is traced on "kernel.trace" with redaction
#   (kernel.trace); the wrapper never swallows exceptions of `transmit`:
#   cancellation and HAL errors propagate untouched.
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from base import tlv
from kernel.errors import CardDataError
from kernel.sw import describe
from kernel.trace import TRACE_LOGGER, redacted, render_dol_data, render_tlv

__all__ = [
    "Command",
    "Response",
    "Transmit",
    "Transport",
    "external_authenticate",
    "generate_ac",
    "get_challenge",
    "get_data",
    "get_processing_options",
    "get_response",
    "internal_authenticate",
    "read_record",
    "select",
    "verify",
]

Transmit = Callable[[bytes], Awaitable[bytes]]

INS_NAMES = {
    0xA4: "SELECT",
    0xB2: "READ RECORD",
    0xA8: "GET PROCESSING OPTIONS",
    0xCA: "GET DATA",
    0x84: "GET CHALLENGE",
    0x20: "VERIFY",
    0x88: "INTERNAL AUTHENTICATE",
    0xAE: "GENERATE AC",
    0x82: "EXTERNAL AUTHENTICATE",
    0xC0: "GET RESPONSE",
    0x1E: "APPLICATION BLOCK",
    0x18: "APPLICATION UNBLOCK",
    0x16: "CARD BLOCK",
    0x24: "PIN CHANGE/UNBLOCK",
    0xDA: "PUT DATA",
    0xDC: "UPDATE RECORD",
}
_MAX_GET_RESPONSE = 32


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    # The DOL that `data` was built from: the trace shows it entry by entry,
    # with sensitive entries redacted; without it data shows as hex; `secret`
    # hides it entirely.
    trace_dol: bytes | None = None
    secret: bool = False

    @property
    def name(self) -> str:
        return INS_NAMES.get(self.ins, f"INS {self.ins:02X}")

    @property
    def case4(self) -> bool:
        return bool(self.data) and self.le is not None

    def encode(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            if len(self.data) > 255:
                raise ValueError("command data longer than 255 bytes")
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    @classmethod
    def from_bytes(cls, raw: bytes, *, secret: bool = False) -> Command:
        """Parse a short C-APDU (ISO/IEC 7816-3 cases 1-4), e.g. an issuer script command."""
        if len(raw) < 4:
            raise ValueError("C-APDU shorter than its header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2, secret=secret)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0], secret=secret)
        lc = body[0]
        if lc == 0 or len(body) not in (1 + lc, 2 + lc):
            raise ValueError("C-APDU length byte does not match its data")
        le = body[1 + lc] if len(body) == 2 + lc else None
        return cls(cla, ins, p1, p2, bytes(body[1 : 1 + lc]), le, secret=secret)

    def with_le(self, le: int) -> Command:
        return Command(
            self.cla, self.ins, self.p1, self.p2, self.data, le, self.trace_dol, self.secret
        )


@dataclass(frozen=True, slots=True)
class Response:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        if len(raw) < 2:
            raise CardDataError(f"R-APDU of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


# --- command builders (Book 3 6.5, Book 1 11.3) --------------------------------


def select(name: bytes, *, next_occurrence: bool = False) -> Command:
    """SELECT by DF name; P2 '00' first or only occurrence, '02' next (Book 1 11.3.2)."""
    return Command(0x00, 0xA4, 0x04, 0x02 if next_occurrence else 0x00, name, 0x00)


def read_record(sfi: int, record: int) -> Command:
    return Command(0x00, 0xB2, record, (sfi << 3) | 0x04, le=0x00)


def get_processing_options(pdol_data: bytes, pdol: bytes | None = None) -> Command:
    body = bytes([0x83]) + _len(pdol_data) + pdol_data
    return Command(0x80, 0xA8, 0x00, 0x00, body, 0x00, pdol or b"")


def get_data(tag: int) -> Command:
    return Command(0x80, 0xCA, (tag >> 8) & 0xFF, tag & 0xFF, le=0x00)


def get_challenge() -> Command:
    return Command(0x00, 0x84, 0x00, 0x00, le=0x00)


def verify(data: bytes, *, enciphered: bool) -> Command:
    """VERIFY, P2 '80' plaintext PIN or '88' enciphered PIN (Book 3 6.5.12)."""
    return Command(0x00, 0x20, 0x00, 0x88 if enciphered else 0x80, data, secret=True)


def internal_authenticate(ddol_data: bytes, ddol: bytes | None = None) -> Command:
    return Command(0x00, 0x88, 0x00, 0x00, ddol_data, 0x00, ddol)


def generate_ac(p1: int, cdol_data: bytes, cdol: bytes | None = None) -> Command:
    return Command(0x80, 0xAE, p1, 0x00, cdol_data, 0x00, cdol)


def external_authenticate(issuer_authentication_data: bytes) -> Command:
    return Command(0x00, 0x82, 0x00, 0x00, issuer_authentication_data)


def get_response(le: int) -> Command:
    return Command(0x00, 0xC0, 0x00, 0x00, le=le)


def _len(data: bytes) -> bytes:
    if len(data) < 0x80:
        return bytes([len(data)])
    return bytes([0x81, len(data)])


def _render_dol_command(command: Command) -> str:
    dol = command.trace_dol or b""
    data = command.data
    prefix = ""
    if command.ins == 0xA8:  # '83' template around the PDOL data
        try:
            (template,) = tlv.decode(data)
        except (tlv.TlvError, ValueError):
            return redacted(len(data))
        data, prefix = template.value, f"83 [{len(template.value)}] "
    try:
        return prefix + render_dol_data(dol, data)
    except tlv.TlvError:
        return redacted(len(data))


# --- transport ---------------------------------------------------------------


class Transport:
    """Sends commands through `transmit`, resolving 61xx/6Cxx, and traces them."""

    def __init__(self, transmit: Transmit, logger: logging.Logger | None = None) -> None:
        self._transmit = transmit
        self._log = logger or logging.getLogger(TRACE_LOGGER)
        self.exchanges = 0

    async def send(self, command: Command) -> Response:
        response = await self._exchange(command)
        if response.sw1 == 0x6C:
            # Wrong Le: re-send the same command once with the exact length.
            response = await self._exchange(command.with_le(response.sw2))
        if response.sw1 == 0x61:
            return await self._collect(response)
        if command.case4 and not response.data and response.sw1 in (0x62, 0x63):
            # T=0 case 4 with a warning: fetch the data, keep the warning.
            more = await self._exchange(get_response(0x00))
            if more.sw1 == 0x61:
                more = await self._collect(more)
            if more.ok:
                return Response(more.data, response.sw)
        return response

    async def _collect(self, response: Response) -> Response:
        data = bytearray()
        for _ in range(_MAX_GET_RESPONSE):
            if response.sw1 != 0x61:
                break
            response = await self._exchange(get_response(response.sw2))
            data += response.data
        else:
            raise CardDataError("card keeps answering 61xx")
        return Response(bytes(data), response.sw)

    async def _exchange(self, command: Command) -> Response:
        capdu = command.encode()
        tracing = self._log.isEnabledFor(logging.DEBUG)
        if tracing:
            self._log.debug("%s", self._render_command(command))
        raw = await self._transmit(capdu)
        self.exchanges += 1
        response = Response.parse(raw)
        if tracing:
            self._log.debug("%s", self._render_response(command, response))
        return response

    @staticmethod
    def _render_command(command: Command) -> str:
        header = f"{command.cla:02X}{command.ins:02X}{command.p1:02X}{command.p2:02X}"
        line = f"--> {command.name} {header}"
        if command.data:
            if command.secret:
                body = redacted(len(command.data))
            elif command.trace_dol is not None:
                body = _render_dol_command(command)
            else:
                body = command.data.hex().upper()
            line += f" Lc={len(command.data)} {body}"
        if command.le is not None:
            line += f" Le={command.le:02X}"
        return line

    @staticmethod
    def _render_response(command: Command, response: Response) -> str:
        head = f"<-- {response.sw:04X} {describe(response.sw)}"
        if not response.data:
            return head
        if command.ins == 0x84:  # GET CHALLENGE: a random number
            return f"{head} [{len(response.data)}] {response.data.hex().upper()}"
        return f"{head} [{len(response.data)}]\n{render_tlv(response.data)}"
