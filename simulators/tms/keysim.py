# Strategy: a simulator of the key-loading server (issue 8), a real HTTPS
# server with mutual TLS on the acquirers.http core.
#   POST /keyrequest  <keyrequest><sn/><tid/></keyrequest>
#   -> <keyrequest><sn/><tid/><keys><key><value/><tag/>[<kcv/>]</key>...</keys>
#      <status>ok</status></keyrequest>  or  <status>failed</status><message/>
# The keys are wrapped to the public key of the client certificate the
# terminal presents (its key-loader certificate from activation, which the
# public management server also records for this purpose: ru.shtrih.kds
# tools/Reset.java keeps `keyLoaderCert` from the runreset answer):
#   mode "rsa-oaep" (OAEP SHA-256), "rsa-pkcs1" (PKCS#1 v1.5), or "tr31": a
#   random key block protection key goes RSA-OAEP-wrapped as type FF and the
#   master keys as TR-31 version D (or `tr31_version`) blocks under it.
# Other modes for failure tests: "bad-kcv" announces a wrong KCV, "refuse"
# answers status failed; `bad_kcv` names the types whose KCV alone is wrong.
# A key with a name in `names` carries it in <name> (the SAM host key, type
# 0A, is named so); AES-128 keys of type 0A go with <algorithm>02.
# Default keys: the TEST ONLY terminal master keys of
# simulators/test_keys.json (type 05 PIN, 03 MAC), so the host simulator
# accepts working keys enciphered under them.
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from acquirers.http import HTTPException, Request, Response, Router
from base.crypto import tr31
from base.crypto.des import kcv_aes, kcv_tdes
from simulators.testkeys import load_test_keys

__all__ = ["KEY_TYPES", "KeyServerSimulator"]

# The key type codes of the manual («Загрузка мастер ключей», <type>): what
# the key server may serve. FF (reserved for extensions) is the key block
# protection key, which the "tr31" mode makes and sends itself.
KEY_TYPES: dict[str, str] = {
    "03": "MAC master key (Smart Vista)",
    "05": "PIN master key (Smart Vista)",
    "09": "traffic master key (Compass+)",
    "0A": "reserved; here the SAM AV2 host key (AES-128)",
    "0B": "one master key for both MAC and PIN",
    "0C": "KLK1 (Tieto, first version)",
    "10": "KMKM (Tieto, second version)",
    "0D": "TMK (CFT)",
    "0E": "TAK (CFT)",
    "FF": "reserved for extensions; here the key block protection key",
}


def _default_keys() -> dict[str, bytes]:
    master = load_test_keys().master
    return {"05": master.pin, "03": master.mac}


@dataclass
class KeyServerSimulator:
    mode: str = "rsa-oaep"
    tr31_version: str = "D"
    keys: dict[str, bytes] = field(default_factory=_default_keys)
    requests: list[tuple[str, str]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # type -> <name>
    bad_kcv: set[str] = field(default_factory=set)  # types announced with a wrong KCV

    def __post_init__(self) -> None:
        self.router = Router()
        self.router.add("POST", "/keyrequest", self._keyrequest)

    async def _keyrequest(self, request: Request) -> Response:
        root = request.xml()
        sn = (root.findtext("sn") or "").strip()
        tid = (root.findtext("tid") or "").strip()
        self.requests.append((sn, tid))
        cert = request.certificate()
        if cert is None:
            raise HTTPException(403, "client certificate required")
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if root.tag != "keyrequest" or not sn or not tid or not str(names[0].value).endswith(sn):
            return self._answer(sn, tid, None, "request does not match the certificate")
        if self.mode == "refuse":
            return self._answer(sn, tid, None, "no keys for this terminal")
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise HTTPException(400, "RSA client key required")
        return self._answer(sn, tid, self._wrap_all(public), None, self.names)

    def _wrap_all(self, public: rsa.RSAPublicKey) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        aes = {tag for tag, key in self.keys.items() if tag == "0A" or len(key) == 32}
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        kbpk = os.urandom(32 if self.tr31_version == "D" else 24)
        if self.mode == "tr31":
            out.append(("FF", public.encrypt(kbpk, oaep).hex().upper(), _kcv(kbpk)))
        for tag, key in self.keys.items():
            kcv = (kcv_aes(key) if tag in aes else kcv_tdes(key)).hex().upper()
            if self.mode == "tr31":
                header = tr31.Header(
                    version=self.tr31_version,
                    key_usage="K0",
                    algorithm="A" if len(key) == 32 else "T",
                    mode_of_use="D",
                )
                value = tr31.wrap(kbpk, header, key)
            elif self.mode == "rsa-pkcs1":
                value = public.encrypt(key, padding.PKCS1v15()).hex().upper()
            else:
                value = public.encrypt(key, oaep).hex().upper()
            if self.mode == "bad-kcv" or tag in self.bad_kcv:
                kcv = "000000" if kcv != "000000" else "111111"
            out.append((tag, value, kcv))
        return out

    @staticmethod
    def _answer(
        sn: str,
        tid: str,
        keys: list[tuple[str, str, str]] | None,
        message: str | None,
        names: dict[str, str] | None = None,
    ) -> Response:
        root = ET.Element("keyrequest")
        ET.SubElement(root, "sn").text = sn
        ET.SubElement(root, "tid").text = tid
        if keys is None:
            ET.SubElement(root, "status").text = "failed"
            ET.SubElement(root, "message").text = message
            return Response.xml(root)
        container = ET.SubElement(root, "keys")
        for tag, value, kcv in keys:
            key = ET.SubElement(container, "key")
            ET.SubElement(key, "value").text = value
            ET.SubElement(key, "tag").text = tag
            ET.SubElement(key, "kcv").text = kcv
            if tag == "0A":
                ET.SubElement(key, "algorithm").text = "02"
            if names and tag in names:
                ET.SubElement(key, "name").text = names[tag]
        ET.SubElement(root, "status").text = "ok"
        return Response.xml(root)


def _kcv(key: bytes) -> str:
    """TDES keys: encrypt zeros; AES (32-byte) keys: CMAC of zeros."""
    return (kcv_aes(key) if len(key) == 32 else kcv_tdes(key)).hex().upper()
