"""What people read of the terminal's answers (cardcore.render): amounts, display
lines, the slip (never the full PAN), reports, the simulator's state."""

from __future__ import annotations

from typing import Any

import pytest

from cardcore.protocol.xmlcodec import Message, encode_error_stack
from cardcore.render import (
    SLIP_WIDTH,
    answer_lines,
    master_keys_lines,
    message_line,
    money,
    sim_lines,
    slip,
    xreport_lines,
)

RECEIPT: dict[str, Any] = {
    "header": {"line": ["CARDCORE SIMULATOR", "TEST ONLY"]},
    "tid": "10000001",
    "mid": "123456789012345",
    "seq": "000001",
    "type": "purchase",
    "tstatus": "approved",
    "amount-authorized": "000000015000",
    "amount-other": "000000005000",
    "currency": "643",
    "aid": "A0000000031010",
    "appname": "VISA",
    "pan": "************0010",
    "plain-text-pan": "4761739001010010",
    "rrn": "634119000001",
    "resp-code": "000",
    "resp-code-description": "Одобрено",
    "auth-number": "552933",
    "datetime": "261207195059",
    "tsi": "E800",
    "tvr": "0000008000",
    "pin-entered": "offline",
    "signature": "no",
    "decline-reason": None,
    "bank-name": "SIMULATOR BANK",
}


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("000000001050", None, "10.50"),
        ("000000001050", "643", "10.50 RUB"),
        (1050, "978", "10.50 EUR"),
        ("000000000005", "999", "0.05 999"),
        ("D000000001050", None, "10.50"),
        ("C000000000500", None, "-5.00"),
        (None, None, "0.00"),
        ("garbage", None, "garbage"),
    ],
)
def test_amounts_are_shown_in_major_units(amount: Any, currency: str | None, shown: str) -> None:
    assert money(amount, currency) == shown


def test_display_lines() -> None:
    body = {"code": "15", "msg": "ПРИЛОЖИТЕ КАРТУ", "value-qualifier": "10",
            "value": "000000015000", "currency": "643"}  # fmt: skip
    assert message_line(Message("display", body)) == "ПРИЛОЖИТЕ КАРТУ  150.00 RUB"
    plain = {**body, "msg": "ИЗВЛЕКИТЕ КАРТУ", "value-qualifier": "00"}
    assert message_line(Message("display", plain)) == "ИЗВЛЕКИТЕ КАРТУ"
    assert message_line(Message("display", {**plain, "msg": None})) is None  # display cleared
    assert message_line(Message("keepalive")) is None
    shown = Message("displayqrcode", {"status": "show", "url": "https://qr.nspk.ru/AD1"})
    assert message_line(shown) == "QR code for the customer: https://qr.nspk.ru/AD1"
    assert message_line(Message("displayqrcode", {"status": "hide"})) == "QR code removed"


def test_a_dex_message_shows_no_card_data() -> None:
    line = message_line(Message("dex", {"tag": {"id": "5A", "value": "4761739001010010"}}))
    assert line is not None and "4761" not in line


def test_the_slip() -> None:
    lines = slip(RECEIPT)
    text = "\n".join(lines)
    assert {len(line) for line in lines} == {SLIP_WIDTH + 2}  # a box of the printer's width
    assert "|VISA                  ************0010|" in lines
    assert "|AMOUNT                      150.00 RUB|" in lines
    assert "|INCL. CASHBACK               50.00 RUB|" in lines
    assert "|RESPONSE                  000 Одобрено|" in lines
    assert "|PURCHASE           07.12.2026 19:50:59|" in lines
    assert "APPROVED" in text and "SIMULATOR BANK" in text
    assert "4761739001010010" not in text  # the full PAN of an encrypted answer


def test_a_declined_slip_says_why() -> None:
    receipt = {**RECEIPT, "tstatus": "declined", "resp-code": "005",
               "decline-reason": "onlinedeclined"}  # fmt: skip
    del receipt["resp-code-description"]
    text = "\n".join(slip(receipt))
    assert "DECLINED" in text and "onlinedeclined" in text
    assert "005 Do not honour" in text  # the ISO 8583 table's words when the receipt has none


def test_an_answer_with_a_slip_or_an_error() -> None:
    approved = Message("transaction", {"status": "ok", "receipt": RECEIPT})
    assert answer_lines(approved) == slip(RECEIPT)
    failed = Message(
        "transaction",
        {"status": "notdetected", "error-stack": encode_error_stack(["no card within 3 s"])},
    )
    assert answer_lines(failed) == [
        "transaction: notdetected (card detection error)",
        "error: no card within 3 s",
    ]
    assert answer_lines(Message("logout", {"status": "ok"})) == [
        "logout: ok (operation completed successfully)"
    ]


def test_the_master_keys_receipt() -> None:
    """loadmasterkeys' receipt (the manual's example, with a key that failed):
    the check values and each key's result, never a transaction slip."""
    receipt = {
        "pkcv": "123456",
        "mkcv": "none",
        "keys": {
            "key": [
                {"type": "10", "algorithm": "01", "result": "success", "kcv": "B5A146"},
                {"type": "05", "algorithm": "01", "result": "success", "kcv": "123456",
                 "kcv-method": "tdes-encrypt-zeros"},
                {"type": "03", "algorithm": "01", "result": "failed",
                 "reason": "key server: KCV of key 03 does not match"},
                {"type": "7F", "result": "failed"},
            ]
        },
    }  # fmt: skip
    failed = Message(
        "loadmasterkeys",
        {"status": "verificationfailed", "receipt": receipt,
         "error-stack": encode_error_stack(["key 03: key server: KCV of key 03 does not match"])},
    )  # fmt: skip
    assert answer_lines(failed) == [
        "MASTER KEYS",
        "  PIN master key (pkcv)  123456",
        "  MAC master key (mkcv)  none",
        "KEYS FROM THE KEY SERVER (4)",
        "  10 KMKM            success  kcv B5A146",
        "  05 PIN master key  success  kcv 123456 (tdes-encrypt-zeros)",
        "  03 MAC master key  failed   key server: KCV of key 03 does not match",
        "  7F key             failed",
        "loadmasterkeys: verificationfailed (checksum or certificate verification failed)",
        "error: key 03: key server: KCV of key 03 does not match",
    ]
    one = {"pkcv": "123456", "mkcv": "789ABC", "keys": {"key": receipt["keys"]["key"][0]}}
    lines = answer_lines(Message("loadmasterkeys", {"status": "ok", "receipt": one}))
    assert lines[-2:] == ["KEYS FROM THE KEY SERVER (1)", "  10 KMKM  success  kcv B5A146"]
    assert master_keys_lines({}) == ["MASTER KEYS", "KEYS FROM THE KEY SERVER (0)"]


def test_a_clear_in_two_currencies() -> None:
    cutover = {"resp-code": "000", "approval-number": "123456", "rrn": "633218000001"}
    rub = {
        **cutover,
        "orig-amount": "D000000010000",
        "amount": "D000000010000",
        "datetime": "261207195216",
        "tid": "10000001",
        "mid": "123456789012345",
        "cur": "643",
    }
    usd = {**cutover, "orig-amount": "C000000002000", "datetime": "261207195216",
           "tid": "10000001", "mid": "123456789012345", "cur": "840"}  # fmt: skip
    lines = answer_lines(Message("clear", {"status": "ok", "sreport": [rub, usd]}))
    assert lines.count("JOURNAL CLEARED") == 2
    totals = [" ".join(x.split()) for x in lines if "total" in x]
    assert totals == [
        "terminal's total 100.00 RUB",
        "host's total 100.00 RUB",
        "terminal's total -20.00 USD",
    ]


def test_an_x_report() -> None:
    xreport = {
        "header": {"mid": "123456789012345", "tid": "10000001", "cur": "643",
                   "title": {"line1": "SHOP"}, "time": "261207195216"},
        "transactions": {"t": {"status": "approved", "type": "purchase", "seq": "000001",
                               "aa": "000000001050", "time": "261207195216",
                               "pan": "************0010", "arc": "000"}},
        "totals": {"card-type": {"rid": "A000000003", "name": "VISA", "purchase-count": "1",
                                 "purchase-sum": "000000001050", "refund-count": "0",
                                 "refund-sum": "000000000000",
                                 "total-card-sum": "D000000001050", "total-card-count": "1"}},
        "grand-totals": {"purchase-total-count": "1", "purchase-total-sum": "000000001050",
                         "refund-total-count": "0", "refund-total-sum": "000000000000",
                         "total-sum": "D000000001050", "total-count": "1"},
    }  # fmt: skip
    lines = xreport_lines(xreport)
    assert lines[0] == "X-REPORT  07.12.2026 19:52:16  RUB"
    assert "TRANSACTIONS (1)" in lines
    (line,) = [x for x in lines if x.strip().startswith("000001")]
    assert "10.50" in line and "************0010" in line and "approved" in line
    assert "VISA (A000000003)" in lines
    assert not any(x.strip().startswith("refund") for x in lines)  # nothing refunded: not listed
    totals = [x.split() for x in lines if x.strip().startswith("total")]
    assert totals == [["total", "1", "10.50"], ["total", "1", "10.50"]]


def test_simulator_answers() -> None:
    assert sim_lines("present", {"field": [["cda", "contact"]]}) == ["in the field: cda (contact)"]
    assert sim_lines("remove", {}) == ["no card in the field"]
    assert sim_lines("sbp", {"mode": "pay"}) == ["SBP agent simulator: pay"]
    assert sim_lines("host", {"mode": "approve", "mismatch": True}) == [
        "acquirer host simulator:",
        "  mode      approve",
        "  mismatch  yes",
    ]
    ledger = {
        "transactions": [{"type": "purchase", "amount": 1050, "reversed": 0, "response": "00",
                          "rrn": "634119000001", "stan": "000001", "tid": "10000001"}],
        "closed-batches": [],
    }  # fmt: skip
    lines = sim_lines("ledger", ledger)
    assert lines[0] == "booked transactions: 1"
    assert "10.50" in lines[1] and "634119000001" in lines[1]


def test_other_answers_show_their_fields_but_not_the_token() -> None:
    keys = {"key": [{"type": "05", "kcv": "ABC123"}, {"type": "03", "kcv": "DEF456"}]}
    loaded = Message("loadmasterkeys", {"status": "ok", "pkcv": "ABC123", "keys": keys})
    assert answer_lines(loaded) == [
        "pkcv  ABC123",
        "keys  type 05, kcv ABC123",
        "keys  type 03, kcv DEF456",
    ]
    login = Message("login", {"status": "ok", "token": "D18F0898A4729A37570BE86B2EFB2B13"})
    assert answer_lines(login) == ["login: ok (operation completed successfully)"]


def test_parameters_show_the_config_server_certificate_date_once() -> None:
    """The manual's example names it cccert, its field list ccert; the
    terminal sends both (docs/protocol-decisions.md): one line when they
    agree, each under its own label when they do not."""
    body = {"status": "ok", "parameters": {"sn": "000000000001", "cccert": "24.03.2027",
            "ccert": "24.03.2027", "kccert": "24.03.2027"}}  # fmt: skip
    lines = answer_lines(Message("getparameters", body))
    shown = [line for line in lines if "config server client certificate" in line]
    assert len(shown) == 1 and shown[0].endswith("24.03.2027")
    assert any(line.startswith("key server client certificate expires") for line in lines)
    body["parameters"]["ccert"] = "none"
    lines = answer_lines(Message("getparameters", body))
    labels = [line.rsplit(maxsplit=1)[0] for line in lines]
    assert len(set(labels)) == len(labels) == 4
    assert any("(ccert)" in line and line.endswith("none") for line in lines)
