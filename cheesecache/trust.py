# -*- test-case-name: tests.test_trust -*-
"""
How cheesecache speaks TLS to HTTPS servers (its upstreams, and proxies
spoken to over TLS): which certificate authorities their certificates are
checked against, and which client certificate it shows those that ask.

The authorities are by default the system's (OpenSSL's default paths,
which honour C{SSL_CERT_FILE}).  Networks whose proxy inspects TLS re-sign
every certificate with the company's own authority; pip is then given that
authority's bundle (its C{cert} setting: C{--cert}, C{PIP_CERT}, pip's
configuration files), and cheesecache takes the same bundle.

A company index may also want a client certificate (mutual TLS); pip is
then given one file holding the certificate and its private key (its
C{client-cert} setting), and cheesecache takes the same file.

An index whose certificate cannot be checked at all (self-signed, or for
another name) is named to pip as a trusted host (its C{trusted-host}
setting), and cheesecache then skips the checks for it as pip does: the
traffic is still encrypted, but anyone between could read or change it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import attrs
from OpenSSL import SSL
from OpenSSL.crypto import FILETYPE_PEM
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.error import VerifyError
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    KeyPair,
    PrivateCertificate,
    optionsForClientTLS,
    trustRootFromCertificates,
)
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

_PEM = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


class BadBundle(ValueError):
    """
    A CA bundle holds no certificate, or one that cannot be read.
    """


def certificatesIn(pem: bytes) -> List[Certificate]:
    """
    The certificates of a PEM bundle (text between them, such as the
    comments some bundles carry, is skipped).

    @raise BadBundle: there is none, or one does not parse.
    """
    blocks = _PEM.findall(pem)
    if not blocks:
        raise BadBundle("no PEM certificate in it")
    certificates = []
    for i, block in enumerate(blocks):
        try:
            certificates.append(Certificate.loadPEM(block))
        except Exception as e:
            raise BadBundle(f"certificate {i + 1} cannot be read: {e}") from None
    return certificates


def bundleTrust(path: str) -> Any:
    """
    A trust root (for L{BrowserLikePolicyForHTTPS}) of the authorities in
    the PEM bundle at C{path}, and only those, as pip's C{--cert} does.

    @raise BadBundle: it cannot be read, or holds no certificate.
    """
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise BadBundle(e.strerror or str(e)) from None
    return trustRootFromCertificates(certificatesIn(pem))


class BadIdentity(ValueError):
    """
    A client certificate file that cannot be used.
    """


_PRIVATE_KEY = re.compile(
    rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----\r?\n.+?\r?\n"
    rb"-----END \1-----",
    re.DOTALL,
)


@attrs.frozen
class ClientIdentity:
    """
    A client certificate with its private key, and the intermediate
    certificates that lead from it to its authority (sent with it).
    """

    certificate: PrivateCertificate
    chain: Tuple[Certificate, ...] = ()


def clientIdentity(path: str) -> ClientIdentity:
    """
    The client certificate in the PEM file at C{path}, as pip's
    C{client-cert} takes it: one file holding the private key and the
    certificate, in either order, with any intermediate certificates after
    the client's own.

    @raise BadIdentity: it cannot be read, lacks the key or the certificate,
        has its key encrypted (nothing could ask for the pass phrase), or
        the key is not the certificate's.
    """
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise BadIdentity(e.strerror or str(e)) from None
    try:
        certificates = certificatesIn(pem)
    except BadBundle as e:
        raise BadIdentity(str(e)) from None
    key = _PRIVATE_KEY.search(pem)
    if key is None:
        raise BadIdentity("no PEM private key in it (the file must hold the key and the certificate)")
    if key.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in key.group(0):
        raise BadIdentity("its private key is encrypted; give one without a pass phrase")
    try:
        keyPair = KeyPair.load(key.group(0), FILETYPE_PEM)
    except Exception as e:
        raise BadIdentity(f"its private key cannot be read: {e}") from None
    try:
        certificate = PrivateCertificate.fromCertificateAndKeyPair(certificates[0], keyPair)
    except VerifyError:
        raise BadIdentity("its private key is not the first certificate's") from None
    return ClientIdentity(certificate, tuple(certificates[1:]))


class BadTrustedHost(ValueError):
    """
    A trusted host that is not a host, or C{host:port}.
    """


@attrs.frozen
class TrustedHost:
    """
    A host whose certificate is not checked, as pip's C{trusted-host}
    names it: on every port, or on one.

    @ivar host: lower case; an IPv6 address without its brackets.
    """

    host: str
    port: Optional[int] = None

    def covers(self, host: str, port: int) -> bool:
        return host.lower() == self.host and self.port in (None, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def trustedHosts(entries: Sequence[str]) -> Tuple[TrustedHost, ...]:
    """
    The trusted hosts C{entries} name, each C{host} or C{host:port} (an
    IPv6 address in brackets), as pip reads its C{trusted-host} setting; an
    entry may hold several, separated by white space.

    @raise BadTrustedHost: an entry is not a host, or has a bad port.
    """
    found = []
    for entry in (word for text in entries for word in text.split()):
        try:
            parts = urlsplit("https://" + entry)
            host, port = parts.hostname, parts.port
        except ValueError as e:
            raise BadTrustedHost(f"{entry!r}: {e}") from None
        if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
            raise BadTrustedHost(f"{entry!r}: not a host, or host:port")
        found.append(TrustedHost(host, port))
    return tuple(found)


@implementer(IOpenSSLClientConnectionCreator)
class _Unchecked:
    """
    TLS to a trusted host: its certificate and name go unchecked, but the
    name is still sent (SNI: a server of many names needs it to choose a
    certificate), and so is the client certificate, if any.
    """

    def __init__(self, hostname: str, context: SSL.Context) -> None:
        self._name = (
            None if isIPAddress(hostname) or isIPv6Address(hostname)
            else hostname.encode("idna")
        )
        self._context = context

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        if self._name is not None:
            connection.set_tlsext_host_name(self._name)
        return connection


@implementer(IPolicyForHTTPS)
@attrs.frozen
class UpstreamTLS:
    """
    TLS as cheesecache speaks it to HTTPS servers: their certificates and
    names checked as a browser does (see C{BrowserLikePolicyForHTTPS}), and
    a client certificate shown to those that ask for one, as pip does.

    @ivar trustRoot: the authorities certificates are checked against
        (C{None}: the system's).
    @ivar identity: the client certificate, if there is one.
    @ivar trusted: the hosts whose certificates are not checked at all.
    """

    trustRoot: Any = None
    identity: Optional[ClientIdentity] = None
    trusted: Tuple[TrustedHost, ...] = ()

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        name = hostname.decode("ascii")
        extra: Dict[str, Any] = {}
        certificate = None
        if self.identity is not None:
            certificate = self.identity.certificate
            if self.identity.chain:
                extra["extraCertChain"] = [c.original for c in self.identity.chain]
        if any(t.covers(name, port) for t in self.trusted):
            if certificate is not None:
                extra["privateKey"] = certificate.privateKey.original
                extra["certificate"] = certificate.original
            return _Unchecked(name, CertificateOptions(verify=False, **extra).getContext())
        return optionsForClientTLS(
            name,
            trustRoot=self.trustRoot,
            clientCertificate=certificate,
            extraCertificateOptions=extra or None,
        )
