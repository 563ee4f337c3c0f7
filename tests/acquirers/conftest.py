"""Shared pieces for the acquirer tests: a terminal, the TEST ONLY keys, a real host
simulator on a loopback port, and links to it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import pytest
import trio

from acquirers.iso8583 import messages as m
from acquirers.iso8583.codec import IsoMessage
from acquirers.iso8583.dialects import generic87
from acquirers.iso8583.security import WorkingKeys, encipher_pin_block
from acquirers.iso8583.stan import MemoryStanSource
from acquirers.link import AcquirerLink, HostAddress, LinkConfig
from base.crypto.dukpt import DukptOriginator, encipher_iso4
from simulators.host import HostSimulator, IssuerLedger
from simulators.testkeys import SimulatorKeys, load_test_keys

D = generic87.DIALECT
TERMINAL = m.CardAcceptor("00001234", "000000000012345")
PAN = "4000001234562000"
PIN = "1234"
OTHER_PAN = "5500000000000004"
EXPIRY = "3012"


@dataclass
class Env:
    sim: HostSimulator
    port: int
    keys: SimulatorKeys
    stan: MemoryStanSource = field(default_factory=MemoryStanSource)

    def link(
        self,
        *,
        response_timeout: float = 5.0,
        keys: WorkingKeys | None = None,
        mirror: int | None = None,
        main: int | None = None,
        **config: object,
    ) -> AcquirerLink:
        cfg = LinkConfig(
            main=HostAddress("127.0.0.1", self.port if main is None else main),
            mirror=HostAddress("127.0.0.1", mirror) if mirror is not None else None,
            connect_timeout=2.0,
            response_timeout=response_timeout,
            **config,  # type: ignore[arg-type]
        )
        return AcquirerLink(cfg, D, TERMINAL, stan=self.stan, keys=keys or self.keys.working)

    def purchase(
        self,
        amount: int = 10000,
        *,
        kind: m.TxnType = m.TxnType.PURCHASE,
        pan: str = PAN,
        pin: str | None = PIN,
        tpk: bytes | None = None,
        icc: bytes | None = None,
        dukpt: DukptOriginator | None = None,
        **kw: object,
    ) -> IsoMessage:
        block = ksn = None
        if pin is not None and dukpt is not None:
            ksn = dukpt.next_ksn()
            key = dukpt.pin_key(ksn)
            block = encipher_iso4(key, pin, pan) if dukpt.aes else encipher_pin_block(key, pin, pan)
        elif pin is not None:
            block = encipher_pin_block(tpk or self.keys.working.tpk or b"", pin, pan)
        card = m.Card(pan, expiry=EXPIRY, sequence="01", pin_block=block, pin_ksn=ksn, icc_data=icc)
        req = m.FinancialRequest(
            type=kind,
            amount=amount,
            card=card,
            stan=self.stan.next_stan(),
            when=datetime.now().astimezone(),
            batch="000001",
            **kw,  # type: ignore[arg-type]
        )
        return m.build_financial(req, TERMINAL, D)


def make_ledger() -> IssuerLedger:
    ledger = IssuerLedger()
    ledger.open_account(PAN, 100_000, pin=PIN)
    ledger.open_account(OTHER_PAN, 50_000)
    return ledger


async def start_sim(
    nursery: trio.Nursery, *, ssl_context: ssl.SSLContext | None = None, **kw: object
) -> tuple[HostSimulator, int]:
    sim = HostSimulator(**kw)  # type: ignore[arg-type]
    port: int = await nursery.start(partial(sim.serve, ssl_context=ssl_context))
    return sim, port


@pytest.fixture
async def env(nursery: trio.Nursery) -> Env:
    sim, port = await start_sim(nursery, ledger=make_ledger())
    return Env(sim, port, load_test_keys())


@pytest.fixture
def keys() -> SimulatorKeys:
    return load_test_keys()
