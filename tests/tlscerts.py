"""
Throwaway certificate authorities and certificates, made in the test, for
TLS tests on loopback: a server certificate for 127.0.0.1, and client
certificates for upstreams that ask for one.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any, List, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.python.filepath import FilePath


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _builder(subject: str, issuer: x509.Name, publicKey: Any) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(publicKey)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def _authority(
    common: str, issuer: "Tuple[x509.Certificate, Any] | None" = None
) -> Tuple[x509.Certificate, Any]:
    """
    A certificate authority named C{common}: self-signed, or an
    intermediate one signed by C{issuer}.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    signer = issuer[1] if issuer else key
    certificate = (
        _builder(common, issuer[0].subject if issuer else _name(common), key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(signer, hashes.SHA256())
    )
    return certificate, key


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _keyPEM(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def makeCertificates(
    directory: FilePath, names: Tuple[str, ...] = ()
) -> Tuple[FilePath, FilePath, FilePath]:
    """
    Write C{ca.pem}, C{server.pem} and C{server.key} into C{directory}.

    @param names: more host names the server certificate is for.

    @return: their paths.
    """
    directory.makedirs(ignoreExistingDirectory=True)
    ca, caKey = _authority("cheesecache test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder("127.0.0.1", ca.subject, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                + [x509.DNSName(name) for name in names]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(caKey, hashes.SHA256())
    )
    caPath, certPath, keyPath = (
        directory.child("ca.pem"), directory.child("server.pem"), directory.child("server.key")
    )
    caPath.setContent(_pem(ca))
    certPath.setContent(_pem(cert))
    keyPath.setContent(_keyPEM(key))
    return caPath, certPath, keyPath


def makeClientIdentity(directory: FilePath, intermediate: bool = False) -> Tuple[FilePath, FilePath]:
    """
    Write C{client-ca.pem}, an authority for client certificates, and
    C{client.pem}: a client certificate it signed, with its private key
    first, as pip's C{client-cert} takes them (one file).

    @param intermediate: sign the client certificate by an intermediate
        authority, which C{client.pem} then holds after the certificate.

    @return: their paths.
    """
    directory.makedirs(ignoreExistingDirectory=True)
    root = _authority("cheesecache test client CA")
    signer = _authority("cheesecache test client intermediate", root) if intermediate else root
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder("cheesecache client", signer[0].subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer[1], hashes.SHA256())
    )
    chain: List[bytes] = [_pem(signer[0])] if intermediate else []
    caPath, identityPath = directory.child("client-ca.pem"), directory.child("client.pem")
    caPath.setContent(_pem(root[0]))
    identityPath.setContent(_keyPEM(key) + _pem(cert) + b"".join(chain))
    return caPath, identityPath
