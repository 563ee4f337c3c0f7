"""APDU-level behaviour of the virtual card, command by command, including the
error status words. Fixtures are hex dumps of C-APDUs."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from base.crypto import pinblock
from simulators.devices import VirtualCard, load_profile
from simulators.devices.apdu import ApduError, Command, parse
from simulators.devices.card import Phase
from simulators.devices.pki import load_issuer_keys
from tests.simulators.devices.terminal import ProbeTerminal

H = bytes.fromhex
SELECT_PSE = H("00A404000E315041592E5359532E444446303100")
SELECT_VISA = H("00A4040007A000000003101000")
GPO_EMPTY = H("80A8000002830000")
# default profile PDOL: 9F1A02 5F2A02
GPO_DEFAULT = H("80A8000006830406430643" + "00")


def counter(start: int = 0) -> Callable[[int], bytes]:
    """A repeatable rng for the card: 01 02 03 ..."""
    numbers = itertools.count(start + 1)

    def rng(n: int) -> bytes:
        return bytes(next(numbers) & 0xFF for _ in range(n))

    return rng


def card(name: str = "sda", **kw: object) -> VirtualCard:
    return VirtualCard(load_profile(name), **kw)  # type: ignore[arg-type]


def sw(rapdu: bytes) -> str:
    return rapdu[-2:].hex().upper()


def run(c: VirtualCard, *capdus: str) -> list[str]:
    return [c.transmit(H(x)).hex().upper() for x in capdus]


# --- C-APDU parsing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("hexdump", "expected"),
    [
        ("00A40400", Command(0, 0xA4, 4, 0, b"", None)),
        ("00B2010C00", Command(0, 0xB2, 1, 0x0C, b"", 256)),
        ("00B2010C1D", Command(0, 0xB2, 1, 0x0C, b"", 0x1D)),
        ("0020008002AABB", Command(0, 0x20, 0, 0x80, H("AABB"), None)),
        ("00A4040002AABB00", Command(0, 0xA4, 4, 0, H("AABB"), 256)),
    ],
)
def test_parse_cases(hexdump: str, expected: Command) -> None:
    assert parse(H(hexdump)) == expected


@pytest.mark.parametrize(
    "hexdump", ["", "00", "00A404", "00A404000001", "0020008002AA", "0020008001AABBCC"]
)
def test_parse_wrong_length(hexdump: str) -> None:
    with pytest.raises(ApduError) as info:
        parse(H(hexdump))
    assert info.value.sw == 0x6700


@pytest.mark.parametrize(
    ("capdu", "status"),
    [
        ("00A404", "6700"),  # shorter than a header
        ("90A404000E315041592E5359532E444446303100", "6E00"),  # unknown class
        ("01A404000E315041592E5359532E444446303100", "6881"),  # logical channel 1
        ("80A404000E315041592E5359532E444446303100", "6E00"),  # SELECT is not proprietary
        ("00FE000000", "6D00"),  # unknown instruction
        ("00A4040001AA0000", "6700"),  # Lc does not match
        ("00A4040000", "6700"),  # extended length announced
    ],
)
def test_class_instruction_and_length_errors(capdu: str, status: str) -> None:
    assert sw(card().transmit(H(capdu))) == status


# --- SELECT ---------------------------------------------------------------------


def test_select_pse_and_directory() -> None:
    c = card("default")
    fci, record, beyond = run(c, SELECT_PSE.hex(), "00B2010C00", "00B2020C00")
    assert fci.startswith("6F1C840E315041592E5359532E4444463031") and fci.endswith("9000")
    assert "4F07A0000000031010" in record and record.endswith("9000")
    assert beyond == "6A83"


@pytest.mark.parametrize(
    ("capdu", "status"),
    [
        ("00A4000002" + "3F00" + "00", "6A81"),  # select by file identifier
        ("00A4040C07A000000003101000", "6A86"),  # P2 other than first/next
        ("00A4040007A000000099999900", "6A82"),  # no such AID
        ("00A4040000", "6700"),  # no name
    ],
)
def test_select_errors(capdu: str, status: str) -> None:
    assert sw(card().transmit(H(capdu))) == status


def test_select_without_pse() -> None:
    assert sw(card("no-pse").transmit(SELECT_PSE)) == "6A82"


def test_select_blocked_application_gives_fci_and_6283() -> None:
    c = card("blocked")
    r = c.transmit(SELECT_VISA)
    assert r[:2] == H("6F22") and sw(r) == "6283"
    assert sw(c.transmit(GPO_EMPTY)) == "6985"


# --- READ RECORD ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capdu", "status"),
    [
        ("00B2010800", "6A86"),  # P2 low bits not 100
        ("00B2010400", "6A86"),  # SFI 0
        ("00B2017C00", "6A82"),  # SFI 15 not on this card
        ("00B2000C00", "6A83"),  # record 0
        ("00B2090C00", "6A83"),  # no record 9
        ("00B2010C0100", "6700"),  # data field present
    ],
)
def test_read_record_errors(capdu: str, status: str) -> None:
    c = card()
    c.transmit(SELECT_VISA)
    assert sw(c.transmit(H(capdu))) == status


def test_read_record_needs_a_selected_file() -> None:
    assert sw(card().transmit(H("00B2010C00"))) == "6A82"


# --- GET PROCESSING OPTIONS ------------------------------------------------------


def test_gpo_formats_and_atc() -> None:
    c = card("sda")
    c.transmit(SELECT_VISA)
    r = c.transmit(GPO_EMPTY)
    assert r.hex().upper() == "800E5C000801010110010101180102009000"
    assert c.states[0].atc == 0x11
    c2 = card("default")
    c2.transmit(SELECT_VISA)
    r2 = c2.transmit(GPO_DEFAULT)
    assert r2[:2] == H("7712") and sw(r2) == "9000"


@pytest.mark.parametrize(
    ("capdu", "status"),
    [
        ("80A8010002830000", "6A86"),
        ("80A800000284000000"[:-2], "6A80"),  # not tag 83
        ("80A80000038301AA00", "6700"),  # PDOL is empty: 83 must be empty
        ("80A80000028381", "6A80"),  # malformed TLV
    ],
)
def test_gpo_errors(capdu: str, status: str) -> None:
    c = card("sda")
    c.transmit(SELECT_VISA)
    assert sw(c.transmit(H(capdu))) == status


def test_gpo_needs_selection_and_only_once() -> None:
    c = card("sda")
    assert sw(c.transmit(GPO_EMPTY)) == "6985"
    c.transmit(SELECT_VISA)
    assert sw(c.transmit(GPO_EMPTY)) == "9000"
    assert sw(c.transmit(GPO_EMPTY)) == "6985"


def test_gpo_checks_pdol_length() -> None:
    c = card("default")
    c.transmit(SELECT_VISA)
    assert sw(c.transmit(GPO_EMPTY)) == "6700"


# --- GET DATA / GET CHALLENGE -------------------------------------------------------


def test_get_data() -> None:
    c = card("sda")
    c.transmit(SELECT_VISA)
    c.transmit(GPO_EMPTY)
    assert run(c, "80CA9F3600", "80CA9F1300", "80CA9F1700", "80CA9F5800", "80CA9F5400") == [
        "9F360200119000",
        "9F1302000F9000",
        "9F1701039000",
        "9F5801059000",
        "9F5406000000050000" + "9000",
    ]
    assert run(c, "80CA9F4F00", "80CA005A00", "00CA9F3600", "80CA9F360100") == [
        "6A88",
        "6A88",
        "6E00",
        "6700",
    ]


def test_get_data_before_selection() -> None:
    assert sw(card().transmit(H("80CA9F3600"))) == "6985"


def test_get_challenge() -> None:
    c = card(rng=counter())
    assert c.transmit(H("0084000000")).hex().upper() == "01020304050607089000"
    assert sw(c.transmit(H("0084000100"))) == "6A86"
    assert sw(c.transmit(H("008400000100"))) == "6700"


# --- VERIFY -----------------------------------------------------------------------------


def _ready(name: str = "sda", **kw: object) -> VirtualCard:
    c = card(name, **kw)
    assert (
        sw(c.transmit(SELECT_VISA if name != "mir" else H("00A4040007A000000658101000"))) == "9000"
    )
    assert sw(c.transmit(GPO_EMPTY if name not in ("default", "mir") else _gpo_for(c))) == "9000"
    return c


def _gpo_for(c: VirtualCard) -> bytes:
    length = sum(n for _, n in c.profile.applications[0].pdol)
    return bytes([0x80, 0xA8, 0, 0, length + 2, 0x83, length]) + bytes(length) + b"\x00"


@pytest.mark.parametrize(
    ("capdu", "status"),
    [
        ("0020018008241234FFFFFFFFFF", "6A86"),  # P1 must be 00
        ("0020008108241234FFFFFFFFFF", "6A86"),  # unknown qualifier
        ("0020008007241234FFFFFFFF", "6700"),  # not 8 bytes
        ("0020008008341234FFFFFFFFFF", "6A80"),  # not a format-2 block
        ("0020008000"[:-2], "63C3"),  # no data: tries left
    ],
)
def test_verify_errors(capdu: str, status: str) -> None:
    assert sw(_ready().transmit(H(capdu))) == status


def test_verify_before_gpo() -> None:
    c = card()
    c.transmit(SELECT_VISA)
    assert sw(c.transmit(H("0020008008") + pinblock.encode_iso2("1234"))) == "6985"


def test_verify_without_offline_pin() -> None:
    c = _ready("mir")
    assert sw(c.transmit(H("0020008008") + pinblock.encode_iso2("1234"))) == "6A88"


def test_enciphered_verify_errors() -> None:
    c = _ready("sda")  # no ICC key: no enciphered PIN
    assert sw(c.transmit(H("0020008880") + bytes(128))) == "6A88"
    d = _ready("dda")
    assert sw(d.transmit(H("0020008808") + bytes(8))) == "6700"
    # a block that is not smaller than the modulus cannot be deciphered: a failed try
    assert sw(d.transmit(H("0020008880") + b"\xff" * 128)) == "63C2"


# --- INTERNAL AUTHENTICATE -----------------------------------------------------------


def test_internal_authenticate_errors() -> None:
    assert sw(_ready("sda").transmit(H("00880000041122334400"))) == "6A81"
    d = _ready("dda")
    assert sw(d.transmit(H("0088000000"))) == "6700"
    assert sw(d.transmit(H("00880100041122334400"))) == "6A86"
    r = d.transmit(H("00880000041122334400"))
    assert r[:3] == H("808180") and len(r) == 3 + 128 + 2  # format 1, 1024-bit SDAD
    assert sw(r) == "9000"


# --- GENERATE AC / EXTERNAL AUTHENTICATE -------------------------------------------------

CDOL1_SDA = (
    "000000001000" + "000000000000" + "0643" + "0000000000" + "0643" + "250115" + "00" + "01020304"
)


def test_generate_ac_errors() -> None:
    c = _ready()
    ok = "80AE8000" + "1D" + CDOL1_SDA + "00"
    assert (
        run(
            c,
            "80AEC000" + "1D" + CDOL1_SDA + "00",  # type 11 is RFU
            "80AE8100" + "1D" + CDOL1_SDA + "00",  # RFU bit
            "80AE8001" + "1D" + CDOL1_SDA + "00",  # P2
            "80AE8000" + "1C" + CDOL1_SDA[:-2] + "00",  # CDOL1 length
        )
        == ["6A86", "6A86", "6A86", "6700"]
    )
    assert sw(c.transmit(H(ok))) == "9000"
    # second GENERATE AC may not ask for another ARQC
    cdol2 = "3030" + CDOL1_SDA
    assert sw(c.transmit(H("80AE8000" + "1F" + cdol2 + "00"))) == "6A86"
    assert sw(c.transmit(H("80AE4000" + "1F" + cdol2 + "00"))) == "9000"
    assert sw(c.transmit(H("80AE4000" + "1F" + cdol2 + "00"))) == "6985"


def test_generate_ac_before_gpo() -> None:
    c = card()
    c.transmit(SELECT_VISA)
    assert sw(c.transmit(H("80AE8000" + "1D" + CDOL1_SDA + "00"))) == "6985"


def test_generate_ac_format_1_layout() -> None:
    c = _ready()
    r = c.transmit(H("80AE8000" + "1D" + CDOL1_SDA + "00"))
    assert r[0] == 0x80 and r[2] == 0x80  # format 1, CID = ARQC
    assert r[3:5] == H("0011")  # ATC
    assert r[13:-2] == H("06010A03A00000")  # VIS IAD: DKI 01, CVN 0A, CVR 03 A0 00 00


def test_external_authenticate_errors() -> None:
    c = _ready()
    assert sw(c.transmit(H("00820000" + "0A" + "00" * 10))) == "6985"  # no ARQC yet
    c.transmit(H("80AE8000" + "1D" + CDOL1_SDA + "00"))
    assert sw(c.transmit(H("00820000" + "07" + "00" * 7))) == "6700"
    assert sw(c.transmit(H("00820100" + "0A" + "00" * 10))) == "6A86"
    assert sw(c.transmit(H("00820000" + "0A" + "00" * 10))) == "6300"
    assert sw(c.transmit(H("00820000" + "0A" + "00" * 10))) == "6985"  # only once


def test_aac_ends_the_transaction() -> None:
    c = _ready()
    assert c.transmit(H("80AE0000" + "1D" + CDOL1_SDA + "00"))[2] == 0x00
    assert sw(c.transmit(H("80AE4000" + "1F" + "3030" + CDOL1_SDA + "00"))) == "6985"


# --- issuer scripts ---------------------------------------------------------------------


def _online(name: str = "sda") -> tuple[ProbeTerminal, dict[int, bytes]]:
    term = ProbeTerminal(VirtualCard(load_profile(name)))
    term.select(bytes.fromhex("A0000000031010"))
    term.gpo()
    term.read_records()
    first = term.generate_ac(0x80, term.data[0x8C])
    return term, term.ac_data(first)


def _host(term: ProbeTerminal):  # type: ignore[no-untyped-def]
    entry = load_issuer_keys().card(term.pan, term.psn)
    assert entry is not None
    return entry.crypto()


@pytest.mark.parametrize("name", ["sda", "default"])
def test_application_block_script(name: str) -> None:
    term, data = _online(name)
    host = _host(term)
    script = host.script_command(term.pan, term.psn, data, H("841E0000"))
    assert term.send(script)[1] == 0x9000
    term.card.reset()
    assert term.select(bytes.fromhex("A0000000031010")) == 0x6283
    # and APPLICATION UNBLOCK needs an online transaction, which a blocked app cannot start
    assert term.send(GPO_EMPTY)[1] == 0x6985


def test_application_block_then_unblock_in_one_session() -> None:
    term, data = _online()
    host = _host(term)
    assert term.send(host.script_command(term.pan, term.psn, data, H("841E0000")))[1] == 0x9000
    assert term.send(host.script_command(term.pan, term.psn, data, H("84180000")))[1] == 0x9000
    term.card.reset()
    assert term.select(bytes.fromhex("A0000000031010")) == 0x9000


def test_card_block_script() -> None:
    term, data = _online()
    host = _host(term)
    assert term.send(host.script_command(term.pan, term.psn, data, H("84160000")))[1] == 0x9000
    term.card.reset()
    assert term.card.transmit(SELECT_PSE) == H("6A81")
    assert term.card.transmit(SELECT_VISA) == H("6A81")


@pytest.mark.parametrize("name", ["sda", "default", "cda", "mir"])
def test_pin_change_script(name: str) -> None:
    aid = {"cda": "A0000000041010", "mir": "A0000006581010"}.get(name, "A0000000031010")
    term = ProbeTerminal(VirtualCard(load_profile(name)))
    term.select(bytes.fromhex(aid))
    term.gpo()
    term.read_records()
    data = term.ac_data(term.generate_ac(0x80, term.data[0x8C]))
    host = _host(term)
    command = host.pin_change_command(term.pan, term.psn, data, "4321")
    status = term.send(command)[1]
    if name == "mir":
        assert status == 0x6A88  # the card has no offline PIN
        return
    assert status == 0x9000
    assert term.card.states[0].pin == "4321"
    assert term.verify_plain("4321") == 0x9000


def test_pin_change_with_current_pin_and_unblock() -> None:
    term, data = _online("sda")
    host = _host(term)
    assert term.verify_plain("0000") == 0x63C2
    wrong = host.pin_change_command(term.pan, term.psn, data, "5555", current_pin="9999")
    assert term.send(wrong)[1] == 0x6A80  # the current PIN garbles the block
    right = host.pin_change_command(term.pan, term.psn, data, "5555", current_pin="1234")
    assert term.send(right)[1] == 0x9000
    assert term.card.states[0].pin == "5555"
    assert term.card.states[0].pin_try_counter == 3
    term.verify_plain("0000")
    unblock = host.script_command(term.pan, term.psn, data, H("84240000"))
    assert term.send(unblock)[1] == 0x9000
    assert term.card.states[0].pin_try_counter == 3


def test_put_data_script_changes_card_risk() -> None:
    term, data = _online("sda")
    host = _host(term)
    command = host.script_command(term.pan, term.psn, data, H("04DA9F58"), b"\x09")
    assert term.send(command)[1] == 0x9000
    assert term.ok(H("80CA9F5800")) == H("9F580109")
    bad = host.script_command(term.pan, term.psn, data, H("04DA9F54"), H("0000000000AA"))
    assert term.send(bad)[1] == 0x6A80
    unknown = host.script_command(term.pan, term.psn, data, H("04DA5F20"), b"X")
    assert term.send(unknown)[1] == 0x6A88


def test_script_errors() -> None:
    c = _ready()
    assert sw(c.transmit(H("841E000008" + "00" * 8))) == "6985"  # no ARQC yet
    term, data = _online()
    host = _host(term)
    good = host.script_command(term.pan, term.psn, data, H("841E0000"))
    assert term.send(good[:-1] + bytes([good[-1] ^ 1]))[1] == 0x6988
    assert term.send(H("841E000004AABBCCDD"))[1] == 0x6700  # shorter than the MAC
    assert term.send(H("001E000008") + good[5:])[1] == 0x6E00  # needs secure messaging CLA
    assert term.send(H("841E010008") + bytes(8))[1] == 0x6988  # MAC checked first
    iad = term.generate_ac(0x40, term.data[0x8D])[0x9F10]
    assert iad[6] & 0x08  # CVR byte 4: issuer script processing failed


# --- T=0 transport and power cycle ---------------------------------------------------


def test_t0_get_response_and_wrong_le() -> None:
    c = card("sda", t0=True)
    r = c.transmit(SELECT_PSE)
    assert r[0] == 0x61
    fci = c.transmit(bytes([0, 0xC0, 0, 0, r[1]]))
    assert fci[:2] == H("6F1C") and sw(fci) == "9000"
    assert c.transmit(H("00B2010C00"))[0] == 0x6C  # Le 00 is wrong for this record
    length = c.transmit(H("00B2010C00"))[1]
    assert sw(c.transmit(bytes([0, 0xB2, 1, 0x0C, length]))) == "9000"
    assert c.transmit(H("00C0000010")) == H("6985")  # nothing pending


def test_t0_get_response_in_pieces() -> None:
    c = card("sda", t0=True)
    r = c.transmit(SELECT_PSE)
    total = r[1]
    part = c.transmit(H("00C0000010"))
    assert len(part) == 18 and part[-2] == 0x61 and part[-1] == total - 16
    assert c.transmit(bytes([0, 0xC0, 0, 0, total])) == bytes([0x6C, total - 16])
    rest = c.transmit(bytes([0, 0xC0, 0, 0, total - 16]))
    assert sw(rest) == "9000" and len(rest) == total - 16 + 2
    assert sw(c.transmit(H("00C0010000"))) == "6A86"


def test_get_response_is_not_an_instruction_without_t0() -> None:
    assert sw(card().transmit(H("00C0000010"))) == "6D00"


def test_atr() -> None:
    # Real payment cards' ATRs (pcsc-tools' smartcard_list.txt): the T=0 one
    # of Barclaycard Visa / Monzo / bunq Mastercard, the T=1 one of an SEB Visa.
    assert card(t0=True).atr == H("3B6800000073C84000009000")
    assert card().atr == H("3BE800008131FE450073C8400000900088")
    both = VirtualCard(load_profile("default"), protocols=(0, 1))
    assert both.atr == H("3BE800008031FE450073C8400000900089")
    with pytest.raises(ValueError):
        VirtualCard(load_profile("default"), t0=True, protocols=(1,))


@pytest.mark.parametrize(
    ("capdu", "expected"),
    [
        ("0070000001", "6881"),  # MANAGE CHANNEL open: the ATR declares no logical channel
        ("0070800100", "6881"),  # MANAGE CHANNEL close channel 1
        ("8070000001", "6D00"),  # a proprietary INS 70 is just unknown
    ],
)
def test_no_logical_channels(capdu: str, expected: str) -> None:
    assert sw(card().transmit(H(capdu))) == expected


def test_reset_keeps_counters_and_forgets_the_transaction() -> None:
    c = _ready()
    c.transmit(H("0020008008") + pinblock.encode_iso2("0000"))
    assert c.reset() == c.atr
    assert sw(c.transmit(GPO_EMPTY)) == "6985"  # nothing selected after the reset
    c.transmit(SELECT_VISA)
    c.transmit(GPO_EMPTY)
    assert run(c, "80CA9F3600", "80CA9F1700") == ["9F360200129000", "9F1701029000"]


def test_transaction_log() -> None:
    term = ProbeTerminal(VirtualCard(load_profile("default")))
    term.select(bytes.fromhex("A0000000031010"))
    log_entry = term.fci[0x9F4D]
    assert log_entry == H("0B0A")  # SFI 11, 10 records
    term.gpo()
    log_format = term.ok(H("80CA9F4F00"))
    assert log_format == H("9F4F16") + H("9A039F21039F02065F2A029F1A029C019F36029F2701")
    assert term.send(H("00B2015C00"))[1] == 0x6A83  # empty log
    term.read_records()
    term.values[0x9F02] = H("000000000500")
    term.generate_ac(0x40, term.data[0x8C])
    record = term.ok(H("00B2015C00"))
    # 9A, 9F21 (not in CDOL1: zeros), 9F02, 5F2A, 9F1A, 9C, 9F36, 9F27
    assert record == H("2501150000000000000005000643064300001140")


def test_internal_authenticate_format_2() -> None:
    term = ProbeTerminal(VirtualCard(load_profile("mir")))
    term.select(bytes.fromhex("A0000006581010"))
    term.gpo()
    r = term.ok(H("00880000041122334400"))
    assert r[:7] == H("778184" + "9F4B8180")


def test_phase_machine() -> None:
    c = card("dda")
    assert c.phase is Phase.IDLE
    c.transmit(SELECT_PSE)
    assert c.phase is Phase.DIRECTORY
    assert sw(c.transmit(GPO_EMPTY)) == "6985"
    c.transmit(SELECT_VISA)
    assert c.phase is Phase.SELECTED
    assert sw(c.transmit(H("00880000041122334400"))) == "6985"  # before GPO
    c.transmit(GPO_EMPTY)
    assert c.phase is Phase.INITIATED
    c.transmit(H("80AE8000" + "1D" + CDOL1_SDA + "00"))
    assert c.phase is Phase.ONLINE
    assert sw(c.transmit(H("00880000041122334400"))) == "6985"  # DDA is over
    assert sw(c.transmit(GPO_EMPTY)) == "6985"
    c.transmit(H("80AE0000" + "1F" + "3030" + CDOL1_SDA + "00"))
    assert c.phase is Phase.DONE
    assert sw(c.transmit(H("00820000" + "0A" + "00" * 10))) == "6985"
    assert sw(c.transmit(H("80CA9F3600"))) == "9000"
    c.transmit(SELECT_VISA)  # a new SELECT starts over
    assert c.phase is Phase.SELECTED
    c.reset()
    assert c.phase is Phase.IDLE


def test_reprs_do_not_show_pins_or_keys() -> None:
    c = card("default")
    app = c.profile.applications[0]
    text = repr(app) + repr(c.states[0])
    assert "1234" not in text
    assert app.icc_master_keys.ac.hex().upper() not in text.upper()
    assert app.icc_key is not None and f"{app.icc_key.private_exponent:X}" not in text
