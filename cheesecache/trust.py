# -*- test-case-name: tests.test_trust -*-
"""
Which certificate authorities HTTPS upstreams are checked against.

By default, the system's (OpenSSL's default paths, which honour
C{SSL_CERT_FILE}).  Networks whose proxy inspects TLS re-sign every
certificate with the company's own authority; pip is then given that
authority's bundle (its C{cert} setting: C{--cert}, C{PIP_CERT}, pip's
configuration files), and cheesecache takes the same bundle.
"""

from __future__ import annotations

import re
from typing import Any, List

from twisted.internet.ssl import Certificate, trustRootFromCertificates

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
