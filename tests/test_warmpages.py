"""
Tests for L{cheesecache.web.simple.SimpleResource.answerWarm} and
L{cheesecache.web.site.PageRequest}: warm project pages answered before
the resource tree is walked, with the bytes the tree would send.
"""

from __future__ import annotations

import re
import socket
from typing import Any, List, Tuple

from twisted.internet import threads
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import TestCase

from cheesecache.web.representation import IN_MEMORY_LIMIT, responseHead
from cheesecache.web.simple import SimpleResource

from .fakeindex import Dist
from .harness import JSON_ACCEPT, Harness, header, serveIndex
from .test_auth import ALICE
from .test_index import sampleIndex

_DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


def _exchange(port: int, request: bytes) -> bytes:
    """
    Send C{request} on a new connection and read one response: its head,
    then C{Content-Length} bytes of body, unless it is a C{HEAD}'s or a
    C{304}.  Blocking: for a thread.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += _recv(s)
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        if length and not request.startswith(b"HEAD ") and b" 304 " not in head[:20]:
            while len(body) < int(length.group(1)):
                body += _recv(s)
        return head + b"\r\n\r\n" + body


def _recv(s: socket.socket) -> bytes:
    piece = s.recv(65536)
    if not piece:
        raise ConnectionError("closed before the whole response")
    return piece


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
        return threads.deferToThread(_exchange, self.harness.port.getHost().port, request)

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
        tree, _, _ = yield self.treeAndQuick(_request("/simple/alpha/"))
        etag = header_(tree, b"ETag")
        cases.append((_request("/simple/alpha/", f"If-None-Match: {etag.decode()}"), b"304"))
        for request, code in cases:
            tree, quick, answered = yield self.treeAndQuick(request)
            self.assertFalse(answered, request)
            self.assertEqual(quick.split(b" ")[1], code, (request, quick[:200]))
            self.assertSameButDate(tree, quick)

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
                    data += _recv(s)
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
