# Strategy: the public-key pieces of activation (manual «Инициализация
# терминала»; issue 8) on the `cryptography` package.
# - Each server (configuration, key loader, acquirer) gets its own RSA-2048
#   client key; the activator receives the public key as PEM
#   SubjectPublicKeyInfo and answers a certificate and its CA as PEM.
# - A signed certificate is accepted only if its public key is ours, it is a
#   valid X.509 certificate signed directly by the given CA (RSA PKCS#1 v1.5
#   or PSS, or ECDSA), and both are inside their validity periods now.
# - `confdata/cert` is the configuration server's root certificate (PEM or
#   DER bytes); `confdata/sign` is an RSA PKCS#1 v1.5 SHA-256 signature over
#   exactly those bytes made with the vendor's key; the terminal checks it
#   with the vendor public key it ships with (replaceable by configuration
#   for test deployments).
# - Client private keys are kept as PKCS#8 PEM encrypted (AES-256-CBC, scrypt
#   KDF via BestAvailableEncryption) under a password derived from the device
#   master key with HKDF-SHA256, in files of mode 0600: a copied data dir
#   without the device master key (a secure element on a real terminal) does
#   not give the keys away, and `ssl` can still load them with the password.
from __future__ import annotations

import datetime as dt
from importlib import resources

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cardcore.provisioning.errors import ProvisioningFormatError, VerificationFailed

__all__ = [
    "TEST_VENDOR_KEY_RESOURCE",
    "certificate_pem",
    "client_key_password",
    "decrypt_private_key",
    "encrypt_private_key",
    "expiry_date",
    "generate_client_key",
    "load_certificate",
    "load_vendor_key",
    "public_key_pem",
    "same_public_key",
    "verify_confdata",
    "verify_signed_certificate",
]

RSA_BITS = 2048
# The vendor public key bundled for simulator and test deployments. Its
# private half is a TEST ONLY fixture of tools/activator; a production build
# replaces this file (or sets provisioning.vendor-key-file).
TEST_VENDOR_KEY_RESOURCE = "vendor-test-public.pem"


def generate_client_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    """The public key as PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY")."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def load_certificate(data: bytes, what: str) -> x509.Certificate:
    """A certificate from PEM or DER bytes."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ProvisioningFormatError(f"{what} is not a valid X.509 certificate") from None


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _spki(key: object) -> bytes:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    return _spki(cert.public_key()) == _spki(key)


def _check_validity(cert: x509.Certificate, what: str, now: dt.datetime) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise VerificationFailed(f"{what} is outside its validity period")


def verify_signed_certificate(
    cert_pem: bytes,
    ca_pem: bytes,
    key: rsa.RSAPrivateKey,
    what: str,
    now: dt.datetime | None = None,
) -> tuple[x509.Certificate, x509.Certificate]:
    """Check an activator's answer: the cert carries our key and chains to ca."""
    moment = now or dt.datetime.now(dt.UTC)
    cert = load_certificate(cert_pem, f"{what} certificate")
    ca = load_certificate(ca_pem, f"{what} CA certificate")
    if not same_public_key(cert, key):
        raise VerificationFailed(f"{what} certificate does not carry the terminal's key")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise VerificationFailed(f"{what} certificate is not signed by its CA") from None
    _check_validity(cert, f"{what} certificate", moment)
    _check_validity(ca, f"{what} CA certificate", moment)
    return cert, ca


def load_vendor_key(pem: bytes | None = None) -> rsa.RSAPublicKey:
    """The vendor public key: ``pem`` if given, else the bundled test key."""
    if pem is None:
        pem = (
            resources.files("cardcore.provisioning").joinpath(TEST_VENDOR_KEY_RESOURCE).read_bytes()
        )
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise ProvisioningFormatError("vendor public key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProvisioningFormatError("vendor public key is not an RSA key")
    return key


def verify_confdata(cert_bytes: bytes, signature: bytes, vendor: rsa.RSAPublicKey) -> None:
    """RSA PKCS#1 v1.5 with SHA-256 over the root certificate's bytes."""
    try:
        vendor.verify(signature, cert_bytes, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise VerificationFailed(
            "configuration server certificate: vendor signature does not verify"
        ) from None


def client_key_password(device_master_key: bytes) -> bytes:
    return (
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cardcore client private keys")
        .derive(device_master_key)
        .hex()
        .encode("ascii")
    )


def encrypt_private_key(key: rsa.RSAPrivateKey, password: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


def decrypt_private_key(pem: bytes, password: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password)
    except (ValueError, TypeError):
        raise VerificationFailed("client private key does not decrypt") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise VerificationFailed("client private key is not an RSA key")
    return key


def expiry_date(cert: x509.Certificate) -> str:
    """dd.mm.yyyy, as getparameters shows certificate dates."""
    return cert.not_valid_after_utc.strftime("%d.%m.%Y")
