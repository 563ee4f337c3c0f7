"""A stateful property test of the transaction engine: hypothesis interleaves
purchases, voids, refunds, cashback, host failures (decline, timeout, down),
PIN pad failures, card removal and client cancels at random stages. After every
operation no transaction is left half-done; once the host is reachable again
and store-and-forward has delivered everything, the journal's approved totals
equal what the host ledger booked, to the minor unit."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardcore.client import default_message_answer
from cardcore.protocol.xmlcodec import Body, Message
from hal.interfaces import CardInterface
from simulators.devices.pinpad import PinPadMode
from simulators.host.control import HostMode
from simulators.simulator import host_ledger
from tests.cardcore.harness import Harness, simulated_terminal

CARDS = ["default", "dda", "cda", "sda", "always-online", "card-decline", "signature", "mir"]
TAPS = ["visa-qvsdc", "mc-contactless", "mir-contactless", "phone-wallet", "cl-online-pin"]
STAGES = [None, None, None, "0B", "D1", "D4", "03", "keepalive"]

amounts = st.integers(100, 90_000)
operation = st.one_of(
    st.tuples(st.just("purchase"), amounts, st.sampled_from(CARDS), st.sampled_from(STAGES)),
    st.tuples(st.just("cashback"), amounts, st.integers(100, 5_000), st.sampled_from(STAGES)),
    st.tuples(st.just("refund"), st.integers(0, 9), st.sampled_from(STAGES)),
    st.tuples(st.just("void"), st.integers(0, 9), st.booleans()),
    st.tuples(
        st.just("host"), st.sampled_from(["approve", "approve", "decline", "timeout", "down"])
    ),
    st.tuples(st.just("pinpad"), st.sampled_from(["enter", "enter", "wrong", "bypass"])),
    st.tuples(st.just("remove")),
    st.tuples(
        st.just("tap"), st.integers(100, 500_000), st.sampled_from(TAPS), st.sampled_from(STAGES)
    ),
    st.tuples(st.just("sbp"), amounts, st.sampled_from(["pay", "pay", "reject"])),
)


def canceller(stage: str | None) -> Any:
    def answer(message: Message) -> Body:
        if stage is not None and (
            message.body.get("code") == stage or (stage == "keepalive" and message.name == stage)
        ):
            return {"status": "cancelled"}
        return default_message_answer(message)

    return answer


async def run(h: Harness, ops: list[tuple[Any, ...]]) -> None:
    approved: list[dict[str, str]] = []
    assert h.sim.host is not None
    for op in ops:
        kind = op[0]
        if kind == "purchase":
            h.sim.slot.present(op[2], CardInterface.CONTACT)
            answer = await h.transaction(canceller(op[3]), type="purchase", amount=f"{op[1]:012d}")
        elif kind == "cashback":
            h.sim.slot.present("default", CardInterface.CONTACT)
            answer = await h.transaction(
                canceller(op[3]), type="purchase-with-cashback", amount=f"{op[1]:012d}",
                amount_other=f"{op[2]:012d}",
            )  # fmt: skip
        elif kind == "refund" and approved:
            original = approved[op[1] % len(approved)]
            h.sim.slot.present("default", CardInterface.CONTACT)
            answer = await h.transaction(
                canceller(op[2]), type="refund", amount=original["amount-authorized"],
                rrn=original.get("rrn", "000000000000"),
            )  # fmt: skip
        elif kind == "void" and approved:
            original = approved[op[1] % len(approved)]
            params = {"type": "void", "number": original["seq"]}
            if op[2]:
                params["amount"] = "000000000050"
            answer = await h.transaction(**params)
        elif kind == "tap":
            h.sim.slot.present(op[2], CardInterface.CONTACTLESS)
            answer = await h.transaction(canceller(op[3]), type="purchase", amount=f"{op[1]:012d}")
        elif kind == "sbp":
            assert h.sim.sbp is not None
            h.sim.slot.remove()
            h.sim.sbp.control.set_mode(op[2])
            h.sim.sbp.control.pay_delay = 0.0
            answer = await h.transaction(type="purchase", amount=f"{op[1]:012d}")
            h.sim.sbp.control.set_mode("none")
            h.sim.slot.present("default", CardInterface.CONTACT)
        elif kind == "host":
            h.sim.host.control.mode = HostMode(op[1])
            continue
        elif kind == "pinpad":
            assert h.sim.pinpad is not None
            h.sim.pinpad.mode = PinPadMode(op[1])
            continue
        else:
            h.sim.slot.remove()
            continue
        receipt = answer.body.get("receipt")
        ok = answer.status == "ok" and receipt and receipt.get("tstatus") == "approved"
        if ok and receipt["type"] in ("purchase", "refund"):
            approved.append(receipt)
        unfinished = await h.terminal.journal.in_states(["online", "authorized"])
        assert unfinished == [], unfinished
    # The host comes back; everything queued is delivered.
    h.sim.host.control.mode = HostMode.APPROVE
    await h.settle_pending()
    assert await journal_net(h) == ledger_net(h)
    assert await journal_net(h, "sbp") == sbp_net(h)


async def journal_net(h: Harness, channel: str = "card") -> int:
    batch_id, _ = await h.terminal.journal.open_batch()
    net = 0
    for chunk in h.terminal.journal.iter_batch(batch_id):
        for row in chunk:
            if row.tstatus != "approved" or row.operation == "void" or row.channel != channel:
                continue
            sign = -1 if row.receipt_type == "refund" else 1
            net += sign * (row.amount - row.reversed_amount)
    return net


def sbp_net(h: Harness) -> int:
    assert h.sim.sbp is not None
    return h.sim.sbp.ledger.paid_total - h.sim.sbp.ledger.refunded_total


def ledger_net(h: Harness) -> int:
    assert h.sim.host is not None
    net = 0
    for row in host_ledger(h.sim.host):
        if row["response"] in ("00", "Y1", "Y3"):
            sign = -1 if row["type"] == "refund" else 1
            net += sign * (row["amount"] - row["reversed"])
    return net


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(operation, min_size=4, max_size=14))
def test_journal_and_host_ledger_agree(ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with simulated_terminal(Path(tmp)) as h:
                await run(h, ops)

    trio.run(main)
