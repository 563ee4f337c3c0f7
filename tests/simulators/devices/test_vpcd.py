"""The card side of vsmartcard's vpcd protocol, sans-I/O and over a socket."""

from __future__ import annotations

import json
import struct
from importlib import resources

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.atr import parse_atr
from hal.interfaces import CardInterface
from simulators.devices.profile import ContactSettings, Profile, ProfileError
from simulators.devices.vpcd import (
    CTRL_ATR,
    CTRL_OFF,
    CTRL_ON,
    CTRL_RESET,
    ContactIcc,
    VpcdProtocol,
    VpcdProtocolError,
    icc_for_profile,
    run_vpcd_card,
    t0_exchange,
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


READ_PSE_RECORD = bytes.fromhex("00B2010C00")  # case 2, Le 00: longer than the record


def recording(icc: ContactIcc) -> list[bytes]:
    """Record the TPDUs the card itself receives behind the slot's reader."""
    seen: list[bytes] = []
    send = icc.card.transmit

    def transmit(tpdu: bytes) -> bytes:
        seen.append(tpdu)
        return send(tpdu)

    icc.card.transmit = transmit  # type: ignore[method-assign]
    return seen


def test_the_default_card_is_t0_behind_a_reader_that_maps_apdus() -> None:
    """ISO/IEC 7816-3 12.2: a case-4 APDU reaches the T=0 card without its Le,
    the reader fetches the '61xx' with GET RESPONSE; a case-2 '6Cxx' is re-sent
    with P3 = xx. The application sees whole responses, as with a CCID reader."""
    icc = icc_for_profile("default")
    assert isinstance(icc, ContactIcc) and icc.card.t0
    assert icc.atr == bytes.fromhex("3B6800000073C84000009000")  # no TD1: T=0 alone
    seen = recording(icc)
    protocol = VpcdProtocol(icc)
    protocol.receive_data(frame(bytes([CTRL_ON])))
    (fci,) = frames(protocol.receive_data(frame(SELECT_PSE)))
    assert fci[0] == 0x6F and fci[-2:] == b"\x90\x00"
    assert seen == [SELECT_PSE[:-1], bytes([0x00, 0xC0, 0x00, 0x00, len(fci) - 2])]
    seen.clear()
    (record,) = frames(protocol.receive_data(frame(READ_PSE_RECORD)))
    assert record[0] == 0x70 and record[-2:] == b"\x90\x00"
    assert seen == [READ_PSE_RECORD, READ_PSE_RECORD[:4] + bytes([len(record) - 2])]
    # case 3: the application asked for no data; the '61xx' goes up as it is
    (waiting,) = frames(protocol.receive_data(frame(SELECT_PSE[:-1])))
    assert waiting[0] == 0x61 and len(waiting) == 2


def test_a_strict_slot_passes_the_le_of_case_4_to_the_t0_card() -> None:
    data = json.loads((resources.files("simulators.devices.profiles") / "default.json").read_text())
    data["contact"] = {"protocols": [0], "t0_strict": True}
    profile = Profile.from_json(data)
    assert profile.contact == ContactSettings((0,), t0_strict=True)
    assert Profile.from_json(profile.to_json()).contact == profile.contact
    for icc in (icc_for_profile(profile), icc_for_profile("default", strict=True)):
        protocol = VpcdProtocol(icc)
        protocol.receive_data(frame(bytes([CTRL_ON])))
        assert frames(protocol.receive_data(frame(SELECT_PSE))) == [b"\x67\x00"]  # Le on T=0
        (reply,) = frames(protocol.receive_data(frame(SELECT_PSE[:-1])))
        assert reply[0] == 0x61


@pytest.mark.parametrize(
    ("contact", "message"),
    [
        ({"protocols": [1, 0]}, "protocols"),
        ({"protocols": [2]}, "protocols"),
        ({"t0_strict": True, "speed": 9600}, "unknown"),
    ],
)
def test_contact_settings_are_checked(contact: dict[str, object], message: str) -> None:
    data = json.loads((resources.files("simulators.devices.profiles") / "default.json").read_text())
    data["contact"] = contact
    with pytest.raises(ProfileError, match=message):
        Profile.from_json(data)


@pytest.mark.parametrize("protocols", [(1,), (0, 1)])
def test_a_t1_card_gets_apdus_as_they_are(protocols: tuple[int, ...]) -> None:
    icc = icc_for_profile("default", protocols=protocols)
    assert isinstance(icc, ContactIcc) and parse_atr(icc.atr).protocols == protocols
    seen = recording(icc)
    (fci,) = frames(VpcdProtocol(icc).receive_data(frame(bytes([CTRL_ON])) + frame(SELECT_PSE)))
    assert fci[0] == 0x6F and fci[-2:] == b"\x90\x00"
    # offering T=0 at all, the card speaks it (vpcd does not say what was chosen)
    assert seen == ([SELECT_PSE] if protocols == (1,) else [SELECT_PSE[:-1], seen[1]])


class ScriptedCard:
    """A T=0 card that answers from a script, recording the TPDUs."""

    def __init__(self, *answers: str) -> None:
        self.answers = [bytes.fromhex(a) for a in answers]
        self.seen: list[str] = []

    def __call__(self, tpdu: bytes) -> bytes:
        self.seen.append(tpdu.hex().upper())
        return self.answers.pop(0)


@pytest.mark.parametrize(
    ("capdu", "answers", "sent", "result"),
    [
        # case 4, the data in two GET RESPONSEs
        ("80A8000002830000", ["6104", "AABB6102", "CCDD9000"],
         ["80A80000028300", "00C0000004", "00C0000002"], "AABBCCDD9000"),
        # case 4 with Le 02: GET RESPONSE asks for no more than Le; the rest is announced
        ("80A8000002830002", ["6104", "AABB6102"],
         ["80A80000028300", "00C0000002"], "AABB6102"),
        # case 4 refused, or a warning without data: the status goes up as it is
        ("80A8000002830000", ["6985"], ["80A80000028300"], "6985"),
        ("00A4040002AAAA00", ["6283"], ["00A4040002AAAA"], "6283"),
        # case 2 with Le 00 meaning 256; '6Cxx' then the record
        ("00B2010C00", ["6C03", "7001AA9000"], ["00B2010C00", "00B2010C03"], "7001AA9000"),
        # case 1 and case 3 pass unchanged
        ("00A40400", ["9000"], ["00A40400"], "9000"),
        ("0020008008241234FFFFFFFFFF", ["63C2"], ["0020008008241234FFFFFFFFFF"], "63C2"),
    ],
)  # fmt: skip
def test_t0_transport_layer(capdu: str, answers: list[str], sent: list[str], result: str) -> None:
    card = ScriptedCard(*answers)
    assert t0_exchange(card, bytes.fromhex(capdu)).hex().upper() == result
    assert card.seen == sent and not card.answers


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
