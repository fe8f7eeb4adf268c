"""
Tests for L{cheesecache.endpoints}: upstream connections that read wide.
"""

from __future__ import annotations

from typing import Any, List

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.protocol import Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import server
from twisted.web.client import Agent, HTTPConnectionPool, URI
from twisted.web.error import SchemeNotSupported
from twisted.web.resource import Resource
from twisted.web.static import Data

from cheesecache.endpoints import UPSTREAM_READ_SIZE, UpstreamEndpoints, WideReadEndpoint

#: Twisted's own read size, which the upstream connections go past.
TWISTED_READ_SIZE = 64 * 1024


class _Chunks(Protocol):
    """
    Keeps each piece of a body as it was delivered.
    """

    def __init__(self, done: "Deferred[List[bytes]]") -> None:
        self.chunks: List[bytes] = []
        self.done = done

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Any) -> None:
        self.done.callback(self.chunks)


class UpstreamEndpointsTests(TestCase):
    """
    An L{Agent} over L{UpstreamEndpoints}, against a real loopback server.
    """

    def setUp(self) -> None:
        self.body = bytes(range(256)) * (16 * 1024)  # 4 MiB
        root = Resource()
        root.putChild(b"big", Data(self.body, "application/octet-stream"))
        port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/big".encode()
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    @inlineCallbacks
    def chunksThrough(self, agent: Any):  # type: ignore[no-untyped-def]
        response = yield agent.request(b"GET", self.url)
        done: Deferred[List[bytes]] = Deferred()
        response.deliverBody(_Chunks(done))
        chunks = yield done
        return chunks

    @inlineCallbacks
    def test_readsWide(self):  # type: ignore[no-untyped-def]
        """
        A body the server sends faster than it is read arrives whole, in
        reads bigger than Twisted's 64 KiB and none bigger than
        L{UPSTREAM_READ_SIZE}.
        """
        agent = Agent.usingEndpointFactory(reactor, UpstreamEndpoints(reactor), pool=self.pool)
        chunks = yield self.chunksThrough(agent)
        self.assertEqual(b"".join(chunks), self.body)
        self.assertGreater(max(map(len, chunks)), TWISTED_READ_SIZE)
        self.assertLessEqual(max(map(len, chunks)), UPSTREAM_READ_SIZE)

    @inlineCallbacks
    def test_twistedReadsNarrow(self):  # type: ignore[no-untyped-def]
        """
        The same body through Twisted's own Agent comes in reads of 64 KiB
        at most: what L{test_readsWide} shows is the endpoints' doing.
        """
        chunks = yield self.chunksThrough(Agent(reactor, pool=self.pool))
        self.assertEqual(b"".join(chunks), self.body)
        self.assertLessEqual(max(map(len, chunks)), TWISTED_READ_SIZE)

    def test_unsupportedScheme(self) -> None:
        """
        A URL that is neither C{http} nor C{https} fails its request, as
        with Twisted's own Agent.
        """
        agent = Agent.usingEndpointFactory(reactor, UpstreamEndpoints(reactor), pool=self.pool)
        self.failureResultOf(agent.request(b"GET", b"ftp://127.0.0.1/x"), SchemeNotSupported)


class EndpointForURITests(SynchronousTestCase):
    """
    What L{UpstreamEndpoints.endpointForURI} makes, without connecting.
    """

    def test_http(self) -> None:
        """
        C{http}: a host-name endpoint with the connect timeout, reading wide.
        """
        endpoint = UpstreamEndpoints(reactor, connectTimeout=7).endpointForURI(
            URI.fromBytes(b"http://example.invalid:8080/simple/")
        )
        self.assertIsInstance(endpoint, WideReadEndpoint)
        self.assertIsInstance(endpoint.endpoint, HostnameEndpoint)
        self.assertEqual(endpoint.endpoint._timeout, 7)

    def test_https(self) -> None:
        """
        C{https}: TLS, checked by the policy for that host, over the wide
        TCP endpoint.
        """
        asked = []

        class Policy:
            def creatorForNetloc(self, host: bytes, port: int) -> object:
                asked.append((host, port))
                from twisted.internet.ssl import optionsForClientTLS
                return optionsForClientTLS(host.decode())

        endpoint = UpstreamEndpoints(reactor, policy=Policy()).endpointForURI(  # type: ignore[arg-type]
            URI.fromBytes(b"https://example.invalid/simple/")
        )
        self.assertEqual(asked, [(b"example.invalid", 443)])
        self.assertIsInstance(endpoint._wrappedEndpoint, WideReadEndpoint)

    def test_nonASCIIHost(self) -> None:
        """
        A host that is not ASCII is refused.
        """
        host = "café.invalid".encode("utf-8")
        uri = URI(b"http", host, host, 80, b"/simple/", b"", b"", b"")
        self.assertRaises(ValueError, UpstreamEndpoints(reactor).endpointForURI, uri)


class WideReadEndpointTests(SynchronousTestCase):
    """
    L{WideReadEndpoint} on transports of every kind.
    """

    def connected(self, transport: object) -> Any:
        protocol = Protocol()
        protocol.transport = transport  # type: ignore[assignment]

        class Connected:
            def connect(self, factory: object) -> "Deferred[Protocol]":
                return succeed(protocol)

        return self.successResultOf(WideReadEndpoint(Connected(), 1234).connect(object()))  # type: ignore[arg-type]

    def test_widened(self) -> None:
        """
        A transport with a read size gets the endpoint's.
        """
        class TCP:
            bufferSize = 65536

        protocol = self.connected(TCP())
        self.assertEqual(protocol.transport.bufferSize, 1234)

    def test_otherTransport(self) -> None:
        """
        A transport without a read size (not TCP) is left as it is.
        """
        class Other:
            pass

        protocol = self.connected(Other())
        self.assertFalse(hasattr(protocol.transport, "bufferSize"))
