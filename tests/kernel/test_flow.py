"""Contact flow scenarios (Book 3 10) against a scripted card: card action analysis, online
processing, issuer authentication and scripts, PIN handling, velocity checking, data
exchange, terminations, cancellation and garbage-card robustness."""

from __future__ import annotations

import hashlib

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base import tlv
from base.errors import CardcoreError
from cardcore.protocol.status import status_of
from kernel.capk import CaKeyStore
from kernel.config import TransactionType
from kernel.contact import ContactKernel
from kernel.errors import CardDataError, CardNotDetected, CardStatusError
from kernel.outcome import Decision, Outcome
from kernel.services import MessageId, OnlineRequest, OnlineResponse, OnlineResult, PinKind
from kernel.tvr import TvrBit
from tests.kernel.cards import (
    CDOL2,
    DictCard,
    genac_format1,
    purchase,
    simple_card,
    simple_records,
    t,
    terminal,
)
from tests.kernel.helpers import FixedEntropy, ScriptedServices

H = bytes.fromhex


class CommunicationError(CardcoreError):
    """A reader failure the kernel does not know."""


NO_CVM = "00000000000000001F00"
SIGNATURE = "00000000000000001E031F00"
PLAIN_PIN = "000000000000000041031F00"


async def run(
    card: DictCard,
    services: ScriptedServices | None = None,
    config: object = None,
    request: object = None,
    entropy: FixedEntropy | None = None,
) -> Outcome:
    kernel = ContactKernel(
        config or terminal(),  # type: ignore[arg-type]
        CaKeyStore(),
        entropy=entropy or FixedEntropy(),
    )
    return await kernel.run(card.transmit, services or ScriptedServices(), request or purchase())  # type: ignore[arg-type]


def has(outcome: Outcome, bit: TvrBit) -> bool:
    return bool(outcome.tvr[bit.index] & bit.mask)


# --- card action analysis (Book 3 10.8) ---------------------------------------------------


async def test_offline_approval() -> None:
    card = simple_card(simple_records(SIGNATURE))
    services = ScriptedServices()
    outcome = await run(card, services)
    assert outcome.decision is Decision.APPROVED_OFFLINE
    assert outcome.get(0x8A) == b"Y1"
    assert outcome.cid == 0x40
    assert outcome.tvr == H("8000000000")  # no ODA method in common
    assert outcome.tsi == H("6800")  # CVM, card risk management, TRM
    assert outcome.cvm_results == H("1E0300") and outcome.signature_required
    assert card.sent(0xAE)[0][2] == 0x40
    assert services.displayed[-2:] == [MessageId.APPROVED, MessageId.REMOVE_CARD]
    assert outcome.application_label == "VISA CREDIT"
    assert outcome.pan == "4761739001010119" and outcome.expiry == "271231"
    assert outcome.pan_sequence_number == 1
    assert "4761739001010119" not in repr(outcome)


async def test_card_declines_offline() -> None:
    card = simple_card(simple_records(NO_CVM), genac=genac_format1(0x00))
    services = ScriptedServices()
    outcome = await run(card, services)
    assert (outcome.decision, outcome.decline_reason) == (Decision.DECLINED, "offlinedeclined")
    assert outcome.get(0x8A) == b"Z1"
    assert MessageId.DECLINED in services.displayed
    assert not services.online_requests


async def test_card_answering_above_the_request_terminates() -> None:
    card = simple_card(simple_records(NO_CVM), genac=genac_format1(0x40))
    outcome = await run(card, request=purchase(force_online=True))
    assert outcome.decision is Decision.TERMINATED
    assert isinstance(outcome.error, CardDataError)
    assert outcome.decline_reason == "cardprocessingerror"


async def test_genac_error_terminates() -> None:
    card = simple_card(simple_records(NO_CVM), genac="6985")
    services = ScriptedServices()
    outcome = await run(card, services)
    assert isinstance(outcome.error, CardStatusError) and status_of(outcome.error) == "emverror"
    assert services.displayed[-2:] == [MessageId.CARD_ERROR, MessageId.REMOVE_CARD]


# --- online processing (Book 3 10.9-10.11) ---------------------------------------------------


def online_card(**more: object) -> DictCard:
    return simple_card(simple_records(NO_CVM), aip="1C00", **more)  # type: ignore[arg-type]


FORCED = purchase(force_online=True)


async def test_online_approval_with_external_authenticate() -> None:
    card = online_card()
    services = ScriptedServices(
        online=OnlineResponse(
            OnlineResult.APPROVED,
            arc=b"00",
            issuer_authentication_data=H("11223344556677883030"),
            authorisation_code=b"AB1234",
        )
    )
    outcome = await run(card, services, request=FORCED)
    assert outcome.decision is Decision.APPROVED_ONLINE
    assert has(outcome, TvrBit.MERCHANT_FORCED_ONLINE)
    assert outcome.tsi == H("7800")  # CVM, CRM, issuer authentication, TRM
    assert card.sent(0x82) == [H("008200000A11223344556677883030")]
    assert [c[2] for c in card.sent(0xAE)] == [0x80, 0x40]
    assert card.sent(0xAE)[1][5:7] == b"00"
    assert outcome.get(0x89) == b"AB1234"
    assert services.displayed[-4:] == [
        MessageId.PLEASE_WAIT,
        MessageId.APPROVED,
        MessageId.REMOVE_CARD,
    ]


async def test_issuer_authentication_failure_sets_tvr() -> None:
    card = online_card(**{"0082": "6300"})
    services = ScriptedServices(
        online=OnlineResponse(
            OnlineResult.APPROVED, arc=b"00", issuer_authentication_data=H("11" * 10)
        )
    )
    outcome = await run(card, services, request=FORCED)
    assert has(outcome, TvrBit.ISSUER_AUTHENTICATION_FAILED)
    # The second GENERATE AC carries the updated TVR.
    assert card.sent(0xAE)[1][5 + 2 + 6 + 6 + 2 + 4] & 0x40


async def test_arpc_in_cdol2_replaces_external_authenticate() -> None:
    records = simple_records(NO_CVM).replace(t(0x8D, CDOL2), t(0x8D, "910A" + CDOL2))
    card = simple_card(records, aip="1C00")
    arpc = H("AABBCCDDEEFF00113030")
    services = ScriptedServices(
        online=OnlineResponse(OnlineResult.APPROVED, arc=b"00", issuer_authentication_data=arpc)
    )
    outcome = await run(card, services, request=FORCED)
    assert outcome.decision is Decision.APPROVED_ONLINE
    assert card.sent(0x82) == []
    assert card.sent(0xAE)[1][5:15] == arpc
    assert outcome.tsi[0] & 0x10


async def test_issuer_authentication_skipped_when_not_supported() -> None:
    card = simple_card(simple_records(NO_CVM), aip="1800")
    services = ScriptedServices(
        online=OnlineResponse(
            OnlineResult.APPROVED, arc=b"00", issuer_authentication_data=H("11" * 10)
        )
    )
    outcome = await run(card, services, request=FORCED)
    assert card.sent(0x82) == [] and not outcome.tsi[0] & 0x10


async def test_online_decline() -> None:
    card = online_card()
    services = ScriptedServices(online=OnlineResponse(OnlineResult.DECLINED, arc=b"51"))
    outcome = await run(card, services, request=FORCED)
    assert (outcome.decision, outcome.decline_reason) == (Decision.DECLINED, "onlinedeclined")
    assert card.sent(0xAE)[1][2] == 0x00
    assert card.sent(0xAE)[1][5:7] == b"51"
    assert not outcome.reversal_required


async def test_card_declines_after_host_approval_needs_reversal() -> None:
    card = online_card(**{"80AE": [genac_format1(0x80), genac_format1(0x00)]})
    outcome = await run(card, ScriptedServices(), request=FORCED)
    assert outcome.decision is Decision.DECLINED
    assert outcome.reversal_required
    assert outcome.online_response is not None


async def test_second_genac_failure_after_approval_needs_reversal() -> None:
    card = online_card(**{"80AE": [genac_format1(0x80), "6F00"]})
    outcome = await run(card, ScriptedServices(), request=FORCED)
    assert outcome.decision is Decision.TERMINATED and outcome.reversal_required


async def test_host_link_error_means_unable_to_go_online() -> None:
    def broken(request: OnlineRequest) -> OnlineResponse:
        raise CommunicationError("host down")

    card = online_card()
    outcome = await run(card, ScriptedServices(online=broken), request=FORCED)
    # TAC/IAC-Default are clean: approve offline with 'Y3'.
    assert outcome.decision is Decision.APPROVED_OFFLINE
    assert outcome.unable_to_go_online
    assert outcome.get(0x8A) == b"Y3"
    assert card.sent(0xAE)[1][2] == 0x40


async def test_refund_asks_for_aac_and_goes_online() -> None:
    card = online_card()
    services = ScriptedServices()
    outcome = await run(card, services, request=purchase(transaction_type=TransactionType.REFUND))
    assert outcome.decision is Decision.ONLINE_REQUEST_HANDLED
    assert card.sent(0xAE)[0][2] == 0x00 and len(card.sent(0xAE)) == 1
    assert services.online_requests[0].cid == 0x00
    # The host's answer is the refund's outcome, shown as a sale's is.
    assert services.displayed[-2:] == [MessageId.APPROVED, MessageId.REMOVE_CARD]


async def test_refund_declined_by_the_host_shows_declined() -> None:
    services = ScriptedServices(online=OnlineResponse(OnlineResult.DECLINED, arc=b"05"))
    outcome = await run(
        online_card(), services, request=purchase(transaction_type=TransactionType.REFUND)
    )
    assert outcome.decision is Decision.ONLINE_REQUEST_HANDLED
    assert outcome.decline_reason == "onlinedeclined"
    assert services.displayed[-2:] == [MessageId.DECLINED, MessageId.REMOVE_CARD]


# --- issuer scripts (Book 3 10.10) ----------------------------------------------------------


async def test_issuer_scripts_and_results() -> None:
    script1 = t(0x71, t(0x9F18, "00000001") + t(0x86, "8424000002") + t(0x86, "8418000000"))
    script2 = t(0x72, t(0x9F18, "00000002") + t(0x86, "04DA9F580A0102030405060708090A"))
    script3 = t(0x72, t(0x86, "841E000000"))
    card = online_card(
        **{"84240000": "9000", "84180000": "6985", "04DA9F58": "6283", "841E0000": "6A81"}
    )
    services = ScriptedServices(
        online=OnlineResponse(OnlineResult.APPROVED, arc=b"00", scripts=script1 + script2 + script3)
    )
    outcome = await run(card, services, request=FORCED)
    assert outcome.decision is Decision.APPROVED_ONLINE
    assert outcome.issuer_script_results == H("120000000120000000021100000000")
    assert outcome.get(0x9F5B) == outcome.issuer_script_results
    assert has(outcome, TvrBit.SCRIPT_FAILED_BEFORE_FINAL_GENAC)
    assert has(outcome, TvrBit.SCRIPT_FAILED_AFTER_FINAL_GENAC)
    assert outcome.tsi[0] & 0x04
    order = [c[1] for c in card.log]
    first_script, second_genac, last_script = (
        order.index(0x24),
        len(order) - 1 - order[::-1].index(0xAE),
        order.index(0xDA),
    )
    assert first_script < second_genac < last_script


async def test_malformed_and_oversized_scripts_fail_without_being_sent() -> None:
    bad = t(0x71, t(0x9F18, "00000009") + t(0x86, "84")) + t(0x72, H("9F1804"))
    card = online_card()
    services = ScriptedServices(
        online=OnlineResponse(OnlineResult.APPROVED, arc=b"00", scripts=bad)
    )
    outcome = await run(card, services, request=FORCED)
    assert outcome.issuer_script_results == H("11000000091000000000")
    big = t(0x71, t(0x86, "8424000000") * 300)
    card = online_card()
    services = ScriptedServices(
        online=OnlineResponse(OnlineResult.APPROVED, arc=b"00", scripts=big)
    )
    outcome = await run(card, services, request=FORCED)
    assert outcome.issuer_script_results == H("1000000000")
    assert card.sent(0x24) == []


# --- PIN handling (Book 3 10.5.1, 6.5.12) -----------------------------------------------------


async def test_offline_pin_retry_then_success() -> None:
    card = simple_card(
        simple_records(PLAIN_PIN), **{"0020": ["63C2", "9000"], "80CA9F1700": "9F1701039000"}
    )
    services = ScriptedServices(pins=["1111", "1234"])
    outcome = await run(card, services)
    assert outcome.cvm_results == H("410302") and outcome.pin_entered == "offline"
    assert [r.tries_remaining for r in services.pin_requests] == [3, 2]
    assert [r.kind for r in services.pin_requests] == [PinKind.OFFLINE_PLAINTEXT] * 2
    assert services.displayed.count(MessageId.INCORRECT_PIN) == 1
    assert MessageId.PIN_OK in services.displayed
    assert [c[5:] for c in card.sent(0x20)] == [H("241111FFFFFFFFFF"), H("241234FFFFFFFFFF")]


@pytest.mark.parametrize(("answers", "counter"), [(["63C0"], "03"), (["6983"], "03"), ([], "00")])
async def test_offline_pin_try_limit(answers: list[str], counter: str) -> None:
    card = simple_card(
        simple_records(PLAIN_PIN),
        **{"0020": answers or ["9000"], "80CA9F1700": f"9F1701{counter}9000"},
    )
    services = ScriptedServices()
    outcome = await run(card, services)
    assert has(outcome, TvrBit.PIN_TRY_LIMIT_EXCEEDED)
    assert outcome.cvm_results == H("1F0002")  # the next rule applied
    assert MessageId.PIN_TRY_LIMIT_EXCEEDED in services.displayed
    assert len(card.sent(0x20)) == len(answers)


@pytest.mark.parametrize(
    ("script", "bit"), [("bypass", TvrBit.PIN_NOT_ENTERED), ("pinpad", TvrBit.PIN_PAD_NOT_WORKING)]
)
async def test_offline_pin_bypass_and_pin_pad_failure(script: str, bit: TvrBit) -> None:
    card = simple_card(simple_records(PLAIN_PIN))
    outcome = await run(card, ScriptedServices(pins=[script]))
    assert has(outcome, bit) and card.sent(0x20) == []


async def test_pin_pad_returning_garbage_is_a_pin_pad_failure() -> None:
    card = simple_card(simple_records(PLAIN_PIN))
    outcome = await run(card, ScriptedServices(pins=[lambda r: b"\x00" * 8]))
    assert has(outcome, TvrBit.PIN_PAD_NOT_WORKING) and card.sent(0x20) == []


async def test_offline_pin_on_the_readers_keypad() -> None:
    """The reader sends VERIFY itself (PC/SC part 10): the kernel sees only
    status words, sends no VERIFY of its own and asks no PIN pad."""
    card = simple_card(simple_records(PLAIN_PIN), **{"80CA9F1700": "9F1701039000"})
    services = ScriptedServices(pins=["pinpad"], reader_keypad=[0x63C2, 0x9000])
    outcome = await run(card, services)
    assert outcome.cvm_results == H("410302") and outcome.pin_entered == "offline"
    assert card.sent(0x20) == []
    assert [r.kind for r in services.pin_requests] == [PinKind.OFFLINE_PLAINTEXT] * 2
    assert [r.tries_remaining for r in services.pin_requests] == [3, 2]
    assert services.displayed.count(MessageId.INCORRECT_PIN) == 1
    assert MessageId.PIN_OK in services.displayed


@pytest.mark.parametrize(
    ("script", "bit"),
    [
        ("bypass", TvrBit.PIN_NOT_ENTERED),
        ("pinpad", TvrBit.PIN_PAD_NOT_WORKING),
        (0x63C0, TvrBit.PIN_TRY_LIMIT_EXCEEDED),
        (0x6983, TvrBit.PIN_TRY_LIMIT_EXCEEDED),
    ],
)
async def test_readers_keypad_outcomes(script: int | str, bit: TvrBit) -> None:
    card = simple_card(simple_records(PLAIN_PIN))
    outcome = await run(card, ScriptedServices(reader_keypad=[script]))
    assert has(outcome, bit) and card.sent(0x20) == []


async def test_enciphered_pin_never_goes_to_the_readers_keypad(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Part 10 gives no enciphered block: enciphered offline PIN stays with
    the PIN pad even when the reader has a keypad."""
    from base.crypto.rsa import RsaPublicKey
    from kernel.contact import pin

    key = RsaPublicKey(b"\xff" * 64, b"\x03")
    monkeypatch.setattr(pin, "pin_encipherment_key", lambda ctx: key)
    card = simple_card(
        simple_records("000000000000000044031F00"), **{"0084": "11223344556677889000"}
    )
    services = ScriptedServices(reader_keypad=["pinpad"])
    outcome = await run(card, services)
    assert [r.kind for r in services.pin_requests] == [PinKind.OFFLINE_ENCIPHERED]
    assert [c[3] for c in card.sent(0x20)] == [0x88]
    assert outcome.pin_entered == "offline"


async def test_verify_error_terminates() -> None:
    card = simple_card(simple_records(PLAIN_PIN), **{"0020": "6D00"})
    outcome = await run(card)
    assert outcome.decision is Decision.TERMINATED


async def test_enciphered_pin_without_keys_is_unavailable() -> None:
    card = simple_card(simple_records("000000000000000044031F00"))
    outcome = await run(card)
    assert outcome.cvm_results == H("1F0002") and card.sent(0x20) == []


async def test_online_pin_block_passes_through_untouched() -> None:
    card = online_card()
    records = simple_records("000000000000000002031F00")
    card = simple_card(records, aip="1C00")
    services = ScriptedServices(online_pin_block=H("0102030405060708"))
    outcome = await run(card, services, request=FORCED)
    assert services.online_requests[0].pin_block == H("0102030405060708")
    assert services.pin_requests[0].pan == "4761739001010119"
    assert outcome.cvm_results == H("020300") and outcome.pin_entered == "online"
    assert has(outcome, TvrBit.ONLINE_PIN_ENTERED)
    assert outcome.online_pin_block == H("0102030405060708")
    assert "0102030405060708" not in repr(outcome) + repr(services.online_requests[0])


# --- terminal risk management, restrictions, TDOL, data exchange -------------------------------


async def test_velocity_checking_reads_the_counters() -> None:
    records = simple_records(NO_CVM, t(0x9F14, "02"), t(0x9F23, "05"))
    card = simple_card(records, **{"80CA9F3600": "9F3602000A9000", "80CA9F1300": "9F130200009000"})
    outcome = await run(card)
    assert has(outcome, TvrBit.NEW_CARD)
    assert has(outcome, TvrBit.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)
    assert has(outcome, TvrBit.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED)


async def test_floor_limit_with_split_sales_and_random_selection() -> None:
    card = simple_card(simple_records(NO_CVM))
    outcome = await run(card, ScriptedServices(split_amount=99_000), request=purchase(2000))
    assert has(outcome, TvrBit.FLOOR_LIMIT_EXCEEDED)
    config = terminal(aid_random_selection_target_percent=50, aid_random_selection_max_percent=50)
    outcome = await run(
        simple_card(simple_records(NO_CVM)), config=config, entropy=FixedEntropy(percent=10)
    )
    assert has(outcome, TvrBit.RANDOMLY_SELECTED_ONLINE)


async def test_trm_skipped_when_aip_does_not_ask() -> None:
    outcome = await run(simple_card(simple_records(NO_CVM), aip="1000"), request=purchase(999_999))
    assert not has(outcome, TvrBit.FLOOR_LIMIT_EXCEEDED) and not outcome.tsi[0] & 0x08
    outcome = await run(
        simple_card(simple_records(NO_CVM), aip="1000"),
        config=terminal(trm_regardless_of_aip=True),
        request=purchase(999_999),
    )
    assert has(outcome, TvrBit.FLOOR_LIMIT_EXCEEDED)


async def test_expired_card_and_version_mismatch() -> None:
    records = simple_records(NO_CVM).replace(t(0x5F24, "271231"), t(0x5F24, "240531")) + t(
        0x9F08, "0002"
    )
    outcome = await run(simple_card(records))
    assert has(outcome, TvrBit.EXPIRED_APPLICATION)
    assert has(outcome, TvrBit.DIFFERENT_APPLICATION_VERSIONS)


async def test_tc_hash_with_default_tdol() -> None:
    cdol1 = "9F02069F03069F1A0295055F2A029A039C019F3704" + "9814"
    records = simple_records(NO_CVM).replace(
        t(0x8C, "9F02069F03069F1A0295055F2A029A039C019F3704"), t(0x8C, cdol1)
    )
    config = terminal(aid_default_tdol=H("9F0206"))
    card = simple_card(records)
    outcome = await run(card, config=config)
    assert has(outcome, TvrBit.DEFAULT_TDOL_USED)
    sent = card.sent(0xAE)[0]
    assert sent[5 + 29 : 5 + 49] == hashlib.sha1(H("000000001500")).digest()


async def test_data_exchange_updates_terminal_data_only() -> None:
    card = simple_card(simple_records(NO_CVM))
    services = ScriptedServices(exchange={0x9F02: H("000000002000"), 0x5A: H("4111111111111111")})
    outcome = await run(card, services, config=terminal(data_exchange_tags=(0x5A, 0x9F02)))
    ((point, offered),) = services.exchanged
    assert point == "read-application-data" and set(offered) == {0x5A, 0x9F02}
    assert outcome.get(0x9F02) == H("000000002000")
    assert outcome.pan == "4761739001010119"
    assert card.sent(0xAE)[0][5:11] == H("000000002000")


# --- terminations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "records",
    [
        simple_records(NO_CVM).replace(t(0x5A, "4761739001010119"), b""),  # mandatory data
        simple_records(NO_CVM) + t(0x5F24, "271231"),  # duplicate
        simple_records(NO_CVM).replace(t(0x5F24, "271231"), t(0x5F24, "2712")),  # bad length
        simple_records(NO_CVM).replace(
            t(0x8C, "9F02069F03069F1A0295055F2A029A039C019F3704"), t(0x8C, "9F02")
        ),
    ],
    ids=["missing-pan", "duplicate-expiry", "short-expiry", "bad-cdol"],
)
async def test_bad_card_data_terminates(records: bytes) -> None:
    outcome = await run(simple_card(records))
    assert outcome.decision is Decision.TERMINATED
    assert isinstance(outcome.error, CardDataError)


@pytest.mark.parametrize(
    ("gpo", "read"),
    [
        ("800A1800080101000801019000", "x"),  # AFL not a multiple of 4
        ("80061800000101009000", "x"),  # SFI 0
        ("80061800080201009000", "x"),  # last < first
        ("80061800080101029000", "x"),  # ODA count too big
        ("77038201189000", "x"),  # format 2 without AFL
        ("6A81", "x"),
        ("80061800080101009000", "6A83"),  # READ RECORD error
        ("80061800080101009000", "71039F01009000"),  # record not '70'
    ],
)
async def test_gpo_and_record_errors_terminate(gpo: str, read: str) -> None:
    more = {"80A8000002830000": gpo}
    if read != "x":
        more["00B2010C00"] = read
    outcome = await run(simple_card(simple_records(NO_CVM), **more))
    assert outcome.decision is Decision.TERMINATED


async def test_card_removed_mid_transaction() -> None:
    card = simple_card(simple_records(NO_CVM))

    async def transmit(capdu: bytes) -> bytes:
        if capdu[1] == 0xAE:
            raise CardNotDetected("card removed")
        return await card.transmit(capdu)

    services = ScriptedServices()
    outcome = await ContactKernel(terminal(), CaKeyStore(), entropy=FixedEntropy()).run(
        transmit, services, purchase()
    )
    assert outcome.decision is Decision.TERMINATED and status_of(outcome.error) == "notdetected"
    assert MessageId.REMOVE_CARD not in services.displayed


async def test_cancellation_is_not_swallowed() -> None:
    class Waiting(ScriptedServices):
        async def split_sales_amount(self, pan: str, currency: int) -> int:
            await trio.sleep_forever()
            raise AssertionError

    card = simple_card(simple_records(NO_CVM))
    kernel = ContactKernel(terminal(), CaKeyStore(), entropy=FixedEntropy())
    with trio.move_on_after(5) as scope:
        await kernel.run(card.transmit, Waiting(), purchase())
    assert scope.cancelled_caught
    assert card.sent(0xAE) == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30), st.integers(0, 12))
def test_garbage_card_always_ends_in_an_outcome(answers: list[bytes], keep: int) -> None:
    """A card answering nonsense (after `keep` sane answers) never crashes the kernel."""
    sane = simple_card(simple_records(NO_CVM))

    async def transmit(capdu: bytes) -> bytes:
        nonlocal keep
        if keep > 0:
            keep -= 1
            return await sane.transmit(capdu)
        raw = answers.pop(0) if len(answers) > 1 else answers[0]
        return raw + b"\x90\x00" if len(raw) % 3 else raw

    async def main() -> Outcome:
        return await ContactKernel(terminal(), CaKeyStore(), entropy=FixedEntropy()).run(
            transmit, ScriptedServices(), purchase()
        )

    outcome = trio.run(main)
    assert isinstance(outcome, Outcome)


def test_field55_has_no_sensitive_tags() -> None:
    async def main() -> Outcome:
        return await run(simple_card(simple_records(NO_CVM)))

    outcome = trio.run(main)
    tags = [o.tag for o in tlv.decode(outcome.field55())]
    assert 0x9F26 in tags and 0x95 in tags and 0x5A not in tags and 0x57 not in tags
