"""A certificate authority of the rehearsal's own, for the calls that go past the seam.

Every process the driver starts trusts this CA (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, CURL_CA_BUNDLE) and has its
HTTPS proxy set to the stand-in, so a client that calls https://<host>.googleapis.com directly (not through
GOOGLE_APIS_BASE_URL) reaches the stand-in through a CONNECT tunnel, which it answers as that host. That turns
a call this offline machine would hang on (DNS, retries) into an answer at once, on the record. The key lives
in memory and in the run's own folder only; it signs nothing but certificates for the hosts asked for.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class Authority:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rehearsal stand-in CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.bundle = folder / "ca.pem"
        self.bundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for `host`, signed by this authority."""
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._make(host)
            return self._contexts[host]

    def _make(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.NamedTemporaryFile("wb", dir=self.folder, suffix=".pem", delete=False) as chain:
            chain.write(cert.public_bytes(serialization.Encoding.PEM))
            chain.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        context.load_cert_chain(chain.name)
        context.set_alpn_protocols(["h2", "http/1.1"])  # gRPC clients insist on h2 (grpc_tunnel.py)
        Path(chain.name).unlink()
        return context

    def environment(self) -> dict[str, str]:
        bundle = str(self.bundle)
        return {
            "REQUESTS_CA_BUNDLE": bundle,
            "SSL_CERT_FILE": bundle,
            "CURL_CA_BUNDLE": bundle,
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": bundle,
        }
