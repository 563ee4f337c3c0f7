# Strategy: the terminal's Certification Authority Public Key store, EMV 4.3
# Book 2 11.2 (Table 23 "Minimum Set of CA Public Key Related Data Elements":
# RID, index, hash algorithm, public key algorithm, modulus, exponent,
# checksum) and 5.1 / 11.2.2:
# - a key is accepted only when its SHA-1 checksum over
#   RID || index || modulus || exponent verifies (Book 2 11.2.2);
# - keys are looked up by (RID, index) within one configured key set; a key
#   whose expiry date has passed is treated as absent (Book 2 11.2.1: expired
#   keys are withdrawn);
# - a revocation list of (RID, index, certificate serial number) feeds the
#   issuer-certificate check of Book 2 5.3 step 10.
# Two loaders: the text format of tests/vectors/emv-capk-test-and-live.txt
# (rows "source | RID | index | label | bits | exponent | checksum | ..."
# followed by "MODULUS=<hex>", an "exp=YYMMDD" in the source column) and a
# simple JSON document {"keys": [{"rid", "index", "modulus", "exponent",
# "expiry" (YYYY-MM-DD or null), "checksum"}]}.
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from base.crypto.rsa import RsaPublicKey
from kernel.errors import CaKeyError
from kernel.values import year_from_yy

__all__ = ["CaKeyStore", "CaPublicKey"]


@dataclass(frozen=True, slots=True)
class CaPublicKey:
    rid: bytes
    index: int
    modulus: bytes
    exponent: bytes
    expiry: dt.date | None = None
    checksum: bytes | None = None
    label: str = ""

    def compute_checksum(self) -> bytes:
        """SHA-1 over RID || index || modulus || exponent (Book 2 11.2.2)."""
        return hashlib.sha1(
            self.rid + bytes([self.index]) + self.modulus + self.exponent, usedforsecurity=False
        ).digest()

    @property
    def public_key(self) -> RsaPublicKey:
        return RsaPublicKey(self.modulus, self.exponent)

    def expired(self, today: dt.date) -> bool:
        return self.expiry is not None and today > self.expiry

    def validate(self) -> None:
        if len(self.rid) != 5:
            raise CaKeyError(f"RID must be 5 bytes, got {len(self.rid)}")
        if not 0 <= self.index <= 0xFF:
            raise CaKeyError("CA public key index must be one byte")
        if not 64 <= len(self.modulus) <= 248 or self.modulus[0] == 0:
            raise CaKeyError(f"{self}: modulus length {len(self.modulus)} not allowed")
        if self.exponent not in (b"\x03", b"\x01\x00\x01"):
            raise CaKeyError(f"{self}: exponent must be 3 or 65537")
        if self.checksum is not None and self.compute_checksum() != self.checksum:
            raise CaKeyError(f"{self}: checksum does not verify")

    def __str__(self) -> str:
        return f"CA key {self.rid.hex().upper()}/{self.index:02X}"


class CaKeyStore:
    """CA public keys by (RID, index); every key is validated when added."""

    def __init__(self, keys: Iterable[CaPublicKey] = ()) -> None:
        self._keys: dict[tuple[bytes, int], CaPublicKey] = {}
        self._revoked: set[tuple[bytes, int, bytes]] = set()
        for key in keys:
            self.add(key)

    def add(self, key: CaPublicKey) -> None:
        key.validate()
        ident = (key.rid, key.index)
        old = self._keys.get(ident)
        if old is not None and (old.modulus, old.exponent) != (key.modulus, key.exponent):
            raise CaKeyError(f"{key}: a different key with this RID and index is loaded")
        self._keys[ident] = key

    def get(self, rid: bytes, index: int, today: dt.date | None = None) -> CaPublicKey | None:
        key = self._keys.get((bytes(rid[:5]), index))
        if key is None or (today is not None and key.expired(today)):
            return None
        return key

    def revoke(self, rid: bytes, index: int, serial: bytes) -> None:
        """Add an issuer certificate serial number to the revocation list (Book 2 5.3 step 10)."""
        self._revoked.add((bytes(rid), index, bytes(serial)))

    def is_revoked(self, rid: bytes, index: int, serial: bytes) -> bool:
        return (bytes(rid), index, bytes(serial)) in self._revoked

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[CaPublicKey]:
        return iter(self._keys.values())

    # --- loaders -------------------------------------------------------------

    @classmethod
    def from_capk_text(cls, text: str, *, labels: Collection[str] | None = None) -> CaKeyStore:
        """Load the pipe-separated text format; `labels` filters on the live/test column."""
        store = cls()
        for key in _parse_capk_text(text):
            if labels is None or key.label in labels:
                store.add(key)
        return store

    @classmethod
    def from_json(cls, text: str | bytes) -> CaKeyStore:
        try:
            doc = json.loads(text)
            rows = doc["keys"]
            keys = [_key_from_json(row) for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise CaKeyError(f"malformed CA key document: {exc}") from exc
        return cls(keys)

    def to_json(self) -> str:
        rows = [
            {
                "rid": k.rid.hex().upper(),
                "index": f"{k.index:02X}",
                "modulus": k.modulus.hex().upper(),
                "exponent": k.exponent.hex().upper(),
                "expiry": k.expiry.isoformat() if k.expiry else None,
                "checksum": k.compute_checksum().hex().upper(),
                "label": k.label,
            }
            for k in self
        ]
        return json.dumps({"keys": rows}, indent=1)


def _key_from_json(row: dict[str, object]) -> CaPublicKey:
    def hexfield(name: str) -> bytes:
        value = row[name]
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a hex string")
        return bytes.fromhex(value)

    expiry = row.get("expiry")
    return CaPublicKey(
        rid=hexfield("rid"),
        index=int.from_bytes(hexfield("index"), "big"),
        modulus=hexfield("modulus"),
        exponent=hexfield("exponent"),
        expiry=dt.date.fromisoformat(expiry) if isinstance(expiry, str) else None,
        # Book 2 11.2.2: a key is loaded only with its checksum, and verified.
        checksum=hexfield("checksum"),
        label=str(row.get("label", "")),
    )


def _parse_yymmdd(text: str) -> dt.date | None:
    if text == "000000":
        return None
    return dt.date(year_from_yy(int(text[0:2])), int(text[2:4]), int(text[4:6]))


def _parse_capk_text(text: str) -> Iterator[CaPublicKey]:
    pending: list[str] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("MODULUS="):
            if pending is None:
                raise CaKeyError(f"line {lineno}: MODULUS without a key row")
            yield _row_to_key(pending, line[len("MODULUS=") :], lineno)
            pending = None
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 7:
            raise CaKeyError(f"line {lineno}: expected a key row")
        pending = cols
    if pending is not None:
        raise CaKeyError("last key row has no MODULUS line")


def _row_to_key(cols: list[str], modulus_hex: str, lineno: int) -> CaPublicKey:
    source, rid, index, label, bits, exponent, checksum = cols[:7]
    expiry = None
    for word in source.split():
        if word.startswith("exp="):
            expiry = _parse_yymmdd(word[4:])
    try:
        key = CaPublicKey(
            rid=bytes.fromhex(rid),
            index=int(index, 16),
            modulus=bytes.fromhex(modulus_hex),
            exponent=bytes.fromhex(exponent),
            expiry=expiry,
            checksum=bytes.fromhex(checksum),
            label=label,
        )
    except ValueError as exc:
        raise CaKeyError(f"line {lineno}: {exc}") from exc
    if int(bits) != len(key.modulus) * 8:
        raise CaKeyError(f"line {lineno}: {key} is not {bits} bits")
    return key
