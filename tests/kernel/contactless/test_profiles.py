"""Contactless transactions against every virtual contactless card, as a case table.

Terminal: attended, online-capable (22), Russia; reader limits per combination: floor
100.00, CVM required 3000.00, transaction 100000.00; TTQ 36004000 (qVSDC, contact chip,
online PIN, signature, CDCVM). The issuer is the host simulator's issuer side: every ARQC
is verified from field 55 with the committed issuer master keys.
"""

from __future__ import annotations

import pytest

from cardcore.protocol.status import status_of
from kernel.contactless import OutcomeCvm, OutcomeKind
from kernel.outcome import Decision
from kernel.services import MessageId
from simulators.devices import list_profiles, load_profile
from tests.kernel.contactless.helpers import H, tap

A_OFF, A_ON, DECL, TERM = (
    Decision.APPROVED_OFFLINE,
    Decision.APPROVED_ONLINE,
    Decision.DECLINED,
    Decision.TERMINATED,
)
NO, SIGN, PIN, CDCVM = (
    OutcomeCvm.NO_CVM,
    OutcomeCvm.OBTAIN_SIGNATURE,
    OutcomeCvm.ONLINE_PIN,
    OutcomeCvm.CONFIRMATION_CODE_VERIFIED,
)
NA = OutcomeCvm.NOT_APPLICABLE
OK, READ, AUTH, PIN_MSG, SIGN_MSG, PHONE, ANOTHER = (
    MessageId.APPROVED,
    MessageId.CARD_READ_OK,
    MessageId.AUTHORISING_PLEASE_WAIT,
    MessageId.ENTER_PIN,
    MessageId.APPROVED_PLEASE_SIGN,
    MessageId.SEE_PHONE,
    MessageId.TRY_ANOTHER_CARD,
)

# profile, amount, decision, CVM, cdcvm, CVM Results, PAN, UI message ids
CASES = [
    # under the floor limit: offline approval (fDDA / CDA), no CVM
    ("visa-qvsdc", 1500, A_OFF, NO, False, "1F0002", "4761739001030018", [READ, OK]),
    ("cl-online-pin", 1500, A_OFF, NO, False, "1F0002", "4761739001050016", [READ, OK]),
    ("phone-wallet", 1500, A_OFF, CDCVM, True, "010002", "4761739001040017", [READ, OK]),
    ("mc-contactless", 1500, A_OFF, NO, False, "1F0302", "5413330089020011", [READ, OK]),
    ("phone-wallet-mc", 1500, A_OFF, NO, False, "3F0002", "5413330089030010", [READ, OK]),
    ("mir-contactless", 1500, A_OFF, NO, False, "1F0302", "2200000000020005009", [READ, OK]),
    ("cl-two-apps", 1500, A_OFF, NO, False, "1F0002", "4761739001060023", [READ, OK]),
    # over the floor limit, under the CVM limit: online, no CVM
    ("visa-qvsdc", 50_000, A_ON, NO, False, "1F0002", "4761739001030018", [READ, AUTH, OK]),
    ("phone-wallet", 50_000, A_ON, CDCVM, True, "010002", "4761739001040017", [READ, AUTH, OK]),
    ("mc-contactless", 50_000, A_ON, NO, False, "1F0302", "5413330089020011", [READ, AUTH, OK]),
    ("mir-contactless", 50_000, A_ON, NO, False, "1F0302", "2200000000020005009", [READ, AUTH, OK]),
    # over the CVM-required limit
    (
        "visa-qvsdc",
        500_000,
        A_ON,
        SIGN,
        False,
        "1E0300",
        "4761739001030018",
        [READ, AUTH, SIGN_MSG],
    ),
    (
        "cl-online-pin",
        500_000,
        A_ON,
        PIN,
        False,
        "420300",
        "4761739001050016",
        [READ, AUTH, PIN_MSG, AUTH, OK],
    ),
    ("phone-wallet", 500_000, A_ON, CDCVM, True, "010002", "4761739001040017", [READ, AUTH, OK]),
    (
        "mc-contactless",
        500_000,
        A_ON,
        SIGN,
        False,
        "1E0300",
        "5413330089020011",
        [READ, AUTH, SIGN_MSG],
    ),
    ("phone-wallet-mc", 500_000, A_ON, CDCVM, True, "010002", "5413330089030010", [READ, AUTH, OK]),
    (
        "mir-contactless",
        500_000,
        A_ON,
        PIN,
        False,
        "420300",
        "2200000000020005009",
        [READ, AUTH, PIN_MSG, AUTH, OK],
    ),
    # not EMV: End Application, "insert, swipe or try another card"
    ("mifare-classic", 1500, TERM, NA, False, "3F0000", None, [ANOTHER]),
    ("mifare-7byte", 1500, TERM, NA, False, "3F0000", None, [ANOTHER]),
]


def test_every_contactless_profile_is_in_the_case_table() -> None:
    assert {c[0] for c in CASES} == set(list_profiles("contactless"))


@pytest.mark.parametrize(
    ("profile", "amount", "decision", "cvm", "cdcvm", "cvm_results", "pan", "messages"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
async def test_contactless_transaction(
    profile: str,
    amount: int,
    decision: Decision,
    cvm: OutcomeCvm,
    cdcvm: bool,
    cvm_results: str,
    pan: str | None,
    messages: list[MessageId],
) -> None:
    outcome, services, host = await tap(profile, amount)
    assert outcome.decision is decision, outcome.error
    assert outcome.contactless is not None
    assert outcome.contactless.cvm is cvm
    assert outcome.cdcvm is cdcvm
    assert outcome.cvm_results == H(cvm_results)
    assert outcome.pan == pan
    assert list(outcome.messages) == messages
    assert [r.message for r in services.ui] == messages
    assert outcome.signature_required is (cvm is SIGN)
    assert outcome.get(0xDF8129) == outcome.contactless.encode()  # for the journal
    if decision is A_ON:
        assert host.checked == [True]  # the issuer verified the ARQC from field 55
        assert outcome.get(0x8A) == b"00" and outcome.cryptogram_type is not None
        assert outcome.contactless.kind is OutcomeKind.APPROVED
    if decision is A_OFF:
        assert host.checked == [] and outcome.cid == 0x40 and outcome.get(0x8A) == b"Y1"
    if cvm is PIN:
        assert outcome.pin_entered == "online"
        assert outcome.online_pin_block == b"\xee" * 8
        assert services.online_requests[0].pin_block == b"\xee" * 8
        assert services.pin_requests[0].pan == pan
    else:
        assert outcome.pin_entered == "no" and not services.pin_requests
    if decision is TERM:
        assert status_of(outcome.error) == "tryanotherinterface" and not outcome.restart_required
    # the card-read UI comes before any PIN or host interaction: the card may leave
    assert services.ui[0].message in (READ, ANOTHER)


async def test_offline_approvals_are_signed_by_the_card() -> None:
    outcome, _, _ = await tap("visa-qvsdc", 1500)
    assert outcome.get(0x9F4C) is not None  # fDDA: the ICC dynamic number was recovered
    outcome, _, _ = await tap("mc-contactless", 1500)
    assert outcome.get(0x9F4C) is not None and not outcome.tvr[0] & 0x04  # CDA verified
    assert outcome.tsi[0] & 0x80  # ODA performed


async def test_the_two_app_card_goes_on_with_the_second_application() -> None:
    outcome, _, _ = await tap("cl-two-apps", 1500)
    assert outcome.aid == H("A0000000031010")
    assert load_profile("cl-two-apps").applications[0].aid == H("A0000000032010")
