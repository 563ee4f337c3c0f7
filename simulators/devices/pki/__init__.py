"""Test PKI data for simulator mode (TEST ONLY): CA public keys, issuer master keys.

Files (formats in README.md next to this module):
- ``ca-keys.json``: public keys of the generated test CAs that sign the virtual
  cards' issuer certificates (the simulator's default CA key store).
- ``scheme-test-ca-keys.json``: the public scheme test CA keys of
  tests/vectors/emv-capk-test-and-live.txt, converted to the same format.
- ``issuer-master-keys.json``: issuer master keys (AC, SMI, SMC) and the card
  list (PAN, PSN, cryptogram version) for the acquirer host simulator.

The loaders here return plain data and kernel types, so whoever wires the
simulator (cardcore) can hand them to the CA key store and the host simulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from base.crypto import emv
from base.errors import CardcoreError

__all__ = [
    "CardKeys",
    "IssuerKeyFile",
    "PkiError",
    "load_ca_keys",
    "load_issuer_keys",
    "load_scheme_test_ca_keys",
]


class PkiError(CardcoreError):
    """Malformed test PKI file."""


def _load(name: str) -> Any:
    return json.loads((resources.files(__name__) / name).read_text(encoding="utf-8"))


def load_ca_keys() -> list[dict[str, Any]]:
    """The generated test CA public keys: dicts with rid, index, modulus,
    exponent (hex), expiry (ISO date or None), checksum (hex SHA-1)."""
    return list(_load("ca-keys.json")["keys"])


def load_scheme_test_ca_keys() -> list[dict[str, Any]]:
    """The public scheme test CA keys from the vector file, same shape."""
    return list(_load("scheme-test-ca-keys.json")["keys"])


@dataclass(frozen=True)
class CardKeys:
    """What the issuer host needs to verify one virtual card's cryptograms."""

    profile: str
    aid: str
    pan: str
    psn: str
    issuer: str
    version: emv.CryptogramVersion
    keys: emv.IssuerMasterKeys

    def crypto(self) -> emv.IssuerCrypto:
        return emv.IssuerCrypto(self.keys, self.version)


class IssuerKeyFile:
    """The parsed issuer-master-keys.json."""

    def __init__(self, document: dict[str, Any]) -> None:
        try:
            self.issuers: dict[str, emv.IssuerMasterKeys] = {
                entry["name"]: emv.IssuerMasterKeys(
                    ac=bytes.fromhex(entry["imk_ac"]),
                    smi=bytes.fromhex(entry["imk_smi"]),
                    smc=bytes.fromhex(entry["imk_smc"]),
                    option=entry["derivation_option"],
                )
                for entry in document["issuers"]
            }
            self.prefixes: dict[str, str] = {
                prefix: entry["name"]
                for entry in document["issuers"]
                for prefix in entry["pan_prefixes"]
            }
            self.cards = [
                CardKeys(
                    profile=c["profile"],
                    aid=c["aid"],
                    pan=c["pan"],
                    psn=c["psn"],
                    issuer=c["issuer"],
                    version=emv.VERSIONS[c["cryptogram_version"]],
                    keys=self.issuers[c["issuer"]],
                )
                for c in document["cards"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise PkiError(f"malformed issuer key file: {exc!r}") from exc

    def card(self, pan: str, psn: str | None = None) -> CardKeys | None:
        """The card entry for a PAN (and PSN when several share the PAN)."""
        for card in self.cards:
            if card.pan == pan and (psn is None or card.psn == psn):
                return card
        return None

    def issuer_for_pan(self, pan: str) -> emv.IssuerMasterKeys | None:
        """Issuer master keys by the longest matching PAN prefix."""
        for length in range(len(pan), 0, -1):
            name = self.prefixes.get(pan[:length])
            if name is not None:
                return self.issuers[name]
        return None


def load_issuer_keys() -> IssuerKeyFile:
    return IssuerKeyFile(_load("issuer-master-keys.json"))
