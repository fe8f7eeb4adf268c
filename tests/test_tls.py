"""
TLS: cheesecache listening with an C{ssl:} endpoint (pip installs over it),
and upstream certificates verified (service-identity).
"""

from __future__ import annotations


from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.ssl import PrivateCertificate
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web import server

from .fakeindex import FakeIndex
from .harness import Harness
from .test_e2e import CLIENT_ENV, TwistdProcess, pipInstallsAlpha, upstreamWithWheels
from .tlscerts import makeCertificates
from .test_index import sampleIndex


def listenTLS(testCase: TestCase, index: FakeIndex, certPath: FilePath, keyPath: FilePath) -> str:
    certificate = PrivateCertificate.loadPEM(certPath.getContent() + keyPath.getContent())
    port = reactor.listenSSL(0, server.Site(index), certificate.options(), interface="127.0.0.1")
    testCase.addCleanup(port.stopListening)
    return f"https://127.0.0.1:{port.getHost().port}/simple/"


class UpstreamTLSTests(TestCase):
    """
    Upstreams over TLS.
    """

    @inlineCallbacks
    def test_untrustedUpstreamRefused(self):  # type: ignore[no-untyped-def]
        """
        An upstream whose certificate does not verify is never used: the
        page is a 502, and nothing was fetched.
        """
        ca, cert, key = makeCertificates(FilePath(self.mktemp()))
        upstream = sampleIndex()
        url = listenTLS(self, upstream, cert, key)
        harness = Harness(self, [url])
        response, body = yield harness.get("/simple/alpha/")
        self.assertEqual(response.code, 502, body)
        self.assertEqual(upstream.requests, [])


class ListenTLSTests(TestCase):
    """
    twistd cheesecache on an ssl: endpoint, behind a TLS upstream.
    """

    timeout = 300

    @inlineCallbacks
    def test_pipOverTLS(self):  # type: ignore[no-untyped-def]
        """
        pip installs over TLS from cheesecache listening on
        C{ssl:PORT:certKey=...:privateKey=...}, which fetches from an
        upstream whose certificate it verifies against the trusted CA.
        """
        ca, cert, key = makeCertificates(FilePath(self.mktemp()))
        upstream = upstreamWithWheels()
        url = listenTLS(self, upstream, cert, key)
        server = TwistdProcess(
            self, url, self.mktemp(), tls=(cert.path, key.path),
            env={"SSL_CERT_FILE": ca.path},
        )
        yield server.ready()
        yield pipInstallsAlpha(
            self, server, "--cert", ca.path,
            # requests lets these override --cert (psf/requests#3829).
            env={**CLIENT_ENV, "REQUESTS_CA_BUNDLE": None, "CURL_CA_BUNDLE": None},
        )
        self.assertGreaterEqual(upstream.count(b"/simple/alpha/"), 1)
