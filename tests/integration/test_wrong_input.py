"""The manual's spellings and wrong-input statuses a cash register written
from it relies on, tried from outside against `cardcore serve --simulator`:
`purchasewithcashback` and `pan`=`last` are understood; an SBP refund without
its `rrn` is `invalidarguments`; a manual entry without the right password is
`notauthorized` whatever its card data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cardcore.client import EcrClient
from cardcore.protocol.xmlcodec import Message, decode_error_stack
from tests.integration.conftest import (
    FAST,
    Served,
    ready_for_a_contact_sale,
    serving,
    sim,
)

CONFIG = FAST + "[transaction]\ndetection-timeout = 3\n"
PURCHASE = {"type": "purchase", "amount": "000000001500"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("input") / "data", config=CONFIG) as served:
        yield served


@pytest.fixture
def terminal(server: Served) -> Served:
    return ready_for_a_contact_sale(server)


async def transaction(
    served: Served, attrs: dict[str, str] | None = None, **params: str
) -> Message:
    body = {k.replace("_", "-"): v for k, v in params.items()}
    return await EcrClient(served.host, served.port, timeout=60).command("transaction", body, attrs)


def errors(answer: Message) -> str:
    return " | ".join(decode_error_stack(answer.body.get("error-stack")))


async def test_purchasewithcashback_is_purchase_with_cashback(terminal: Served) -> None:
    answer = await transaction(
        terminal, type="purchasewithcashback", amount="000000002000", amount_other="000000000500"
    )
    assert answer.status == "ok", errors(answer)
    receipt = answer.body["receipt"]
    assert receipt["tstatus"] == "approved"
    assert (receipt["amount-authorized"], receipt["amount-other"]) == (
        "000000002500",
        "000000000500",
    )
    # Without the cashback it is refused as the Appendix B spelling would be.
    answer = await transaction(terminal, type="purchasewithcashback", amount="000000002000")
    assert answer.status == "invalidarguments" and "amount-other" in errors(answer)


async def test_pan_last_voids_the_last_transaction_without_the_card(terminal: Served) -> None:
    purchase = (await transaction(terminal, **PURCHASE)).body["receipt"]
    assert purchase["tstatus"] == "approved"
    sim(terminal.data_dir, "remove")  # no card: the void must not look for one
    void = await transaction(terminal, type="void", pan="last")
    assert void.status == "ok", errors(void)
    receipt = void.body["receipt"]
    assert receipt["type"] == "purchasereversal" and receipt["tstatus"] == "approved"
    assert receipt["amount-authorized"] == purchase["amount-authorized"]
    assert receipt["rrn"] == purchase["rrn"]
    again = await transaction(terminal, type="void", pan="last", number="last")
    assert again.status == "notreversible"  # the last is now the void itself
    for bad in ({"type": "void", "pan": "last", "number": "1"}, {**PURCHASE, "pan": "last"}):
        answer = await transaction(terminal, **bad)
        assert answer.status == "invalidarguments", (bad, errors(answer))


async def test_sbp_refund_without_rrn_is_invalidarguments(terminal: Served) -> None:
    answer = await transaction(
        terminal, {"force-sbp": "true"}, type="refund", amount="000000001500"
    )
    assert answer.status == "invalidarguments"
    assert "rrn" in errors(answer)


@pytest.mark.parametrize(
    "card",
    [
        {"pan": "4761739001010011", "expired": "3412"},  # fails Luhn
        {"pan": "47617390010100", "expired": "0101"},  # expired long ago
        {"pan": "12ab", "expired": "xx", "cardholder": "X" * 40},  # not even well-formed
    ],
)
@pytest.mark.parametrize("password", [None, "87654321", "1"])
async def test_manual_entry_checks_the_password_before_the_card(
    terminal: Served, card: dict[str, str], password: str | None
) -> None:
    params = {**PURCHASE, **card}
    if password is not None:
        params["password"] = password
    answer = await transaction(terminal, **params)
    assert answer.status == "notauthorized", errors(answer)
    said = errors(answer).lower()
    for word in ("pan", "luhn", "expir", "cardholder", "month"):
        assert word not in said
    # With the right password the same card data is judged (and the
    # failures above do not add up to a lock-out).
    answer = await transaction(terminal, **{**params, "password": "12345678"})
    assert answer.status == "invalidarguments", errors(answer)
