# Strategy: convert the public CA key list of tests/vectors/emv-capk-test-and-live.txt
# into the CA key store JSON (same format as the generated test CA keys).
# Each row's checksum is recomputed per EMV Book 2 11.2.2 (SHA-1 of RID ||
# index || modulus || exponent) and must match the published one. Keys are
# keyed by (RID, index) inside one set; the test and live sets conflict (e.g.
# A000000004/05), so only one set is converted at a time.
from __future__ import annotations

import re
from typing import Any

from simulators.devices.rsa import RsaPublicKey
from tools.cardgen.build import ca_key_entry

__all__ = ["CapkError", "convert"]


class CapkError(ValueError):
    pass


def _expiry(source: str) -> str | None:
    match = re.search(r"exp=(\d{6})", source)
    if match is None or match.group(1) == "000000":
        return None
    yy, mm, dd = match.group(1)[:2], match.group(1)[2:4], match.group(1)[4:]
    return f"20{yy}-{mm}-{dd}"


def convert(text: str, *, kind: str = "test") -> dict[str, Any]:
    """Parse the vector file and return the key store document for ``kind``
    ("test" or "live")."""
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    pending: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("MODULUS="):
            if pending is None:
                raise CapkError("MODULUS line without a key line")
            source, rid, index, label, _bits, exponent, checksum = pending[:7]
            pending = None
            if label != kind:
                continue
            key = RsaPublicKey(int(line[8:], 16), int(exponent, 16))
            entry = ca_key_entry(rid, int(index, 16), key, _expiry(source), source)
            if entry["checksum"] != checksum.upper():
                raise CapkError(f"checksum mismatch for {rid}/{index}")
            previous = entries.get((rid, int(index, 16)))
            if previous is not None:
                if previous["modulus"] != entry["modulus"]:
                    raise CapkError(f"two different {kind} keys for {rid}/{index}")
                if previous["expiry"] is None:
                    previous["expiry"] = entry["expiry"]
                continue
            entries[(rid, int(index, 16))] = entry
        elif "|" in line:
            pending = [c.strip() for c in line.split("|")]
    return {
        "format": 1,
        "warning": f"{kind.upper()} CA public keys as published in public repositories "
        "(see tests/vectors/emv-capk-test-and-live.txt for sources); not an official list",
        "keys": [entries[k] for k in sorted(entries)],
    }
