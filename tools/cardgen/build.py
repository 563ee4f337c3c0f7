# Strategy: turn the specs of spec.py into personalised virtual cards.
# - Keys: CA, issuer, ICC and PIN-encipherment RSA keys and the issuer master
#   keys come from keygen.py, keyed by labels, so output is reproducible.
# - Personalisation follows EMV Book 3: FCI (6F/84/A5, Table 43), PSE
#   directory records (70/61, 12.2.3), GPO AIP/AFL (10.2), records in SFI 1
#   (track 2 equivalent, name), SFI 2 (card data, CVM list 8E, CDOLs, IACs) and
#   SFI 3 (ODA objects). SFI 1 and 2 are the static data to authenticate, with
#   the AIP through 9F4A = 82 (Book 3 10.3).
# - ODA objects follow Book 2: issuer certificate (5.3), SSAD (5.4), ICC
#   certificate over the static data (6.4), PIN encipherment certificate (7.1).
# - Outputs: Profile objects, the CA public keys as the simulator's CA key
#   store loads them, and the issuer master keys file for the host simulator.
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from base import tlv
from base.crypto import emv
from base.crypto.des import kcv_tdes
from base.pan import luhn_check_digit
from simulators.devices import signing
from simulators.devices.profile import (
    Application,
    CardRisk,
    ContactlessApp,
    DirectoryFile,
    Profile,
    RfParameters,
)
from simulators.devices.rsa import RsaPrivateKey, RsaPublicKey
from tools.cardgen.keygen import Drbg, generate_rsa_key, generate_tdes_key
from tools.cardgen.spec import (
    CAS,
    ISSUERS,
    PPSE_NAME,
    PROFILES,
    PSE_NAME,
    AppSpec,
    ProfileSpec,
    RfSpec,
)

__all__ = [
    "DEFAULT_SEED",
    "Generated",
    "build_profiles",
    "ca_key_entry",
    "generate",
    "luhn_check_digit",
]

DEFAULT_SEED = b"cardcore virtual card test PKI v1"
RECORD_VALUE_LIMIT = 253  # 70 81 xx + value must fit the 256 data bytes of a short R-APDU
DDOL = bytes.fromhex("9F3704")
NESTED_DDF_NAME = b"1PAY.SYS.DDF02"
LOG_SFI, LOG_RECORDS = 11, 10
LOG_FORMAT = bytes.fromhex("9A039F21039F02065F2A029F1A029C019F36029F2701")
CVM_NAMES = {
    0x00: "fail CVM processing",
    0x01: "offline plaintext PIN",
    0x02: "online enciphered PIN",
    0x03: "offline plaintext PIN and signature",
    0x04: "offline enciphered PIN",
    0x05: "offline enciphered PIN and signature",
    0x1E: "signature",
    0x1F: "no CVM required",
}
CVM_CONDITIONS = {
    0x00: "always",
    0x01: "if unattended cash",
    0x02: "if not unattended cash, manual cash or cashback",
    0x03: "if the terminal supports the CVM",
    0x04: "if manual cash",
    0x05: "if purchase with cashback",
    0x06: "if in application currency and under X",
    0x07: "if in application currency and over X",
    0x08: "if in application currency and under Y",
    0x09: "if in application currency and over Y",
}


def _bcd_pad(digits: str) -> bytes:
    return bytes.fromhex(digits + ("F" if len(digits) % 2 else ""))


def _pack_records(objects: list[bytes]) -> list[bytes]:
    """Greedily pack encoded data objects into 70 templates."""
    records: list[bytes] = []
    current = b""
    for obj in objects:
        if current and len(current) + len(obj) > RECORD_VALUE_LIMIT:
            records.append(tlv.encode(0x70, current))
            current = b""
        if len(obj) > RECORD_VALUE_LIMIT:
            raise ValueError("a data object does not fit a record")
        current += obj
    if current:
        records.append(tlv.encode(0x70, current))
    return records


def describe_cvm(rule: str) -> str:
    code, condition = bytes.fromhex(rule)
    name = CVM_NAMES.get(code & 0x3F, f"CVM {code & 0x3F:02X}")
    then = "apply next if unsuccessful" if code & 0x40 else "fail if unsuccessful"
    when = CVM_CONDITIONS.get(condition, f"condition {condition:02X}")
    return f"{rule.upper()}: {name}, {when}, {then}"


def ca_key_entry(
    rid: str, index: int, key: RsaPublicKey, expiry: str | None, source: str
) -> dict[str, Any]:
    """One CA public key in the CA key store format (see simulators/devices/pki/README.md)."""
    # SHA-1 of RID || index || modulus || exponent: Book 2 11.2.2 key checksum
    checksum = hashlib.sha1(
        bytes.fromhex(rid) + bytes([index]) + key.modulus_bytes + key.exponent_bytes
    ).hexdigest()
    return {
        "rid": rid,
        "index": f"{index:02X}",
        "modulus": key.modulus_bytes.hex().upper(),
        "exponent": key.exponent_bytes.hex().upper(),
        "expiry": expiry,
        "hash_algorithm": "01",
        "pk_algorithm": "01",
        "checksum": checksum.upper(),
        "source": source,
    }


@dataclass
class Generated:
    profiles: dict[str, Profile]
    ca_keys: dict[str, Any]
    issuer_keys: dict[str, Any]


class _Builder:
    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self._rsa: dict[str, RsaPrivateKey] = {}
        self.cards: list[dict[str, Any]] = []

    def rsa(self, label: str, bits: int, exponent: int) -> RsaPrivateKey:
        key = self._rsa.get(label)
        if key is None:
            key = generate_rsa_key(self.seed, label, bits, exponent)
            self._rsa[label] = key
        return key

    def ca(self, rid: str, index: int) -> RsaPrivateKey:
        spec = CAS[(rid, index)]
        return self.rsa(f"ca/{rid}/{index:02X}", spec.bits, spec.exponent)

    def issuer(self, name: str) -> RsaPrivateKey:
        spec = ISSUERS[name]
        return self.rsa(f"issuer/{name}", spec.bits, spec.exponent)

    def imks(self, name: str) -> emv.IssuerMasterKeys:
        spec = ISSUERS[name]
        return emv.IssuerMasterKeys(
            ac=generate_tdes_key(self.seed, f"imk/{name}/ac"),
            smi=generate_tdes_key(self.seed, f"imk/{name}/smi"),
            smc=generate_tdes_key(self.seed, f"imk/{name}/smc"),
            option=spec.mk_option,
        )

    def _bytes(self, label: str, n: int) -> bytes:
        return Drbg(self.seed, label).read(n)

    # --- one application ------------------------------------------------------

    def application(
        self, profile: ProfileSpec, spec: AppSpec
    ) -> tuple[Application, dict[str, Any]]:
        label = f"{profile.name}/{spec.aid}"
        pan = spec.pan_prefix + luhn_check_digit(spec.pan_prefix)
        version = emv.VERSIONS[spec.version]
        issuer_spec = ISSUERS[spec.issuer]
        rid, ca_index = issuer_spec.ca

        cl = spec.contactless
        aip1 = 0x10 | 0x08  # cardholder verification, terminal risk management
        aip1 |= {"none": 0, "sda": 0x40, "dda": 0x20, "cda": 0x21}[spec.oda]
        aip1 |= 0x04 if spec.issuer_auth == "external-authenticate" else 0
        aip = bytes([aip1, 0x00])
        if cl is not None and cl.kind == "qvsdc":
            # Book C-3 style: AIP byte 1 b6 announces fDDA; nothing else is used
            aip = bytes([0x20 if spec.oda == "dda" else 0x00, 0x00])
        elif cl is not None:
            # Book C-2: byte 1 b2 on-device cardholder verification, byte 2 b8 EMV mode
            aip = bytes([aip1 | (0x02 if cl.on_device_cvm else 0), 0x80])

        cdol2 = "8A02"
        if spec.issuer_auth == "generate-ac":
            cdol2 += "910A" if version.arpc_method == 1 else "9108"
        cdol2 += "9F02069F03069F1A0295055F2A029A039C019F3704"
        cvm_list = (
            spec.cvm_x.to_bytes(4, "big")
            + spec.cvm_y.to_bytes(4, "big")
            + b"".join(bytes.fromhex(rule) for rule in spec.cvm)
        )
        track2 = _bcd_pad(f"{pan}D{spec.expiry[:4]}201" + "00000")

        gpo_extra = b""
        files: dict[int, tuple[bytes, ...]]
        if cl is not None and cl.kind == "qvsdc":
            # track 2, PSN and the form factor come with every GPO; SFI 1 is the
            # static data fDDA signs (with the AIP), the ODA objects follow in SFI 2
            gpo_extra = tlv.encode(0x57, track2) + tlv.encode(0x5F34, bytes.fromhex(spec.psn))
            if cl.ffi:
                gpo_extra += tlv.encode(0x9F6E, bytes.fromhex(cl.ffi))
            card = [
                tlv.encode(0x5A, _bcd_pad(pan)),
                tlv.encode(0x5F24, bytes.fromhex(spec.expiry)),
                tlv.encode(0x5F25, bytes.fromhex(spec.effective)),
                tlv.encode(0x5F28, bytes.fromhex(spec.country)),
                tlv.encode(0x9F07, bytes.fromhex(spec.auc)),
                tlv.encode(0x9F08, bytes.fromhex(spec.app_version)),
                tlv.encode(0x9F42, bytes.fromhex(spec.currency)),
            ]
            if spec.oda != "none":
                card.append(tlv.encode(0x9F4A, b"\x82"))
            files = {1: tuple(_pack_records(card))}
            afl = bytes([1 << 3, 1, len(files[1]), len(files[1])])
            oda_sfi = 2
        else:
            sfi1 = [tlv.encode(0x57, track2), tlv.encode(0x5F20, spec.cardholder.encode())]
            sfi2 = [
                tlv.encode(0x5A, _bcd_pad(pan)),
                tlv.encode(0x5F24, bytes.fromhex(spec.expiry)),
                tlv.encode(0x5F25, bytes.fromhex(spec.effective)),
                tlv.encode(0x5F28, bytes.fromhex(spec.country)),
                tlv.encode(0x5F34, bytes.fromhex(spec.psn)),
                tlv.encode(0x9F07, bytes.fromhex(spec.auc)),
                tlv.encode(0x9F08, bytes.fromhex(spec.app_version)),
                tlv.encode(0x9F0D, bytes.fromhex(spec.iac["default"])),
                tlv.encode(0x9F0E, bytes.fromhex(spec.iac["denial"])),
                tlv.encode(0x9F0F, bytes.fromhex(spec.iac["online"])),
                tlv.encode(0x8E, cvm_list),
                tlv.encode(0x8C, bytes.fromhex(spec.cdol1)),
                tlv.encode(0x8D, bytes.fromhex(cdol2)),
                tlv.encode(0x9F42, bytes.fromhex(spec.currency)),
                tlv.encode(0x9F44, b"\x02"),
                tlv.encode(0x9F14, bytes([spec.lcol])),
                tlv.encode(0x9F23, bytes([spec.ucol])),
            ]
            if cl is not None and cl.par:
                sfi2.append(tlv.encode(0x9F24, cl.par.encode("ascii")))
            if spec.oda != "none":
                sfi2.append(tlv.encode(0x9F4A, b"\x82"))
            if spec.oda in ("dda", "cda"):
                sfi2.append(tlv.encode(0x9F49, DDOL))
            files = {
                1: tuple(_pack_records(sfi1)),
                2: tuple(_pack_records(sfi2)),
            }
            afl = bytes([1 << 3, 1, len(files[1]), len(files[1])])
            afl += bytes([2 << 3, 1, len(files[2]), len(files[2])])
            oda_sfi = 3

        icc_key: RsaPrivateKey | None = None
        pin_key: RsaPrivateKey | None = None
        oda_summary: dict[str, Any] = {"method": spec.oda.upper()}
        if spec.oda != "none":
            static = signing.static_data_to_authenticate(files, afl, aip, b"\x82")
            ca = self.ca(rid, ca_index)
            issuer = self.issuer(spec.issuer)
            issuer_cert, issuer_rem = signing.issuer_certificate(
                ca,
                issuer.public,
                issuer_id=signing.issuer_identifier(pan, issuer_spec.issuer_id_digits),
                expiry_mmyy=bytes.fromhex(issuer_spec.cert_expiry),
                serial=self._bytes(f"serial/issuer/{spec.issuer}", 3),
            )
            oda_objs = [tlv.encode(0x8F, bytes([ca_index])), tlv.encode(0x90, issuer_cert)]
            if issuer_rem:
                oda_objs.append(tlv.encode(0x92, issuer_rem))
            oda_objs.append(tlv.encode(0x9F32, issuer.public.exponent_bytes))
            icc_expiry = spec.icc_cert_expiry or spec.expiry[2:4] + spec.expiry[0:2]
            oda_summary.update(
                ca=f"{rid}/{ca_index:02X}",
                issuer_key_bits=issuer.modulus.bit_length(),
                issuer_cert_expiry=issuer_spec.cert_expiry,
            )
            if spec.oda == "sda":
                dac = self._bytes(f"dac/{label}", 2)
                oda_objs.append(tlv.encode(0x93, signing.sign_static_data(issuer, dac, static)))
                oda_summary["dac"] = dac.hex().upper()
            else:
                icc_key = self.rsa(f"icc/{label}", 1024, spec.icc_exponent)
                cert, rem = signing.icc_certificate(
                    issuer,
                    icc_key.public,
                    pan=signing.pan_field(pan),
                    expiry_mmyy=bytes.fromhex(icc_expiry),
                    serial=self._bytes(f"serial/icc/{label}", 3),
                    static_data=static,
                )
                if spec.corrupt_icc_cert:
                    middle = len(cert) // 2
                    cert = cert[:middle] + bytes([cert[middle] ^ 0x5A]) + cert[middle + 1 :]
                oda_objs.append(tlv.encode(0x9F46, cert))
                oda_objs.append(tlv.encode(0x9F47, icc_key.public.exponent_bytes))
                if rem:
                    oda_objs.append(tlv.encode(0x9F48, rem))
                oda_summary.update(
                    icc_key_bits=1024,
                    icc_exponent=spec.icc_exponent,
                    icc_cert_expiry=icc_expiry,
                    icc_cert_corrupt=spec.corrupt_icc_cert,
                )
            if spec.pin_key:
                pin_key = self.rsa(f"pin/{label}", 1024, 3)
                cert, rem = signing.icc_certificate(
                    issuer,
                    pin_key.public,
                    pan=signing.pan_field(pan),
                    expiry_mmyy=bytes.fromhex(icc_expiry),
                    serial=self._bytes(f"serial/pin/{label}", 3),
                    static_data=None,
                )
                oda_objs.append(tlv.encode(0x9F2D, cert))
                oda_objs.append(tlv.encode(0x9F2E, pin_key.public.exponent_bytes))
                if rem:
                    oda_objs.append(tlv.encode(0x9F2F, rem))
            files[oda_sfi] = tuple(_pack_records(oda_objs))
            afl += bytes([oda_sfi << 3, 1, len(files[oda_sfi]), 0])

        fci_prop = tlv.encode(0x50, spec.label.encode())
        if spec.priority is not None:
            fci_prop += tlv.encode(0x87, bytes([spec.priority]))
        if spec.pdol:
            fci_prop += tlv.encode(0x9F38, bytes.fromhex(spec.pdol))
        fci_prop += tlv.encode(0x5F2D, b"ruen")
        if spec.preferred_name:
            fci_prop += tlv.encode(0x9F11, b"\x01") + tlv.encode(
                0x9F12, spec.preferred_name.encode()
            )
        if spec.log:
            fci_prop += tlv.encode(0xBF0C, tlv.encode(0x9F4D, bytes([LOG_SFI, LOG_RECORDS])))
        fci = tlv.encode(
            0x6F, tlv.encode(0x84, bytes.fromhex(spec.aid)) + tlv.encode(0xA5, fci_prop)
        )

        imks = self.imks(spec.issuer)
        icc_mks = imks.derive(pan, spec.psn)
        risk = CardRisk.from_json(spec.risk)
        app = Application(
            aid=bytes.fromhex(spec.aid),
            fci=fci,
            gpo_format=spec.gpo_format,
            aip=aip,
            afl=afl,
            gpo_extra=gpo_extra,
            files=files,
            cryptogram_version=version,
            dki=1,
            icc_master_keys=icc_mks,
            risk=risk,
            pin=spec.pin,
            pin_try_limit=spec.pin_try_limit,
            pin_try_counter=spec.pin_try_counter,
            atc=spec.atc,
            last_online_atc=spec.last_online_atc,
            blocked=spec.blocked,
            genac_format=spec.genac_format,
            internal_authenticate_format=spec.internal_authenticate_format,
            get_data={0x9F4F: LOG_FORMAT} if spec.log else {},
            icc_key=icc_key,
            pin_key=pin_key,
            contactless=ContactlessApp.from_json(cl.settings()) if cl is not None else None,
        )
        app.validate()
        self.cards.append(
            {
                "profile": profile.name,
                "aid": spec.aid,
                "pan": pan,
                "psn": spec.psn,
                "issuer": spec.issuer,
                "cryptogram_version": version.name,
            }
        )
        summary = {
            "aid": spec.aid,
            "label": spec.label,
            "priority": spec.priority,
            "pan": pan,
            "psn": spec.psn,
            "expiry": spec.expiry,
            "effective": spec.effective,
            "issuer": spec.issuer,
            "aip": aip.hex().upper(),
            "oda": oda_summary,
            "cvm_list": [describe_cvm(rule) for rule in spec.cvm],
            "pin": spec.pin,
            "pin_try_counter": f"{spec.pin_try_counter}/{spec.pin_try_limit}",
            "cryptogram_version": version.name,
            "issuer_authentication": (
                f"ARPC method {version.arpc_method} by "
                + (
                    "EXTERNAL AUTHENTICATE"
                    if spec.issuer_auth == "external-authenticate"
                    else "tag 91 in CDOL2 (second GENERATE AC)"
                )
            ),
            "iac": dict(spec.iac),
            "auc": spec.auc,
            "application_version": spec.app_version,
            "issuer_country": spec.country,
            "currency": spec.currency,
            "lcol_ucol": [spec.lcol, spec.ucol],
            "atc": spec.atc,
            "last_online_atc": spec.last_online_atc,
            "card_risk": {k: v for k, v in risk.to_json().items() if v not in (None, False)},
            "blocked": spec.blocked,
            "transaction_log": (
                f"SFI {LOG_SFI}, {LOG_RECORDS} records, format {LOG_FORMAT.hex().upper()}"
                if spec.log
                else None
            ),
        }
        if cl is not None:
            summary["issuer_authentication"] = "none: a contactless single tap"
            if cl.kind == "qvsdc":
                summary["iac"] = None
            summary["contactless"] = {
                **cl.settings(),
                "kernel_id": cl.kernel_id,
                "on_device_cvm": cl.on_device_cvm,
                "ffi": cl.ffi,
                "par": cl.par,
                "pdol": spec.pdol,
            }
        return app, summary

    # --- one profile --------------------------------------------------------

    @staticmethod
    def _directory_entry(app_spec: AppSpec) -> bytes:
        """Book 1 12.2.3: 61 [4F ADF name, 50 label, 9F12, 87 priority]; in the
        PPSE also the Kernel Identifier 9F2A (Book B 3.3.2.5)."""
        entry = tlv.encode(0x4F, bytes.fromhex(app_spec.aid))
        entry += tlv.encode(0x50, app_spec.label.encode())
        if app_spec.preferred_name:
            entry += tlv.encode(0x9F12, app_spec.preferred_name.encode())
        if app_spec.priority is not None:
            entry += tlv.encode(0x87, bytes([app_spec.priority]))
        if app_spec.contactless is not None:
            entry += tlv.encode(0x9F2A, bytes.fromhex(app_spec.contactless.kernel_id))
        return tlv.encode(0x61, entry)

    def contactless_profile(self, spec: ProfileSpec, rf_spec: RfSpec) -> Profile:
        """Book B 3.3.2: the PPSE FCI carries the directory entries in 'BF0C';
        a MIFARE card carries nothing but its RF identity."""
        rf = RfParameters(
            uid=bytes.fromhex(rf_spec.uid),
            atqa=bytes.fromhex(rf_spec.atqa),
            sak=rf_spec.sak,
            historical=bytes.fromhex(rf_spec.historical),
        )
        built = [self.application(spec, app) for app in spec.apps]
        ppse: DirectoryFile | None = None
        if built:
            entries = b"".join(self._directory_entry(app_spec) for app_spec in spec.apps)
            ppse_fci = tlv.encode(
                0x6F,
                tlv.encode(0x84, PPSE_NAME) + tlv.encode(0xA5, tlv.encode(0xBF0C, entries)),
            )
            ppse = DirectoryFile(name=PPSE_NAME, fci=ppse_fci, sfi=0, records=())
        rf_summary = {
            "uid": rf_spec.uid,
            "atqa_on_air": rf_spec.atqa,
            "atqa": f"{int.from_bytes(rf.atqa, 'little'):04X}",
            "sak": f"{rf.sak:02X}",
            "iso14443_4": rf.iso14443_4,
            "pcsc_atr": rf.pcsc_atr().hex().upper(),
            "note": rf_spec.note,
        }
        return Profile(
            name=spec.name,
            description=spec.description,
            applications=tuple(app for app, _ in built),
            summary={
                "expected": spec.expected,
                "interfaces": ["contactless"],
                "kind": "mifare" if spec.mifare else "emv",
                "rf": rf_summary,
                "ppse": ppse is not None,
                "applications": [summary for _, summary in built],
            },
            kind="mifare" if spec.mifare else "emv",
            interfaces=("contactless",),
            rf=rf,
            ppse=ppse,
        )

    def profile(self, spec: ProfileSpec) -> Profile:
        if spec.rf is not None:
            return self.contactless_profile(spec, spec.rf)
        built = [self.application(spec, app) for app in spec.apps]
        entries = [self._directory_entry(app_spec) for app_spec in spec.apps]
        ddfs: list[DirectoryFile] = []
        if spec.nested_ddf:
            ddf_fci = tlv.encode(
                0x6F,
                tlv.encode(0x84, NESTED_DDF_NAME) + tlv.encode(0xA5, tlv.encode(0x88, b"\x02")),
            )
            ddfs.append(
                DirectoryFile(
                    name=NESTED_DDF_NAME,
                    fci=ddf_fci,
                    sfi=2,
                    records=(tlv.encode(0x70, entries[0]),),
                )
            )
            entries = [*entries[1:], tlv.encode(0x61, tlv.encode(0x9D, NESTED_DDF_NAME))]
        pse: DirectoryFile | None = None
        if spec.pse:
            # several entries share one record, a single one has its own
            records = (
                [tlv.encode(0x70, b"".join(entries))]
                if len(entries) > 1
                else [tlv.encode(0x70, e) for e in entries]
            )
            pse_fci = tlv.encode(
                0x6F,
                tlv.encode(0x84, PSE_NAME)
                + tlv.encode(0xA5, tlv.encode(0x88, b"\x01") + tlv.encode(0x5F2D, b"ruen")),
            )
            pse = DirectoryFile(name=PSE_NAME, fci=pse_fci, sfi=1, records=tuple(records))
        return Profile(
            name=spec.name,
            description=spec.description,
            applications=tuple(app for app, _ in built),
            pse=pse,
            ddfs=tuple(ddfs),
            summary={
                "expected": spec.expected,
                "pse": spec.pse,
                "nested_ddf": NESTED_DDF_NAME.decode() if spec.nested_ddf else None,
                "applications": [summary for _, summary in built],
            },
        )


def build_profiles(
    seed: bytes = DEFAULT_SEED, names: Iterable[str] | None = None
) -> dict[str, Profile]:
    """Build some profiles only (every one when ``names`` is None)."""
    wanted = None if names is None else set(names)
    builder = _Builder(seed)
    return {
        spec.name: builder.profile(spec)
        for spec in PROFILES
        if wanted is None or spec.name in wanted
    }


def generate(seed: bytes = DEFAULT_SEED) -> Generated:
    """Build every profile, the CA key store file and the issuer key file."""
    builder = _Builder(seed)
    profiles = {spec.name: builder.profile(spec) for spec in PROFILES}
    ca_entries = []
    for (rid, index), ca_spec in sorted(CAS.items()):
        key = builder.ca(rid, index).public
        ca_entries.append(ca_key_entry(rid, index, key, ca_spec.expiry, "cardcore test CA"))
    issuers = []
    for name, spec in ISSUERS.items():
        imks = builder.imks(name)
        prefixes = sorted({c["pan"][:6] for c in builder.cards if c["issuer"] == name})
        issuers.append(
            {
                "name": name,
                "pan_prefixes": prefixes,
                "derivation_option": spec.mk_option,
                "imk_ac": imks.ac.hex().upper(),
                "imk_smi": imks.smi.hex().upper(),
                "imk_smc": imks.smc.hex().upper(),
                "kcv_ac": kcv_tdes(imks.ac).hex().upper(),
                "kcv_smi": kcv_tdes(imks.smi).hex().upper(),
                "kcv_smc": kcv_tdes(imks.smc).hex().upper(),
            }
        )
    warning = "TEST ONLY - public test material for the simulator; never use these keys live"
    return Generated(
        profiles=profiles,
        ca_keys={"format": 1, "warning": warning, "keys": ca_entries},
        issuer_keys={
            "format": 1,
            "warning": warning,
            "issuers": issuers,
            "cards": builder.cards,
        },
    )
