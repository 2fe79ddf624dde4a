"""X.509 material for TLS on NATS connections (`networked.tls: true`).

Each organization has its own TLS CA (ECDSA P-256, as Go's and OpenSSL's TLS stacks both
take it); every node gets one certificate from its organization's CA, usable as server
(NATS servers) and client (every node, checked by the servers). A node trusts the bundle
of all organizations' TLS CA certificates, which is public.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_VALIDITY_DAYS = 3650
CLOCK_SKEW_ALLOWED = datetime.timedelta(hours=1)  # certificates start slightly in the past


@dataclass(frozen=True, slots=True)
class TlsPair:
    key_pem: bytes  # PKCS#8, unencrypted: written owner-only
    cert_pem: bytes


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_ca(org: str) -> TlsPair:
    """An organization's self-signed TLS CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC) - CLOCK_SKEW_ALLOWED
    name = _name(f"{org} TLS CA", org)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=TLS_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .sign(key, hashes.SHA256())
    )
    return TlsPair(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def issue(ca: TlsPair, org: str, node_id: str, hosts: list[str]) -> TlsPair:
    """A node certificate for `node_id`, valid for the given host names and addresses."""
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(node_id.lower())]
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC) - CLOCK_SKEW_ALLOWED
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(node_id, org))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=TLS_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return TlsPair(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))
