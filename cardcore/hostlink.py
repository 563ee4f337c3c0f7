# Strategy: the terminal's side of the acquirer host (ISO 8583 via
# acquirers.link) with store-and-forward, as ISO 8583 practice and jPOS's
# space-based store-and-forward do it:
# - Reversals and advices live in the journal (encrypted); they are sent in
#   the order they were written, before the next financial request and by a
#   background task at start-up and after every change, retried with a
#   doubling back-off (retry-initial .. retry-max) until the host acknowledges
#   them, and looked for every retry-max seconds in any case. A reversal goes
#   first as 0400, then as 0401 repeats; an advice as 0220, then 0221.
# - A transaction whose final journal write failed (disk full) after its
#   request left ends as a crash would: its stored reversal is sent at once
#   and its row is settled by the next round the journal accepts.
# - A failure stops the round: later messages never overtake earlier ones.
# - Stored messages are kept without their MAC; the link MACs them with the
#   working keys of the moment they are sent.
# - STANs come from a journal counter, so they survive restarts.
# - Working keys (the TPK and the TAK under which messages are MACed) are
#   fetched by the key exchange (0800, network management "key change",
#   each key KCV-checked under its master key) whenever the terminal holds
#   master keys but no working keys, or the host answered with one of the
#   dialect's key-change codes (keys out of step): before store-and-forward
#   sends, before a transaction starts and before its financial request, as
#   a terminal does after it has been keyed. The exchange carries no money:
#   nothing is stored for it, and what waits in the queue goes after it.
from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from acquirers.errors import AcquirerError
from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.dialects import get_dialect
from acquirers.iso8583.messages import CardAcceptor
from acquirers.iso8583.security import MasterKeys, WorkingKeys
from acquirers.link import AcquirerLink, HostAddress, KeyExchangeResult, LinkConfig
from base.errors import CardcoreError
from cardcore.config import Config
from cardcore.journal import Journal, Pending
from cardcore.keystore import KeyStore

__all__ = ["KEY_NAMES", "HostNotConfigured", "HostService", "NoMasterKeys", "StanSource"]

log = logging.getLogger(__name__)

# Key store names of the acquirer keys (working keys from loadworkkeys,
# master keys from loadmasterkeys).
KEY_NAMES = {"tpk": "tpk", "tak": "tak", "master-pin": "tmk-pin", "master-mac": "tmk-mac"}


class HostNotConfigured(CardcoreError):
    """No acquirer host is configured."""


class NoMasterKeys(CardcoreError):
    """Working keys are needed, and there are no master keys to get them under."""


class StanSource(Protocol):
    """Where STANs come from (cardcore.ledger.StanCounter: one counter for
    every message the terminal sends)."""

    def take(self) -> str: ...

    def take_now(self) -> str: ...


class _LinkStans:
    """The link's STANs: network management and settlement messages leave
    outside any transaction's commit, so each STAN is written as it is taken."""

    def __init__(self, stans: StanSource) -> None:
        self._stans = stans

    def next_stan(self) -> str:
        return self._stans.take_now()


class HostService:
    def __init__(
        self,
        config: Config,
        journal: Journal,
        keystore: KeyStore,
        *,
        tls: Callable[[Config], ssl.SSLContext | None] | None = None,
        clock: Callable[[], float] = trio.current_time,
        master_store: Callable[[], KeyStore] | None = None,
        stans: StanSource,
    ) -> None:
        self.journal = journal
        self.keystore = keystore
        # Master keys live in the provisioned generation's store (loadmasterkeys);
        # working keys in the terminal's store (loadworkkeys).
        self._master_store = master_store or (lambda: keystore)
        self.stans = stans
        self.stan = _LinkStans(stans)
        self._clock = clock
        self._lock = trio.Lock()
        self._keys_lock = trio.Lock()
        # The host said the working keys are out of step (a key-change code).
        self.keys_stale = False
        self._wake = trio.Event()
        self.link: AcquirerLink | None = None
        # Senders of queued messages that are not ISO 8583 (kind -> sender).
        self.senders: dict[str, Callable[[Pending], Awaitable[bool]]] = {}
        # Transactions whose last journal write failed (a full disk, an I/O
        # error) after their request may have reached the host: each round
        # first brings their rows to what a crash would (see repair).
        self._unfinished: set[int] = set()
        self.repair: Callable[[set[int]], Awaitable[None]] | None = None
        # Transactions whose flow is still running: their stored reversal (or
        # status check) is theirs to drop or keep, not store-and-forward's to
        # send, until the flow ends (a crash ends it too: nothing is held
        # across a restart).
        self._held: set[int] = set()
        # The TLS client context for a configuration (acquirer.tls), or None.
        self._tls_for = tls or (lambda config: None)
        self.unavailable: str | None = None  # why there is no link, when it is not configured
        self.configure(config)

    def configure(self, config: Config) -> None:
        """(Re)build the link from the configuration; pending messages stay."""
        self.config = config
        self.link = None
        self.unavailable = None
        acq = config.acquirer
        tid, mid = config.terminal.tid, config.terminal.mid
        if acq.main is not None and tid and mid:
            try:
                tls = self._tls_for(config)
            except CardcoreError as exc:
                # acquirer.tls without a usable client certificate: no clear
                # link instead; transactions say why there is none.
                self.unavailable = f"acquirer TLS: {exc.message}"
                log.error("no acquirer link: %s", self.unavailable)
                return
            link_config = LinkConfig(
                main=HostAddress(acq.main.host, acq.main.port, "main"),
                mirror=HostAddress(acq.mirror.host, acq.mirror.port, "mirror")
                if acq.mirror
                else None,
                connect_timeout=acq.connect_timeout,
                response_timeout=acq.response_timeout,
                tls=tls,
            )
            terminal = CardAcceptor(tid=tid, mid=mid, currency=config.terminal.currency)
            self.link = AcquirerLink(
                link_config,
                get_dialect(acq.dialect),
                terminal,
                stan=self.stan,
                keys=self.working_keys(),
            )
            self.link.on_answer = self._watch_answer

    # --- keys -------------------------------------------------------------
    def working_keys(self) -> WorkingKeys | None:
        names = KEY_NAMES
        if names["tpk"] in self.keystore and names["tak"] in self.keystore:
            return WorkingKeys(
                tpk=self.keystore.get(names["tpk"]), tak=self.keystore.get(names["tak"])
            )
        return None

    def master_keys(self) -> MasterKeys | None:
        names = KEY_NAMES
        store = self._master_store()
        if names["master-pin"] in store and names["master-mac"] in store:
            return MasterKeys(
                pin=store.get(names["master-pin"]), mac=store.get(names["master-mac"])
            )
        return None

    def _watch_answer(self, request: IsoMessage, answer: IsoMessage) -> None:
        """A key-change code in any answer but the key exchange's own marks
        the working keys stale; the background task renews them at once."""
        link = self.link
        if link is None:
            return
        conventions = link.dialect.conventions
        if answer.text_or_none(39) not in conventions.key_change_codes:
            return
        if request.text_or_none(70) == conventions.network_codes.get("key_change"):
            return
        log.warning("the host asks for new working keys (%s to %s)", answer.text(39), request.mti)
        self.keys_stale = True
        self.poke()

    async def exchange_working_keys(self) -> KeyExchangeResult:
        """The key exchange: new PIN and MAC working keys from the host under
        the master keys, each checked against its KCV before anything is
        stored (KeyCheckError keeps the old ones), then stored and used."""
        async with self._keys_lock:
            return await self._exchange()

    async def _exchange(self) -> KeyExchangeResult:
        link = self.require()
        master = self.master_keys()
        if master is None:
            raise NoMasterKeys("no terminal master keys: run loadmasterkeys first")
        result = await link.change_working_keys(master)
        keys = result.keys
        if keys.tpk is None or keys.tak is None:
            raise AcquirerError("the host did not deliver both working keys")
        self.keystore.put_many(
            {KEY_NAMES["tpk"]: (keys.tpk, "tdes"), KEY_NAMES["tak"]: (keys.tak, "tdes")}
        )
        link.keys = keys
        self.keys_stale = False
        log.info("working keys changed: %r", keys)
        return result

    def _keys_ready(self) -> bool:
        link = self.link
        return link is not None and link.keys is not None and link.keys.tak is not None

    async def ensure_working_keys(self) -> bool:
        """Working keys for the messages that need them: when there are none
        (a terminal just keyed with loadmasterkeys, or activated again) or the
        host asked for new ones, the key exchange runs, once however many
        ask at the same moment. True when keys are in place; a failure is
        logged and the message that needed the keys fails for its own reason."""
        if self.link is None or (self._keys_ready() and not self.keys_stale):
            return self._keys_ready()
        if self.master_keys() is None:
            log.warning("no working keys, and no master keys to get them: run loadmasterkeys")
            return self._keys_ready()
        async with self._keys_lock:
            if self._keys_ready() and not self.keys_stale:
                return True  # another task just got them
            try:
                await self._exchange()
            except CardcoreError as exc:
                log.warning("key exchange failed: %s", exc.message)
        return self._keys_ready()

    def require(self) -> AcquirerLink:
        if self.link is None:
            raise HostNotConfigured(
                self.unavailable
                or "no acquirer host configured (acquirer.main, terminal.tid and terminal.mid)"
            )
        return self.link

    def store(self, message: IsoMessage) -> bytes:
        """A message as kept in the journal (no MAC: it is added when sent)."""
        return self.require().codec.encode(message)

    def load(self, raw: bytes) -> IsoMessage:
        return self.require().codec.decode(raw)

    # --- store-and-forward ------------------------------------------------
    def poke(self) -> None:
        """Something was queued: let the background sender try now."""
        self._wake.set()

    def hold(self, txn_id: int) -> None:
        """The flow of ``txn_id`` runs: its queued messages wait for its end."""
        self._held.add(txn_id)

    def release(self, txn_id: int) -> None:
        """The flow of ``txn_id`` ended: what it left queued may go."""
        if txn_id in self._held:
            self._held.discard(txn_id)
            self.poke()

    def unfinished(self, txn_id: int) -> None:
        """A transaction ended without its final journal write: its stored
        reversal goes now, and its row is settled as after a crash as soon as
        the journal takes writes again."""
        self._unfinished.add(txn_id)
        self.poke()

    @property
    def lock(self) -> trio.Lock:
        """Held while store-and-forward delivers; hold it to send a queued
        message yourself without the background delivery sending it too."""
        return self._lock

    async def flush(self) -> bool:
        """Send every pending message, oldest first, lane by lane: ISO 8583
        reversals and advices form one lane (a failure stops it, so later
        messages never overtake earlier ones); other kinds (SBP refunds) go
        through the sender registered for them, each kind its own lane. True
        when nothing is left."""
        async with self._lock:
            stopped: set[str] = set()
            keyless = self.link is not None and (self.keys_stale or not self._keys_ready())
            if keyless and await self.journal.count_pending(("reversal", "advice")):
                await self.ensure_working_keys()  # they go MACed
            if self._unfinished and self.repair is not None:
                try:
                    await self.repair(self._unfinished)  # removes what it settled
                except CardcoreError as exc:
                    # The journal still refuses writes: the reversals go all the same.
                    log.warning("unfinished transactions not settled yet: %s", exc.message)
                    stopped.add("repair")
            for pending in await self.journal.pending():
                lane = "iso" if pending.kind in ("reversal", "advice") else pending.kind
                if lane in stopped:
                    continue
                if pending.txn_id in self._held:
                    # Sending it now could reverse a request whose answer is
                    # on its way; nothing after it may overtake it either.
                    stopped.add(lane)
                    continue
                if lane == "iso":
                    delivered = self.link is not None and await self._send(pending)
                else:
                    sender = self.senders.get(pending.kind)
                    delivered = sender is not None and await sender(pending)
                if not delivered:
                    stopped.add(lane)
            return not stopped

    async def _send(self, pending: Pending) -> bool:
        link = self.require()
        try:
            message = self.load(pending.payload)
            if pending.kind == "reversal":
                answer = await link.reverse(message, repeat=pending.attempts > 0)
                delivered = answer.acknowledged
                code = answer.response_code
            else:
                response = await link.advice(message, repeat=pending.attempts > 0)
                delivered = response.response_code == "00" or response.approved
                code = response.response_code
        except AcquirerError as exc:
            log.info("store-and-forward: %s %d not delivered: %s", pending.kind, pending.id, exc)
            await self.journal.pending_attempt(pending.id, exc.message)
            return False
        if not delivered:
            log.warning(
                "store-and-forward: host answered %s %d with %s; will retry",
                pending.kind,
                pending.id,
                code,
            )
            await self.journal.pending_attempt(pending.id, f"response code {code}")
            return False
        await self.journal.resolve_pending(pending.id)
        log.info("store-and-forward: %s %d delivered (%s)", pending.kind, pending.id, code)
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background sender: at start-up, when poked, with back-off while
        something stays undelivered or a round fails (the journal refusing
        writes included), and every retry-max seconds when all is delivered,
        so that nothing waits for the next sale to be noticed."""
        delay = self.config.acquirer.retry_initial
        task_status.started()
        while True:
            acq = self.config.acquirer  # as reconfigured meanwhile
            self._wake = trio.Event()
            try:
                if self.keys_stale:
                    await self.ensure_working_keys()
                done = await self.flush()
            except CardcoreError as exc:
                log.warning("store-and-forward round failed: %s", exc.message)
                done = False
            if done:
                delay = acq.retry_initial
                wait = acq.retry_max
            else:
                wait = delay
                delay = min(delay * 2, acq.retry_max)
            with trio.move_on_after(wait):
                await self._wake.wait()
