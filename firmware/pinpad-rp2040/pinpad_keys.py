# Strategy: the reference pad's key file (docs/pinpad-protocol.md, "Keys"):
# JSON written at key injection, read at start-up; the DUKPT counter is
# rewritten after each online PIN block. TEST keys only: the RP2040 keeps
# its flash readable to anyone who holds the board.
# {
#   "tmk": "<32 hex digits>",                 # terminal master key (TDES, 2 keys)
#   "dukpt": "tdes" | "aes" | null,           # the online-PIN scheme; null: the TPK
#   "initial-key": "<32 hex digits>",         # DUKPT initial key (IPEK / AES-128 IK)
#   "ksn": "<20 or 24 hex digits>"            # the KSN the initial key was made for
# }
import json

from pinpad_logic import Keys

KEY_FILE = "/keys.json"
COUNTER_FILE = "/ksn.txt"


def _unhex(text):
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2)) if text else None


def _hex(data):
    return "".join(f"{b:02X}" for b in data)


def load_keys(key_file=KEY_FILE, counter_file=COUNTER_FILE):
    try:
        with open(key_file) as f:
            data = json.load(f)
    except OSError:
        return Keys()  # no keys injected: every key request answers NO_KEY
    keys = Keys(
        tmk=_unhex(data.get("tmk")),
        dukpt=data.get("dukpt"),
        initial_key=_unhex(data.get("initial-key")),
        ksn=_unhex(data.get("ksn")),
    )
    try:
        with open(counter_file) as f:
            last = _unhex(f.read().strip())
        if last is not None and keys.ksn is not None and len(last) == len(keys.ksn):
            keys.ksn = last  # the last KSN spent, never reused
    except OSError:
        pass
    return keys


def saver(counter_file=COUNTER_FILE):
    """A `counter_changed` callback writing the spent KSN (flash must be
    writable by the code: boot.py remounts it outside maintenance mode)."""

    def save(ksn):
        with open(counter_file, "w") as f:
            f.write(_hex(ksn))

    return save
