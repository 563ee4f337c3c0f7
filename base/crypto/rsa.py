# Strategy: the RSA public-key operation of EMV 4.3 Book 2 Annex A2.1 (the
# only RSA the terminal performs: certificate and signature recovery, and
# the offline enciphered PIN of Book 2 7.1). Plain Python `pow`: with the
# EMV exponents 3 and 65537 it costs microseconds, and it needs no padding
# scheme (EMV signatures use ISO/IEC 9796-2 message recovery, not PKCS#1).
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RsaError", "RsaPublicKey", "rsa_public"]


class RsaError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RsaPublicKey:
    modulus: bytes
    exponent: bytes

    @property
    def size(self) -> int:
        """Modulus length in bytes (N_CA, N_I, N_IC, N_PE in Book 2)."""
        return len(self.modulus)

    def __repr__(self) -> str:
        return f"RsaPublicKey({self.size * 8} bits, e={self.exponent.hex().upper()})"


def rsa_public(key: RsaPublicKey, data: bytes) -> bytes:
    """X = data^e mod n, as many bytes as the modulus; input must have the modulus length."""
    if len(data) != key.size:
        raise RsaError(f"input is {len(data)} bytes, modulus is {key.size}")
    n = int.from_bytes(key.modulus, "big")
    e = int.from_bytes(key.exponent, "big")
    m = int.from_bytes(data, "big")
    if n < 3 or e < 1:
        raise RsaError("invalid public key")
    if m >= n:
        raise RsaError("input not smaller than the modulus")
    return pow(m, e, n).to_bytes(key.size, "big")
