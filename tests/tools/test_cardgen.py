"""The test PKI generator: Luhn, deterministic keys, and the committed profiles
are exactly what the generator produces (a subset is rebuilt here to keep the
suite fast; `python -m tools.cardgen --check` compares everything)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from simulators.devices import list_profiles
from simulators.devices.rsa import RsaError, RsaPrivateKey
from tests.vectors import vector_text
from tools.cardgen import build, capk, keygen
from tools.cardgen.spec import CAS, ISSUERS, PROFILES


@pytest.mark.parametrize(
    ("body", "digit"), [("7992739871", "3"), ("476173900101001", "0"), ("411111111111111", "1")]
)
def test_luhn(body: str, digit: str) -> None:
    assert build.luhn_check_digit(body) == digit


def test_rsa_keys_are_deterministic_and_valid() -> None:
    a = keygen.generate_rsa_key(b"seed", "icc/x", 512, 3)
    assert a == keygen.generate_rsa_key(b"seed", "icc/x", 512, 3)
    assert a != keygen.generate_rsa_key(b"seed", "icc/y", 512, 3)
    assert a != keygen.generate_rsa_key(b"other", "icc/x", 512, 3)
    assert a.modulus.bit_length() == 512 and a.modulus >> 504 > 0x6A
    b = keygen.generate_rsa_key(b"seed", "icc/x", 512, 65537)
    block = bytes([0x6A]) + bytes(62) + b"\xbc"
    for key in (a, b):
        assert key.public.apply(key.apply(block)) == block
    with pytest.raises(ValueError):
        keygen.generate_rsa_key(b"seed", "x", 520, 3)
    with pytest.raises(ValueError):
        keygen.generate_rsa_key(b"seed", "x", 512, 5)


def test_private_key_consistency_is_checked() -> None:
    key = keygen.generate_rsa_key(b"seed", "k", 512, 3)
    with pytest.raises(RsaError):
        RsaPrivateKey(key.modulus, 3, key.private_exponent + 2, key.prime1, key.prime2)
    with pytest.raises(RsaError):
        RsaPrivateKey(key.modulus + 2, 3, key.private_exponent, key.prime1, key.prime2)


def test_primality() -> None:
    drbg = keygen.Drbg(b"s", "p")
    assert keygen.is_probable_prime(2**127 - 1, drbg)
    assert not keygen.is_probable_prime(2**127 + 1, drbg)
    assert not keygen.is_probable_prime(561, drbg)  # Carmichael
    assert keygen.is_probable_prime(1999, drbg)


def test_tdes_keys_have_odd_parity() -> None:
    key = keygen.generate_tdes_key(b"seed", "imk")
    assert len(key) == 16 and all(bin(b).count("1") % 2 for b in key)
    assert key == keygen.generate_tdes_key(b"seed", "imk")


def test_spec_is_consistent() -> None:
    names = [p.name for p in PROFILES]
    assert len(names) == len(set(names)) and sorted(names) == list_profiles()
    for profile in PROFILES:
        for app in profile.apps:
            assert app.issuer in ISSUERS
            assert ISSUERS[app.issuer].ca in CAS
            assert app.aid.startswith(ISSUERS[app.issuer].ca[0])


@pytest.mark.parametrize(
    "names", [("sda", "mir", "enciphered-pin"), ("phone-wallet", "mc-contactless", "mifare-7byte")]
)
def test_committed_profiles_are_reproducible(names: tuple[str, ...]) -> None:
    rebuilt = build.build_profiles(build.DEFAULT_SEED, names)
    assert sorted(rebuilt) == sorted(names)
    for name, profile in rebuilt.items():
        committed = json.loads(
            (resources.files("simulators.devices.profiles") / f"{name}.json").read_text(
                encoding="utf-8"
            )
        )
        assert profile.to_json() == committed, name


def test_describe_cvm() -> None:
    assert build.describe_cvm("4103") == (
        "4103: offline plaintext PIN, if the terminal supports the CVM, apply next if unsuccessful"
    )
    assert build.describe_cvm("1F00").startswith("1F00: no CVM required, always")


def test_capk_conversion_is_committed() -> None:
    converted = capk.convert(vector_text("emv-capk-test-and-live.txt"))
    committed = json.loads(
        (resources.files("simulators.devices.pki") / "scheme-test-ca-keys.json").read_text(
            encoding="utf-8"
        )
    )
    assert converted == committed
    live = capk.convert(vector_text("emv-capk-test-and-live.txt"), kind="live")
    assert {k["rid"] for k in live["keys"]} == {"A000000003", "A000000004", "A000000025"}


def test_capk_conversion_rejects_bad_checksums() -> None:
    text = vector_text("emv-capk-test-and-live.txt")
    broken = text.replace("429C954A3859CEF91295F663C963E582ED6EB253", "00" * 20, 1)
    with pytest.raises(capk.CapkError):
        capk.convert(broken)
