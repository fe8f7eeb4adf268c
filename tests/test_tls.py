"""
TLS: cheesecache listening with an C{ssl:} endpoint (pip installs over it),
and upstream certificates verified (service-identity).
"""

from __future__ import annotations


import os
import sys
from typing import Optional

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.ssl import Certificate, PrivateCertificate
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web import server
from twisted.web.client import readBody

from cheesecache.outbound import outboundAgent
from cheesecache.proxies import ProxySettings
from cheesecache.trust import bundleTrust, clientIdentity

from .fakeindex import FakeIndex
from .harness import Harness, httpClient
from .test_e2e import CLIENT_ENV, TwistdProcess, pipInstallsAlpha, run, upstreamWithWheels
from .tlscerts import makeCertificates, makeClientIdentity
from .test_index import sampleIndex


def listenTLS(
    testCase: TestCase,
    index: FakeIndex,
    certPath: FilePath,
    keyPath: FilePath,
    clientAuthority: Optional[FilePath] = None,
) -> str:
    """
    Serve C{index} over TLS on loopback; with C{clientAuthority}, only to
    clients showing a certificate it signed.
    """
    certificate = PrivateCertificate.loadPEM(certPath.getContent() + keyPath.getContent())
    authorities = [Certificate.loadPEM(clientAuthority.getContent())] if clientAuthority else []
    port = reactor.listenSSL(
        0, server.Site(index), certificate.options(*authorities), interface="127.0.0.1"
    )
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


class ClientCertificateTests(TestCase):
    """
    Upstreams that ask for a client certificate (mutual TLS) get the one
    cheesecache was given, with its chain; without one, they refuse.
    """

    def setUp(self) -> None:
        folder = FilePath(self.mktemp())
        self.ca, cert, key = makeCertificates(folder)
        clientCA, self.identity = makeClientIdentity(folder.child("client"))
        _, self.chained = makeClientIdentity(folder.child("chained"), intermediate=True)
        self.upstream = sampleIndex()
        self.url = listenTLS(self, self.upstream, cert, key, clientAuthority=clientCA)
        # The chained identity's root, trusted alone, on a second upstream.
        self.chainedUpstream = sampleIndex()
        self.chainedURL = listenTLS(
            self, self.chainedUpstream, cert, key,
            clientAuthority=folder.child("chained").child("client-ca.pem"),
        )

    def get(self, url: str, identity: Optional[FilePath]):  # type: ignore[no-untyped-def]
        _, pool = httpClient(self)
        agent = outboundAgent(
            reactor, pool, ProxySettings(), bundleTrust(self.ca.path),
            identity=clientIdentity(identity.path) if identity else None,
        )
        return agent.request(b"GET", (url + "alpha/").encode()).addCallback(
            lambda response: readBody(response).addCallback(lambda body: (response, body))
        )

    @inlineCallbacks
    def test_shown(self):  # type: ignore[no-untyped-def]
        response, body = yield self.get(self.url, self.identity)
        self.assertEqual(response.code, 200, body)
        self.assertEqual([path for _, path, _ in self.upstream.requests], [b"/simple/alpha/"])

    @inlineCallbacks
    def test_withItsChain(self):  # type: ignore[no-untyped-def]
        """
        A certificate signed by an intermediate authority is sent with it:
        the upstream trusts only the root.
        """
        response, body = yield self.get(self.chainedURL, self.chained)
        self.assertEqual(response.code, 200, body)

    @inlineCallbacks
    def test_none(self):  # type: ignore[no-untyped-def]
        """
        Without a client certificate, or with one the upstream's authority
        did not sign, the handshake fails and nothing is asked.
        """
        for url, identity in [(self.url, None), (self.url, self.chained)]:
            try:
                response, body = yield self.get(url, identity)
            except Exception:
                pass
            else:
                self.fail(f"answered {response.code} without a good client certificate")
        self.assertEqual(self.upstream.requests, [])


class WarmMutualTLSTests(TestCase):
    """
    C{cheesecache warm} shows its C{--client-cert} to an index that asks.
    """

    timeout = 300

    @inlineCallbacks
    def test_warm(self):  # type: ignore[no-untyped-def]
        folder = FilePath(self.mktemp())
        ca, cert, key = makeCertificates(folder)
        clientCA, identity = makeClientIdentity(folder.child("client"))
        upstream = upstreamWithWheels()
        index = listenTLS(self, upstream, cert, key, clientAuthority=clientCA)
        argv = [sys.executable, "-m", "cheesecache.warm", "--index", index, "--cert", ca.path]
        environ = {"PIP_CONFIG_FILE": os.devnull}
        code, output = yield run([*argv, "alpha"], environ)
        self.assertNotEqual(code, 0, output)
        self.assertEqual(upstream.requests, [])
        code, output = yield run([*argv, "--client-cert", identity.path, "alpha"], environ)
        self.assertEqual(code, 0, output)
        self.assertIn("fetched", output)
        self.assertIn(b"/simple/alpha/", [path for _, path, _ in upstream.requests])


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

    @inlineCallbacks
    def test_pipThroughMutualTLS(self):  # type: ignore[no-untyped-def]
        """
        pip installs through a cheesecache whose upstream asks for a client
        certificate: the one pip's own C{client-cert} setting names.
        """
        folder = FilePath(self.mktemp())
        ca, cert, key = makeCertificates(folder)
        clientCA, identity = makeClientIdentity(folder.child("client"))
        upstream = upstreamWithWheels()
        url = listenTLS(self, upstream, cert, key, clientAuthority=clientCA)
        server = TwistdProcess(
            self, url, self.mktemp(),
            env={"SSL_CERT_FILE": ca.path, "PIP_CLIENT_CERT": identity.path},
        )
        yield server.ready()
        target = yield pipInstallsAlpha(self, server)
        self.assertTrue(target.child("beta-2.0.dist-info").isdir())
        self.assertIn(
            f"HTTPS upstreams that ask for a client certificate get the one in {identity.path}",
            server.log(),
        )
