"""ISO 8583 codec: vectors from tests/vectors/iso8583.txt, dialects as data, MAC and
PIN-block fields, hypothesis round-trips and garbage input."""

from __future__ import annotations

import ast
import re
from dataclasses import replace

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acquirers.errors import Iso8583Error, MacVerificationError, MessageBuildError
from acquirers.iso8583.codec import Codec, IsoMessage
from acquirers.iso8583.dialect import Dialect, FieldDef, FieldKind, MacRule, ans, b, n
from acquirers.iso8583.dialects import generic87
from acquirers.iso8583.security import decipher_pin_block, encipher_pin_block
from base.crypto import pinblock
from tests.vectors import vector_text

H = bytes.fromhex
DIALECT = generic87.DIALECT
CODEC = Codec(DIALECT)
TAK = H("0123456789ABCDEFFEDCBA9876543210")


def _vector(label: str) -> tuple[bytes, dict[str, str]]:
    text = vector_text("iso8583.txt")
    block = text.split(f"\n{label}) hex: ", 1)[1]
    hexline = block.split("\n", 1)[0].split("(", 1)[0]
    decoded = re.search(r"decoded: (\{.*?\})", block)
    assert decoded is not None
    return H(hexline.replace(" ", "")), ast.literal_eval(decoded.group(1))


# ---------------------------------------------------------------- vectors, generic87
@pytest.mark.parametrize("label", ["1a", "1b"])
def test_jpos_guide_vectors_decode_in_generic87(label: str) -> None:
    raw, expected = _vector(label)
    msg = CODEC.decode(raw)
    assert msg.mti == expected["t"]
    numbered = {k: v for k, v in expected.items() if k.isdigit() and k != "1"}
    assert sorted(msg.fields) == sorted(int(k) for k in numbered)
    for key, value in numbered.items():
        # The vector decodes field 70 as 2 raw bytes ('0301'); generic87 has it as
        # n3 BCD left-padded with a zero nibble, i.e. the same bytes read as '301'.
        assert msg.fields[int(key)] == (value[1:] if key == "70" else value)
    assert CODEC.encode(msg) == raw


def test_echo_vector_field_values() -> None:
    raw, _ = _vector("1b")
    msg = CODEC.decode(raw)
    assert msg.text(70) == generic87.CONVENTIONS.network_codes["echo"]
    assert msg.text(41) == "29110001"


# ---------------------------------------------------------------- dialects as data
_ASCII_FIELDS: tuple[FieldDef, ...] = (
    ans(2, 19, "PAN (as the pyiso8583 default spec: ASCII LLVAR)", var=2),
    n(3, 6, "Processing code"),
    n(21, 3, "Forwarding institution country code"),
    n(7, 10, "Transmission date/time"),
    n(11, 6, "STAN"),
    n(12, 12, "Local date/time (1993)"),
    n(24, 3, "Function code (1993)"),
    n(32, 11, "Acquiring institution", var=2),
    ans(39, 2, "Response code"),
    b(55, 255, "ICC data", var=3),
    ans(102, 28, "Account identification 1", var=2),
)
ASCII_DIALECT = Dialect(
    name="ascii-test",
    description="pyiso8583 default_ascii layout, as data",
    fields={f.number: f for f in _ASCII_FIELDS},
    mac=MacRule(mtis=frozenset()),
    conventions=generic87.CONVENTIONS,
    mti_encoding="ascii",
    bitmap_encoding="hex",
    numeric_encoding="ascii",
    length_encoding="ascii",
)
BINARY_BITMAP_ASCII = replace(ASCII_DIALECT, name="ifsf-test", bitmap_encoding="binary")


@pytest.mark.parametrize(
    ("dialect", "raw", "mti", "fields"),
    [
        (ASCII_DIALECT, b"02004000000000000000101234567890", "0200", {2: "1234567890"}),
        (ASCII_DIALECT, b"0210000000000200000005", "0210", {39: "05"}),
        (
            ASCII_DIALECT,
            b"0200600008000000000014cardholder PAN111111021",
            "0200",
            {2: "cardholder PAN", 3: "111111", 21: "021"},
        ),
        (
            ASCII_DIALECT,
            b"02008000000000000000000000000400000006111111",
            "0200",
            {102: "111111"},
        ),
        (
            ASCII_DIALECT,
            b"02008000080000000000000000000400000005106111111",
            "0200",
            {21: "051", 102: "111111"},
        ),
        (
            ASCII_DIALECT,
            b"02000000000000000200013\x9f\x02\x06\x00\x00\x00\x01#E_4\x01\x02",
            "0200",
            {55: H("9F02060000000123455F340102")},
        ),
        (
            BINARY_BITMAP_ASCII,
            H(
                "3138323002300101000000003039313031353238343133383239313030393039313031"
                "353238343138333130353130303331"
            ),
            "1820",
            {7: "0910152841", 11: "382910", 12: "090910152841", 24: "831", 32: "10031"},
        ),
    ],
)
def test_pyiso8583_and_payex_vectors_with_data_dialects(
    dialect: Dialect, raw: bytes, mti: str, fields: dict[int, str | bytes]
) -> None:
    codec = Codec(dialect)
    msg = codec.decode(raw)
    assert (msg.mti, msg.fields) == (mti, fields)
    assert codec.encode(IsoMessage(mti, fields)) == raw


def test_payex_vector_length_prefix() -> None:
    # The PayEx sample carries a 4-byte ASCII length ('0050') before the body.
    body = H(
        "3138323002300101000000003039313031353238343133383239313030393039313031"
        "353238343138333130353130303331"
    )
    assert len(body) == 50


def test_dialect_rejects_bad_definitions() -> None:
    with pytest.raises(ValueError, match="bad field"):
        replace(ASCII_DIALECT, fields={3: n(4, 6, "wrong number")})
    with pytest.raises(ValueError, match="64"):
        replace(ASCII_DIALECT, fields={64: n(64, 16, "MAC as digits")})


# ---------------------------------------------------------------- field validation
@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({3: "00000A"}, "non-digits"),
        ({3: "0000000"}, "expecting 6"),
        ({52: "1234"}, "needs bytes"),
        ({41: "TERM\x01001"}, "control characters"),
        ({41: "ТЕРМИНАЛ"}, "ASCII"),
        ({35: "4000=25X"}, "track data"),
        ({99: "1"}, "not in dialect"),
        ({2: "4" * 20}, "larger than maximum"),
    ],
)
def test_encode_rejects_invalid_fields(fields: dict[int, str | bytes], match: str) -> None:
    with pytest.raises(MessageBuildError, match=match):
        CODEC.encode(IsoMessage("0200", fields))


@pytest.mark.parametrize("mti", ["200", "02A0", "", "02000"])
def test_encode_rejects_bad_mti(mti: str) -> None:
    with pytest.raises(MessageBuildError, match="MTI"):
        CODEC.encode(IsoMessage(mti, {3: "000000"}))


@pytest.mark.parametrize(
    ("hexdata", "match"),
    [
        ("02", "expecting 2"),
        ("0A00" + "2000000000000000" + "000000", "MTI"),
        ("0200" + "2000000000000000" + "00000A", "not numeric"),
        ("0200" + "0800000000000000" + "00", "not in the dialect"),
        ("0200" + "2000000000000000" + "000000" + "00", "Extra data"),
        ("0200" + "4000000000000000" + "1A" + "12", "invalid BCD"),
        ("0200" + "8000000000000000" + "8000000000000000" + "00" * 8, "tertiary"),
        ("0200" + "0000000000800000" + "3239313130303001", "non-printable"),
        ("0200" + "4000000000000000" + "05" + "123A50", "not numeric"),
        ("0200" + "4000000000000000" + "05" + "12345F", "expecting 5"),
    ],
)
def test_decode_rejects_malformed(hexdata: str, match: str) -> None:
    with pytest.raises(Iso8583Error, match=match):
        CODEC.decode(H(hexdata))


def test_track2_separator_is_bcd_d_and_pad_0() -> None:
    # ISO87BPackager: IFB_LLNUM(37, pad=false) -> BCD right-padded with a 0 nibble.
    raw = CODEC.encode(IsoMessage("0200", {35: "4000001234562000=2512101"}))
    assert raw.endswith(H("24") + H("4000001234562000D2512101"))
    odd = CODEC.encode(IsoMessage("0200", {35: "4000001234562000=251210"}))
    assert odd.endswith(H("23") + H("4000001234562000D2512100"))
    assert CODEC.decode(odd).fields[35] == "4000001234562000=251210"


def test_numeric_fields_are_bcd() -> None:
    raw = CODEC.encode(IsoMessage("0200", {2: "4000001234562", 4: "000000012300", 70: "301"}))
    assert raw == H("0200" + "D000000000000000" + "0400000000000000") + H(
        "13" + "40000012345620" + "000000012300" + "0301"
    )


def test_currency_is_ascii_and_net_amount_sign_and_bcd() -> None:
    # ISO87BPackager: 49 IF_CHAR(3); 97 IFB_AMOUNT(17): sign byte, 16 digits BCD.
    raw = CODEC.encode(IsoMessage("0500", {49: "643", 97: "C0000000000012345"}))
    assert raw.endswith(b"643" + b"C" + H("0000000000012345"))
    assert CODEC.decode(raw).fields[97] == "C0000000000012345"
    with pytest.raises(MessageBuildError, match="C or D"):
        CODEC.encode(IsoMessage("0500", {97: "X0000000000012345"}))
    bad = raw[:-9] + b"X" + raw[-8:]
    with pytest.raises(Iso8583Error, match="signed amount"):
        CODEC.decode(bad)


# ---------------------------------------------------------------- MAC
def _des(key: bytes) -> Cipher[modes.ECB]:
    full = key * 3 if len(key) == 8 else key + key[:8]
    return Cipher(TripleDES(full), modes.ECB())


def _reference_alg3(k1: bytes, k2: bytes, data: bytes, padding: int) -> bytes:
    """ISO 9797-1 MAC algorithm 3 written out block by block, to check the
    codec against something that is not base.crypto.des."""
    if padding == 2:
        data += b"\x80"
    data += bytes(-len(data) % 8)
    state = bytes(8)
    for i in range(0, len(data), 8):
        block = bytes(a ^ b for a, b in zip(state, data[i : i + 8], strict=True))
        enc = _des(k1).encryptor()
        state = enc.update(block) + enc.finalize()
    dec = _des(k2).decryptor()
    state = dec.update(state) + dec.finalize()
    enc = _des(k1).encryptor()
    return enc.update(state) + enc.finalize()


def _reference_retail_mac(key: bytes, data: bytes, padding: int) -> bytes:
    """The retail MAC of a double-length key: algorithm 3 on its 8-byte halves."""
    return _reference_alg3(key[:8], key[8:], data, padding)


@pytest.mark.parametrize(
    ("k1", "k2", "data", "padding", "expected"),
    [
        (b"AAAAAAAAAAAAAAAA", b"BBBBBBBBBBBBBBBB", b"hello world", 1, "3DDE5C5511661CBF"),
        (b"AAAAAAAAAAAAAAAA", b"BBBBBBBBBBBBBBBB", b"hello world", 2, "E16941032C3BC7D4"),
        (
            H("0123456789ABCDEFFEDCBA9876543210"),
            H("FEDCBA98765432100123456789ABCDEF"),
            H("1234567890ABCDEF"),
            2,
            "644AA5C915DBDAF8",
        ),
    ],
)
def test_reference_mac_matches_published_vectors(
    k1: bytes, k2: bytes, data: bytes, padding: int, expected: str
) -> None:
    assert _reference_alg3(k1, k2, data, padding) == H(expected)


def _purchase_fields() -> dict[int, str | bytes]:
    return {
        2: "4000001234562000",
        3: "000000",
        4: "000000012300",
        11: "000042",
        41: "29110001",
        49: "643",
    }


@pytest.mark.parametrize("padding", [1, 2])
def test_mac_field_64_covers_mti_to_last_field(padding: int) -> None:
    codec = Codec(replace(DIALECT, mac=replace(DIALECT.mac, padding=padding)))
    raw = codec.encode(IsoMessage("0200", _purchase_fields()), mac_key=TAK)
    msg = codec.decode(raw)
    assert msg.fields[64] == _reference_retail_mac(TAK, raw[:-8], padding)
    assert raw[2] & 0x80 == 0 and raw[9] & 0x01  # no secondary bitmap; bit 64 set
    codec.verify_mac(raw, msg, TAK)


def test_mac_goes_to_128_with_secondary_bitmap() -> None:
    fields = _purchase_fields() | {90: "0200000041" + "0" * 32}
    raw = CODEC.encode(IsoMessage("0400", fields), mac_key=TAK)
    msg = CODEC.decode(raw)
    assert 64 not in msg and msg.fields[128] == _reference_retail_mac(TAK, raw[:-8], 1)
    CODEC.verify_mac(raw, msg, TAK)


def test_mac_truncated_length_rule() -> None:
    codec = Codec(replace(DIALECT, mac=replace(DIALECT.mac, length=4)))
    raw = codec.encode(IsoMessage("0200", _purchase_fields()), mac_key=TAK)
    assert raw[-8:] == _reference_retail_mac(TAK, raw[:-8], 1)[:4] + bytes(4)


def test_mac_verification_detects_tampering_and_wrong_key() -> None:
    raw = CODEC.encode(IsoMessage("0200", _purchase_fields()), mac_key=TAK)
    tampered = raw.replace(H("000000012300"), H("000000099900"))
    with pytest.raises(MacVerificationError):
        CODEC.verify_mac(tampered, CODEC.decode(tampered), TAK)
    with pytest.raises(MacVerificationError):
        CODEC.verify_mac(raw, CODEC.decode(raw), H("FEDCBA98765432100123456789ABCDEF"))
    unmaced = CODEC.encode(IsoMessage("0200", _purchase_fields()))
    with pytest.raises(MacVerificationError, match="missing"):
        CODEC.verify_mac(unmaced, CODEC.decode(unmaced), TAK)


def test_network_messages_carry_no_mac() -> None:
    msg = IsoMessage("0800", {11: "000001", 41: "29110001", 70: "301"})
    assert CODEC.encode(msg, mac_key=TAK) == CODEC.encode(msg)
    assert not CODEC.needs_mac("0800") and CODEC.needs_mac("0510")


# ---------------------------------------------------------------- PIN block field
def test_field_52_carries_iso0_block_under_tpk() -> None:
    # kcv-mac-pin.txt: TDES-ECB under DEADBEEF... of the clear block 041274FFFFEDCBA9 is
    # 11E7C600A7E2988B. (bpc8583 formed that block from the PAN's first 12 digits; ISO
    # 9564-1 takes the 12 rightmost without the check digit, so the PAN used here is
    # one whose digits 2..13 from the right are 400000123456.)
    tpk = H("DEADBEEFDEADBEEFDEADBEEFDEADBEEF")
    pan = "14000001234560"
    block = encipher_pin_block(tpk, "1234", pan)
    assert block == H("11E7C600A7E2988B")
    assert decipher_pin_block(tpk, block, pan) == "1234"
    raw = CODEC.encode(IsoMessage("0200", {2: pan, 52: block}))
    assert raw.endswith(H("1414000001234560") + H("11E7C600A7E2988B"))
    assert CODEC.decode(raw).fields[52] == block


def test_iso0_clear_block_vector() -> None:
    assert pinblock.encode_iso0("1234", "5544332211009966") == H("041277CDDEEFF669")


def test_repr_and_describe_hide_secrets() -> None:
    msg = IsoMessage(
        "0200",
        {2: "4000001234562000", 35: "4000001234562000=2512", 52: H("11E7C600A7E2988B"), 4: "1"},
    )
    for text in (repr(msg), CODEC.describe(msg)):
        assert "4000001234562000" not in text and "11E7C6" not in text
        assert "400000******2000" in text


# ---------------------------------------------------------------- hypothesis
def _value(fdef: FieldDef) -> st.SearchStrategy[str | bytes]:
    if fdef.kind is FieldKind.B:
        top = min(fdef.length, 64)
        size = (
            {"min_size": fdef.length, "max_size": fdef.length}
            if not fdef.var
            else {"max_size": top}
        )
        return st.binary(**size)  # type: ignore[arg-type]
    if fdef.kind is FieldKind.XN:
        digits = st.text("0123456789", min_size=fdef.length, max_size=fdef.length)
        return st.builds(str.__add__, st.sampled_from("CD"), digits)
    alphabet = {
        FieldKind.N: "0123456789",
        FieldKind.Z: "0123456789=",
        FieldKind.ANS: st.characters(min_codepoint=32, max_codepoint=126),
    }[fdef.kind]
    if fdef.var:
        return st.text(alphabet, max_size=min(fdef.length, 64))
    return st.text(alphabet, min_size=fdef.length, max_size=fdef.length)


@st.composite
def messages(draw: st.DrawFn) -> IsoMessage:
    numbers = draw(st.sets(st.sampled_from(sorted(DIALECT.fields)), max_size=12))
    fields = {number: draw(_value(DIALECT.fields[number])) for number in numbers - {64, 128}}
    mti = draw(st.sampled_from(["0200", "0210", "0400", "0410", "0500", "0800", "0320"]))
    return IsoMessage(mti, fields)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_roundtrip_any_valid_message(msg: IsoMessage) -> None:
    raw = CODEC.encode(msg, mac_key=TAK)
    decoded = CODEC.decode(raw)
    expected = dict(msg.fields)
    if CODEC.needs_mac(msg.mti):
        expected[DIALECT.mac_field(set(msg.fields))] = decoded.fields.get(
            DIALECT.mac_field(set(msg.fields)), b""
        )
        CODEC.verify_mac(raw, decoded, TAK)
    assert (decoded.mti, decoded.fields) == (msg.mti, expected)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_the_protocol_error(data: bytes) -> None:
    try:
        msg = CODEC.decode(data)
    except Iso8583Error:
        return
    assert isinstance(msg, IsoMessage)


@settings(max_examples=200, deadline=None)
@given(messages(), st.data())
def test_corrupted_messages_decode_or_raise_the_protocol_error(
    msg: IsoMessage, data: st.DataObject
) -> None:
    raw = bytearray(CODEC.encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        decoded = CODEC.decode(bytes(raw[:cut]))
    except Iso8583Error:
        return
    assert isinstance(decoded, IsoMessage)
