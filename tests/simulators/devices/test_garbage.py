"""Hypothesis: whatever bytes arrive, the virtual card answers a status word
(6700, 6A86, 6D00, 6E00, ...) and never raises or hits an internal fault."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.devices import VirtualCard, load_profile

SELECT = bytes.fromhex("00A4040007A000000003101000")
GPO = bytes.fromhex("80A8000006830406430643" + "00")
GENAC = bytes.fromhex("80AE90001D" + "000000001000000000000000064300000000000643250115000102030400")
PROFILE = load_profile("default")

INS = [0xA4, 0xB2, 0xA8, 0xCA, 0x84, 0x20, 0x88, 0xAE, 0x82, 0x1E, 0x18, 0x16, 0x24, 0xDA, 0xC0]
CLA = [0x00, 0x80, 0x84, 0x04, 0x0C, 0x8C, 0x01, 0xFF]

commands = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda cla, ins, p1, p2, data, le: (
            bytes([cla, ins, p1, p2])
            + (bytes([len(data)]) + data if data else b"")
            + (bytes([le]) if le is not None else b"")
        ),
        st.sampled_from(CLA),
        st.sampled_from(INS),
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(max_size=255),
        st.none() | st.integers(0, 255),
    ),
)


def _card(stage: int, t0: bool) -> VirtualCard:
    card = VirtualCard(PROFILE, t0=t0)
    for capdu in (SELECT, GPO, GENAC)[:stage]:
        r = card.transmit(capdu)
        assert r[-2] in (0x90, 0x61), r.hex()
        if r[-2] == 0x61:
            card.transmit(bytes([0, 0xC0, 0, 0, r[-1]]))
    return card


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stage=st.integers(0, 3),
    t0=st.booleans(),
    capdus=st.lists(commands, min_size=1, max_size=6),
)
def test_any_command_gets_a_status_word(stage: int, t0: bool, capdus: list[bytes]) -> None:
    card = _card(stage, t0)
    for capdu in capdus:
        rapdu = card.transmit(capdu)
        assert isinstance(rapdu, bytes) and len(rapdu) >= 2
        assert card.last_error is None, repr(card.last_error)
        assert rapdu[-2:] != b"\x6f\x00"
        assert rapdu[-2] in (0x90, 0x61, 0x62, 0x63, 0x67, 0x68, 0x69, 0x6A, 0x6C, 0x6D, 0x6E)
    # after any garbage the card still starts a transaction after a power cycle
    card.reset()
    rapdu = card.transmit(SELECT)
    assert rapdu[-2:] in (b"\x90\x00", b"\x62\x83", b"\x6a\x81") or rapdu[0] == 0x61
