"""KCV, ISO 9797-1 MAC and ISO 9564 PIN-block vectors from tests/vectors/kcv-mac-pin.txt."""

from __future__ import annotations

import pytest

from base.crypto import des, pinblock

H = bytes.fromhex


@pytest.mark.parametrize(
    ("key", "tdes", "aes_cmac"),
    [
        ("0123456789ABCDEFFEDCBA9876543210", "08D7B4", "2090A6"),
        ("FEDCBA9876543210F1F1F1F1F1F1F1F1", "F4C115", "FF0BD7"),
        ("2B7E151628AED2A6ABF7158809CF4F3C", "86A5F0", "7AD386"),
        ("1273671EA26AC29AFA4D1084127652A1", "A4A17A", "05EF45"),
    ],
)
def test_kcv(key: str, tdes: str, aes_cmac: str) -> None:
    assert des.kcv_tdes(H(key)) == H(tdes)
    assert des.kcv_aes(H(key)) == H(aes_cmac)


@pytest.mark.parametrize(
    ("padding", "expected"),
    [(1, "3DDE5C5511661CBF"), (2, "E16941032C3BC7D4"), (3, "BA90F750EF43F668")],
)
def test_mac_alg3_double_length_keys(padding: int, expected: str) -> None:
    mac = des.mac_alg3(b"AAAAAAAAAAAAAAAA", b"BBBBBBBBBBBBBBBB", b"hello world", padding)
    assert mac == H(expected)


def test_mac_hex_keys() -> None:
    data = H("1234567890ABCDEF")
    k1, k2 = H("0123456789ABCDEFFEDCBA9876543210"), H("FEDCBA98765432100123456789ABCDEF")
    assert des.mac_alg3(k1, k2, data, 2) == H("644AA5C915DBDAF8")
    assert des.mac_alg1(k1, data, 2) == H("925B1737EF681AD3")


def test_retail_mac_is_alg3_on_key_halves() -> None:
    key = H("0123456789ABCDEFFEDCBA9876543210")
    data = H("1234567890ABCDEF") * 2
    assert des.retail_mac(key, data) == des.mac_alg3(key[:8], key[8:], data)
    # Over more than one block single-DES chaining differs from TDES CBC-MAC.
    assert des.retail_mac(key, data) != des.mac_alg1(key, data)


def test_padding() -> None:
    assert des.pad_iso9797(H("1234"), 1) == H("1234000000000000")
    assert des.pad_iso9797(H("1234"), 2) == H("1234800000000000")
    assert des.pad_iso9797(H("1234"), 3) == H("00000000000000101234000000000000")
    assert des.pad_iso9797(b"", 1) == bytes(8)
    assert des.pad_iso9797(bytes(8), 1) == bytes(8)
    assert des.pad_iso9797(bytes(8), 2) == bytes(8) + H("8000000000000000")


def test_odd_parity() -> None:
    key = des.adjust_odd_parity(H("0023456789ABCDEF"))
    assert all(bin(b).count("1") % 2 == 1 for b in key)
    assert key == H("0123456789ABCDEF")


def test_pinblock_iso0() -> None:
    assert pinblock.encode_iso0("1234", "5544332211009966") == H("041277CDDEEFF669")
    assert pinblock.decode_iso0(H("041277CDDEEFF669"), "5544332211009966") == "1234"
    # X9.24-1 DUKPT test case: PIN 1234, PAN 4012345678909.
    assert pinblock.encode_iso0("1234", "4012345678909") == H("041274EDCBA9876F")
    tpk = H("DEADBEEFDEADBEEFDEADBEEFDEADBEEF")
    assert des.tdes_ecb_encrypt(tpk, H("041274FFFFEDCBA9")) == H("11E7C600A7E2988B")


def test_pinblock_iso2() -> None:
    assert pinblock.decode_iso2(H("2C123456789012FF")) == "123456789012"
    assert pinblock.encode_iso2("1234") == H("241234FFFFFFFFFF")


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", ""])
def test_pinblock_rejects_bad_pin(pin: str) -> None:
    with pytest.raises(pinblock.PinBlockError):
        pinblock.encode_iso0(pin, "5544332211009966")


def test_pinblock_rejects_malformed_block() -> None:
    with pytest.raises(pinblock.PinBlockError):
        pinblock.decode_iso2(H("2412345FFFFFFFFF"))
    with pytest.raises(pinblock.PinBlockError):
        pinblock.decode_iso0(H("241277CDDEEFF669"), "5544332211009966")
