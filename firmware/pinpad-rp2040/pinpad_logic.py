# Strategy: the reference PIN pad's behaviour (docs/pinpad-protocol.md,
# "States" and "Key handling"), free of hardware: reports and key presses in,
# reports out, so the same object runs on the board (code.py feeds it from
# usb_hid and keypad) and under the repository's tests (on the emulated USB
# bus of simulators/usbhid, behind the terminal's driver).
# - States: IDLE; PIN entry (for one ONLINE_PIN or OFFLINE_PIN request,
#   remembered by its sequence number); CONFIRM. One entry at a time: a
#   second PIN or CONFIRM request while one is pending is answered BUSY.
# - PIN entry keys: a digit adds one (up to the request's maximum; more are
#   ignored) and is reported as KEY_EVENT '*' with the count, never the
#   digit; CLEAR empties the entry; ENTER with at least the minimum finishes
#   it, with none and bypass allowed bypasses it, otherwise is ignored;
#   CANCEL ends it as CANCELLED. The request's timeout ends it as TIMEOUT;
#   the host's CANCEL ends it as ABORTED before the CANCEL's own ACK.
# - Keys: the TMK and the DUKPT initial key come from the key file written
#   at injection (pinpad_keys); the TPK and the per-session link key arrive
#   by LOAD_KEY wrapped under the TMK (TDES-ECB) and are checked by KCV;
#   they live in RAM only. A DUKPT pad's counter advances before each online
#   PIN block and is saved by the caller (`counter_changed`).

import pinpad_crypto as crypto
import pinpad_protocol as p

IDLE, PIN_ENTRY, CONFIRMING = "idle", "pin", "confirm"


class Keys:
    """The pad's keys: TMK (16 bytes) or None; DUKPT scheme ('tdes' or
    'aes'), initial key and the KSN of the last block (counter 0 before the
    first)."""

    def __init__(self, tmk=None, dukpt=None, initial_key=None, ksn=None):
        self.tmk, self.dukpt, self.initial_key, self.ksn = tmk, dukpt, initial_key, ksn

    @property
    def scheme(self):
        if self.dukpt == "tdes":
            return p.SCHEME_DUKPT_TDES
        if self.dukpt == "aes":
            return p.SCHEME_DUKPT_AES
        return p.SCHEME_TPK


class Pad:
    def __init__(self, keys, serial, firmware, random_bytes, counter_changed=None):
        self.keys = keys
        self.serial, self.firmware = serial, firmware
        self.random_bytes = random_bytes
        self.counter_changed = counter_changed
        self.state = IDLE
        self.screen = "READY"
        self._tpk = None
        self._link = None
        self._seq = 0
        self._request = None
        self._deadline = 0.0
        self._digits = ""

    # --- reports from the host ----------------------------------------------------------
    def report(self, data, now):
        """An output report; returns the input reports to send, in order."""
        try:
            kind, seq, payload = p.decode(data)
        except p.BadReport:
            return [p.encode(p.ACK, 0, bytes((p.BAD_REQUEST,)))]
        try:
            return self._handle(kind, seq, payload, now)
        except (p.BadReport, ValueError, UnicodeError):
            return [self._ack(seq, p.BAD_REQUEST)]

    def _ack(self, seq, status):
        return p.encode(p.ACK, seq, bytes((status,)))

    def _handle(self, kind, seq, payload, now):
        if kind == p.GET_INFO:
            return [p.encode(p.INFO, seq, p.info(self.keys.scheme, self.serial, self.firmware))]
        if kind == p.DISPLAY:
            if self.state == IDLE:
                self.screen = payload.decode()
            return [self._ack(seq, p.OK)]
        if kind == p.CANCEL:
            out = []
            if self.state != IDLE:
                result = p.pin_result(p.ABORTED) if self.state == PIN_ENTRY else bytes((p.ABORTED,))
                kind_out = p.PIN_RESULT if self.state == PIN_ENTRY else p.CONFIRM_RESULT
                out.append(p.encode(kind_out, self._seq, result))
                self._idle()
            return out + [self._ack(seq, p.OK)]
        if kind == p.LOAD_KEY:
            key_id, wrapped, kcv = p.parse_load_key(payload)
            return [self._ack(seq, self._load_key(key_id, wrapped, kcv))]
        if kind in (p.ONLINE_PIN, p.OFFLINE_PIN, p.CONFIRM):
            if self.state != IDLE:
                return [self._ack(seq, p.BUSY)]
            self._seq = seq
            if kind == p.CONFIRM:
                timeout, prompt = p.parse_confirm(payload)
                self.state, self.screen = CONFIRMING, prompt
            else:
                request = p.parse_pin_request(kind, payload)
                timeout = request.timeout
                self.state, self._request, self._digits = PIN_ENTRY, request, ""
                self.screen = self._pin_screen()
            self._deadline = now + timeout
            return []
        return [self._ack(seq, p.BAD_REQUEST)]

    def _load_key(self, key_id, wrapped, kcv):
        if self.keys.tmk is None:
            return p.NO_KEY
        if len(wrapped) != 16:
            return p.BAD_REQUEST
        key = crypto.tdes_ecb_decrypt(self.keys.tmk, wrapped)
        check = crypto.kcv_tdes(key) if key_id == p.KEY_TPK else crypto.kcv_aes(key)
        if check != kcv:
            return p.KEY_CHECK_FAILED
        if key_id == p.KEY_TPK:
            self._tpk = key
        else:
            self._link = key
        return p.OK

    # --- the keypad and the clock ---------------------------------------------------------
    def key(self, key, now):
        """A key press: KEY_ENTER, KEY_CANCEL, KEY_CLEAR or a digit '0'-'9'."""
        if self.state == PIN_ENTRY:
            return self._pin_key(key)
        if self.state == CONFIRMING:
            if key in (p.KEY_ENTER, p.KEY_CANCEL):
                status = p.OK if key == p.KEY_ENTER else p.CANCELLED
                out = [p.encode(p.KEY_EVENT, 0, p.key_event(key)),
                       p.encode(p.CONFIRM_RESULT, self._seq, bytes((status,)))]  # fmt: skip
                self._idle()
                return out
            return []
        code = p.KEY_DIGIT + int(key) if isinstance(key, str) else key
        return [p.encode(p.KEY_EVENT, 0, p.key_event(code))]

    def tick(self, now):
        """Reports due because a timeout expired."""
        if self.state == IDLE or now < self._deadline:
            return []
        if self.state == PIN_ENTRY:
            out = [p.encode(p.PIN_RESULT, self._seq, p.pin_result(p.TIMEOUT))]
        else:
            out = [p.encode(p.CONFIRM_RESULT, self._seq, bytes((p.TIMEOUT,)))]
        self._idle()
        return out

    def _idle(self):
        self.state, self._request, self._digits, self.screen = IDLE, None, "", "READY"

    def _pin_screen(self):
        request = self._request
        amount = f"{request.amount // 100}.{request.amount % 100:02d} {request.currency:03d}"
        tries = "" if request.tries is None else f" ({request.tries} left)"
        return f"{amount}\nENTER PIN{tries}\n" + "*" * len(self._digits)

    def _pin_key(self, key):
        request = self._request
        if isinstance(key, str):
            if len(self._digits) >= request.max_length:
                return []
            self._digits += key
            self.screen = self._pin_screen()
            return [p.encode(p.KEY_EVENT, 0, p.key_event(p.KEY_HIDDEN_DIGIT, len(self._digits)))]
        event = p.encode(p.KEY_EVENT, 0, p.key_event(key, len(self._digits)))
        if key == p.KEY_CLEAR:
            self._digits = ""
            self.screen = self._pin_screen()
            return [p.encode(p.KEY_EVENT, 0, p.key_event(key, 0))]
        if key == p.KEY_CANCEL:
            return [event, self._finish(p.pin_result(p.CANCELLED))]
        if key != p.KEY_ENTER:
            return []
        if not self._digits:
            if request.bypass:
                return [event, self._finish(p.pin_result(p.BYPASSED))]
            return []
        if len(self._digits) < request.min_length:
            return []
        try:
            result = self._block(self._digits)
        except ValueError:  # DUKPT counter exhausted, a malformed key
            result = p.pin_result(p.FAILURE)
        return [event, self._finish(result)]

    def _finish(self, result):
        report = p.encode(p.PIN_RESULT, self._seq, result)
        self._idle()
        return report

    def _block(self, pin):
        request = self._request
        if not request.online:
            if self._link is None:
                return p.pin_result(p.NO_KEY)
            nonce = self.random_bytes(12)
            sealed = crypto.aes_gcm_encrypt(
                self._link, nonce, crypto.iso2_block(pin), p.offline_aad(self._seq)
            )
            return p.pin_result(p.OK, p.FORMAT_ISO2, b"", nonce + sealed)
        keys = self.keys
        if keys.dukpt is not None:
            return self._dukpt_block(pin, request.pan)
        if self._tpk is None:
            return p.pin_result(p.NO_KEY)
        block = crypto.tdes_ecb_encrypt(self._tpk, crypto.iso0_block(pin, request.pan))
        return p.pin_result(p.OK, p.FORMAT_ISO0, b"", block)

    def _dukpt_block(self, pin, pan):
        keys = self.keys
        aes = keys.dukpt == "aes"
        if aes:
            counter = crypto.next_counter(int.from_bytes(keys.ksn[8:], "big"), True)
            ksn = keys.ksn[:8] + counter.to_bytes(4, "big")
        else:
            mask = (1 << crypto.TDES_COUNTER_BITS) - 1
            value = int.from_bytes(keys.ksn, "big")
            counter = crypto.next_counter(value & mask, False)
            ksn = ((value & ~mask) | counter).to_bytes(10, "big")
        # The counter is spent before the block leaves: a pad reset after
        # this never uses the key again (X9.24 one key per transaction).
        keys.ksn = ksn
        if self.counter_changed is not None:
            self.counter_changed(ksn)
        if aes:
            key = crypto.aes_dukpt_pin_key(keys.initial_key, ksn)
            block = crypto.iso4_encipher(key, pin, pan, self.random_bytes(8))
            return p.pin_result(p.OK, p.FORMAT_ISO4, ksn, block)
        key = crypto.tdes_dukpt_pin_key(keys.initial_key, ksn)
        block = crypto.tdes_ecb_encrypt(key, crypto.iso0_block(pin, pan))
        return p.pin_result(p.OK, p.FORMAT_ISO0, ksn, block)
