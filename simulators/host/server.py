# Strategy: a simulated acquirer host that speaks the terminal's ISO 8583
# dialect over real TCP (optionally TLS demanding a client certificate).
# `HostSimulator.handle()` is the sans-I/O core: request bytes in, answer bytes
# (or None: no answer) out, deciding on the `IssuerLedger` the way an
# acquirer/issuer pair would:
#   0200 -> 0210  MAC check (63 and no MAC on failure), duplicate detection
#                 (the stored answer again), card account (14), ARQC via the
#                 injected CardAuthenticator (82), online PIN from field 52
#                 under the TPK (55, 75 after the last try), expiry (54),
#                 funds (51); field 55 of the answer carries tag 91 for the
#                 decided response code and, on approval, the issuer scripts.
#   0220 -> 0230  offline-approved advice booked once (0221 repeats too).
#   0400/0401 -> 0410  reversal applied once per original (field 90).
#   0320 -> 0330  batch upload record kept for the closing 0500.
#   0500 -> 0510  92: totals compared with the host batch (00 closes it, 95
#                 asks for a batch upload); 96: compared with the uploaded
#                 records. The answer carries the host's totals. Totals are
#                 per currency (field 50, else 49): only the transactions
#                 booked in it count, and only they are closed. A repeat of
#                 the last closed batch (same number, currency and totals)
#                 gets the answer that closed it: a batch is never closed twice.
#   0520/0521 -> 0530  forced settlement (reconciliation advice): the host
#                 closes its batch whatever its totals, if it accepts forcing.
#   0800 -> 0810  echo, sign-on/off, cutover (with an RRN and the host's
#                 totals of the terminal's batch in the currency of field 50,
#                 else 49, which the answer names in 50), working key
#                 change (new key under the terminal master key + KCV).
# The `HostControl` switches modes at runtime; `serve()` closes and reopens
# its listener for down/up, so "down" really refuses connections.
# What a real host keeps (keys, books, business day, RRN counter) can be
# kept on disk: `on_change`, when set, is called after every request the
# host took in and after a change of keys, before any answer goes out
# (simulators.host.state writes the file, at once or soon after).
from __future__ import annotations

import logging
import secrets
import ssl
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import trio

from acquirers.errors import Iso8583Error, MacVerificationError, MessageBuildError
from acquirers.iso8583.codec import Codec, FieldValue, IsoMessage
from acquirers.iso8583.dialect import Dialect
from acquirers.iso8583.dialects import generic87
from acquirers.iso8583.framing import Framer, frame
from acquirers.iso8583.matching import is_request, response_mti
from acquirers.iso8583.messages import (
    BatchTotals,
    TxnType,
    batch_record_from_upload,
    parse_additional_amounts,
    parse_original_data,
)
from acquirers.iso8583.security import (
    MasterKeys,
    WorkingKeys,
    decipher_pin_block,
    generate_key,
    wrap_key,
)
from acquirers.iso8583.stan import MemoryStanSource, make_rrn
from base.crypto import dukpt
from base.crypto.pinblock import PinBlockError
from base.tlv import TlvError
from simulators.host.control import HostControl, HostMode
from simulators.host.issuer import CardAuthenticator, icc_tags, issuer_response_icc
from simulators.host.ledger import Account, HostTxn, IssuerLedger, TxnKey
from simulators.testkeys import TEST_BDKS, SimulatorKeys, load_test_keys

__all__ = ["HostSimulator", "TerminalKeys"]

log = logging.getLogger("simulators.host")

_ECHOED = (3, 4, 7, 11, 12, 13, 24, 41, 42, 49, 50, 60)


@dataclass
class TerminalKeys:
    """One terminal's keys as the host holds them. A key delivered by key
    exchange stays pending until the terminal first uses it."""

    master: MasterKeys
    tpk: bytes | None
    tak: bytes | None
    pending_tpk: bytes | None = None
    pending_tak: bytes | None = None

    def __repr__(self) -> str:
        return f"TerminalKeys({self.master!r})"

    @classmethod
    def from_set(cls, keys: SimulatorKeys) -> TerminalKeys:
        return cls(keys.master, keys.working.tpk, keys.working.tak)


def _now() -> datetime:
    return datetime.now()


class HostSimulator:
    """The acquirer host simulator. Construct with the issuer accounts in
    ``ledger``, the issuer keys in ``card_authenticator`` and the terminal keys
    (defaults: the TEST ONLY set of simulators/test_keys.json for every TID)."""

    def __init__(
        self,
        *,
        dialect: Dialect = generic87.DIALECT,
        ledger: IssuerLedger | None = None,
        card_authenticator: CardAuthenticator | None = None,
        control: HostControl | None = None,
        default_keys: SimulatorKeys | None = None,
        terminal_keys: Mapping[str, SimulatorKeys] | None = None,
        clock: Callable[[], datetime] = _now,
        max_frame: int = 8192,
        dukpt_bdks: Mapping[str, bytes] | None = None,
        dialect_source: Callable[[], Dialect] | None = None,
    ) -> None:
        self.dialect = dialect
        # Where the dialect comes from when it can change while the simulator
        # runs (the terminal's configuration, in simulator mode).
        self.dialect_source = dialect_source
        # Base derivation keys for DUKPT PIN blocks: "tdes" (X9.24-1), "aes" (X9.24-3).
        self.dukpt_bdks = dict(dukpt_bdks if dukpt_bdks is not None else TEST_BDKS)
        self.codec = Codec(dialect)
        self.ledger = ledger if ledger is not None else IssuerLedger()
        self.card_authenticator = card_authenticator
        self.control = control if control is not None else HostControl()
        self.default_keys = default_keys if default_keys is not None else load_test_keys()
        self.terminals: dict[str, TerminalKeys] = {
            tid: TerminalKeys.from_set(keys) for tid, keys in (terminal_keys or {}).items()
        }
        self.clock = clock
        self.max_frame = max_frame
        self.counts: Counter[str] = Counter()
        self.requests: deque[IsoMessage] = deque(maxlen=1000)
        self.business_day = 1
        self.stan = MemoryStanSource()  # the host's own, for its RRNs
        # Called once the host's state changed (simulators.host.state.HostStateFile.save).
        self.on_change: Callable[[], None] | None = None
        self.port: int | None = None
        self._listening = False
        self._listening_changed = trio.Event()

    # ------------------------------------------------------------------ sans-I/O core
    def terminal(self, tid: str) -> TerminalKeys:
        state = self.terminals.get(tid)
        if state is None:
            state = self.terminals[tid] = TerminalKeys.from_set(self.default_keys)
        return state

    def forget_working_keys(self) -> None:
        """The host drops every terminal's working keys (renewed, lost): MACed
        requests fail (63) until the terminal runs the key exchange."""
        for keys in self.terminals.values():
            keys.tpk = keys.tak = keys.pending_tpk = keys.pending_tak = None
        self.default_keys = SimulatorKeys(self.default_keys.master, WorkingKeys())
        if self.on_change is not None:
            self.on_change()

    def _follow(self, dialect: Dialect) -> None:
        if dialect is not self.dialect:
            log.info("host simulator now speaks %s", dialect.name)
            self.dialect, self.codec = dialect, Codec(dialect)

    def handle(self, raw: bytes) -> bytes | None:
        """Process one request; the encoded answer, or None for no answer."""
        if self.dialect_source is not None:
            self._follow(self.dialect_source())
        try:
            msg = self.codec.decode(raw)
        except Iso8583Error as exc:
            log.warning("undecodable request dropped: %s", exc.message)
            return None
        self.counts[msg.mti] += 1
        self.requests.append(msg)
        if log.isEnabledFor(logging.DEBUG):  # describe() is not free
            log.debug("request %s", self.codec.describe(msg))
        if not is_request(msg.mti):
            return None
        try:
            answer, mac_key = self._dispatch(msg, raw)
        except (Iso8583Error, MessageBuildError) as exc:
            log.warning("%s refused: %s", msg.mti, exc.message)
            answer, mac_key = self._answer(msg, {39: "30"}), None
        if self.on_change is not None:
            try:
                self.on_change()
            except OSError as exc:
                # Not kept, not answered: the terminal's reversal settles it.
                log.error("%s not answered: the host's state was not saved: %s", msg.mti, exc)
                return None
        if self.control.mode is HostMode.TIMEOUT:
            return None
        if log.isEnabledFor(logging.DEBUG):  # describe() is not free
            log.debug("answer %s", self.codec.describe(answer))
        return self.codec.encode(answer, mac_key=mac_key)

    def _dispatch(self, msg: IsoMessage, raw: bytes) -> tuple[IsoMessage, bytes | None]:
        tid = msg.text(41).strip()
        keys = self.terminal(tid)
        if msg.mti[:2] == "08":
            return self._network(msg, tid, keys), None
        if msg.mti[:3] not in ("020", "022", "040", "032", "050", "052"):
            return self._answer(msg, {39: "12"}), None
        mac_key = self._check_mac(keys, raw, msg)
        if mac_key is None:
            log.warning("%s from %s: MAC verification failed", msg.mti, tid)
            return self._answer(msg, {39: "63"}), None
        handler = {
            "020": self._financial,
            "022": self._advice,
            "040": self._reversal,
            "032": self._upload,
            "050": self._reconciliation,
            "052": self._reconciliation_advice,
        }[msg.mti[:3]]
        return handler(msg, tid, keys), mac_key

    def _check_mac(self, keys: TerminalKeys, raw: bytes, msg: IsoMessage) -> bytes | None:
        if not self.codec.needs_mac(msg.mti):
            return keys.tak or bytes(16)
        for key, pending in ((keys.tak, False), (keys.pending_tak, True)):
            if key is None:
                continue
            try:
                self.codec.verify_mac(raw, msg, key)
            except MacVerificationError:
                continue
            if pending:
                keys.tak, keys.pending_tak = key, None
            return key
        return None

    def _answer(self, msg: IsoMessage, fields: Mapping[int, FieldValue]) -> IsoMessage:
        out: dict[int, FieldValue] = {k: msg.fields[k] for k in _ECHOED if k in msg.fields}
        out.update(fields)
        return IsoMessage(response_mti(msg.mti), out)

    def _rrn(self) -> str:
        return make_rrn(self.clock(), self.stan.next_stan())

    def _key(self, msg: IsoMessage, tid: str) -> TxnKey:
        return TxnKey(tid, msg.mti[:3] + "0", msg.text(11), msg.text(7))

    # ------------------------------------------------------------------ 0200
    def _financial(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        key = self._key(msg, tid)
        stored = self.ledger.responses.get(key)
        if stored is not None:  # a retransmission: the same answer, booked once
            return IsoMessage(stored[0], dict(stored[1]))
        if key in self.ledger.reversed:
            # Reversed before it arrived: never booked.
            return self._answer(msg, {39: "05", 37: self._rrn()})
        codes = {v: k for k, v in self.dialect.conventions.processing_codes.items()}
        kind = codes.get(msg.text(3))
        rrn = self._rrn()
        if kind not in ("purchase", "cashback", "refund"):
            return self._answer(msg, {39: "12", 37: rrn})
        txn_type = TxnType(kind)
        amount = int(msg.text(4))
        pan = _pan_of(msg)
        if self.control.mode is HostMode.DECLINE:
            code, auth_data = self.control.decline_code, None
        else:
            code, auth_data = self._decide(msg, keys, txn_type, amount, pan)
        fields: dict[int, FieldValue] = {39: code, 37: rrn}
        approved = code == "00"
        if approved:
            auth_code = f"{secrets.randbelow(1_000_000):06d}"
            fields[38] = auth_code
            cashback = 0
            if txn_type is TxnType.CASHBACK:
                cashback = _cashback(msg, self.dialect)
            self.ledger.post(
                HostTxn(
                    key=key,
                    type=txn_type,
                    amount=amount,
                    pan_hash=self.ledger.pan_hash(pan),
                    rrn=rrn,
                    auth_code=auth_code,
                    response_code=code,
                    cashback=cashback,
                    currency=msg.text_or_none(49) or "643",
                )
            )
        scripts = self.control.issuer_scripts if approved else []
        if auth_data is not None or scripts:
            fields[55] = issuer_response_icc(auth_data, scripts)
        answer = self._answer(msg, fields)
        self.ledger.responses[key] = (answer.mti, dict(answer.fields))
        return answer

    def _decide(
        self, msg: IsoMessage, keys: TerminalKeys, txn_type: TxnType, amount: int, pan: str
    ) -> tuple[str, bytes | None]:
        account = self.ledger.account(pan)
        if account is None:
            return "14", None
        auth_data: bytes | None = None
        respond = None
        icc = msg.binary_or_none(55)
        if icc and self.card_authenticator is not None:
            try:
                tags = icc_tags(icc)
            except TlvError:
                return "30", None
            psn = msg.text_or_none(23)
            check = self.card_authenticator.check(pan, psn[-2:] if psn else None, tags)
            if check is not None:
                if not check.valid:
                    log.info("ARQC verification failed: %s", check.reason)
                    return "82", None
                respond = check.respond

        def result(code: str) -> tuple[str, bytes | None]:
            return code, (respond(code) if respond is not None else auth_data)

        if account.blocked:
            return result("78")
        block = msg.binary_or_none(52)
        dukpt_data = msg.binary_or_none(self.dialect.conventions.key_data_field)
        if block is not None or dukpt_data is not None:
            if dukpt_data is not None:
                pin = self._dukpt_pin(dukpt_data, block, pan)
            else:
                assert block is not None
                pin = self._tpk_pin(keys, block, pan)
            code = self._verify_pin(pin, account)
            if code is not None:
                return result(code)
        expiry = msg.text_or_none(14)
        if expiry is not None and expiry < self.clock().strftime("%y%m"):
            return result("54")
        if txn_type.is_debit and amount > account.balance:
            return result("51")
        return result("00")

    @staticmethod
    def _tpk_pin(keys: TerminalKeys, block: bytes, pan: str) -> str | None:
        for key, pending in ((keys.tpk, False), (keys.pending_tpk, True)):
            if key is None:
                continue
            try:
                pin = decipher_pin_block(key, block, pan)
            except PinBlockError:
                continue
            if pending:
                keys.tpk, keys.pending_tpk = key, None
            return pin
        return None

    def _dukpt_pin(self, data: bytes, block: bytes | None, pan: str) -> str | None:
        """The PIN of a DUKPT request (generic87 conventions: field 120), the
        key derived from the base derivation key as a host HSM would."""
        try:
            if len(data) == 10 and block is not None:  # X9.24-1 TDES, format 0
                ipek = dukpt.tdes_ipek(self.dukpt_bdks["tdes"], data)
                key = dukpt.tdes_pin_key(dukpt.tdes_transaction_key(ipek, data))
                return decipher_pin_block(key, block, pan)
            if len(data) == 28 and block is None:  # X9.24-3 AES-128, format 4
                ksn, aes_block = data[:12], data[12:]
                initial = dukpt.aes_initial_key(self.dukpt_bdks["aes"], ksn[:8])
                key = dukpt.aes_working_key(
                    dukpt.aes_transaction_key(initial, ksn),
                    ksn,
                    dukpt.AesKeyUsage.PIN_ENCRYPTION,
                    dukpt.AesKeyType.AES128,
                )
                return dukpt.decipher_iso4(key, aes_block, pan)
        except (PinBlockError, dukpt.DukptError, KeyError, ValueError) as exc:
            log.info("DUKPT PIN block not deciphered: %s", exc)
        return None

    @staticmethod
    def _verify_pin(pin: str | None, account: Account) -> str | None:
        if pin is None:
            return "55"
        if account.pin is None or pin == account.pin:
            account.pin_tries_left = 3
            return None
        account.pin_tries_left -= 1
        if account.pin_tries_left <= 0:
            account.blocked = True
            return "75"
        return "55"

    # ------------------------------------------------------------------ 0220
    def _advice(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        key = self._key(msg, tid)
        rrn = self._rrn()
        if key not in self.ledger.advised and key not in self.ledger.reversed:
            self.ledger.advised.add(key)
            codes = {v: k for k, v in self.dialect.conventions.processing_codes.items()}
            kind = codes.get(msg.text(3))
            if kind not in ("purchase", "cashback", "refund"):
                return self._answer(msg, {39: "12", 37: rrn})
            txn_type = TxnType(kind)
            pan = _pan_of(msg)
            self.ledger.account(pan)  # opens it when the ledger opens unknown cards
            auth = (msg.text_or_none(38) or "").strip()
            self.ledger.post(
                HostTxn(
                    key=key,
                    type=txn_type,
                    amount=int(msg.text(4)),
                    pan_hash=self.ledger.pan_hash(pan),
                    rrn=rrn,
                    auth_code=auth,
                    response_code=msg.text_or_none(39) or "Y1",
                    cashback=_cashback(msg, self.dialect) if txn_type is TxnType.CASHBACK else 0,
                    currency=msg.text_or_none(49) or "643",
                )
            )
        return self._answer(msg, {39: "00", 37: rrn})

    # ------------------------------------------------------------------ 0400
    def _reversal(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        conv = self.dialect.conventions
        orig_mti, orig_stan, orig_time = parse_original_data(msg.text(conv.original_data_field))
        key = TxnKey(tid, orig_mti[:3] + "0", orig_stan, orig_time)
        replacement = msg.text_or_none(conv.replacement_amounts_field)
        remaining = int(replacement[:12]) if replacement and replacement[:12].isdigit() else None
        applied = self.ledger.reverse(key, remaining)
        log.info(
            "reversal of %s/%s from %s: %s",
            orig_mti,
            orig_stan,
            tid,
            "applied" if applied else "repeat",
        )
        fields: dict[int, FieldValue] = {
            39: "00",
            conv.original_data_field: msg.text(conv.original_data_field),
        }
        return self._answer(msg, fields)

    # ------------------------------------------------------------------ 0320
    def _upload(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        record = batch_record_from_upload(msg, self.dialect, year=self.clock().year)
        if self.control.refuse_upload:
            return self._answer(msg, {39: "58"})
        self.ledger.batch(tid).uploaded.append(record)
        return self._answer(msg, {39: "00"})

    def _currency(self, msg: IsoMessage) -> str:
        """The currency of a reconciliation's totals: field 50 (ISO 8583:1987,
        currency code, settlement), else 49."""
        number = self.dialect.conventions.settlement_currency_field
        found = msg.text_or_none(number) if number is not None and number in msg else None
        return found or msg.text_or_none(49) or "643"

    def _replay(self, msg: IsoMessage, tid: str, theirs: BatchTotals) -> IsoMessage | None:
        """The answer that closed this batch (in this currency), when the
        terminal repeats its settlement (it never recorded that answer)."""
        settled = self.ledger.settled.get((tid, self._currency(msg)))
        number = msg.text_or_none(self.dialect.conventions.batch_field) or ""
        if settled is None or settled[0] != number or settled[1] != theirs:
            return None
        log.info("batch %s of %s already closed: the closing answer again", number, tid)
        self.counts["replayed"] += 1
        return self._answer(msg, settled[2])

    def _close(
        self, msg: IsoMessage, tid: str, theirs: BatchTotals, fields: dict[int, FieldValue]
    ) -> None:
        number = msg.text_or_none(self.dialect.conventions.batch_field) or ""
        currency = self._currency(msg)
        self.ledger.batch(tid).number = number
        self.ledger.close_batch(tid, currency)
        self.ledger.settled[(tid, currency)] = (number, theirs, dict(fields))
        log.info("batch %s of %s closed in %s", number, tid, currency)

    # ------------------------------------------------------------------ 0500
    def _reconciliation(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        conv = self.dialect.conventions
        theirs = BatchTotals.from_message(msg, self.dialect)
        if theirs is None:
            return self._answer(msg, {39: "30"})
        replay = self._replay(msg, tid, theirs)
        if replay is not None:
            return replay
        batch = self.ledger.batch(tid)
        currency = self._currency(msg)
        code = msg.text(3)
        if code == conv.processing_codes["reconciliation"]:
            ours = batch.totals(currency)
            booked = batch.in_currency(currency)
            if self.control.lose_transaction and booked:
                # The host lost its newest transaction.
                kept = booked[:-1]
                ours = BatchTotals.of(t.record() for t in kept)
            if self.control.reconciliation_mismatch:
                # A transaction of 1.00 the terminal does not know about.
                ours = replace(
                    ours, debit_count=ours.debit_count + 1, debit_amount=ours.debit_amount + 100
                )
            batch.uploaded = []
        elif code == conv.processing_codes["closing"]:
            ours = BatchTotals.of(batch.uploaded)
        else:
            return self._answer(msg, {39: "12"})
        balanced = ours == theirs
        fields: dict[int, FieldValue] = {
            39: "00" if balanced else "95",
            37: self._rrn(),
            38: f"{secrets.randbelow(1_000_000):06d}",
        }
        fields.update(ours.to_fields(self.dialect))
        if balanced:
            self._close(msg, tid, theirs, fields)
        return self._answer(msg, fields)

    def _reconciliation_advice(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        """0520/0521: forced settlement. The host closes its batch on the
        terminal's word (if it accepts forcing) and answers with its own totals."""
        theirs = BatchTotals.from_message(msg, self.dialect)
        if theirs is None or msg.text(3) != self.dialect.conventions.processing_codes["closing"]:
            return self._answer(msg, {39: "30"})
        replay = self._replay(msg, tid, theirs)
        if replay is not None:
            return replay
        if not self.control.accept_forced:
            return self._answer(msg, {39: "12"})
        fields: dict[int, FieldValue] = {
            39: "00",
            37: self._rrn(),
            38: f"{secrets.randbelow(1_000_000):06d}",
        }
        fields.update(self.ledger.batch(tid).totals(self._currency(msg)).to_fields(self.dialect))
        self._close(msg, tid, theirs, fields)
        return self._answer(msg, fields)

    # ------------------------------------------------------------------ 0800
    def _network(self, msg: IsoMessage, tid: str, keys: TerminalKeys) -> IsoMessage:
        conv = self.dialect.conventions
        names = {v: k for k, v in conv.network_codes.items()}
        what = names.get(msg.text_or_none(70) or "")
        base: dict[int, FieldValue] = {70: msg.text(70)} if 70 in msg else {}
        if what in ("echo", "sign_on", "sign_off"):
            return self._answer(msg, base | {39: "00"})
        if what == "cutover":
            # The new business day; the answer reports what the host holds in
            # the terminal's batch (nothing after a settlement closed it; the
            # cleared transactions after a `clear`) in the currency the
            # request names (field 50), and names it; a plain 0800 gets the
            # totals of a batch in one currency and none of a batch in
            # several: their amounts are never added up.
            self.business_day += 1
            fields: dict[int, FieldValue] = {39: "00", 37: self._rrn()}
            fields[38] = f"{secrets.randbelow(1_000_000):06d}"
            batch = self.ledger.batch(tid)
            number = self.dialect.conventions.settlement_currency_field
            asked = msg.text_or_none(number) if number is not None and number in msg else None
            held = {t.currency for t in batch.transactions.values()}
            currency = asked or (held.pop() if len(held) == 1 else None)
            if currency is not None:
                fields.update(batch.totals(currency).to_fields(self.dialect))
            elif not held:  # an empty batch: nothing in any currency
                fields.update(BatchTotals.of(()).to_fields(self.dialect))
            if asked is not None and number is not None:
                fields[number] = asked
            return self._answer(msg, base | fields)
        if what == "key_change":
            return self._key_change(msg, keys, base)
        return self._answer(msg, base | {39: "12"})

    def _key_change(
        self, msg: IsoMessage, keys: TerminalKeys, base: dict[int, FieldValue]
    ) -> IsoMessage:
        conv = self.dialect.conventions
        selector = msg.text_or_none(conv.key_type_field) or ""
        names = {v: k for k, v in conv.key_types.items()}
        key_type = names.get(selector[:2])
        if key_type is None:
            return self._answer(msg, base | {39: "12"})
        new = generate_key()
        cryptogram, check = wrap_key(keys.master.for_type(key_type), new)
        if self.control.wrong_kcv:
            check = bytes(b ^ 0x5A for b in check)
        if key_type == "pin":
            keys.pending_tpk = new
        else:
            keys.pending_tak = new
        return self._answer(
            msg,
            base
            | {
                39: "00",
                conv.key_type_field: selector,
                conv.key_data_field: cryptogram + check,
                37: self._rrn(),
            },
        )

    # ------------------------------------------------------------------ the server
    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host``:``port`` until cancelled; reports the bound port
        through ``task_status.started()``. In "down" mode the listener is
        closed (connections are refused) and reopened on the same port when
        the mode changes back."""
        started = False
        while True:
            if self.control.mode is HostMode.DOWN:
                if not started:
                    probe = await trio.open_tcp_listeners(port, host=host)
                    port = probe[0].socket.getsockname()[1]
                    for sock_listener in probe:
                        await sock_listener.aclose()
                    self.port = port
                    task_status.started(port)
                    started = True
                await self.control.wait_until_up()
            listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
            tcp = await trio.open_tcp_listeners(port, host=host)
            port = tcp[0].socket.getsockname()[1]
            self.port = port
            for tcp_listener in tcp:
                if ssl_context is None:
                    listeners.append(tcp_listener)
                else:
                    listeners.append(
                        trio.SSLListener(tcp_listener, ssl_context, https_compatible=False)
                    )
            if not started:
                task_status.started(port)
                started = True
            log.info("host simulator listening on %s:%d", host, port)
            self._set_listening(True)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._go_down_when_told, nursery.cancel_scope)
                    await trio.serve_listeners(self._connection, listeners, handler_nursery=nursery)
            finally:
                for listener in listeners:
                    await trio.aclose_forcefully(listener)
                self._set_listening(False)

    @property
    def listening(self) -> bool:
        """True while the listener accepts connections."""
        return self._listening

    def _set_listening(self, value: bool) -> None:
        self._listening = value
        changed, self._listening_changed = self._listening_changed, trio.Event()
        changed.set()

    async def wait_listening(self, value: bool = True) -> None:
        """Wait until the listener is open (True) or closed (False), e.g. after a
        mode change."""
        while self._listening is not value:
            await self._listening_changed.wait()

    async def _go_down_when_told(self, scope: trio.CancelScope) -> None:
        await self.control.wait_until_down()
        log.info("host simulator going down")
        scope.cancel()

    async def _connection(self, stream: trio.abc.Stream) -> None:
        framer = Framer(self.max_frame)
        try:
            async with stream:
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    framer.feed(bytes(data))
                    while (request := framer.next_frame()) is not None:
                        answer = self.handle(request)
                        if answer is None:
                            continue
                        if self.control.delay:
                            await trio.sleep(self.control.delay)
                        await stream.send_all(frame(answer, self.max_frame))
        except Iso8583Error as exc:
            log.warning("connection dropped: %s", exc.message)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("connection ended: %s", exc)


def _pan_of(msg: IsoMessage) -> str:
    pan = msg.text_or_none(2)
    if pan is None:
        track2 = msg.text_or_none(35) or ""
        pan = track2.split("=", 1)[0]
    if not pan:
        raise Iso8583Error("no PAN in the request")
    return pan


def _cashback(msg: IsoMessage, dialect: Dialect) -> int:
    conv = dialect.conventions
    extra = msg.text_or_none(conv.additional_amounts_field) or ""
    for _acct, amount_type, _cur, value in parse_additional_amounts(extra):
        if amount_type == conv.cashback_amount_type:
            return abs(value)
    return 0
