"""
Upstream connections through an HTTP proxy (L{cheesecache.tunnel},
L{cheesecache.endpoints.UpstreamAgent}), over real loopback connections to
a real proxy (L{tests.fakeproxy}) and real upstreams.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, Optional

from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred, inlineCallbacks, succeed
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.internet.ssl import Certificate, PrivateCertificate
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from OpenSSL.SSL import Error as SSLError
from zope.interface import implementer
from twisted.web.client import BrowserLikePolicyForHTTPS, HTTPConnectionPool, ResponseNeverReceived, readBody

from cheesecache.endpoints import UpstreamAgent, UpstreamEndpoints
from cheesecache.proxies import Proxy, ProxySettings
from cheesecache.tunnel import ProxyRefused, TunnelEndpoint, answerStatus, connectRequest

from .fakeproxy import Asked, FakeProxy
from .harness import serveIndex, sleep
from .test_e2e import TwistdProcess, pipInstallsAlpha, run, upstreamWithWheels
from .test_index import sampleIndex
from .test_tls import listenTLS
from .tlscerts import makeCertificates


class ConnectRequestTests(TestCase):
    """
    The bytes of a tunnel request and the reading of its answer.
    """

    def test_request(self) -> None:
        self.assertEqual(
            connectRequest("upstream.test", 443, None),
            b"CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\n\r\n",
        )

    def test_credentials(self) -> None:
        self.assertEqual(
            connectRequest("fd00::1", 8443, b"Basic eDp5"),
            b"CONNECT [fd00::1]:8443 HTTP/1.1\r\nHost: [fd00::1]:8443\r\n"
            b"Proxy-Authorization: Basic eDp5\r\n\r\n",
        )

    def test_answer(self) -> None:
        self.assertEqual(answerStatus(b"HTTP/1.1 200 Connection established"), (200, "Connection established"))
        self.assertEqual(answerStatus(b"HTTP/1.0 407\r\nX: y"), (407, ""))
        self.assertRaises(ValueError, answerStatus, b"SSH-2.0-OpenSSH")
        self.assertRaises(ValueError, answerStatus, b"HTTP/1.1 abc")


@implementer(IStreamClientEndpoint)
class _ProxyConnection:
    """
    An endpoint whose connection is made at once, to a L{StringTransport}:
    the proxy's side is what a test writes to the protocol.
    """

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.protocol: Any = None

    def connect(self, protocolFactory: IProtocolFactory) -> "Deferred[IProtocol]":
        self.protocol = protocolFactory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        return succeed(self.protocol)


class _Received(Protocol):
    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class TunnelAnswerTests(SynchronousTestCase):
    """
    L{TunnelEndpoint} reading the proxy's answer to C{CONNECT} (no I/O).
    """

    def connect(self) -> "tuple[_ProxyConnection, Deferred[Any]]":
        proxy = _ProxyConnection()
        endpoint = TunnelEndpoint(proxy, "proxy.corp.test:3128", "upstream.test", 443)
        d = endpoint.connect(Factory.forProtocol(_Received))
        self.assertTrue(proxy.transport.value().startswith(b"CONNECT upstream.test:443 "))
        return proxy, d

    def test_bareLineFeeds(self) -> None:
        """
        An answer whose lines end in a bare line feed opens the tunnel, as
        pip and curl read it, rather than being waited on for ever.
        """
        proxy, d = self.connect()
        proxy.protocol.dataReceived(b"HTTP/1.0 200 Connection established\nVia: p\n\nupstream bytes")
        inner = self.successResultOf(d)
        self.assertEqual(inner.received, b"upstream bytes")

    def test_notHTTP(self) -> None:
        """
        A first line that is not an HTTP status line (the proxy setting
        names a port where something else listens) fails the connection
        at once, saying so, rather than waiting for a blank line that
        never comes.
        """
        proxy, d = self.connect()
        proxy.protocol.dataReceived(b"SSH-2.0-OpenSSH_9.6\r\n")
        failure = self.failureResultOf(d, ProxyRefused)
        self.assertIn(
            "Proxy proxy.corp.test:3128 would not connect to upstream.test:443:"
            " not an HTTP answer: b'SSH-2.0-OpenSSH_9.6'",
            str(failure.value),
        )
        self.assertTrue(proxy.transport.disconnecting)


class ThroughProxyTests(TestCase):
    """
    L{UpstreamAgent} with a proxy configured.
    """

    def setUp(self) -> None:
        self.proxy = FakeProxy()
        self.proxyHost, self.proxyPort = self.proxy.listen(self)
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(self.pool.closeCachedConnections)

    def agent(self, proxyURL: Optional[str] = None, policy: Any = None) -> UpstreamAgent:
        proxy = Proxy.fromURL(proxyURL or f"http://{self.proxyHost}:{self.proxyPort}")
        endpoints = UpstreamEndpoints(
            reactor, connectTimeout=5, proxies=ProxySettings(proxy, proxy),
            **({"policy": policy} if policy is not None else {}),
        )
        return UpstreamAgent(endpoints, self.pool)

    def tlsUpstream(self) -> tuple:
        """
        An upstream over TLS whose certificate is for C{upstream.test}, and
        a policy that trusts it.
        """
        ca, cert, key = makeCertificates(FilePath(self.mktemp()), names=("upstream.test",))
        index = sampleIndex()
        url = listenTLS(self, index, cert, key)
        port = int(url.split(":")[2].split("/")[0])
        policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(ca.getContent()))
        return index, port, policy

    @inlineCallbacks
    def test_httpsThroughTunnel(self):  # type: ignore[no-untyped-def]
        """
        An HTTPS upstream is reached through a C{CONNECT} tunnel named by
        host name (the proxy resolves it), TLS running end to end inside:
        the proxy sees the host and port, never the request.
        """
        index, port, policy = self.tlsUpstream()
        agent = self.agent(policy=policy)
        url = f"https://upstream.test:{port}/simple/alpha/".encode()
        response = yield agent.request(b"GET", url)
        body = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertIn(b"alpha-1.0", body)
        # The same connection serves the next request.
        response = yield agent.request(b"GET", url)
        yield readBody(response)
        self.assertEqual(
            self.proxy.asked, [Asked(b"CONNECT", b"upstream.test:%d" % (port,), None)]
        )
        self.assertEqual(index.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def test_httpAbsoluteForm(self):  # type: ignore[no-untyped-def]
        """
        A plain HTTP upstream is asked for through the proxy by its whole
        URL, as proxies that tunnel only to port 443 want.
        """
        index = sampleIndex()
        port = int(serveIndex(self, index).split(":")[2].split("/")[0])
        url = b"http://upstream.test:%d/simple/alpha/" % (port,)
        response = yield self.agent().request(b"GET", url)
        body = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertIn(b"alpha-1.0", body)
        self.assertEqual(self.proxy.asked, [Asked(b"GET", url, None)])
        self.assertEqual(index.count(b"/simple/alpha/"), 1)

    @inlineCallbacks
    def test_credentials(self):  # type: ignore[no-untyped-def]
        """
        Credentials in the proxy's URL go to the proxy, and only there:
        in the tunnel request, and with each plain HTTP request.
        """
        self.proxy.requireCredentials("al@ice", "s:cret")
        proxyURL = f"http://al%40ice:s%3Acret@{self.proxyHost}:{self.proxyPort}"
        index, tlsPort, policy = self.tlsUpstream()
        agent = self.agent(proxyURL, policy)
        response = yield agent.request(b"GET", f"https://upstream.test:{tlsPort}/simple/alpha/".encode())
        yield readBody(response)
        self.assertEqual(response.code, 200)
        plain = sampleIndex()
        port = int(serveIndex(self, plain).split(":")[2].split("/")[0])
        response = yield agent.request(b"GET", b"http://upstream.test:%d/simple/alpha/" % (port,))
        yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertEqual(
            [asked.authorization for asked in self.proxy.asked], [self.proxy.credentials] * 2
        )
        [(_, _, headers)] = plain.requests
        self.assertNotIn(b"proxy-authorization", {name.lower() for name in headers})

    @inlineCallbacks
    def test_tunnelRefused(self):  # type: ignore[no-untyped-def]
        """
        A proxy that will not open the tunnel fails the request with what
        it answered, naming the proxy and the upstream.
        """
        self.proxy.requireCredentials("alice", "secret")
        index, port, policy = self.tlsUpstream()
        d = self.agent(policy=policy).request(b"GET", f"https://upstream.test:{port}/simple/alpha/".encode())
        failure = yield self.assertFailure(d, ProxyRefused)
        self.assertIn(
            f"Proxy 127.0.0.1:{self.proxyPort} would not connect to upstream.test:{port}:"
            " 407 Proxy Authentication Required",
            str(failure),
        )
        self.assertEqual(index.requests, [])

    @inlineCallbacks
    def test_proxyUnreachable(self):  # type: ignore[no-untyped-def]
        """
        A proxy that refuses connections fails the request with a
        connection error (retried as one) that names the proxy, for an
        HTTPS tunnel and a plain HTTP request alike: not as if the
        upstream itself had refused.
        """
        closed = socket.socket()
        self.addCleanup(closed.close)
        # Bound, never listening: connections to it are refused.
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        agent = self.agent(f"http://u:secret@127.0.0.1:{port}")
        for url in (b"https://upstream.test/simple/", b"http://upstream.test/simple/"):
            failure = yield self.assertFailure(agent.request(b"GET", url), ConnectError)
            self.assertIn(f"Proxy 127.0.0.1:{port} could not be reached: ", str(failure))
            self.assertNotIn("secret", str(failure))

    @inlineCallbacks
    def test_closedBeforeAnswer(self):  # type: ignore[no-untyped-def]
        """
        A proxy that closes the connection without answering fails the
        request.
        """
        self.proxy.hangUp = True
        index, port, policy = self.tlsUpstream()
        d = self.agent(policy=policy).request(b"GET", f"https://upstream.test:{port}/".encode())
        failure = yield self.assertFailure(d, ProxyRefused)
        self.assertIn(
            f"Proxy 127.0.0.1:{self.proxyPort} closed the connection before answering"
            f" CONNECT upstream.test:{port}",
            str(failure),
        )

    @inlineCallbacks
    def test_cancelWhileWaiting(self):  # type: ignore[no-untyped-def]
        """
        Cancelling a request whose proxy never answers the tunnel request
        closes the connection to the proxy.
        """
        self.proxy.silent = True
        index, port, policy = self.tlsUpstream()
        d = self.agent(policy=policy).request(b"GET", f"https://upstream.test:{port}/".encode())
        for _ in range(100):
            if self.proxy.asked:
                break
            yield sleep(0.01)
        self.assertEqual(len(self.proxy.asked), 1)
        d.cancel()
        yield self.assertFailure(d, CancelledError)
        [connection] = self.proxy.connections
        for _ in range(100):
            if connection.transport.disconnected:
                break
            yield sleep(0.01)
        self.assertTrue(connection.transport.disconnected)

    @inlineCallbacks
    def test_tlsProxy(self):  # type: ignore[no-untyped-def]
        """
        An C{https://} proxy is spoken to over TLS, its certificate
        checked: an HTTPS upstream is then TLS inside the proxy's TLS, and
        a plain HTTP one is asked for by URL over it.
        """
        ca, cert, key = makeCertificates(FilePath(self.mktemp()), names=("upstream.test",))
        certificate = PrivateCertificate.loadPEM(cert.getContent() + key.getContent())
        proxy = FakeProxy()
        host, proxyPort = proxy.listen(self, tls=certificate.options())
        policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(ca.getContent()))
        agent = self.agent(f"https://{host}:{proxyPort}", policy)
        index = sampleIndex()
        tlsPort = int(listenTLS(self, index, cert, key).split(":")[2].split("/")[0])
        response = yield agent.request(b"GET", f"https://upstream.test:{tlsPort}/simple/alpha/".encode())
        body = yield readBody(response)
        self.assertEqual((response.code, b"alpha-1.0" in body), (200, True))
        plainPort = int(serveIndex(self, index).split(":")[2].split("/")[0])
        url = b"http://upstream.test:%d/simple/alpha/" % (plainPort,)
        response = yield agent.request(b"GET", url)
        body = yield readBody(response)
        self.assertEqual((response.code, b"alpha-1.0" in body), (200, True))
        self.assertEqual(
            [(a.method, a.target) for a in proxy.asked],
            [(b"CONNECT", b"upstream.test:%d" % (tlsPort,)), (b"GET", url)],
        )

    @inlineCallbacks
    def test_untrustedTLSProxy(self):  # type: ignore[no-untyped-def]
        """
        An C{https://} proxy whose certificate does not verify is not used.
        """
        ca, cert, key = makeCertificates(FilePath(self.mktemp()))
        certificate = PrivateCertificate.loadPEM(cert.getContent() + key.getContent())
        proxy = FakeProxy()
        host, proxyPort = proxy.listen(self, tls=certificate.options())
        # The system's authorities: the test CA is not among them.
        agent = self.agent(f"https://{host}:{proxyPort}", BrowserLikePolicyForHTTPS())
        d = agent.request(b"GET", b"http://upstream.test:1/simple/alpha/")
        yield self.assertFailure(d, ResponseNeverReceived, SSLError)
        self.assertEqual(proxy.asked, [])

    @inlineCallbacks
    def test_loopbackDirect(self):  # type: ignore[no-untyped-def]
        """
        An upstream on loopback is connected to directly: a proxy elsewhere
        could not reach it.
        """
        index = sampleIndex()
        url = serveIndex(self, index) + "alpha/"
        response = yield self.agent().request(b"GET", url.encode())
        yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertEqual(self.proxy.asked, [])


class ProxyInstallTests(TestCase):
    """
    pip installs through C{twistd cheesecache}, which reaches its HTTPS
    upstream only through a proxy named by C{HTTPS_PROXY}, and trusts the
    upstream's certificate by pip's C{cert} setting alone.
    """

    timeout = 300

    @inlineCallbacks
    def test_pipThroughProxiedCache(self):  # type: ignore[no-untyped-def]
        """
        The page and the files come through the proxy's tunnels (the
        upstream's name is only known to the proxy), and pip installs the
        project and its dependency.
        """
        proxy = FakeProxy()
        proxy.requireCredentials("cache", "pw")
        proxyHost, proxyPort = proxy.listen(self)
        ca, cert, key = makeCertificates(FilePath(self.mktemp()), names=("upstream.test",))
        upstream = upstreamWithWheels()
        port = int(listenTLS(self, upstream, cert, key).split(":")[2].split("/")[0])
        server = TwistdProcess(
            self, f"https://upstream.test:{port}/simple/", self.mktemp(),
            env={
                "HTTPS_PROXY": f"http://cache:pw@{proxyHost}:{proxyPort}",
                # pip's own CA bundle setting, as behind a proxy that
                # inspects TLS and re-signs with the company's authority.
                "PIP_CERT": ca.path,
                "PIP_CONFIG_FILE": os.devnull,
                # These would make OpenSSL's own authorities the ones used.
                "SSL_CERT_FILE": None,
                "SSL_CERT_DIR": None,
            },
        )
        yield server.ready()
        target = yield pipInstallsAlpha(self, server)
        self.assertTrue(target.child("beta-2.0.dist-info").isdir())
        self.assertTrue(proxy.asked)
        self.assertEqual(
            {(a.method, a.target, a.authorization) for a in proxy.asked},
            {(b"CONNECT", b"upstream.test:%d" % (port,), proxy.credentials)},
        )
        paths = {path for _, path, _ in upstream.requests}
        self.assertIn(b"/simple/alpha/", paths)
        self.assertTrue(any(path.startswith(b"/packages/alpha-") for path in paths), paths)
        self.assertIn("Proxies for the upstreams: http direct; https via", server.log())
        self.assertIn(f"HTTPS upstreams are checked against {ca.path}", server.log())


class WarmThroughProxyTests(TestCase):
    """
    C{cheesecache warm} reaches a remote index through the proxy, as pip
    would.
    """

    timeout = 300

    @inlineCallbacks
    def test_warmThroughProxy(self):  # type: ignore[no-untyped-def]
        """
        With C{HTTP_PROXY} set, the index (known by a name only the proxy
        resolves) is asked for through the proxy, pages and files, and the
        files end up cached.
        """
        proxy = FakeProxy()
        proxyHost, proxyPort = proxy.listen(self)
        upstream = upstreamWithWheels()
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield server.ready()
        index = f"http://upstream.test:{server.port}/simple/"
        code, output = yield run(
            [sys.executable, "-m", "cheesecache.warm", "--index", index, "alpha"],
            {"HTTP_PROXY": f"http://{proxyHost}:{proxyPort}", "PIP_CONFIG_FILE": os.devnull},
        )
        self.assertEqual(code, 0, output + server.log())
        self.assertIn("fetched", output)
        asked = [(a.method, a.target) for a in proxy.asked]
        self.assertIn((b"GET", index.encode() + b"alpha/"), asked)
        self.assertTrue(any(b"/files/" in target for _, target in asked), asked)
        self.assertTrue(any(path.startswith(b"/packages/") for _, path, _ in upstream.requests))

    @inlineCallbacks
    def test_unusableProxy(self):  # type: ignore[no-untyped-def]
        """
        A proxy warm cannot use is a usage error (exit 2) naming it.
        """
        code, output = yield run(
            [sys.executable, "-m", "cheesecache.warm", "--index", "http://upstream.test/simple/",
             "--proxy", "socks5://proxy.corp.test:1080", "alpha"],
            {"PIP_CONFIG_FILE": os.devnull},
        )
        self.assertEqual(code, 2, output)
        self.assertIn("error: --proxy: Proxy socks5://proxy.corp.test:1080: only http://", output)
