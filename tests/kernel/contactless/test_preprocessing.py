"""Entry Point pre-processing (Book B 3.1.1) as a case table, plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardcore.protocol.status import status_of
from kernel.config import TransactionRequest, TransactionType
from kernel.contactless import (
    KERNEL_2,
    KERNEL_3,
    AlternateInterface,
    ContactlessAid,
    ContactlessConfig,
    OutcomeKind,
    UiStatus,
)
from kernel.contactless.entry import preprocess_combination
from kernel.outcome import Decision
from kernel.services import MessageId
from tests.kernel.contactless.helpers import TERMINAL, H, entry_point

VISA = H("A0000000031010")


def combo(**kw: object) -> ContactlessAid:
    base: dict[str, object] = {"ttq": H("36004000")}
    base.update(kw)
    return ContactlessAid(VISA, KERNEL_3, **base)  # type: ignore[arg-type]


# limits/flags, amount -> not allowed, status check, zero, floor exceeded, CVM exceeded, TTQ
CASES = [
    # nothing configured: everything allowed, TTQ byte 2 b8/b7 cleared (3.1.1.2)
    ({"ttq": H("36C04000")}, 1500, False, False, False, False, False, "36004000"),
    # 3.1.1.5: amount >= RCTL -> not allowed (equal counts)
    ({"transaction_limit": 1500}, 1500, True, False, False, False, False, "36004000"),
    ({"transaction_limit": 1501}, 1500, False, False, False, False, False, "36004000"),
    # 3.1.1.6: amount > RCFL -> online cryptogram required (equal does not count)
    ({"floor_limit": 1500}, 1500, False, False, False, False, False, "36004000"),
    ({"floor_limit": 1499}, 1500, False, False, False, True, False, "36804000"),
    # 3.1.1.7: no RCFL: the terminal floor limit 9F1B
    ({"terminal_floor_limit": 1000}, 1500, False, False, False, True, False, "36804000"),
    (
        {"floor_limit": 2000, "terminal_floor_limit": 1000},
        1500,
        False,
        False,
        False,
        False,
        False,
        "36004000",
    ),
    # 3.1.1.8: amount >= CVM limit -> CVM required (equal counts)
    ({"cvm_required_limit": 1500}, 1500, False, False, False, False, True, "36404000"),
    ({"cvm_required_limit": 1501}, 1500, False, False, False, False, False, "36004000"),
    # 3.1.1.3: status check = one unit of currency (100 minor units)
    ({"status_check": True}, 100, False, True, False, False, False, "36804000"),
    ({"status_check": True}, 101, False, False, False, False, False, "36004000"),
    ({"status_check": False}, 100, False, False, False, False, False, "36004000"),
    # 3.1.1.4 / 3.1.1.11: zero amount
    ({"zero_amount_allowed": False}, 0, True, False, False, False, False, "36004000"),
    ({"zero_amount_allowed": True}, 0, False, False, True, False, False, "36804000"),
    ({"ttq": H("3E004000")}, 0, True, False, True, False, False, "3E004000"),  # offline-only
    # everything at once
    (
        {"floor_limit": 0, "cvm_required_limit": 0, "status_check": True},
        100,
        False,
        True,
        False,
        True,
        True,
        "36C04000",
    ),
]


@pytest.mark.parametrize(
    ("config", "amount", "not_allowed", "status", "zero", "floor", "cvm", "ttq"), CASES
)
def test_preprocessing(
    config: dict[str, object],
    amount: int,
    not_allowed: bool,
    status: bool,
    zero: bool,
    floor: bool,
    cvm: bool,
    ttq: str,
) -> None:
    ind = preprocess_combination(combo(**config), amount)
    assert (
        ind.not_allowed,
        ind.status_check_requested,
        ind.zero_amount,
        ind.floor_limit_exceeded,
        ind.cvm_required_limit_exceeded,
    ) == (not_allowed, status, zero, floor, cvm)
    assert ind.ttq == H(ttq)


def test_a_combination_without_ttq_gets_no_ttq() -> None:
    ind = preprocess_combination(ContactlessAid(H("A0000000041010"), KERNEL_2, floor_limit=0), 5)
    assert ind.ttq is None and ind.floor_limit_exceeded


amounts = st.integers(min_value=0, max_value=10**9)
limits = st.none() | st.integers(min_value=0, max_value=10**9)


@settings(max_examples=200, deadline=None)
@given(amount=amounts, rctl=limits, rcfl=limits, cvm=limits, zero_ok=st.booleans())
def test_preprocessing_properties(
    amount: int, rctl: int | None, rcfl: int | None, cvm: int | None, zero_ok: bool
) -> None:
    c = combo(
        transaction_limit=rctl,
        floor_limit=rcfl,
        cvm_required_limit=cvm,
        zero_amount_allowed=zero_ok,
    )
    ind = preprocess_combination(c, amount)
    assert ind.ttq is not None
    if rctl is not None and amount >= rctl:
        assert ind.not_allowed
    if amount and (rctl is None or amount < rctl):
        assert not ind.not_allowed
    assert bool(ind.ttq[1] & 0x40) == (cvm is not None and amount >= cvm)
    online = (rcfl is not None and amount > rcfl) or (amount == 0 and zero_ok)
    assert bool(ind.ttq[1] & 0x80) == online
    assert ind.ttq[0] == 0x36 and ind.ttq[2:] == H("4000")  # other bits untouched
    # the same input always gives the same indicators (pure)
    assert preprocess_combination(c, amount) == ind


def test_nothing_allowed_is_try_another_interface() -> None:
    config = ContactlessConfig(TERMINAL, (combo(transaction_limit=1000),))
    pre = entry_point(config).preprocess(TransactionRequest(amount=1000, currency=643))
    assert not pre.allowed and pre.outcome is not None
    outcome = pre.outcome
    assert (
        outcome.decision is Decision.TERMINATED
        and status_of(outcome.error) == "tryanotherinterface"
    )
    params = outcome.contactless
    assert params is not None and params.kind is OutcomeKind.TRY_ANOTHER_INTERFACE
    assert params.ui_on_outcome is not None
    assert params.ui_on_outcome.message is MessageId.INSERT_OR_SWIPE_CARD
    assert params.ui_on_outcome.status is UiStatus.PROCESSING_ERROR
    assert params.alternate_interface is AlternateInterface.CONTACT_CHIP
    assert outcome.get(0x9F02) == H("000000001000")


def test_combinations_per_transaction_type() -> None:
    purchase_only = combo(transaction_types=frozenset({TransactionType.PURCHASE}))
    config = ContactlessConfig(TERMINAL, (purchase_only,))
    ep = entry_point(config)
    assert ep.preprocess(TransactionRequest(amount=5, currency=643)).allowed
    refund = TransactionRequest(amount=5, currency=643, transaction_type=TransactionType.REFUND)
    assert not ep.preprocess(refund).allowed
