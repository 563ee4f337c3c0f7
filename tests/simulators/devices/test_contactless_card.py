"""The virtual contactless cards, card side: PPSE, the qVSDC GPO (CTQ from the TTQ, fDDA),
the phone's "see phone", the EMV-mode single tap, MIFARE answers."""

from __future__ import annotations

import pytest

from base import tlv
from simulators.devices import VirtualCard, load_profile
from simulators.devices.pki import load_issuer_keys
from simulators.devices.profile import Profile
from tests.simulators.devices import odacheck
from tests.simulators.devices.terminal import ca_keys

H = bytes.fromhex
PPSE = H("00A404000E325041592E5359532E444446303100")
AC_TAGS = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37)


def send(card: VirtualCard, capdu: bytes) -> tuple[bytes, int]:
    rapdu = card.transmit(capdu)
    assert card.last_error is None
    return rapdu[:-2], int.from_bytes(rapdu[-2:], "big")


def activate(profile: str | Profile) -> VirtualCard:
    card = VirtualCard(load_profile(profile) if isinstance(profile, str) else profile)
    card.reset(contactless=True)
    return card


def select(card: VirtualCard, aid: bytes) -> dict[int, bytes]:
    data, sw = send(card, bytes([0, 0xA4, 4, 0, len(aid)]) + aid + b"\x00")
    assert sw == 0x9000
    return {o.tag: o.value for o in tlv.iter_primitives(data)}


def qvsdc_gpo(
    card: VirtualCard, ttq: str, amount: int, tt: int = 0
) -> tuple[dict[int, bytes], int]:
    values = {
        0x9F66: H(ttq),
        0x9F02: H(f"{amount:012d}"),
        0x9F03: bytes(6),
        0x9F1A: H("0643"),
        0x95: bytes(5),
        0x5F2A: H("0643"),
        0x9A: H("250615"),
        0x9C: bytes([tt]),
        0x9F37: H("1A2B3C4D"),
    }
    fci = select(card, H("A0000000031010"))
    pdol = b"".join(values[t][:n].rjust(n, b"\x00") for t, n in tlv.decode_dol(fci[0x9F38]))
    body = tlv.encode(0x83, pdol)
    data, sw = send(card, bytes([0x80, 0xA8, 0, 0, len(body)]) + body + b"\x00")
    if sw != 0x9000:
        return values, sw
    (template,) = tlv.decode(data)
    assert template.tag == 0x77
    return {**values, **{o.tag: o.value for o in template.children()}}, sw


def test_ppse_lists_the_applications_with_their_kernel() -> None:
    card = activate("cl-two-apps")
    data, sw = send(card, PPSE)
    assert sw == 0x9000
    directory = tlv.find(data, 0xBF0C)
    assert directory is not None
    entries = [{o.tag: o.value for o in e.children()} for e in tlv.decode(directory)]
    assert [(e[0x4F].hex().upper(), e[0x9F2A], e[0x87]) for e in entries] == [
        ("A0000000032010", b"\x03", b"\x01"),
        ("A0000000031010", b"\x03", b"\x02"),
    ]


# profile, TTQ, amount -> CID, CTQ, fDDA signature present
QVSDC = [
    ("visa-qvsdc", "36004000", 1500, 0x40, "2000", True),
    ("visa-qvsdc", "36804000", 1500, 0x80, "2000", False),  # online cryptogram required
    ("visa-qvsdc", "36404000", 1500, 0x40, "6000", True),  # CVM required: signature
    ("visa-qvsdc", "34404000", 1500, 0x80, "A000", False),  # no signature: online PIN
    ("visa-qvsdc", "3E804000", 1500, 0x00, "2000", False),  # offline-only, online needed
    ("visa-qvsdc", "36004000", 60_000, 0x80, "2000", False),  # over the cumulative limit
    ("cl-online-pin", "36404000", 1500, 0x80, "A000", False),  # online PIN preferred
    ("phone-wallet", "36004000", 1500, 0x40, "2080", True),  # CDCVM performed
    ("phone-wallet", "36400000", 1500, 0x40, "6000", True),  # reader without CDCVM
]


@pytest.mark.parametrize(("profile", "ttq", "amount", "cid", "ctq", "signed"), QVSDC)
def test_qvsdc_gpo(profile: str, ttq: str, amount: int, cid: int, ctq: str, signed: bool) -> None:
    card = activate(profile)
    values, sw = qvsdc_gpo(card, ttq, amount)
    assert sw == 0x9000
    assert values[0x9F27] == bytes([cid]) and values[0x9F6C] == H(ctq)
    assert (0x9F4B in values) is signed
    # the cryptogram verifies with the issuer keys over the PDOL data, AIP, ATC and IAD
    app = card.profile.applications[0]
    keys = load_issuer_keys().card(app.pan, app.psn)
    assert keys is not None
    data = {t: values[t] for t in (*AC_TAGS, 0x82, 0x9F36, 0x9F10, 0x9F26)}
    assert keys.crypto().verify_arqc(app.pan, app.psn, data)
    if signed:  # fDDA: SDAD over UN || amount || currency || 9F69, checked independently
        data_, records = app.data, {s: list(r) for s, r in app.files.items()}
        ca = ca_keys()[("A000000003", data_[0x8F].hex().upper())]
        issuer, _ = odacheck.issuer_key(
            ca, data_[0x90], data_.get(0x92, b""), data_[0x9F32], app.pan
        )
        static = odacheck.static_data(records, app.afl, app.aip, data_[0x9F4A])
        icc, _ = odacheck.icc_key(
            issuer, data_[0x9F46], data_.get(0x9F48, b""), data_[0x9F47], app.pan, static
        )
        card_auth = values[0x9F69]
        assert card_auth[0] == 0x01 and card_auth[5:7] == values[0x9F6C]
        terminal = values[0x9F37] + values[0x9F02] + values[0x5F2A] + card_auth
        dynamic = odacheck.sdad_dynamic_data(icc, values[0x9F4B], terminal)
        assert dynamic[1 : 1 + dynamic[0]] == values[0x9F36]  # the IDN is the ATC
    # a single tap: nothing more to say to the card
    assert send(card, H("80AE80001D") + bytes(29) + b"\x00")[1] == 0x6985


def test_phone_asks_to_be_unlocked_once() -> None:
    doc = load_profile("phone-wallet").to_json()
    doc["applications"][0]["contactless"]["see_phone"] = True
    card = activate(Profile.from_json(doc))
    atc = card.states[0].atc
    assert qvsdc_gpo(card, "36404000", 500_000)[1] == 0x6986
    assert card.states[0].atc == atc  # nothing counted
    card.reset(contactless=True)
    values, sw = qvsdc_gpo(card, "36404000", 500_000)
    assert sw == 0x9000 and values[0x9F6C] == H("2080")
    card.reset(contactless=True)
    assert qvsdc_gpo(card, "36404000", 500_000)[1] == 0x6986  # the unlock was used up
    card.reset(contactless=True)
    assert qvsdc_gpo(card, "36004000", 1500)[1] == 0x9000  # no CVM needed: no unlock


def test_gpo_refusal_is_6985() -> None:
    card = activate("cl-two-apps")
    fci = select(card, H("A0000000032010"))
    assert 0x9F66 in [t for t, _ in tlv.decode_dol(fci[0x9F38])]
    body = tlv.encode(0x83, bytes(sum(n for _, n in tlv.decode_dol(fci[0x9F38]))))
    assert send(card, bytes([0x80, 0xA8, 0, 0, len(body)]) + body + b"\x00")[1] == 0x6985


def test_emv_mode_single_tap_leaves_nothing_pending() -> None:
    card = activate("mc-contactless")
    state = card.states[0]
    select(card, H("A0000000041010"))
    assert send(card, H("80A8000002830000"))[1] == 0x9000
    cdol = card.profile.applications[0].cdol1
    cdol_data = bytes(sum(n for _, n in cdol))
    data, sw = send(card, bytes([0x80, 0xAE, 0x80, 0x00, len(cdol_data)]) + cdol_data + b"\x00")
    assert sw == 0x9000 and tlv.find(data, 0x9F27) == b"\x80"
    assert not state.online_pending  # the contact card would wait for its second AC


@pytest.mark.parametrize(("profile", "sw"), [("mifare-classic", 0x6A81), ("mifare-7byte", 0x6A82)])
def test_mifare_cards_take_no_emv_command(profile: str, sw: int) -> None:
    card = activate(profile)
    assert send(card, PPSE)[1] == sw
    assert send(card, H("80A8000002830000"))[1] in (sw, 0x6E00)
    assert send(card, H("00B2010C00"))[1] in (0x6A81, 0x6D00)
