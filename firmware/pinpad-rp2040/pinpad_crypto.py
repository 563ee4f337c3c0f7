# Strategy: the reference PIN pad's cryptography in plain Python that runs
# unchanged on CircuitPython (RP2040) and on CPython (the repository's tests
# compare every function with the `cryptography` package and the published
# X9.24 vectors). Nothing here needs more than int, bytes and bytearray.
# - DES (FIPS 46-3) and two-key TDES in ECB (ISO 9564 format 0 under a TPK,
#   key unwrapping under the TMK, TDES DUKPT X9.24-1:2009).
# - AES (FIPS 197) block encryption only: CircuitPython's `aesio` when the
#   board has it, else the table code here; GCM (SP 800-38D, 96-bit nonce)
#   for the offline PIN link, CMAC (SP 800-38B) for the AES key check value,
#   AES DUKPT (X9.24-3:2017) and ISO 9564-1 format 4.
# - PIN blocks: ISO 9564-1 formats 0, 2 and 4.
# Timing: the DES and AES code here are table lookups on secret indices; a
# reference device for a test bench, not a PCI PTS certified PED (see
# docs/pinpad-protocol.md, "The reference device").

try:
    import aesio  # CircuitPython

    _AESIO = True
except ImportError:
    _AESIO = False


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


# --- DES ------------------------------------------------------------------------------

_PC1 = (57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19,
        11, 3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6,
        61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4)  # fmt: skip
_PC2 = (14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36,
        29, 32)  # fmt: skip
_SHIFTS = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)
_IP = (58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22,
       14, 6, 64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27,
       19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7)  # fmt: skip
_FP = (40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62,
       30, 37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19,
       59, 27, 34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25)  # fmt: skip
_E = (32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16,
      17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32,
      1)  # fmt: skip
_P = (16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9,
      19, 13, 30, 6, 22, 11, 4, 25)  # fmt: skip
_S = (
    (14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
     11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1,
     7, 5, 11, 3, 14, 10, 0, 6, 13),
    (15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
     10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
     4, 2, 11, 6, 7, 12, 0, 5, 14, 9),
    (10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14,
     12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8,
     7, 4, 15, 14, 3, 11, 5, 2, 12),
    (7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12,
     1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13,
     8, 9, 4, 5, 11, 12, 7, 2, 14),
    (2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
     10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2,
     13, 6, 15, 0, 9, 10, 4, 5, 3),
    (12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
     14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15,
     10, 11, 14, 1, 7, 6, 0, 8, 13),
    (4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
     12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
     10, 7, 9, 5, 0, 15, 14, 2, 3, 12),
    (13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
     11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8,
     13, 15, 12, 9, 0, 3, 5, 6, 11),
)  # fmt: skip


def _permute(value, table, width):
    out = 0
    for position in table:
        out = (out << 1) | ((value >> (width - position)) & 1)
    return out


def _subkeys(key8):
    cd = _permute(int.from_bytes(key8, "big"), _PC1, 64)
    c, d = cd >> 28, cd & 0x0FFFFFFF
    keys = []
    for shift in _SHIFTS:
        c = ((c << shift) | (c >> (28 - shift))) & 0x0FFFFFFF
        d = ((d << shift) | (d >> (28 - shift))) & 0x0FFFFFFF
        keys.append(_permute((c << 28) | d, _PC2, 56))
    return keys


def _feistel(right, subkey):
    x = _permute(right, _E, 32) ^ subkey
    out = 0
    for box in range(8):
        six = (x >> (42 - 6 * box)) & 0x3F
        row = ((six >> 4) & 2) | (six & 1)
        out = (out << 4) | _S[box][row * 16 + ((six >> 1) & 0x0F)]
    return _permute(out, _P, 32)


def _des(key8, block, decrypt=False):
    keys = _subkeys(key8)
    if decrypt:
        keys = keys[::-1]
    value = _permute(int.from_bytes(block, "big"), _IP, 64)
    left, right = value >> 32, value & 0xFFFFFFFF
    for subkey in keys:
        left, right = right, left ^ _feistel(right, subkey)
    return _permute((right << 32) | left, _FP, 64).to_bytes(8, "big")


def _tdes_block(key, block, decrypt):
    k1, k2 = key[:8], key[8:16]
    k3 = key[16:24] if len(key) == 24 else k1
    if len(key) == 8:
        return _des(key, block, decrypt)
    if decrypt:
        return _des(k1, _des(k2, _des(k3, block, True)), True)
    return _des(k3, _des(k2, _des(k1, block), True))


def tdes_ecb_encrypt(key, data):
    return b"".join(_tdes_block(key, data[i : i + 8], False) for i in range(0, len(data), 8))


def tdes_ecb_decrypt(key, data):
    return b"".join(_tdes_block(key, data[i : i + 8], True) for i in range(0, len(data), 8))


def kcv_tdes(key):
    return tdes_ecb_encrypt(key, bytes(8))[:3]


# --- AES ---------------------------------------------------------------------------------


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    # FIPS 197 5.1.1: the multiplicative inverse in GF(2^8), then the affine map.
    inverse = [0] * 256
    p = q = 1
    while True:
        p ^= _xtime(p)  # p * 3
        q ^= q << 1  # q / 3
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        inverse[p] = q
        if p == 1:
            break
    box = []
    for x in range(256):
        b = inverse[x] if x else 0
        s = b
        for shift in (1, 2, 3, 4):
            s ^= ((b << shift) | (b >> (8 - shift))) & 0xFF
        box.append(s ^ 0x63)
    return bytes(box)


_SBOX = _sbox()


def _expand_key(key):
    nk = len(key) // 4
    rounds = nk + 6
    words = [list(key[4 * i : 4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        temp = list(words[i - 1])
        if i % nk == 0:
            temp = [_SBOX[temp[1]] ^ rcon, _SBOX[temp[2]], _SBOX[temp[3]], _SBOX[temp[0]]]
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            temp = [_SBOX[b] for b in temp]
        words.append([words[i - nk][j] ^ temp[j] for j in range(4)])
    keys = []
    for r in range(rounds + 1):
        key = []
        for word in words[4 * r : 4 * r + 4]:
            key += word
        keys.append(key)
    return keys


def _aes_block(round_keys, block):
    state = [b ^ k for b, k in zip(block, round_keys[0])]
    last = len(round_keys) - 1
    for r in range(1, last + 1):
        state = [_SBOX[b] for b in state]
        # ShiftRows on the column-major state (byte i = row i % 4, column i // 4).
        state = [state[(i + 4 * (i % 4)) % 16] for i in range(16)]
        if r != last:
            mixed = []
            for c in range(4):
                a = state[4 * c : 4 * c + 4]
                t = a[0] ^ a[1] ^ a[2] ^ a[3]
                mixed += [a[i] ^ t ^ _xtime(a[i] ^ a[(i + 1) % 4]) for i in range(4)]
            state = mixed
        state = [b ^ k for b, k in zip(state, round_keys[r])]
    return bytes(state)


class Aes:
    """AES-ECB encryption under one key (aesio on the board, tables elsewhere)."""

    def __init__(self, key):
        if len(key) not in (16, 24, 32):
            raise ValueError("AES keys are 16, 24 or 32 bytes")
        self._aesio = aesio.AES(bytes(key), aesio.MODE_ECB) if _AESIO else None
        self._round_keys = None if _AESIO else _expand_key(bytes(key))

    def encrypt_block(self, block):
        if self._aesio is not None:
            out = bytearray(16)
            self._aesio.encrypt_into(bytes(block), out)
            return bytes(out)
        return _aes_block(self._round_keys, block)

    def encrypt(self, data):
        return b"".join(self.encrypt_block(data[i : i + 16]) for i in range(0, len(data), 16))


def aes_ecb_encrypt(key, data):
    return Aes(key).encrypt(data)


def _shift_left(block):
    value = (int.from_bytes(block, "big") << 1) & ((1 << 128) - 1)
    return value.to_bytes(16, "big")


def aes_cmac(key, data):
    """SP 800-38B."""
    cipher = Aes(key)
    lhs = cipher.encrypt_block(bytes(16))
    k1 = _shift_left(lhs)
    if lhs[0] & 0x80:
        k1 = xor(k1, bytes(15) + b"\x87")
    k2 = _shift_left(k1)
    if k1[0] & 0x80:
        k2 = xor(k2, bytes(15) + b"\x87")
    blocks = [data[i : i + 16] for i in range(0, len(data), 16)] or [b""]
    last = blocks[-1]
    last = xor(last, k1) if len(last) == 16 else xor(last + b"\x80" + bytes(15 - len(last)), k2)
    mac = bytes(16)
    for block in blocks[:-1] + [last]:
        mac = cipher.encrypt_block(xor(mac, block))
    return mac


def kcv_aes(key):
    return aes_cmac(key, bytes(16))[:3]


# --- GCM (SP 800-38D) ------------------------------------------------------------------

_R = 0xE1 << 120


def _gmul(x, y):
    z, v = 0, y
    for bit in range(127, -1, -1):
        if (x >> bit) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _ghash(h, aad, ciphertext):
    def blocks(data):
        for i in range(0, len(data), 16):
            yield int.from_bytes(data[i : i + 16] + bytes(16 - len(data[i : i + 16])), "big")

    y = 0
    for block in blocks(aad):
        y = _gmul(y ^ block, h)
    for block in blocks(ciphertext):
        y = _gmul(y ^ block, h)
    lengths = ((len(aad) * 8) << 64) | (len(ciphertext) * 8)
    return _gmul(y ^ lengths, h)


def aes_gcm_encrypt(key, nonce, plaintext, aad):
    """Ciphertext || 16-byte tag, as `cryptography`'s AESGCM.encrypt gives it."""
    if len(nonce) != 12:
        raise ValueError("a 96-bit nonce")
    cipher = Aes(key)
    h = int.from_bytes(cipher.encrypt_block(bytes(16)), "big")
    out = bytearray()
    for index in range(0, len(plaintext), 16):
        counter = nonce + (2 + index // 16).to_bytes(4, "big")
        stream = cipher.encrypt_block(counter)
        chunk = plaintext[index : index + 16]
        out += xor(chunk, stream[: len(chunk)])
    tag = _ghash(h, aad, bytes(out)) ^ int.from_bytes(
        cipher.encrypt_block(nonce + b"\0\0\0\1"), "big"
    )
    return bytes(out) + tag.to_bytes(16, "big")


# --- PIN blocks (ISO 9564-1) -------------------------------------------------------------


def _nibbles(text):
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


def pin_field(control, pin, filler="F"):
    digits = f"{control:X}{len(pin):X}{pin}"
    return _nibbles(digits + filler * (16 - len(digits)))


def iso0_block(pin, pan):
    """Format 0: the PIN field xor 0000 and the PAN's rightmost 12 digits
    without the check digit."""
    return xor(pin_field(0, pin), _nibbles("0000" + pan[-13:-1]))


def iso2_block(pin):
    return pin_field(2, pin)


def iso4_encipher(key, pin, pan, fill):
    """Format 4: E(K, E(K, PIN field) xor PAN field); ``fill`` 8 random bytes."""
    field = pin_field(4, pin, "A")[:8] + fill
    pan_digits = f"{max(len(pan) - 12, 0):X}" + "0" * max(12 - len(pan), 0) + pan
    pan_field = _nibbles(pan_digits + "0" * (32 - len(pan_digits)))
    cipher = Aes(key)
    return cipher.encrypt_block(xor(cipher.encrypt_block(field), pan_field))


# --- DUKPT --------------------------------------------------------------------------------

_C0 = _nibbles("C0C0C0C000000000C0C0C0C000000000")
TDES_COUNTER_BITS = 21


def _ones(value):
    count = 0
    while value:
        value &= value - 1
        count += 1
    return count


def next_counter(counter, aes):
    """The next transaction counter (X9.24-1 A.2, X9.24-3 6.3): counters
    with more than 10 (TDES) or 16 (AES) one-bits are skipped."""
    limit, top = (16, 1 << 32) if aes else (10, 1 << TDES_COUNTER_BITS)
    nxt = counter + 1
    while nxt < top and _ones(nxt) > limit:
        nxt += nxt & -nxt
    if nxt >= top:
        raise ValueError("transaction counter exhausted: inject a new initial key")
    return nxt


def _non_reversible(key, data):
    right = xor(_des(key[:8], xor(data, key[8:])), key[8:])
    variant = xor(key, _C0)
    left = xor(_des(variant[:8], xor(data, variant[8:])), variant[8:])
    return left + right


def tdes_dukpt_pin_key(initial_key, ksn):
    """X9.24-1:2009: the transaction key of the KSN's counter from the
    initial key (the non-reversible process along the counter's one-bits),
    then the PIN variant."""
    mask = (1 << TDES_COUNTER_BITS) - 1
    counter = int.from_bytes(ksn[-3:], "big") & mask
    register = int.from_bytes(ksn[2:], "big") & ~mask
    key = initial_key
    for bit in range(TDES_COUNTER_BITS - 1, -1, -1):
        if counter & (1 << bit):
            register |= 1 << bit
            key = _non_reversible(key, register.to_bytes(8, "big"))
    return xor(key, _nibbles("00000000000000FF" * 2))


def _aes_derive(parent, usage, tail):
    # X9.24-3:2017 6.3.2 derivation data for an AES-128 key.
    data = bytes((0x01, 0x01)) + usage.to_bytes(2, "big") + b"\x00\x02\x00\x80" + tail
    return Aes(parent).encrypt_block(data)


def aes_dukpt_pin_key(initial_key, ksn):
    """X9.24-3:2017: walk the counter from the initial key (usage 8000),
    then the AES-128 PIN encryption key (usage 1000)."""
    ikid, counter = ksn[:8], int.from_bytes(ksn[8:], "big")
    key, working = initial_key, 0
    for bit in range(31, -1, -1):
        if counter & (1 << bit):
            working |= 1 << bit
            key = _aes_derive(key, 0x8000, ikid[4:] + working.to_bytes(4, "big"))
    return _aes_derive(key, 0x1000, ikid[4:] + counter.to_bytes(4, "big"))
