# Strategy: raw RSA as EMV Book 2 uses it (sections 5-7): the signer applies
# the private key to a block that already carries the 6A..BC framing, the
# verifier applies the public exponent and checks the framing itself; there is
# no PKCS#1 padding. The `cryptography` package does not offer unpadded private
# operations, so this is modular exponentiation with the CRT. Keys here are
# virtual-card test keys only.
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RsaError", "RsaPrivateKey", "RsaPublicKey"]


class RsaError(ValueError):
    pass


def _bytes(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


@dataclass(frozen=True, slots=True)
class RsaPublicKey:
    modulus: int
    exponent: int

    @property
    def size(self) -> int:
        """Modulus length in bytes (N in Book 2)."""
        return (self.modulus.bit_length() + 7) // 8

    @property
    def modulus_bytes(self) -> bytes:
        return _bytes(self.modulus, self.size)

    @property
    def exponent_bytes(self) -> bytes:
        """The exponent as Book 2 stores it: 03 or 01 00 01."""
        return _bytes(self.exponent, max(1, (self.exponent.bit_length() + 7) // 8))

    def apply(self, block: bytes) -> bytes:
        """Public operation (recovery / encipherment) on a block of length N."""
        if len(block) != self.size:
            raise RsaError(f"block must be {self.size} bytes")
        value = int.from_bytes(block, "big")
        if value >= self.modulus:
            raise RsaError("block is not smaller than the modulus")
        return _bytes(pow(value, self.exponent, self.modulus), self.size)


@dataclass(frozen=True, slots=True)
class RsaPrivateKey:
    modulus: int
    public_exponent: int
    private_exponent: int
    prime1: int
    prime2: int

    def __post_init__(self) -> None:
        if self.prime1 * self.prime2 != self.modulus:
            raise RsaError("primes do not multiply to the modulus")
        probe = 0x1234567 % self.modulus
        if (
            pow(pow(probe, self.public_exponent, self.modulus), self.private_exponent, self.modulus)
            != probe
        ):
            raise RsaError("private exponent does not match the public exponent")

    def __repr__(self) -> str:
        return f"RsaPrivateKey(<{self.modulus.bit_length()} bits, e={self.public_exponent}>)"

    @property
    def public(self) -> RsaPublicKey:
        return RsaPublicKey(self.modulus, self.public_exponent)

    @property
    def size(self) -> int:
        return (self.modulus.bit_length() + 7) // 8

    def apply(self, block: bytes) -> bytes:
        """Private operation (signing / decipherment) on a block of length N."""
        if len(block) != self.size:
            raise RsaError(f"block must be {self.size} bytes")
        value = int.from_bytes(block, "big")
        if value >= self.modulus:
            raise RsaError("block is not smaller than the modulus")
        p, q = self.prime1, self.prime2
        m1 = pow(value, self.private_exponent % (p - 1), p)
        m2 = pow(value, self.private_exponent % (q - 1), q)
        h = (pow(q, -1, p) * (m1 - m2)) % p
        return _bytes(m2 + h * q, self.size)

    def to_json(self) -> dict[str, Any]:
        return {
            "warning": "TEST ONLY - virtual card key, never use outside tests",
            "modulus": f"{self.modulus:X}",
            "public_exponent": self.public_exponent,
            "private_exponent": f"{self.private_exponent:X}",
            "prime1": f"{self.prime1:X}",
            "prime2": f"{self.prime2:X}",
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RsaPrivateKey:
        try:
            return cls(
                modulus=int(data["modulus"], 16),
                public_exponent=int(data["public_exponent"]),
                private_exponent=int(data["private_exponent"], 16),
                prime1=int(data["prime1"], 16),
                prime2=int(data["prime2"], 16),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RsaError(f"bad RSA key: {exc}") from exc
