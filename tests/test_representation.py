"""
Tests for L{cheesecache.web.representation}: big pages are kept on disk and
streamed, their parsed form is let go and read back when needed.
"""

from __future__ import annotations

import gzip
import json

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from .fakeindex import Dist, FakeIndex
from .harness import JSON_ACCEPT, Harness, header, serveIndex
from .test_chain import fileURL
from .wheels import makeSdist


def bigIndex() -> FakeIndex:
    index = FakeIndex()
    index.add("other", Dist(*makeSdist("other", "1.0")))
    for i in range(600):  # well over the in-memory limit once rendered
        name, data = makeSdist("big", f"1.{i}")
        index.add("big", Dist(name, data))
    return index


class DiskRepresentationTests(TestCase):
    """
    Pages over the in-memory limit.
    """

    def setUp(self) -> None:
        self.upstream = bigIndex()
        self.harness = Harness(self, [serveIndex(self, self.upstream)])

    @inlineCallbacks
    def test_streamedFromDisk(self):  # type: ignore[no-untyped-def]
        """
        A big page is written under rendered/ once and streamed from there:
        the same bytes, plain and gzip, with Content-Length, HEAD and 304.
        """
        response, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(len(json.loads(body)["files"]), 600)
        self.assertGreater(len(body), 64 * 1024)
        rendered = [p for p in self.harness.dataDir.child("rendered").walk() if p.isfile()]
        self.assertEqual(len(rendered), 2)  # the page and its gzip twin
        again, body2 = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(body2, body)
        self.assertEqual(again.length, len(body))
        zipped, zbody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        self.assertEqual(gzip.decompress(zbody), body)
        head, hbody = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT}, method="HEAD")
        self.assertEqual((hbody, header(head, "content-length")), (b"", str(len(body))))
        cached, cbody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "If-None-Match": header(again, "etag")}
        )
        self.assertEqual((cached.code, cbody), (304, b""))

    @inlineCallbacks
    def test_trimmedAndReadBack(self):  # type: ignore[no-untyped-def]
        """
        Beyond the model budget the parsed page is let go; a file lookup
        reads it back from the page store; a rendered file that disappears
        is rendered again.
        """
        source = self.harness.sources[0]
        source.modelBudget = 10
        _, page = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        entry = source.cachedEntry("big")
        yield self.harness.get("/simple/other/")  # loads another page: "big" goes
        self.assertIsNone(entry._content)
        dist = self.upstream.projects["big"][0]
        response, data = yield self.harness.get(fileURL(page, dist.filename))
        self.assertEqual(data, dist.data)
        self.assertIsNotNone(entry._content)
        for path in self.harness.dataDir.child("rendered").walk():
            if path.isfile():
                path.remove()
        response, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(body, page)
