"""
TLS: cheesecache listening with an C{ssl:} endpoint (pip installs over it),
and upstream certificates verified (service-identity).
"""

from __future__ import annotations


import os
import sys
from typing import List, Optional, Sequence
from urllib.parse import urlsplit

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.internet.ssl import Certificate, PrivateCertificate
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web import server
from twisted.web.client import readBody
from zope.interface import implementer

from cheesecache.outbound import outboundAgent
from cheesecache.proxies import ProxySettings
from cheesecache.trust import bundleTrust, clientIdentity, trustedHosts

from .fakeindex import FakeIndex
from .harness import Harness, httpClient
from .test_e2e import CLIENT_ENV, TwistdProcess, pipInstallsAlpha, run, upstreamWithWheels
from .tlscerts import makeCertificates, makeClientIdentity
from .test_index import sampleIndex


@implementer(IOpenSSLContextFactory)
class _NamesAsked:
    """
    Server TLS options that note the name each client asks for (SNI;
    C{None} when it sends none).
    """

    def __init__(self, options: object) -> None:
        self.names: List[Optional[bytes]] = []
        self._context = options.getContext()  # type: ignore[attr-defined]
        self._context.set_tlsext_servername_callback(
            lambda connection: self.names.append(connection.get_servername())
        )

    def getContext(self):  # type: ignore[no-untyped-def]
        return self._context


def listenTLS(
    testCase: TestCase,
    index: FakeIndex,
    certPath: FilePath,
    keyPath: FilePath,
    clientAuthority: Optional[FilePath] = None,
    names: Optional[List[Optional[bytes]]] = None,
) -> str:
    """
    Serve C{index} over TLS on loopback; with C{clientAuthority}, only to
    clients showing a certificate it signed.

    @param names: gets the name each client asks for.
    """
    certificate = PrivateCertificate.loadPEM(certPath.getContent() + keyPath.getContent())
    authorities = [Certificate.loadPEM(clientAuthority.getContent())] if clientAuthority else []
    options = _NamesAsked(certificate.options(*authorities))
    if names is not None:
        options.names = names
    port = reactor.listenSSL(0, server.Site(index), options, interface="127.0.0.1")
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


class TrustedHostTests(TestCase):
    """
    A trusted host's certificate is not checked, as with pip's
    C{trusted-host}: here the upstream's authority is trusted by nothing.
    """

    timeout = 300

    def setUp(self) -> None:
        folder = FilePath(self.mktemp())
        _, self.cert, self.key = makeCertificates(folder)
        clientCA, self.identity = makeClientIdentity(folder.child("client"))
        self.names: List[Optional[bytes]] = []
        self.upstream = sampleIndex()
        self.url = listenTLS(self, self.upstream, self.cert, self.key, names=self.names)
        self.port = urlsplit(self.url).port
        self.mutualUpstream = sampleIndex()
        self.mutualURL = listenTLS(
            self, self.mutualUpstream, self.cert, self.key, clientAuthority=clientCA
        )

    def get(  # type: ignore[no-untyped-def]
        self, url: str, trusted: Sequence[str], identity: Optional[FilePath] = None
    ):
        _, pool = httpClient(self)
        agent = outboundAgent(
            reactor, pool, ProxySettings(), None, trusted=trustedHosts(trusted),
            identity=clientIdentity(identity.path) if identity else None,
        )
        return agent.request(b"GET", (url + "alpha/").encode()).addCallback(
            lambda response: readBody(response).addCallback(lambda body: (response, body))
        )

    @inlineCallbacks
    def test_trusted(self):  # type: ignore[no-untyped-def]
        """
        The host alone, or with its port, is trusted; the name is still
        sent to the server (SNI), except an address's.
        """
        for url, trusted in [
            (self.url, ["127.0.0.1"]),
            (self.url, [f"other.test 127.0.0.1:{self.port}"]),
            (self.url.replace("127.0.0.1", "localhost"), ["LOCALHOST"]),
        ]:
            response, body = yield self.get(url, trusted)
            self.assertEqual(response.code, 200, (trusted, body))
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 3)
        self.assertEqual(self.names, [None, None, b"localhost"])

    @inlineCallbacks
    def test_untrusted(self):  # type: ignore[no-untyped-def]
        """
        Any other host, or the host on another port, is checked, and fails.
        """
        for trusted in [[], ["localhost"], [f"127.0.0.1:{self.port + 1}"], ["127.0.0.2"]]:
            try:
                response, body = yield self.get(self.url, trusted)
            except Exception:
                pass
            else:
                self.fail(f"answered {response.code} trusting {trusted}")
        self.assertEqual(self.upstream.requests, [])

    @inlineCallbacks
    def test_clientCertificate(self):  # type: ignore[no-untyped-def]
        """
        A trusted host that asks for a client certificate gets it.
        """
        response, body = yield self.get(self.mutualURL, ["127.0.0.1"], self.identity)
        self.assertEqual(response.code, 200, body)
        try:
            response, body = yield self.get(self.mutualURL, ["127.0.0.1"])
        except Exception:
            pass
        else:
            self.fail(f"answered {response.code} without a client certificate")
        self.assertEqual(self.mutualUpstream.count(b"/simple/alpha/"), 1)

    @inlineCallbacks
    def test_pipSetting(self):  # type: ignore[no-untyped-def]
        """
        twistd cheesecache takes pip's C{trusted-host} setting by default,
        says so in its log, and pip installs through it.
        """
        upstream = upstreamWithWheels()
        url = listenTLS(self, upstream, self.cert, self.key)
        server = TwistdProcess(
            self, url, self.mktemp(), env={"PIP_TRUSTED_HOST": "127.0.0.1"},
        )
        yield server.ready()
        target = yield pipInstallsAlpha(self, server)
        self.assertTrue(target.child("beta-2.0.dist-info").isdir())
        self.assertIn("The certificate of 127.0.0.1 is not checked (a trusted host)", server.log())

    @inlineCallbacks
    def test_warm(self):  # type: ignore[no-untyped-def]
        """
        C{cheesecache warm --trusted-host} warms an index whose certificate
        cannot be checked; without it, nothing is asked.
        """
        upstream = upstreamWithWheels()
        index = listenTLS(self, upstream, self.cert, self.key)
        argv = [sys.executable, "-m", "cheesecache.warm", "--index", index]
        environ = {"PIP_CONFIG_FILE": os.devnull}
        code, output = yield run([*argv, "alpha"], environ)
        self.assertNotEqual(code, 0, output)
        self.assertEqual(upstream.requests, [])
        code, output = yield run([*argv, "--trusted-host", "127.0.0.1", "alpha"], environ)
        self.assertEqual(code, 0, output)
        self.assertIn("fetched", output)
        self.assertIn(b"/simple/alpha/", [path for _, path, _ in upstream.requests])


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
    def test_warmOverTLS(self):  # type: ignore[no-untyped-def]
        """
        C{POST /-/warm} to cheesecache listening on TLS: the warm goes to
        the server's own address over TLS, with the request's credentials.
        """
        import io
        import json

        from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, FileBodyProducer
        from twisted.web.http_headers import Headers

        from .test_e2e import BIN

        ca, cert, key = makeCertificates(FilePath(self.mktemp()))
        upstream = upstreamWithWheels()
        url = listenTLS(self, upstream, cert, key)
        users = self.mktemp()
        code, output = yield run(
            [os.path.join(BIN, "cheesecache"), "adduser", "alice", "--users", users,
             "--password-stdin"], stdin="wonder\n",
        )
        self.assertEqual(code, 0, output)
        server = TwistdProcess(
            self, url, self.mktemp(), "--users", users, tls=(cert.path, key.path),
            env={"SSL_CERT_FILE": ca.path},
        )
        yield server.ready()
        policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(ca.getContent()))
        response = yield Agent(reactor, contextFactory=policy).request(
            b"POST", server.url.replace("/simple/", "/-/warm").encode(),
            Headers({"Authorization": ["Basic YWxpY2U6d29uZGVy"]}),
            FileBodyProducer(io.BytesIO(b"alpha\n")),
        )
        body = yield readBody(response)
        self.assertEqual(response.code, 200, body)
        self.assertEqual(json.loads(body)["resolved"], {"alpha": "1.0", "beta": "2.0"}, body)

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
