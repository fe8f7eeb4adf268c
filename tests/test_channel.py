"""
Tests for L{cheesecache.web.channel}: slow senders, slow readers and
oversized requests are cut off, over real loopback connections.
"""

from __future__ import annotations

import hashlib
from typing import List

from twisted.internet import protocol, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.static import Data

from cheesecache.web.channel import GuardedSite

from .harness import Harness, serveIndex, sleep
from .test_files_resource import fileIndex


class RawClient(protocol.Protocol):
    def __init__(self) -> None:
        self.received: List[bytes] = []
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason) -> None:  # type: ignore[no-untyped-def]
        self.lost.callback(None)


class ChannelTests(TestCase):
    """
    Deadlines and limits on client connections.
    """

    def setUp(self) -> None:
        self.upstream, self.wheel, _ = fileIndex(padding=16 * 1024 * 1024)
        self.harness = Harness(
            self,
            [serveIndex(self, self.upstream)],
            channelSettings={
                "headerDeadline": 0.5,
                "writeStallTimeout": 0.5,
                "maxBodySize": 1000,
                "maxSmallBodySize": 300,
            },
        )
        self.events: list = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def connect(self) -> "Deferred[RawClient]":
        return connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.harness.port.getHost().port),
            RawClient(),
        )

    def logged(self, text: str) -> bool:
        return any(text in formatEvent(e) for e in self.events)

    @inlineCallbacks
    def test_slowloris(self):  # type: ignore[no-untyped-def]
        """
        A client that sends its headers a byte at a time, slower than the
        header deadline allows, is disconnected before it finishes.
        """
        client = yield self.connect()
        request = b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
        sent = 0
        while not client.lost.called and sent < len(request):
            client.transport.write(request[sent : sent + 1])
            sent += 1
            yield sleep(0.05)
        yield client.lost
        self.assertLess(sent, len(request))
        self.assertTrue(self.logged("request headers not complete"))

    @inlineCallbacks
    def test_slowReader(self):  # type: ignore[no-untyped-def]
        """
        A client that stops reading a large response is disconnected after
        the write-stall timeout.
        """
        sha = self.wheel.sha256
        self.harness.store.putBytes(sha, self.wheel.data)
        client = yield self.connect()
        client.transport.pauseProducing()  # never read
        client.transport.write(
            f"GET /files/alpha/{sha}/{self.wheel.filename} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        for _ in range(100):
            if self.logged("client read nothing"):
                break
            yield sleep(0.1)
        self.assertTrue(self.logged("client read nothing"))
        client.transport.resumeProducing()
        yield client.lost
        body = b"".join(client.received)
        self.assertLess(len(body), len(self.wheel.data))

    @inlineCallbacks
    def test_fastReaderUnaffected(self):  # type: ignore[no-untyped-def]
        """
        A client that reads promptly gets the whole large file.
        """
        self.harness.store.putBytes(self.wheel.sha256, self.wheel.data)
        response, body = yield self.harness.get(
            f"/files/alpha/{self.wheel.sha256}/{self.wheel.filename}"
        )
        self.assertEqual(hashlib.sha256(body).hexdigest(), self.wheel.sha256)

    @inlineCallbacks
    def test_bodyTooLarge(self):  # type: ignore[no-untyped-def]
        """
        A request announcing a body over the limit gets 413 before its body
        is read.
        """
        client = yield self.connect()
        client.transport.write(
            b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
        )
        yield client.lost
        self.assertTrue(b"".join(client.received).startswith(b"HTTP/1.1 413 "))

    @inlineCallbacks
    def test_bodyTooLargeSaysWhy(self):  # type: ignore[no-untyped-def]
        """
        A 413's reason phrase, which twine shows, says the limit: the
        site's message for an upload, the sizes elsewhere.
        """
        self.harness.site.channelSettings["bigBodyRefusal"] = "File too large. Limit is 1 kB."
        for path, phrase in [
            (b"/legacy/", b"File too large. Limit is 1 kB."),
            (b"/-/warm", b"Request body of 5000 bytes is larger than the limit of 300 bytes"),
        ]:
            client = yield self.connect()
            client.transport.write(
                b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" % (path,)
            )
            yield client.lost
            head, _, body = b"".join(client.received).partition(b"\r\n\r\n")
            self.assertEqual(head.split(b"\r\n")[0], b"HTTP/1.1 413 " + phrase)
            self.assertEqual(body, phrase + b"\n")

    @inlineCallbacks
    def test_chunkedBodyTooLarge(self):  # type: ignore[no-untyped-def]
        """
        A chunked body, which announces no length, gets 413 and a closed
        connection as soon as what arrives passes the limit, not after
        the whole of it has been taken.
        """
        client = yield self.connect()
        client.transport.write(
            b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(3):
            client.transport.write(b"258\r\n" + b"x" * 600 + b"\r\n")
        yield client.lost
        self.assertTrue(b"".join(client.received).startswith(b"HTTP/1.1 413 "))
        self.assertTrue(self.logged("over the limit of 1000 bytes"))

    @inlineCallbacks
    def test_refusedBodyNotProcessed(self):  # type: ignore[no-untyped-def]
        """
        A chunked body whose end comes in the same bytes as those that pass
        the limit gets its 413 alone: the request, cut short, is not given
        to the resource.
        """
        client = yield self.connect()
        client.transport.write(
            b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"258\r\n" + b"x" * 600 + b"\r\n") * 3
            + b"0\r\n\r\n"
        )
        yield client.lost
        received = b"".join(client.received)
        self.assertTrue(received.startswith(b"HTTP/1.1 413 "))
        self.assertEqual(received.count(b"HTTP/1.1 "), 1)
        refusals = [e for e in self.events if "Refusing a request body" in formatEvent(e)]
        self.assertEqual(len(refusals), 1)

    @inlineCallbacks
    def test_chunkedBodyWithinLimit(self):  # type: ignore[no-untyped-def]
        """
        A chunked upload within the limit is taken whole and answered by
        the upload endpoint.
        """
        client = yield self.connect()
        client.transport.write(
            b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n"
            + b"258\r\n" + b"x" * 600 + b"\r\n0\r\n\r\n"
        )
        yield client.lost
        # The upload endpoint's own answer (this server takes no uploads).
        self.assertTrue(b"".join(client.received).startswith(b"HTTP/1.1 403 "))

    @inlineCallbacks
    def test_smallBodiesElsewhere(self):  # type: ignore[no-untyped-def]
        """
        A body bigger than C{maxSmallBodySize} is refused anywhere but the
        upload endpoint: announced (413 before it is read), or chunked.
        """
        for head, body in [
            (b"POST /-/warm HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n", b""),
            (b"GET /simple/ HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n", b""),
            (
                b"POST /-/warm HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"1f4\r\n" + b"x" * 500 + b"\r\n0\r\n\r\n",
            ),
        ]:
            client = yield self.connect()
            client.transport.write(head + body)
            yield client.lost
            self.assertTrue(b"".join(client.received).startswith(b"HTTP/1.1 413 "), head)
        self.assertTrue(self.logged("over the limit of 300 bytes"))
        # The same announced length is taken by the upload endpoint.
        client = yield self.connect()
        client.transport.write(
            b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
            b"Connection: close\r\n\r\n" + b"x" * 500
        )
        yield client.lost
        # The upload endpoint's own answer (this server takes no uploads).
        self.assertTrue(b"".join(client.received).startswith(b"HTTP/1.1 403 "))

    @inlineCallbacks
    def test_headersTooLarge(self):  # type: ignore[no-untyped-def]
        """
        Headers beyond Twisted's total size limit get a 400 and a closed
        connection; a single over-long line just a closed connection.
        """
        client = yield self.connect()
        client.transport.write(
            b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000
            + b"\r\nX-Big2: " + b"a" * 10000 + b"\r\n\r\n"
        )
        yield client.lost
        self.assertTrue(b"".join(client.received).startswith(b"HTTP/1.1 400 "))
        client = yield self.connect()
        client.transport.write(b"GET /simple/ HTTP/1.1\r\nX-Big: " + b"a" * 20000)
        yield client.lost
        self.assertEqual(b"".join(client.received), b"")


class HeaderDeadlineTests(TestCase):
    """
    The header deadline is kept by one timer per connection, on the site's
    clock, exactly for each request of a kept-alive connection.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        root = Resource()
        root.putChild(b"", Data(b"ok", "text/plain"))
        self.site = GuardedSite(root, reactor=self.clock)
        self.site.channelSettings["headerDeadline"] = 10.0
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)
        self.addCleanup(self.channel.connectionLost, Failure(ConnectionDone()))

    def test_eachRequestItsOwnDeadline(self) -> None:
        """
        A request that starts while the timer of an earlier one is running
        still gets the whole deadline, and is cut off once it has passed.
        """
        self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200 OK", self.transport.value())
        self.clock.advance(8)
        self.channel.dataReceived(b"GET / HTTP/1.1\r\n")
        self.clock.advance(9)  # 17 s in; the second request has had 9.
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)

    def test_manyRequestsOneTimer(self) -> None:
        """
        Requests that complete in time leave no timers behind, and make
        none of their own: the connection holds one idle timer and at most
        one header timer, both left running between requests.
        """
        made = []
        callLater = self.clock.callLater

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            made.append(args[1])
            return callLater(*args, **kwargs)

        self.channel.callLater = counting
        for _ in range(100):
            self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.clock.advance(0.5)
        self.assertEqual(self.transport.value().count(b"200 OK"), 100)
        self.assertLessEqual(len(self.clock.getDelayedCalls()), 2)
        self.assertLessEqual(len(made), 12)  # a timer rescheduling itself every few seconds
        self.assertFalse(self.transport.disconnecting)


class BodyRateTests(TestCase):
    """
    A request body must come at C{minBodyRate} at least, after a grace
    period, from its first byte to its last.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.site = GuardedSite(_Taken(), reactor=self.clock)
        self.site.channelSettings.update(bodyGrace=10.0, minBodyRate=1000)
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)
        self.addCleanup(self.channel.connectionLost, Failure(ConnectionDone()))

    def dribble(self, head: bytes, piece: bytes) -> float:
        """
        Send C{head}, then C{piece} every 5 seconds until the connection
        is closed; how long that took.
        """
        self.channel.dataReceived(head)
        for second in range(0, 2000, 5):
            if self.transport.disconnecting:
                return float(second)
            self.channel.dataReceived(piece)
            self.clock.advance(5)
        self.fail("never cut off")

    def test_announcedBodyTooSlow(self) -> None:
        """
        A body announced long but sent far slower than the minimum rate is
        cut off once it falls behind, not after the time its whole length
        would take at that rate.
        """
        took = self.dribble(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", b"x" * 10
        )
        self.assertLessEqual(took, 20)
        self.assertTrue(self.transport.disconnected)

    def test_chunkedBodyTooSlow(self) -> None:
        """
        So is a chunked body, whose length is not known.
        """
        took = self.dribble(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"a\r\n" + b"x" * 10 + b"\r\n",
        )
        self.assertLessEqual(took, 20)

    def test_unevenBodyInTime(self) -> None:
        """
        A body that keeps to the minimum rate on the whole, quickly at first
        and then not at all for a while, or not at all in the grace period
        and quickly after, is taken.
        """
        for pieces in [[20_000, 0, 0, 0, 0, 0, 0, 10_000], [0, 0, 5_000, 5_000, 5_000, 5_000]]:
            self.transport.clear()
            length = sum(pieces)
            self.channel.dataReceived(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (length,)
            )
            for size in pieces:
                self.channel.dataReceived(b"x" * size)
                self.clock.advance(4)
            self.assertTrue(self.transport.value().endswith(b"\r\n\r\n%d" % (length,)))
            self.assertFalse(self.transport.disconnecting)


class ConnectionOptionTests(TestCase):
    """
    A request's C{Connection} header is a comma-separated list of options
    (RFC 9110, 7.6.1), on one line or several.
    """

    def setUp(self) -> None:
        root = Resource()
        root.putChild(b"", Data(b"ok", "text/plain"))
        self.site = GuardedSite(root, reactor=Clock())

    def answer(self, headers: bytes) -> "tuple[bytes, bool]":
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        self.addCleanup(channel.connectionLost, Failure(ConnectionDone()))
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        return transport.value(), transport.disconnecting

    def test_closeAmongOtherOptions(self) -> None:
        """
        C{close} among other options without a space (C{close,TE}), or on
        another line than the first, closes the connection after the
        response, which says so.
        """
        for headers in [
            b"Connection: TE, close\r\n",
            b"Connection: close,TE\r\n",
            b"Connection: keep-alive\r\nConnection: Close\r\n",
        ]:
            response, closed = self.answer(headers)
            self.assertTrue(response.endswith(b"\r\n\r\nok"), headers)
            self.assertIn(b"\r\nConnection: close\r\n", response, headers)
            self.assertTrue(closed, headers)

    def test_otherOptionsKeepItOpen(self) -> None:
        """
        Without C{close}, an HTTP/1.1 connection stays open.
        """
        for headers in [b"", b"Connection: keep-alive\r\n", b"Connection: TE, closed\r\n"]:
            response, closed = self.answer(headers)
            self.assertTrue(response.endswith(b"\r\n\r\nok"), headers)
            self.assertNotIn(b"Connection: close", response, headers)
            self.assertFalse(closed, headers)


class RequestTargetTests(TestCase):
    """
    Request targets in the absolute form, which a server must accept (RFC
    9112, section 3.2.2), are served as their path.
    """

    def setUp(self) -> None:
        root = Resource()
        root.putChild(b"", Data(b"root", "text/plain"))
        root.putChild(b"simple", Data(b"simple", "text/plain"))
        self.site = GuardedSite(root, reactor=Clock())
        self.site.channelSettings["takesBigBody"] = lambda method, path: path == b"/simple"
        self.site.channelSettings["maxSmallBodySize"] = 10

    def answer(self, request: bytes) -> bytes:
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        self.addCleanup(channel.connectionLost, Failure(ConnectionDone()))
        channel.dataReceived(request)
        return transport.value()

    def test_absoluteForm(self) -> None:
        """
        The scheme and authority are dropped; an empty path is C{/}.
        """
        for target, body in [
            (b"http://x/simple", b"simple"),
            (b"http://127.0.0.1:3141/simple?a=b", b"simple"),
            (b"HTTP://x/", b"root"),
            (b"http://x", b"root"),
            (b"https://x?a", b"root"),
        ]:
            response = self.answer(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % (target,))
            self.assertTrue(response.startswith(b"HTTP/1.1 200 "), target)
            self.assertTrue(response.endswith(b"\r\n\r\n" + body), target)

    def test_absoluteFormLimits(self) -> None:
        """
        The body size limit is chosen by the path too.
        """
        response = self.answer(
            b"POST http://x/simple HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
            + b"x" * 20
        )
        self.assertFalse(response.startswith(b"HTTP/1.1 413 "))


class IdleTimeoutTests(TestCase):
    """
    A kept-alive connection with no request in progress is closed after
    the site's idle timeout; one being answered is not, however long that
    takes.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.pending: List[Request] = []
        root = Resource()
        root.putChild(b"", Data(b"ok", "text/plain"))
        root.putChild(b"slow", _Later(self.pending))
        self.site = GuardedSite(root, reactor=self.clock, timeout=60)
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)
        self.addCleanup(self.channel.connectionLost, Failure(ConnectionDone()))

    def assertClosedAfterTimeout(self) -> None:
        """
        The connection is closed once the 60 second timeout has passed from
        now, and not before.
        """
        self.clock.advance(59)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.disconnecting)

    def test_idleConnectionClosed(self) -> None:
        """
        The timeout counts from the end of the last response.
        """
        self.clock.advance(30)
        self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200 OK", self.transport.value())
        self.assertClosedAfterTimeout()

    def test_requestsKeepItOpen(self) -> None:
        """
        A connection used every 30 seconds stays open for as long as that
        goes on.
        """
        for _ in range(10):
            self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.clock.advance(30)
        self.assertEqual(self.transport.value().count(b"200 OK"), 10)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(31)
        self.assertTrue(self.transport.disconnecting)

    def test_slowResponseNotCutOff(self) -> None:
        """
        A response that takes longer than the timeout is not cut off; the
        idle clock starts when it is done.
        """
        self.channel.dataReceived(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        self.clock.advance(300)
        self.assertFalse(self.transport.disconnecting)
        [request] = self.pending
        request.write(b"late")
        request.finish()
        self.assertIn(b"late", self.transport.value())
        self.assertClosedAfterTimeout()

    def test_shorterPeriod(self) -> None:
        """
        A period shorter than the running timer's takes effect at once.
        """
        self.assertEqual(self.channel.setTimeout(5), 60)
        self.clock.advance(4)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.disconnecting)

    def test_noTimerAfterClose(self) -> None:
        """
        A closed connection leaves no timer behind.
        """
        self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.clock.getDelayedCalls(), [])


class _Taken(Resource):
    """
    Answers a POST with the length of its body.
    """

    isLeaf = True

    def render_POST(self, request: Request) -> bytes:
        return b"%d" % (len(request.content.read()),)


class _Later(Resource):
    """
    Answers when the test says so.
    """

    isLeaf = True

    def __init__(self, pending: List[Request]) -> None:
        Resource.__init__(self)
        self.pending = pending

    def render_GET(self, request: Request) -> object:
        self.pending.append(request)
        return NOT_DONE_YET


class _SmallBufferTransport(StringTransport):
    """
    A transport that, like a socket's, asks its producer to pause once more
    than C{bufferSize} bytes wait to be sent, and to resume once they are.
    """

    bufferSize = 100

    def write(self, data: bytes) -> None:
        StringTransport.write(self, data)
        if len(self.io.getvalue()) > self.bufferSize:
            self.producer.pauseProducing()

    def writeSequence(self, data) -> None:  # type: ignore[no-untyped-def]
        self.write(b"".join(data))

    def drain(self) -> None:
        self.clear()
        self.producer.resumeProducing()


class BackpressureTests(TestCase):
    """
    A client that sends requests but does not read the responses is not
    answered faster than it reads.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        root = Resource()
        root.putChild(b"", Data(b"ok" * 100, "text/plain"))
        self.site = GuardedSite(root, reactor=self.clock)
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = _SmallBufferTransport()
        self.channel.makeConnection(self.transport)
        self.addCleanup(self.channel.connectionLost, Failure(ConnectionDone()))

    def test_pipelinedRequestsWaitForTheClient(self) -> None:
        """
        Pipelined requests answered at once (as warm pages are) are held,
        and no more is read from the connection, while the responses
        already written wait for the client: they would pile up in memory
        however many it sends.
        """
        self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
        self.assertEqual(self.transport.value().count(b"200 OK"), 1)
        self.assertEqual(self.transport.producerState, "paused")
        self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
        self.assertEqual(self.transport.value().count(b"200 OK"), 1)
        for _ in range(9):
            self.transport.drain()
            self.assertEqual(self.transport.value().count(b"200 OK"), 1)
        self.assertEqual(self.transport.producerState, "paused")
        self.transport.drain()
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.transport.producerState, "producing")
        self.assertFalse(self.transport.disconnecting)


class CloseWhenDoneTests(TestCase):
    """
    On stop, connections are closed once the responses they carry are done.
    """

    def setUp(self) -> None:
        self.pending: List[Request] = []
        root = Resource()
        root.putChild(b"later", _Later(self.pending))
        self.site = GuardedSite(root, reactor=Clock())

    def connect(self) -> "tuple[object, StringTransport]":
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        return channel, transport

    def test_busyClosedOnceAnswered(self) -> None:
        """
        An idle connection is closed at once; one whose response is not
        done is closed only once it is, its response whole, and the site's
        L{GuardedSite.closeConnections} fires once both are gone.
        """
        idle, idleTransport = self.connect()
        busy, busyTransport = self.connect()
        busy.dataReceived(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(len(self.pending), 1)
        closed = self.site.closeConnections()
        self.assertTrue(idleTransport.disconnecting)
        idle.connectionLost(Failure(ConnectionDone()))
        self.assertFalse(busyTransport.disconnecting)
        self.assertNoResult(closed)
        self.pending[0].write(b"whole")
        self.pending[0].finish()
        self.assertTrue(busyTransport.disconnecting)
        self.assertIn(b"whole", busyTransport.value())
        busy.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(closed)
        self.assertEqual(self.site.channels, set())
