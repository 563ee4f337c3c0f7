# Strategy: simulator mode (docs/conventions.md: "`--simulator` works with zero
# configuration"). Every simulated party is a real one speaking its real
# protocol over loopback, started in the terminal's root nursery:
# - the acquirer host simulator (ISO 8583 over TCP) with an issuer ledger
#   holding an account for every virtual card (its PIN for online PIN checks)
#   and the virtual cards' issuer master keys for ARQC/ARPC; under `serve` it
#   keeps what a real host keeps across a restart (keys, books, business day:
#   simulators.host.state, in <data-dir>/sim/host.json);
# - the virtual card slot and readers (card `default` on the contact
#   interface until `cardcore sim present|remove` changes it), the PIN pad;
# - the control socket behind `cardcore sim ...`;
# - what a person at the terminal sees and presses: the display, the lights,
#   the keys (simulators.devices.keys), all counting their changes in one `Changes`
#   that the virtual terminal page (simulators.ui) waits on.
# The configuration gets loopback hosts, TEST ONLY keys and identities; a
# value the operator configured explicitly wins.
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from acquirers.iso8583.dialects import get_dialect
from acquirers.sbp.config import SbpConfig
from cardcore.config import Config, HostConfig
from cardcore.hostlink import KEY_NAMES
from cardcore.storage import ensure_private_dir
from cardcore.terminal import Terminal
from hal.interfaces import CardInterface
from simulators.control import ControlError, SimControlServer, control_path
from simulators.devices.changes import Changes
from simulators.devices.display import SimDisplay
from simulators.devices.indicators import SimIndicators
from simulators.devices.keypad import SimKeypad
from simulators.devices.keys import TerminalKeys
from simulators.devices.pinpad import PinPadMode, SimPinPad
from simulators.devices.pki import load_issuer_keys
from simulators.devices.profile import list_profiles, load_profile
from simulators.devices.reader import SimCardReader, SimCardSlot
from simulators.host.control import HostMode
from simulators.host.issuer import EmvCardAuthenticator, IssuerCardKeys
from simulators.host.ledger import IssuerLedger
from simulators.host.server import HostSimulator
from simulators.host.state import FILE_NAME as STATE_FILE
from simulators.host.state import HostStateFile, Saver, restore
from simulators.sbp.agent import SbpAgentSimulator, SbpSimControl
from simulators.sbp.ledger import SimMode
from simulators.testkeys import load_test_keys

__all__ = ["SIM_IDENTITY", "Simulator", "simulator_config"]

log = logging.getLogger(__name__)

# Identities of the simulated terminal (TEST ONLY).
SIM_IDENTITY = {"tid": "10000001", "mid": "123456789012345"}
ACCOUNT_BALANCE = 10_000_000_00  # minor units on every virtual card's account


def simulator_config(config: Config, host_port: int, sbp_port: int | None = None) -> Config:
    """The configuration with the simulated parties filled in."""
    term = config.terminal
    terminal = msgspec.structs.replace(
        term,
        tid=term.tid or SIM_IDENTITY["tid"],
        mid=term.mid or SIM_IDENTITY["mid"],
        header_lines=term.header_lines or ["CARDCORE SIMULATOR", "TEST ONLY"],
        merchant_name_location=term.merchant_name_location or "CARDCORE SIMULATOR",
        mcc=term.mcc or "5999",
    )
    acq = config.acquirer
    acquirer = msgspec.structs.replace(
        acq,
        main=acq.main or HostConfig(host="127.0.0.1", port=host_port),
        # The host simulator speaks plain TCP on loopback, activated or not.
        tls=acq.tls if acq.main else False,
        bank_name=acq.bank_name or "SIMULATOR BANK",
        acquirer_tag=acq.acquirer_tag or "sim",
        manual_entry=acq.manual_entry or ["purchase", "refund"],
        partial_void=True,
    )
    emv = msgspec.structs.replace(config.emv, simulator_ca_keys=True)
    sbp = config.sbp
    if sbp is None and sbp_port is not None:
        sbp = SbpConfig(
            agent_url=f"http://127.0.0.1:{sbp_port}",
            terminal_id="SBP00000001",
            merchant_id="MA0000000001",
            bank_name="SIMULATOR SBP BANK",
            poll_interval=0.2,
        )
    return msgspec.structs.replace(config, terminal=terminal, acquirer=acquirer, emv=emv, sbp=sbp)


# `cardcore sim host SWITCH`: end-of-day behaviour of the host simulator, beside
# its answering mode (approve|decline|timeout|down, docs/conventions.md).
HOST_SWITCHES: dict[str, dict[str, bool]] = {
    "mismatch": {"reconciliation_mismatch": True},
    "lose": {"lose_transaction": True},
    "refuse-upload": {"refuse_upload": True},
    "agree": {"reconciliation_mismatch": False, "lose_transaction": False, "refuse_upload": False},
    "wrong-kcv": {"wrong_kcv": True},
    "good-kcv": {"wrong_kcv": False},
}


def host_switches(host: HostSimulator) -> dict[str, bool]:
    control = host.control
    return {
        "mismatch": control.reconciliation_mismatch,
        "lose": control.lose_transaction,
        "refuse-upload": control.refuse_upload,
        "wrong-kcv": control.wrong_kcv,
    }


def host_ledger(host: HostSimulator) -> list[dict[str, Any]]:
    """The host's transactions per terminal batch, as plain data (no PAN)."""
    rows: list[dict[str, Any]] = []
    for tid, batch in host.ledger.batches.items():
        for txn in batch.transactions.values():
            rows.append(
                {
                    "tid": tid,
                    "mti": txn.key.mti,
                    "stan": txn.key.stan,
                    "type": txn.type.name.lower(),
                    "amount": txn.amount,
                    "currency": txn.currency,
                    "cashback": txn.cashback,
                    "reversed": txn.reversed_amount,
                    "response": txn.response_code,
                    "rrn": txn.rrn,
                }
            )
    return rows


@dataclass
class Simulator:
    changes: Changes = field(default_factory=Changes)
    host: HostSimulator | None = None
    pinpad: SimPinPad | None = None
    sbp: SbpAgentSimulator | None = None
    host_port: int = 0
    sbp_port: int | None = None
    slot: SimCardSlot = field(init=False)
    indicators: SimIndicators = field(init=False)
    display: SimDisplay = field(init=False)
    keys: TerminalKeys = field(init=False)
    keypad: SimKeypad = field(init=False)

    def __post_init__(self) -> None:
        self.slot = SimCardSlot(changes=self.changes)
        self.indicators = SimIndicators(changes=self.changes)
        self.display = SimDisplay(changes=self.changes)
        self.keys = TerminalKeys(self.changes)
        self.keypad = SimKeypad(keys=self.keys)

    def _cardholder_pin(self) -> str | None:
        presented = self.slot.presented
        if presented is None:
            return None
        profile = self.slot.card(presented[0]).profile  # loaded once per profile
        for app in profile.applications:
            if app.pin:
                return app.pin
        return None

    def install_devices(self, terminal: Terminal) -> None:
        """Simulated readers, PIN pad, keypad, display and lights; the card
        `default` sits in the contact slot."""
        self.slot.present("default", CardInterface.CONTACT)
        terminal.devices.readers = {
            CardInterface.CONTACT: SimCardReader(self.slot, CardInterface.CONTACT),
            CardInterface.CONTACTLESS: SimCardReader(self.slot, CardInterface.CONTACTLESS),
        }

        def tpk() -> bytes | None:
            name = KEY_NAMES["tpk"]
            return terminal.keystore.get(name) if name in terminal.keystore else None

        self.pinpad = SimPinPad(self._cardholder_pin, tpk, keys=self.keys)
        terminal.devices.pinpad = self.pinpad
        terminal.devices.keypad = self.keypad
        terminal.devices.indicators = self.indicators
        terminal.devices.display = self.display

    @staticmethod
    def seed_keys(terminal: Terminal) -> None:
        """TEST ONLY acquirer keys, shared with the host simulator, unless keys
        were loaded (loadmasterkeys into the provisioned store, loadworkkeys into
        the terminal's store)."""
        keys = load_test_keys()
        working = {KEY_NAMES["tpk"]: keys.working.tpk, KEY_NAMES["tak"]: keys.working.tak}
        missing = {
            name: (key, "tdes")
            for name, key in working.items()
            if key is not None and name not in terminal.keystore
        }
        if missing:
            terminal.keystore.put_many(missing)
        if terminal.host.master_keys() is None:
            masters = {
                KEY_NAMES["master-pin"]: (keys.master.pin, "tdes"),
                KEY_NAMES["master-mac"]: (keys.master.mac, "tdes"),
            }
            with terminal.provisioning.stage() as staging:
                staging.keystore().put_many(masters)
                terminal.publish(staging, terminal.config)

    def _ledger(self, hash_key: bytes | None = None) -> IssuerLedger:
        ledger = IssuerLedger(hash_key, open_balance=ACCOUNT_BALANCE)
        for name in list_profiles():
            for app in load_profile(name).applications:
                ledger.open_account(app.pan, ACCOUNT_BALANCE, pin=app.pin)
        return ledger

    @staticmethod
    def _authenticator() -> EmvCardAuthenticator:
        keys = load_issuer_keys()
        cards = {card.pan: IssuerCardKeys(card.keys, card.version) for card in keys.cards}
        prefixes = {
            prefix: IssuerCardKeys(keys.issuers[issuer]) for prefix, issuer in keys.prefixes.items()
        }
        return EmvCardAuthenticator(cards=cards, prefixes=prefixes)

    async def start_host(
        self, nursery: trio.Nursery, terminal: Terminal | None = None, *, durable: bool = False
    ) -> int:
        """The acquirer host simulator; with ``terminal`` it speaks the ISO 8583
        dialect the terminal's configuration names, whenever that changes.
        ``durable`` (`cardcore serve --simulator`): it keeps what a real host
        keeps in the terminal's data dir (sim/host.json) and takes it up again
        at the next start, so a restart changes nothing for the terminal."""
        store = saved = None
        if durable and terminal is not None:
            store = HostStateFile(ensure_private_dir(terminal.data_dir / "sim") / STATE_FILE)
            saved = store.load()
        self.host = HostSimulator(
            ledger=self._ledger(saved.ledger_key() if saved is not None else None),
            card_authenticator=self._authenticator(),
            default_keys=load_test_keys(),
            dialect_source=(
                (lambda: get_dialect(terminal.config.acquirer.dialect))
                if terminal is not None
                else None
            ),
        )
        if store is not None:
            if saved is not None:
                restore(self.host, saved)
                log.info("acquirer host simulator: state of %s taken up", store.path)
            saver = Saver(store, self.host)
            self.host.on_change = saver.changed
            store.save(self.host)
            nursery.start_soon(saver.run)
        self.host_port = await nursery.start(self.host.serve)
        log.info("acquirer host simulator on 127.0.0.1:%d", self.host_port)
        return self.host_port

    async def start_sbp(self, nursery: trio.Nursery) -> int:
        """The SBP agent simulator; nobody pays until `cardcore sim sbp pay`."""
        control = SbpSimControl(mode=SimMode.NONE, pay_delay=0.5)
        self.sbp = SbpAgentSimulator(control)
        self.sbp_port = await nursery.start(self.sbp.serve)
        log.info("SBP agent simulator on 127.0.0.1:%d", self.sbp_port)
        return self.sbp_port

    # --- control socket ----------------------------------------------------
    def handlers(self, terminal: Terminal) -> dict[str, Any]:
        async def present(request: dict[str, Any]) -> dict[str, Any]:
            profile = str(request.get("profile", ""))
            interface = request.get("interface")
            if interface not in (None, "contact", "contactless", "mifare"):
                raise ControlError("interface must be contact, contactless or mifare")
            target = None
            if interface == "contact":
                target = CardInterface.CONTACT
            elif interface in ("contactless", "mifare"):
                target = CardInterface.CONTACTLESS
            if request.get("also"):
                self.slot.present_also(profile)  # a second card in the field
            else:
                self.slot.present(profile, target)
            await trio.lowlevel.checkpoint()
            return {"field": [[name, iface.value] for name, iface in self.slot.presented_all]}

        async def remove(request: dict[str, Any]) -> dict[str, Any]:
            self.slot.remove()
            await trio.lowlevel.checkpoint()
            return {}

        async def host(request: dict[str, Any]) -> dict[str, Any]:
            mode = str(request.get("mode", ""))
            if self.host is None:
                raise ControlError("no host simulator is running")
            control = self.host.control
            if mode == "rekey":
                self.host.forget_working_keys()
                await trio.lowlevel.checkpoint()
                return {"mode": control.mode.value, "rekey": True}
            switch = HOST_SWITCHES.get(mode)
            if switch is not None:
                for name, value in switch.items():
                    setattr(control, name, value)
                self.changes.changed()
                await trio.lowlevel.checkpoint()
                return {"mode": control.mode.value, **host_switches(self.host)}
            try:
                control.mode = HostMode(mode)
            except ValueError:
                allowed = ", ".join([*(m.value for m in HostMode), *HOST_SWITCHES, "rekey"])
                raise ControlError(f"host mode must be one of {allowed}") from None
            self.changes.changed()
            await trio.lowlevel.checkpoint()
            return {"mode": mode}

        async def pinpad(request: dict[str, Any]) -> dict[str, Any]:
            mode = str(request.get("mode", ""))
            if self.pinpad is None:
                raise ControlError("no simulated PIN pad")
            try:
                self.pinpad.mode = PinPadMode(mode)
            except ValueError:
                raise ControlError("PIN pad mode must be enter, wrong, bypass or fail") from None
            self.changes.changed()
            await trio.lowlevel.checkpoint()
            return {"mode": mode}

        async def sbp(request: dict[str, Any]) -> dict[str, Any]:
            mode = str(request.get("mode", ""))
            if self.sbp is None:
                raise ControlError("no SBP agent simulator is running")
            try:
                self.sbp.control.set_mode(mode)
            except ValueError:
                raise ControlError("SBP mode must be pay, reject or none") from None
            self.changes.changed()
            await trio.lowlevel.checkpoint()
            return {"mode": mode}

        async def status(request: dict[str, Any]) -> dict[str, Any]:
            await trio.lowlevel.checkpoint()
            presented = self.slot.presented
            return {
                "card": presented[0] if presented else None,
                "interface": presented[1].value if presented else None,
                "host": self.host.control.mode.value if self.host else None,
                "host-switches": host_switches(self.host) if self.host else None,
                "host-port": self.host_port,
                "pinpad": self.pinpad.mode.value if self.pinpad else None,
                "sbp": self.sbp.control.mode.value if self.sbp else None,
                "display": self.display.current.text if self.display.current else None,
                "qr": self.display.qr,
                "lights": list(self.indicators.lights),
                "tones": self.indicators.tones[-10:],
            }

        async def ledger(request: dict[str, Any]) -> dict[str, Any]:
            """What the host simulator booked, for tests and demos (no PANs)."""
            await trio.lowlevel.checkpoint()
            if self.host is None:
                raise ControlError("no host simulator is running")
            closed = [
                {"tid": tid, "batch": batch.number, "currency": batch.currency,
                 "transactions": len(batch.transactions), "uploaded": len(batch.uploaded)}
                for tid, batch in self.host.ledger.closed_batches
            ]  # fmt: skip
            return {"transactions": host_ledger(self.host), "closed-batches": closed}

        from simulators.servers import tms_control

        return {"present": present, "remove": remove, "host": host, "pinpad": pinpad,
                "sbp": sbp, "status": status, "ledger": ledger,
                "tms": tms_control(terminal)}  # fmt: skip

    async def serve_control(self, terminal: Terminal, nursery: trio.Nursery) -> None:
        server = SimControlServer(control_path(terminal.data_dir), self.handlers(terminal))
        await nursery.start(server.serve)
