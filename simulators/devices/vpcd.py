# Strategy: a virtual card of the emulator plugged into vsmartcard's `vpcd`,
# the PC/SC reader driver that pcscd loads (reader "Virtual PCD 00 00"), so
# the PC/SC driver runs against the real pcscd stack.
# - Wire protocol (vsmartcard virtualsmartcard/src/vpcd/vpcd.c): vpcd
#   listens on a TCP port (reader.conf CHANNELID, 0x8C7B = 35963 for the first
#   slot, +1 for the next); the virtual card connects to it. Every message
#   is a 2-byte big-endian length then the body. A 1-byte body is a control
#   message: 0 power off, 1 power on, 2 reset, 4 get ATR (answered with the
#   ATR); anything longer is a C-APDU, answered with the R-APDU. Power on,
#   off and reset get no answer. vpcd polls presence with "get ATR"; closing
#   the connection is how a card is removed.
# - `VpcdProtocol` is sans-I/O (bytes in, bytes out); `run_vpcd_card` is the
#   trio adapter: it connects, serves until vpcd closes the connection, and
#   reconnects (pcscd restarted, vpcd not listening yet) until cancelled.
# - What sits in the slot is a `VirtualIcc`: a contact card (the emulator's
#   VirtualCard with the ATR of its profile, T=0 by default), or a contactless
#   card behind a simulated PC/SC part 3 reader (the part 3 ATR,
#   FF CA/82/86/B0/D6), which is how a PICC looks to pcscd through a real
#   contactless reader.
# - vpcd hands APDUs over as they are and never says which protocol pcscd
#   negotiated (vpcd accepts a PPS to T=0 or T=1 alike), so the contact slot
#   plays the reader too: a card offering T=0 sits behind the transport layer
#   of a USB reader at CCID's APDU level of exchange (CCID rev 1.1), which
#   maps APDUs to T=0 TPDUs (ISO/IEC 7816-3 12.2, EMV Book 1 9.3.1): case 2
#   answered '6Cxx' is re-sent with P3 = xx; case 4 goes without its Le, and
#   '61xx' is fetched with GET RESPONSE, P3 = min(xx, what Le left). An
#   application thus gets the whole response whether it chose T=0 or T=1, as
#   with a real reader. Case 1 and 3 answers pass as the card gives them (a
#   case-3 command has no Le, so a '61xx' goes up: the application asked for
#   nothing). A profile with `contact.t0_strict` gets a reader that does not
#   map: a case-4 APDU reaches the T=0 card with its Le and fails with '6700'.
from __future__ import annotations

import contextlib
import logging
import math
import socket
from collections.abc import Callable
from typing import Protocol

import trio

from hal.interfaces import CardInterface
from simulators.devices.card import VirtualCard
from simulators.devices.contactless import Part3Reader
from simulators.devices.mifare import MifareClassicCard, mifare_card_for
from simulators.devices.profile import Profile, ProfileError, load_profile

__all__ = [
    "CTRL_ATR",
    "CTRL_OFF",
    "CTRL_ON",
    "CTRL_RESET",
    "DEFAULT_PORT",
    "ContactIcc",
    "ContactlessIcc",
    "VirtualIcc",
    "VpcdProtocol",
    "VpcdProtocolError",
    "icc_for_profile",
    "is_case4_with_le",
    "run_vpcd_card",
    "t0_exchange",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 0x8C7B  # 35963, vpcd's default CHANNELID
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
MAX_MESSAGE = 0xFFFF


class VpcdProtocolError(Exception):
    """vpcd sent something that is not a message."""


class VirtualIcc(Protocol):
    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def reset(self) -> None: ...

    def transmit(self, capdu: bytes) -> bytes: ...


class ContactIcc:
    """A contact card in the vpcd slot, with the reader's T=0 transport
    layer in front of a card that speaks T=0 (see the strategy note).
    ``strict``: no mapping; a T=0 card cannot receive the Le of a case-4
    command (ISO 7816-3 12.2, case 4S: the TPDU is header, Lc, data), so one that
    arrives anyway is answered 6700, as the card would fail on the wire."""

    def __init__(self, card: VirtualCard, *, strict: bool = False) -> None:
        self.card = card
        self.strict = strict

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> None:
        self.card.reset()

    def power_off(self) -> None:
        pass  # persistent counters survive; the transaction state goes at power-on

    def reset(self) -> None:
        self.card.reset()

    def transmit(self, capdu: bytes) -> bytes:
        if not self.card.t0:
            return self.card.transmit(capdu)
        if self.strict:
            return b"\x67\x00" if is_case4_with_le(capdu) else self.card.transmit(capdu)
        return t0_exchange(self.card.transmit, capdu)


def is_case4_with_le(capdu: bytes) -> bool:
    return len(capdu) > 5 and capdu[4] != 0 and len(capdu) == 5 + capdu[4] + 1


def t0_exchange(send: Callable[[bytes], bytes], capdu: bytes) -> bytes:
    """One short APDU through a T=0 transport layer (ISO/IEC 7816-3 12.2):
    ``send`` carries one TPDU to the card and returns its answer."""
    if len(capdu) == 5:  # case 2: Ne = Le, '00' meaning 256
        wanted = capdu[4] or 256
        answer = send(capdu)
        if len(answer) == 2 and answer[0] == 0x6C:  # case 2S: again with P3 = Na
            answer = send(capdu[:4] + answer[1:])
    elif is_case4_with_le(capdu):  # case 4S: the TPDU is header, Lc, data
        wanted = capdu[-1] or 256
        answer = send(capdu[:-1])
    else:  # case 1 or 3 (or malformed): as it is
        return send(capdu)
    data = bytearray(answer[:-2])
    while len(answer) >= 2 and answer[-2] == 0x61 and len(data) < wanted:
        available = answer[-1] or 256
        answer = send(bytes([0x00, 0xC0, 0x00, 0x00, min(available, wanted - len(data)) & 0xFF]))
        data += answer[:-2]
    return bytes(data) + answer[-2:]


class ContactlessIcc:
    """A contactless card as a PC/SC part 3 reader presents it."""

    def __init__(self, field: Part3Reader) -> None:
        self.field = field

    @property
    def atr(self) -> bytes:
        return self.field.atr

    def power_on(self) -> None:
        self.field.activate()

    def power_off(self) -> None:
        pass

    def reset(self) -> None:
        self.field.activate()

    def transmit(self, capdu: bytes) -> bytes:
        return self.field.transmit(capdu)


def icc_for_profile(
    name: str | Profile,
    interface: CardInterface | None = None,
    *,
    protocols: tuple[int, ...] | None = None,
    strict: bool | None = None,
) -> VirtualIcc:
    """The virtual ICC for a profile (by name, or loaded): on ``interface``
    (default: the profile's first one; a profile cannot go on an interface it
    does not have, as with `cardcore sim present`). A MIFARE Classic profile
    gets its memory. A contact card offers ``protocols`` (default: the
    profile's) and speaks T=0 whenever it offers T=0, since vpcd does not tell
    it what pcscd chose; ``strict`` overrides the profile's `t0_strict`."""
    profile = load_profile(name) if isinstance(name, str) else name
    chosen = interface if interface is not None else CardInterface(profile.interfaces[0])
    if chosen.value not in profile.interfaces:
        have = ", ".join(profile.interfaces)
        raise ProfileError(f"profile {name!r} cannot be presented {chosen.value} ({have})")
    if chosen is CardInterface.CONTACTLESS:
        memory = mifare_card_for(profile)
        card: VirtualCard | MifareClassicCard = (
            memory if memory is not None else VirtualCard(profile)
        )
        return ContactlessIcc(Part3Reader(card))
    offered = protocols if protocols is not None else profile.protocols
    card = VirtualCard(profile, t0=0 in offered, protocols=offered)
    return ContactIcc(card, strict=profile.contact.t0_strict if strict is None else strict)


class VpcdProtocol:
    """The card side of the vpcd protocol, sans-I/O."""

    def __init__(self, icc: VirtualIcc) -> None:
        self.icc = icc
        self.powered = False
        self.apdus = 0
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> bytes:
        """Feed bytes from vpcd; returns the bytes to send back."""
        self._buffer += data
        out = bytearray()
        while len(self._buffer) >= 2:
            size = int.from_bytes(self._buffer[:2], "big")
            if len(self._buffer) < 2 + size:
                break
            message = bytes(self._buffer[2 : 2 + size])
            del self._buffer[: 2 + size]
            reply = self._handle(message)
            if reply is not None:
                if len(reply) > MAX_MESSAGE:
                    raise VpcdProtocolError("reply longer than a vpcd message")
                out += len(reply).to_bytes(2, "big") + reply
        return bytes(out)

    def _handle(self, message: bytes) -> bytes | None:
        if len(message) == 1:
            code = message[0]
            if code == CTRL_ATR:
                return self.icc.atr
            if code == CTRL_ON:
                self.icc.power_on()
                self.powered = True
            elif code == CTRL_OFF:
                self.icc.power_off()
                self.powered = False
            elif code == CTRL_RESET:
                self.icc.reset()
                self.powered = True
            else:
                log.warning("vpcd: unknown control message %02X ignored", code)
            return None
        if not message:
            raise VpcdProtocolError("empty vpcd message")
        if not self.powered:  # vpcd powers the card before any APDU; be forgiving
            self.icc.power_on()
            self.powered = True
        self.apdus += 1
        return self.icc.transmit(message)


def _ack_now(stream: trio.SocketStream) -> None:
    """Acknowledge vpcd's bytes at once. vpcd (Debian's 3.3) writes a
    message's length and body separately with Nagle's algorithm on, so the body
    waits for the ACK of the length, which Linux delays up to 40 ms while the
    card has nothing to send yet: 50 ms per APDU instead of a fraction of one.
    Quick-ACK mode does not stick, so it is set after every read."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        with contextlib.suppress(OSError):
            stream.setsockopt(socket.IPPROTO_TCP, quickack, 1)


async def run_vpcd_card(
    icc: VirtualIcc,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    retry: float = 0.5,
    connections: float = math.inf,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep ``icc`` inserted in the vpcd reader at host:port until cancelled
    (or until ``connections`` connections have ended). Signals ``started``
    once the first connection is up."""
    started = False
    waiting_logged = False
    served = 0
    while served < connections:
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            if not waiting_logged:
                log.info("waiting for vpcd at %s:%d (%s)", host, port, exc.strerror or exc)
                waiting_logged = True
            await trio.sleep(retry)
            continue
        waiting_logged = False
        log.info("virtual card connected to vpcd at %s:%d", host, port)
        if not started:
            task_status.started()
            started = True
        protocol = VpcdProtocol(icc)
        async with stream:
            try:
                while True:
                    data = await stream.receive_some(MAX_MESSAGE + 2)
                    _ack_now(stream)
                    if not data:
                        break
                    reply = protocol.receive_data(data)
                    if reply:
                        await stream.send_all(reply)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            except VpcdProtocolError as exc:
                log.warning("vpcd at %s:%d: %s; reconnecting", host, port, exc)
        served += 1
        log.info("vpcd at %s:%d closed the connection (%d APDUs)", host, port, protocol.apdus)
        if served < connections:
            await trio.sleep(retry)
