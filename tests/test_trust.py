"""
Tests for L{cheesecache.trust}: CA bundles, client certificates and
trusted hosts for HTTPS upstreams.
"""

from __future__ import annotations

from typing import Tuple

from cryptography.hazmat.primitives import serialization
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.trust import (
    BadBundle,
    BadIdentity,
    BadTrustedHost,
    TrustedHost,
    bundleTrust,
    certificatesIn,
    clientIdentity,
    trustedHosts,
)

from .tlscerts import makeCertificates, makeClientIdentity


class CertificatesInTests(SynchronousTestCase):
    """
    Tests for L{certificatesIn}.
    """

    def setUp(self) -> None:
        ca, cert, key = makeCertificates(FilePath(self.mktemp()))
        self.ca, self.cert = ca.getContent(), cert.getContent()

    def test_bundle(self) -> None:
        """
        Every certificate of a bundle is read, in order; the text around
        them (comments, as some bundles carry) is skipped.
        """
        bundle = b"# Company root\n" + self.ca + b"\nIssuer: whoever\n" + self.cert.replace(b"\n", b"\r\n")
        certificates = certificatesIn(bundle)
        self.assertEqual(
            [c.getSubject().commonName for c in certificates],
            [b"cheesecache test CA", b"127.0.0.1"],
        )

    def test_none(self) -> None:
        e = self.assertRaises(BadBundle, certificatesIn, b"# nothing here\n")
        self.assertEqual(str(e), "no PEM certificate in it")

    def test_broken(self) -> None:
        broken = self.ca.replace(b"\n", b"\nAAAA", 3)
        e = self.assertRaises(BadBundle, certificatesIn, self.cert + broken)
        self.assertTrue(str(e).startswith("certificate 2 cannot be read"), str(e))

    def test_missingFile(self) -> None:
        e = self.assertRaises(BadBundle, bundleTrust, self.mktemp())
        self.assertEqual(str(e), "No such file or directory")


class ClientIdentityTests(SynchronousTestCase):
    """
    Tests for L{clientIdentity}: pip's C{client-cert} file, read as pip
    reads it.
    """

    def setUp(self) -> None:
        self.folder = FilePath(self.mktemp())
        _, self.identity = makeClientIdentity(self.folder)
        self.pem = self.identity.getContent()
        self.key, self.certificate = _split(self.pem)

    def write(self, content: bytes) -> str:
        path = FilePath(self.mktemp())
        path.setContent(content)
        return path.path

    def test_keyThenCertificate(self) -> None:
        """
        The key and certificate in one file, key first, make the identity;
        there is no chain.
        """
        identity = clientIdentity(self.identity.path)
        self.assertEqual(
            identity.certificate.getSubject().commonName, b"cheesecache client"
        )
        self.assertEqual(identity.chain, ())

    def test_certificateThenKey(self) -> None:
        """
        The certificate may come first.
        """
        identity = clientIdentity(self.write(self.certificate + self.key))
        self.assertEqual(
            identity.certificate.getSubject().commonName, b"cheesecache client"
        )

    def test_intermediates(self) -> None:
        """
        Certificates after the client's own are the chain sent with it.
        """
        _, path = makeClientIdentity(FilePath(self.mktemp()), intermediate=True)
        identity = clientIdentity(path.path)
        self.assertEqual(
            [c.getSubject().commonName for c in identity.chain],
            [b"cheesecache test client intermediate"],
        )

    def test_noKey(self) -> None:
        e = self.assertRaises(BadIdentity, clientIdentity, self.write(self.certificate))
        self.assertEqual(
            str(e), "no PEM private key in it (the file must hold the key and the certificate)"
        )

    def test_noCertificate(self) -> None:
        e = self.assertRaises(BadIdentity, clientIdentity, self.write(self.key))
        self.assertEqual(str(e), "no PEM certificate in it")

    def test_encryptedKey(self) -> None:
        """
        An encrypted key, in either PEM form, is refused: nothing could be
        asked for its pass phrase.
        """
        key = serialization.load_pem_private_key(self.key, None)
        for form in (
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.PrivateFormat.PKCS8,
        ):
            encrypted = key.private_bytes(
                serialization.Encoding.PEM, form,
                serialization.BestAvailableEncryption(b"secret"),
            )
            e = self.assertRaises(
                BadIdentity, clientIdentity, self.write(encrypted + self.certificate)
            )
            self.assertEqual(
                str(e), "its private key is encrypted; give one without a pass phrase"
            )

    def test_otherKey(self) -> None:
        """
        A key that is not the certificate's is told when the file is read.
        """
        _, other = makeClientIdentity(FilePath(self.mktemp()))
        otherKey, _ = _split(other.getContent())
        e = self.assertRaises(BadIdentity, clientIdentity, self.write(otherKey + self.certificate))
        self.assertEqual(str(e), "its private key is not the first certificate's")

    def test_missingFile(self) -> None:
        e = self.assertRaises(BadIdentity, clientIdentity, self.mktemp())
        self.assertEqual(str(e), "No such file or directory")


class TrustedHostsTests(SynchronousTestCase):
    """
    L{trustedHosts} reads hosts as pip's C{trusted-host} names them, and
    L{TrustedHost.covers} matches them as pip does: a host alone on every
    port, C{host:port} on that one.
    """

    def test_entries(self) -> None:
        """
        Entries are C{host} or C{host:port}, several to an entry when
        separated by white space (as in pip's files and C{PIP_TRUSTED_HOST});
        host names are matched in lower case, IPv6 addresses in brackets.
        """
        self.assertEqual(
            trustedHosts(["Index.Corp.Test  other.corp.test:8443\n", "[::1]:3141", "10.0.0.7"]),
            (
                TrustedHost("index.corp.test"),
                TrustedHost("other.corp.test", 8443),
                TrustedHost("::1", 3141),
                TrustedHost("10.0.0.7"),
            ),
        )
        self.assertEqual(trustedHosts(["", "  "]), ())

    def test_bad(self) -> None:
        """
        What is not a host, or has a port that is not a number, is refused,
        naming the entry.
        """
        for entry in ["index.corp.test:https", "https://index.corp.test/", "a/b", "u@h", ":443"]:
            e = self.assertRaises(BadTrustedHost, trustedHosts, ["ok.test", entry])
            self.assertIn(repr(entry), str(e))

    def test_covers(self) -> None:
        anyPort, onePort = TrustedHost("index.corp.test"), TrustedHost("index.corp.test", 8443)
        self.assertTrue(anyPort.covers("index.corp.test", 443))
        self.assertTrue(anyPort.covers("INDEX.corp.test", 8443))
        self.assertTrue(onePort.covers("index.corp.test", 8443))
        self.assertFalse(onePort.covers("index.corp.test", 443))
        self.assertFalse(anyPort.covers("other.corp.test", 443))
        self.assertFalse(anyPort.covers("sub.index.corp.test", 443))

    def test_str(self) -> None:
        """
        Written back as it would be given.
        """
        self.assertEqual(
            [str(t) for t in trustedHosts(["a.test", "a.test:1", "[::1]", "[::1]:2"])],
            ["a.test", "a.test:1", "[::1]", "[::1]:2"],
        )


def _split(pem: bytes) -> Tuple[bytes, bytes]:
    """
    The private key and the certificate of a file L{makeClientIdentity}
    wrote (key first).
    """
    at = pem.index(b"-----BEGIN CERTIFICATE-----")
    return pem[:at], pem[at:]
