"""The reference pad's plain-Python cryptography (pinpad_crypto) against the
`cryptography` package (through base.crypto), FIPS 197 / SP 800-38B / RFC
4493 examples, and the X9.24 DUKPT test data in tests/vectors/dukpt.txt."""

from __future__ import annotations

import itertools
import random

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.crypto import des, dukpt, pinblock
from tests.firmware.firmware import crypto
from tests.kernel.test_dukpt import AES128, TDES, _h, _list

RNG = random.Random(20240601)


def rand(n: int) -> bytes:
    return bytes(RNG.getrandbits(8) for _ in range(n))


@pytest.mark.parametrize("size", [8, 16, 24])
def test_des_and_tdes_match_cryptography(size: int) -> None:
    for _ in range(20):
        key, block = rand(size), rand(16)
        assert crypto.tdes_ecb_encrypt(key, block) == des.tdes_ecb_encrypt(key, block)
        assert crypto.tdes_ecb_decrypt(key, block) == des.tdes_ecb_decrypt(key, block)


def test_des_known_answer() -> None:
    # The classic example (FIPS 46 walkthroughs): key 133457799BBCDFF1.
    key, plain = bytes.fromhex("133457799BBCDFF1"), bytes.fromhex("0123456789ABCDEF")
    assert crypto.tdes_ecb_encrypt(key, plain).hex().upper() == "85E813540F0AB405"


@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_tables_match_cryptography(size: int) -> None:
    for _ in range(10):
        key, data = rand(size), rand(32)
        assert crypto.aes_ecb_encrypt(key, data) == des.aes_ecb_encrypt(key, data)


def test_aes_fips197_examples() -> None:
    plain = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    for key, out in (
        ("000102030405060708090A0B0C0D0E0F", "69C4E0D86A7B0430D8CDB78070B4C55A"),
        ("000102030405060708090A0B0C0D0E0F1011121314151617", "DDA97CA4864CDFE06EAF70A0EC0D7191"),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "8EA2B7CA516745BFEAFC49904B496089",
        ),
    ):
        assert crypto.aes_ecb_encrypt(bytes.fromhex(key), plain).hex().upper() == out


def test_cmac_rfc4493_and_kcv() -> None:
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    assert crypto.aes_cmac(key, b"").hex().upper() == "BB1D6929E95937287FA37D129B756746"
    message = bytes.fromhex("6BC1BEE22E409F96E93D7E117393172A")
    assert crypto.aes_cmac(key, message).hex().upper() == "070A16B46B4D4144F79BDD9DD04A287C"
    for _ in range(10):
        k, data = rand(16), rand(RNG.randrange(0, 70))
        assert crypto.aes_cmac(k, data) == des.aes_cmac(k, data)
        assert crypto.kcv_aes(k) == des.kcv_aes(k)
        assert crypto.kcv_tdes(k) == des.kcv_tdes(k)


def test_gcm_matches_aesgcm() -> None:
    for length in (0, 8, 16, 17, 40):
        key, nonce, plain, aad = rand(16), rand(12), rand(length), rand(13)
        assert crypto.aes_gcm_encrypt(key, nonce, plain, aad) == AESGCM(key).encrypt(
            nonce, plain, aad
        )


@pytest.mark.parametrize("pin", ["1234", "0000", "98765", "123456789012"])
def test_pin_blocks(pin: str) -> None:
    pan = "4761739001010010"
    assert crypto.iso0_block(pin, pan) == pinblock.encode_iso0(pin, pan)
    assert crypto.iso2_block(pin) == pinblock.encode_iso2(pin)
    key, fill = rand(16), rand(8)
    for card in (pan, "123456789", "1234567890123456789"):
        assert crypto.iso4_encipher(key, pin, card, fill) == dukpt.encipher_iso4(
            key, pin, card, fill
        )


@pytest.mark.parametrize("suffix", ["", "2"])
def test_tdes_dukpt_x9_24_1_sequences(suffix: str) -> None:
    """The A.4.2 and A.4.3 KSNs and PIN blocks: the counter walk and the PIN
    key from the initial key, exactly as the published data."""
    ipek = bytes.fromhex(str(TDES["ik_verify"]))
    ksns = _list(TDES, "ksn_verify" + suffix)
    blocks = _list(TDES, "encrypted_pinblock_verify" + suffix)
    clear = crypto.iso0_block("1234", "4012345678909")
    assert clear == _h(TDES["pinblock"])
    for before, after in itertools.pairwise(ksns):
        counter = int(before[-6:], 16) & 0x1FFFFF
        assert crypto.next_counter(counter, False) == int(after[-6:], 16) & 0x1FFFFF
    for ksn, block in zip(ksns, blocks, strict=True):
        key = crypto.tdes_dukpt_pin_key(ipek, bytes.fromhex(ksn))
        assert crypto.tdes_ecb_encrypt(key, clear).hex().upper() == block, ksn


def test_aes_dukpt_x9_24_3_pin_keys_and_blocks() -> None:
    initial = _h(AES128["ik_verify"])
    fill = _h(AES128["pinfield"])[8:]
    for ksn, key_hex, block in zip(
        _list(AES128, "ksn_verify"),
        _list(AES128, "pin_key_aes128_verify"),
        _list(AES128, "encrypted_pinblock_verify"),
        strict=True,
    ):
        key = crypto.aes_dukpt_pin_key(initial, bytes.fromhex(ksn))
        assert key.hex().upper() == key_hex
        enciphered = crypto.iso4_encipher(key, "1234", str(AES128["pan"]), fill)
        assert enciphered.hex().upper() == block


def test_counters_skip_as_the_host_expects() -> None:
    for counter in [
        0,
        1,
        0x3FE,
        0x7FE,
        0xFF800,
        0x1FF7FF,
        *(RNG.randrange(1 << 20) for _ in range(200)),
    ]:
        assert crypto.next_counter(counter, False) == dukpt.next_counter(counter)
    for counter in [0, 0x1FFFE, 0xFFFF, *(RNG.randrange(1 << 31) for _ in range(200))]:
        assert crypto.next_counter(counter, True) == dukpt.next_counter(counter, aes=True)
    with pytest.raises(ValueError):
        crypto.next_counter(0x1FF800, False)
