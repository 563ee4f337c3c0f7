"""Cardholder verification (Book 3 10.5, Annex C3): CVM list evaluation as a case table."""

from __future__ import annotations

import dataclasses

import pytest

from kernel.config import TransactionType
from kernel.contact.cvm import CvmFacts, PinResult, cardholder_verification, parse_cvm_list
from kernel.tvr import TvrBit as T

H = bytes.fromhex
XY = "000003E800001388"  # X = 1000, Y = 5000


class Actions:
    def __init__(self, results: list[PinResult]) -> None:
        self.results = list(results)
        self.calls: list[str] = []

    async def offline_pin(self, *, enciphered: bool) -> PinResult:
        self.calls.append("enciphered" if enciphered else "plaintext")
        return self.results.pop(0)

    async def online_pin(self) -> PinResult:
        self.calls.append("online")
        return self.results.pop(0)


BASE = CvmFacts(
    capabilities=H("E0F8C8"),  # plaintext, online, signature, enciphered, no CVM
    amount=500,
    transaction_type=TransactionType.PURCHASE,
    transaction_currency=H("0643"),
    application_currency=H("0643"),
    attended=True,
)
OK, BYP, PAD, LIM, NA = (
    PinResult.OK,
    PinResult.BYPASSED,
    PinResult.PIN_PAD_ERROR,
    PinResult.TRY_LIMIT_EXCEEDED,
    PinResult.UNAVAILABLE,
)

# id, rules, facts changes, PIN results, expected 9F34, TVR bits, calls, signature
CASES = [
    ("no-cvm-always", "1F00", {}, [], "1F0002", set(), [], False),
    (
        "no-cvm-unsupported",
        "1F00",
        {"capabilities": H("E0F0C8")},
        [],
        "1F0001",
        {T.CARDHOLDER_VERIFICATION_FAILED},
        [],
        False,
    ),
    (
        "plaintext-unsupported-cond03-skipped",
        "0103",
        {"capabilities": H("E078C8")},
        [],
        "3F0001",
        {T.CARDHOLDER_VERIFICATION_FAILED},
        [],
        False,
    ),
    (
        "plaintext-unsupported-always",
        "0100",
        {"capabilities": H("E078C8")},
        [],
        "010001",
        {T.CARDHOLDER_VERIFICATION_FAILED, T.PIN_PAD_NOT_WORKING},
        [],
        False,
    ),
    ("plaintext-ok", "41031E03", {}, [OK], "410302", set(), ["plaintext"], False),
    ("unattended-cash-not-met", "41011E03", {}, [], "1E0300", set(), [], True),
    (
        "bypass-then-signature",
        "41031E03",
        {},
        [BYP],
        "1E0300",
        {T.PIN_NOT_ENTERED},
        ["plaintext"],
        True,
    ),
    (
        "bypass-covers-later-pins",
        "410342031E03",
        {},
        [BYP],
        "1E0300",
        {T.PIN_NOT_ENTERED},
        ["plaintext"],
        True,
    ),
    (
        "bypass-once-only-by-option",
        "410342031E03",
        {"pin_bypass_applies_to_all": False},
        [BYP, OK],
        "420300",
        {T.PIN_NOT_ENTERED, T.ONLINE_PIN_ENTERED},
        ["plaintext", "online"],
        False,
    ),
    (
        "try-limit",
        "0103",
        {},
        [LIM],
        "010301",
        {T.PIN_TRY_LIMIT_EXCEEDED, T.CARDHOLDER_VERIFICATION_FAILED},
        ["plaintext"],
        False,
    ),
    (
        "try-limit-blocks-later-offline",
        "410344031F03",
        {},
        [LIM],
        "1F0302",
        {T.PIN_TRY_LIMIT_EXCEEDED},
        ["plaintext"],
        False,
    ),
    (
        "pin-pad-error",
        "41031F03",
        {},
        [PAD],
        "1F0302",
        {T.PIN_PAD_NOT_WORKING},
        ["plaintext"],
        False,
    ),
    ("online-pin", "0203", {}, [OK], "020300", {T.ONLINE_PIN_ENTERED}, ["online"], False),
    (
        "online-pin-bypassed",
        "0203",
        {},
        [BYP],
        "020301",
        {T.PIN_NOT_ENTERED, T.CARDHOLDER_VERIFICATION_FAILED},
        ["online"],
        False,
    ),
    ("plaintext-and-signature", "0300", {}, [OK], "030000", set(), ["plaintext"], True),
    ("enciphered-and-signature", "0503", {}, [OK], "050300", set(), ["enciphered"], True),
    (
        "combined-needs-signature-support",
        "0503",
        {"capabilities": H("E0D8C8")},
        [],
        "3F0001",
        {T.CARDHOLDER_VERIFICATION_FAILED},
        [],
        False,
    ),
    ("enciphered-unavailable-next", "44031F03", {}, [NA], "1F0302", set(), ["enciphered"], False),
    ("fail-cvm", "0000", {}, [], "000001", {T.CARDHOLDER_VERIFICATION_FAILED}, [], False),
    ("fail-cvm-apply-next", "40001F00", {}, [], "1F0002", set(), [], False),
    (
        "unrecognised",
        "2200",
        {},
        [],
        "220001",
        {T.UNRECOGNISED_CVM, T.CARDHOLDER_VERIFICATION_FAILED},
        [],
        False,
    ),
    ("unrecognised-apply-next", "62001F00", {}, [], "1F0002", {T.UNRECOGNISED_CVM}, [], False),
    ("under-x", "41061F00", {}, [OK], "410602", set(), ["plaintext"], False),
    ("not-under-x", "41061F00", {"amount": 1000}, [], "1F0002", set(), [], False),
    ("over-x", "41071F00", {"amount": 1001}, [OK], "410702", set(), ["plaintext"], False),
    ("under-y", "41081F00", {"amount": 4999}, [OK], "410802", set(), ["plaintext"], False),
    ("over-y-not-met", "41091F00", {"amount": 5000}, [], "1F0002", set(), [], False),
    (
        "x-needs-app-currency",
        "41061F00",
        {"application_currency": H("0978")},
        [],
        "1F0002",
        set(),
        [],
        False,
    ),
    (
        "x-app-currency-absent",
        "41061F00",
        {"application_currency": None},
        [],
        "1F0002",
        set(),
        [],
        False,
    ),
    (
        "cashback",
        "42051F00",
        {"transaction_type": TransactionType.PURCHASE_WITH_CASHBACK},
        [OK],
        "420500",
        {T.ONLINE_PIN_ENTERED},
        ["online"],
        False,
    ),
    (
        "cashback-by-amount-other",
        "42051F00",
        {"amount_other": 100},
        [OK],
        "420500",
        {T.ONLINE_PIN_ENTERED},
        ["online"],
        False,
    ),
    (
        "manual-cash",
        "41041F00",
        {"transaction_type": TransactionType.CASH},
        [OK],
        "410402",
        set(),
        ["plaintext"],
        False,
    ),
    (
        "unattended-cash",
        "42011F00",
        {"transaction_type": TransactionType.CASH, "attended": False},
        [OK],
        "420100",
        {T.ONLINE_PIN_ENTERED},
        ["online"],
        False,
    ),
    ("not-cash-not-cashback", "41021F00", {}, [OK], "410202", set(), ["plaintext"], False),
    (
        "not-cash-not-cashback-with-cash",
        "41021F00",
        {"transaction_type": TransactionType.CASH},
        [],
        "1F0002",
        set(),
        [],
        False,
    ),
    ("unknown-condition", "010A", {}, [], "3F0001", {T.CARDHOLDER_VERIFICATION_FAILED}, [], False),
    (
        "payment-system-condition",
        "0180",
        {},
        [],
        "3F0001",
        {T.CARDHOLDER_VERIFICATION_FAILED},
        [],
        False,
    ),
    (
        "signature-unsupported",
        "1E00",
        {"capabilities": H("E0D8C8")},
        [],
        "1E0001",
        {T.CARDHOLDER_VERIFICATION_FAILED},
        [],
        False,
    ),
    (
        "failed-combined-owes-no-signature",
        "0300",
        {},
        [LIM],
        "030001",
        {T.PIN_TRY_LIMIT_EXCEEDED, T.CARDHOLDER_VERIFICATION_FAILED},
        ["plaintext"],
        False,
    ),
]


@pytest.mark.parametrize(
    ("rules", "change", "pins", "results", "bits", "calls", "signature"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_cvm_case_table(
    rules: str,
    change: dict[str, object],
    pins: list[PinResult],
    results: str,
    bits: set[T],
    calls: list[str],
    signature: bool,
) -> None:
    actions = Actions(pins)
    facts = dataclasses.replace(BASE, **change)  # type: ignore[arg-type]
    out = await cardholder_verification(H("3C00"), H(XY + rules), facts, actions)
    assert out.results == H(results)
    assert out.tvr == bits
    assert actions.calls == calls
    assert out.signature_required is signature
    assert out.performed


async def test_cvm_not_supported_by_aip() -> None:
    out = await cardholder_verification(H("2C00"), H(XY + "1F00"), BASE, Actions([]))
    assert (out.performed, out.results, out.tvr) == (False, H("3F0000"), set())


@pytest.mark.parametrize("cvm_list", [None, XY, "0000"])
async def test_cvm_list_missing_or_empty(cvm_list: str | None) -> None:
    out = await cardholder_verification(
        H("3C00"), None if cvm_list is None else H(cvm_list), BASE, Actions([])
    )
    assert (out.performed, out.results, out.tvr) == (False, H("3F0000"), {T.ICC_DATA_MISSING})


def test_parse_cvm_list() -> None:
    parsed = parse_cvm_list(H(XY + "4103" + "1E03"))
    assert parsed is not None
    assert (parsed.amount_x, parsed.amount_y) == (1000, 5000)
    assert [(r.code, r.condition, r.apply_next) for r in parsed.rules] == [
        (0x41, 0x03, True),
        (0x1E, 0x03, False),
    ]
    assert parse_cvm_list(H(XY + "41")) is None
