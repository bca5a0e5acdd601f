"""Certificates for the lab: one CA per lab, a serving certificate per apiserver, and the
service-account signing key. Clients authenticate with bearer tokens (--token-auth-file)."""
from __future__ import annotations

import datetime
import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_VALID_FOR = datetime.timedelta(days=30)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, sans=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + _VALID_FOR)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


class CertificateAuthority:
    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_file = directory / "ca.crt"
        key_file = directory / "ca.key"
        if key_file.exists():
            self._key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())
            cert = _certificate("multicluster-lab-ca", "multicluster-lab-ca", self._key.public_key(), self._key, ca=True)
            key_file.write_bytes(_pem_key(self._key))
            self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def serving_pair(self, name: str, host: str = "127.0.0.1") -> tuple:
        """A certificate for a server on 127.0.0.1, localhost and `host`: (cert_file, key_file)."""
        cert_file, key_file = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        if not cert_file.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            sans = [x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"),
                    *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted({"127.0.0.1", host}))]
            cert = _certificate(name, "multicluster-lab-ca", key.public_key(), self._key, ca=False, sans=sans)
            key_file.write_bytes(_pem_key(key))
            cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_file, key_file


def service_account_key(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        path.write_bytes(_pem_key(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    return path
