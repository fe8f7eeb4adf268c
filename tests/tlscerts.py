"""
A throwaway certificate authority and a server certificate for 127.0.0.1,
made in the test, for TLS tests on loopback.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.python.filepath import FilePath


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def makeCertificates(
    directory: FilePath, names: Tuple[str, ...] = ()
) -> Tuple[FilePath, FilePath, FilePath]:
    """
    Write C{ca.pem}, C{server.pem} and C{server.key} into C{directory}.

    @param names: more host names the server certificate is for.

    @return: their paths.
    """
    directory.makedirs(ignoreExistingDirectory=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    caKey = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("cheesecache test CA"))
        .issuer_name(_name("cheesecache test CA"))
        .public_key(caKey.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(caKey, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                + [x509.DNSName(name) for name in names]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(caKey, hashes.SHA256())
    )
    caPath, certPath, keyPath = (
        directory.child("ca.pem"), directory.child("server.pem"), directory.child("server.key")
    )
    caPath.setContent(ca.public_bytes(serialization.Encoding.PEM))
    certPath.setContent(cert.public_bytes(serialization.Encoding.PEM))
    keyPath.setContent(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return caPath, certPath, keyPath
