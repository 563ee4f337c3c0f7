"""Whatever the card answers, the Entry Point ends in an Outcome: a corrupted, truncated or
replaced response gives a TERMINATED/declined outcome or a restart, never another exception."""

from __future__ import annotations

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.errors import CardcoreError
from kernel.config import TransactionRequest
from kernel.outcome import Decision
from tests.kernel.contactless.helpers import IssuerHost, Services, card, entry_point

PROFILES = ("visa-qvsdc", "mc-contactless", "mir-contactless", "phone-wallet")
SWS = (b"\x90\x00", b"\x69\x85", b"\x69\x84", b"\x69\x86", b"\x6a\x82", b"\x61\x10", b"\x6c\x05")

corruption = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 300), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 300), st.just(0)),
    st.tuples(st.just("replace"), st.binary(max_size=40), st.sampled_from(SWS)),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    profile=st.sampled_from(PROFILES),
    amount=st.sampled_from([0, 1500, 50_000, 500_000]),
    target=st.integers(0, 9),
    how=corruption,
)
def test_corrupted_responses_end_in_an_outcome(
    profile: str, amount: int, target: int, how: tuple[str, object, object]
) -> None:
    virtual = card(profile)
    count = 0

    async def transmit(capdu: bytes) -> bytes:
        nonlocal count
        rapdu = virtual.transmit(capdu)
        index, count = count, count + 1
        if index != target:
            return rapdu
        kind, a, b = how
        if kind == "flip":
            assert isinstance(a, int) and isinstance(b, int)
            if not rapdu:
                return rapdu
            pos = a % len(rapdu)
            return rapdu[:pos] + bytes([rapdu[pos] ^ b]) + rapdu[pos + 1 :]
        if kind == "cut":
            assert isinstance(a, int)
            return rapdu[: a % (len(rapdu) + 1)]
        assert isinstance(a, bytes) and isinstance(b, bytes)
        return a + b

    async def run() -> None:
        services = Services(online=IssuerHost())
        request = TransactionRequest(amount=amount, currency=643)
        outcome = await entry_point().run(transmit, services, request)
        assert isinstance(outcome.decision, Decision)
        if outcome.decision is Decision.TERMINATED:
            assert isinstance(outcome.error, CardcoreError)
        assert outcome.contactless is not None

    trio.run(run)
