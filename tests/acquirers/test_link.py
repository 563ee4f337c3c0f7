"""The trio link against the real host simulator over loopback TCP: approve, decline,
timeout, down with mirror fall-back, MAC and PIN checks, matching, broken hosts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from acquirers.errors import (
    CommunicationError,
    HostTimeoutError,
    MacVerificationError,
    MessageBuildError,
    UnexpectedResponseError,
)
from acquirers.iso8583 import messages as m
from acquirers.iso8583.codec import Codec, IsoMessage
from acquirers.iso8583.framing import Framer, frame
from acquirers.iso8583.security import WorkingKeys, generate_key
from acquirers.link import AcquirerLink, HostAddress, LinkConfig
from acquirers.tls import client_tls_context
from base.crypto import dukpt
from cardcore.protocol.status import status_of
from simulators.host import HostMode
from simulators.testkeys import TEST_BDKS, TEST_DUKPT_INITIAL_IDS
from tests.acquirers.conftest import OTHER_PAN, PAN, TERMINAL, D, Env, make_ledger, start_sim

CODEC = Codec(D)


async def test_purchase_approved_books_the_ledger(env: Env) -> None:
    link = env.link()
    answer = await link.financial(env.purchase(12_345))
    assert answer.approved and answer.response_code == "00"
    assert answer.auth_code is not None and len(answer.auth_code) == 6
    assert answer.rrn is not None and len(answer.rrn) == 12
    assert 64 in answer.message  # the answer was MACed and the MAC verified
    assert env.sim.ledger.balance(PAN) == 100_000 - 12_345
    assert link.current_host is not None and link.current_host.name == "main"


async def test_cashback_and_refund(env: Env) -> None:
    link = env.link()
    cb = await link.financial(env.purchase(8_000, kind=m.TxnType.CASHBACK, cashback=3_000))
    assert cb.approved
    refund = await link.financial(
        env.purchase(2_000, kind=m.TxnType.REFUND, pin=None, original_rrn=cb.rrn)
    )
    assert refund.approved
    assert env.sim.ledger.balance(PAN) == 100_000 - 8_000 + 2_000
    totals = env.sim.ledger.totals("00001234")
    assert (totals.debit_count, totals.debit_amount, totals.credit_amount) == (1, 8_000, 2_000)


@pytest.mark.parametrize(
    ("amount", "pin", "pan", "code"),
    [
        (200_000, "1234", PAN, "51"),  # insufficient funds
        (100, "9999", PAN, "55"),  # wrong PIN
        (100, None, "4000009999999999", "14"),  # no such card
        (100, None, OTHER_PAN, "00"),  # no PIN on file, none given
    ],
)
async def test_issuer_decisions(
    env: Env, amount: int, pin: str | None, pan: str, code: str
) -> None:
    answer = await env.link().financial(env.purchase(amount, pin=pin, pan=pan))
    assert answer.response_code == code and answer.approved is (code == "00")
    if code != "00":
        assert answer.auth_code is None
        assert env.sim.ledger.totals("00001234").count == 0


async def test_pin_tries_exhausted(env: Env) -> None:
    link = env.link()
    codes = [(await link.financial(env.purchase(100, pin="0000"))).response_code for _ in range(3)]
    assert codes == ["55", "55", "75"]
    assert (await link.financial(env.purchase(100))).response_code == "78"


async def test_pin_block_under_wrong_tpk_is_refused(env: Env) -> None:
    answer = await env.link().financial(env.purchase(100, tpk=generate_key()))
    assert answer.response_code == "55"


def _pad(scheme: str) -> dukpt.DukptOriginator:
    if scheme == "tdes":
        iksn = TEST_DUKPT_INITIAL_IDS["tdes"]
        return dukpt.DukptOriginator(dukpt.tdes_ipek(TEST_BDKS["tdes"], iksn), iksn)
    ikid = TEST_DUKPT_INITIAL_IDS["aes"]
    return dukpt.DukptOriginator(dukpt.aes_initial_key(TEST_BDKS["aes"], ikid), ikid + bytes(4))


@pytest.mark.parametrize("scheme", ["tdes", "aes"])
async def test_dukpt_pin_blocks(env: Env, scheme: str) -> None:
    pad = _pad(scheme)
    message = env.purchase(100, dukpt=pad)
    data = message.binary_or_none(120)
    assert data is not None and len(data) == (10 if scheme == "tdes" else 28)
    assert (message.binary_or_none(52) is None) is (scheme == "aes")  # 16 bytes: no field 52
    link = env.link()
    assert (await link.financial(message)).response_code == "00"
    assert (await link.financial(env.purchase(100, pin="9999", dukpt=pad))).response_code == "55"
    # Not the host's base derivation key: the block does not decipher.
    env.sim.dukpt_bdks[scheme] = generate_key()
    assert (await link.financial(env.purchase(100, dukpt=pad))).response_code == "55"


async def test_decline_mode(env: Env) -> None:
    env.sim.control.mode = HostMode.DECLINE
    env.sim.control.decline_code = "57"
    answer = await env.link().financial(env.purchase(100))
    assert (answer.response_code, answer.approved) == ("57", False)
    assert answer.description_en == "Transaction not permitted to cardholder"
    assert env.sim.ledger.balance(PAN) == 100_000


async def test_bad_request_mac_is_declined_63_without_mac(env: Env) -> None:
    wrong = WorkingKeys(tpk=env.keys.working.tpk, tak=generate_key())
    answer = await env.link(keys=wrong).financial(env.purchase(100))
    assert answer.response_code == "63" and 64 not in answer.message
    assert env.sim.ledger.balance(PAN) == 100_000


async def test_mac_needs_a_working_key(env: Env) -> None:
    link = env.link(keys=WorkingKeys())
    with pytest.raises(MessageBuildError, match="MAC"):
        await link.financial(env.purchase(100, pin=None))
    assert env.sim.counts["0200"] == 0


async def test_retransmitted_request_is_booked_once(env: Env) -> None:
    link = env.link()
    request = env.purchase(1_000)
    first = await link.financial(request)
    second = await link.financial(request)
    assert first.rrn == second.rrn and first.auth_code == second.auth_code
    assert env.sim.ledger.balance(PAN) == 99_000


async def test_timeout_mode_with_virtual_clock(
    env: Env, autojump_clock: trio.testing.MockClock
) -> None:
    env.sim.control.mode = HostMode.TIMEOUT
    link = env.link(response_timeout=45.0)
    start = trio.current_time()
    with pytest.raises(HostTimeoutError) as info:
        await link.financial(env.purchase(1_000))
    assert trio.current_time() - start >= 45.0
    err = info.value
    assert status_of(err) == "timeout" and err.request_sent
    assert "main host 127.0.0.1" in err.message and "45 s" in err.message
    # The host booked it and never answered: the reversal puts the money back.
    assert env.sim.ledger.balance(PAN) == 99_000


async def test_delay_beyond_the_response_timeout(env: Env) -> None:
    env.sim.control.delay = 1.0
    with pytest.raises(HostTimeoutError):
        await env.link(response_timeout=0.2).financial(env.purchase(500))
    env.sim.control.delay = 0.0
    assert (await env.link().echo()).approved


async def test_main_down_falls_back_to_mirror(env: Env, nursery: trio.Nursery) -> None:
    mirror, mirror_port = await start_sim(nursery, ledger=make_ledger())
    env.sim.control.mode = HostMode.DOWN
    await env.sim.wait_listening(False)
    link = env.link(mirror=mirror_port)
    answer = await link.financial(env.purchase(700))
    assert answer.approved and mirror.ledger.balance(PAN) == 99_300
    assert link.current_host is not None and link.current_host.name == "mirror"
    assert env.sim.counts["0200"] == 0

    mirror.control.mode = HostMode.DOWN
    await mirror.wait_listening(False)
    with pytest.raises(CommunicationError) as info:
        await link.echo()
    err = info.value
    assert status_of(err) == "communicationerror" and not err.request_sent
    assert f"main host 127.0.0.1:{env.port}: connection refused" in err.message
    assert f"mirror host 127.0.0.1:{mirror_port}: connection refused" in err.message

    env.sim.control.mode = HostMode.APPROVE  # back up on the same port
    await env.sim.wait_listening(True)
    assert (await link.echo()).approved
    assert link.current_host is not None and link.current_host.name == "main"


async def test_going_down_drops_open_connections(env: Env) -> None:
    link = env.link()
    async with link.session() as conn:
        assert (await link.echo()).approved
        env.sim.control.mode = HostMode.TIMEOUT
        async with trio.open_nursery() as nursery:

            async def down_soon() -> None:
                while env.sim.counts["0200"] == 0:  # the request has reached the host
                    await trio.testing.wait_all_tasks_blocked()
                env.sim.control.mode = HostMode.DOWN

            nursery.start_soon(down_soon)
            with pytest.raises(CommunicationError) as info:
                await conn.exchange(env.purchase(100))
        assert info.value.request_sent and not isinstance(info.value, HostTimeoutError)
        with pytest.raises(CommunicationError, match="already failed"):
            await conn.exchange(env.purchase(100))


# ---------------------------------------------------------------- misbehaving hosts
async def _fake_host(nursery: trio.Nursery, answers: list[bytes | None], tak: bytes | None) -> int:
    """A host that reads one request and writes the given frames; a None entry
    means: the matching answer to the request (MACed under ``tak``)."""

    async def handler(stream: trio.SocketStream) -> None:
        framer = Framer()
        while (raw := framer.next_frame()) is None:
            framer.feed(await stream.receive_some(4096))
        request = CODEC.decode(raw)
        for item in answers:
            if item is None:
                fields = {k: request.fields[k] for k in (3, 4, 11, 41) if k in request.fields}
                answer = IsoMessage("0210", fields | {39: "00", 38: "123456", 37: "000000000001"})
                await stream.send_all(frame(CODEC.encode(answer, mac_key=tak)))
            elif item:
                await stream.send_all(item)
        await stream.aclose()

    listeners = await nursery.start(trio.serve_tcp, handler, 0)
    port: int = listeners[0].socket.getsockname()[1]
    return port


def _answer_frame(
    stan: str, tid: str = "00001234", mti: str = "0210", tak: bytes | None = None
) -> bytes:
    msg = IsoMessage(mti, {11: stan, 41: tid, 39: "00", 38: "654321"})
    return frame(CODEC.encode(msg, mac_key=tak))


async def test_unmatched_answers_are_dropped(env: Env, nursery: trio.Nursery) -> None:
    tak = env.keys.working.tak
    stale = [
        _answer_frame("999999", tak=tak),  # late answer to an older request
        _answer_frame("000001", tid="99999999", tak=tak),  # other terminal
        _answer_frame("000001", mti="0410", tak=tak),  # other class
    ]
    port = await _fake_host(nursery, [*stale, None], tak)
    request = env.purchase(100)
    assert request.fields[11] == "000001"
    answer = await env.link(main=port).financial(request)
    assert answer.approved and answer.rrn == "000000000001"


async def test_approval_with_a_bad_mac_is_refused(env: Env, nursery: trio.Nursery) -> None:
    port = await _fake_host(nursery, [None], generate_key())
    with pytest.raises(MacVerificationError) as info:
        await env.link(main=port).financial(env.purchase(100))
    assert info.value.request_sent and status_of(info.value) == "verificationfailed"


async def test_approval_without_a_mac_is_refused(env: Env, nursery: trio.Nursery) -> None:
    port = await _fake_host(nursery, [None], None)
    with pytest.raises(MacVerificationError, match="without a MAC"):
        await env.link(main=port).financial(env.purchase(100))


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (frame(b"\x02\x10garbage"), UnexpectedResponseError, "undecodable"),
        (b"\xff\xff" + b"x" * 10, UnexpectedResponseError, "bad frame"),
        (b"", CommunicationError, "closed the connection"),
    ],
)
async def test_broken_answers(
    env: Env, nursery: trio.Nursery, answer: bytes, error: type[Exception], match: str
) -> None:
    port = await _fake_host(nursery, [answer], None)
    with pytest.raises(error, match=match) as info:
        await env.link(main=port).financial(env.purchase(100))
    assert getattr(info.value, "request_sent", False)


async def test_connect_timeout_names_the_host(
    env: Env, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # A host that accepts TCP and never answers the TLS ClientHello: the
    # connection is not established within connect_timeout; the mirror is tried.
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await nursery.start(trio.serve_tcp, silent, 0)
    port = listeners[0].socket.getsockname()[1]
    config = LinkConfig(
        main=HostAddress("127.0.0.1", port),
        mirror=HostAddress("127.0.0.1", env.port),
        connect_timeout=3.0,
        tls=client_tls_context(),
    )
    link = AcquirerLink(config, D, TERMINAL, stan=env.stan, keys=env.keys.working)
    with pytest.raises(CommunicationError) as info:
        await link.echo()  # the mirror is plain TCP: its TLS handshake fails too
    msg = info.value.message
    assert f"main host 127.0.0.1:{port}: no connection within 3 s" in msg
    assert f"mirror host 127.0.0.1:{env.port}" in msg and not info.value.request_sent


async def test_echo_sign_on_and_cutover(env: Env) -> None:
    link = env.link(keys=WorkingKeys())  # network management needs no keys
    echo = await link.echo()
    assert echo.approved and echo.network_code == "301"
    assert (await link.sign_on()).approved
    day = env.sim.business_day
    cutover = await link.cutover()
    assert cutover.approved and cutover.rrn is not None and len(cutover.rrn) == 12
    assert env.sim.business_day == day + 1
    assert env.sim.counts["0800"] == 3


async def test_timeout_mode_echo(env: Env) -> None:
    env.sim.control.mode = HostMode.TIMEOUT
    with pytest.raises(HostTimeoutError, match=r"no answer to 0800 within 0\.2 s"):
        await env.link(response_timeout=0.2).echo()


async def test_session_carries_several_exchanges(env: Env) -> None:
    link = env.link()
    async with link.session() as conn:
        for _ in range(3):
            answer = await conn.exchange(env.purchase(100))
            assert answer.text(39) == "00"
    assert env.sim.ledger.balance(PAN) == 99_700


async def test_transmission_time_used_by_link_clock(env: Env) -> None:
    fixed = datetime(2030, 1, 2, 3, 4, 5).astimezone()
    link = env.link()
    link.clock = lambda: fixed
    await link.echo()
    sent = env.sim.requests[-1]
    assert sent.fields[7] == fixed.astimezone(UTC).strftime("%m%d%H%M%S")


async def test_connection_test_tries_the_mirror_when_main_is_silent(
    env: Env, nursery: trio.Nursery
) -> None:
    mirror, mirror_port = await start_sim(nursery, ledger=make_ledger())
    env.sim.control.mode = HostMode.TIMEOUT
    link = env.link(mirror=mirror_port, response_timeout=0.3)
    host, answer = await link.test_connection()
    assert host.name == "mirror" and answer.approved
    assert env.sim.counts["0800"] == 1 and mirror.counts["0800"] == 1

    mirror.control.mode = HostMode.DOWN
    await mirror.wait_listening(False)
    with pytest.raises(CommunicationError) as info:
        await link.test_connection()
    err = info.value
    assert type(err) is CommunicationError and status_of(err) == "communicationerror"
    assert f"main host 127.0.0.1:{env.port}: no answer to 0800 within 0.3 s" in err.message
    assert f"mirror host 127.0.0.1:{mirror_port}: connection refused" in err.message


async def test_refused_build_leaves_the_session_usable(env: Env) -> None:
    link = env.link()
    async with link.session() as conn:
        with pytest.raises(MessageBuildError, match="not in dialect"):
            await conn.exchange(IsoMessage("0800", {11: "000001", 41: "00001234", 99: "1"}))
        assert (await conn.exchange(env.purchase(100))).text(39) == "00"


def test_cutover_answer_totals_are_informative_only() -> None:
    totals = m.BatchTotals(debit_count=2, debit_amount=1500, credit_count=1, credit_amount=500)
    fields = {39: "00", 37: "633218000001", 38: "AB1234", 70: "201", **totals.to_fields(D)}
    answer = m.NetworkResponse.from_message(IsoMessage("0810", dict(fields)), D)
    assert answer.approval_number == "AB1234" and answer.totals == totals
    assert answer.totals.net == 1000
    # A net amount that disagrees with the counts loses the totals, not the cutover.
    fields[97] = "D0000000000009999"
    answer = m.NetworkResponse.from_message(IsoMessage("0810", fields), D)
    assert answer.approved and answer.rrn == "633218000001" and answer.totals is None
    # An answer without totals (echo, or another dialect's cutover) has none.
    bare = m.NetworkResponse.from_message(IsoMessage("0810", {39: "00", 70: "301"}), D)
    assert bare.totals is None and bare.approval_number is None
    assert bare.totals_currency is None


def test_cutover_answer_names_the_currency_of_its_totals() -> None:
    totals = m.BatchTotals(debit_count=1, debit_amount=2500)
    fields = {39: "00", 37: "633218000001", 70: "201", **totals.to_fields(D)}
    unnamed = m.NetworkResponse.from_message(IsoMessage("0810", dict(fields)), D)
    assert unnamed.totals == totals and unnamed.totals_currency is None
    named = m.NetworkResponse.from_message(IsoMessage("0810", fields | {50: "840"}), D)
    assert named.totals == totals and named.totals_currency == "840"
