"""
Tests for L{cheesecache.upstream}: pages come gzipped from the upstream
and are decoded as they arrive.
"""

from __future__ import annotations

import gzip
import json

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import server
from twisted.web.client import ResponseFailed
from twisted.web.error import InfiniteRedirection, RedirectWithNoLocation
from twisted.web.iweb import UNKNOWN_LENGTH
from twisted.web.resource import Resource

from cheesecache.contentcoding import BodyDecoder
from cheesecache.index import SourcesUnavailable
from cheesecache.upstream import (
    BodyCutShort, BodyStalled, connectionBroke, contentRange, describeError, readBody,
)

from .fakeindex import FakeIndex, listen
from .harness import JSON_ACCEPT, Harness, serveIndex
from .test_index import bigProjectIndex, sampleIndex


class GzippedPagesTests(TestCase):
    """
    Pages are asked for gzipped, as the public index sends them, and
    decoded a piece at a time as they arrive.
    """

    def setUp(self) -> None:
        self.upstream = bigProjectIndex("big")
        self.upstream.gzipPages = True
        self.harness = Harness(self, [serveIndex(self, self.upstream)])
        self.source = self.harness.sources[0]
        self.fed: list = []
        feed = BodyDecoder.feed

        def recording(decoder: BodyDecoder, data: bytes) -> bytes:
            self.fed.append((decoder.coding, len(data)))
            return feed(decoder, data)

        self.patch(BodyDecoder, "feed", recording)

    @inlineCallbacks
    def test_decoded(self):  # type: ignore[no-untyped-def]
        """
        Every page request accepts gzip; the pages answered are those of
        an upstream that sends them as they are.  The big page was decoded
        in more than one piece, each as it came.
        """
        plain = Harness(self, [serveIndex(self, bigProjectIndex("big"))])
        for name in ("big", "small"):
            response, body = yield self.harness.get(f"/simple/{name}/", {"Accept": JSON_ACCEPT})
            self.assertEqual(response.code, 200)
            _, expected = yield plain.get(f"/simple/{name}/", {"Accept": JSON_ACCEPT})
            self.assertEqual(body, expected)
        self.assertEqual(len(json.loads(body)["files"]), 1)
        pageRequests = [h for _, path, h in self.upstream.requests if path.startswith(b"/simple/")]
        self.assertEqual([h.get(b"accept-encoding") for h in pageRequests], [b"gzip", b"gzip"])
        bigGzipped = gzip.compress(self.upstream._projectBody("big")[1])
        fed = [size for coding, size in self.fed if coding == "gzip"]
        self.assertEqual(sum(fed), len(bigGzipped) + len(gzip.compress(
            self.upstream._projectBody("small")[1]
        )))
        self.assertGreater(len(fed), 2)
        self.assertLess(max(fed), len(bigGzipped))

    @inlineCallbacks
    def test_decodesToTooMuch(self):  # type: ignore[no-untyped-def]
        """
        A page that decodes to more than the upstream's page limit is an
        upstream failure (502 with nothing cached), though it came in less.
        """
        page = self.upstream._projectBody("big")[1]
        limit = len(gzip.compress(page)) * 2
        self.assertGreater(len(page), limit)
        self.source.upstream.maxPageSize = limit
        response, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 502)
        self.assertIn(b"decodes to more than %d bytes" % limit, body)
        self.assertIsNone(self.source.cachedEntry("big"))

    @inlineCallbacks
    def test_codingNotAskedFor(self):  # type: ignore[no-untyped-def]
        """
        A page in a coding that was not asked for is not parsed as if it
        were not coded: the upstream failed.
        """
        self.upstream.faults[b"/simple/small/"] = "coding:br"
        response, body = yield self.harness.get("/simple/small/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 502)
        self.assertIn(b"Content-Encoding 'br' was not asked for", body)


class ContentRangeTests(SynchronousTestCase):
    """
    L{contentRange} reads a 206 answer's C{Content-Range}.
    """

    def test_read(self) -> None:
        self.assertEqual(contentRange("bytes 100-199/200"), (100, 199, 200))
        self.assertEqual(contentRange(" bytes 0-0/1 "), (0, 0, 1))
        self.assertEqual(contentRange("bytes 5-9/*"), (5, 9, None))

    def test_senseless(self) -> None:
        """
        What is not a byte range, or one that ends before it starts or
        beyond the whole, is none.
        """
        for value in [
            None, "", "bytes */200", "items 0-1/2", "bytes 10-5/20", "bytes 0-200/200",
            "bytes=0-1/2", "bytes 0-1/2, 3-4/5", "bytes -1-2/3",
        ]:
            self.assertIsNone(contentRange(value), value)


class _Response:
    """
    A response whose body is delivered by the test, over a transport that
    records what the reader does with it.
    """

    length = UNKNOWN_LENGTH

    def __init__(self) -> None:
        self.transport = StringTransport()

    def deliverBody(self, protocol) -> None:  # type: ignore[no-untyped-def]
        self.protocol = protocol
        protocol.makeConnection(self.transport)


class IdleDeadlineTests(SynchronousTestCase):
    """
    L{readBody} drops a body that stops coming.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.response = _Response()

    def read(self, onChunk):  # type: ignore[no-untyped-def]
        done, _ = readBody(self.response, onChunk, self.clock, 5)
        return done

    def lose(self, done: "Deferred[None]") -> BodyStalled:
        """
        The connection the reader stopped ends: C{done} fails, with what.
        """
        self.assertEqual(self.response.transport.producerState, "stopped")
        self.response.protocol.connectionLost(Failure(ConnectionLost()))
        return self.failureResultOf(done, BodyStalled).value

    def test_stalled(self) -> None:
        """
        No byte for the idle timeout: the connection is dropped, and the
        body failed as one cut short (so that it is asked for again).
        """
        done = self.read(lambda data: None)
        self.clock.advance(4)
        self.response.protocol.dataReceived(b"x")
        self.clock.advance(4)
        self.assertEqual(self.response.transport.producerState, "producing")
        self.clock.advance(1)
        error = self.lose(done)
        self.assertIsInstance(error, BodyCutShort)
        self.assertEqual(str(error), "no data for 5 seconds")

    def test_notWhileConsumerBehind(self) -> None:
        """
        The deadline does not run while reading waits for the consumer;
        it starts again once the consumer has caught up.
        """
        behind: Deferred[None] = Deferred()
        done = self.read(lambda data: behind)
        self.response.protocol.dataReceived(b"x")
        self.assertEqual(self.response.transport.producerState, "paused")
        self.clock.advance(102)
        self.assertEqual(self.response.transport.producerState, "paused")
        behind.callback(None)
        self.assertEqual(self.response.transport.producerState, "producing")
        self.clock.advance(4.9)
        self.assertEqual(self.response.transport.producerState, "producing")
        self.clock.advance(0.1)
        self.lose(done)

    def test_caughtUpAfterTheEnd(self) -> None:
        """
        A body that ended while its consumer was behind sets no deadline
        when the consumer catches up.
        """
        behind: Deferred[None] = Deferred()
        done = self.read(lambda data: behind)
        self.response.protocol.dataReceived(b"x")
        self.response.protocol.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(done, BodyCutShort)
        behind.callback(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ConnectionBrokeTests(SynchronousTestCase):
    """
    L{connectionBroke}: which failures are worth asking again for.
    """

    def test_broken(self) -> None:
        """
        An answer whose connection was lost midway was broken.
        """
        self.assertTrue(connectionBroke(ResponseFailed([Failure(ConnectionLost())])))

    def test_redirectNotFollowed(self) -> None:
        """
        A redirect that L{twisted.web.client.RedirectAgent} cannot follow (it
        loops, or has no C{Location}) came whole: asked again, it would be
        the same.
        """
        for error in (
            InfiniteRedirection(302, b"Infinite redirection detected", location=b"/x/"),
            RedirectWithNoLocation(302, b"No location header field", b"/x/"),
        ):
            self.assertFalse(connectionBroke(ResponseFailed([Failure(error)])))


class RedirectLoopTests(TestCase):
    """
    A page that redirects without end.
    """

    @inlineCallbacks
    def test_notAskedAgain(self):  # type: ignore[no-untyped-def]
        """
        A page that redirects to itself fails once the redirect limit is
        reached (20 redirects followed), and is not asked for again: a
        loop is no broken connection.
        """
        upstream = sampleIndex()
        harness = Harness(self, [serveIndex(self, upstream)])
        upstream.faults[b"/simple/alpha/"] = "redirect:/simple/alpha/"
        yield self.assertFailure(harness.sources[0].page("alpha"), SourcesUnavailable)
        self.assertEqual(upstream.count(b"/simple/alpha/"), 21)


class _DatesOnly(Resource):
    """
    A page server that answers a conditional request by its
    C{If-Modified-Since} alone (its pages all bear one date), with the
    C{ETag} of the page it has now.
    """

    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)
        self.version = "1.0"
        self.requests: list = []

    def render_GET(self, request: server.Request) -> bytes:
        self.requests.append(request.getHeader(b"if-none-match"))
        request.setHeader(b"Content-Type", b"application/vnd.pypi.simple.v1+json")
        request.setHeader(b"ETag", f'"{self.version}"'.encode())
        request.setHeader(b"Last-Modified", b"Thu, 01 Jan 2026 00:00:00 GMT")
        if request.getHeader(b"if-modified-since") is not None:
            request.setResponseCode(304)
            return b""
        filename = f"alpha-{self.version}.tar.gz"
        return json.dumps({
            "meta": {"api-version": "1.0"}, "name": "alpha",
            "files": [{"filename": filename, "url": filename, "hashes": {}}],
        }).encode()


class NotModifiedTests(TestCase):
    """
    A 304 confirms the cached page only if it is about that page.
    """

    @inlineCallbacks
    def test_otherETag(self):  # type: ignore[no-untyped-def]
        """
        A 304 whose C{ETag} is not the one asked about says the page the
        upstream has now is another: the page is asked for again, whole,
        rather than the old one kept as confirmed.
        """
        upstream = _DatesOnly()
        port, url = listen(upstream)
        self.addCleanup(port.stopListening)
        harness = Harness(self, [url + "/simple/"])
        source = harness.sources[0]
        yield source.page("alpha")
        upstream.version = "2.0"
        harness.clock.advance(601)
        lookup = yield source.page("alpha")
        self.assertEqual(
            [f.filename for f in lookup.entry.content.files], ["alpha-2.0.tar.gz"]
        )
        self.assertEqual(lookup.entry.validators.etag, '"2.0"')
        self.assertEqual(upstream.requests, [None, b'"1.0"', None])


class RedirectChainTests(TestCase):
    """
    Redirects that follow one another.
    """

    @inlineCallbacks
    def test_relativeAfterAnotherHost(self):  # type: ignore[no-untyped-def]
        """
        A relative C{Location} is resolved against the URL that answered
        with it, not the one first asked for: a page sent on to a mirror
        that moves it within itself is found on the mirror.
        """
        first = FakeIndex()
        mirror = sampleIndex()
        firstURL = serveIndex(self, first)
        mirrorURL = serveIndex(self, mirror)
        first.faults[b"/simple/alpha/"] = "redirect:" + mirrorURL.replace("/simple/", "/moved/")
        mirror.faults[b"/moved/"] = "redirect:/simple/alpha/"
        harness = Harness(self, [firstURL])
        lookup = yield harness.sources[0].page("alpha")
        self.assertEqual(lookup.entry.url, mirrorURL + "alpha/")
        self.assertEqual(first.count(b"/simple/alpha/"), 1)
        self.assertEqual(mirror.count(b"/simple/alpha/"), 1)


class _EndlessError(Resource):
    """
    Answers 404 with a body that never ends.
    """

    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)
        self.sent = 0

    def render_GET(self, request: server.Request) -> object:
        from twisted.internet import reactor

        request.setResponseCode(404)
        gone: list = []
        request.notifyFinish().addBoth(gone.append)

        def more() -> None:
            if not gone:
                request.write(b"x" * 65536)
                self.sent += 65536
                reactor.callLater(0, more)

        more()
        return server.NOT_DONE_YET


class DiscardedBodyTests(TestCase):
    """
    The body of an answer that is not the page is not read without end.
    """

    timeout = 20

    @inlineCallbacks
    def test_endless(self):  # type: ignore[no-untyped-def]
        """
        A 404 whose body does not end is given up (its connection closed)
        after a little of it: the answer counts, and the page request
        does not wait forever.
        """
        upstream = _EndlessError()
        port, url = listen(upstream)
        self.addCleanup(port.stopListening)
        harness = Harness(self, [url + "/simple/"])
        lookup = yield harness.sources[0].page("alpha")
        self.assertFalse(lookup.entry.found)
        self.assertLess(upstream.sent, 64 * 1024 * 1024)


class DescribeErrorTests(SynchronousTestCase):
    """
    L{describeError} says what went wrong in words.
    """

    def test_failuresListed(self) -> None:
        """
        Twisted's HTTP client's lists of failures are given by their
        messages, each once, not by their repr.
        """
        from twisted.internet.error import ConnectionDone, ConnectionLost
        from twisted.python.failure import Failure
        from twisted.web._newclient import ResponseFailed

        error = ResponseFailed(
            [Failure(ConnectionLost("gone")), Failure(ConnectionLost("gone")), Failure(ConnectionDone())]
        )
        said = describeError(error)
        self.assertNotIn("<", said)
        self.assertEqual(said.count("gone"), 1)
        self.assertIn("Connection was closed cleanly", said)
        self.assertEqual(describeError(ResponseFailed([])), "ResponseFailed")
        self.assertEqual(describeError(ValueError("plain")), "plain")
