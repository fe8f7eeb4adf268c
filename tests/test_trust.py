"""
Tests for L{cheesecache.trust}: CA bundles for HTTPS upstreams.
"""

from __future__ import annotations

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.trust import BadBundle, bundleTrust, certificatesIn

from .tlscerts import makeCertificates


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
