# Strategy: `loadmasterkeys` (manual «Загрузка мастер ключей»; issue 8).
# - POST <keyrequest><sn/><tid/></keyrequest> over HTTPS to the key-loading
#   server (main, then mirror), presenting the key-loader client certificate
#   from activation and trusting the CA that signed it.
# - Answer: <keyrequest>...<keys><key><value>KEYBLOCK</value><tag>T</tag>
#   </key>...</keys><status>ok</status></keyrequest>, or status failed with
#   <message>. T is the manual's key type code. Each key may also carry
#   <wrap> (rsa-oaep = OAEP SHA-256, rsa-oaep-sha1, rsa-pkcs1, tr31),
#   <algorithm> (01 TDES, 02 AES) and <kcv> (hex; checked when present).
#   Without <wrap>: hex of exactly the RSA modulus size is RSA ciphertext to
#   the key-loader key, tried OAEP SHA-256, OAEP SHA-1, PKCS#1 v1.5 (one
#   generic error for all); a value whose header declares its own length is
#   a TR-31 block.
# - TR-31 blocks are unwrapped under the key block protection key: type FF
#   (the manual reserves FF for protocol extensions; here it is the KBPK),
#   delivered RSA-wrapped in the same answer or kept from an earlier load.
# - KCVs (X9.24): TDES keys encrypt eight zero bytes, AES keys take the CMAC
#   of sixteen zero bytes; three bytes, upper-case hex. Each receipt key
#   names its method in `kcv-method` (tdes-encrypt-zeros | aes-cmac-zeros),
#   beside the manual's fields.
# - Each key is judged on its own: one that does not unwrap, has an unknown
#   type or a wrong KCV gets `result` failed (with `reason`) on the receipt,
#   and the others are still installed; the answer is then `failed`, with the
#   receipt and an error per failed key (docs/protocol-decisions.md). The keys
#   that pass reach the KeyStore together in one staged generation.
# - Type 0A (reserved in the manual) is the SAM AV2 host key: AES-128, named
#   by the key's <name> (the name `sethostkey` takes), installed as
#   `sethostkey` installs it (cardcore.samhostkey), since the manual says the
#   host key may come from the key server.
# KeyStore names used by the acquirer link (issue 6 `loadworkkeys`):
#   05 -> tmk-pin, 03 -> tmk-mac, 0B -> tmk-pin and tmk-mac (one key for both),
#   09 -> tmk-traffic, 0C -> klk, 10 -> kmkm, 0D -> tmk-cft, 0E -> tak-cft,
#   FF -> kbpk.
from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from acquirers.http import map_httpx_errors
from base.crypto import tr31
from base.crypto.des import kcv_aes, kcv_tdes
from base.errors import CardcoreError
from base.xmlread import XmlError, read_element
from cardcore.protocol.status import status_of
from cardcore.provisioning import pki
from cardcore.provisioning.credentials import client_ssl_context, identity
from cardcore.provisioning.errors import (
    ProvisioningError,
    ProvisioningFormatError,
    ProvisioningLinkError,
    ProvisioningMissingData,
    ProvisioningTimeout,
    VerificationFailed,
)
from cardcore.samhostkey import install_host_key
from cardcore.terminal import Terminal

__all__ = ["KEY_NAMES", "SAM_HOST_KEY", "LoadedKey", "MasterKeysLoad", "load_master_keys"]

log = logging.getLogger(__name__)

KEY_NAMES: dict[str, tuple[str, ...]] = {
    "05": ("tmk-pin",),
    "03": ("tmk-mac",),
    "0B": ("tmk-pin", "tmk-mac"),
    "09": ("tmk-traffic",),
    "0C": ("klk",),
    "10": ("kmkm",),
    "0D": ("tmk-cft",),
    "0E": ("tak-cft",),
    "FF": ("kbpk",),
}
SAM_HOST_KEY = "0A"  # the manual's reserved type: here the SAM AV2 host key
ALGORITHMS = {"01": "tdes", "02": "aes"}
_TR31 = re.compile(r"^[ABCD]\d{4}[0-9A-Z]{2}[0-9A-Z][0-9A-Z]")


@dataclass(frozen=True)
class LoadedKey:
    type: str
    algorithm: str  # "01" TDES, "02" AES
    kcv: str
    failure: str | None = None  # why the key was not installed
    status: str = "ok"  # the ECR status of that failure


@dataclass(frozen=True)
class MasterKeysLoad:
    """The manual's receipt, the texts of the keys that failed and the
    status of the first failure (the answer's when any failed)."""

    receipt: dict[str, object]
    failures: list[str]
    status: str = "ok"


def kcv_method(algorithm: str) -> str:
    """How `kcv_of` computed a key's check value (the receipt's `kcv-method`)."""
    return "aes-cmac-zeros" if algorithm == "02" else "tdes-encrypt-zeros"


def kcv_of(key: bytes, algorithm: str) -> str:
    """TDES: encrypt zeros; AES: CMAC of zeros (X9.24-1 / X9.24-3), 3 bytes."""
    value = kcv_aes(key) if algorithm == "02" else kcv_tdes(key)
    return value.hex().upper()


def _text(el: ET.Element, name: str) -> str | None:
    child = el.find(name)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _rsa_unwrap(private: rsa.RSAPrivateKey, data: bytes, wrap: str | None) -> bytes:
    schemes: dict[str, padding.AsymmetricPadding] = {
        "rsa-oaep": padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
        "rsa-oaep-sha1": padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None),  # noqa: S303
        "rsa-pkcs1": padding.PKCS1v15(),
    }
    order = [wrap] if wrap is not None else list(schemes)
    for name in order:
        scheme = schemes.get(name or "")
        if scheme is None:
            raise ProvisioningFormatError(f"key server: unknown wrapping '{wrap}'")
        try:
            return private.decrypt(data, scheme)
        except ValueError:
            continue
    raise VerificationFailed("key server: a key does not decrypt with the key-loader key")


def _algorithm_for(key: bytes, declared: str | None) -> str:
    if declared is not None:
        if declared not in ALGORITHMS:
            raise ProvisioningFormatError(f"key server: unknown algorithm '{declared}'")
        return declared
    return "02" if len(key) == 32 else "01"


def _check_key(key: bytes, algorithm: str, tag: str) -> None:
    sizes = (16, 24, 32) if algorithm == "02" else (16, 24)
    if len(key) not in sizes:
        raise VerificationFailed(f"key server: key {tag} has an invalid length")


def _parse_answer(body: bytes) -> list[ET.Element]:
    try:
        root = read_element(body)
    except XmlError as exc:
        raise ProvisioningFormatError(f"key server: answer refused: {exc.message}") from None
    if root.tag != "keyrequest":
        raise ProvisioningFormatError(f"key server: answer root <{root.tag}>")
    status = _text(root, "status")
    if status != "ok":
        message = _text(root, "message") or "no message"
        raise ProvisioningError(f"key server refused the key request: {message}"[:200])
    keys = root.findall("keys/key")
    if not keys:
        raise ProvisioningMissingData("key server: no keys in the answer")
    return keys


async def _request(terminal: Terminal, body: bytes) -> bytes:
    cfg = terminal.config.provisioning
    urls = [u for u in (cfg.key_server_main, cfg.key_server_mirror) if u]
    if not urls:
        raise ProvisioningMissingData("no key server configured; update the configuration first")
    context = client_ssl_context(terminal.generation, "keyloader", identity("keyloader").ca_file)
    last: ProvisioningError | None = None
    async with httpx.AsyncClient(verify=context, timeout=cfg.http_timeout) as client:
        for url in urls:
            try:
                with map_httpx_errors(
                    "key server", communication=ProvisioningLinkError, timeout=ProvisioningTimeout
                ):
                    response = await client.post(
                        url, content=body, headers={"content-type": "application/xml"}
                    )
                if response.status_code != 200:
                    raise ProvisioningLinkError(f"key server answered HTTP {response.status_code}")
                if len(response.content) > cfg.max_document:
                    raise ProvisioningLinkError("key server answer too large")
            except (ProvisioningLinkError, ProvisioningTimeout) as exc:
                # Nothing is stored before the keys are checked, so the mirror
                # may be asked whatever went wrong with the main server.
                log.info("key server %s: %s", url, exc.message)
                last = exc
                continue
            return response.content
    assert last is not None
    raise last


async def load_master_keys(terminal: Terminal) -> MasterKeysLoad:
    """Fetch, unwrap, check and store the master keys; the manual's receipt
    with each key's result."""
    generation = terminal.generation
    if not generation.state.activated:
        raise ProvisioningMissingData("the terminal is not activated")
    tid = terminal.config.terminal.tid
    if not tid:
        raise ProvisioningMissingData("no terminal id; update the configuration first")
    request = ET.Element("keyrequest")
    ET.SubElement(request, "sn").text = generation.state.sn or terminal.devices.info.serial_number
    ET.SubElement(request, "tid").text = tid
    answer = await _request(terminal, ET.tostring(request, encoding="utf-8", xml_declaration=True))
    entries = _parse_answer(answer)
    ident = identity("keyloader")
    private = pki.decrypt_private_key(
        generation.read(ident.key_file) or b"",
        pki.client_key_password(generation.device_master_key()),
    )
    # The KBPK first: TR-31 blocks in the same answer may depend on it.
    entries.sort(key=lambda e: (_text(e, "tag") or "").upper() != "FF")
    kbpk: bytes | None = None
    if "kbpk" in terminal.provisioned_keys:
        kbpk = terminal.provisioned_keys.get("kbpk")
    results: list[LoadedKey] = []
    unwrapped: list[tuple[str, bytes, str]] = []
    host_keys: list[tuple[int, str, bytes]] = []  # (index in results, name, key)
    for entry in entries:
        tag = (_text(entry, "tag") or "").upper()
        try:
            key, algorithm = _unwrap_entry(entry, tag, private, kbpk)
            name = _text(entry, "name")
            if tag == SAM_HOST_KEY and not name:
                raise ProvisioningFormatError("key server: SAM host key without <name>")
        except CardcoreError as exc:
            declared = _text(entry, "algorithm") or ""
            results.append(LoadedKey(tag, declared, "", exc.message, status_of(exc)))
            continue
        if tag == "FF":
            kbpk = key
        if tag == SAM_HOST_KEY:
            host_keys.append((len(results), name or "", key))
        else:
            unwrapped.append((tag, key, algorithm))
        results.append(LoadedKey(tag, algorithm, kcv_of(key, algorithm)))
    if unwrapped:
        entries_by_name = {
            name: (key, ALGORITHMS[algorithm])
            for tag, key, algorithm in unwrapped
            for name in KEY_NAMES[tag]
        }
        with terminal.provisioning.stage() as staging:
            staging.keystore().put_many(entries_by_name)
            staging.state.master_keys_loaded_at = dt.datetime.now(dt.UTC).isoformat(
                timespec="seconds"
            )
            terminal.publish(staging, terminal.config)
        # The acquirer link reads the master keys from the live generation's
        # store (cardcore.hostlink.HostService.master_keys): the publish above
        # switched it.
    for index, name, key in host_keys:
        try:
            await install_host_key(terminal, name, key)
        except CardcoreError as exc:
            done = results[index]
            results[index] = LoadedKey(
                done.type, done.algorithm, done.kcv, exc.message, status_of(exc)
            )
    failures = [f"key {k.type}: {k.failure}" for k in results if k.failure is not None]
    loaded = [f"{k.type} kcv {k.kcv}" for k in results if k.failure is None]
    log.info("master keys loaded: %s", ", ".join(loaded) or "none")
    for failure in failures:
        log.warning("master key not loaded: %s", failure)
    status = next((k.status for k in results if k.failure is not None), "ok")
    return MasterKeysLoad(_receipt(terminal, results), failures, status)


def _unwrap_entry(
    entry: ET.Element, tag: str, private: rsa.RSAPrivateKey, kbpk: bytes | None
) -> tuple[bytes, str]:
    """One key of the answer, unwrapped and checked: (key, algorithm)."""
    if tag not in KEY_NAMES and tag != SAM_HOST_KEY:
        raise ProvisioningFormatError(f"key server: unknown key type '{tag}'")
    value = (_text(entry, "value") or "").replace(" ", "")
    wrap = _text(entry, "wrap")
    declared = _text(entry, "algorithm")
    # Without <wrap>: RSA ciphertext is exactly the modulus size in hex; a
    # TR-31 block declares its own length in characters 2-5.
    rsa_sized = len(value) == private.key_size // 4 and re.fullmatch("[0-9A-Fa-f]+", value)
    looks_tr31 = bool(_TR31.match(value)) and int(value[1:5]) == len(value)
    if wrap == "tr31" or (wrap is None and looks_tr31 and not rsa_sized):
        if kbpk is None:
            raise ProvisioningMissingData("key server: TR-31 block but no key block protection key")
        header, key = tr31.unwrap(kbpk, value)
        if declared is None:
            declared = "02" if header.algorithm == "A" else "01"
    else:
        try:
            data = bytes.fromhex(value)
        except ValueError:
            raise ProvisioningFormatError(f"key server: key {tag} is not hex") from None
        key = _rsa_unwrap(private, data, wrap)
    if tag == SAM_HOST_KEY:
        declared = declared or "02"
        if declared != "02" or len(key) != 16:
            raise VerificationFailed("key server: a SAM host key is AES-128 (16 bytes)")
    algorithm = _algorithm_for(key, declared)
    _check_key(key, algorithm, tag)
    kcv = kcv_of(key, algorithm)
    expected = _text(entry, "kcv")
    if expected is not None and not hmac.compare_digest(expected.upper()[:6], kcv):
        raise VerificationFailed(f"key server: KCV of key {tag} does not match")
    return key, algorithm


def _receipt(terminal: Terminal, loaded: list[LoadedKey]) -> dict[str, object]:
    store = terminal.provisioned_keys
    pin, mac = store.describe("tmk-pin"), store.describe("tmk-mac")
    return {
        "pkcv": pin.kcv if pin else "none",
        "mkcv": mac.kcv if mac else "none",
        "keys": {"key": [_receipt_key(k) for k in loaded]},
    }


def _receipt_key(key: LoadedKey) -> dict[str, str]:
    if key.failure is not None:
        out = {"type": key.type, "algorithm": key.algorithm, "result": "failed"}
        out["reason"] = key.failure
        return out
    return {
        "type": key.type,
        "algorithm": key.algorithm,
        "result": "success",
        "kcv": key.kcv,
        "kcv-method": kcv_method(key.algorithm),
    }
