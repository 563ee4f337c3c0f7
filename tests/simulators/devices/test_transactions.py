"""A scripted transaction per profile: selection, GPO, records, ODA checked
independently, cardholder verification, GENERATE AC offline and online with the
issuer host's view of the cryptograms (committed issuer master keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from base import tlv
from simulators.devices import VirtualCard, list_profiles, load_profile
from simulators.devices.pki import load_issuer_keys
from tests.simulators.devices import odacheck
from tests.simulators.devices.terminal import PSE, CardError, ProbeTerminal

AAC, TC, ARQC = 0x00, 0x40, 0x80


@dataclass(frozen=True)
class Expect:
    oda: str  # sda, dda, cda, corrupt, expired-cert
    pin: str | None  # plain, icc, pin-key, blocked, none
    offline: int  # CID when the terminal asks for a TC
    online: int | None  # CID of the second GENERATE AC after an approval
    aid: str = "A0000000031010"
    select_sw: int = 0x9000
    pse: bool = True


CASES = {
    "default": Expect("cda", "plain", TC, TC),
    "sda": Expect("sda", "plain", TC, TC),
    "dda": Expect("dda", "icc", TC, TC),
    "cda": Expect("cda", "plain", TC, TC, aid="A0000000041010"),
    "mir": Expect("dda", "none", TC, TC, aid="A0000006581010"),
    "expired": Expect("dda", "plain", TC, TC),
    "blocked": Expect("dda", "plain", AAC, None, select_sw=0x6283),
    "pin-blocked": Expect("dda", "blocked", ARQC, TC),
    "two-apps": Expect("dda", "plain", TC, TC, aid="A0000000032010"),
    "signature": Expect("dda", "none", TC, TC),
    "corrupt-icc-cert": Expect("corrupt", "plain", TC, TC),
    "always-online": Expect("cda", "plain", ARQC, TC),
    "online-pin": Expect("cda", "none", TC, TC, aid="A0000000041010"),
    "enciphered-pin": Expect("cda", "pin-key", TC, TC),
    "card-decline": Expect("dda", "plain", AAC, None),
    "expired-cert": Expect("expired-cert", "plain", TC, TC),
    "no-pse": Expect("cda", "plain", TC, TC, pse=False),
    "nested-ddf": Expect("dda", "plain", TC, TC, aid="A0000000032010"),
}


def test_every_profile_has_a_case() -> None:
    assert set(CASES) == set(list_profiles("contact"))


def _prepare(name: str) -> tuple[ProbeTerminal, Expect]:
    expect = CASES[name]
    term = ProbeTerminal(VirtualCard(load_profile(name)))
    if expect.pse:
        entries = term.pse_entries()
        chosen = min(entries, key=lambda e: e.get(0x87, b"\x0f")[0] & 0x0F)
        assert chosen[0x4F].hex().upper() == expect.aid
    else:
        sw = term.send(bytes([0, 0xA4, 4, 0, len(PSE)]) + PSE + b"\x00")[1]
        assert sw == 0x6A82
    sw = term.select(bytes.fromhex(expect.aid))
    assert sw == expect.select_sw
    return term, expect


def _authenticate(term: ProbeTerminal, expect: Expect) -> None:
    if expect.oda == "sda":
        assert term.aip[0] & 0x40
        assert len(term.sda()) == 2
        return
    if expect.oda == "corrupt":
        with pytest.raises(odacheck.OdaCheckError):
            term.recover_icc_key()
        return
    _key, expiry = term.recover_icc_key()
    mm, yy = int(expiry[:1].hex()), int(expiry[1:].hex())
    cert_end = date(2000 + yy, mm, 1)
    if expect.oda == "expired-cert":
        assert cert_end < date(2025, 1, 1)
    else:
        assert cert_end > date(2030, 1, 1)
    if expect.oda in ("dda", "expired-cert"):
        assert term.aip[0] & 0x20 and not term.aip[0] & 0x01
        assert len(term.dda()) == 8
    else:
        assert term.aip[0] & 0x01


def _verify(term: ProbeTerminal, expect: Expect) -> None:
    if expect.pin == "plain":
        assert term.verify_plain("1234") == 0x9000
    elif expect.pin == "icc":
        assert term.icc_key is not None
        assert term.verify_enciphered("1234", term.icc_key) == 0x9000
    elif expect.pin == "pin-key":
        pin_key, _ = odacheck.icc_key(
            term.issuer_key(),
            term.data[0x9F2D],
            term.data.get(0x9F2F, b""),
            term.data[0x9F2E],
            term.pan,
            None,
        )
        assert term.verify_enciphered("1234", pin_key) == 0x9000
    elif expect.pin == "blocked":
        assert term.ok(bytes.fromhex("80CA9F1700")) == bytes.fromhex("9F170100")
        assert term.verify_plain("1234") == 0x6983
    else:
        assert term.verify_plain("1234") == 0x6A88


def _read(term: ProbeTerminal, expect: Expect) -> None:
    term.gpo()
    term.read_records()
    _authenticate(term, expect)
    _verify(term, expect)


def _p1(term: ProbeTerminal, kind: int) -> int:
    return kind | (0x10 if term.aip[0] & 0x01 else 0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_offline_request(name: str) -> None:
    term, expect = _prepare(name)
    if expect.select_sw != 0x9000:
        body = bytes.fromhex("8300")
        assert term.send(bytes.fromhex("80A8000002") + body + b"\x00")[1] == 0x6985
        return
    _read(term, expect)
    response = term.generate_ac(_p1(term, TC), term.data[0x8C])
    assert response[0x9F27][0] & 0xC0 == expect.offline
    issuer = load_issuer_keys().card(term.pan, term.psn)
    assert issuer is not None
    assert issuer.crypto().verify_arqc(term.pan, term.psn, term.ac_data(response))


@pytest.mark.parametrize("name", sorted(n for n, e in CASES.items() if e.select_sw == 0x9000))
def test_online_approval(name: str) -> None:
    term, expect = _prepare(name)
    _read(term, expect)
    atc_before = term.ok(bytes.fromhex("80CA9F3600"))
    first = term.generate_ac(_p1(term, ARQC), term.data[0x8C])
    if expect.online is None:
        assert first[0x9F27][0] & 0xC0 == AAC
        return
    assert first[0x9F27][0] == ARQC
    card_keys = load_issuer_keys().card(term.pan, term.psn)
    assert card_keys is not None
    host = card_keys.crypto()
    field55 = term.ac_data(first)
    assert host.verify_arqc(term.pan, term.psn, field55)
    assert not host.verify_arqc(term.pan, "99", field55)
    iad91 = host.make_arpc(term.pan, term.psn, field55)
    term.values[0x8A] = b"00"
    if term.aip[0] & 0x04:
        assert term.send(bytes([0, 0x82, 0, 0, len(iad91)]) + iad91)[1] == 0x9000
    else:
        assert 0x91 in {tag for tag, _ in tlv.decode_dol(term.data[0x8D])}
        term.values[0x91] = iad91
    second = term.generate_ac(_p1(term, TC), term.data[0x8D])
    assert second[0x9F27][0] & 0xC0 == expect.online
    # the ATC moved at GPO only; the online approval is remembered in 9F13
    atc = term.ok(bytes.fromhex("80CA9F3600"))
    assert atc == atc_before == bytes.fromhex("9F36020011")
    assert term.ok(bytes.fromhex("80CA9F1300"))[3:] == atc[3:]
    assert host.compute_ac(term.pan, term.psn, term.ac_data(second)) == second[0x9F26]


@pytest.mark.parametrize("name", ["default", "sda", "mir", "cda"])
def test_tampered_arpc_is_refused(name: str) -> None:
    term, expect = _prepare(name)
    _read(term, expect)
    first = term.generate_ac(_p1(term, ARQC), term.data[0x8C])
    host = load_issuer_keys().card(term.pan, term.psn)
    assert host is not None
    iad91 = bytearray(host.crypto().make_arpc(term.pan, term.psn, term.ac_data(first)))
    iad91[0] ^= 0x01
    term.values[0x8A] = b"00"
    if term.aip[0] & 0x04:
        assert term.send(bytes([0, 0x82, 0, 0, len(iad91)]) + bytes(iad91))[1] == 0x6300
    else:
        term.values[0x91] = bytes(iad91)
    second = term.generate_ac(_p1(term, TC), term.data[0x8D])
    # these profiles do not insist on issuer authentication: approved, CVR says failed
    assert second[0x9F27][0] & 0xC0 == TC
    cvr = host.version.cvr_from_iad(second[0x9F10])
    if host.version.iad_layout == "vis":
        assert cvr[1] & 0x08
    else:
        assert cvr[2] & 0x08
    # and the next transaction goes online because issuer authentication failed
    term.card.reset()
    term2, _ = _prepare_on(term.card, expect)
    assert term2.generate_ac(_p1(term2, TC), term2.data[0x8C])[0x9F27][0] & 0xC0 == ARQC


def _prepare_on(card: VirtualCard, expect: Expect) -> tuple[ProbeTerminal, Expect]:
    term = ProbeTerminal(card)
    assert term.select(bytes.fromhex(expect.aid)) == 0x9000
    term.gpo()
    term.read_records()
    if expect.oda in ("dda", "cda"):
        term.recover_icc_key()
    return term, expect


def test_offline_counters_push_online() -> None:
    """default: 5 consecutive offline TCs, the sixth request goes online."""
    card = VirtualCard(load_profile("default"))
    for _ in range(5):
        term, _e = _prepare_on(card, CASES["default"])
        term.values[0x9F02] = bytes.fromhex("000000001000")  # well under the sum limit
        assert term.generate_ac(_p1(term, TC), term.data[0x8C])[0x9F27][0] == TC
        card.reset()
    term, _e = _prepare_on(card, CASES["default"])
    response = term.generate_ac(_p1(term, TC), term.data[0x8C])
    assert response[0x9F27][0] == ARQC
    cvr = response[0x9F10][3:7]
    assert cvr[2] & 0x20  # exceeded velocity checking counters


def test_cumulative_offline_amount_limit() -> None:
    card = VirtualCard(load_profile("sda"))
    term, _e = _prepare_on(card, CASES["sda"])
    term.values[0x9F02] = bytes.fromhex("000000040000")
    assert term.generate_ac(TC, term.data[0x8C])[0x9F27][0] == TC
    card.reset()
    term, _e = _prepare_on(card, CASES["sda"])
    term.values[0x9F02] = bytes.fromhex("000000010001")  # 400.00 + 100.01 > 500.00
    assert term.generate_ac(TC, term.data[0x8C])[0x9F27][0] == ARQC


@pytest.mark.parametrize(
    ("name", "cid"), [("default", TC), ("always-online", AAC), ("card-decline", AAC)]
)
def test_unable_to_go_online(name: str, cid: int) -> None:
    term, _e = _prepare_on(VirtualCard(load_profile(name)), CASES[name])
    first = term.generate_ac(_p1(term, ARQC), term.data[0x8C])
    if first[0x9F27][0] != ARQC:
        assert cid == AAC
        return
    term.values[0x8A] = b"Z3"
    second = term.generate_ac(_p1(term, TC), term.data[0x8D])
    assert second[0x9F27][0] == cid
    assert second[0x9F10][4] & 0x01  # CVR: unable to go online


def test_incomplete_online_transaction_is_remembered() -> None:
    card = VirtualCard(load_profile("sda"))
    term, _e = _prepare_on(card, CASES["sda"])
    assert term.generate_ac(ARQC, term.data[0x8C])[0x9F27][0] == ARQC
    card.reset()  # card pulled before the second GENERATE AC
    term, _e = _prepare_on(card, CASES["sda"])
    response = term.generate_ac(TC, term.data[0x8C])
    assert response[0x9F27][0] == ARQC
    assert response[0x9F10][5] & 0x80  # CVR byte 3: last online transaction not completed


def test_cda_in_second_generate_ac_covers_cdol2() -> None:
    term, expect = _prepare("default")
    _read(term, expect)
    first = term.generate_ac(0x90, term.data[0x8C])
    host = load_issuer_keys().card(term.pan, term.psn)
    assert host is not None
    term.values[0x8A] = b"00"
    term.values[0x91] = host.crypto().make_arpc(term.pan, term.psn, term.ac_data(first))
    second = term.generate_ac(0x50, term.data[0x8D])  # hash checked inside
    assert second[0x9F27][0] == TC


def test_pin_try_counter_and_block() -> None:
    card = VirtualCard(load_profile("sda"))
    term, _e = _prepare_on(card, CASES["sda"])
    assert term.verify_plain("0000") == 0x63C2
    assert term.verify_plain("0000") == 0x63C1
    assert term.verify_plain("1234") == 0x9000  # a correct PIN resets the counter
    assert term.ok(bytes.fromhex("80CA9F1700")) == bytes.fromhex("9F170103")
    for left in (2, 1, 0):
        assert term.verify_plain("9999") == 0x63C0 | left
    assert term.verify_plain("1234") == 0x6983
    card.reset()  # the counter survives a power cycle
    term, _e = _prepare_on(card, CASES["sda"])
    assert term.verify_plain("1234") == 0x6983
    assert term.ok(bytes.fromhex("80CA9F1700")) == bytes.fromhex("9F170100")


def test_enciphered_pin_wrong_challenge_costs_a_try() -> None:
    term, _e = _prepare_on(VirtualCard(load_profile("dda")), CASES["dda"])
    assert term.icc_key is not None
    assert term.verify_enciphered("1234", term.icc_key, bad_un=True) == 0x63C2
    assert term.verify_enciphered("4321", term.icc_key) == 0x63C1
    assert term.verify_enciphered("1234", term.icc_key) == 0x9000


def test_blocked_profile_select_answers_fci_with_6283() -> None:
    term, _e = _prepare("blocked")
    assert term.fci[0x84] == bytes.fromhex("A0000000031010")


def test_select_next_walks_partial_aid() -> None:
    term = ProbeTerminal(VirtualCard(load_profile("two-apps")))
    partial = bytes.fromhex("A000000003")
    first = term.card.transmit(bytes([0, 0xA4, 4, 0, 5]) + partial + b"\x00")
    second = term.card.transmit(bytes([0, 0xA4, 4, 2, 5]) + partial + b"\x00")
    third = term.card.transmit(bytes([0, 0xA4, 4, 2, 5]) + partial + b"\x00")
    assert bytes.fromhex("A0000000032010") in first and first[-2:] == b"\x90\x00"
    assert bytes.fromhex("A0000000031010") in second and second[-2:] == b"\x90\x00"
    assert third == bytes.fromhex("6A82")


def test_card_error_carries_status() -> None:
    term = ProbeTerminal(VirtualCard(load_profile("default")))
    with pytest.raises(CardError) as info:
        term.ok(bytes.fromhex("80A8000002830000"))
    assert info.value.sw == 0x6985
