"""Contactless paths beyond the happy ones: restarts, another interface, select next,
failed ODA, data exchange, online PIN and host answers, refunds, traces, cancellation."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from base import tlv
from cardcore.protocol.status import status_of
from hal.interfaces import CardInterface, CardRemoved, ReaderError
from kernel.config import TransactionRequest, TransactionType
from kernel.contact import completion
from kernel.contactless import (
    ContactlessConfig,
    Kernel2Parameters,
    OutcomeCvm,
    OutcomeKind,
    Start,
    UiStatus,
)
from kernel.contactless.entry import ContactlessEntryPoint
from kernel.errors import CardCommunicationError, PinEntryBypassed
from kernel.outcome import Decision, Outcome
from kernel.services import MessageId, OnlineResult
from simulators.devices import VirtualCard, load_profile
from simulators.devices.profile import Profile
from simulators.devices.reader import SimCardReader, SimCardSlot
from tests.kernel.contactless.helpers import (
    CONFIG,
    TERMINAL,
    TX_LIMIT,
    H,
    IssuerHost,
    Services,
    card,
    combinations,
    entry_point,
    tap,
)

Transmit = Callable[[bytes], Awaitable[bytes]]
GPO, READ_RECORD, GENERATE_AC, SELECT = 0xA8, 0xB2, 0xAE, 0xA4


def variant(name: str, change: Callable[[dict[str, Any]], None]) -> Profile:
    """A profile with its first application's JSON changed (tests only)."""
    doc = load_profile(name).to_json()
    change(doc["applications"][0])
    return Profile.from_json(doc)


def intercept(virtual: VirtualCard, rewrite: Callable[[bytes, bytes], bytes | None]) -> Transmit:
    """transmit through the card; `rewrite(capdu, rapdu)` may replace the answer."""

    async def transmit(capdu: bytes) -> bytes:
        rapdu = virtual.transmit(capdu)
        replaced = rewrite(capdu, rapdu)
        return rapdu if replaced is None else replaced

    return transmit


def request(amount: int, tt: int = TransactionType.PURCHASE) -> TransactionRequest:
    return TransactionRequest(amount=amount, currency=643, transaction_type=tt)


def flip_sdad(rapdu: bytes) -> bytes:
    """Corrupt the last byte of '9F4B' inside a '77' answer (keeps the TLV valid)."""
    (template,) = tlv.decode(rapdu[:-2])
    objects = [
        tlv.Tlv(o.tag, o.value[:-1] + bytes([o.value[-1] ^ 1]) if o.tag == 0x9F4B else o.value)
        for o in template.children()
    ]
    return tlv.encode(0x77, b"".join(o.encode() for o in objects)) + rapdu[-2:]


# --- Try Another Interface ----------------------------------------------------------------


async def test_over_the_transaction_limit_no_apdu_is_sent() -> None:
    virtual = card("visa-qvsdc")
    sent: list[bytes] = []

    async def transmit(capdu: bytes) -> bytes:
        sent.append(capdu)
        return virtual.transmit(capdu)

    services = Services()
    outcome = await entry_point().run(transmit, services, request(TX_LIMIT))
    assert status_of(outcome.error) == "tryanotherinterface" and sent == []
    assert outcome.contactless is not None
    assert outcome.contactless.kind is OutcomeKind.TRY_ANOTHER_INTERFACE


async def test_card_asks_for_another_interface() -> None:
    virtual = card("visa-qvsdc")
    transmit = intercept(virtual, lambda c, r: H("6984") if c[1] == GPO else None)
    services = Services()
    outcome = await entry_point().activate(
        transmit, services, entry_point().preprocess(request(1500))
    )
    assert (
        outcome.decision is Decision.TERMINATED
        and status_of(outcome.error) == "tryanotherinterface"
    )
    assert [u.message for u in services.ui] == [MessageId.INSERT_OR_SWIPE_CARD]
    assert services.ui[0].status is UiStatus.PROCESSING_ERROR


async def test_mag_stripe_only_card_goes_to_the_contact_reader() -> None:
    profile = variant("mc-contactless", lambda app: app["gpo"].update(aip="3900"))
    outcome, _, _ = await tap(profile, 1500)
    assert status_of(outcome.error) == "tryanotherinterface"


async def test_fdda_failure_follows_the_ctq() -> None:
    # visa-qvsdc's CTQ says "go online if ODA fails": the TC goes online
    virtual = card("visa-qvsdc")
    transmit = intercept(virtual, lambda c, r: flip_sdad(r) if c[1] == GPO else None)
    host = IssuerHost()
    services = Services(online=host)
    outcome = await entry_point().run(transmit, services, request(1500))
    assert outcome.decision is Decision.APPROVED_ONLINE and host.checked == [True]
    assert outcome.cid == 0x40  # the card's TC, sent for authorisation
    # "switch interface if ODA fails": another interface
    switch = variant("visa-qvsdc", lambda app: app["contactless"].update(ctq="1000"))
    transmit = intercept(card(switch), lambda c, r: flip_sdad(r) if c[1] == GPO else None)
    outcome = await entry_point().run(transmit, Services(), request(1500))
    assert status_of(outcome.error) == "tryanotherinterface"
    # neither: declined
    plain = variant("visa-qvsdc", lambda app: app["contactless"].update(ctq="0000"))
    transmit = intercept(card(plain), lambda c, r: flip_sdad(r) if c[1] == GPO else None)
    outcome = await entry_point().run(transmit, Services(), request(1500))
    assert (outcome.decision, outcome.decline_reason) == (Decision.DECLINED, "offlinedeclined")


async def test_cda_failure_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    virtual = card("mc-contactless")
    transmit = intercept(virtual, lambda c, r: flip_sdad(r) if c[1] == GENERATE_AC else None)
    services = Services()
    events: list[object] = []
    verify = completion._verify_cda

    def recorded(*args: Any) -> bool:
        events.append(("cda", len(services.ui)))
        return verify(*args)

    monkeypatch.setattr(completion, "_verify_cda", recorded)
    outcome = await entry_point().run(transmit, services, request(1500))
    assert outcome.decision is Decision.DECLINED and outcome.tvr[0] & 0x04
    # The signature is checked once the card may leave: after 'Card Read OK'.
    ((_, shown_before),) = events
    assert MessageId.CARD_READ_OK in [u.message for u in services.ui[:shown_before]]


# --- Select Next ------------------------------------------------------------------------------


async def test_failed_final_select_drops_the_candidate() -> None:
    virtual = card("cl-two-apps")

    def rewrite(capdu: bytes, rapdu: bytes) -> bytes | None:
        if capdu[1] == SELECT and H("A0000000032010") in capdu:
            return H("6A82")
        return None

    outcome = await entry_point().run(intercept(virtual, rewrite), Services(), request(1500))
    assert outcome.decision is Decision.APPROVED_OFFLINE
    assert outcome.aid == H("A0000000031010")


async def test_kernel2_transaction_limit_is_select_next() -> None:
    limited = tuple(
        dataclasses.replace(c, kernel2=Kernel2Parameters(transaction_limit_no_on_device_cvm=1000))
        if c.kernel2 is not None
        else c
        for c in combinations()
    )
    config = ContactlessConfig(TERMINAL, limited)
    outcome, services, _ = await tap("mc-contactless", 1500, config=config)
    assert (
        outcome.decision is Decision.TERMINATED
        and status_of(outcome.error) == "tryanotherinterface"
    )
    assert [u.message for u in services.ui] == [MessageId.TRY_ANOTHER_CARD]
    outcome, _, _ = await tap("phone-wallet-mc", 1500, config=config)  # no DF8125: no limit
    assert outcome.decision is Decision.APPROVED_OFFLINE


async def test_visa_aid_without_ttq_in_the_pdol_is_not_selected() -> None:
    virtual = card("visa-qvsdc")
    fci = tlv.encode(
        0x6F,
        tlv.encode(0x84, H("A0000000031010"))
        + tlv.encode(0xA5, tlv.encode(0x50, b"VISA") + tlv.encode(0x9F38, H("9F1A02"))),
    )

    def rewrite(capdu: bytes, rapdu: bytes) -> bytes | None:
        if capdu[1] == SELECT and H("A0000000031010") in capdu:
            return fci + H("9000")
        return None

    services = Services()
    outcome = await entry_point().run(intercept(virtual, rewrite), services, request(1500))
    assert status_of(outcome.error) == "tryanotherinterface"  # no Kernel 1: no candidate left
    assert outcome.contactless is not None
    assert outcome.contactless.kind is OutcomeKind.END_APPLICATION


# --- restarts -----------------------------------------------------------------------------


async def test_see_phone_then_tap_again() -> None:
    phone = variant("phone-wallet", lambda app: app["contactless"].update(see_phone=True))
    virtual = card(phone)
    ep = entry_point()
    pre = ep.preprocess(request(500_000))
    services = Services(online=IssuerHost())

    async def transmit(capdu: bytes) -> bytes:
        return virtual.transmit(capdu)

    first = await ep.activate(transmit, services, pre)
    assert first.restart_required and status_of(first.error) == "tryagain"
    params = first.contactless
    assert params is not None and params.start is Start.B
    assert params.ui_on_outcome is not None
    assert params.ui_on_outcome.message is MessageId.SEE_PHONE
    assert params.field_off_hold_time == 13
    again = ep.polling_ui(first)
    assert (again.message, again.status) == (MessageId.PRESENT_CARD_AGAIN, UiStatus.READY_TO_READ)
    virtual.reset(contactless=True)
    second = await ep.activate(transmit, services, pre, restart=first)
    assert second.decision is Decision.APPROVED_ONLINE and second.cdcvm
    assert second.contactless is not None
    assert second.contactless.cvm is OutcomeCvm.CONFIRMATION_CODE_VERIFIED


async def test_card_removed_mid_transaction_restarts() -> None:
    virtual = card("mc-contactless")
    removed = True

    async def transmit(capdu: bytes) -> bytes:
        nonlocal removed
        if capdu[1] == READ_RECORD and removed:
            removed = False
            raise CardRemoved("card removed")
        return virtual.transmit(capdu)

    ep = entry_point()
    pre = ep.preprocess(request(1500))
    first = await ep.activate(transmit, Services(), pre)
    assert first.restart_required and isinstance(first.error, CardCommunicationError)
    assert status_of(first.error) == "tryagain"
    assert ep.polling_ui(first).message is MessageId.PRESENT_CARD_AGAIN
    virtual.reset(contactless=True)
    second = await ep.activate(transmit, Services(), pre, restart=first)
    assert second.decision is Decision.APPROVED_OFFLINE


async def test_reader_failure_is_not_a_restart() -> None:
    async def transmit(capdu: bytes) -> bytes:
        raise ReaderError("reader gone")

    outcome = await entry_point().run(transmit, Services(), request(1500))
    assert outcome.decision is Decision.TERMINATED and status_of(outcome.error) == "readererror"
    assert not outcome.restart_required


async def test_restart_loop_with_the_simulated_reader() -> None:
    """The loop the application runs: poll, activate, restart when asked (README)."""
    phone = variant("phone-wallet", lambda app: app["contactless"].update(see_phone=True))
    slot = SimCardSlot()
    slot.add(VirtualCard(phone))
    slot.present("phone-wallet")
    reader = SimCardReader(slot, CardInterface.CONTACTLESS)
    ep = entry_point()
    services = Services(online=IssuerHost())
    pre = ep.preprocess(request(500_000))
    outcome: Outcome | None = None
    shown = []
    for _ in range(3):
        shown.append(ep.polling_ui(outcome))
        session = await reader.wait_for_card()
        try:
            outcome = await ep.activate(session.transmit, services, pre, restart=outcome)
        finally:
            await session.close()
        if not outcome.restart_required:
            break
    assert outcome is not None and outcome.decision is Decision.APPROVED_ONLINE and outcome.cdcvm
    assert [s.message for s in shown] == [MessageId.PRESENT_CARD, MessageId.PRESENT_CARD_AGAIN]
    assert session.info.uid == H("08C3E5A7")


# --- data exchange --------------------------------------------------------------------------


async def test_kernel2_tags_to_read_and_terminal_updates() -> None:
    services = Services(online=IssuerHost(), exchange={0x9F53: b"R", 0x5A: H("1111")})
    outcome, services, _ = await tap("mc-contactless", 1500, services=services)
    ((point, offered),) = services.exchanged
    assert point == "read-application-data"
    assert offered == {0x9F24: b"P001CARDCORETESTACCOUNT000001", 0x9F13: H("000F")}
    assert outcome.get(0x9F53) == b"R"  # terminal data taken
    assert outcome.pan == "5413330089020011"  # card data is not the terminal's to change


async def test_data_exchange_tag_list_for_other_kernels() -> None:
    _, services, _ = await tap("mir-contactless", 1500)
    assert services.exchanged == [("read-application-data", {0x5F28: H("0643"), 0x9F07: H("FFC0")})]
    _, services, _ = await tap("visa-qvsdc", 1500)
    assert services.exchanged == []  # no tag list configured for Visa


# --- online processing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "decision", "reason", "arc"),
    [
        (OnlineResult.DECLINED, Decision.DECLINED, "onlinedeclined", b"05"),
        (OnlineResult.UNABLE_TO_GO_ONLINE, Decision.DECLINED, "unabletoonline", b"Z3"),
    ],
)
async def test_host_answers(
    result: OnlineResult, decision: Decision, reason: str, arc: bytes
) -> None:
    outcome, services, host = await tap("visa-qvsdc", 50_000, host=IssuerHost(result))
    assert (outcome.decision, outcome.decline_reason, outcome.get(0x8A)) == (decision, reason, arc)
    assert host.checked == [True]
    assert services.ui[-1].message is MessageId.DECLINED
    assert outcome.unable_to_go_online is (result is OnlineResult.UNABLE_TO_GO_ONLINE)


async def test_online_pin_bypassed() -> None:
    services = Services(online=IssuerHost(), online_pin_block="bypass")
    outcome, services, host = await tap("cl-online-pin", 500_000, services=services)
    assert outcome.decision is Decision.TERMINATED
    assert (
        isinstance(outcome.error, PinEntryBypassed)
        and status_of(outcome.error) == "pinentrybypassed"
    )
    assert host.checked == [] and outcome.pin_entered == "no"


@pytest.mark.parametrize("profile", ["visa-qvsdc", "mc-contactless", "mir-contactless"])
async def test_refund_goes_online(profile: str) -> None:
    outcome, _, host = await tap(profile, 1500, transaction_type=TransactionType.REFUND)
    assert outcome.decision is Decision.ONLINE_REQUEST_HANDLED and host.checked == [True]
    assert outcome.decline_reason is None


async def test_zero_amount_and_status_check_go_online() -> None:
    zero = ContactlessConfig(TERMINAL, combinations(), message_hold_time=5)
    outcome, _, host = await tap("visa-qvsdc", 0, config=zero)
    assert outcome.decision is Decision.APPROVED_ONLINE and host.checked == [True]
    status = ContactlessConfig(
        TERMINAL, tuple(dataclasses.replace(c, status_check=True) for c in combinations())
    )
    outcome, _, host = await tap("visa-qvsdc", 100, config=status)
    assert outcome.decision is Decision.APPROVED_ONLINE and host.checked == [True]


async def test_expired_qvsdc_card() -> None:
    def expire(app: dict[str, Any]) -> None:
        app["files"]["1"] = [r.replace("5F2403341231", "5F2403231231") for r in app["files"]["1"]]

    expired = variant("visa-qvsdc", expire)
    outcome, _, _ = await tap(expired, 1500)
    assert (outcome.decision, outcome.decline_reason) == (Decision.DECLINED, "offlinedeclined")
    outcome, _, host = await tap(expired, 50_000)  # online: the issuer decides
    assert outcome.decision is Decision.APPROVED_ONLINE and host.checked == [True]


# --- hygiene --------------------------------------------------------------------------------


async def test_trace_never_shows_the_pan(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kernel.trace")
    await tap("visa-qvsdc", 50_000)
    await tap("mc-contactless", 50_000)
    text = caplog.text
    assert "GET PROCESSING OPTIONS" in text and "GENERATE AC" in text
    for pan in ("4761739001030018", "5413330089020011"):
        assert pan not in text.upper()


async def test_cancellation_propagates(autojump_clock: trio.testing.MockClock) -> None:
    class Stalling(Services):
        async def ui_request(self, request: Any) -> None:
            if request.message is MessageId.AUTHORISING_PLEASE_WAIT:
                await trio.sleep_forever()

    virtual = card("visa-qvsdc")

    async def transmit(capdu: bytes) -> bytes:
        return virtual.transmit(capdu)

    with trio.move_on_after(5) as scope:
        await entry_point().run(transmit, Stalling(), request(50_000))
    assert scope.cancelled_caught


def test_ui_helpers() -> None:
    assert ContactlessEntryPoint.polling_ui().message is MessageId.PRESENT_CARD
    with_amount = ContactlessEntryPoint.polling_ui(amount=1500)
    assert with_amount.value == 1500
    assert ContactlessEntryPoint.collision_ui().status is UiStatus.PROCESSING_ERROR
    assert ContactlessEntryPoint.collision_ui(resolved=True).status is UiStatus.READY_TO_READ
    assert CONFIG.validate() is None


async def test_a_broken_display_does_not_change_the_result() -> None:
    class Broken(Services):
        async def ui_request(self, request: Any) -> None:
            raise ReaderError("display gone")

    host = IssuerHost()
    outcome, _, _ = await tap("visa-qvsdc", 50_000, services=Broken(online=host), host=host)
    assert outcome.decision is Decision.APPROVED_ONLINE and host.checked == [True]
    assert outcome.messages == (
        MessageId.CARD_READ_OK,
        MessageId.AUTHORISING_PLEASE_WAIT,
        MessageId.APPROVED,
    )
