"""The card side of vsmartcard's vpcd protocol, sans-I/O and over a socket."""

from __future__ import annotations

import struct

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.interfaces import CardInterface
from hal.sim.profile import ProfileError
from hal.sim.vpcd import (
    CTRL_ATR,
    CTRL_OFF,
    CTRL_ON,
    CTRL_RESET,
    ContactIcc,
    VpcdProtocol,
    VpcdProtocolError,
    icc_for_profile,
    run_vpcd_card,
)

SELECT_PSE = bytes.fromhex("00A404000E315041592E5359532E444446303100")


def frame(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def frames(data: bytes) -> list[bytes]:
    out = []
    while data:
        (size,) = struct.unpack(">H", data[:2])
        out.append(data[2 : 2 + size])
        data = data[2 + size :]
    return out


def test_control_messages_and_apdus() -> None:
    icc = icc_for_profile("default")
    protocol = VpcdProtocol(icc)
    assert protocol.receive_data(frame(bytes([CTRL_ATR]))) == frame(icc.atr)
    assert protocol.receive_data(frame(bytes([CTRL_ON]))) == b""
    assert protocol.powered
    (reply,) = frames(protocol.receive_data(frame(SELECT_PSE)))
    assert reply[0] == 0x6F and reply[-2:] == b"\x90\x00"
    assert protocol.receive_data(frame(bytes([CTRL_RESET]))) == b""
    assert protocol.receive_data(frame(bytes([CTRL_OFF]))) == b""
    assert not protocol.powered
    assert protocol.apdus == 1


def test_split_and_coalesced_messages() -> None:
    icc = icc_for_profile("default")
    stream = frame(bytes([CTRL_ON])) + frame(SELECT_PSE) + frame(bytes([CTRL_ATR]))
    protocol = VpcdProtocol(icc)
    out = b""
    for byte in stream:  # one byte at a time
        out += protocol.receive_data(bytes([byte]))
    whole = VpcdProtocol(icc_for_profile("default")).receive_data(stream)
    assert out == whole
    select, atr = frames(out)
    assert select[-2:] == b"\x90\x00" and atr == icc.atr


def test_t0_atr_and_the_wire_rule() -> None:
    icc = icc_for_profile("default", t0=True)
    assert isinstance(icc, ContactIcc)
    assert icc.atr[1] & 0x80 == 0  # no TD1: T=0 only
    protocol = VpcdProtocol(icc)
    protocol.receive_data(frame(bytes([CTRL_ON])))
    assert frames(protocol.receive_data(frame(SELECT_PSE))) == [b"\x67\x00"]  # Le on T=0
    (reply,) = frames(protocol.receive_data(frame(SELECT_PSE[:-1])))
    assert reply[0] == 0x61


def test_contactless_and_mifare_iccs() -> None:
    icc = icc_for_profile("mifare-classic", CardInterface.CONTACTLESS)
    assert icc.atr.hex().upper() == "3B8F8001804F0CA000000306030001000000006A"
    protocol = VpcdProtocol(icc)
    (uid,) = frames(protocol.receive_data(frame(bytes.fromhex("FFCA000000"))))
    assert uid == bytes.fromhex("5A3C9E179000")
    with pytest.raises(ProfileError):
        icc_for_profile("mifare-classic", CardInterface.CONTACT)
    with pytest.raises(ProfileError):
        icc_for_profile("no-such-card")


def test_empty_message_is_a_protocol_error() -> None:
    protocol = VpcdProtocol(icc_for_profile("default"))
    with pytest.raises(VpcdProtocolError):
        protocol.receive_data(b"\x00\x00")


@settings(max_examples=60)
@given(data=st.binary(max_size=300))
def test_garbage_gives_bytes_or_the_protocol_error(data: bytes) -> None:
    protocol = VpcdProtocol(icc_for_profile("default"))
    try:
        out = protocol.receive_data(data)
    except VpcdProtocolError:
        return
    assert isinstance(out, bytes)


async def test_socket_client_serves_and_reconnects() -> None:
    """A stand-in for vpcd's listening socket: two connections in turn; the
    card answers the ATR request and an APDU on each."""
    icc = icc_for_profile("default")
    answers: list[list[bytes]] = []
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def vpcd_side() -> None:
        for _ in range(2):
            stream = await listeners[0].accept()
            async with stream:
                await stream.send_all(frame(bytes([CTRL_ATR])) + frame(bytes([CTRL_ON])))
                await stream.send_all(frame(SELECT_PSE))
                data = b""
                while len(frames_safe(data)) < 2:
                    data += await stream.receive_some(4096)
                answers.append(frames(data))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(vpcd_side)
            nursery.start_soon(lambda: run_vpcd_card(icc, port=port, retry=0.01, connections=2))
    for atr, select in answers:
        assert atr == icc.atr and select[-2:] == b"\x90\x00"
    assert len(answers) == 2
    await listeners[0].aclose()


def frames_safe(data: bytes) -> list[bytes]:
    out = []
    while len(data) >= 2:
        (size,) = struct.unpack(">H", data[:2])
        if len(data) < 2 + size:
            break
        out.append(data[2 : 2 + size])
        data = data[2 + size :]
    return out
