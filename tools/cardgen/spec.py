# Strategy: the test PKI and the virtual card catalogue as data. Everything a
# person decides about a card (scheme, PAN, CVM list, ODA method, cryptogram
# version, card risk, what the card is for) is written here once; build.py
# turns it into EMV personalisation (FCI, records, certificates) and keys.
# PANs are test ranges and Luhn-valid (the check digit is computed).
# Contactless cards (EMV Contactless Books B/C) list their applications in the
# PPSE '2PAY.SYS.DDF01' with the Kernel Identifier '9F2A'; their ISO/IEC
# 14443-3 identity (UID, ATQA, SAK) is part of the spec; MIFARE cards have
# nothing else.
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CAS",
    "ISSUERS",
    "PROFILES",
    "AppSpec",
    "CaSpec",
    "ContactlessSpec",
    "IssuerSpec",
    "ProfileSpec",
    "RfSpec",
]

PSE_NAME = b"1PAY.SYS.DDF01"
PPSE_NAME = b"2PAY.SYS.DDF01"


@dataclass(frozen=True)
class CaSpec:
    rid: str
    index: int
    bits: int
    exponent: int
    expiry: str  # ISO date, the CA key store's expiry


@dataclass(frozen=True)
class IssuerSpec:
    name: str
    ca: tuple[str, int]  # (RID, index)
    bits: int
    exponent: int
    issuer_id_digits: int  # how many PAN digits the issuer certificate names
    cert_expiry: str  # MMYY
    mk_option: Literal["A", "B"]


# CA indexes C1/C2 are not used by the scheme test keys of
# tests/vectors/emv-capk-test-and-live.txt, so both sets fit one key store.
CAS: dict[tuple[str, int], CaSpec] = {
    (ca.rid, ca.index): ca
    for ca in (
        CaSpec("A000000003", 0xC1, 1408, 3, "2049-12-31"),
        CaSpec("A000000003", 0xC2, 1984, 65537, "2049-12-31"),
        CaSpec("A000000004", 0xC1, 1408, 3, "2049-12-31"),
        CaSpec("A000000658", 0xC1, 1408, 3, "2049-12-31"),
    )
}

ISSUERS: dict[str, IssuerSpec] = {
    i.name: i
    for i in (
        # 1152-bit issuer under a 1408-bit CA: the issuer modulus needs a remainder (92).
        IssuerSpec("visa-1", ("A000000003", 0xC1), 1152, 3, 6, "1239", "A"),
        # exponent 65537 on both levels, 1984-bit CA: 248-byte certificate records.
        IssuerSpec("visa-2", ("A000000003", 0xC2), 1408, 65537, 6, "1239", "A"),
        # option B master key derivation (falls back to A for 16-digit PANs).
        IssuerSpec("mc-1", ("A000000004", 0xC1), 1152, 3, 6, "1239", "B"),
        # 1024-bit issuer: the modulus fits the certificate and is padded with BB;
        # option B with a 19-digit PAN takes the SHA-1 decimalisation path.
        IssuerSpec("mir-1", ("A000000658", 0xC1), 1024, 3, 4, "1239", "B"),
    )
}

Oda = Literal["none", "sda", "dda", "cda"]
IssuerAuth = Literal["external-authenticate", "generate-ac"]

VISA_IAC = {"default": "DC4000A800", "denial": "0010000000", "online": "DC4004F800"}
MC_IAC = {"default": "F45084800C", "denial": "0000000000", "online": "F45084800C"}
VISA_CDOL1 = "9F02069F03069F1A0295055F2A029A039C019F3704"
MC_CDOL1 = VISA_CDOL1 + "9F35019F45029F4C089F3403"
MIR_CDOL1 = VISA_CDOL1 + "9F35019F3403"
TERMINAL_CDOL2 = "9F02069F03069F1A0295055F2A029A039C019F3704"


@dataclass(frozen=True)
class ContactlessSpec:
    """The contactless side of an application (simulators.devices.profile.ContactlessApp)."""

    kind: Literal["qvsdc", "emv"]
    kernel_id: str  # Kernel Identifier '9F2A' in the PPSE entry, hex
    ctq: str = "2000"  # qvsdc: base CTQ (go online if ODA fails)
    cdcvm: bool = False
    see_phone: bool = False
    online_pin: bool = False
    fdda: bool = True
    gpo_refuses: bool = False
    on_device_cvm: bool = False  # emv kind: AIP byte 1 b2 (Book C-2)
    ffi: str | None = None  # Form Factor Indicator '9F6E' (qvsdc, with every GPO)
    par: str | None = None  # Payment Account Reference '9F24' (an 29) in a record

    def settings(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ctq": self.ctq,
            "cdcvm": self.cdcvm,
            "see_phone": self.see_phone,
            "online_pin": self.online_pin,
            "fdda": self.fdda,
            "gpo_refuses": self.gpo_refuses,
        }


@dataclass(frozen=True)
class RfSpec:
    """ISO/IEC 14443-3 type A identity; ATQA as sent over the air (LSB first)."""

    uid: str
    atqa: str
    sak: int
    historical: str = ""
    note: str = ""


@dataclass(frozen=True)
class AppSpec:
    aid: str
    label: str
    issuer: str
    pan_prefix: str  # all digits but the Luhn check digit
    version: str  # base.crypto.emv.VERSIONS key
    oda: Oda
    cvm: tuple[str, ...]  # CV rules as hex, e.g. "4103"
    issuer_auth: IssuerAuth
    psn: str = "01"
    expiry: str = "341231"  # YYMMDD
    effective: str = "240101"
    preferred_name: str | None = None
    priority: int | None = 1
    pin: str | None = "1234"
    pin_try_limit: int = 3
    pin_try_counter: int = 3
    cardholder: str = "CARDCORE/TEST"
    country: str = "0643"
    currency: str = "0643"
    app_version: str = "0096"
    auc: str = "FFC0"
    iac: dict[str, str] = field(default_factory=lambda: dict(VISA_IAC))
    pdol: str | None = None
    cdol1: str = VISA_CDOL1
    gpo_format: int = 1
    genac_format: int = 1
    atc: int = 0x0010
    last_online_atc: int = 0x000F
    lcol: int = 5
    ucol: int = 10
    risk: dict[str, Any] = field(default_factory=dict)
    blocked: bool = False
    pin_key: bool = False  # a separate ICC PIN encipherment key (9F2D)
    icc_exponent: int = 3
    icc_cert_expiry: str | None = None  # MMYY; default: the application expiry
    corrupt_icc_cert: bool = False
    cvm_x: int = 0
    cvm_y: int = 0
    internal_authenticate_format: int = 1
    log: bool = False  # transaction log: 9F4D in the FCI, 9F4F by GET DATA, SFI 11
    contactless: ContactlessSpec | None = None


@dataclass(frozen=True)
class ProfileSpec:
    name: str
    description: str
    expected: str
    apps: tuple[AppSpec, ...]
    pse: bool = True
    nested_ddf: bool = False  # the first application is listed in a DDF under the PSE
    rf: RfSpec | None = None  # contactless: only the PPSE, no PSE
    mifare: bool = False


_VISA = "A0000000031010"
_DEFAULT_RISK = {"consecutive_offline_limit": 5, "cumulative_offline_limit": 50000}


def _visa(**kw: Any) -> AppSpec:
    base: dict[str, Any] = {
        "aid": _VISA,
        "label": "VISA CREDIT",
        "issuer": "visa-1",
        "version": "visa-cvn10",
        "oda": "dda",
        "cvm": ("4103", "1E03", "1F03"),
        "issuer_auth": "external-authenticate",
        "risk": dict(_DEFAULT_RISK),
    }
    base.update(kw)
    return AppSpec(**base)


PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        "default",
        "Approving Visa-like chip card: CDA, offline plaintext PIN 1234, CVN 18",
        "Approves: offline (TC) when the terminal asks for a TC within the card's "
        "offline limits, online (ARQC -> TC) otherwise. ARPC method 2 travels in tag "
        "91 of the second GENERATE AC. PIN 1234, 3 tries.",
        (
            _visa(
                pan_prefix="476173900101001",
                version="visa-cvn18",
                oda="cda",
                issuer_auth="generate-ac",
                pdol="9F1A025F2A02",
                gpo_format=2,
                log=True,
            ),
        ),
    ),
    ProfileSpec(
        "sda",
        "Visa-like card with SDA only, offline plaintext PIN, CVN 10",
        "SDA succeeds (DAC in 9F45 after recovery); no INTERNAL AUTHENTICATE. "
        "Issuer authentication by EXTERNAL AUTHENTICATE (ARPC method 1).",
        (_visa(pan_prefix="476173900101002", oda="sda"),),
    ),
    ProfileSpec(
        "dda",
        "Visa-like card with DDA and offline enciphered PIN (ICC key), CVN 10, "
        "exponent 65537 and a 1984-bit CA",
        "DDA succeeds with DDOL 9F3704; offline enciphered PIN 1234 uses the ICC "
        "public key (no separate PIN key). EXTERNAL AUTHENTICATE, ARPC method 1.",
        (
            _visa(
                pan_prefix="476174000101003",
                issuer="visa-2",
                icc_exponent=65537,
                cvm=("4403", "1E03", "1F03"),
            ),
        ),
    ),
    ProfileSpec(
        "cda",
        "Mastercard-like card with CDA, M/Chip-style CVN 16, offline plaintext PIN",
        "CDA on every TC/ARQC; format 2 GPO and GENERATE AC responses; ARPC method "
        "1 (ICC MK) in tag 91 of CDOL2. CVM list starts with a rule for unattended "
        "cash (skipped at a POS), then offline plaintext PIN 1234.",
        (
            AppSpec(
                aid="A0000000041010",
                label="MASTERCARD",
                issuer="mc-1",
                pan_prefix="541333008901004",
                version="mchip-cvn16",
                oda="cda",
                cvm=("4201", "4103", "1E03", "1F03"),
                issuer_auth="generate-ac",
                app_version="0002",
                iac=dict(MC_IAC),
                cdol1=MC_CDOL1,
                gpo_format=2,
                genac_format=2,
                internal_authenticate_format=2,
                risk=dict(_DEFAULT_RISK),
            ),
        ),
    ),
    ProfileSpec(
        "mir",
        "Mir-like card (RID A000000658): 19-digit PAN, DDA, online PIN",
        "DDA succeeds; CVM is online PIN (no offline PIN on the card); cryptograms "
        "use the project's emv-common version (CVN C1: common session keys, ARPC "
        "method 1 with the session key) via EXTERNAL AUTHENTICATE. Master keys use "
        "option B (SHA-1 path, PAN > 16 digits). Not Mir's proprietary cryptography.",
        (
            AppSpec(
                aid="A0000006581010",
                label="MIR",
                preferred_name="MIR",
                issuer="mir-1",
                pan_prefix="220000000001000500",
                version="emv-common",
                oda="dda",
                cvm=("4203", "1F03"),
                issuer_auth="external-authenticate",
                pin=None,
                app_version="0001",
                pdol="9F1A029F33039F3501",
                cdol1=MIR_CDOL1,
                internal_authenticate_format=2,
                risk=dict(_DEFAULT_RISK),
            ),
        ),
    ),
    ProfileSpec(
        "expired",
        "Visa-like DDA card whose application expired on 2023-12-31",
        "Processing restrictions set TVR 'expired application'; the ICC certificate "
        "itself is still valid (12/34) so ODA succeeds and only the expiry shows.",
        (
            _visa(
                pan_prefix="476173900101005",
                expiry="231231",
                effective="200101",
                icc_cert_expiry="1234",
            ),
        ),
    ),
    ProfileSpec(
        "blocked",
        "Visa-like card whose only application is blocked",
        "SELECT of the AID answers the FCI with SW 6283; GPO answers 6985. The PSE "
        "still lists it, so the candidate list ends up empty.",
        (_visa(pan_prefix="476173900101006", blocked=True),),
    ),
    ProfileSpec(
        "pin-blocked",
        "Visa-like DDA card with PIN try counter 0",
        "GET DATA 9F17 = 00; VERIFY answers 6983; the CVM list goes on to "
        "signature. Card risk goes online (ARQC) when the terminal asks for a TC.",
        (_visa(pan_prefix="476173900101007", pin_try_counter=0),),
    ),
    ProfileSpec(
        "two-apps",
        "Two Visa-like applications: VISA ELECTRON (priority 1) and VISA CREDIT (priority 2)",
        "The PSE lists both in one record; selection by priority picks VISA ELECTRON "
        "(DDA, CVN 10); VISA CREDIT is CDA/CVN 18. Different PANs, so the chosen "
        "one is visible.",
        (
            _visa(
                aid="A0000000032010",
                label="VISA ELECTRON",
                pan_prefix="476173900102008",
                priority=1,
            ),
            _visa(
                pan_prefix="476173900101008",
                priority=2,
                version="visa-cvn18",
                oda="cda",
                issuer_auth="generate-ac",
            ),
        ),
    ),
    ProfileSpec(
        "signature",
        "Visa-like DDA card whose CVM is signature (no PIN)",
        "CVM list: signature if supported, else no CVM. VERIFY answers 6A88.",
        (_visa(pan_prefix="476173900101009", cvm=("1E03", "1F03"), pin=None),),
    ),
    ProfileSpec(
        "corrupt-icc-cert",
        "Visa-like DDA card whose ICC public key certificate (9F46) is corrupt",
        "Issuer certificate recovers; ICC certificate recovery fails (bad header/"
        "hash), so DDA fails (TVR byte 1 b4) and the transaction goes on.",
        (_visa(pan_prefix="476173900101010", corrupt_icc_cert=True),),
    ),
    ProfileSpec(
        "always-online",
        "Visa-like CDA card that never approves offline",
        "GENERATE AC with TC requested answers ARQC; unable to go online -> AAC.",
        (
            _visa(
                pan_prefix="476173900101011",
                version="visa-cvn18",
                oda="cda",
                issuer_auth="generate-ac",
                risk={"always_online": True, "unable_online": "decline"},
            ),
        ),
    ),
    ProfileSpec(
        "online-pin",
        "Mastercard-like CDA card with online PIN and no offline PIN",
        "CVM: online enciphered PIN if supported, else signature, else no CVM.",
        (
            AppSpec(
                aid="A0000000041010",
                label="MASTERCARD",
                issuer="mc-1",
                pan_prefix="541333008901012",
                version="mchip-cvn16",
                oda="cda",
                cvm=("4203", "1E03", "1F03"),
                issuer_auth="generate-ac",
                pin=None,
                app_version="0002",
                iac=dict(MC_IAC),
                cdol1=MC_CDOL1,
                gpo_format=2,
                genac_format=2,
                internal_authenticate_format=2,
                risk=dict(_DEFAULT_RISK),
            ),
        ),
    ),
    ProfileSpec(
        "enciphered-pin",
        "Visa-like CDA card with a separate ICC PIN encipherment key (9F2D)",
        "Offline enciphered PIN 1234 under the PIN encipherment key; CVN 18.",
        (
            _visa(
                pan_prefix="476173900101013",
                version="visa-cvn18",
                oda="cda",
                issuer_auth="generate-ac",
                pin_key=True,
                cvm=("4403", "4103", "1E03", "1F03"),
            ),
        ),
    ),
    ProfileSpec(
        "card-decline",
        "Visa-like DDA card whose card risk management declines everything",
        "Every GENERATE AC answers an AAC (offline decline by the card).",
        (_visa(pan_prefix="476173900101014", risk={"always_decline": True}),),
    ),
    ProfileSpec(
        "expired-cert",
        "Visa-like DDA card whose ICC public key certificate expired in 12/23",
        "Application valid; DDA fails on the ICC certificate expiry date.",
        (_visa(pan_prefix="476173900101015", icc_cert_expiry="1223"),),
    ),
    ProfileSpec(
        "no-pse",
        "Visa-like CDA card without a PSE: selection must use the terminal's AID list",
        "SELECT 1PAY.SYS.DDF01 answers 6A82; SELECT A0000000031010 works.",
        (
            _visa(
                pan_prefix="476173900101016",
                version="visa-cvn18",
                oda="cda",
                issuer_auth="generate-ac",
            ),
        ),
        pse=False,
    ),
    ProfileSpec(
        "nested-ddf",
        "Two Visa-like applications, the preferred one only reachable through a nested DDF",
        "The PSE record lists VISA CREDIT (priority 2) and a DDF (9D 1PAY.SYS.DDF02); "
        "the DDF's directory (SFI 2) lists VISA ELECTRON (priority 1).",
        (
            _visa(
                aid="A0000000032010",
                label="VISA ELECTRON",
                pan_prefix="476173900102017",
                priority=1,
            ),
            _visa(pan_prefix="476173900101017", priority=2),
        ),
        nested_ddf=True,
    ),
)

# --- contactless -----------------------------------------------------------------

VISA_QVSDC_PDOL = "9F66049F02069F03069F1A0295055F2A029A039C019F3704"
MIR_CL_PDOL = "9F02069F1A025F2A029F37049F3501"


# ATS historical bytes of a dual-interface payment card: those of its contact
# ATR (simulators.devices.card.HISTORICAL_BYTES), so a PC/SC reader shows the PICC as
# 3B 88 80 01 00 73 C8 40 00 00 90 00 62 - the RFID interface of real cards in
# the public ATR list (Barclaycard Visa Wave & Pay, CIBC Visa). Without them
# the part 3 ATR 3B 80 80 01 01 is what the list knows as a type B card.
EMV_ATS_HISTORICAL = "0073C84000009000"


def _emv_rf(uid: str, note: str = "random-ID style UID (08 ...), ATQA 0004") -> RfSpec:
    """An EMV contactless card or phone: ATQA 0004 (sent 04 00), SAK 20 (ISO/IEC 14443-4)."""
    return RfSpec(uid, "0400", 0x20, historical=EMV_ATS_HISTORICAL, note=note)


_VISA_CL_RISK = {"cumulative_offline_limit": 50000}


def _qvsdc(**kw: Any) -> AppSpec:
    contactless = kw.pop("contactless", None) or ContactlessSpec("qvsdc", "03", ffi="00000000")
    base: dict[str, Any] = {
        "aid": _VISA,
        "label": "VISA CREDIT",
        "issuer": "visa-1",
        "version": "visa-cvn18",
        "oda": "dda",
        "cvm": (),
        "issuer_auth": "generate-ac",
        "pin": None,
        "pdol": VISA_QVSDC_PDOL,
        "gpo_format": 2,
        "risk": dict(_VISA_CL_RISK),
        "contactless": contactless,
    }
    base.update(kw)
    return AppSpec(**base)


def _mchip_cl(**kw: Any) -> AppSpec:
    base: dict[str, Any] = {
        "aid": "A0000000041010",
        "label": "MASTERCARD",
        "issuer": "mc-1",
        "version": "mchip-cvn16",
        "oda": "cda",
        "cvm": ("1E03", "1F03"),
        "issuer_auth": "generate-ac",
        "pin": None,
        "app_version": "0002",
        "iac": dict(MC_IAC),
        "cdol1": MC_CDOL1,
        "gpo_format": 2,
        "genac_format": 2,
        "risk": dict(_DEFAULT_RISK),
        "contactless": ContactlessSpec("emv", "02", par="P001CARDCORETESTACCOUNT000001"),
    }
    base.update(kw)
    return AppSpec(**base)


CONTACTLESS_PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        "visa-qvsdc",
        "Visa-like contactless card (qVSDC, Kernel 3 style): fDDA, CVN 18, signature over "
        "the CVM-required limit",
        "GPO answers the cryptogram: TC with fDDA (9F4B over UN, amount, currency, 9F69) "
        "within the card's offline limits when the reader does not ask for an online "
        "cryptogram, ARQC otherwise. Over the CVM-required limit the CTQ asks for a "
        "signature (or online PIN when the reader takes no signature).",
        (_qvsdc(pan_prefix="476173900103001"),),
        pse=False,
        rf=_emv_rf("08A1C3E5"),
    ),
    ProfileSpec(
        "cl-online-pin",
        "Visa-like contactless card that asks for online PIN over the CVM-required limit",
        "Over the CVM-required limit the CTQ says 'online PIN required' and the card "
        "answers an ARQC (the PIN goes online with the authorisation); below it behaves "
        "like visa-qvsdc.",
        (
            _qvsdc(
                pan_prefix="476173900105001",
                contactless=ContactlessSpec("qvsdc", "03", online_pin=True, ffi="00000000"),
            ),
        ),
        pse=False,
        rf=_emv_rf("08B2D4F6"),
    ),
    ProfileSpec(
        "phone-wallet",
        "Visa token in a phone wallet with consumer-device CVM (CDCVM)",
        "The phone verifies the cardholder itself: every GPO answers CTQ 'consumer device "
        "CVM performed' when the reader supports CDCVM, so the transaction has no other "
        "CVM at any amount and the receipt shows cdcvm=yes. fDDA for offline approvals.",
        (
            _qvsdc(
                pan_prefix="476173900104001",
                label="VISA PHONE",
                contactless=ContactlessSpec("qvsdc", "03", cdcvm=True, ffi="03000000"),
            ),
        ),
        pse=False,
        rf=_emv_rf("08C3E5A7", "a phone: random-ID style UID (08 ...), ATQA 0004"),
    ),
    ProfileSpec(
        "mc-contactless",
        "Mastercard-like contactless card (M/Chip, Kernel 2 style): CDA, CVN 16",
        "EMV mode (AIP byte 2 b8): GPO, READ RECORD, one GENERATE AC with CDA. CVM list "
        "signature, then no CVM: the reader's CVM capability decides (signature over the "
        "CVM-required limit, no CVM under it). Records carry the Payment Account "
        "Reference 9F24 for data exchange (Tags To Read DF8112).",
        (_mchip_cl(pan_prefix="541333008902001"),),
        pse=False,
        rf=_emv_rf("08D4F6B8"),
    ),
    ProfileSpec(
        "phone-wallet-mc",
        "Mastercard token in a phone wallet: on-device CVM (AIP byte 1 b2)",
        "Kernel 2 style on-device cardholder verification: over the CVM-required limit "
        "the CVM is 'confirmation code verified' (CVM Results 010002, cdcvm=yes), under it "
        "no CVM; CDA, CVN 16.",
        (
            _mchip_cl(
                pan_prefix="541333008903001",
                label="MASTERCARD PHONE",
                contactless=ContactlessSpec("emv", "02", on_device_cvm=True),
            ),
        ),
        pse=False,
        rf=_emv_rf("08E5A7C9", "a phone: random-ID style UID (08 ...), ATQA 0004"),
    ),
    ProfileSpec(
        "mir-contactless",
        "Mir-like contactless card (RID A000000658): CDA, online PIN over the CVM limit",
        "EMV-mode single tap (Mir-style kernel): GPO with a PDOL, READ RECORD, one "
        "GENERATE AC with CDA; CVM list online PIN if supported, else no CVM; 19-digit "
        "PAN, emv-common cryptograms (project CVN C1, not Mir's own).",
        (
            AppSpec(
                aid="A0000006581010",
                label="MIR",
                preferred_name="MIR",
                issuer="mir-1",
                pan_prefix="220000000002000500",
                version="emv-common",
                oda="cda",
                cvm=("4203", "1F03"),
                issuer_auth="generate-ac",
                pin=None,
                app_version="0001",
                pdol=MIR_CL_PDOL,
                cdol1=MIR_CDOL1,
                gpo_format=2,
                genac_format=2,
                risk=dict(_DEFAULT_RISK),
                contactless=ContactlessSpec("emv", "C10643"),
            ),
        ),
        pse=False,
        rf=_emv_rf("08F6B8DA"),
    ),
    ProfileSpec(
        "cl-two-apps",
        "Visa-like contactless card with two applications; the preferred one refuses GPO",
        "The PPSE lists VISA ELECTRON (priority 1) and VISA CREDIT (priority 2); VISA "
        "ELECTRON answers GPO with 6985, so the kernel asks for 'select next' and the "
        "transaction goes on with VISA CREDIT.",
        (
            _qvsdc(
                aid="A0000000032010",
                label="VISA ELECTRON",
                pan_prefix="476173900106001",
                priority=1,
                contactless=ContactlessSpec("qvsdc", "03", gpo_refuses=True, ffi="00000000"),
            ),
            _qvsdc(pan_prefix="476173900106002", priority=2),
        ),
        pse=False,
        rf=_emv_rf("08A7C9EB"),
    ),
    ProfileSpec(
        "mifare-classic",
        "MIFARE Classic 1K transport card (not EMV)",
        "4-byte UID, ATQA 0004 (sent 04 00), SAK 08: not ISO/IEC 14443-4, so no APDU "
        "reaches it (the reader answers 6A81); goes to the client as a smartcard newcard.",
        (),
        pse=False,
        rf=RfSpec("5A3C9E17", "0400", 0x08, note="MIFARE Classic 1K"),
        mifare=True,
    ),
    ProfileSpec(
        "mifare-7byte",
        "7-byte-UID MIFARE-family card, ISO/IEC 14443-4 (NTAG 424 DNA / DESFire style)",
        "7-byte UID (NXP 04...), ATQA 0044 (sent 44 00), SAK 20: takes APDUs but has no "
        "EMV application, SELECT 2PAY.SYS.DDF01 answers 6A82.",
        (),
        pse=False,
        rf=RfSpec("04A2C4E6F81A80", "4400", 0x20, historical="80", note="NTAG 424 DNA style"),
        mifare=True,
    ),
)

PROFILES = PROFILES + CONTACTLESS_PROFILES
