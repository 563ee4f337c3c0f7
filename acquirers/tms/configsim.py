# Strategy: a simulator of the terminal-management (configuration) server
# (issue 8), a real HTTPS server with mutual TLS on the acquirers.http core:
#   GET /terminals/{sn}      -> <epay header="/common/header_{pack}"><terminal ..>
#   GET /common/header_{pack} -> <hconf><include root name stage src/>...</hconf>
#   GET /common/{tag}_{id}   -> the included part
# Only terminals whose client certificate chains to the configuration client
# CA get an answer (the TLS layer refuses the rest), and a terminal may fetch
# only its own part: the serial in the path must match the certificate's
# common name (the device identifier ends with the serial number).
# Documents are kept as bytes by path so tests can replace one (a bad
# include), bump a stage, or take the whole server down (HTTP 503).
from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass, field

from cryptography.x509.oid import NameOID

from acquirers.http import HTTPException, Request, Response, Router

__all__ = ["ConfigServerSimulator", "TerminalProfile", "default_documents"]


def _attr(value: str) -> str:
    """A double-quoted XML attribute value (not xml.sax.saxutils: its module
    imports urllib.request, http.client and the email package)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        value = value.replace(char, entity)
    return f'"{value}"'


@dataclass
class TerminalProfile:
    """What the simulator provisions a terminal with."""

    sn: str
    tid: str = "00000001"
    mid: str = "000000000000001"
    mcc: str = "5411"
    merchant: str = "CARDCORE TEST SHOP MOSCOW"
    acquirer_id: str = "simacq"
    acquirer_main: tuple[str, int] | None = None
    acquirer_mirror: tuple[str, int] | None = None
    acquirer_tls: bool = False
    key_server: str | None = None
    key_server_mirror: str | None = None
    pack: str = "sim"
    stages: dict[str, str] = field(
        default_factory=lambda: {
            "terminal": "24-01-01.01",
            "cconf": "24-01-01.01",
            "econf": "24-01-01.01",
            "kconf": "24-01-01.01",
        }
    )


# A CA public key entry in the EMV Book 2 11.2 layout (test data; the checksum
# is computed, so the terminal's checksum rule is exercised).
_TEST_CAPK = (
    "A000000003",
    "92",
    "996AF56F569187D09293C14810450ED8EE3357397B18A2458EFAA92DA3B6DF6514EC060195318FD43BE9B8F0CC669E3F844057CBDDF8BDA191BB64473BC8DC9A730DB8F6B4EDE3924186FFD9B8C7735789C23A36BA0B8AF65372EB57EA5D89E7D14E9C7B6B557460F10885DA16AC923F15AF3758F0F03EBD3C5C2C949CBA306DB44E6A2C076C5F67E281D7EF56785DC4D75945E491F01918800A9E2DC66F60080566CE0DAF8D17EAD46AD8E30A247C9F",
    "03",
)


def _hex(text: str) -> str:
    return text.encode("utf-8").hex().upper()


def default_documents(profile: TerminalProfile) -> dict[str, bytes]:
    """The documents of one terminal, by path."""
    st = profile.stages
    terminal = (
        f'<epay header="/common/header_{profile.pack}">'
        f'<terminal name="{profile.pack}_terminal" stage="{st["terminal"]}">'
        "<options><application>"
        f'<tag name="9F1C">{_hex(profile.tid)}</tag>'
        f'<tag name="9F16">{_hex(profile.mid)}</tag>'
        f'<tag name="9F15">{profile.mcc}</tag>'
        f'<tag name="9F4E">{_hex(profile.merchant)}</tag>'
        "</application></options></terminal></epay>"
    )
    hosts = ""
    for role, host in (("main", profile.acquirer_main), ("mirror", profile.acquirer_mirror)):
        if host is not None:
            hosts += f'<host role="{role}" address={_attr(host[0])} port="{host[1]}"/>'
    keyloader = ""
    for role, url in (("main", profile.key_server), ("mirror", profile.key_server_mirror)):
        if url:
            keyloader += f'<host role="{role}" url={_attr(url)}/>'
    if keyloader:
        keyloader = f"<keyloader>{keyloader}</keyloader>"
    common = (
        f'<cconf name="{profile.pack}_common" stage="{st["cconf"]}">'
        f'<acquirer id={_attr(profile.acquirer_id)} dialect="generic87"'
        f' tls="{"true" if profile.acquirer_tls else "false"}">{hosts}</acquirer>'
        f"{keyloader}</cconf>"
    )
    emv = (
        f'<econf name="{profile.pack}_emv" stage="{st["econf"]}">'
        '<terminal><tag name="9F1A">0643</tag><tag name="9F33">E0F8C8</tag>'
        '<tag name="9F40">6000F0A001</tag><tag name="9F35">22</tag></terminal>'
        '<application aid="A0000000031010" label="VISA" version="0096"/>'
        '<application aid="A0000000041010" label="MASTERCARD" version="0002" '
        'tac-denial="0000000000" tac-online="F45084800C" tac-default="F45084800C"/>'
        '<application aid="A0000006581010" label="MIR" version="0100"/>'
        "</econf>"
    )
    rid, index, modulus, exponent = _TEST_CAPK
    checksum = hashlib.sha1(bytes.fromhex(rid + index + modulus + exponent)).hexdigest().upper()  # noqa: S324
    capk = (
        f'<kconf name="{profile.pack}_ca_keys" stage="{st["kconf"]}">'
        f'<key rid="{rid}" index="{index}" exponent="{exponent}" checksum="{checksum}">'
        f"{modulus}</key></kconf>"
    )
    header = (
        "<hconf>"
        f'<include root="cconf" name="{profile.pack}_common" stage="{st["cconf"]}" '
        f'src="/common/cconf_{profile.pack}"/>'
        f'<include root="econf" name="{profile.pack}_emv" stage="{st["econf"]}" '
        f'src="/common/econf_{profile.pack}"/>'
        f'<include root="kconf" name="{profile.pack}_ca_keys" stage="{st["kconf"]}" '
        f'src="/common/kconf_{profile.pack}"/>'
        "</hconf>"
    )
    return {
        f"/terminals/{profile.sn}": terminal.encode(),
        f"/common/header_{profile.pack}": header.encode(),
        f"/common/cconf_{profile.pack}": common.encode(),
        f"/common/econf_{profile.pack}": emv.encode(),
        f"/common/kconf_{profile.pack}": capk.encode(),
    }


class ConfigServerSimulator:
    """Serves documents by path; ``down`` answers 503 to everything."""

    def __init__(self, documents: dict[str, bytes] | None = None) -> None:
        self.documents: dict[str, bytes] = dict(documents or {})
        self.down = False
        self.requests: list[str] = []
        self.router = Router()
        self.router.add("GET", "/terminals/{sn}", self._terminal)
        self.router.add("GET", "/common/{name}", self._common)

    def install(self, profile: TerminalProfile) -> None:
        self.documents.update(default_documents(profile))

    def _check(self, request: Request) -> None:
        self.requests.append(request.path)
        if self.down:
            raise HTTPException(503, "configuration server is down")

    async def _terminal(self, request: Request) -> Response:
        self._check(request)
        sn = request.path_params["sn"]
        cert = request.certificate()
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) if cert else []
        cn = str(names[0].value) if names else ""
        if not cn.endswith(sn):
            raise HTTPException(403, "certificate does not belong to this terminal")
        return self._document(request.path)

    async def _common(self, request: Request) -> Response:
        self._check(request)
        return self._document(request.path)

    def _document(self, path: str) -> Response:
        body = self.documents.get(path)
        if body is None:
            raise HTTPException(404, f"no document {_attr(path)}")
        return Response(200, body, "application/xml; charset=utf-8", ())

    @staticmethod
    def tls(cert_file: str, key_file: str, client_ca_file: str) -> ssl.SSLContext:
        from acquirers.http import server_ssl_context

        return server_ssl_context(cert_file, key_file, client_ca_file=client_ca_file)
