"""The terminal sells right after it is keyed: with master keys and no working
keys the host link runs the key exchange (0800 key change) by itself, before
the first sale and before store-and-forward needs a MAC, and again when the
host answers that the keys are out of step (generic87: 63). The exchange
leaves nothing undelivered: reversals and advices waiting for keys go after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from cardcore.hostlink import KEY_NAMES
from simulators.host.control import HostMode
from tests.cardcore.harness import Harness, simulated_terminal


def _host(h: Harness) -> Any:
    assert h.sim.host is not None
    return h.sim.host


def _keyed_only(h: Harness) -> None:
    """As after activation and loadmasterkeys: master keys, no working keys,
    and a host that holds none for the terminal either."""
    h.terminal.forget_working_keys()
    _host(h).forget_working_keys()
    assert h.terminal.host.working_keys() is None
    assert h.terminal.host.master_keys() is not None


async def _purchase(h: Harness, amount: str = "000000010000") -> dict[str, Any]:
    answer = await h.transaction(type="purchase", amount=amount)
    assert answer.status == "ok", answer.body
    receipt: dict[str, Any] = answer.body["receipt"]
    return receipt


async def test_the_first_sale_after_keying_fetches_the_working_keys(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        _keyed_only(h)
        exchanges = _host(h).counts["0800"]
        receipt = await _purchase(h)
        assert receipt["tstatus"] == "approved", receipt
        assert _host(h).counts["0800"] == exchanges + 2  # the PIN key, then the MAC key
        store = h.terminal.keystore
        keys = _host(h).terminal("10000001")
        assert store.get(KEY_NAMES["tak"]) == keys.tak  # the host took the new MAC key
        assert store.get(KEY_NAMES["tpk"]) in (keys.tpk, keys.pending_tpk)
        # One exchange: the next sale uses the keys it brought.
        assert (await _purchase(h))["tstatus"] == "approved"
        assert _host(h).counts["0800"] == exchanges + 2
        assert await h.terminal.journal.count_pending() == 0


async def test_reversals_waiting_for_keys_go_after_the_exchange(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        _host(h).control.mode = HostMode.TIMEOUT
        receipt = await _purchase(h)
        assert receipt["tstatus"] != "approved"
        assert await h.terminal.journal.count_pending() == 1  # its reversal
        _keyed_only(h)
        _host(h).control.mode = HostMode.APPROVE
        exchanges = _host(h).counts["0800"]
        await h.settle_pending()
        assert _host(h).counts["0800"] == exchanges + 2
        assert _host(h).counts["0400"] + _host(h).counts["0401"] >= 1
        assert not [t for t in _host(h).ledger.batch("10000001").transactions.values()
                    if not t.reversed_amount]  # fmt: skip


async def test_the_host_asking_for_new_keys_gets_them_before_the_next_sale(
    tmp_path: Path,
) -> None:
    async with simulated_terminal(tmp_path) as h:
        assert (await _purchase(h))["tstatus"] == "approved"
        _host(h).forget_working_keys()  # the host renewed them: MACs fail with 63
        exchanges = _host(h).counts["0800"]
        refused = await _purchase(h)
        assert refused["tstatus"] == "declined" and refused["resp-code"] == "063", refused
        with trio.fail_after(10):  # the background task renews them at once
            while True:
                if not h.terminal.host.keys_stale and _host(h).counts["0800"] >= exchanges + 2:
                    break
                await trio.sleep(0.02)
        assert (await _purchase(h))["tstatus"] == "approved"
        await h.settle_pending()


async def test_without_master_keys_the_sale_says_why(tmp_path: Path) -> None:
    async with simulated_terminal(tmp_path) as h:
        _keyed_only(h)
        with h.terminal.provisioning.stage() as staging:
            staging.keystore().retain(())
            h.terminal.publish(staging, h.terminal.config)
        assert h.terminal.host.master_keys() is None
        receipt = await _purchase(h)
        assert receipt["tstatus"] == "declined"
        assert receipt.get("decline-reason") == "unabletoonline", receipt
        assert _host(h).counts["0800"] == 0
        assert await h.terminal.journal.count_pending() == 0
