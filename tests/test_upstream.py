"""
Tests for L{cheesecache.upstream}: pages come gzipped from the upstream
and are decoded as they arrive.
"""

from __future__ import annotations

import gzip
import json

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cheesecache.contentcoding import BodyDecoder
from cheesecache.upstream import contentRange

from .harness import JSON_ACCEPT, Harness, serveIndex
from .test_index import bigProjectIndex


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
