"""A contactless terminal for tests: combinations, recording services, a real issuer host.

The issuer host is the acquirer host simulator's issuer side
(simulators.host.issuer.EmvCardAuthenticator) with the committed test issuer master
keys: it gets field 55 exactly as the acquirer link would send it and verifies the ARQC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from kernel.capk import CaKeyStore
from kernel.config import TerminalConfig, TransactionRequest
from kernel.contactless import (
    KERNEL_2,
    KERNEL_3,
    KERNEL_MIR,
    ContactlessAid,
    ContactlessConfig,
    ContactlessEntryPoint,
    Kernel2Parameters,
    UiRequest,
)
from kernel.outcome import Outcome
from kernel.services import OnlineRequest, OnlineResponse, OnlineResult
from simulators.devices import VirtualCard, load_profile
from simulators.devices.pki import load_issuer_keys
from simulators.devices.profile import Profile
from simulators.host.issuer import EmvCardAuthenticator, IssuerCardKeys, icc_tags
from tests.kernel.helpers import FixedEntropy, ScriptedServices

H = bytes.fromhex
ROOT = Path(__file__).resolve().parents[3]
CA_KEYS = CaKeyStore.from_json(
    (ROOT / "simulators" / "devices" / "pki" / "ca-keys.json").read_text()
)
DAY = dt.datetime(2025, 6, 15, 12, 0)
FLOOR = 10_000  # 100.00
CVM_LIMIT = 300_000  # 3000.00
TX_LIMIT = 10_000_000  # 100000.00
TTQ = H("36004000")  # qVSDC, contact chip, online PIN, signature; CDCVM supported
MC_TAC = {
    "tac_denial": H("0000000000"),
    "tac_online": H("F45084800C"),
    "tac_default": H("F45084800C"),
}
LIMITS = {"floor_limit": FLOOR, "cvm_required_limit": CVM_LIMIT, "transaction_limit": TX_LIMIT}


def combinations(**overrides: object) -> tuple[ContactlessAid, ...]:
    visa = {"ttq": TTQ, "application_version": H("0096"), **LIMITS}
    return (
        ContactlessAid(H("A0000000031010"), KERNEL_3, label="VISA", **visa),  # type: ignore[arg-type]
        ContactlessAid(H("A0000000032010"), KERNEL_3, label="VISA ELECTRON", **visa),  # type: ignore[arg-type]
        ContactlessAid(
            H("A0000000041010"),
            KERNEL_2,
            label="MASTERCARD",
            application_version=H("0002"),
            kernel2=Kernel2Parameters(tags_to_read=(0x9F24, 0x9F13)),
            **MC_TAC,
            **LIMITS,
        ),
        ContactlessAid(
            H("A0000006581010"),
            KERNEL_MIR,
            label="MIR",
            application_version=H("0001"),
            capabilities=H("E06068"),
            data_exchange_tags=(0x5F28, 0x9F07),
            **MC_TAC,
            **LIMITS,
        ),
    )


TERMINAL = TerminalConfig(
    aids=(),
    country_code=643,
    terminal_type=0x22,
    terminal_id="10000001",
    merchant_id="CARDCORE0000001",
)
CONFIG = ContactlessConfig(TERMINAL, combinations())


def entry_point(config: ContactlessConfig = CONFIG) -> ContactlessEntryPoint:
    return ContactlessEntryPoint(config, CA_KEYS, entropy=FixedEntropy(moment=DAY))


@dataclass
class Services(ScriptedServices):
    """ScriptedServices plus the contactless UI requests."""

    ui: list[UiRequest] = field(default_factory=list)

    async def ui_request(self, request: UiRequest) -> None:
        self.ui.append(request)


ISSUER_KEYS = load_issuer_keys()


@dataclass
class IssuerHost:
    """The host simulator's issuer side: verifies the ARQC from field 55, then decides."""

    result: OnlineResult = OnlineResult.APPROVED
    checked: list[bool] = field(default_factory=list)
    authenticator: EmvCardAuthenticator = field(
        default_factory=lambda: EmvCardAuthenticator(
            cards={c.pan: IssuerCardKeys(c.keys, c.version) for c in ISSUER_KEYS.cards}
        )
    )

    def __call__(self, request: OnlineRequest) -> OnlineResponse:
        icc = icc_tags(request.field55())
        check = self.authenticator.check(request.pan, None, icc)
        if check is None:  # not one of the test cards (e.g. a corrupted PAN)
            self.checked.append(False)
            return OnlineResponse(OnlineResult.DECLINED, arc=b"14")
        self.checked.append(check.valid)
        if not check.valid:
            return OnlineResponse(OnlineResult.DECLINED, arc=b"05")
        if self.result is OnlineResult.UNABLE_TO_GO_ONLINE:
            return OnlineResponse(OnlineResult.UNABLE_TO_GO_ONLINE)
        code = "00" if self.result is OnlineResult.APPROVED else "05"
        assert check.respond is not None
        return OnlineResponse(
            self.result,
            arc=code.encode(),
            issuer_authentication_data=check.respond(code),
            authorisation_code=b"A1B2C3",
        )


def card(profile: str | Profile) -> VirtualCard:
    loaded = load_profile(profile) if isinstance(profile, str) else profile
    virtual = VirtualCard(loaded)
    virtual.reset(contactless=True)
    return virtual


async def tap(
    profile: str | Profile | VirtualCard,
    amount: int,
    *,
    host: IssuerHost | None = None,
    services: Services | None = None,
    config: ContactlessConfig = CONFIG,
    transaction_type: int = 0x00,
) -> tuple[Outcome, Services, IssuerHost]:
    virtual = profile if isinstance(profile, VirtualCard) else card(profile)
    host = host or IssuerHost()
    services = services or Services(online=host)

    async def transmit(capdu: bytes) -> bytes:
        return virtual.transmit(capdu)

    request = TransactionRequest(amount=amount, currency=643, transaction_type=transaction_type)
    outcome = await entry_point(config).run(transmit, services, request)
    assert virtual.last_error is None, virtual.last_error
    return outcome, services, host
