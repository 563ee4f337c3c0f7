"""Case tables: processing restrictions (Book 3 10.4), terminal risk management (10.6),
terminal action analysis (10.7)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kernel.config import PurchaseKind, TransactionType
from kernel.contact.action import ActionCodes, default_action_analysis, terminal_action_analysis
from kernel.contact.restrictions import RestrictionFacts, processing_restrictions
from kernel.contact.risk import RiskFacts, VelocityFacts, random_selection, risk_bits
from kernel.outcome import CryptogramType as C
from kernel.tvr import Tvr
from kernel.tvr import TvrBit as T

H = bytes.fromhex

# --- processing restrictions ------------------------------------------------------------

R = RestrictionFacts(
    today=dt.date(2024, 6, 15),
    expiration_date=H("261231"),
    terminal_application_version=H("008C"),
    terminal_country=H("0643"),
    transaction_type=TransactionType.PURCHASE,
)
RESTRICTIONS = [
    ("nothing-to-check", {}, set()),
    ("same-version", {"card_application_version": H("008C")}, set()),
    (
        "different-version",
        {"card_application_version": H("0096")},
        {T.DIFFERENT_APPLICATION_VERSIONS},
    ),
    ("expired-yesterday", {"expiration_date": H("240614")}, {T.EXPIRED_APPLICATION}),
    ("expires-today", {"expiration_date": H("240615")}, set()),
    ("expiry-1999-window", {"expiration_date": H("991231")}, {T.EXPIRED_APPLICATION}),
    ("expiry-malformed", {"expiration_date": H("24AA15")}, {T.EXPIRED_APPLICATION}),
    ("effective-tomorrow", {"effective_date": H("240616")}, {T.APPLICATION_NOT_YET_EFFECTIVE}),
    ("effective-today", {"effective_date": H("240615")}, set()),
    ("auc-all", {"usage_control": H("FFC0"), "issuer_country": H("0643")}, set()),
    ("auc-not-at-terminals", {"usage_control": H("FEC0")}, {T.SERVICE_NOT_ALLOWED}),
    ("auc-atm-only-at-atm", {"usage_control": H("0200"), "is_atm": True}, set()),
    ("auc-not-at-atm", {"usage_control": H("FDC0"), "is_atm": True}, {T.SERVICE_NOT_ALLOWED}),
    ("auc-no-country-skips-the-rest", {"usage_control": H("0100")}, set()),
    ("auc-domestic-goods", {"usage_control": H("2100"), "issuer_country": H("0643")}, set()),
    (
        "auc-domestic-goods-denied",
        {"usage_control": H("1D00"), "issuer_country": H("0643")},
        {T.SERVICE_NOT_ALLOWED},
    ),
    ("auc-international-goods", {"usage_control": H("1100"), "issuer_country": H("0840")}, set()),
    (
        "auc-international-goods-denied",
        {"usage_control": H("2100"), "issuer_country": H("0840")},
        {T.SERVICE_NOT_ALLOWED},
    ),
    (
        "auc-domestic-services",
        {
            "usage_control": H("0900"),
            "issuer_country": H("0643"),
            "purchase_kind": PurchaseKind.SERVICES,
        },
        set(),
    ),
    (
        "auc-services-denied",
        {
            "usage_control": H("2100"),
            "issuer_country": H("0643"),
            "purchase_kind": PurchaseKind.SERVICES,
        },
        {T.SERVICE_NOT_ALLOWED},
    ),
    (
        "auc-international-services",
        {
            "usage_control": H("0500"),
            "issuer_country": H("0840"),
            "purchase_kind": PurchaseKind.SERVICES,
        },
        set(),
    ),
    (
        "auc-domestic-cash",
        {
            "usage_control": H("8100"),
            "issuer_country": H("0643"),
            "transaction_type": TransactionType.CASH,
        },
        set(),
    ),
    (
        "auc-domestic-cash-denied",
        {
            "usage_control": H("4100"),
            "issuer_country": H("0643"),
            "transaction_type": TransactionType.CASH,
        },
        {T.SERVICE_NOT_ALLOWED},
    ),
    (
        "auc-international-cash",
        {
            "usage_control": H("4100"),
            "issuer_country": H("0840"),
            "transaction_type": TransactionType.CASH,
        },
        set(),
    ),
    (
        "auc-domestic-cashback",
        {
            "usage_control": H("2180"),
            "issuer_country": H("0643"),
            "transaction_type": TransactionType.PURCHASE_WITH_CASHBACK,
        },
        set(),
    ),
    (
        "auc-domestic-cashback-denied",
        {
            "usage_control": H("2140"),
            "issuer_country": H("0643"),
            "transaction_type": TransactionType.PURCHASE_WITH_CASHBACK,
        },
        {T.SERVICE_NOT_ALLOWED},
    ),
    (
        "auc-international-cashback",
        {"usage_control": H("1140"), "issuer_country": H("0840"), "amount_other": 5},
        set(),
    ),
    (
        "auc-refund-only-terminal-check",
        {
            "usage_control": H("0100"),
            "issuer_country": H("0643"),
            "transaction_type": TransactionType.REFUND,
        },
        set(),
    ),
    (
        "several",
        {
            "card_application_version": H("0001"),
            "expiration_date": H("200101"),
            "effective_date": H("300101"),
        },
        {T.DIFFERENT_APPLICATION_VERSIONS, T.EXPIRED_APPLICATION, T.APPLICATION_NOT_YET_EFFECTIVE},
    ),
]


@pytest.mark.parametrize(
    ("change", "bits"), [c[1:] for c in RESTRICTIONS], ids=[c[0] for c in RESTRICTIONS]
)
def test_processing_restrictions(change: dict[str, object], bits: set[T]) -> None:
    assert processing_restrictions(dataclasses.replace(R, **change)) == bits  # type: ignore[arg-type]


# --- terminal risk management ------------------------------------------------------------

K = RiskFacts(
    amount=1000,
    split_sales_amount=0,
    floor_limit=5000,
    threshold=2000,
    target_percent=20,
    max_target_percent=60,
    random_number=99,
)
RISK = [
    ("below-floor", {}, set()),
    ("floor-equal", {"amount": 5000}, {T.FLOOR_LIMIT_EXCEEDED}),
    ("split-sales", {"split_sales_amount": 4000}, {T.FLOOR_LIMIT_EXCEEDED}),
    ("zero-floor", {"floor_limit": 0, "amount": 0}, {T.FLOOR_LIMIT_EXCEEDED}),
    ("random-below-threshold-hit", {"random_number": 20}, {T.RANDOMLY_SELECTED_ONLINE}),
    ("random-below-threshold-miss", {"random_number": 21}, set()),
    (
        "random-interpolated-hit",
        {"amount": 3500, "random_number": 40},
        {T.RANDOMLY_SELECTED_ONLINE},
    ),
    ("random-interpolated-miss", {"amount": 3500, "random_number": 41}, set()),
    ("random-not-offline-only", {"random_number": 1, "online_capable": False}, set()),
    ("random-not-above-floor", {"amount": 6000, "random_number": 1}, {T.FLOOR_LIMIT_EXCEEDED}),
    ("forced-online", {"force_online": True}, {T.MERCHANT_FORCED_ONLINE}),
    ("velocity-ok", {"velocity": VelocityFacts(3, 5, 10, 8)}, set()),
    (
        "velocity-lower",
        {"velocity": VelocityFacts(3, 5, 12, 8)},
        {T.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED},
    ),
    (
        "velocity-both",
        {"velocity": VelocityFacts(3, 5, 14, 8)},
        {T.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED, T.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED},
    ),
    ("velocity-new-card", {"velocity": VelocityFacts(3, 5, 2, 0)}, {T.NEW_CARD}),
    (
        "velocity-atc-missing",
        {"velocity": VelocityFacts(3, 5, None, 0)},
        {T.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED, T.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED},
    ),
    (
        "velocity-register-missing",
        {"velocity": VelocityFacts(3, 5, 7, None)},
        {T.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED, T.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED},
    ),
    (
        "velocity-atc-not-above-register",
        {"velocity": VelocityFacts(3, 5, 8, 8)},
        {T.LOWER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED, T.UPPER_CONSECUTIVE_OFFLINE_LIMIT_EXCEEDED},
    ),
]


@pytest.mark.parametrize(("change", "bits"), [c[1:] for c in RISK], ids=[c[0] for c in RISK])
def test_terminal_risk_management(change: dict[str, object], bits: set[T]) -> None:
    assert risk_bits(dataclasses.replace(K, **change)) == bits  # type: ignore[arg-type]


def test_random_selection_percentage_rises_to_the_maximum() -> None:
    # Just below the floor limit the percentage approaches the maximum target.
    near = dataclasses.replace(K, amount=4999, random_number=59)
    assert random_selection(near)
    assert not random_selection(dataclasses.replace(near, random_number=60))


# --- terminal action analysis ------------------------------------------------------------

Z, F = H("0000000000"), H("FFFFFFFFFF")
EXPIRED = Tvr.of(T.EXPIRED_APPLICATION)
TAA = [
    ("clean-tvr-tc", Tvr(), (Z, Z, Z), (None, None, None), True, False, C.TC),
    (
        "absent-iac-online-defaults-to-ones",
        EXPIRED,
        (Z, Z, Z),
        (None, None, None),
        True,
        False,
        C.ARQC,
    ),
    ("tac-denial", EXPIRED, (H("0040000000"), Z, Z), (None, Z, Z), True, False, C.AAC),
    ("iac-denial", EXPIRED, (Z, Z, Z), (H("0040000000"), Z, Z), True, False, C.AAC),
    ("tac-online", EXPIRED, (Z, H("0040000000"), Z), (Z, Z, Z), True, False, C.ARQC),
    ("no-online-match", EXPIRED, (Z, H("8000000000"), Z), (Z, Z, Z), True, False, C.TC),
    ("online-only-always-arqc", Tvr(), (Z, Z, Z), (Z, Z, Z), True, True, C.ARQC),
    ("offline-only-default-match", EXPIRED, (Z, F, Z), (Z, Z, None), False, False, C.AAC),
    ("offline-only-default-clean", EXPIRED, (Z, F, Z), (Z, Z, Z), False, False, C.TC),
    ("offline-only-tac-default", EXPIRED, (Z, Z, H("0040000000")), (Z, Z, Z), False, False, C.AAC),
]


@pytest.mark.parametrize(
    ("tvr", "tac", "iac", "online", "online_only", "expected"),
    [c[1:] for c in TAA],
    ids=[c[0] for c in TAA],
)
def test_terminal_action_analysis(
    tvr: Tvr,
    tac: tuple[bytes, bytes, bytes],
    iac: tuple[bytes | None, bytes | None, bytes | None],
    online: bool,
    online_only: bool,
    expected: C,
) -> None:
    result = terminal_action_analysis(
        tvr,
        ActionCodes(*tac),
        ActionCodes.issuer(*iac),
        online_capable=online,
        online_only=online_only,
    )
    assert result is expected


def test_refund_asks_for_aac_and_default_analysis() -> None:
    codes = ActionCodes(Z, Z, Z)
    refund = terminal_action_analysis(
        Tvr(), codes, codes, online_capable=True, transaction_type=TransactionType.REFUND
    )
    assert refund is C.AAC
    assert default_action_analysis(EXPIRED, codes, ActionCodes.issuer(None, None, None)) is C.AAC
    assert default_action_analysis(EXPIRED, codes, codes) is C.TC
