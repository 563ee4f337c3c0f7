"""Application selection (Book 1 12): PSE with nested DDFs, list of AIDs with partial
selection, blocked applications, priorities, cardholder selection and confirmation,
"select next"."""

from __future__ import annotations

import dataclasses

import pytest

from cardcore.protocol.status import status_of
from kernel.apdu import Transport
from kernel.config import AidConfig
from kernel.contact import ContactKernel
from kernel.errors import CardBlocked, NoMutualApplication, TransactionCancelled
from kernel.outcome import Decision
from kernel.selection import build_candidate_list, final_selection, match_terminal_aid
from kernel.services import MessageId
from tests.kernel.cards import (
    AID,
    DictCard,
    fci,
    purchase,
    record,
    select,
    simple_card,
    t,
    terminal,
)
from tests.kernel.helpers import FixedEntropy, ScriptedServices

H = bytes.fromhex
PSE = "315041592E5359532E4444463031"
DDF = "D6430000015044460031"
VISA, MC, MAESTRO = "A0000000031010", "A0000000041010", "A0000000043060"


def two_aid_terminal(**change: object):  # type: ignore[no-untyped-def]
    config = terminal(**change)
    return dataclasses.replace(
        config,
        aids=(*config.aids, AidConfig(aid=H("A000000004"), application_version=H("0002"))),
    )


def pse_card() -> DictCard:
    entry_visa = t(0x61, t(0x4F, VISA) + t(0x50, b"VISA") + t(0x87, "02"))
    entry_ddf = t(0x61, t(0x9D, DDF))
    entry_mc = t(0x61, t(0x4F, MC) + t(0x50, b"MASTERCARD") + t(0x87, "01"))
    entry_other = t(0x61, t(0x4F, "A0000006581010") + t(0x87, "01"))  # Mir: not supported here
    return DictCard(
        {
            select(PSE): fci(PSE, t(0x88, "01")),
            "00B2010C00": record(entry_visa, entry_ddf),
            "00B2020C00": "6A83",
            select(DDF): fci(DDF, t(0x88, "02")),
            "00B2011400": record(entry_mc, entry_other),
            "00B2021400": "6A83",
        }
    )


async def test_pse_with_nested_ddf_and_priorities() -> None:
    card = pse_card()
    config = two_aid_terminal()
    candidates = await build_candidate_list(Transport(card.transmit), config)
    assert [c.aid.hex().upper() for c in candidates] == [VISA, MC]
    assert [c.priority for c in candidates] == [2, 1]
    assert candidates[0].display_name == "VISA"
    services = ScriptedServices(choose=0)
    card.answers[select(MC)] = fci(MC, t(0x50, b"MASTERCARD"), t(0x9F38, "9F3704"))
    chosen = await final_selection(Transport(card.transmit), config, services, candidates)
    # Offered in priority order: Mastercard (1) before Visa (2).
    assert [c.aid.hex().upper() for c in services.offered[0]] == [MC, VISA]
    assert chosen.candidate.aid == H(MC)
    assert chosen.pdol == H("9F3704")


async def test_pse_unusable_falls_back_to_the_aid_list() -> None:
    card = DictCard(
        {
            select(PSE): fci(PSE),  # no SFI
            select("A0000000031010"): fci(VISA),
            select("A0000000031010", True): "6A82",
            select("A000000004"): fci(MC, t(0x87, "81")),
            select("A000000004", True): [fci("A0000000042203", t(0x87, "02")), "6A82"],
        }
    )
    candidates = await build_candidate_list(Transport(card.transmit), two_aid_terminal())
    assert [c.aid.hex().upper() for c in candidates] == [VISA, MC, "A0000000042203"]
    assert candidates[1].confirmation_required


@pytest.mark.parametrize("pse_answer", ["6A82", "6283", "6F00"])
async def test_pse_failures_use_the_aid_list(pse_answer: str) -> None:
    card = DictCard({select(PSE): pse_answer, select(VISA): fci(VISA)})
    candidates = await build_candidate_list(Transport(card.transmit), terminal())
    assert [c.aid.hex().upper() for c in candidates] == [VISA]


async def test_pse_6a81_means_card_blocked() -> None:
    card = DictCard({select(PSE): "6A81"})
    with pytest.raises(CardBlocked):
        await build_candidate_list(Transport(card.transmit), terminal())
    outcome = await ContactKernel(terminal(), _keys(), entropy=FixedEntropy()).run(
        card.transmit, ScriptedServices(), purchase()
    )
    assert outcome.decision is Decision.TERMINATED
    assert status_of(outcome.error) == "tryanotherinterface"


async def test_blocked_application_is_not_a_candidate() -> None:
    card = DictCard(
        {
            select(PSE): "6A82",
            select(VISA): fci(VISA)[:-4] + "6283",
            select(VISA, True): "6A82",
        }
    )
    assert await build_candidate_list(Transport(card.transmit), terminal()) == []


async def test_exact_match_only_when_the_asi_says_so() -> None:
    config = terminal(aid_aid=H("A000000003"), aid_partial_selection=False)
    card = DictCard({select(PSE): "6A82", select("A000000003"): fci(VISA)})
    assert await build_candidate_list(Transport(card.transmit), config) == []
    assert match_terminal_aid(H(VISA), config.aids) is None
    assert match_terminal_aid(H("A000000003"), config.aids) is not None


async def test_single_application_needing_confirmation() -> None:
    card = DictCard({select(PSE): "6A82", select(VISA): fci(VISA, t(0x87, "81"))})
    candidates = await build_candidate_list(Transport(card.transmit), terminal())
    refused = ScriptedServices(confirm=False)
    with pytest.raises(TransactionCancelled):
        await final_selection(Transport(card.transmit), terminal(), refused, list(candidates))
    chosen = await final_selection(
        Transport(card.transmit), terminal(), ScriptedServices(), list(candidates)
    )
    assert chosen.candidate.confirmation_required
    with pytest.raises(NoMutualApplication):
        await final_selection(
            Transport(card.transmit),
            terminal(cardholder_selection=False),
            ScriptedServices(),
            list(candidates),
        )


async def test_no_cardholder_selection_takes_the_first_without_confirmation() -> None:
    card = pse_card()
    config = two_aid_terminal(cardholder_selection=False)
    candidates = await build_candidate_list(Transport(card.transmit), config)
    card.answers[select(MC)] = fci(MC)
    chosen = await final_selection(Transport(card.transmit), config, ScriptedServices(), candidates)
    assert chosen.candidate.aid == H(MC)


async def test_cardholder_cancels_selection() -> None:
    card = pse_card()
    config = two_aid_terminal()
    candidates = await build_candidate_list(Transport(card.transmit), config)
    with pytest.raises(TransactionCancelled):
        await final_selection(
            Transport(card.transmit), config, ScriptedServices(choose=None), candidates
        )


async def test_final_select_failure_selects_next() -> None:
    card = pse_card()
    config = two_aid_terminal()
    candidates = await build_candidate_list(Transport(card.transmit), config)
    card.answers[select(MC)] = "6A82"
    card.answers[select(VISA)] = fci(VISA)
    services = ScriptedServices(choose=0)
    chosen = await final_selection(Transport(card.transmit), config, services, candidates)
    assert chosen.candidate.aid == H(VISA)
    assert services.displayed == [MessageId.TRY_AGAIN]
    assert [c.aid.hex().upper() for c in candidates] == [VISA]


async def test_gpo_conditions_not_satisfied_selects_next_application() -> None:
    card = simple_card()
    card.answers.update(
        {
            select("A000000003"): fci(VISA, t(0x87, "01")),
            select("A000000003", True): [fci("A0000000031020", t(0x87, "02")), "6A82"],
            select("A0000000031020"): fci("A0000000031020", t(0x87, "02")),
        }
    )
    # The first (priority 1) application refuses GPO; the second one gets the GPO next.
    card.answers["80A8000002830000"] = [
        "6985",
        card.answers["80A8000002830000"],  # type: ignore[list-item]
    ]
    services = ScriptedServices(choose=0)
    config = terminal(aid_aid=H("A000000003"))
    outcome = await ContactKernel(config, _keys(), entropy=FixedEntropy()).run(
        card.transmit, services, purchase()
    )
    assert outcome.error is None, outcome.error
    assert outcome.aid == H("A0000000031020")
    assert MessageId.TRY_AGAIN in services.displayed
    assert outcome.decision is Decision.APPROVED_OFFLINE


async def test_no_mutual_application() -> None:
    card = DictCard({select(PSE): "6A82", select(VISA): "6A82"})
    services = ScriptedServices()
    outcome = await ContactKernel(terminal(), _keys(), entropy=FixedEntropy()).run(
        card.transmit, services, purchase()
    )
    assert outcome.decision is Decision.TERMINATED
    assert isinstance(outcome.error, NoMutualApplication)
    assert status_of(outcome.error) == "tryanotherinterface"
    assert services.displayed == [MessageId.NOT_ACCEPTED, MessageId.REMOVE_CARD]


def _keys():  # type: ignore[no-untyped-def]
    from kernel.capk import CaKeyStore

    return CaKeyStore()


def test_candidate_helpers() -> None:
    assert AID == VISA


def test_display_name_uses_the_issuer_code_table() -> None:
    from kernel.selection import Candidate

    aid = AidConfig(aid=H(VISA))
    cyrillic = "КАРТА".encode("iso8859_5")
    assert Candidate(H(VISA), aid, b"LABEL", cyrillic, None, 5).display_name == "КАРТА"
    assert Candidate(H(VISA), aid, b"LABEL", cyrillic, None, None).display_name == "LABEL"
    assert Candidate(H(VISA), aid, b"LABEL", cyrillic, None, 15).display_name == "LABEL"
    assert Candidate(H(VISA), aid).display_name == VISA
