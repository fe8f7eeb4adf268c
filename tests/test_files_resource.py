"""
Tests for L{cheesecache.web.files} and L{cheesecache.filefetch}: files
fetched once from a real upstream on loopback, streamed to every waiting
client, verified before they are kept, and served with ranges and HEAD.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from typing import List, Tuple

from twisted.internet import protocol, reactor, threads
from twisted.internet.defer import Deferred, fail, gatherResults, inlineCallbacks, maybeDeferred
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.http_headers import Headers
from twisted.web.server import NOT_DONE_YET
import treq

from cheesecache import metadata as metadatamodule
from cheesecache.blobstore import BlobStore
from cheesecache.web import files
from cheesecache.web.files import EXTRACT_DELAY, restOfFileFrom

from .fakeindex import Dist, FakeIndex, cutShort
from .harness import JSON_ACCEPT, Harness, header, logEvents, rawExchange, serveIndex, sleep
from .wheels import makeSdist, makeWheel


def fileIndex(padding: int = 0) -> Tuple[FakeIndex, Dist, Dist]:
    index = FakeIndex()
    wheelName, wheelData = makeWheel("alpha", "1.0", padding=padding)
    wheel = Dist(wheelName, wheelData)
    sdistName, sdistData = makeSdist("alpha", "1.0")
    sdist = Dist(sdistName, sdistData)
    index.add("alpha", wheel, sdist)
    return index, wheel, sdist


class FileTests(TestCase):
    """
    Files through cheesecache.
    """

    padding = 300_000

    def setUp(self) -> None:
        self.upstream, self.wheel, self.sdist = fileIndex(self.padding)
        self.harness = Harness(self, [serveIndex(self, self.upstream)], idleTimeout=2)

    @inlineCallbacks
    def fileURLs(self):  # type: ignore[no-untyped-def]
        _, body = yield self.harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        return {
            f["filename"]: "/simple/alpha/" + f["url"]
            for f in json.loads(body)["files"]
        }

    def path(self, urls: dict, dist: Dist) -> str:
        # "/simple/alpha/../../files/..." as a client resolves it
        return "/files/" + urls[dist.filename].split("/files/", 1)[1]

    def blobs(self) -> List[FilePath]:
        root = self.harness.store.blobs
        if not root.exists():
            return []
        return [p for p in root.walk() if p.isfile()]

    def temporaries(self) -> List[FilePath]:
        tmp = self.harness.store.tmp
        return tmp.children() if tmp.exists() else []

    @inlineCallbacks
    def test_lastByteBeforeDisk(self):  # type: ignore[no-untyped-def]
        """
        A client gets the whole file once it is verified, without waiting
        for it to be synced to disk; the blob is kept once the sync is done.
        """
        held: List[Tuple[Deferred, object, tuple]] = []
        store = self.harness.store

        def blocking(f, *args):  # type: ignore[no-untyped-def]
            if f not in (store.sync, store.syncFolder):
                return maybeDeferred(f, *args)  # hashing
            d: Deferred = Deferred()
            held.append((d, f, args))
            return d

        self.harness.fetcher.blocking = blocking
        urls = yield self.fileURLs()
        response, body = yield self.harness.get(self.path(urls, self.wheel))
        self.assertEqual(body, self.wheel.data)
        self.assertEqual(len(held), 1)
        self.assertFalse(self.harness.store.exists(self.wheel.sha256))
        while held:
            d, f, args = held.pop(0)
            d.callback(f(*args))  # type: ignore[operator]
        yield self.harness.settled()
        self.assertTrue(self.harness.store.exists(self.wheel.sha256))
        self.assertEqual(self.temporaries(), [])

    @inlineCallbacks
    def test_blobFolderMadeInThePool(self):  # type: ignore[no-untyped-def]
        """
        The folder a new blob goes into is made in the thread pool, beside
        the sync: when the blob is renamed into place, on the reactor
        thread, the folder is there already.
        """
        seen = []
        place = BlobStore.place

        def placing(store, temporary, key):  # type: ignore[no-untyped-def]
            if store is self.harness.store and key == self.wheel.sha256:
                seen.append((
                    store.path(key).parent().isdir(),
                    threading.current_thread() is threading.main_thread(),
                ))
            return place(store, temporary, key)

        self.patch(BlobStore, "place", placing)
        urls = yield self.fileURLs()
        response, body = yield self.harness.get(self.path(urls, self.wheel))
        self.assertEqual(body, self.wheel.data)
        yield self.harness.settled()
        self.assertEqual(seen, [(True, True)])
        self.assertTrue(self.harness.store.exists(self.wheel.sha256))

    @inlineCallbacks
    def test_syncFails(self):  # type: ignore[no-untyped-def]
        """
        When the verified file cannot be kept (the disk fails), its client
        still gets it whole; nothing is kept, no temporary file is left, and
        the next request fetches it again.
        """

        store = self.harness.store

        def blocking(f, *args):  # type: ignore[no-untyped-def]
            if f not in (store.sync, store.syncFolder):
                return maybeDeferred(f, *args)  # hashing
            return fail(OSError(28, "No space left on device"))

        self.harness.fetcher.blocking = blocking
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        response, body = yield self.harness.get(path)
        self.assertEqual((response.code, body), (200, self.wheel.data))
        yield self.harness.settled()
        self.assertEqual((self.blobs(), self.temporaries()), ([], []))
        self.flushLoggedErrors()
        self.harness.fetcher.blocking = None
        response, body = yield self.harness.get(path)
        self.assertEqual(body, self.wheel.data)
        self.assertEqual(self.upstream.count(b"/packages/" + self.wheel.filename.encode()), 2)

    @inlineCallbacks
    def test_coldThenWarm(self):  # type: ignore[no-untyped-def]
        """
        The first GET streams the file from the upstream; it is kept, and
        the next GET is served from the store without the upstream.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        response, body = yield self.harness.get(path)
        self.assertEqual(response.code, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), self.wheel.sha256)
        # Twisted's client moves Content-Length into response.length.
        self.assertEqual(response.length, len(self.wheel.data))
        self.assertEqual(header(response, "content-type"), "application/octet-stream")
        response, body = yield self.harness.get(path)
        self.assertEqual(body, self.wheel.data)
        self.assertEqual(header(response, "etag"), f'"{self.wheel.sha256}"')
        self.assertEqual(
            header(response, "cache-control"), "public, max-age=31536000, immutable"
        )
        self.assertEqual(header(response, "accept-ranges"), "bytes")
        self.assertEqual(self.upstream.count(b"/packages/" + self.wheel.filename.encode()), 1)
        yield self.harness.settled()
        self.assertTrue(self.harness.store.exists(self.wheel.sha256))

    @inlineCallbacks
    def test_notModified(self):  # type: ignore[no-untyped-def]
        """
        A stored file asked for with its ETag in C{If-None-Match} is a 304
        without C{Content-Length} (a 304 may carry only the 200's length).
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        yield self.harness.get(path)
        yield self.harness.settled()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f'If-None-Match: "{self.wheel.sha256}"\r\n\r\n'
        ).encode()
        answer = yield threads.deferToThread(
            rawExchange, self.harness.port.getHost().port, request
        )
        self.assertTrue(answer.startswith(b"HTTP/1.1 304 Not Modified\r\n"), answer)
        self.assertIn(f'\r\nETag: "{self.wheel.sha256}"\r\n'.encode(), answer)
        self.assertNotIn(b"Content-Length", answer)

    @inlineCallbacks
    def storedPath(self):  # type: ignore[no-untyped-def]
        """
        Fetch the wheel once and wait until it is stored; fires with its
        path.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        response, body = yield self.harness.get(path)
        self.assertEqual(body, self.wheel.data)
        yield self.harness.settled()
        self.assertTrue(self.harness.store.exists(self.wheel.sha256))
        return path

    @inlineCallbacks
    def test_notModifiedSince(self):  # type: ignore[no-untyped-def]
        """
        A stored file asked for with C{If-Modified-Since} a date after it
        was stored is a 304 without C{Content-Length}, as one for its ETag.
        """
        path = yield self.storedPath()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n"
        ).encode()
        answer = yield threads.deferToThread(
            rawExchange, self.harness.port.getHost().port, request
        )
        self.assertTrue(answer.startswith(b"HTTP/1.1 304 Not Modified\r\n"), answer)
        self.assertNotIn(b"Content-Length", answer)

    @inlineCallbacks
    def test_ifNoneMatchList(self):  # type: ignore[no-untyped-def]
        """
        C{If-None-Match} is a comma-separated list: the stored file's ETag
        among others makes a 304 (RFC 9110, 13.1.2).
        """
        path = yield self.storedPath()
        response, body = yield self.harness.get(
            path, {"If-None-Match": f'"{self.wheel.sha256}", "other"'}
        )
        self.assertEqual((response.code, body), (304, b""))

    @inlineCallbacks
    def test_ifNoneMatchWeak(self):  # type: ignore[no-untyped-def]
        """
        C{If-None-Match} compares weakly: the stored file's ETag marked weak
        (as a proxy may have passed it on) makes a 304.
        """
        path = yield self.storedPath()
        response, body = yield self.harness.get(
            path, {"If-None-Match": f'W/"{self.wheel.sha256}"'}
        )
        self.assertEqual((response.code, body), (304, b""))

    @inlineCallbacks
    def test_ifModifiedSinceIgnoredWithIfNoneMatch(self):  # type: ignore[no-untyped-def]
        """
        With C{If-None-Match}, C{If-Modified-Since} is ignored (RFC 9110,
        13.1.3): a tag that is not the file's gets the file, whatever the
        date.
        """
        path = yield self.storedPath()
        response, body = yield self.harness.get(
            path,
            {
                "If-None-Match": '"some-other-file"',
                "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT",
            },
        )
        self.assertEqual((response.code, body), (200, self.wheel.data))

    @inlineCallbacks
    def test_noContentEncodingOnTarGz(self):  # type: ignore[no-untyped-def]
        """
        A .tar.gz is served as the exact bytes, never with a
        Content-Encoding, even to a client that accepts gzip; cold and warm.
        """
        urls = yield self.fileURLs()
        for _ in range(2):
            response, body = yield self.harness.get(
                self.path(urls, self.sdist), {"Accept-Encoding": "gzip"}
            )
            self.assertEqual(body, self.sdist.data)
            self.assertIsNone(header(response, "content-encoding"))

    @inlineCallbacks
    def test_plusInFilename(self):  # type: ignore[no-untyped-def]
        """
        A filename with a "+" works whether the client sends it as "+" or
        as "%2B" (pip re-quotes paths).
        """
        name, data = makeWheel("alpha", "2.0+local")
        self.upstream.add("alpha", Dist(name, data))
        urls = yield self.fileURLs()
        path = self.path(urls, Dist(name, data))
        self.assertIn("%2B", path)
        for variant in (path, path.replace("%2B", "+")):
            response, body = yield self.harness.get(variant)
            self.assertEqual((variant, response.code), (variant, 200))
            self.assertEqual(body, data)

    @inlineCallbacks
    def test_coalescing(self):  # type: ignore[no-untyped-def]
        """
        Twenty concurrent cold requests make one upstream request, and every
        client gets the whole, correct file.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.hold()
        requests = [self.harness.get(path) for _ in range(20)]
        filePath = b"/packages/" + self.wheel.filename.encode()
        while self.upstream.count(filePath) == 0:
            yield sleep(0.01)
        yield sleep(0.05)
        self.upstream.release()
        results = yield gatherResults(requests)
        self.assertEqual(self.upstream.count(filePath), 1)
        for response, body in results:
            self.assertEqual(response.code, 200)
            self.assertEqual(body, self.wheel.data)
        self.assertEqual(self.harness.fetcher.started, 1)

    @inlineCallbacks
    def downloadUnderWay(  # type: ignore[no-untyped-def]
        self, fault: str = "slow", dribbleDelay: float = 0.02
    ):
        """
        Start a download of the wheel that the upstream sends in pieces
        (with C{fault}, C{dribbleDelay} seconds apart), and wait for its
        first piece; fires with the wheel's path, the GET that started it,
        and the download.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.faults[b"/packages/" + self.wheel.filename.encode()] = fault
        self.upstream.dribbleDelay = dribbleDelay
        first = self.harness.get(path)
        while self.harness.fetcher.inProgress(self.wheel.sha256) is None:
            yield sleep(0.01)
        download = self.harness.fetcher.inProgress(self.wheel.sha256)
        while download.written == 0:
            yield sleep(0.01)
        return path, first, download

    @inlineCallbacks
    def test_followerCannotOpen(self):  # type: ignore[no-untyped-def]
        """
        A client that cannot open the download it follows (the server is
        out of file descriptors) gets an error of its own; the download
        goes on for the others, who get the whole file, and it is kept.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.hold()
        requests = [self.harness.get(path) for _ in range(3)]
        filePath = b"/packages/" + self.wheel.filename.encode()
        while self.upstream.count(filePath) == 0:
            yield sleep(0.01)
        yield sleep(0.05)
        failures = [OSError(24, "Too many open files")]

        def opening(*args, **kwargs):  # type: ignore[no-untyped-def]
            if failures:
                raise failures.pop()
            return open(*args, **kwargs)

        files.open = opening  # type: ignore[attr-defined]
        self.addCleanup(delattr, files, "open")
        self.upstream.release()
        results = yield gatherResults(requests)
        self.assertEqual(
            sorted(response.code for response, _ in results), [200, 200, 503]
        )
        for response, body in results:
            if response.code == 200:
                self.assertEqual(body, self.wheel.data)
        yield self.harness.settled()
        self.assertEqual([p.basename() for p in self.blobs()], [self.wheel.sha256])
        self.assertEqual(self.harness.fetcher.started, 1)

    @inlineCallbacks
    def test_lateJoinerGetsWholeFile(self):  # type: ignore[no-untyped-def]
        """
        A client that arrives while the file is half downloaded gets it from
        byte 0, and neither client's response ends before the file is
        verified.
        """
        path, first, _ = yield self.downloadUnderWay()
        second = self.harness.get(path)
        (r1, b1), (r2, b2) = yield gatherResults([first, second])
        self.assertEqual(b1, self.wheel.data)
        self.assertEqual(b2, self.wheel.data)
        self.assertEqual(self.harness.fetcher.started, 1)

    @inlineCallbacks
    def assertFaultNeverServed(self, fault: str):  # type: ignore[no-untyped-def]
        """
        With C{fault} injected upstream, no client gets a complete response
        with wrong bytes, nothing is kept, no temporary file is left, and the
        next request after the fault is gone succeeds.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        filePath = b"/packages/" + self.wheel.filename.encode()
        self.upstream.faults[filePath] = fault
        outcomes = yield gatherResults(
            [self.harness.get(path).addErrback(lambda f: f.value) for _ in range(3)]
        )
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                response, body = outcome
                # A clean answer must be an error status, never wrong bytes.
                self.assertNotEqual(response.code, 200, f"{fault}: served {len(body)} bytes")
        self.assertEqual(self.blobs(), [])
        self.assertEqual(self.temporaries(), [])
        del self.upstream.faults[filePath]
        response, body = yield self.harness.get(path)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, self.wheel.data)

    @inlineCallbacks
    def test_failedBeforeTheFirstByte(self):  # type: ignore[no-untyped-def]
        """
        A client following a download that fails before any byte of the file
        came (the upstream sends its headers, then resets, each time it is
        asked) is answered 502 with why, in words, as a client waiting for
        the whole file is, not with a cut connection: nothing of the file
        went out.  The file's own headers are not on the error.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.faults[b"/packages/" + self.wheel.filename.encode()] = (
            "headers-then-reset"
        )
        response, body = yield self.harness.get(path)
        self.assertEqual(response.code, 502)
        self.assertIn(b"Bad Gateway", body)
        self.assertIn(b"Bad Gateway", response.phrase)
        # Why, in words (the connection was lost), not as the repr of
        # Twisted's failures: what a cheesecache below passes on.
        for said in (body, response.phrase):
            self.assertNotIn(b"<twisted", said)
            self.assertNotIn(b"Failure", said)
            self.assertIn(b"onnection", said)
        for name in (b"ETag", b"Accept-Ranges", b"Content-Range"):
            self.assertFalse(response.headers.hasHeader(name), name)
        self.assertEqual(
            response.headers.getRawHeaders(b"Cache-Control"), [b"no-store"]
        )
        self.assertEqual(self.blobs(), [])
        self.assertEqual(self.temporaries(), [])

    @inlineCallbacks
    def test_truncated(self):  # type: ignore[no-untyped-def]
        """
        An upstream body cut short is never kept nor completed to a client,
        once asking for the rest has failed as often as it may.
        """
        yield self.assertFaultNeverServed("truncate")
        # Each download (one, unless a client came after it failed) asked
        # for the rest as often as it may; the last request got the file.
        ranges = [wanted for wanted, _ in self.fileRequests()]
        downloads = ranges.count(None) - 1
        self.assertGreater(downloads, 0)
        self.assertEqual(
            len(ranges) - downloads - 1, downloads * len(self.harness.fetcher.resumeDelays)
        )

    def fileRequests(self):  # type: ignore[no-untyped-def]
        """
        The upstream's requests for the wheel: their C{Range} and
        C{If-Range} headers.
        """
        filePath = b"/packages/" + self.wheel.filename.encode()
        return [
            (headers.get(b"range"), headers.get(b"if-range"))
            for _, path, headers in self.upstream.requests
            if path == filePath
        ]

    def test_resumed(self):  # type: ignore[no-untyped-def]
        """
        A download whose connection breaks midway is resumed: the rest is
        asked for from where it broke (on the condition that the file is
        the same), and every client gets the whole file, kept once
        verified.
        """
        return self.assertResumedFromHalf("truncate-once", clients=3)

    def test_stalledResumed(self):  # type: ignore[no-untyped-def]
        """
        A download whose upstream stops sending midway, the connection
        open, is resumed as one whose connection broke once nothing came
        for the idle timeout: every client gets the whole file.
        """
        self.harness.fetcher.idleTimeout = 0.2
        return self.assertResumedFromHalf("stall-once", clients=2)

    @inlineCallbacks
    def assertResumedFromHalf(self, fault: str, clients: int):  # type: ignore[no-untyped-def]
        """
        With C{fault} injected upstream, which gives half the wheel the
        first time, C{clients} concurrent clients each get the whole wheel,
        fetched once from the start and once from the half, and it is kept.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.faults[b"/packages/" + self.wheel.filename.encode()] = fault
        results = yield gatherResults([self.harness.get(path) for _ in range(clients)])
        for response, body in results:
            self.assertEqual(response.code, 200)
            self.assertEqual(body, self.wheel.data)
        half = len(self.wheel.data) // 2
        etag = b'"' + self.wheel.sha256.encode()[:16] + b'"'
        self.assertEqual(
            self.fileRequests(), [(None, None), (b"bytes=%d-" % (half,), etag)]
        )
        yield self.harness.fetcher.settled()
        self.assertEqual([p.basename() for p in self.blobs()], [self.wheel.sha256])

    @inlineCallbacks
    def test_resumedWholeAgain(self):  # type: ignore[no-untyped-def]
        """
        An upstream that answers the request for the rest with the whole
        file: what came before is dropped from it.
        """
        self.upstream.fileRanges = False
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.faults[b"/packages/" + self.wheel.filename.encode()] = "truncate-once"
        response, body = yield self.harness.get(path)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, self.wheel.data)
        self.assertEqual(len(self.fileRequests()), 2)
        yield self.harness.fetcher.settled()
        self.assertEqual([p.basename() for p in self.blobs()], [self.wheel.sha256])

    def scriptFile(self, *answers) -> None:  # type: ignore[no-untyped-def]
        """
        Have the upstream answer the requests for the wheel with
        C{answers}, each called with the request and the wheel's bytes, in
        turn; then as usual (ranges honoured).
        """
        original = self.upstream._file
        script = list(answers)

        def answer(request, filename, fault):  # type: ignore[no-untyped-def]
            if filename == self.wheel.filename and script:
                return script.pop(0)(request, self.wheel.data)
            return original(request, filename, fault)

        self.upstream._file = answer  # type: ignore[method-assign]

    @inlineCallbacks
    def test_resumedWholeAgainCutBeforeTheRest(self):  # type: ignore[no-untyped-def]
        """
        An answer of the whole file again to a resumption that breaks while
        the bytes already here are being dropped from it, and is resumed
        with a 206 of the rest: the 206's bytes are all kept, and the client
        gets the whole file.
        """
        size = len(self.wheel.data)
        etag = b'"' + self.wheel.sha256.encode()[:16] + b'"'

        def half(request, data):  # type: ignore[no-untyped-def]
            request.setHeader(b"ETag", etag)
            return cutShort(request, data)

        def wholeCutEarly(request, data):  # type: ignore[no-untyped-def]
            # A 200 of the whole file, cut before the half already here.
            request.setHeader(b"ETag", etag)
            request.setHeader(b"Content-Length", b"%d" % (size,))
            request.write(data[: size // 4])
            request.channel.transport.unregisterProducer()
            request.channel.transport.loseConnection()
            return NOT_DONE_YET

        self.scriptFile(half, wholeCutEarly)
        urls = yield self.fileURLs()
        response, body = yield self.harness.get(self.path(urls, self.wheel))
        self.assertEqual((response.code, len(body)), (200, size))
        self.assertEqual(body, self.wheel.data)
        self.assertEqual(
            [wanted for wanted, _ in self.fileRequests()],
            [None, b"bytes=%d-" % (size // 2,), b"bytes=%d-" % (size // 2,)],
        )
        yield self.harness.fetcher.settled()
        self.assertEqual([p.basename() for p in self.blobs()], [self.wheel.sha256])

    @inlineCallbacks
    def test_brokenAfterTheLastByte(self):  # type: ignore[no-untyped-def]
        """
        A chunked answer whose connection breaks after every byte of the
        file came, before the chunk that ends it: the file is whole, and
        is served and kept, rather than the rest of it (nothing) asked for
        and refused (a 416) and the download failed.
        """
        size = len(self.wheel.data)

        def wholeUnended(request, data):  # type: ignore[no-untyped-def]
            request.write(data)  # chunked: no Content-Length
            request.channel.transport.unregisterProducer()
            request.channel.transport.loseConnection()
            return NOT_DONE_YET

        def nothingLeft(request, data):  # type: ignore[no-untyped-def]
            request.setResponseCode(416)
            request.setHeader(b"Content-Range", b"bytes */%d" % (size,))
            return b""

        self.scriptFile(wholeUnended, nothingLeft)
        urls = yield self.fileURLs()
        outcome = yield self.harness.get(self.path(urls, self.wheel)).addErrback(
            lambda f: f.value
        )
        self.assertIsInstance(outcome, tuple, str(outcome))
        response, body = outcome
        self.assertEqual((response.code, len(body)), (200, size))
        self.assertEqual(body, self.wheel.data)
        self.assertEqual([wanted for wanted, _ in self.fileRequests()], [None])
        yield self.harness.fetcher.settled()
        self.assertEqual([p.basename() for p in self.blobs()], [self.wheel.sha256])

    def test_wrongBytes(self):  # type: ignore[no-untyped-def]
        """
        Bytes that do not match the index's sha256 are never kept nor
        completed to a client.
        """
        return self.assertFaultNeverServed("wrong")

    def test_wrongBytesSlowly(self):  # type: ignore[no-untyped-def]
        """
        Wrong bytes arriving in pieces, so that clients catch up with the
        download before its end: still never completed to a client.
        """
        return self.assertFaultNeverServed("slowwrong")

    def test_abortedMidway(self):  # type: ignore[no-untyped-def]
        """
        An upstream that aborts midway is never completed to a client.
        """
        return self.assertFaultNeverServed("midway500")

    def test_error500(self):  # type: ignore[no-untyped-def]
        """
        An upstream 500 on the file gives clients a 502.
        """
        return self.assertFaultNeverServed("500")

    @inlineCallbacks
    def assertUpstreamStatusGives(  # type: ignore[no-untyped-def]
        self, upstreamCode: int, code: int, pageAskedAgain: bool, retryAfter: str = ""
    ):
        """
        With the upstream answering C{upstreamCode} for a file (with
        C{Retry-After: retryAfter}, if given), concurrent plain and range
        requests for it all get C{code}, with the same C{Retry-After}, and
        nothing is kept; the next request for the page asks the upstream
        again only if C{pageAskedAgain}, though the page is fresh.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.faults[b"/packages/" + self.wheel.filename.encode()] = (
            f"status:{upstreamCode}:{retryAfter}" if retryAfter else f"status:{upstreamCode}"
        )
        results = yield gatherResults(
            [self.harness.get(path), self.harness.get(path),
             self.harness.get(path, headers={"Range": "bytes=-100"})]
        )
        self.assertEqual([response.code for response, _ in results], [code] * 3)
        self.assertEqual(
            [response.headers.getRawHeaders(b"retry-after") for response, _ in results],
            [[retryAfter.encode()] if retryAfter else None] * 3,
        )
        self.assertEqual(self.blobs(), [])
        self.assertEqual(self.temporaries(), [])
        pages = self.upstream.count(b"/simple/alpha/")
        yield self.fileURLs()
        yield self.fileURLs()
        self.assertEqual(
            self.upstream.count(b"/simple/alpha/"), pages + (1 if pageAskedAgain else 0)
        )

    def test_error500Is502(self):  # type: ignore[no-untyped-def]
        """
        An upstream 5xx on a file is the upstream failing: a 502; the page
        is not asked for again before its time.
        """
        return self.assertUpstreamStatusGives(503, 502, pageAskedAgain=False)

    @inlineCallbacks
    def test_retryAfterIs503(self):  # type: ignore[no-untyped-def]
        """
        An upstream that asks to be left alone for a file (429, or 503,
        with C{Retry-After}) gives clients a 503 with the same
        C{Retry-After}, which pip heeds.
        """
        yield self.assertUpstreamStatusGives(429, 503, pageAskedAgain=False, retryAfter="17")
        yield self.assertUpstreamStatusGives(503, 503, pageAskedAgain=False, retryAfter="5")

    @inlineCallbacks
    def test_goneUpstreamIs404(self):  # type: ignore[no-untyped-def]
        """
        An upstream 404 or 410 on a file the page lists (deleted upstream
        since) is passed on as a 404, which clients do not retry for
        minutes as they do a 502; and the page, which has most likely
        changed, is revalidated on its next request.
        """
        yield self.assertUpstreamStatusGives(404, 404, pageAskedAgain=True)
        yield self.assertUpstreamStatusGives(410, 404, pageAskedAgain=True)

    def test_hang(self):  # type: ignore[no-untyped-def]
        """
        An upstream that stops sending is cut off by the idle timeout.
        """
        return self.assertFaultNeverServed("hang")

    @inlineCallbacks
    def test_wrongSizeInIndex(self):  # type: ignore[no-untyped-def]
        """
        A file whose size differs from the index's is not kept.
        """
        self.wheel.listedSize = len(self.wheel.data) + 10
        urls = yield self.fileURLs()
        outcome = yield self.harness.get(self.path(urls, self.wheel)).addErrback(
            lambda f: f.value
        )
        if isinstance(outcome, tuple):
            self.assertNotEqual(outcome[0].code, 200)
        self.assertEqual(self.blobs(), [])

    @inlineCallbacks
    def test_headCold(self):  # type: ignore[no-untyped-def]
        """
        HEAD on a file not cached yet answers from the index's size, with
        Accept-Ranges, without downloading it.
        """
        urls = yield self.fileURLs()
        response, body = yield self.harness.get(self.path(urls, self.wheel), method="HEAD")
        self.assertEqual(response.code, 200)
        self.assertEqual(body, b"")
        self.assertEqual(header(response, "content-length"), str(len(self.wheel.data)))
        self.assertEqual(header(response, "accept-ranges"), "bytes")
        self.assertEqual(self.upstream.count(b"/packages/" + self.wheel.filename.encode()), 0)

    @inlineCallbacks
    def test_headColdIsAMiss(self):  # type: ignore[no-untyped-def]
        """
        HEAD on a file not cached yet, answered from the index, says
        C{X-Cheesecache-Cache: miss} (C{cheesecache warm} would count the
        file as cached) and counts as no hit.
        """
        urls = yield self.fileURLs()
        response, _ = yield self.harness.get(self.path(urls, self.wheel), method="HEAD")
        self.assertEqual(response.code, 200)
        self.assertFalse(self.harness.store.exists(self.wheel.sha256))
        self.assertEqual(header(response, "x-cheesecache-cache"), "miss")
        self.assertEqual(self.harness.status.requests.fileHits, 0)

    @inlineCallbacks
    def test_ranges(self):  # type: ignore[no-untyped-def]
        """
        Ranges get 206 with an exact Content-Range, cold and warm; the zip
        tail uv reads works; a range past the end gets 416.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        size = len(self.wheel.data)
        response, body = yield self.harness.get(path, {"Range": "bytes=100-199"})
        self.assertEqual(response.code, 206)
        self.assertEqual(header(response, "content-range"), f"bytes 100-199/{size}")
        self.assertEqual(body, self.wheel.data[100:200])
        response, body = yield self.harness.get(path, {"Range": f"bytes={size - 22}-{size - 1}"})
        self.assertEqual(response.code, 206)
        self.assertEqual(body, self.wheel.data[-22:])
        response, body = yield self.harness.get(path, {"Range": f"bytes={size}-"})
        self.assertEqual(response.code, 416)
        self.assertEqual(header(response, "content-range"), f"bytes */{size}")
        response, body = yield self.harness.get(path, method="HEAD")
        self.assertEqual(header(response, "content-length"), str(size))

    @inlineCallbacks
    def test_suffixRangeLongerThanFile(self):  # type: ignore[no-untyped-def]
        """
        A suffix range longer than the stored file is all of it (RFC 9110,
        14.1.2): a 206 of every byte, never a negative offset.
        """
        path = yield self.storedPath()
        size = len(self.wheel.data)
        response, body = yield self.harness.get(path, {"Range": f"bytes=-{size + 100}"})
        self.assertEqual(response.code, 206)
        self.assertEqual(header(response, "content-range"), f"bytes 0-{size - 1}/{size}")
        self.assertEqual(body, self.wheel.data)

    @inlineCallbacks
    def test_multipleRanges(self):  # type: ignore[no-untyped-def]
        """
        Several ranges of a stored file are one C{multipart/byteranges}
        206, a part for each range that overlaps the file, in order.
        """
        path = yield self.storedPath()
        size = len(self.wheel.data)
        response, body = yield self.harness.get(
            path, {"Range": f"bytes={size - 10}-,100-199,{size + 5}-"}
        )
        self.assertEqual(response.code, 206)
        contentType = header(response, "content-type")
        self.assertTrue(contentType.startswith("multipart/byteranges; boundary="))
        boundary = contentType.split("boundary=", 1)[1].strip('"').encode()
        self.assertEqual(response.length, len(body))
        first, *parts, last = body.split(b"\r\n--" + boundary)
        self.assertEqual((first, last), (b"", b"--\r\n"))
        found = []
        for part in parts:
            head, _, payload = part.partition(b"\r\n\r\n")
            fields = dict(
                line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:]
            )
            self.assertEqual(fields[b"content-type"], b"application/octet-stream")
            found.append((fields[b"content-range"], payload))
        self.assertEqual(
            found,
            [
                (f"bytes {size - 10}-{size - 1}/{size}".encode(), self.wheel.data[-10:]),
                (f"bytes 100-199/{size}".encode(), self.wheel.data[100:200]),
            ],
        )

    @inlineCallbacks
    def test_multipleRangesNoneSatisfiable(self):  # type: ignore[no-untyped-def]
        """
        Several ranges none of which overlaps the stored file get a 416
        with C{Content-Range: bytes */size} (RFC 9110, 15.5.17).
        """
        path = yield self.storedPath()
        size = len(self.wheel.data)
        response, body = yield self.harness.get(
            path, {"Range": f"bytes={size + 10}-{size + 20},{size + 30}-"}
        )
        self.assertEqual((response.code, body), (416, b""))
        self.assertEqual(header(response, "content-range"), f"bytes */{size}")

    @inlineCallbacks
    def test_ifRangeOtherTag(self):  # type: ignore[no-untyped-def]
        """
        A range of a stored file conditional on another version of it
        (C{If-Range} with another ETag) gets the whole file (RFC 9110,
        13.1.5); conditional on its own ETag, the range.
        """
        path = yield self.storedPath()
        response, body = yield self.harness.get(
            path, {"Range": "bytes=100-199", "If-Range": '"not-this-file"'}
        )
        self.assertEqual((response.code, body), (200, self.wheel.data))
        response, body = yield self.harness.get(
            path, {"Range": "bytes=100-199", "If-Range": f'"{self.wheel.sha256}"'}
        )
        self.assertEqual((response.code, body), (206, self.wheel.data[100:200]))

    @inlineCallbacks
    def test_ifRangeDate(self):  # type: ignore[no-untyped-def]
        """
        A range conditional on a date gets the whole stored file unless the
        date is the file's own C{Last-Modified}.
        """
        path = yield self.storedPath()
        response, body = yield self.harness.get(
            path,
            {"Range": "bytes=100-199", "If-Range": "Thu, 01 Jan 1998 00:00:00 GMT"},
        )
        self.assertEqual((response.code, body), (200, self.wheel.data))
        lastModified = header(response, "last-modified")
        response, body = yield self.harness.get(
            path, {"Range": "bytes=100-199", "If-Range": lastModified}
        )
        self.assertEqual((response.code, body), (206, self.wheel.data[100:200]))

    @inlineCallbacks
    def test_rangeBeforeSynced(self):  # type: ignore[no-untyped-def]
        """
        A range of a file being fetched is answered as soon as the file is
        whole and verified, before it is synced to disk and stored (syncs
        may take long, and uv asks for a range of every wheel it reads).
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        fetcher = self.harness.fetcher
        inThread, syncs = fetcher.blocking, []

        def holdingSyncs(f, *args):  # type: ignore[no-untyped-def]
            if f == self.harness.store.sync:
                syncs.append(Deferred())
                return syncs[-1].addCallback(lambda _: inThread(f, *args))
            return inThread(f, *args)

        fetcher.blocking = holdingSyncs
        response, body = yield self.harness.get(path, {"Range": "bytes=100-199"})
        self.assertEqual((response.code, body), (206, self.wheel.data[100:200]))
        self.assertEqual(len(syncs), 1)
        self.assertFalse(self.harness.store.exists(hashlib.sha256(self.wheel.data).hexdigest()))
        syncs[0].callback(None)
        yield self.harness.settled()
        self.assertTrue(self.harness.store.exists(hashlib.sha256(self.wheel.data).hexdigest()))
        response, body = yield self.harness.get(path)
        self.assertEqual((response.code, body), (200, self.wheel.data))

    @inlineCallbacks
    def rangeOfDownload(self, headers: dict):  # type: ignore[no-untyped-def]
        """
        Ask for the wheel with C{headers} while a slow download of it is
        under way (a plain GET started it); fires with the response, whether
        the download was verified when its headers came, and its body.
        """
        path, first, download = yield self.downloadUnderWay(dribbleDelay=0.2)
        raw = Headers({k: [v] for k, v in headers.items()})
        response = yield self.harness.client.request(
            b"GET", (self.harness.url + path).encode(), raw
        )
        verifiedAtHeaders = download.verified
        body = yield treq.content(response)
        _, whole = yield first
        self.assertEqual(whole, self.wheel.data)
        self.assertEqual(self.harness.fetcher.started, 1)
        return response, verifiedAtHeaders, body

    @inlineCallbacks
    def test_restFollowsDownload(self):  # type: ignore[no-untyped-def]
        """
        A request for the rest of a file from some byte on, conditional on
        this file, as a downstream cheesecache resumes a broken download,
        follows the download in progress: its 206 comes before the file is
        whole, and holds the bytes from there to the end.
        """
        size = len(self.wheel.data)
        start = size // 3
        response, verifiedAtHeaders, body = yield self.rangeOfDownload(
            {"Range": f"bytes={start}-", "If-Range": f'"{self.wheel.sha256}"'}
        )
        self.assertFalse(verifiedAtHeaders)
        self.assertEqual(response.code, 206)
        self.assertEqual(header(response, "content-range"), f"bytes {start}-{size - 1}/{size}")
        self.assertEqual(response.length, size - start)
        self.assertEqual(body, self.wheel.data[start:])
        # The server ended the answer too, once the file was verified.
        finished = yield self.untilFinished(206)
        self.assertTrue(finished)

    @inlineCallbacks
    def untilFinished(self, code: int):  # type: ignore[no-untyped-def]
        """
        Whether the server finishes a request with C{code} within 2 s.
        """
        for _ in range(200):
            counted = self.harness.status.requests.requests.values
            if any(dict(labels).get("code") == str(code) for labels in counted):
                return True
            yield sleep(0.01)
        return False

    @inlineCallbacks
    def test_restOfWrongFileNeverComplete(self):  # type: ignore[no-untyped-def]
        """
        The rest of a file that fails its hash check is never a complete
        answer: its last byte waits for the check, and the connection is
        cut when the check fails.
        """
        path, first, _ = yield self.downloadUnderWay("slowwrong", dribbleDelay=0.05)
        first.addErrback(lambda f: f.value)
        start = len(self.wheel.data) // 3
        outcome = yield self.harness.get(
            path, {"Range": f"bytes={start}-", "If-Range": f'"{self.wheel.sha256}"'}
        ).addErrback(lambda f: f.value)
        yield first
        if isinstance(outcome, tuple):
            response, body = outcome
            self.assertNotIn(response.code, (200, 206), f"served {len(body)} bytes")
        self.assertEqual(self.blobs(), [])

    @inlineCallbacks
    def test_otherRangesWaitForTheWholeFile(self):  # type: ignore[no-untyped-def]
        """
        A range that ends before the file does would be a complete answer
        of bytes not verified yet: it waits for the whole, verified file.
        """
        response, verifiedAtHeaders, body = yield self.rangeOfDownload(
            {"Range": "bytes=100-199"}
        )
        self.assertTrue(verifiedAtHeaders)
        self.assertEqual((response.code, body), (206, self.wheel.data[100:200]))

    @inlineCallbacks
    def test_restOfAnotherFileWaits(self):  # type: ignore[no-untyped-def]
        """
        A resumption conditional on another version of the file (C{If-Range}
        naming something else) is not answered from the download, and gets
        the whole file (RFC 9110, 13.1.5), not the range.
        """
        response, verifiedAtHeaders, body = yield self.rangeOfDownload(
            {"Range": "bytes=100-", "If-Range": '"something-else"'}
        )
        self.assertTrue(verifiedAtHeaders)
        self.assertEqual((response.code, body), (200, self.wheel.data))

    @inlineCallbacks
    def test_notListed(self):  # type: ignore[no-untyped-def]
        """
        A key or filename the project page does not list is a 404; so are
        malformed paths.
        """
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        for bad in [
            path.replace(self.wheel.filename, "other-1.0.tar.gz"),
            path.replace(self.wheel.sha256, "0" * 64),
            "/files/alpha/..%2F..%2Fetc/passwd",
            "/files/alpha/" + self.wheel.sha256,
            "/files/Alpha/" + self.wheel.sha256 + "/" + self.wheel.filename,
        ]:
            response, _ = yield self.harness.get(bad)
            self.assertEqual((bad, response.code), (bad, 404))


class BigFileTests(FileTests):
    """
    The same with a file big enough that stored copies and downloads in
    progress go out with sendfile.
    """

    padding = 2_500_000

    @inlineCallbacks
    def test_slowDownloadFollowedWithSendfile(self):  # type: ignore[no-untyped-def]
        """
        Clients following a download that arrives in pieces get it whole
        through sendfile, which waits for each piece.
        """
        import os

        calls: List[int] = []
        realSendfile = os.sendfile

        def counting(*args):  # type: ignore[no-untyped-def]
            calls.append(args[3])
            return realSendfile(*args)

        self.patch(os, "sendfile", counting)
        urls = yield self.fileURLs()
        path = self.path(urls, self.wheel)
        self.upstream.faults[b"/packages/" + self.wheel.filename.encode()] = "slow"
        results = yield gatherResults([self.harness.get(path) for _ in range(3)])
        for response, body in results:
            self.assertEqual((response.code, len(body)), (200, len(self.wheel.data)))
            self.assertEqual(body, self.wheel.data)
        self.assertGreater(len(calls), 3)


def dechunk(raw: bytes) -> bytes:
    """
    The body of a chunked answer (C{ValueError} if its framing is broken).
    """
    body, rest = b"", raw
    while True:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return body
        body, rest = body + rest[:size], rest[size + 2 :]


def slowExchange(
    port: int, request: bytes, readFrom: threading.Event, pause: float
) -> bytes:
    """
    Send C{request} over a socket with a small receive buffer, read nothing
    until C{readFrom} is set and C{pause} seconds more, then read all until
    the server hangs up (C{request} ends with C{Connection: close}) or is
    quiet for 10 s.  Blocking: for a thread.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        readFrom.wait(30)
        time.sleep(pause)
        s.settimeout(10)
        data = b""
        try:
            while True:
                piece = s.recv(1 << 20)
                if not piece:
                    break
                data += piece
        except (socket.timeout, ConnectionResetError):
            pass
        return data


class SlowClientTests(TestCase):
    """
    Clients that read nothing for a while, so that their answers go on,
    once the transport's buffer has drained, with sendfile where they may.
    """

    @inlineCallbacks
    def pathOf(self, harness: Harness, project: str, dist: Dist):  # type: ignore[no-untyped-def]
        _, body = yield harness.get(f"/simple/{project}/", {"Accept": JSON_ACCEPT})
        urls = {f["filename"]: f["url"] for f in json.loads(body)["files"]}
        return "/files/" + urls[dist.filename].split("/files/", 1)[1]

    @inlineCallbacks
    def test_chunkedDownloadNeverSentfile(self):  # type: ignore[no-untyped-def]
        """
        A file whose size neither the index (an HTML page) nor the upstream
        (a chunked answer) gives is followed in a chunked answer; a client
        that catches up only after the size became known (the file is
        stored) still gets correct chunks, never raw sendfile bytes.
        """
        upstream = FakeIndex(format="html")
        wheel = Dist(*makeWheel("alpha", "1.0", padding=12_000_000))
        upstream.add("alpha", wheel)
        upstream.faults[b"/packages/" + wheel.filename.encode()] = "chunked"
        harness = Harness(self, [serveIndex(self, upstream)], idleTimeout=5)
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertNotIn("size", json.loads(body)["files"][0])
        path = yield self.pathOf(harness, "alpha", wheel)
        stored = threading.Event()
        answer = threads.deferToThread(
            slowExchange, harness.port.getHost().port,
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
            stored, 0.2,
        )
        while not harness.store.exists(wheel.sha256):
            yield sleep(0.05)
        stored.set()
        raw = yield answer
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nTransfer-Encoding: chunked", head)
        self.assertEqual(dechunk(body), wheel.data)

    @inlineCallbacks
    def test_pipelinedRestFromBeyondWhatCame(self):  # type: ignore[no-untyped-def]
        """
        A keep-alive client pipelines a request for a stored file and one
        for the rest of a file being downloaded, from a byte that has not
        come yet: once the first answer has drained, the second follows the
        download with sendfile, waiting for its bytes (it was aborted by a
        sendfile of a negative count), and is a whole 206.
        """
        upstream, wheel, _ = fileIndex(3_000_000)
        small = Dist(*makeWheel("beta", "1.0", padding=300_000))
        upstream.add("beta", small)
        harness = Harness(self, [serveIndex(self, upstream)], idleTimeout=10)
        smallPath = yield self.pathOf(harness, "beta", small)
        response, body = yield harness.get(smallPath)
        self.assertEqual(body, small.data)
        yield harness.settled()
        bigPath = yield self.pathOf(harness, "alpha", wheel)
        upstream.faults[b"/packages/" + wheel.filename.encode()] = "slow"
        upstream.dribbleDelay = 0.5
        first = harness.get(bigPath)
        while harness.fetcher.inProgress(wheel.sha256) is None:
            yield sleep(0.01)
        download = harness.fetcher.inProgress(wheel.sha256)
        while download.written == 0:
            yield sleep(0.01)
        start = len(wheel.data) - 10
        readNow = threading.Event()
        readNow.set()
        raw = yield threads.deferToThread(
            slowExchange, harness.port.getHost().port,
            f"GET {smallPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-199999\r\n\r\n"
            f"GET {bigPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={start}-\r\n"
            "Connection: close\r\n\r\n".encode(),
            readNow, 1.0,
        )
        _, whole = yield first
        self.assertEqual(whole, wheel.data)
        heads = [piece[:40] for piece in raw.split(b"HTTP/1.1 ")[1:]]
        self.assertEqual(len(heads), 2, (len(raw), heads))
        self.assertTrue(heads[1].startswith(b"206 "), heads)
        self.assertTrue(raw.endswith(b"\r\n\r\n" + wheel.data[start:]), raw[-100:])


class RestOfFileFromTests(SynchronousTestCase):
    """
    L{restOfFileFrom}: which C{Range} headers ask for the rest of a file.
    """

    def test_openRanges(self) -> None:
        self.assertEqual(restOfFileFrom(b"bytes=0-", 10), 0)
        self.assertEqual(restOfFileFrom(b"bytes=4-", 10), 4)
        self.assertEqual(restOfFileFrom(b" Bytes = 9- ", 10), 9)
        # Past the end is the end.
        self.assertEqual(restOfFileFrom(b"bytes=4-9", 10), 4)
        self.assertEqual(restOfFileFrom(b"bytes=4-99", 10), 4)

    def test_others(self) -> None:
        for value in (
            None, b"", b"bytes=4-8", b"bytes=-5", b"bytes=10-", b"bytes=0-1,4-",
            b"items=0-", b"bytes=a-", b"bytes=4", b"bytes=-", b"bytes=4-x",
        ):
            self.assertIsNone(restOfFileFrom(value, 10), value)

    def test_hugeNumbers(self) -> None:
        """
        Positions of more digits than C{int()} takes (a C{ValueError}, a
        500) are past the end of the file.
        """
        huge = b"9" * 5000
        self.assertEqual(restOfFileFrom(b"bytes=4-" + huge, 10), 4)
        self.assertIsNone(restOfFileFrom(b"bytes=" + huge + b"-", 10))
        self.assertEqual(restOfFileFrom(b"bytes=" + b"0" * 5000 + b"4-", 10), 4)


class MetadataTests(TestCase):
    """
    C{.metadata} files (PEP 658).
    """

    @inlineCallbacks
    def test_passedThroughAndVerified(self):  # type: ignore[no-untyped-def]
        """
        Metadata the upstream advertises is fetched, checked against the
        advertised hash and served; a mismatch is a 502 and is not kept,
        and an upstream 404 is a 404.
        """
        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0")
        good = Dist(name, data, metadata=b"Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n\n")
        index.add("alpha", good)
        name2, data2 = makeWheel("alpha", "2.0")
        bad = Dist(name2, data2, metadata=b"Metadata-Version: 2.1\nName: alpha\nVersion: 2.0\n\n")
        index.add("alpha", bad)
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        files = {f["filename"]: f for f in json.loads(body)["files"]}
        self.assertEqual(
            files[name]["core-metadata"],
            {"sha256": hashlib.sha256(good.metadata).hexdigest()},
        )
        url = "/files/" + files[name]["url"].split("/files/", 1)[1] + ".metadata"
        response, body = yield harness.get(url)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, good.metadata)
        # Now make the upstream serve metadata that does not match the page.
        bad.metadata = b"Name: evil\n"
        url2 = "/files/" + files[name2]["url"].split("/files/", 1)[1] + ".metadata"
        response, _ = yield harness.get(url2)
        self.assertEqual(response.code, 502)
        # Why, in the reason phrase, which is what pip shows of it.
        self.assertIn(b"does not match the index's", response.phrase)
        self.assertFalse(harness.store.exists(data2 and hashlib.sha256(data2).hexdigest() + ".metadata"))
        # Metadata the upstream advertises but no longer has is not there,
        # and the page is asked for again.
        index.faults[b"/packages/" + name2.encode() + b".metadata"] = "status:404"
        pages = index.count(b"/simple/alpha/")
        response, _ = yield harness.get(url2)
        self.assertEqual(response.code, 404)
        yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(index.count(b"/simple/alpha/"), pages + 1)
        # Asked to be left alone: so is the client, for as long.
        index.faults[b"/packages/" + name2.encode() + b".metadata"] = "status:429:9"
        response, _ = yield harness.get(url2)
        self.assertEqual(response.code, 503)
        self.assertEqual(response.headers.getRawHeaders(b"retry-after"), [b"9"])

    @inlineCallbacks
    def test_answeredBeforeKept(self):  # type: ignore[no-untyped-def]
        """
        Fetched and verified metadata is answered at once, not after its
        write and syncs (each cold answer on a cold install's chain waited
        for them); until it is kept it is served from memory, with no
        second upstream request, then from the store.
        """
        from .test_filefetch import HeldCalls

        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0")
        dist = Dist(name, data, metadata=b"Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n\n")
        index.add("alpha", dist)
        harness = Harness(self, [serveIndex(self, index)])
        held = HeldCalls()
        harness.metadata.blocking = held
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        [entry] = json.loads(body)["files"]
        url = "/files/" + entry["url"].split("/files/", 1)[1] + ".metadata"
        key = hashlib.sha256(data).hexdigest() + ".metadata"
        for _ in range(2):
            response, got = yield harness.get(url)
            self.assertEqual((response.code, got), (200, dist.metadata))
            self.assertEqual(header(response, "x-cheesecache-cache"), "miss")
        self.assertEqual(index.count(b"/packages/" + name.encode() + b".metadata"), 1)
        self.assertFalse(harness.store.exists(key))
        settled = harness.metadata.settled()
        self.assertNoResult(settled)
        self.assertEqual([call[1] for call in held.calls], [harness.store.putBytes])
        held.runAll()
        self.successResultOf(settled)
        self.assertEqual(harness.store.path(key).getContent(), dist.metadata)
        response, got = yield harness.get(url)
        self.assertEqual((response.code, got), (200, dist.metadata))
        self.assertEqual(header(response, "x-cheesecache-cache"), "hit")
        self.assertEqual(index.count(b"/packages/" + name.encode() + b".metadata"), 1)

    @inlineCallbacks
    def test_listedMetadataOfCachedWheelOffline(self):  # type: ignore[no-untyped-def]
        """
        Offline, metadata the upstream lists for a cached wheel but that is
        not cached itself (never asked for, or evicted before its wheel) is
        read from the wheel and served when it matches the listed hash,
        rather than a 404 that fails the install; one that does not match
        is still a 404.
        """
        from .wheels import metadataText

        index = FakeIndex()
        dists = []
        for version, listed in (("1.0", None), ("2.0", b"Name: other\n")):
            name, data = makeWheel("alpha", version)
            dists.append(Dist(name, data, metadata=listed or metadataText("alpha", version)))
            index.add("alpha", dists[-1])
        url = serveIndex(self, index)
        online = Harness(self, [url])
        _, body = yield online.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        urls = {
            f["filename"]: "/files/" + f["url"].split("/files/", 1)[1]
            for f in json.loads(body)["files"]
        }
        for dist in dists:
            response, got = yield online.get(urls[dist.filename])
            self.assertEqual((response.code, got), (200, dist.data))
        yield online.settled()
        offline = Harness(self, [url], dataDir=online.dataDir, offline=True)
        response, got = yield offline.get(urls[dists[0].filename] + ".metadata")
        self.assertEqual((response.code, got), (200, dists[0].metadata))
        response, _ = yield offline.get(urls[dists[1].filename] + ".metadata")
        self.assertEqual(response.code, 404)
        self.assertFalse(offline.store.exists(dists[1].sha256 + ".metadata"))
        self.assertEqual(index.count(b"/packages/" + dists[0].filename.encode() + b".metadata"), 0)

    @inlineCallbacks
    def test_servedWhenItCannotBeKept(self):  # type: ignore[no-untyped-def]
        """
        Verified metadata that cannot be kept (the disk is full) is served
        all the same, fetched or extracted, rather than a 500 that fails the
        install; nothing is kept, and the next request tries again.
        """
        import errno

        index = FakeIndex()
        listedName, listedData = makeWheel("alpha", "1.0")
        listed = Dist(listedName, listedData, metadata=b"Metadata-Version: 2.1\nName: alpha\n\n")
        index.add("alpha", listed)
        name, data = makeWheel("alpha", "2.0")
        index.add("alpha", Dist(name, data))
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        urls = {
            f["filename"]: "/files/" + f["url"].split("/files/", 1)[1]
            for f in json.loads(body)["files"]
        }
        yield harness.get(urls[name])
        yield harness.settled()
        store = harness.store
        putBytes = BlobStore.putBytes

        def full(self: BlobStore, key: str, data: bytes) -> FilePath:
            if key.endswith(".metadata"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return putBytes(self, key, data)

        patched = self.patch(BlobStore, "putBytes", full)
        response, got = yield harness.get(urls[listedName] + ".metadata")
        self.assertEqual((response.code, got), (200, listed.metadata))
        self.assertEqual(header(response, "content-type"), "application/octet-stream")
        # Sent whole, whatever range is asked for.
        self.assertEqual(header(response, "accept-ranges"), "none")
        response, got = yield harness.get(urls[name] + ".metadata")
        self.assertEqual(response.code, 200)
        self.assertIn(b"Name: alpha\nVersion: 2.0\n", got)
        response, got = yield harness.get(urls[name] + ".metadata", method="HEAD")
        self.assertEqual((response.code, got), (200, b""))
        self.assertFalse(store.exists(listed.sha256 + ".metadata"))
        self.assertFalse(store.exists(hashlib.sha256(data).hexdigest() + ".metadata"))
        self.assertIsNone(harness.metadata.known.digest(hashlib.sha256(data).hexdigest() + ".metadata"))
        patched.restore()
        response, got = yield harness.get(urls[listedName] + ".metadata")
        self.assertEqual((response.code, got), (200, listed.metadata))
        yield harness.settled()
        self.assertTrue(store.exists(listed.sha256 + ".metadata"))

    @inlineCallbacks
    def test_brokenConnectionRetried(self):  # type: ignore[no-untyped-def]
        """
        Metadata whose connection breaks before it is whole is asked for
        again; one that keeps breaking is a 502, and nothing is kept.
        """
        index = FakeIndex()
        dists = []
        for version in ("1.0", "2.0"):
            name, data = makeWheel("alpha", version)
            dists.append(Dist(name, data, metadata=b"Metadata-Version: 2.1\nName: alpha\n\n" * 50))
            index.add("alpha", dists[-1])
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        urls = {
            f["filename"]: "/files/" + f["url"].split("/files/", 1)[1] + ".metadata"
            for f in json.loads(body)["files"]
        }
        once, always = (b"/packages/" + d.filename.encode() + b".metadata" for d in dists)
        index.faults[once] = "truncate-once"
        index.faults[always] = "truncate"
        response, body = yield harness.get(urls[dists[0].filename])
        self.assertEqual((response.code, body), (200, dists[0].metadata))
        self.assertEqual(index.count(once), 2)
        response, body = yield harness.get(urls[dists[1].filename])
        self.assertEqual(response.code, 502)
        self.assertEqual(index.count(always), 3)
        self.assertFalse(harness.store.exists(hashlib.sha256(dists[1].data).hexdigest() + ".metadata"))

    @inlineCallbacks
    def test_extractedFromWheel(self):  # type: ignore[no-untyped-def]
        """
        For a wheel the upstream has no metadata for: once the wheel is
        cached, METADATA is extracted, served, and advertised on the page
        with its hash.
        """
        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0", requires=["beta>=2"])
        index.add("alpha", Dist(name, data))
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        entry = json.loads(body)["files"][0]
        self.assertNotIn("core-metadata", entry)
        fileURL = "/files/" + entry["url"].split("/files/", 1)[1]
        yield harness.get(fileURL)
        response, metadata = yield harness.get(fileURL + ".metadata")
        self.assertEqual(response.code, 200)
        self.assertIn(b"Requires-Dist: beta>=2", metadata)
        # The page is rendered again in the background a while later (the
        # wheel's metadata is extracted EXTRACT_DELAY seconds after it is
        # stored, the page rendered 10 seconds after that); until then it
        # is served as it was.
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertNotIn("core-metadata", json.loads(body)["files"][0])
        harness.clock.advance(EXTRACT_DELAY)
        for _ in range(200):
            harness.clock.advance(10)
            _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
            entry = json.loads(body)["files"][0]
            if "core-metadata" in entry:
                break
            yield sleep(0.01)
        self.assertEqual(
            entry["core-metadata"], {"sha256": hashlib.sha256(metadata).hexdigest()}
        )
        _, html = yield harness.get("/simple/alpha/")
        self.assertIn(
            f'data-core-metadata="sha256={hashlib.sha256(metadata).hexdigest()}"'.encode(),
            html,
        )

    @inlineCallbacks
    def test_extractedThenEvictedWithItsWheel(self):  # type: ignore[no-untyped-def]
        """
        Metadata extracted from a wheel, and listed on its page, is still
        served once eviction (here C{cheesecache gc}, beside the server) has
        removed both the wheel and the metadata: the wheel is fetched again
        and the metadata extracted anew, rather than the listed file being
        a 404 that fails pip's install.
        """
        from cheesecache.eviction import runOnce

        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0", requires=["beta>=2"])
        index.add("alpha", Dist(name, data))
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        fileURL = "/files/" + json.loads(body)["files"][0]["url"].split("/files/", 1)[1]
        yield harness.get(fileURL)
        yield harness.settled()
        key = hashlib.sha256(data).hexdigest()
        harness.clock.advance(EXTRACT_DELAY)
        for _ in range(200):
            harness.clock.advance(10)
            _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
            listed = json.loads(body)["files"][0].get("core-metadata")
            if listed is not None:
                break
            yield sleep(0.01)
        metadata = harness.store.path(key + ".metadata").getContent()
        self.assertEqual(listed, {"sha256": hashlib.sha256(metadata).hexdigest()})
        result = runOnce(harness.dataDir, 0, now=time.time() + 3600)
        self.assertEqual({e.key for e in result.removed}, {key, key + ".metadata"})
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(json.loads(body)["files"][0].get("core-metadata"), listed)
        response, got = yield harness.get(fileURL + ".metadata")
        self.assertEqual((response.code, got), (200, metadata))
        self.assertTrue(harness.store.exists(key))


    @inlineCallbacks
    def test_extractedOnBigPageLetGo(self):  # type: ignore[no-untyped-def]
        """
        A big page let go from memory lists the extracted metadata once it
        is rendered again, from the stored page, in steps: the page is not
        read back whole, and stays let go; its other representations are
        made again when next asked for.
        """
        from cheesecache.pagestore import PageStore

        index = FakeIndex()
        name, data = makeWheel("big", "2.0")
        index.add("big", *(Dist(f"big-1.{i}.tar.gz", b"%d" % i) for i in range(3000)), Dist(name, data))
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        yield harness.get("/simple/big/")
        source = harness.sources[0]
        entry = source.cachedEntry("big")
        self.assertFalse(entry.loaded)
        self.assertEqual(len(entry.rendered), 2)
        wheel = json.loads(body)["files"][-1]
        self.assertNotIn("core-metadata", wheel)
        yield harness.get("/files/" + wheel["url"].split("/files/", 1)[1])
        self.patch(PageStore, "load", lambda *a: self.fail("the page was read back whole"))
        renderedJSON = entry.rendered[JSON_ACCEPT]

        def advertised() -> bool:
            rep = entry.rendered.get(JSON_ACCEPT)
            if rep is None:
                return False
            with rep.open(False) as f:
                return b"core-metadata" in f.read()

        harness.clock.advance(EXTRACT_DELAY)
        for _ in range(200):
            harness.clock.advance(10)
            if advertised():
                break
            yield sleep(0.01)
        self.assertEqual(list(entry.rendered), [JSON_ACCEPT])
        self.assertFalse(entry.loaded)
        _, body = yield harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        listed = json.loads(body)["files"]
        self.assertEqual(len(listed), 3001)
        metadata = harness.store.path(wheel["hashes"]["sha256"] + ".metadata").getContent()
        self.assertEqual(listed[-1]["core-metadata"], {"sha256": hashlib.sha256(metadata).hexdigest()})
        self.assertNotIn("core-metadata", listed[0])
        self.assertFalse(renderedJSON.path is not None and FilePath(renderedJSON.path).exists())


class ExtractionDelayTests(TestCase):
    """
    Metadata is extracted from a new wheel L{EXTRACT_DELAY} seconds after it
    is stored, not while its client is still busy.
    """

    @inlineCallbacks
    def test_extractedLater(self):  # type: ignore[no-untyped-def]
        """
        Nothing is extracted before the delay; once it has passed, the
        wheel's metadata is in the store.
        """
        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0", requires=["beta>=2"])
        index.add("alpha", Dist(name, data))
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        url = json.loads(body)["files"][0]["url"]
        response, got = yield harness.get("/files/" + url.split("/files/", 1)[1])
        self.assertEqual(got, data)
        yield harness.settled()
        key = hashlib.sha256(data).hexdigest() + ".metadata"
        harness.clock.advance(EXTRACT_DELAY - 0.1)
        yield sleep(0.05)  # long enough for a thread to have extracted it
        self.assertFalse(harness.store.exists(key))
        harness.clock.advance(0.1)
        for _ in range(200):
            if harness.store.exists(key):
                break
            yield sleep(0.01)
        self.assertTrue(harness.store.exists(key))

    @inlineCallbacks
    def test_extractedOncePerDownload(self):  # type: ignore[no-untyped-def]
        """
        However many clients followed the download of a new wheel, its
        metadata is extracted (the wheel read, the metadata written and
        synced, in the thread pool) once.
        """
        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0", padding=200_000)
        index.add("alpha", Dist(name, data))
        harness = Harness(self, [serveIndex(self, index)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        url = json.loads(body)["files"][0]["url"]
        index.hold()
        requests = [harness.get("/files/" + url.split("/files/", 1)[1]) for _ in range(5)]
        while index.count(b"/packages/" + name.encode()) == 0:
            yield sleep(0.01)
        yield sleep(0.05)
        index.release()
        for response, got in (yield gatherResults(requests)):
            self.assertEqual(got, data)
        yield harness.settled()
        extracted = []
        real = metadatamodule.wheelMetadata
        self.patch(
            metadatamodule, "wheelMetadata",
            lambda *args: extracted.append(args) or real(*args),
        )
        harness.clock.advance(EXTRACT_DELAY)
        key = hashlib.sha256(data).hexdigest() + ".metadata"
        for _ in range(200):
            if harness.store.exists(key):
                break
            yield sleep(0.01)
        yield sleep(0.1)
        self.assertTrue(harness.store.exists(key))
        self.assertEqual(len(extracted), 1)


class DisconnectTests(TestCase):
    """
    Clients that go away.
    """

    @inlineCallbacks
    def test_disconnectDoesNotCancelOthers(self):  # type: ignore[no-untyped-def]
        """
        A client that hangs up mid-download detaches; the download goes on
        and the other client gets the whole file, which is kept.
        """
        upstream, wheel, _ = fileIndex(padding=400_000)
        harness = Harness(self, [serveIndex(self, upstream)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        url = next(f["url"] for f in json.loads(body)["files"] if f["filename"] == wheel.filename)
        path = "/files/" + url.split("/files/", 1)[1]
        upstream.faults[b"/packages/" + wheel.filename.encode()] = "slow"
        from twisted.web.client import Agent

        agent = Agent(reactor)
        quitter = yield agent.request(b"GET", (harness.url + path).encode())
        stayer = harness.get(path)
        download = harness.fetcher.inProgress(wheel.sha256)
        while download.written == 0:
            yield sleep(0.01)
        quitter.deliverBody(_HangUp())
        response, data = yield stayer
        self.assertEqual(data, wheel.data)
        yield harness.settled()
        self.assertTrue(harness.store.exists(wheel.sha256))
        self.assertEqual(upstream.count(b"/packages/" + wheel.filename.encode()), 1)


class _HangUp(protocol.Protocol):
    def connectionMade(self) -> None:
        self.transport.stopProducing()


class UnverifiedTests(TestCase):
    """
    Files an index lists without a sha256.
    """

    @inlineCallbacks
    def test_unverifiedFile(self):  # type: ignore[no-untyped-def]
        """
        A file listed without a hash is served under a key derived from its
        URL, kept, and logged as unverified.
        """
        upstream = FakeIndex(format="html")
        name, data = makeWheel("alpha", "1.0")
        upstream.add("alpha", Dist(name, data))
        url = serveIndex(self, upstream)
        upstream._projectBody = lambda n: (  # type: ignore[method-assign]
            b"text/html",
            f'<a href="../../packages/{name}">{name}</a>'.encode(),
        )
        harness = Harness(self, [url])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        entry = json.loads(body)["files"][0]
        self.assertEqual(entry["hashes"], {})
        key = entry["url"].split("/")[-2]
        self.assertTrue(key.startswith("u"))
        events = logEvents(self)
        path = "/files/" + entry["url"].split("/files/", 1)[1]
        response, got = yield harness.get(path)
        self.assertEqual(got, data)
        yield harness.settled()
        self.assertTrue(harness.store.exists(key))
        self.assertTrue(
            any("unverified" in e.get("log_format", "") for e in events), events
        )
        response, got = yield harness.get(path)
        self.assertEqual(got, data)
        self.assertEqual(upstream.count(b"/packages/" + name.encode()), 1)

    @inlineCallbacks
    def test_unverifiedChangedBeforeResumed(self):  # type: ignore[no-untyped-def]
        """
        A file listed without a hash whose download breaks, and that has
        changed upstream when the rest is asked for (the answer is the
        whole new version, under another ETag), is neither completed to
        the client nor kept: half of one version and half of the other
        would be served as the file for good.
        """
        upstream = FakeIndex(format="html")
        name, old = makeWheel("alpha", "1.0", padding=200_000)
        new = bytes(b ^ 0xFF for b in old)
        upstream.add("alpha", Dist(name, old))
        url = serveIndex(self, upstream)
        upstream._projectBody = lambda n: (  # type: ignore[method-assign]
            b"text/html",
            f'<a href="../../packages/{name}">{name}</a>'.encode(),
        )
        answers = []

        def answer(request, filename, fault):  # type: ignore[no-untyped-def]
            answers.append(request.getHeader(b"range"))
            if len(answers) == 1:
                request.setHeader(b"ETag", b'"old"')
                return cutShort(request, old)
            # Another version now: the If-Range does not hold.
            request.setHeader(b"ETag", b'"new"')
            return new

        upstream._file = answer  # type: ignore[method-assign]
        harness = Harness(self, [url])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        entry = json.loads(body)["files"][0]
        key = entry["url"].split("/")[-2]
        path = "/files/" + entry["url"].split("/files/", 1)[1]
        outcome = yield harness.get(path).addErrback(lambda f: f.value)
        yield harness.settled()
        self.assertEqual(len(answers), 2)
        if isinstance(outcome, tuple):
            response, got = outcome
            self.assertNotEqual(response.code, 200, "a mix of two versions was served")
        self.assertFalse(harness.store.exists(key))
        self.assertEqual(harness.store.tmp.children(), [])
        self.flushLoggedErrors()

    @inlineCallbacks
    def test_urlTheAgentRefuses(self):  # type: ignore[no-untyped-def]
        """
        A file whose upstream URL the HTTP client refuses before sending
        anything (a host name beyond ASCII, as a page may list it) fails
        its download cleanly: each request gets a 502 at once, none waits
        on a download that never started, and no temporary file is left
        open or behind.
        """
        upstream = FakeIndex()
        name, data = makeWheel("alpha", "1.0")
        upstream.add("alpha", Dist(name, data))
        url = serveIndex(self, upstream)
        page = upstream._projectBody
        upstream._projectBody = lambda n: (  # type: ignore[method-assign]
            page(n)[0], page(n)[1].replace(b"../../packages/", "http://b\u00fc.invalid/".encode()),
        )
        harness = Harness(self, [url])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        [entry] = json.loads(body)["files"]
        path = "/files/" + entry["url"].split("/files/", 1)[1]
        codes = []
        for _ in range(2):
            outcome = yield harness.get(path).addTimeout(5, reactor).addErrback(
                lambda f: f.value
            )
            codes.append(outcome[0].code if isinstance(outcome, tuple) else outcome)
        self.assertEqual(codes, [502, 502])
        self.assertIsNone(harness.fetcher.inProgress(entry["hashes"]["sha256"]))
        tmp = harness.store.tmp
        self.assertEqual(tmp.children() if tmp.exists() else [], [])
        self.flushLoggedErrors()

    @inlineCallbacks
    def listedWith(self, hashName: str, fault: str = "", format: str = "json"):  # type: ignore[no-untyped-def]
        """
        A wheel, and its metadata, listed with C{hashName} alone, asked for
        through cheesecache with C{fault} injected upstream for both.

        @return: a L{Deferred} of the harness, the L{Dist}, the page's entry
            for it, the two answers (each a response and its body, or the
            failure), and the log events meanwhile.
        """
        upstream = FakeIndex(format=format)
        name, data = makeWheel("alpha", "1.0")
        dist = Dist(name, data, hashName=hashName, metadata=b"Metadata-Version: 2.1\nName: alpha\n\n")
        upstream.add("alpha", dist)
        if fault:
            upstream.faults[b"/packages/" + name.encode()] = fault
            upstream.faults[b"/packages/" + name.encode() + b".metadata"] = fault
        harness = Harness(self, [serveIndex(self, upstream)])
        _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        [entry] = json.loads(body)["files"]
        events = logEvents(self)
        path = "/files/" + entry["url"].split("/files/", 1)[1]
        answers = []
        for url in (path, path + ".metadata"):
            answer = yield harness.get(url).addErrback(lambda f: f.value)
            answers.append(answer)
        yield harness.settled()
        return harness, dist, entry, answers, events

    @inlineCallbacks
    def test_checkedWithAnotherHash(self):  # type: ignore[no-untyped-def]
        """
        A file and its metadata that the index lists with another hash than
        sha256 (here the md5 that some indexes still give alone, from an
        HTML page as from a JSON one) are checked against it: served, kept,
        and not logged as unverified.
        """
        for format in ("json", "html"):
            harness, dist, entry, answers, events = yield self.listedWith("md5", format=format)
            self.assertEqual(entry["hashes"], {"md5": hashlib.md5(dist.data).hexdigest()})
            [(response, body), (metadataResponse, metadata)] = answers
            self.assertEqual((response.code, body), (200, dist.data))
            self.assertEqual((metadataResponse.code, metadata), (200, dist.metadata))
            key = entry["url"].split("/")[-2]
            self.assertTrue(key.startswith("u"))
            self.assertTrue(harness.store.exists(key))
            self.assertTrue(harness.store.exists(key + ".metadata"))
            self.assertFalse(
                [e for e in events if "unverified" in e.get("log_format", "")], events
            )

    @inlineCallbacks
    def test_wrongBytesAgainstAnotherHash(self):  # type: ignore[no-untyped-def]
        """
        Bytes that do not match the other hash the index gives (the same
        length) are never completed to a client nor kept, for the file as
        for its metadata.
        """
        for hashName in ("sha512", "sha1", "md5"):
            harness, dist, entry, answers, events = yield self.listedWith(hashName, "wrong")
            for answer in answers:
                if isinstance(answer, tuple):
                    self.assertNotEqual(answer[0].code, 200, hashName)
            blobs = harness.store.blobs
            self.assertFalse(blobs.exists() and [p for p in blobs.walk() if p.isfile()], hashName)
            self.assertTrue(
                [e for e in events if str(e.get("reason", "")).startswith(f"{hashName} ")],
                events,
            )

    @inlineCallbacks
    def test_replacedUnderTheSameURL(self):  # type: ignore[no-untyped-def]
        """
        A file listed with another hash than sha256 (an md5), replaced
        upstream under the same URL and then listed with its new md5, is
        served as the new bytes (which its page's md5 checks), not as the
        old ones kept before, which no client would accept.
        """
        for format in ("json", "html"):
            upstream = FakeIndex(format=format)
            name, old = makeWheel("alpha", "1.0")
            dist = Dist(name, old, hashName="md5")
            upstream.add("alpha", dist)
            harness = Harness(self, [serveIndex(self, upstream)], ttl=60)
            served = []
            for _ in range(2):
                _, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
                [entry] = json.loads(body)["files"]
                path = "/files/" + entry["url"].split("/files/", 1)[1]
                response, got = yield harness.get(path)
                yield harness.settled()
                served.append((entry["hashes"]["md5"], hashlib.md5(got).hexdigest()))
                # Rebuilt upstream, the same wheel has other bytes.
                dist.data = old + b"\0"
                harness.clock.advance(120)
            self.assertEqual(served[1][0], hashlib.md5(dist.data).hexdigest(), format)
            self.assertEqual(served[1][1], served[1][0], format)


class _FollowedRequest:
    """
    The request a L{files.Follower} answers, over one end of a socket pair
    (its transport), as far as the follower uses it.
    """

    def __init__(self, sock: socket.socket) -> None:
        from twisted.internet.testing import MemoryReactorClock

        self.sock = sock
        self.reactor = MemoryReactorClock()
        self.channel = self
        self.transport = self
        self.aborted = 0
        self.finished = False
        self.producer = None
        self.sentLength = 0
        self.responseHeaders = Headers()

    def fileno(self) -> int:
        return self.sock.fileno()

    def abortConnection(self) -> None:
        self.aborted += 1

    loseConnection = abortConnection

    def unregisterProducer(self) -> None:
        self.producer = None

    def finish(self) -> None:
        self.finished = True


class FollowerSendfileTests(SynchronousTestCase):
    """
    A L{files.Follower} sending its download with C{sendfile}.
    """

    def test_clientGoneWhileSending(self) -> None:
        """
        A client that goes away while the download is sent to it with
        C{sendfile} (C{sendfile} fails, and the reactor tells the sender
        its connection is lost) has its answer aborted and its file
        closed, rather than the sender failing on the follower.
        """
        from cheesecache.filefetch import Download, State
        from cheesecache.simple.model import DistFile
        from cheesecache.web.sendfile import SocketSender
        from twisted.python.failure import Failure

        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        ours.setblocking(False)
        path = FilePath(self.mktemp())
        data = b"x" * (2 * 1024 * 1024)
        path.setContent(data)
        download = Download(
            DistFile("a-1.tar.gz", "http://127.0.0.1/a-1.tar.gz"), path,
            total=len(data), written=len(data), state=State.STREAMING, verified=True,
        )
        request = _FollowedRequest(ours)
        follower = files.Follower(download, request)  # type: ignore[arg-type]
        follower._file = path.open("rb")
        follower.transport = request
        sender = follower._sender = SocketSender(follower, 10)
        sender.start()
        self.assertEqual(request.reactor.getWriters(), [sender])
        theirs.close()
        error = sender.doWrite()
        self.assertIsNotNone(error)
        # What the reactor does with a writer whose doWrite failed.
        request.reactor.removeWriter(sender)
        sender.connectionLost(Failure(error))
        self.assertEqual(request.aborted, 1)
        self.assertTrue(follower.fileObject.closed)
