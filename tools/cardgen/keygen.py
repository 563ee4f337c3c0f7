# Strategy: deterministic test keys, so regenerating the test PKI from the same
# seed rewrites byte-identical files (no churn in the repository).
# - A SHAKE-256 stream keyed by (seed, label) feeds prime candidates and
#   Miller-Rabin witnesses; each key has its own label, so adding a profile
#   never changes the keys of the others.
# - Primes have their two top bits set (the modulus has exactly the requested
#   length and its first byte is above 6A, as EMV Book 2 recovery needs) and
#   gcd(p - 1, e) = 1 for the public exponent (3 or 65537).
# - Double-length DES keys (issuer master keys) get odd parity.
# These keys are for tests and the simulator only.
from __future__ import annotations

import hashlib
import math

from base.crypto.des import adjust_odd_parity
from simulators.devices.rsa import RsaPrivateKey

__all__ = ["Drbg", "generate_rsa_key", "generate_tdes_key", "is_probable_prime"]

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


class Drbg:
    """A deterministic byte stream: SHAKE-256(seed || 00 || label || counter)."""

    def __init__(self, seed: bytes, label: str) -> None:
        self._prefix = seed + b"\x00" + label.encode()
        self._counter = 0

    def read(self, n: int) -> bytes:
        self._counter += 1
        block = self._prefix + self._counter.to_bytes(8, "big")
        return hashlib.shake_256(block).digest(n)

    def below(self, bound: int) -> int:
        """A number in [0, bound) with negligible bias."""
        size = (bound.bit_length() + 7) // 8 + 8
        return int.from_bytes(self.read(size), "big") % bound


def is_probable_prime(n: int, drbg: Drbg, rounds: int = 40) -> bool:
    if n < 4:
        return n in (2, 3)
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        x = pow(2 + drbg.below(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(drbg: Drbg, bits: int, exponent: int) -> int:
    nbytes = (bits + 7) // 8
    while True:
        candidate = int.from_bytes(drbg.read(nbytes), "big") >> (8 * nbytes - bits)
        candidate |= (3 << (bits - 2)) | 1
        if math.gcd(candidate - 1, exponent) != 1:
            continue
        if is_probable_prime(candidate, drbg):
            return candidate


def generate_rsa_key(seed: bytes, label: str, bits: int, exponent: int) -> RsaPrivateKey:
    """An RSA key of exactly ``bits`` bits (a multiple of 16 here), public
    exponent 3 or 65537, reproducible from (seed, label)."""
    if bits % 16 or exponent not in (3, 65537):
        raise ValueError("bits must be a multiple of 16, exponent 3 or 65537")
    drbg = Drbg(seed, f"rsa/{label}/{bits}/{exponent}")
    while True:
        p = _prime(drbg, bits // 2, exponent)
        q = _prime(drbg, bits // 2, exponent)
        n = p * q
        if p == q or n.bit_length() != bits:
            continue
        d = pow(exponent, -1, math.lcm(p - 1, q - 1))
        p, q = max(p, q), min(p, q)
        return RsaPrivateKey(
            modulus=n, public_exponent=exponent, private_exponent=d, prime1=p, prime2=q
        )


def generate_tdes_key(seed: bytes, label: str) -> bytes:
    """A double-length TDES key with odd parity, reproducible from (seed, label)."""
    return adjust_odd_parity(Drbg(seed, f"tdes/{label}").read(16))
