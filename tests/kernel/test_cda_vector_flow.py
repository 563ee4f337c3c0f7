"""A real card's CDA transaction (emv-oda-emvtools.txt, Mastercard live key 05) through the
whole contact flow: the kernel must rebuild the card's static data from the records and send
exactly the CDOL1 data the card signed, or the ICC certificate / Transaction Data Hash fail.

The card answers from the vector: records carry the certificates and the static data
(SDA_DATA without the trailing AIP), GPO format 1 gives AIP 3900, GENERATE AC returns the
recorded CID/ATC/IAD and SDAD. Terminal: offline-only attended (9F35 = 23, as signed),
Russia, date 2014-09-25, transaction type 50, amount 0, UN 12345779.
"""

from __future__ import annotations

import datetime as dt

from kernel.capk import CaKeyStore
from kernel.config import TransactionRequest
from kernel.contact import ContactKernel
from kernel.outcome import Decision
from tests.kernel.cards import DictCard, fci, record, select, t, terminal
from tests.kernel.helpers import FixedEntropy, ScriptedServices
from tests.kernel.vectors import H, need, section, value
from tests.vectors import vector_text

CDA = section("emv-oda-emvtools.txt", "######## CDA")
AID = "A0000000041010"


def card() -> DictCard:
    static = need(CDA, "SDA_DATA")
    cert_records = (
        t(0x8F, "05")
        + t(0x90, need(CDA, "TAG_90_ISSUER_PK_CERT"))
        + t(0x92, value(CDA, "TAG_92_ISSUER_PK_REMAINDER") or b"")
        + t(0x9F32, "03")
        + t(0x9F46, need(CDA, "TAG_9F46_ICC_PK_CERT"))
        + t(0x9F47, "03")
    )
    body = need(CDA, "GENAC_RESPONSE_TLVS_EXCL_9F4B") + t(
        0x9F4B, need(CDA, "TAG_9F4B_SIGNED_DYNAMIC_APP_DATA")
    )
    return DictCard(
        {
            select("315041592E5359532E4444463031"): "6A82",
            select(AID): fci(AID, t(0x50, b"MasterCard")),
            select(AID, True): "6A82",
            "80A8000002830000": (t(0x80, H("39000801010110010100")) + b"\x90\x00").hex(),
            "00B2010C00": record(static[:-2]),
            "00B2011400": record(cert_records),
            "80CA9F1700": "6A88",
            "80AE": (t(0x77, body) + b"\x90\x00").hex(),
        }
    )


async def test_real_card_cda_through_the_flow() -> None:
    keys = CaKeyStore.from_capk_text(vector_text("emv-capk-test-and-live.txt"), labels={"live"})
    config = terminal(
        aid_aid=H(AID), aid_application_version=H("0002"), aid_floor_limit=1000, terminal_type=0x23
    )
    entropy = FixedEntropy(un=H("12345779"), moment=dt.datetime(2014, 9, 25, 10, 0))
    scripted = card()
    request = TransactionRequest(amount=0, currency=643, transaction_type=0x50)
    outcome = await ContactKernel(config, keys, entropy=entropy).run(
        scripted.transmit, ScriptedServices(), request
    )
    assert outcome.error is None, outcome.error
    (genac,) = scripted.sent(0xAE)
    assert genac[2] == 0x50  # TC with a CDA signature requested
    assert genac[5:-1] == need(CDA, "CDOL1_RELATED_DATA")
    assert outcome.decision is Decision.APPROVED_OFFLINE
    assert outcome.tvr == H("0000000000")
    assert outcome.tsi == H("E800")
    assert outcome.cvm_results == H("1E0300") and outcome.signature_required
    assert outcome.cryptogram == H("16AFBA13C52FB173")  # the AC inside the signature
    assert outcome.get(0x9F4C) == H("4CC2FB1FAFB30915")


async def test_real_card_cda_with_a_different_amount_fails_cda() -> None:
    keys = CaKeyStore.from_capk_text(vector_text("emv-capk-test-and-live.txt"), labels={"live"})
    config = terminal(
        aid_aid=H(AID), aid_application_version=H("0002"), aid_floor_limit=1000, terminal_type=0x23
    )
    entropy = FixedEntropy(un=H("12345779"), moment=dt.datetime(2014, 9, 25, 10, 0))
    request = TransactionRequest(amount=1, currency=643, transaction_type=0x50)
    outcome = await ContactKernel(config, keys, entropy=entropy).run(
        card().transmit, ScriptedServices(), request
    )
    # The signed Transaction Data Hash no longer matches: CDA failed, the TC is declined.
    assert outcome.tvr[0] & 0x04
    assert outcome.decision is Decision.DECLINED
