"""HTTPS on loopback for the bench: a throwaway certificate for 127.0.0.1, trusted the way a worker
trusts SendGrid's and Twilio's, so a send pays what TLS costs a client in production.

The vendors answer over HTTPS only; the peer's plain HTTP hides what the client's TLS costs (a
context that loads the CA store, a handshake, encryption). Here the peer serves a certificate
signed by itself, and the bench process trusts it through a CA bundle of the system's store plus
that certificate, named by SSL_CERT_FILE (what urllib and the `ssl` module read) and
REQUESTS_CA_BUNDLE (what `requests` reads): loading the bundle costs what loading the system store
costs, one certificate more.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def loopback_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (RSA 2048, as public APIs commonly serve) and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "complaints bench peer")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "peer-cert.pem", folder / "peer-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def system_bundle_with(certificate: Path, folder: Path) -> Path:
    """The store the `ssl` module loads by default, plus `certificate`."""
    system = ssl.get_default_verify_paths()
    store = Path(system.cafile or system.openssl_cafile)
    bundle = folder / "ca-bundle.pem"
    bundle.write_bytes((store.read_bytes() if store.is_file() else b"") + b"\n" + certificate.read_bytes())
    return bundle


@contextmanager
def trusting(bundle: Path) -> Iterator[None]:
    """This process trusts `bundle` for as long as the block runs (channels built inside read it)."""
    saved = {name: os.environ.get(name) for name in TRUST_VARIABLES}
    os.environ.update({name: str(bundle) for name in TRUST_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
