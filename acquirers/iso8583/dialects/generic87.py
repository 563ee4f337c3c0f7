# Strategy: the generic ISO 8583:1987 terminal dialect with a binary bitmap
# and BCD numerics, as most Russian processing centres speak it to POS
# terminals (the layout of jPOS's "binary" packagers and of the Programmer's
# Guide sample, tests/vectors/iso8583.txt 1a/1b). It is pure data:
# - MTI 2 bytes BCD; primary/secondary bitmaps 8 bytes binary; no header
#   (the 2-byte length frame is the transport's, see framing.py).
# - n fields BCD, fixed ones left-padded with 0 to whole bytes, LL/LLL ones
#   with a BCD length counted in digits and right-padded with F; z (track 2)
#   likewise with D as the separator; ans fields ASCII with a BCD length of
#   1 byte (LL) or 2 bytes (LLL); b fields raw bytes with a BCD byte count.
# - MAC: field 64, or 128 when a secondary bitmap is present, ISO 9797-1
#   algorithm 3 (retail MAC, padding method 1) under the TAK over the whole
#   message from the MTI up to the MAC field; carried by every financial,
#   reversal, advice, batch-upload and reconciliation message and their
#   responses (the network management 08xx messages carry none: the key
#   exchange is what delivers the TAK).
# Field choices beyond ISO 8583:1987 field names (private fields 60, 120 and
# the codes of fields 53/70) are documented at `CONVENTIONS` below.
from __future__ import annotations

from acquirers.iso8583.dialect import (
    Conventions,
    Dialect,
    FieldDef,
    MacRule,
    Sensitivity,
    TotalsFields,
    ans,
    b,
    n,
    z,
)

__all__ = ["DIALECT"]

_FIELDS: tuple[FieldDef, ...] = (
    n(2, 19, "Primary account number", var=2, sensitivity=Sensitivity.PAN),
    n(3, 6, "Processing code"),
    n(4, 12, "Amount, transaction"),
    n(7, 10, "Transmission date and time (MMDDhhmmss, UTC)"),
    n(11, 6, "System trace audit number"),
    n(12, 6, "Time, local transaction (hhmmss)"),
    n(13, 4, "Date, local transaction (MMDD)"),
    n(14, 4, "Date, expiration (YYMM)", sensitivity=Sensitivity.SECRET),
    n(15, 4, "Date, settlement (MMDD)"),
    n(22, 3, "Point of service entry mode"),
    n(23, 3, "Card sequence number"),
    n(24, 3, "Network international identifier"),
    n(25, 2, "Point of service condition code"),
    n(32, 11, "Acquiring institution identification code", var=2),
    z(35, 37, "Track 2 data"),
    ans(37, 12, "Retrieval reference number"),
    ans(38, 6, "Authorization identification response"),
    ans(39, 2, "Response code"),
    ans(41, 8, "Card acceptor terminal identification"),
    ans(42, 15, "Card acceptor identification code"),
    ans(43, 40, "Card acceptor name/location"),
    ans(44, 25, "Additional response data", var=2),
    ans(48, 999, "Additional data, private", var=3),
    n(49, 3, "Currency code, transaction"),
    b(52, 8, "PIN data", sensitivity=Sensitivity.SECRET),
    n(53, 16, "Security related control information"),
    ans(54, 120, "Additional amounts", var=3),
    b(55, 999, "ICC system related data", var=3),
    ans(60, 999, "Private: batch data", var=3),
    ans(61, 999, "Private: terminal data", var=3),
    ans(62, 999, "Private: invoice/ECR reference", var=3),
    ans(63, 999, "Private: additional data", var=3),
    b(64, 8, "Message authentication code", sensitivity=Sensitivity.SECRET),
    n(70, 3, "Network management information code"),
    n(74, 10, "Credits, number"),
    n(75, 10, "Credits, reversal number"),
    n(76, 10, "Debits, number"),
    n(77, 10, "Debits, reversal number"),
    n(86, 16, "Credits, amount"),
    n(87, 16, "Credits, reversal amount"),
    n(88, 16, "Debits, amount"),
    n(89, 16, "Debits, reversal amount"),
    n(90, 42, "Original data elements"),
    ans(95, 42, "Replacement amounts"),
    ans(97, 17, "Amount, net settlement (C/D + n16)"),
    b(120, 999, "Private: key management data", var=3, sensitivity=Sensitivity.SECRET),
    b(128, 8, "Message authentication code", sensitivity=Sensitivity.SECRET),
)

# Conventions (summarised for integrators in acquirers/README.md):
# - Processing code (3): 00 purchase, 09 purchase with cashback (field 54 carries
#   the cashback as amount type 40), 20 refund; account types 00/00. In 0500:
#   92 reconciliation request, 96 closing after batch upload (after the 0320s).
#   A forced settlement is a reconciliation advice (0520, repeats 0521, with
#   processing code 96): the terminal tells the host it closed its batch with
#   these totals; the host closes its own and answers 0530.
# - Field 70: 001 sign-on, 002 sign-off, 161 working key change, 201 cutover,
#   301 echo test. The 0810 to a cutover carries an approval number (38) and
#   the host's totals of the terminal's open batch (74-89, 97, as in a 0510):
#   what `clear` reports as the host's amount.
# - Key change: field 53 positions 1-2 name the key (01 PIN key/TPK, 02 MAC
#   key/TAK), the rest zeros; the 0810 answer carries in field 120 the new key
#   enciphered under the matching terminal master key (TDES ECB, 16 bytes)
#   followed by its 3-byte KCV (TDES over zeros), and a field 37 RRN.
# - DUKPT PIN (a 0200 whose PIN pad uses DUKPT): field 120 carries the
#   KSN, 10 bytes (X9.24-1) with the format 0 block in field 52, or 12
#   bytes (X9.24-3 AES) followed by the 16-byte format 4 block (field 52,
#   b8, cannot hold it; it is then absent).
# - Field 90 (n42, reversals 04xx and batch upload 0320): original MTI (4),
#   original STAN (6), original transmission date/time field 7 (10), original
#   acquiring and forwarding institution ids (11+11, zeros).
# - Field 95 (an42): the ISO replacement amounts; the first 12 digits are the
#   actual amount after a partial reversal (in 0320: what stands of a
#   transaction that was partly or wholly reversed), the rest zeros.
# - Field 39 of a 0400: the reversal reason (68 no answer, 17 customer
#   cancellation, 06 card declined after approval / terminal error, 22
#   suspected malfunction). Field 39 of a 0220: Y1 offline approved, Y3
#   offline approved when unable to go online.
# - Field 60 (ans): the 6-digit batch number in 0200/0220/0400/0320/0500/0520.
# - Reconciliation totals (0500 request: terminal's; 0510 answer: host's):
#   74/86 credits (refunds) count/amount, 75/87 reversed credits, 76/88 debits
#   (purchases, cashback included in the amount), 77/89 reversed debits,
#   97 net = debits - reversed debits - credits + reversed credits as
#   'D' (net debit to cardholders, positive) or 'C' + 16 digits.
CONVENTIONS = Conventions(
    processing_codes={
        "purchase": "000000",
        "cashback": "090000",
        "refund": "200000",
        "reconciliation": "920000",
        "closing": "960000",
    },
    network_codes={
        "sign_on": "001",
        "sign_off": "002",
        "key_change": "161",
        "cutover": "201",
        "echo": "301",
    },
    key_types={"pin": "01", "mac": "02"},
    key_type_field=53,
    key_data_field=120,
    original_data_field=90,
    replacement_amounts_field=95,
    additional_amounts_field=54,
    batch_field=60,
    cashback_amount_type="40",
    reversal_reasons={
        "timeout": "68",
        "cancel": "17",
        "card_declined": "06",
        "malfunction": "22",
    },
    offline_response_codes={"approved_offline": "Y1", "unable_online": "Y3"},
    totals=TotalsFields(),
)

DIALECT = Dialect(
    name="generic87",
    description="ISO 8583:1987, binary bitmap, BCD numerics, MAC in 64/128",
    fields={f.number: f for f in _FIELDS},
    mac=MacRule(
        mtis=frozenset(
            {
                "0200",
                "0210",
                "0220",
                "0221",
                "0230",
                "0320",
                "0330",
                "0400",
                "0401",
                "0410",
                "0500",
                "0510",
                "0520",
                "0521",
                "0530",
            }
        )
    ),
    conventions=CONVENTIONS,
)
