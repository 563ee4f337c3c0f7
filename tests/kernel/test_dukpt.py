"""DUKPT (ANSI X9.24-1 TDES and X9.24-3 AES) against the published test data
in tests/vectors/dukpt.txt, and ISO 9564 format 4."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.crypto import des, dukpt
from tests.vectors import vector_text

Section = dict[str, "str | list[str]"]


def _sections() -> dict[str, Section]:
    """The vector file's sections ('TDES', 'AES-128', 'AES-256'), each a map of
    scalar values and indexed lists."""
    out: dict[str, Section] = {}
    current: Section = {}
    name: str | None = None
    listing: list[str] | None = None
    for line in vector_text("dukpt.txt").splitlines():
        if line.startswith("########"):
            title = line.strip("# ").split()[0]
            current = out.setdefault("AES-256" if title == "AES-256" else title, {})
            listing = None
            continue
        if line.startswith(("#", "//")) or not line.strip():
            continue
        if m := re.match(r"\s+\[(\d+)\]\s+([0-9A-F]+)$", line):
            assert listing is not None
            listing.append(m.group(2))
            continue
        if m := re.match(r"(\w+) =\s*(.*)$", line):
            name, value = m.group(1), m.group(2).strip()
            if value:
                current[name] = value
                listing = None
            else:
                listing = []
                current[name] = listing
    return out


SECTIONS = _sections()
TDES = SECTIONS["TDES"]
AES128 = SECTIONS["AES-128"]
AES256 = SECTIONS["AES-256"]


def _h(value: str | list[str]) -> bytes:
    assert isinstance(value, str)
    return bytes.fromhex(value)


def _list(section: Section, name: str) -> list[str]:
    value = section[name]
    assert isinstance(value, list) and value
    return value


def test_vector_file_parsed() -> None:
    assert len(_list(TDES, "ksn_verify")) == 21
    assert len(_list(TDES, "ksn_verify2")) == 13
    assert len(_list(AES128, "txn_key_verify")) == 8
    assert len(_list(AES256, "pin_key_aes256_verify")) == 8


def test_tdes_ipek() -> None:
    ipek = dukpt.tdes_ipek(_h(TDES["bdk"]), _h(TDES["iksn"]))
    assert ipek.hex().upper() == TDES["ik_verify"]


@pytest.mark.parametrize("suffix", ["", "2"])
def test_tdes_sequences(suffix: str) -> None:
    """Initial (A.4.2) and rollover (A.4.3) sequences: transaction keys, PIN
    blocks and request/response MACs for every KSN."""
    ipek = dukpt.tdes_ipek(_h(TDES["bdk"]), _h(TDES["iksn"]))
    clear = _h(TDES["pinblock"])
    data = b"4012345678909D987"
    ksns = _list(TDES, "ksn_verify" + suffix)
    keys = _list(TDES, "txn_key_verify" + suffix)
    blocks = _list(TDES, "encrypted_pinblock_verify" + suffix)
    requests = _list(TDES, "mac_request_verify" + suffix)
    responses = _list(TDES, "mac_response_verify" + suffix)
    for ksn_hex, key, block, mac_req, mac_resp in zip(
        ksns, keys, blocks, requests, responses, strict=True
    ):
        ksn = bytes.fromhex(ksn_hex)
        txn = dukpt.tdes_transaction_key(ipek, ksn)
        assert txn.hex().upper() == key, ksn_hex
        pin_key = dukpt.tdes_pin_key(txn)
        assert des.tdes_ecb_encrypt(pin_key, clear).hex().upper() == block
        mac = des.retail_mac(dukpt.tdes_mac_request_key(txn), data)[:4]
        assert mac.hex().upper() == mac_req
        mac = des.retail_mac(dukpt.tdes_mac_response_key(txn), data)[:4]
        assert mac.hex().upper() == mac_resp


@pytest.mark.parametrize("suffix", ["", "2"])
def test_tdes_counter_sequence(suffix: str) -> None:
    """next_counter walks exactly the KSNs of the published sequences (the
    rollover one skips counters with more than ten one-bits)."""
    ksns = [bytes.fromhex(k) for k in _list(TDES, "ksn_verify" + suffix)]
    for before, after in itertools.pairwise(ksns):
        counter = int.from_bytes(before[-3:], "big") & 0x1FFFFF
        expected = int.from_bytes(after[-3:], "big") & 0x1FFFFF
        assert dukpt.next_counter(counter) == expected


def test_tdes_originator_walks_the_ksns() -> None:
    ipek = dukpt.tdes_ipek(_h(TDES["bdk"]), _h(TDES["iksn"]))
    pad = dukpt.DukptOriginator(ipek, _h(TDES["iksn"]))
    for ksn_hex, block in zip(
        _list(TDES, "ksn_verify")[:5], _list(TDES, "encrypted_pinblock_verify"), strict=False
    ):
        ksn = pad.next_ksn()
        assert ksn.hex().upper() == ksn_hex
        enc = des.tdes_ecb_encrypt(pad.pin_key(ksn), _h(TDES["pinblock"]))
        assert enc.hex().upper() == block


@pytest.mark.parametrize("section", [AES128, AES256], ids=["aes128", "aes256"])
def test_aes_initial_key(section: Section) -> None:
    ik = dukpt.aes_initial_key(_h(section["bdk"]), _h(section["ikid"]))
    assert ik.hex().upper() == section["ik_verify"]


@pytest.mark.parametrize("section", [AES128, AES256], ids=["aes128", "aes256"])
@pytest.mark.parametrize("suffix", ["", "2", "3"])
def test_aes_transaction_keys(section: Section, suffix: str) -> None:
    ik = dukpt.aes_initial_key(_h(section["bdk"]), _h(section["ikid"]))
    ksns = _list(section, "ksn_verify" + suffix)
    keys = _list(section, "txn_key_verify" + suffix)
    if suffix == "2":
        # 0x1FFFF has 17 one-bits: an originator skips it, a receiver derives it.
        assert dukpt.next_counter(0x1FFFE, aes=True) == 0x20000
    for ksn_hex, key in zip(ksns, keys, strict=True):
        assert dukpt.aes_transaction_key(ik, bytes.fromhex(ksn_hex)).hex().upper() == key


WORKING = [
    (AES128, "pin_key_aes128_verify", dukpt.AesKeyUsage.PIN_ENCRYPTION, dukpt.AesKeyType.AES128),
    (AES128, "cmac_aes128_key_verify", dukpt.AesKeyUsage.MAC_GENERATION, dukpt.AesKeyType.AES128),
    (AES128, "data_aes128_key_verify", dukpt.AesKeyUsage.DATA_ENCRYPT, dukpt.AesKeyType.AES128),
    (AES256, "pin_key_aes128_verify", dukpt.AesKeyUsage.PIN_ENCRYPTION, dukpt.AesKeyType.AES128),
    (AES256, "pin_key_aes256_verify", dukpt.AesKeyUsage.PIN_ENCRYPTION, dukpt.AesKeyType.AES256),
    (AES256, "cmac_aes128_key_verify", dukpt.AesKeyUsage.MAC_GENERATION, dukpt.AesKeyType.AES128),
    (AES256, "cmac_aes256_key_verify", dukpt.AesKeyUsage.MAC_GENERATION, dukpt.AesKeyType.AES256),
    (AES256, "data_aes128_key_verify", dukpt.AesKeyUsage.DATA_ENCRYPT, dukpt.AesKeyType.AES128),
    (AES256, "data_aes256_key_verify", dukpt.AesKeyUsage.DATA_ENCRYPT, dukpt.AesKeyType.AES256),
]


@pytest.mark.parametrize(("section", "name", "usage", "key_type"), WORKING)
def test_aes_working_keys(
    section: Section, name: str, usage: dukpt.AesKeyUsage, key_type: dukpt.AesKeyType
) -> None:
    ik = dukpt.aes_initial_key(_h(section["bdk"]), _h(section["ikid"]))
    for ksn_hex, expected in zip(_list(section, "ksn_verify"), _list(section, name), strict=True):
        ksn = bytes.fromhex(ksn_hex)
        txn = dukpt.aes_transaction_key(ik, ksn)
        assert dukpt.aes_working_key(txn, ksn, usage, key_type).hex().upper() == expected


def test_aes_pin_blocks_format4() -> None:
    section = AES128
    pinfield = _h(section["pinfield"])
    assert pinfield[:8].hex().upper() == section["pinfield_verify"]
    ik = dukpt.aes_initial_key(_h(section["bdk"]), _h(section["ikid"]))
    pan = str(section["pan"])
    for ksn_hex, expected in zip(
        _list(section, "ksn_verify"), _list(section, "encrypted_pinblock_verify"), strict=True
    ):
        ksn = bytes.fromhex(ksn_hex)
        key = dukpt.aes_working_key(
            dukpt.aes_transaction_key(ik, ksn),
            ksn,
            dukpt.AesKeyUsage.PIN_ENCRYPTION,
            dukpt.AesKeyType.AES128,
        )
        block = dukpt.encipher_iso4(key, "1234", pan, fill=pinfield[8:])
        assert block.hex().upper() == expected
        assert dukpt.decipher_iso4(key, block, pan) == "1234"


def test_aes_originator() -> None:
    ik = dukpt.aes_initial_key(_h(AES128["bdk"]), _h(AES128["ikid"]))
    pad = dukpt.DukptOriginator(ik, _h(AES128["ikid"]) + bytes(4))
    expected = _list(AES128, "pin_key_aes128_verify")
    for want in expected[:3]:
        assert pad.pin_key(pad.next_ksn()).hex().upper() == want


@given(
    pin=st.text("0123456789", min_size=4, max_size=12),
    pan=st.text("0123456789", min_size=12, max_size=19),
    key=st.binary(min_size=16, max_size=16),
)
def test_format4_round_trip(pin: str, pan: str, key: bytes) -> None:
    block = dukpt.encipher_iso4(key, pin, pan)
    assert dukpt.decipher_iso4(key, block, pan) == pin
    assert block != dukpt.encipher_iso4(key, pin, pan)  # random fill


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (dukpt.tdes_ipek, (bytes(8), bytes(10))),
        (dukpt.tdes_ipek, (bytes(16), bytes(9))),
        (dukpt.aes_initial_key, (bytes(15), bytes(8))),
        (dukpt.aes_initial_key, (bytes(16), bytes(7))),
        (dukpt.aes_transaction_key, (bytes(16), bytes(12))),  # counter 0
        (dukpt.tdes_transaction_key, (bytes(16), bytes(12))),
    ],
)
def test_malformed_inputs(call: object, args: tuple[bytes, bytes]) -> None:
    with pytest.raises(dukpt.DukptError):
        call(*args)  # type: ignore[operator]


def test_counter_exhaustion() -> None:
    assert dukpt.next_counter(0x0FF800) == 0x0FF801
    with pytest.raises(dukpt.DukptError, match="exhausted"):
        dukpt.next_counter(0x1FF800)  # ten one-bits: nothing usable above it
