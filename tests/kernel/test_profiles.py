"""Full contact transactions against every virtual card profile (simulators.devices), as
a case table.

The terminal: attended, offline with online capability (22), Russia (643), capabilities
E0F8C8 (plaintext/enciphered/online PIN, signature, no CVM; SDA, DDA, CDA), Visa-like TACs
(denial 0010000000, online DC4004F800, default DC4000A800), floor limit 100.00. The issuer
host is the issuer-side crypto of base.crypto.emv with the test issuer master keys: it
verifies the ARQC and answers the ARPC, so issuer authentication is real. Date 2025-06-15.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from cardcore.protocol.status import status_of
from kernel.capk import CaKeyStore
from kernel.config import AidConfig, TerminalConfig, TransactionRequest
from kernel.contact import ContactKernel
from kernel.outcome import Decision, Outcome
from kernel.services import MessageId, OnlineRequest, OnlineResponse, OnlineResult
from simulators.devices import VirtualCard, list_profiles, load_profile
from simulators.devices.pki import load_issuer_keys
from tests.kernel.helpers import FixedEntropy, ScriptedServices

H = bytes.fromhex
CA_KEYS = CaKeyStore.from_json(
    (
        Path(__file__).resolve().parents[2] / "simulators" / "devices" / "pki" / "ca-keys.json"
    ).read_text()
)
ISSUERS = load_issuer_keys()
TAC = {
    "tac_denial": H("0010000000"),
    "tac_online": H("DC4004F800"),
    "tac_default": H("DC4000A800"),
}
CONFIG = TerminalConfig(
    aids=tuple(
        AidConfig(aid=H(aid), application_version=H(version), floor_limit=10_000, **TAC)
        for aid, version in (
            ("A0000000031010", "0096"),
            ("A0000000032010", "0096"),
            ("A0000000041010", "0002"),
            ("A0000006581010", "0001"),
        )
    ),
    country_code=643,
    capabilities=H("E0F8C8"),
    terminal_type=0x22,
)
DAY = dt.datetime(2025, 6, 15, 12, 0)


@dataclass
class IssuerHost:
    """Approves when the ARQC verifies, answering the ARPC (tag 91)."""

    result: OnlineResult = OnlineResult.APPROVED
    verified: int = 0

    def __call__(self, request: OnlineRequest) -> OnlineResponse:
        if self.result is not OnlineResult.APPROVED:
            return OnlineResponse(
                self.result, arc=b"05" if self.result is OnlineResult.DECLINED else None
            )
        card = ISSUERS.card(request.pan)
        assert card is not None, "unknown test card"
        crypto = card.crypto()
        assert crypto.verify_arqc(request.pan, card.psn, request.data), "ARQC does not verify"
        self.verified += 1
        arpc = crypto.make_arpc(request.pan, card.psn, request.data, arc=b"00")
        return OnlineResponse(
            OnlineResult.APPROVED,
            arc=b"00",
            issuer_authentication_data=arpc,
            authorisation_code=b"A1B2C3",
        )


async def transact(
    profile: str,
    amount: int,
    *,
    host: IssuerHost | None = None,
    pins: list[str] | None = None,
    t0: bool = True,
) -> tuple[Outcome, ScriptedServices, IssuerHost]:
    card = VirtualCard(load_profile(profile), t0=t0)
    card.reset()

    async def transmit(capdu: bytes) -> bytes:
        return card.transmit(capdu)

    host = host or IssuerHost()
    services = ScriptedServices(online=host, pins=pins or ["1234"])
    kernel = ContactKernel(CONFIG, CA_KEYS, entropy=FixedEntropy(moment=DAY))
    outcome = await kernel.run(transmit, services, TransactionRequest(amount=amount, currency=643))
    assert card.last_error is None, card.last_error
    return outcome, services, host


A_OFF, A_ON, DECL, TERM = (
    Decision.APPROVED_OFFLINE,
    Decision.APPROVED_ONLINE,
    Decision.DECLINED,
    Decision.TERMINATED,
)

# profile, amount, decision, TVR, TSI, CID, CVM results
CASES = [
    # 15.00: below the floor limit, the terminal asks for a TC
    ("default", 1500, A_OFF, "0000000000", "E800", 0x40, "410302"),
    ("cda", 1500, A_OFF, "0000000000", "E800", 0x40, "410302"),
    ("dda", 1500, A_OFF, "0000000000", "E800", 0x40, "440302"),
    ("sda", 1500, A_OFF, "0200000000", "E800", 0x40, "410302"),
    ("enciphered-pin", 1500, A_OFF, "0000000000", "E800", 0x40, "440302"),
    ("signature", 1500, A_OFF, "0000000000", "E800", 0x40, "1E0300"),
    ("no-pse", 1500, A_OFF, "0000000000", "E800", 0x40, "410302"),
    ("two-apps", 1500, A_OFF, "0000000000", "E800", 0x40, "410302"),
    ("nested-ddf", 1500, A_OFF, "0000000000", "E800", 0x40, "410302"),
    ("always-online", 1500, A_ON, "0000000000", "E800", 0x40, "410302"),
    ("card-decline", 1500, DECL, "0000000000", "E800", 0x00, "410302"),
    ("expired", 1500, A_ON, "0040000000", "F800", 0x40, "410302"),
    ("expired-cert", 1500, A_ON, "0800000000", "F800", 0x40, "410302"),
    ("corrupt-icc-cert", 1500, A_ON, "0800000000", "F800", 0x40, "410302"),
    ("pin-blocked", 1500, A_ON, "0000200000", "F800", 0x40, "1E0300"),
    ("online-pin", 1500, A_ON, "0000040000", "E800", 0x40, "420300"),
    ("mir", 1500, A_ON, "0000040000", "F800", 0x40, "420300"),
    ("blocked", 1500, TERM, "0000000000", "0000", None, "3F0000"),
    # 500.00: above the floor limit, the terminal asks for an ARQC
    ("default", 50_000, A_ON, "0000008000", "E800", 0x40, "410302"),
    ("cda", 50_000, A_ON, "0000008000", "E800", 0x40, "410302"),
    ("dda", 50_000, A_ON, "0000008000", "F800", 0x40, "440302"),
    ("sda", 50_000, A_ON, "0200008000", "F800", 0x40, "410302"),
    ("enciphered-pin", 50_000, A_ON, "0000008000", "E800", 0x40, "440302"),
    ("signature", 50_000, A_ON, "0000008000", "F800", 0x40, "1E0300"),
    ("two-apps", 50_000, A_ON, "0000008000", "F800", 0x40, "410302"),
    ("card-decline", 50_000, DECL, "0000008000", "E800", 0x00, "410302"),
    ("mir", 50_000, A_ON, "0000048000", "F800", 0x40, "420300"),
]


def test_every_profile_is_in_the_case_table() -> None:
    assert {c[0] for c in CASES} == set(list_profiles("contact"))


@pytest.mark.parametrize(
    ("profile", "amount", "decision", "tvr", "tsi", "cid", "cvm"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
async def test_profile_transaction(
    profile: str,
    amount: int,
    decision: Decision,
    tvr: str,
    tsi: str,
    cid: int | None,
    cvm: str,
) -> None:
    outcome, services, host = await transact(profile, amount)
    assert outcome.decision is decision, outcome.error
    assert outcome.tvr == H(tvr)
    assert outcome.tsi == H(tsi)
    assert outcome.cid == cid
    assert outcome.cvm_results == H(cvm)
    if decision is A_ON:
        assert host.verified == 1
        assert outcome.get(0x8A) == b"00" and outcome.get(0x89) == b"A1B2C3"
    if decision is TERM:
        assert status_of(outcome.error) == "tryanotherinterface"
        assert MessageId.NOT_ACCEPTED in services.displayed


async def test_cda_verified_on_both_generate_ac() -> None:
    outcome, _, _ = await transact("default", 50_000, t0=False)
    assert outcome.decision is A_ON
    assert outcome.get(0x9F4C) is not None  # IDN from the second CDA signature
    assert not outcome.tvr[0] & 0x04


async def test_two_apps_picks_priority_one() -> None:
    outcome, services, _ = await transact("two-apps", 1500)
    assert [c.priority for c in services.offered[0]] == [1, 2]
    assert outcome.aid == H("A0000000032010")


async def test_nested_ddf_application_is_found_and_preferred() -> None:
    outcome, services, _ = await transact("nested-ddf", 1500)
    offered = [c.aid.hex().upper() for c in services.offered[0]]
    assert offered == ["A0000000032010", "A0000000031010"]  # DDF entry has priority 1
    assert outcome.aid == H("A0000000032010")


async def test_wrong_pin_then_right() -> None:
    outcome, services, _ = await transact("default", 1500, pins=["9999", "1234"])
    assert outcome.cvm_results == H("410302")
    assert [r.tries_remaining for r in services.pin_requests] == [3, 2]
    assert MessageId.INCORRECT_PIN in services.displayed


async def test_host_decline() -> None:
    outcome, _, _ = await transact("default", 50_000, host=IssuerHost(OnlineResult.DECLINED))
    assert (outcome.decision, outcome.decline_reason, outcome.cid) == (DECL, "onlinedeclined", 0x00)


@pytest.mark.parametrize(
    ("profile", "amount", "decision", "arc", "cid"),
    [
        ("default", 50_000, DECL, b"Z3", 0x00),  # floor limit bit is in TAC-Default
        ("always-online", 1500, DECL, b"Y3", 0x00),  # terminal would approve, card declines
        ("dda", 50_000, DECL, b"Z3", 0x00),
    ],
)
async def test_unable_to_go_online(
    profile: str, amount: int, decision: Decision, arc: bytes, cid: int
) -> None:
    host = IssuerHost(OnlineResult.UNABLE_TO_GO_ONLINE)
    outcome, _, _ = await transact(profile, amount, host=host)
    assert outcome.decision is decision
    assert outcome.decline_reason == "unabletoonline" and outcome.unable_to_go_online
    assert outcome.get(0x8A) == arc and outcome.cid == cid
