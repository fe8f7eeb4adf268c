"""
Tests for L{cheesecache.web.simple.SimpleResource.answerWarm} and
L{cheesecache.web.site.PageRequest}: warm project pages answered before
the resource tree is walked, with the bytes the tree would send.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
from typing import Any, List, Tuple

from twisted.internet import threads
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import TestCase

from cheesecache.web.representation import IN_MEMORY_LIMIT, responseHead
from cheesecache.web.simple import SimpleResource

from .fakeindex import Dist
from .harness import JSON_ACCEPT, Harness, header, rawExchange, recvSome, serveIndex
from .test_auth import ALICE
from .test_index import sampleIndex
from .test_representation import twinsMade

_DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


class _Spy:
    """
    Stands for the Site's C{warmPages}, and notes what each answer was.
    """

    def __init__(self, wrapped: SimpleResource) -> None:
        self.wrapped = wrapped
        self.answers: List[bool] = []

    def answerWarm(self, request: Any) -> bool:
        answered = self.wrapped.answerWarm(request)
        self.answers.append(answered)
        return answered


class _Broken:
    def answerWarm(self, request: Any) -> bool:
        raise RuntimeError("a bug")


def _request(
    path: str, *headers: str, method: str = "GET", version: str = "HTTP/1.1"
) -> bytes:
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WarmPageTests(TestCase):
    """
    Warm pages over real HTTP, with and without the quick answer.
    """

    def setUp(self) -> None:
        self.upstream = sampleIndex()
        # A page whose JSON is kept on disk (over IN_MEMORY_LIMIT) but is
        # small enough to be read whole into the body cache.
        files = 1 + IN_MEMORY_LIMIT // 180
        self.upstream.add(
            "medium", *(Dist(f"medium-1.{i}.tar.gz", b"%d" % i) for i in range(files))
        )
        self.harness = Harness(self, [serveIndex(self, self.upstream)])
        self.site = self.harness.site
        self.warmPages = self.site.warmPages
        self.assertIsInstance(self.warmPages, SimpleResource)
        self.spy = _Spy(self.warmPages)

    def exchange(self, request: bytes) -> "Deferred[bytes]":
        return threads.deferToThread(rawExchange, self.harness.port.getHost().port, request)

    @inlineCallbacks
    def treeAndQuick(self, request: bytes):  # type: ignore[no-untyped-def]
        """
        The response the resource tree gives C{request} (asked twice, so
        that the page is warm), then the one given with the quick answer
        in place; and whether the quick answer took it.
        """
        self.site.warmPages = None
        yield self.exchange(request)
        tree = yield self.exchange(request)
        self.site.warmPages = self.spy
        del self.spy.answers[:]
        quick = yield self.exchange(request)
        self.assertEqual(len(self.spy.answers), 1)
        return tree, quick, self.spy.answers[0]

    def assertSameButDate(self, tree: bytes, quick: bytes) -> None:
        self.assertEqual(_DATE.sub(b"\r\nDate: -\r\n", tree), _DATE.sub(b"\r\nDate: -\r\n", quick))
        self.assertRegex(quick, rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n")

    @inlineCallbacks
    def test_sameBytesAsTheTree(self):  # type: ignore[no-untyped-def]
        """
        A warm page is answered quickly with the bytes the resource tree
        sends, as JSON and HTML, gzipped and not, from memory and from the
        body cache.
        """
        cases = [
            ("/simple/alpha/", f"Accept: {JSON_ACCEPT}"),
            ("/simple/alpha/", f"Accept: {JSON_ACCEPT}", "Accept-Encoding: gzip"),
            ("/simple/alpha/",),
            ("/simple/alpha/", "Accept-Encoding: gzip, deflate"),
            ("/simple/medium/", f"Accept: {JSON_ACCEPT}"),
        ]
        for path, *headers in cases:
            tree, quick, answered = yield self.treeAndQuick(_request(path, *headers))
            self.assertTrue(answered, (path, headers))
            self.assertTrue(tree.startswith(b"HTTP/1.1 200 OK\r\n"), tree[:100])
            self.assertSameButDate(tree, quick)

    @inlineCallbacks
    def test_gzipAndDiskCovered(self):  # type: ignore[no-untyped-def]
        """
        The cases above reach a gzip twin in memory and a body from the
        body cache (not only plain bodies in memory).
        """
        _, quick, answered = yield self.treeAndQuick(
            _request("/simple/alpha/", f"Accept: {JSON_ACCEPT}", "Accept-Encoding: gzip")
        )
        self.assertTrue(answered)
        self.assertIn(b"\r\nContent-Encoding: gzip\r\n", quick)
        _, quick, answered = yield self.treeAndQuick(
            _request("/simple/medium/", f"Accept: {JSON_ACCEPT}")
        )
        self.assertTrue(answered)
        entry = self.harness.index.projectNow("medium").lookup.entry
        rep = entry.rendered["application/vnd.pypi.simple.v1+json"]
        self.assertIsNotNone(rep.path)
        self.assertIsNotNone(self.warmPages.disk.bodies.get(rep.path))

    @inlineCallbacks
    def test_leftToTheTree(self):  # type: ignore[no-untyped-def]
        """
        Requests that need more than a warm page's bytes are declined and
        answered by the resource tree, with the same result as without the
        quick answer.
        """
        cases: List[Tuple[bytes, bytes]] = [
            (_request("/simple/alpha/", method="HEAD"), b"200"),
            (_request("/simple/alpha/", version="HTTP/1.0"), b"200"),
            (_request("/simple/alpha/", "Connection: close"), b"200"),
            (_request("/simple/alpha/?x=1"), b"200"),
            (_request("/simple/Alpha/"), b"301"),
            (_request("/simple/alpha/", "Via: 1.1 another-cache"), b"200"),
            (_request("/simple/alpha/", "Via: 1.1 cheesecache-test"), b"508"),
        ]
        for request, code in cases:
            tree, quick, answered = yield self.treeAndQuick(request)
            self.assertFalse(answered, request)
            self.assertEqual(quick.split(b" ")[1], code, (request, quick[:200]))
            self.assertSameButDate(tree, quick)

    @inlineCallbacks
    def test_bodyCacheKeepsEachEncoding(self):  # type: ignore[no-untyped-def]
        """
        A page on disk with its gzip twin: the plain and the gzipped body
        are each kept in the body cache under their own file, and each is
        answered with its own bytes.
        """
        yield self.harness.get("/simple/medium/", {"Accept": JSON_ACCEPT})
        yield twinsMade(self.harness, "medium")
        rep = self.harness.index.projectNow("medium").lookup.entry.rendered[JSON_ACCEPT]
        for compressed in (False, True):
            self.warmPages.disk.bodies.discard(rep.file(compressed))
        zipped = _request("/simple/medium/", f"Accept: {JSON_ACCEPT}", "Accept-Encoding: gzip")
        plain = _request("/simple/medium/", f"Accept: {JSON_ACCEPT}")
        self.site.warmPages = self.spy
        for request in (zipped, plain, zipped, plain):
            response = yield self.exchange(request)
            body = response.partition(b"\r\n\r\n")[2]
            if request is zipped:
                self.assertIn(b"\r\nContent-Encoding: gzip\r\n", response)
                body = gzip.decompress(body)
            self.assertEqual(json.loads(body)["name"], "medium")
        self.assertEqual(self.spy.answers, [False, False, True, True])

    @inlineCallbacks
    def test_notModified(self):  # type: ignore[no-untyped-def]
        """
        A revalidation is answered quickly with the tree's bytes: a 304,
        without C{Content-Length}, when C{If-None-Match} names the
        representation's ETag (or C{*}), in a list or weakened, as RFC 9110
        reads the header; the page otherwise.  Pages kept on disk get their 304 the same way.
        """
        for path, accept in (("/simple/alpha/", JSON_ACCEPT), ("/simple/medium/", JSON_ACCEPT)):
            for encoding in ("identity", "gzip"):
                headers = (f"Accept: {accept}", f"Accept-Encoding: {encoding}")
                tree, _, _ = yield self.treeAndQuick(_request(path, *headers))
                etag = header_(tree, b"ETag").decode()
                cases = [
                    (etag, b"304"),
                    ("*", b"304"),
                    (f'"other", {etag}', b"304"),
                    (f'{etag}, "other"', b"304"),
                    (f"W/{etag}", b"304"),
                    ('"other"', b"200"),
                    (f'"other", W/"x{etag[1:]}', b"200"),
                ]
                for tags, code in cases:
                    request = _request(path, *headers, f"If-None-Match: {tags}")
                    tree, quick, answered = yield self.treeAndQuick(request)
                    self.assertTrue(answered, (path, encoding, tags))
                    self.assertEqual(quick.split(b" ")[1], code, (path, encoding, tags))
                    self.assertSameButDate(tree, quick)
                    if code == b"304":
                        self.assertNotIn(b"Content-Length", quick)
                        self.assertTrue(quick.endswith(f"ETag: {etag}\r\n\r\n".encode()))

    @inlineCallbacks
    def test_coldIsLeftToTheTree(self):  # type: ignore[no-untyped-def]
        """
        A page not asked for yet is declined; the tree fetches it.
        """
        self.site.warmPages = self.spy
        response = yield self.exchange(_request("/simple/alpha/", f"Accept: {JSON_ACCEPT}"))
        self.assertTrue(response.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertEqual(self.spy.answers, [False])
        self.assertEqual(len(self.upstream.requests), 1)

    @inlineCallbacks
    def test_loggedAndCounted(self):  # type: ignore[no-untyped-def]
        """
        A quick answer is counted in the metrics and logged like any other.
        """
        logged: List[Any] = []
        self.site.requestObservers.append(logged.append)
        yield self.treeAndQuick(_request("/simple/alpha/"))
        self.assertEqual(self.spy.answers, [True])
        quickRequest = logged[-1]
        self.assertEqual((quickRequest.code, quickRequest.uri), (200, b"/simple/alpha/"))
        self.assertGreater(quickRequest.sentLength, 0)
        self.assertEqual(
            self.harness.status.requests._pending[(b"/simple/alpha/", 200)], 3
        )
        response = yield self.exchange(_request("/simple/alpha/"))
        etag = header_(response, b"ETag")
        yield self.exchange(_request("/simple/alpha/", f"If-None-Match: {etag.decode()}"))
        self.assertEqual((logged[-1].code, logged[-1].sentLength), (304, 0))
        self.assertEqual(self.spy.answers[-1], True)

    @inlineCallbacks
    def test_keptAlive(self):  # type: ignore[no-untyped-def]
        """
        Two requests sent at once on one connection are both answered, the
        second after the first, the quick way.
        """
        request = _request("/simple/alpha/", f"Accept: {JSON_ACCEPT}")
        yield self.treeAndQuick(request)
        del self.spy.answers[:]

        def twice() -> bytes:
            with socket.create_connection(
                ("127.0.0.1", self.harness.port.getHost().port), timeout=10
            ) as s:
                s.sendall(request + request)
                data = b""
                while data.count(b"HTTP/1.1 200 OK") < 2 or not data.endswith(b"}"):
                    data += recvSome(s)
                return data

        data = yield threads.deferToThread(twice)
        self.assertEqual(self.spy.answers, [True, True])
        first, second = data.split(b"HTTP/1.1 200 OK")[1:]
        self.assertEqual(_DATE.sub(b"", first), _DATE.sub(b"", second))

    @inlineCallbacks
    def test_faultLeftToTheTree(self):  # type: ignore[no-untyped-def]
        """
        Should answering a warm page fail, the fault is logged and the tree
        answers.
        """
        request = _request("/simple/alpha/", f"Accept: {JSON_ACCEPT}")
        tree, _, _ = yield self.treeAndQuick(request)

        self.spy.wrapped = _Broken()
        quick = yield self.exchange(request)
        self.assertSameButDate(tree, quick)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_headCached(self) -> None:
        """
        A representation's head is made once per encoding and scope.
        """
        from cheesecache.web.representation import Representation

        rep = Representation.of("text/html", b"<html></html>")
        self.assertIs(responseHead(rep, False, "public"), responseHead(rep, False, "public"))
        self.assertNotEqual(responseHead(rep, True, "public"), responseHead(rep, False, "public"))
        self.assertIn(b"Cache-Control: private, max-age=60", responseHead(rep, False, "private")[1])


def header_(response: bytes, name: bytes) -> bytes:
    match = re.search(rb"\r\n" + name + rb": ([^\r]*)\r\n", response)
    assert match is not None, response[:300]
    return match.group(1)


class ReadAuthTests(TestCase):
    """
    With reads needing credentials, nothing answers before the tree.
    """

    @inlineCallbacks
    def test_warmPageStillNeedsCredentials(self):  # type: ignore[no-untyped-def]
        """
        A page made warm by a reader with credentials is still a 401 for a
        request without them.
        """
        harness = Harness(
            self, [serveIndex(self, sampleIndex())],
            users={"alice": "al1ce-pw"}, readAuth=True,
        )
        self.assertIsNone(harness.site.warmPages)
        for _ in range(2):
            response, _ = yield harness.get(
                "/simple/alpha/", {"Accept": JSON_ACCEPT, "Authorization": ALICE}
            )
            self.assertEqual(response.code, 200)
        response, _ = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 401)
        self.assertEqual(header(response, "www-authenticate"), 'Basic realm="cheesecache"')
