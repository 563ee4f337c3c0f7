"""The reference PIN pad's firmware (firmware/pinpad-rp2040) imported under
CPython: its modules are top-level ones on the board, so their directory goes
on sys.path; CircuitPython-only modules are stood in for by the tests that
run boot.py and code.py."""

from __future__ import annotations

import sys
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware" / "pinpad-rp2040"
if str(FIRMWARE) not in sys.path:
    sys.path.insert(0, str(FIRMWARE))

import pinpad_crypto as crypto  # noqa: E402
import pinpad_keys as keyfile  # noqa: E402
import pinpad_logic as logic  # noqa: E402
import pinpad_main as main  # noqa: E402
import pinpad_protocol as protocol  # noqa: E402

__all__ = ["FIRMWARE", "crypto", "keyfile", "logic", "main", "protocol"]
