# Strategy: a virtual EMV contact card, card side of EMV 4.4 Book 3 section 6
# (commands) and sections 10.8-10.10 (card action analysis), with the
# cryptography of Book 2 (ODA signatures, cryptograms, secure messaging).
# - `transmit(c_apdu) -> r_apdu` is synchronous and pure (no I/O): one short
#   C-APDU in, data || SW1 SW2 out. It never raises: malformed commands get
#   the status word a card would give (6700, 6A86, 6D00, 6E00 ...); an
#   internal fault answers 6F00 and is kept in `last_error` for tests.
# - Instruction dispatch is one table (INS -> allowed CLAs, handler); the
#   transaction phase machine is two more: the instructions each phase
#   accepts (others answer 6985) and the phase transitions.
# - State: persistent counters per application (ATC, last online ATC, PIN try
#   counter, PIN, block flags, offline velocity counters) survive `reset()`;
#   the transaction state (selected file, GPO/GENERATE AC progress, challenge,
#   issuer authentication result) does not.
# - Card risk management is driven by the profile's `CardRisk` (offline
#   limits, consecutive/cumulative counters, always-online, declines).
# - With `t0=True` data goes back the way T=0 returns it (ISO 7816-3 10.3.4,
#   EMV Book 1 9.3): 61xx + GET RESPONSE for case-4 commands, 6Cxx when a
#   case-2 Le is wrong, so the terminal's transport wrapper can be exercised.
# - The ATR (ISO/IEC 7816-3 8.2, EMV Book 1 8.3) offers the profile's
#   protocols: T=0 alone, as most contact payment cards do (`contact_atr`).
#   Its historical bytes are those of the commonest real EMV ATR,
#   3B 68 00 00 00 73 C8 40 00 00 90 00: card capabilities (ISO/IEC 7816-4
#   8.1.1.2.7) C8 = selection by full or partial DF name, 40, and 00 = no
#   logical channel. Every EMV command (Book 3 6.5) is coded for the basic
#   channel (CLA '00', '80', '84', '8C') and a terminal runs one application
#   at a time, so a payment card has no use for more and declares none; a
#   channel number in CLA and MANAGE CHANNEL (ISO/IEC 7816-4 7.1.2) answer
#   '6881', logical channel not supported.
# - Contactless (EMV Contactless Books B and C): the PPSE '2PAY.SYS.DDF01'
#   answers its FCI with the directory entries inside (no records); a qVSDC
#   application (Book C-3 style) answers GET PROCESSING OPTIONS with the
#   cryptogram, the CTQ '9F6C' chosen from the reader's TTQ '9F66', and for an
#   offline approval the fDDA signature over UN || amount || currency || card
#   authentication related data '9F69'; EMV-mode contactless applications
#   (Book C-2 style, Mir-style) are a single tap: an ARQC leaves nothing
#   pending on the card. A consumer device (phone) reports its own CVM
#   (CDCVM) and may ask for a second tap first ('6986', "see phone").
# - MIFARE profiles are not EMV: a MIFARE Classic (not ISO/IEC 14443-4)
#   cannot take APDUs at all, the reader answers '6A81' for it; a 14443-4
#   MIFARE-family card answers SELECT with '6A82' and other commands '6D00'.
from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from base import tlv
from base.crypto import emv, pinblock
from simulators.devices import signing
from simulators.devices.apdu import SW, ApduError, Command, parse
from simulators.devices.profile import Application, ContactlessApp, DirectoryFile, Profile
from simulators.devices.rsa import RsaError, RsaPrivateKey

__all__ = ["HISTORICAL_BYTES", "AppState", "Phase", "VirtualCard", "contact_atr"]

AAC, TC, ARQC = 0x00, 0x40, 0x80
ARC_UNABLE_ONLINE = (b"Y3", b"Z3")
Response = tuple[bytes, int]

# Book 3 Table 28: terminal data of the AC input and their lengths.
_TERMINAL_AC_TAGS = {
    0x9F02: 6,
    0x9F03: 6,
    0x9F1A: 2,
    0x95: 5,
    0x5F2A: 2,
    0x9A: 3,
    0x9C: 1,
    0x9F37: 4,
}
_AIP_DDA = 0x20
_AIP_CDA = 0x01
_AIP_ISSUER_AUTH = 0x04
SEE_PHONE = 0x6986  # GPO of a consumer device: "see phone", tap again after CDCVM
# TTQ '9F66' (Book C-3) bits the qVSDC card reads
_TTQ_OFFLINE_ONLY = (0, 0x08)
_TTQ_ONLINE_PIN = (0, 0x04)
_TTQ_SIGNATURE = (0, 0x02)
_TTQ_ONLINE_CRYPTOGRAM = (1, 0x80)
_TTQ_CVM_REQUIRED = (1, 0x40)
_TTQ_CDCVM = (2, 0x40)
# CTQ '9F6C'
_CTQ_ONLINE_PIN = (0, 0x80)
_CTQ_SIGNATURE = (0, 0x40)
_CTQ_CDCVM_PERFORMED = (1, 0x80)
FDDA_VERSION = 0x01
# Category 00, compact-TLV card capabilities 73 C8 40 00 (no logical channel:
# the card declares what it does), status 9000. See the strategy note.
HISTORICAL_BYTES = bytes.fromhex("0073C84000009000")
T0, T1 = 0, 1


def contact_atr(protocols: tuple[int, ...], historical: bytes = HISTORICAL_BYTES) -> bytes:
    """An EMV basic ATR (Book 1 8.3) offering ``protocols`` (0 and/or 1, the
    first is the one used without PPS): TB1 = TC1 = 00; for T=1, TD2 = 31
    with IFSI 254 and BWI 4 / CWI 5, and the check byte TCK. T=0 alone is
    3B 6K 00 00 (no TD1), T=1 alone has TD1 = 81, both TD1 = 80 (T=0 first)."""
    if protocols == (T0,):
        return bytes([0x3B, 0x60 | len(historical), 0x00, 0x00]) + historical
    td1 = {(T1,): 0x81, (T0, T1): 0x80}.get(protocols)
    if td1 is None:
        raise ValueError(f"no basic ATR offers protocols {protocols}")
    body = bytes([0xE0 | len(historical), 0x00, 0x00, td1, 0x31, 0xFE, 0x45]) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


def _bit(value: bytes, bit: tuple[int, int]) -> bool:
    index, mask = bit
    return len(value) > index and bool(value[index] & mask)


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 - Book 2 hash algorithm 01


def _bcd_amount(value: bytes | None) -> int:
    if not value:
        return 0
    digits = value.hex()
    return int(digits) if digits.isdigit() else 0


def _dol_values(dol: list[tuple[int, int]], data: bytes) -> dict[int, bytes]:
    values: dict[int, bytes] = {}
    pos = 0
    for tag, length in dol:
        values.setdefault(tag, data[pos : pos + length])
        pos += length
    return values


def _dol_length(dol: list[tuple[int, int]]) -> int:
    return sum(length for _, length in dol)


@dataclass
class AppState:
    """Counters and flags an application keeps across power cycles."""

    atc: int
    last_online_atc: int
    pin: str | None = field(repr=False)
    pin_try_limit: int
    pin_try_counter: int
    blocked: bool
    consecutive_offline_limit: int | None
    cumulative_offline_limit: int | None
    consecutive_offline: int = 0
    cumulative_offline: int = 0
    online_pending: bool = False  # ARQC given, second GENERATE AC never came
    issuer_auth_failed_last: bool = False
    issuer_auth_skipped_last: bool = False
    go_online_next: bool = False
    # a consumer device the cardholder has unlocked for the next tap (see_phone)
    device_unlocked: bool = False
    put_data: dict[int, bytes] = field(default_factory=dict)
    log: list[bytes] = field(default_factory=list)  # transaction log, newest first

    @classmethod
    def initial(cls, app: Application) -> AppState:
        return cls(
            atc=app.atc,
            last_online_atc=app.last_online_atc,
            pin=app.pin,
            pin_try_limit=app.pin_try_limit,
            pin_try_counter=app.pin_try_counter,
            blocked=app.blocked,
            consecutive_offline_limit=app.risk.consecutive_offline_limit,
            cumulative_offline_limit=app.risk.cumulative_offline_limit,
        )


class Phase(enum.Enum):
    IDLE = "idle"  # after reset, or after a SELECT that found nothing
    DIRECTORY = "directory"  # a DDF (the PSE) is selected
    SELECTED = "selected"  # an application is selected
    INITIATED = "initiated"  # GET PROCESSING OPTIONS done
    ONLINE = "online"  # first GENERATE AC answered an ARQC
    DONE = "done"  # a TC or AAC closed the transaction


class Event(enum.Enum):
    SELECT_DDF = "select ddf"
    SELECT_APP = "select application"
    GPO = "gpo"
    ARQC = "arqc"
    FINAL_AC = "final ac"


INS_MANAGE_CHANNEL = 0x70
_SCRIPT_INS = frozenset({0x1E, 0x18, 0x16, 0x24, 0xDA})
_ALWAYS = frozenset({0xA4, 0xB2, 0x84})  # SELECT, READ RECORD, GET CHALLENGE
# Instructions each phase accepts; anything else is 6985 (conditions of use).
_ACCEPTS: dict[Phase, frozenset[int]] = {
    Phase.IDLE: _ALWAYS,
    Phase.DIRECTORY: _ALWAYS,
    Phase.SELECTED: _ALWAYS | {0xA8, 0xCA},
    Phase.INITIATED: _ALWAYS | {0xCA, 0x20, 0x88, 0xAE},
    Phase.ONLINE: _ALWAYS | {0xCA, 0x20, 0x82, 0xAE} | _SCRIPT_INS,
    Phase.DONE: _ALWAYS | {0xCA, 0x20} | _SCRIPT_INS,
}
# The phase transitions; SELECT starts over from any phase.
_TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    **{(phase, Event.SELECT_DDF): Phase.DIRECTORY for phase in Phase},
    **{(phase, Event.SELECT_APP): Phase.SELECTED for phase in Phase},
    (Phase.SELECTED, Event.GPO): Phase.INITIATED,
    (Phase.INITIATED, Event.ARQC): Phase.ONLINE,
    (Phase.INITIATED, Event.FINAL_AC): Phase.DONE,
    (Phase.ONLINE, Event.FINAL_AC): Phase.DONE,
}


@dataclass
class _Transaction:
    """Everything a power cycle or a new SELECT forgets."""

    phase: Phase = Phase.IDLE
    app: int | None = None
    ddf: DirectoryFile | None = None
    pdol_values: bytes = b""
    cdol1_values: bytes = b""
    cdol1: dict[int, bytes] = field(default_factory=dict)
    ac1: bytes = b""
    ac1_type: int | None = None
    ac2_type: int | None = None
    challenge: bytes | None = None
    ext_auth_done: bool = False
    issuer_auth: bool | None = None
    csu: bytes | None = None
    pin_performed: bool = False
    pin_enciphered: bool = False
    pin_failed: bool = False
    scripts: int = 0
    script_failed: bool = False
    dda_performed: bool = False
    cda_performed: bool = False
    unable_online: bool = False
    velocity_exceeded: bool = False
    # snapshot of the previous transaction's outcome, taken at GPO (CVR byte 3)
    prev_online_pending: bool = False
    prev_issuer_auth_failed: bool = False
    prev_issuer_auth_skipped: bool = False


Handler = Callable[["VirtualCard", Command], Response]


class VirtualCard:
    """A virtual EMV contact card personalised from a `Profile`.

    ``t0``: answer like a T=0 card (61xx/6Cxx, GET RESPONSE).
    ``protocols``: what the ATR offers (ISO/IEC 7816-3 8.2.3), default the
    one in use; a reader that negotiated T=1 with a card offering both
    passes ``protocols=(0, 1), t0=False``.
    ``rng``: source of the card's random numbers (GET CHALLENGE, ICC dynamic
    number); defaults to os.urandom, pass a seeded callable for repeatable runs.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        t0: bool = False,
        protocols: tuple[int, ...] | None = None,
        rng: Callable[[int], bytes] | None = None,
    ) -> None:
        self.profile = profile
        self.t0 = t0
        self.protocols: tuple[int, ...] = (T0,) if t0 else (T1,)
        if protocols is not None:
            self.use(protocols, t0=t0)
        self._rng = rng or os.urandom
        self.states = [AppState.initial(app) for app in profile.applications]
        self.card_blocked = False
        self.last_error: Exception | None = None
        self._txn = _Transaction()
        self._pending: bytes = b""
        self._pending_sw = SW.OK
        self._select_name = b""
        self._select_pos = -1
        self.contactless = False

    # --- public surface -----------------------------------------------------

    def use(self, protocols: tuple[int, ...], *, t0: bool) -> None:
        """Offer ``protocols`` in the ATR and speak T=0 (``t0``) or T=1, which
        must be one of them (what the reader chose at activation)."""
        if (T0 if t0 else T1) not in protocols:
            raise ValueError(f"T={0 if t0 else 1} is not among the offered {protocols}")
        self.protocols, self.t0 = tuple(protocols), t0

    @property
    def atr(self) -> bytes:
        """The answer to reset: the profile's, or a basic EMV ATR (Book 1 8.3);
        in the contactless field the ATR a PC/SC reader builds (PC/SC part 3)."""
        if self.contactless and self.profile.rf is not None:
            return self.profile.rf.pcsc_atr()
        if self.profile.atr:
            return self.profile.atr
        return contact_atr(self.protocols)

    def reset(self, *, contactless: bool = False) -> bytes:
        """Power cycle / warm reset (or activation in the contactless field):
        keeps persistent counters, clears the transaction. Returns the ATR."""
        self.contactless = contactless
        self._txn = _Transaction()
        self._pending = b""
        self._select_name = b""
        self._select_pos = -1
        return self.atr

    def transmit(self, capdu: bytes) -> bytes:
        """Process one C-APDU and return the R-APDU (data || SW1 SW2)."""
        try:
            if self.profile.kind == "mifare":
                return self._mifare(bytes(capdu)).to_bytes(2, "big")
            if self.t0:
                return self._transmit_t0(bytes(capdu))
            data, sw = self._process(parse(bytes(capdu)))
            return data + sw.to_bytes(2, "big")
        except ApduError as exc:
            return exc.sw.to_bytes(2, "big")
        except Exception as exc:  # an emulator bug must not look like a transport failure
            self.last_error = exc
            return SW.NO_DIAGNOSIS.to_bytes(2, "big")

    # --- transport ----------------------------------------------------------

    def _mifare(self, capdu: bytes) -> int:
        """A MIFARE card takes no EMV command: a MIFARE Classic is not ISO/IEC
        14443-4 at all (the reader cannot deliver APDUs: '6A81'); a 14443-4
        MIFARE-family card has no EMV file ('6A82' to SELECT)."""
        rf = self.profile.rf
        if rf is None or not rf.iso14443_4:
            return SW.FUNCTION_NOT_SUPPORTED
        cmd = parse(capdu)
        if cmd.cla != 0x00:
            return SW.CLA_NOT_SUPPORTED
        return SW.FILE_NOT_FOUND if cmd.ins == 0xA4 else SW.INS_NOT_SUPPORTED

    def _transmit_t0(self, capdu: bytes) -> bytes:
        cmd = parse(capdu)
        if cmd.ins == 0xC0 and cmd.cla == 0x00:
            return self._get_response(cmd)
        self._pending = b""
        data, sw = self._process(cmd)
        if not data:
            return sw.to_bytes(2, "big")
        if cmd.has_data:  # case 4: the data waits for GET RESPONSE
            self._pending, self._pending_sw = data, sw
            return bytes([0x61, len(data) & 0xFF])
        if cmd.le != len(data):  # case 1/2 with a wrong Le
            return bytes([0x6C, len(data) & 0xFF])
        return data + sw.to_bytes(2, "big")

    def _get_response(self, cmd: Command) -> bytes:
        if cmd.p1p2 != 0:
            raise ApduError(SW.WRONG_P1P2)
        if not self._pending:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        if cmd.has_data:
            raise ApduError(SW.WRONG_LENGTH)
        le = cmd.le or 256
        if le > len(self._pending):
            return bytes([0x6C, len(self._pending) & 0xFF])
        chunk, self._pending = self._pending[:le], self._pending[le:]
        if self._pending:
            return chunk + bytes([0x61, len(self._pending) & 0xFF])
        return chunk + self._pending_sw.to_bytes(2, "big")

    def _process(self, cmd: Command) -> Response:
        if cmd.cla & 0x03 and cmd.cla & 0xFC in _KNOWN_CLA:
            raise ApduError(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)
        if cmd.ins == INS_MANAGE_CHANNEL and cmd.cla == 0x00:
            raise ApduError(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)  # the ATR declares none
        entry = _DISPATCH.get(cmd.ins)
        if entry is None:
            if cmd.cla not in _KNOWN_CLA:
                raise ApduError(SW.CLA_NOT_SUPPORTED)
            raise ApduError(SW.INS_NOT_SUPPORTED)
        classes, handler = entry
        if cmd.cla not in classes:
            raise ApduError(SW.CLA_NOT_SUPPORTED)
        if cmd.ins not in _ACCEPTS[self._txn.phase]:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        return handler(self, cmd)

    # --- helpers --------------------------------------------------------------

    def _advance(self, event: Event) -> None:
        """The only place the transaction phase changes."""
        nxt = _TRANSITIONS.get((self._txn.phase, event))
        if nxt is None:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        self._txn.phase = nxt

    @property
    def phase(self) -> Phase:
        return self._txn.phase

    def _current(self) -> tuple[Application, AppState]:
        txn = self._txn
        if txn.app is None:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        return self.profile.applications[txn.app], self.states[txn.app]

    @staticmethod
    def _no_data(cmd: Command) -> None:
        if cmd.has_data:
            raise ApduError(SW.WRONG_LENGTH)

    # --- SELECT (Book 1 11.3, Book 3 12.3) --------------------------------------

    def _select(self, cmd: Command) -> Response:
        if cmd.p1 != 0x04:
            raise ApduError(SW.FUNCTION_NOT_SUPPORTED)
        if cmd.p2 not in (0x00, 0x02):
            raise ApduError(SW.WRONG_P1P2)
        name = cmd.data
        if not 1 <= len(name) <= 16:
            raise ApduError(SW.WRONG_LENGTH)
        if self.card_blocked:
            raise ApduError(SW.FUNCTION_NOT_SUPPORTED)
        ddfs = [d for d in (self.profile.pse, self.profile.ppse) if d is not None]
        ddfs += list(self.profile.ddfs)
        if cmd.p2 == 0x00:
            for ddf in ddfs:
                if ddf.name == name:
                    self._advance(Event.SELECT_DDF)
                    self._txn = _Transaction(phase=self._txn.phase, ddf=ddf)
                    self._select_name, self._select_pos = name, -1
                    return ddf.fci, SW.OK
        start = self._select_pos + 1 if cmd.p2 == 0x02 and name == self._select_name else 0
        apps = self.profile.applications
        for index in range(start, len(apps)):
            if apps[index].aid.startswith(name):
                self._select_name, self._select_pos = name, index
                self._advance(Event.SELECT_APP)
                self._txn = _Transaction(phase=self._txn.phase, app=index)
                sw = SW.SELECTED_FILE_INVALIDATED if self.states[index].blocked else SW.OK
                return apps[index].fci, sw
        raise ApduError(SW.FILE_NOT_FOUND)

    # --- READ RECORD (Book 3 6.5.11) ---------------------------------------------

    def _read_record(self, cmd: Command) -> Response:
        self._no_data(cmd)
        if cmd.p2 & 0x07 != 0x04:
            raise ApduError(SW.WRONG_P1P2)
        sfi, number = cmd.p2 >> 3, cmd.p1
        if sfi == 0:
            raise ApduError(SW.WRONG_P1P2)
        txn = self._txn
        records: tuple[bytes, ...] | None = None
        if txn.ddf is not None:
            records = txn.ddf.records if txn.ddf.sfi == sfi else None
        elif txn.app is not None:
            app = self.profile.applications[txn.app]
            log_entry = app.data.get(0x9F4D, b"")
            if len(log_entry) == 2 and log_entry[0] == sfi:
                records = tuple(self.states[txn.app].log)
            else:
                records = app.files.get(sfi)
        if records is None:
            raise ApduError(SW.FILE_NOT_FOUND)
        if not 1 <= number <= len(records):
            raise ApduError(SW.RECORD_NOT_FOUND)
        return records[number - 1], SW.OK

    # --- GET PROCESSING OPTIONS (Book 3 6.5.8) -----------------------------------

    def _gpo(self, cmd: Command) -> Response:
        if cmd.p1p2 != 0:
            raise ApduError(SW.WRONG_P1P2)
        app, state = self._current()
        txn = self._txn
        if state.blocked:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        try:
            objs = tlv.decode(cmd.data)
        except tlv.TlvError as exc:
            raise ApduError(SW.WRONG_DATA) from exc
        if len(objs) != 1 or objs[0].tag != 0x83:
            raise ApduError(SW.WRONG_DATA)
        if len(objs[0].value) != _dol_length(app.pdol):
            raise ApduError(SW.WRONG_LENGTH)
        contactless = app.contactless
        if contactless is not None and contactless.gpo_refuses:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        pdol = _dol_values(app.pdol, objs[0].value)
        if contactless is not None and contactless.see_phone and app.qvsdc:
            ttq = pdol.get(0x9F66, b"")
            if _bit(ttq, _TTQ_CVM_REQUIRED) and not state.device_unlocked:
                state.device_unlocked = True  # the cardholder unlocks the phone now
                raise ApduError(SEE_PHONE)
        if state.atc >= 0xFFFF:
            state.blocked = True
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        state.atc += 1
        self._advance(Event.GPO)
        txn.pdol_values = objs[0].value
        txn.prev_online_pending = state.online_pending
        txn.prev_issuer_auth_failed = state.issuer_auth_failed_last
        txn.prev_issuer_auth_skipped = state.issuer_auth_skipped_last
        if app.qvsdc:
            return self._gpo_qvsdc(app, state, pdol), SW.OK
        if app.gpo_format == 1:
            return tlv.encode(0x80, app.aip + app.afl), SW.OK
        body = tlv.encode(0x82, app.aip) + tlv.encode(0x94, app.afl) + app.gpo_extra
        return tlv.encode(0x77, body), SW.OK

    @staticmethod
    def _qvsdc_cvm(contactless: ContactlessApp, state: AppState, ttq: bytes) -> tuple[bytes, bool]:
        """The CTQ for this transaction and whether the CVM forces it online."""
        ctq = bytearray(contactless.ctq)
        if contactless.cdcvm and _bit(ttq, _TTQ_CDCVM):
            ctq[1] |= _CTQ_CDCVM_PERFORMED[1]
            if contactless.see_phone:
                state.device_unlocked = False  # the unlock is used up
            return bytes(ctq), False
        if not _bit(ttq, _TTQ_CVM_REQUIRED):
            return bytes(ctq), False
        if contactless.online_pin and _bit(ttq, _TTQ_ONLINE_PIN):
            ctq[0] |= _CTQ_ONLINE_PIN[1]
            return bytes(ctq), True
        if _bit(ttq, _TTQ_SIGNATURE):
            ctq[0] |= _CTQ_SIGNATURE[1]
            return bytes(ctq), False
        if _bit(ttq, _TTQ_ONLINE_PIN):
            ctq[0] |= _CTQ_ONLINE_PIN[1]
            return bytes(ctq), True
        return bytes(ctq), False

    def _gpo_qvsdc(self, app: Application, state: AppState, values: Mapping[int, bytes]) -> bytes:
        """Book C-3 style GPO: card risk management, the cryptogram, the CTQ and,
        for an offline approval, fDDA - all in one response (format 2)."""
        txn = self._txn
        contactless = app.contactless or ContactlessApp(kind="qvsdc")
        ttq = values.get(0x9F66, bytes(4))
        ctq, cvm_online = self._qvsdc_cvm(contactless, state, ttq)
        if state.blocked or self.card_blocked or app.risk.always_decline:
            cid = AAC
        elif (
            _bit(ttq, _TTQ_ONLINE_CRYPTOGRAM)
            or cvm_online
            or self._online_reasons(app, state, values)
        ):
            cid = AAC if _bit(ttq, _TTQ_OFFLINE_ONLY) else ARQC
        else:
            cid = TC
        txn.ac1_type = cid
        self._advance(Event.FINAL_AC)  # a single tap: nothing comes after
        self._apply_outcome(app, state, True, cid, values)
        self._log(app, state, cid, values)
        sign = (
            cid == TC
            and contactless.fdda
            and app.icc_key is not None
            and bool(app.aip[0] & _AIP_DDA)
        )
        txn.dda_performed = sign
        version = app.cryptogram_version
        iad = version.build_iad(app.dki, self._cvr(app, state))
        atc = state.atc.to_bytes(2, "big")
        ac_data: dict[int, bytes] = {}
        for tag, length in _TERMINAL_AC_TAGS.items():
            value = values.get(tag, b"")
            ac_data[tag] = value if len(value) == length else bytes(length)
        ac_data[0x82] = app.aip
        ac_data[0x9F36] = atc
        ac_data[0x9F10] = iad
        ac = emv.generate_ac(version, app.icc_master_keys.ac, ac_data)
        txn.ac1 = ac
        # gpo_extra: what the card returns with every GPO (track 2, PSN, FFI)
        body = (
            tlv.encode(0x82, app.aip)
            + tlv.encode(0x94, app.afl)
            + app.gpo_extra
            + tlv.encode(0x9F10, iad)
            + tlv.encode(0x9F26, ac)
            + tlv.encode(0x9F27, bytes([cid]))
            + tlv.encode(0x9F36, atc)
            + tlv.encode(0x9F6C, ctq)
        )
        if sign and app.icc_key is not None:
            card_auth = bytes([FDDA_VERSION]) + self._rng(4) + ctq
            terminal_data = ac_data[0x9F37] + ac_data[0x9F02] + ac_data[0x5F2A] + card_auth
            sdad = signing.sign_dynamic_data(
                app.icc_key, signing.dda_dynamic_data(atc), terminal_data
            )
            body += tlv.encode(0x9F69, card_auth) + tlv.encode(0x9F4B, sdad)
        return tlv.encode(0x77, body)

    # --- GET DATA (Book 3 6.5.7) ---------------------------------------------------

    def _get_data(self, cmd: Command) -> Response:
        self._no_data(cmd)
        app, state = self._current()
        tag = cmd.p1p2
        value: bytes | None
        if tag == 0x9F36:
            value = state.atc.to_bytes(2, "big")
        elif tag == 0x9F13:
            value = state.last_online_atc.to_bytes(2, "big")
        elif tag == 0x9F17 and state.pin is not None:
            value = bytes([state.pin_try_counter])
        elif tag == 0x9F58 and state.consecutive_offline_limit is not None:
            value = bytes([min(state.consecutive_offline_limit, 255)])
        elif tag == 0x9F54 and state.cumulative_offline_limit is not None:
            value = bytes.fromhex(f"{state.cumulative_offline_limit:012d}"[-12:])
        else:
            value = state.put_data.get(tag, app.get_data.get(tag))
        if value is None:
            raise ApduError(SW.DATA_NOT_FOUND)
        try:
            return tlv.encode(tag, value), SW.OK
        except ValueError as exc:  # a P1P2 that is not a well-formed tag
            raise ApduError(SW.DATA_NOT_FOUND) from exc

    # --- GET CHALLENGE (Book 3 6.5.6) -------------------------------------------

    def _get_challenge(self, cmd: Command) -> Response:
        self._no_data(cmd)
        if cmd.p1p2 != 0:
            raise ApduError(SW.WRONG_P1P2)
        challenge = self._rng(8)
        self._txn.challenge = challenge
        return challenge, SW.OK

    # --- VERIFY (Book 3 6.5.12, Book 2 7.2) -------------------------------------

    def _verify(self, cmd: Command) -> Response:
        if cmd.p1 != 0x00 or cmd.p2 not in (0x80, 0x88):
            raise ApduError(SW.WRONG_P1P2)
        app, state = self._current()
        if state.pin is None:
            raise ApduError(SW.DATA_NOT_FOUND)
        if state.pin_try_counter == 0:
            raise ApduError(SW.AUTH_METHOD_BLOCKED)
        if not cmd.has_data:  # ISO 7816-4: VERIFY without data asks for tries left
            return b"", SW.PIN_TRIES_LEFT | state.pin_try_counter
        txn = self._txn
        if cmd.p2 == 0x80:
            if len(cmd.data) != 8:
                raise ApduError(SW.WRONG_LENGTH)
            try:
                offered: str | None = pinblock.decode_iso2(cmd.data)
            except pinblock.PinBlockError as exc:
                raise ApduError(SW.WRONG_DATA) from exc
        else:
            offered = self._recover_enciphered_pin(app, cmd.data)
            txn.pin_enciphered = True
        txn.pin_performed = True
        if offered == state.pin:
            state.pin_try_counter = state.pin_try_limit
            txn.pin_failed = False
            return b"", SW.OK
        txn.pin_failed = True
        state.pin_try_counter -= 1
        return b"", SW.PIN_TRIES_LEFT | state.pin_try_counter

    def _recover_enciphered_pin(self, app: Application, data: bytes) -> str | None:
        """Book 2 7.2: 7F || PIN block || ICC UN || random padding under the ICC
        PIN encipherment key (or the ICC key). A wrong header, UN or block is
        a failed verification (None), so it costs a try like a wrong PIN."""
        key = app.pin_key or app.icc_key
        if key is None:
            raise ApduError(SW.DATA_NOT_FOUND)
        if len(data) != key.size:
            raise ApduError(SW.WRONG_LENGTH)
        challenge, self._txn.challenge = self._txn.challenge, None
        try:
            plain = key.apply(data)
        except RsaError:
            return None
        if plain[0] != 0x7F or challenge is None or plain[9:17] != challenge:
            return None
        try:
            return pinblock.decode_iso2(plain[1:9])
        except pinblock.PinBlockError:
            return None

    # --- INTERNAL AUTHENTICATE (Book 3 6.5.9, Book 2 6.5) ------------------------

    def _internal_authenticate(self, cmd: Command) -> Response:
        if cmd.p1p2 != 0:
            raise ApduError(SW.WRONG_P1P2)
        app, _state = self._current()
        if app.icc_key is None or not app.aip[0] & _AIP_DDA:
            raise ApduError(SW.FUNCTION_NOT_SUPPORTED)
        if not cmd.has_data:
            raise ApduError(SW.WRONG_LENGTH)
        idn = self._rng(8)
        sdad = signing.sign_dynamic_data(app.icc_key, signing.dda_dynamic_data(idn), cmd.data)
        self._txn.dda_performed = True
        if app.internal_authenticate_format == 1:
            return tlv.encode(0x80, sdad), SW.OK
        return tlv.encode(0x77, tlv.encode(0x9F4B, sdad)), SW.OK

    # --- GENERATE AC (Book 3 6.5.5, 9.3; Book 2 6.6 for CDA) ---------------------

    def _generate_ac(self, cmd: Command) -> Response:
        if cmd.p2 != 0x00 or cmd.p1 & 0x2F or cmd.p1 & 0xC0 == 0xC0:
            raise ApduError(SW.WRONG_P1P2)
        app, state = self._current()
        txn = self._txn
        requested = cmd.p1 & 0xC0
        first = txn.phase is Phase.INITIATED
        if not first and requested == ARQC:
            raise ApduError(SW.WRONG_P1P2)
        dol = app.cdol1 if first else app.cdol2
        if len(cmd.data) != _dol_length(dol):
            raise ApduError(SW.WRONG_LENGTH)
        values = _dol_values(dol, cmd.data)
        if first:
            txn.cdol1_values, txn.cdol1 = cmd.data, values
            terminal = values
            cid = self._first_decision(app, state, requested, values)
        else:
            terminal = {**txn.cdol1, **values}
            cid = self._second_decision(app, state, requested, values)
        if first:
            txn.ac1_type = cid
        else:
            txn.ac2_type = cid
        self._advance(Event.ARQC if cid == ARQC else Event.FINAL_AC)
        self._apply_outcome(app, state, first, cid, terminal)
        if cid != ARQC:
            self._log(app, state, cid, terminal)

        cda_key = app.icc_key if cmd.p1 & 0x10 and cid != AAC and app.aip[0] & _AIP_CDA else None
        txn.cda_performed = txn.cda_performed or cda_key is not None
        version = app.cryptogram_version
        iad = version.build_iad(app.dki, self._cvr(app, state))
        ac_data: dict[int, bytes] = {}
        for tag, length in _TERMINAL_AC_TAGS.items():
            value = terminal.get(tag, b"")
            ac_data[tag] = value if len(value) == length else bytes(length)
        ac_data[0x82] = app.aip
        ac_data[0x9F36] = state.atc.to_bytes(2, "big")
        ac_data[0x9F10] = iad
        ac = emv.generate_ac(version, app.icc_master_keys.ac, ac_data)
        if first:
            txn.ac1 = ac

        atc = ac_data[0x9F36]
        if cda_key is not None:
            sdad_response = self._cda_response(
                cda_key, cid, atc, ac, iad, cmd.data, ac_data[0x9F37]
            )
            return sdad_response, SW.OK
        if app.genac_format == 1:
            return tlv.encode(0x80, bytes([cid]) + atc + ac + iad), SW.OK
        body = (
            tlv.encode(0x9F27, bytes([cid]))
            + tlv.encode(0x9F36, atc)
            + tlv.encode(0x9F26, ac)
            + tlv.encode(0x9F10, iad)
        )
        return tlv.encode(0x77, body), SW.OK

    def _cda_response(
        self,
        key: RsaPrivateKey,
        cid: int,
        atc: bytes,
        ac: bytes,
        iad: bytes,
        cdol_data: bytes,
        un: bytes,
    ) -> bytes:
        """Book 2 6.6.1: the SDAD over the UN, with a hash of PDOL data, CDOL1
        (and CDOL2) data and the response objects other than 9F4B."""
        txn = self._txn
        objects = tlv.encode(0x9F27, bytes([cid])) + tlv.encode(0x9F36, atc)
        objects_tail = tlv.encode(0x9F10, iad)
        hashed = txn.pdol_values + txn.cdol1_values
        if txn.ac2_type is not None:
            hashed += cdol_data
        transaction_hash = _sha1(hashed + objects + objects_tail)
        idn = self._rng(8)
        icc_dynamic = signing.cda_dynamic_data(idn, cid, ac, transaction_hash)
        sdad = signing.sign_dynamic_data(key, icc_dynamic, un)
        return tlv.encode(0x77, objects + tlv.encode(0x9F4B, sdad) + objects_tail)

    def _online_reasons(
        self,
        app: Application,
        state: AppState,
        values: Mapping[int, bytes],
        *,
        this_transaction_online: bool = False,
    ) -> list[str]:
        """Why card risk management wants this transaction online (Book 3 10.8)."""
        risk = app.risk
        amount = _bcd_amount(values.get(0x9F02))
        reasons = []
        if risk.always_online:
            reasons.append("always online")
        if state.go_online_next:
            reasons.append("issuer asked to go online")
        if state.online_pending and not this_transaction_online:
            reasons.append("last online transaction not completed")
        if state.issuer_auth_failed_last:
            reasons.append("issuer authentication failed last time")
        if risk.pin_blocked_online and state.pin is not None and state.pin_try_counter == 0:
            reasons.append("PIN try limit exceeded")
        if risk.new_card_online and state.last_online_atc == 0:
            reasons.append("new card")
        country = values.get(0x9F1A)
        issuer_country = app.data.get(0x5F28)
        if risk.international_online and country and issuer_country and country != issuer_country:
            reasons.append("international transaction")
        if risk.offline_limit is not None and amount > risk.offline_limit:
            reasons.append("over the offline limit")
        limit = state.cumulative_offline_limit
        if limit is not None and state.cumulative_offline + amount > limit:
            reasons.append("cumulative offline amount exceeded")
            self._txn.velocity_exceeded = True
        limit = state.consecutive_offline_limit
        if limit is not None and state.consecutive_offline >= limit:
            reasons.append("consecutive offline limit exceeded")
            self._txn.velocity_exceeded = True
        return reasons

    def _first_decision(
        self, app: Application, state: AppState, requested: int, values: Mapping[int, bytes]
    ) -> int:
        if state.blocked or self.card_blocked or app.risk.always_decline:
            return AAC
        if requested in (AAC, ARQC):
            return requested
        return ARQC if self._online_reasons(app, state, values) else TC

    def _second_decision(
        self, app: Application, state: AppState, requested: int, values: Mapping[int, bytes]
    ) -> int:
        txn = self._txn
        iad91 = values.get(0x91, b"")
        if txn.issuer_auth is None and any(iad91):
            self._issuer_authenticate(app, state, iad91)
        arc = values.get(0x8A, b"")
        txn.unable_online = arc in ARC_UNABLE_ONLINE
        if state.blocked or self.card_blocked or app.risk.always_decline or requested == AAC:
            return AAC
        if txn.unable_online:
            mode = app.risk.unable_online
            if mode == "approve":
                return TC
            if mode == "decline":
                return AAC
            terminal = {**txn.cdol1, **values}
            reasons = self._online_reasons(app, state, terminal, this_transaction_online=True)
            return AAC if reasons else TC
        if app.risk.issuer_auth_required and txn.issuer_auth is not True:
            return AAC
        if txn.csu is not None and not txn.csu[1] & 0x80:
            return AAC
        return TC

    def _apply_outcome(
        self,
        app: Application,
        state: AppState,
        first: bool,
        cid: int,
        terminal: Mapping[int, bytes],
    ) -> None:
        txn = self._txn
        amount = _bcd_amount(terminal.get(0x9F02))
        if first:
            if cid == ARQC:
                # a contactless single tap never gets its second GENERATE AC
                state.online_pending = app.contactless is None
            elif cid == TC:
                state.consecutive_offline += 1
                state.cumulative_offline += amount
            return
        state.online_pending = False
        if txn.unable_online:
            if cid == TC:
                state.consecutive_offline += 1
                state.cumulative_offline += amount
            return
        state.issuer_auth_failed_last = txn.issuer_auth is False
        state.issuer_auth_skipped_last = txn.issuer_auth is None and bool(
            app.aip[0] & _AIP_ISSUER_AUTH
        )
        if cid == TC:
            state.consecutive_offline = 0
            state.cumulative_offline = 0
            state.last_online_atc = state.atc
            if txn.csu is None or not txn.csu[1] & 0x08:
                state.go_online_next = False

    def _log(
        self, app: Application, state: AppState, cid: int, terminal: Mapping[int, bytes]
    ) -> None:
        """Book 3 Annex D: a log record is the values the Log Format (9F4F) names,
        newest first, at most the count in the Log Entry (9F4D)."""
        entry = app.data.get(0x9F4D, b"")
        log_format = app.get_data.get(0x9F4F)
        if len(entry) != 2 or not log_format or entry[1] == 0:
            return
        card_values = {0x9F36: state.atc.to_bytes(2, "big"), 0x9F27: bytes([cid])}
        record = b""
        for tag, length in tlv.decode_dol(log_format):
            value = card_values.get(tag, terminal.get(tag, b""))
            record += value[:length].rjust(length, b"\x00")
        state.log.insert(0, record)
        del state.log[entry[1] :]

    def _cvr(self, app: Application, state: AppState) -> bytes:
        """Card Verification Results in the version's layout (VIS 4 bytes or an
        M/Chip-like 6 bytes); the bits the emulator tracks are set."""
        txn = self._txn
        ac_bits = {AAC: 0b00, TC: 0b01, ARQC: 0b10}
        first = ac_bits.get(txn.ac1_type if txn.ac1_type is not None else AAC, 0)
        second = 0b10 if txn.ac2_type is None else ac_bits.get(txn.ac2_type, 0)
        scripts = min(txn.scripts, 15)
        ptl = state.pin is not None and state.pin_try_counter == 0
        if app.cryptogram_version.iad_layout == "vis":
            b2 = second << 6 | first << 4
            b2 |= 0x08 if txn.issuer_auth is False else 0
            b2 |= 0x04 if txn.pin_performed else 0
            b2 |= 0x02 if txn.pin_failed else 0
            b2 |= 0x01 if txn.unable_online else 0
            b3 = 0x80 if txn.prev_online_pending else 0
            b3 |= 0x40 if ptl else 0
            b3 |= 0x20 if txn.velocity_exceeded else 0
            b3 |= 0x10 if state.last_online_atc == 0 else 0
            b3 |= 0x08 if txn.prev_issuer_auth_failed else 0
            b3 |= 0x04 if txn.prev_issuer_auth_skipped else 0
            b4 = scripts << 4 | (0x08 if txn.script_failed else 0)
            b4 |= 0x02 if txn.dda_performed or txn.cda_performed else 0
            return bytes([0x03, b2, b3, b4])
        b1 = second << 6 | first << 4
        b1 |= 0x04 if txn.pin_performed else 0
        b1 |= 0x02 if txn.pin_enciphered else 0
        b1 |= 0x01 if txn.pin_performed and not txn.pin_failed else 0
        b2 = 0x80 if txn.dda_performed else 0
        b2 |= 0x40 if txn.cda_performed and txn.ac2_type is None else 0
        b2 |= 0x20 if txn.cda_performed and txn.ac2_type is not None else 0
        b2 |= 0x10 if txn.issuer_auth is not None else 0
        b3 = 0x80 if txn.velocity_exceeded else 0
        b3 |= 0x08 if txn.issuer_auth is False else 0
        b3 |= 0x02 if txn.scripts else 0
        b3 |= 0x01 if txn.script_failed else 0
        b4 = 0x20 if ptl else 0
        return bytes([b1, b2, b3, b4, 0, 0])

    # --- EXTERNAL AUTHENTICATE (Book 3 6.5.4) ---------------------------------------

    def _external_authenticate(self, cmd: Command) -> Response:
        if cmd.p1p2 != 0:
            raise ApduError(SW.WRONG_P1P2)
        app, state = self._current()
        txn = self._txn
        if not 8 <= len(cmd.data) <= 16:
            raise ApduError(SW.WRONG_LENGTH)
        if txn.ext_auth_done:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        txn.ext_auth_done = True
        ok = self._issuer_authenticate(app, state, cmd.data)
        return b"", SW.OK if ok else SW.AUTH_FAILED

    def _issuer_authenticate(self, app: Application, state: AppState, iad91: bytes) -> bool:
        txn = self._txn
        result = emv.check_issuer_authentication_data(
            app.cryptogram_version,
            app.icc_master_keys.ac,
            txn.ac1,
            state.atc.to_bytes(2, "big"),
            txn.cdol1.get(0x9F37, bytes(4)),
            iad91,
        )
        txn.issuer_auth = result is not None
        if result is not None and app.cryptogram_version.arpc_method == 2:
            txn.csu = result
            self._apply_csu(state, result)
        return result is not None

    def _apply_csu(self, state: AppState, csu: bytes) -> None:
        """Card Status Update actions (VIS / CCD): blocks, PIN try counter, go online."""
        if csu[1] & 0x40:
            self.card_blocked = True
        if csu[1] & 0x20:
            state.blocked = True
        if csu[1] & 0x10 and state.pin is not None:
            state.pin_try_counter = min(csu[0] & 0x0F, state.pin_try_limit)
        if csu[1] & 0x08:
            state.go_online_next = True

    # --- issuer script commands (Book 3 6.5.1-6.5.3, 6.5.10; Book 2 9) --------------

    def _script(self, cmd: Command) -> Response:
        app, state = self._current()
        txn = self._txn
        if txn.ac1_type != ARQC:
            raise ApduError(SW.CONDITIONS_NOT_SATISFIED)
        mac_length = app.script_mac_length
        if len(cmd.data) < mac_length:
            raise ApduError(SW.WRONG_LENGTH)
        body, mac = cmd.data[:-mac_length], cmd.data[-mac_length:]
        keys = app.icc_master_keys
        version = app.cryptogram_version
        atc = state.atc.to_bytes(2, "big")
        smi, smc = emv.script_session_keys(version, keys, atc, txn.ac1)
        signed = cmd.header() + bytes([len(cmd.data)]) + atc + txn.ac1 + body
        if emv.script_mac(smi, signed, mac_length) != mac:
            txn.script_failed = True
            raise ApduError(SW.SM_DATA_INCORRECT)
        try:
            response = _SCRIPT_ACTIONS[cmd.ins](self, cmd, app, state, body, smc)
        except ApduError:
            txn.script_failed = True
            raise
        txn.scripts += 1
        return response

    def _script_application_block(
        self, cmd: Command, app: Application, state: AppState, body: bytes, smc: bytes
    ) -> Response:
        if cmd.p1p2 != 0 or body:
            raise ApduError(SW.WRONG_P1P2 if cmd.p1p2 else SW.WRONG_LENGTH)
        state.blocked = cmd.ins == 0x1E
        return b"", SW.OK

    def _script_card_block(
        self, cmd: Command, app: Application, state: AppState, body: bytes, smc: bytes
    ) -> Response:
        if cmd.p1p2 != 0 or body:
            raise ApduError(SW.WRONG_P1P2 if cmd.p1p2 else SW.WRONG_LENGTH)
        self.card_blocked = True
        return b"", SW.OK

    def _script_pin_change(
        self, cmd: Command, app: Application, state: AppState, body: bytes, smc: bytes
    ) -> Response:
        """PIN CHANGE/UNBLOCK: P2 00 unblock, 01 change with the current PIN
        (VIS block only), 02 change without it."""
        if cmd.p1 != 0 or cmd.p2 not in (0, 1, 2):
            raise ApduError(SW.WRONG_P1P2)
        if state.pin is None:
            raise ApduError(SW.DATA_NOT_FOUND)
        version = app.cryptogram_version
        if cmd.p2 == 0:
            if body:
                raise ApduError(SW.WRONG_LENGTH)
        else:
            if cmd.p2 == 1 and version.pin_block != "vis":
                raise ApduError(SW.WRONG_P1P2)
            try:
                plain = emv.decipher_script_data(smc, body, version.sm_cipher, plain_length=8)
                if version.pin_block == "vis":
                    current = state.pin if cmd.p2 == 1 else None
                    new_pin = emv.decode_vis_pin_block(app.icc_master_keys.ac, plain, current)
                else:
                    new_pin = pinblock.decode_iso2(plain)
            except (emv.CryptogramError, pinblock.PinBlockError) as exc:
                raise ApduError(SW.WRONG_DATA) from exc
            state.pin = new_pin
        state.pin_try_counter = state.pin_try_limit
        return b"", SW.OK

    def _script_put_data(
        self, cmd: Command, app: Application, state: AppState, body: bytes, smc: bytes
    ) -> Response:
        tag = cmd.p1p2
        if tag == 0x9F58:
            if len(body) != 1:
                raise ApduError(SW.WRONG_LENGTH)
            state.consecutive_offline_limit = body[0]
        elif tag == 0x9F54:
            if len(body) != 6 or not body.hex().isdigit():
                raise ApduError(SW.WRONG_DATA)
            state.cumulative_offline_limit = int(body.hex())
        elif tag in app.get_data or tag in state.put_data:
            state.put_data[tag] = body
        else:
            raise ApduError(SW.DATA_NOT_FOUND)
        return b"", SW.OK


def _script_handler(card: VirtualCard, cmd: Command) -> Response:
    return card._script(cmd)


ScriptAction = Callable[[VirtualCard, Command, Application, AppState, bytes, bytes], Response]

_SCRIPT_ACTIONS: dict[int, ScriptAction] = {
    0x1E: VirtualCard._script_application_block,  # APPLICATION BLOCK
    0x18: VirtualCard._script_application_block,  # APPLICATION UNBLOCK
    0x16: VirtualCard._script_card_block,  # CARD BLOCK
    0x24: VirtualCard._script_pin_change,  # PIN CHANGE/UNBLOCK
    0xDA: VirtualCard._script_put_data,  # PUT DATA
}

_SM = frozenset({0x84, 0x8C})
_KNOWN_CLA = frozenset({0x00, 0x80, 0x84, 0x8C, 0x04, 0x0C})
_DISPATCH: dict[int, tuple[frozenset[int], Handler]] = {
    0xA4: (frozenset({0x00}), VirtualCard._select),
    0xB2: (frozenset({0x00}), VirtualCard._read_record),
    0xA8: (frozenset({0x80}), VirtualCard._gpo),
    0xCA: (frozenset({0x80}), VirtualCard._get_data),
    0x84: (frozenset({0x00}), VirtualCard._get_challenge),
    0x20: (frozenset({0x00}), VirtualCard._verify),
    0x88: (frozenset({0x00}), VirtualCard._internal_authenticate),
    0xAE: (frozenset({0x80}), VirtualCard._generate_ac),
    0x82: (frozenset({0x00}), VirtualCard._external_authenticate),
    0x1E: (_SM, _script_handler),
    0x18: (_SM, _script_handler),
    0x16: (_SM, _script_handler),
    0x24: (_SM, _script_handler),
    0xDA: (_SM | {0x04, 0x0C}, _script_handler),
}
