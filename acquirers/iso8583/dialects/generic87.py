# Strategy: the generic ISO 8583:1987 terminal dialect with a binary bitmap
# and BCD numerics, as most Russian processing centres speak it to POS
# terminals: on the wire it is jPOS's ISO87BPackager layout (the de facto
# binary ISO 8583:1987, see iso87_binary.py) for every field it has, and the
# Programmer's Guide sample (shared vectors iso8583.txt 1a/1b) decodes with it.
# It is pure data:
# - MTI 2 bytes BCD; primary/secondary bitmaps 8 bytes binary; no header
#   (the 2-byte length frame is the transport's, see framing.py).
# - n fields BCD, fixed ones left-padded with 0 to whole bytes, LL/LLL ones
#   with a BCD length counted in digits and right-padded with 0; z (track 2)
#   likewise with D as the separator; ans fields ASCII with a BCD length of
#   1 byte (LL) or 2 bytes (LLL); b fields raw bytes with a BCD byte count;
#   currency codes (49, 50) three ASCII digits; the net settlement amount (97)
#   its sign 'C'/'D' as one ASCII byte and 16 digits BCD.
# - MAC: field 64, or 128 when a secondary bitmap is present, ISO 9797-1
#   algorithm 3 (retail MAC, padding method 1) under the TAK over the whole
#   message from the MTI up to the MAC field; carried by every financial,
#   reversal, advice, batch-upload and reconciliation message and their
#   responses (the network management 08xx messages carry none: the key
#   exchange is what delivers the TAK).
# Its own choices, which a host specification is free to make and which the
# ISO87BPackager layout carries byte for byte: only the fields below exist
# (any other is refused, in and out); 55 (ICC data) and 120 (key data) are
# bytes, not text; the private fields 60-63 and 120 and the codes of fields
# 53/70 are used as documented at `CONVENTIONS` below.
from __future__ import annotations

from dataclasses import replace

from acquirers.iso8583.dialect import (
    Conventions,
    Dialect,
    Element,
    FieldDef,
    MacRule,
    TotalsFields,
)
from acquirers.iso8583.dialects import iso87

__all__ = ["CONVENTIONS", "DIALECT", "MAC_MTIS"]

_USED = (
    *(2, 3, 4, 7, 11, 12, 13, 14, 15, 22, 23, 24, 25, 32, 35, 37, 38, 39, 41, 42, 43, 44),
    *(48, 49, 50, 52, 53, 54, 55, 60, 61, 62, 63, 64, 70, 74, 75, 76, 77, 86, 87, 88, 89),
    *(90, 95, 97, 120, 128),
)
_PRIVATE = {
    60: "Private: batch data",
    61: "Private: terminal data",
    62: "Private: invoice/ECR reference",
    63: "Private: additional data",
    120: "Private: key management data",
}
_ISO87 = iso87.fields()
_FIELDS: tuple[FieldDef, ...] = tuple(
    replace(_ISO87[number], desc=_PRIVATE.get(number, _ISO87[number].desc)) for number in _USED
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
#   the host's totals of the terminal's open batch (74-89, 97, as in a 0510)
#   in the currency field 50 of the 0800 names, which the 0810 names again
#   (a plain 0800: the batch's totals if it is in one currency, else none):
#   what `clear` reports as the host's amount in that currency.
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
# - Field 95 (an42): the ISO 8583:1987 replacement amounts: actual amount,
#   transaction (n12: what stands after a partial reversal; in 0320 what
#   stands of a transaction that was partly or wholly reversed), actual
#   amount, settlement (n12, zeros: the terminal does not settle in another
#   currency), actual transaction fee and settlement fee (x+n8 each, 'D' and
#   zeros: the terminal charges no fee).
# - Field 39 of a 0400: the reversal reason (68 no answer, 17 customer
#   cancellation, 06 card declined after approval / terminal error, 22
#   suspected malfunction). Fields 39 and 38 of a 0220: Y1 offline approved,
#   Y3 offline approved when unable to go online (38: the code and spaces,
#   the approval code of an offline approval).
# - Field 50 (n3, 0500/0520 and the 0800 cutover, named again in the
#   answer): the currency of the totals, in a 0500 the same as field 49: a
#   terminal that takes several currencies reconciles each in a 0500 of its
#   own (terminal currency first), and its cutover asks for the host's totals
#   in the terminal's currency (a terminal of one currency sends none).
# - Field 60 (ans): the 6-digit batch number in 0200/0220/0400/0320/0500/0520.
# - Which fields each transaction message carries, and from where: `MESSAGES`.
# - Reconciliation totals (0500 request: terminal's; 0510 answer: host's):
#   74/86 credits (refunds) count/amount, 75/87 reversed credits, 76/88 debits
#   (purchases, cashback included in the amount), 77/89 reversed debits,
#   97 net = debits - reversed debits - credits + reversed credits as
#   'D' (net debit to cardholders, positive) or 'C' + 16 digits.
E = Element
# What every message about one card transaction carries: the transaction as
# the terminal made it (the 0200 as sent, or the journal row it was recorded
# in) and who the terminal is.
_TRANSACTION = {
    2: E.PAN,
    3: E.PROCESSING_CODE,
    4: E.AMOUNT,
    7: E.TRANSMISSION,
    11: E.STAN,
    12: E.LOCAL_TIME,
    13: E.LOCAL_DATE,
    14: E.EXPIRY,
    22: E.ENTRY_MODE,
    23: E.PAN_SEQUENCE,
    24: E.NII,
    25: E.CONDITION,
    32: E.ACQUIRER,
    41: E.TID,
    42: E.MID,
    49: E.CURRENCY,
    54: E.ADDITIONAL_AMOUNTS,
    55: E.ICC,
    60: E.BATCH,
    62: E.REFERENCE,
}
# Per message type: the transaction's fields, and what the type adds. Fields 7
# and 11 are always the message's own; 37/38/39 of a 0400 or 0320 are the
# host's answer to the original (39 of a 0400: the reason), 90 names the
# original message and 95 says what stands of it.
MESSAGES = {
    # The request: card secrets (track 2, PIN) go only here; 37 names the
    # purchase a refund refunds.
    "0200": _TRANSACTION | {35: E.TRACK2, 37: E.ORIGINAL_RRN, 52: E.PIN_BLOCK, 120: E.KEY_DATA},
    # The advice of an offline approval: stored and forwarded, so no secrets;
    # 38/39 the offline approval code.
    "0220": _TRANSACTION | {37: E.ORIGINAL_RRN, 38: E.AUTH_CODE, 39: E.RESPONSE_CODE},
    "0400": _TRANSACTION
    | {37: E.RRN, 38: E.AUTH_CODE, 39: E.RESPONSE_CODE, 90: E.ORIGINAL_DATA, 95: E.REPLACEMENT},
    "0320": _TRANSACTION
    | {37: E.RRN, 38: E.AUTH_CODE, 39: E.RESPONSE_CODE, 90: E.ORIGINAL_DATA, 95: E.REPLACEMENT},
}
# Every financial, reversal, advice, batch-upload and reconciliation message
# and its answer carries a MAC; 08xx do not.
MAC_MTIS = frozenset(
    {
        *("0200", "0210", "0220", "0221", "0230", "0320", "0330", "0400", "0401", "0410"),
        *("0500", "0510", "0520", "0521", "0530"),
    }
)

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
    messages=MESSAGES,
    totals=TotalsFields(),
    # 63, security violation: the host could not verify the MAC under the
    # keys it holds for the terminal (a host that renewed or lost them).
    key_change_codes=frozenset({"63"}),
)

DIALECT = Dialect(
    name="generic87",
    description="ISO 8583:1987, binary bitmap, BCD numerics, MAC in 64/128",
    fields={f.number: f for f in _FIELDS},
    mac=MacRule(mtis=MAC_MTIS),
    conventions=CONVENTIONS,
)
