"""
Tests for L{cheesecache.filefetch.BackgroundHash}: a download's sha256
worked out in batches off the reactor thread.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any, List, Tuple

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from cheesecache import filefetch
from cheesecache.filefetch import HASH_BATCH, BackgroundHash, resumedSize
from cheesecache.upstream import UpstreamError


class _Answer:
    """
    A 206 answer, as far as L{resumedSize} reads it: its C{Content-Range}.
    """

    length = 0

    def __init__(self, contentRange: str) -> None:
        self.headers = Headers({b"Content-Range": [contentRange.encode()]})
        self.delivered: list = []

    def deliverBody(self, protocol: object) -> None:
        self.delivered.append(protocol)


class ResumedSizeTests(SynchronousTestCase):
    """
    L{resumedSize} checks that the answer for the rest of a broken download
    is that rest.
    """

    def test_rest(self) -> None:
        self.assertEqual(resumedSize(_Answer("bytes 100-199/200"), 100, 200), 200)
        self.assertEqual(resumedSize(_Answer("bytes 100-199/200"), 100, None), 200)
        self.assertEqual(resumedSize(_Answer("bytes 100-199/*"), 100, 200), 200)
        self.assertIsNone(resumedSize(_Answer("bytes 100-199/*"), 100, None))

    def test_notTheRest(self) -> None:
        """
        A range from elsewhere, or of another size, is refused, and its
        body dropped.
        """
        for given in ["bytes 0-199/200", "bytes 100-299/300", "bytes */200"]:
            answer = _Answer(given)
            e = self.assertRaises(UpstreamError, resumedSize, answer, 100, 200)
            self.assertIn(repr(given), str(e))
            self.assertEqual(len(answer.delivered), 1)


class HeldCalls:
    """
    A stand-in for the thread pool: calls wait until the test runs them.
    """

    def __init__(self) -> None:
        self.calls: List[Tuple[Deferred, Any, tuple]] = []

    def __call__(self, f: Any, *args: Any) -> Deferred:
        d: Deferred = Deferred()
        self.calls.append((d, f, args))
        return d

    def runOne(self) -> None:
        d, f, args = self.calls.pop(0)
        try:
            result = f(*args)
        except Exception:
            # As the pool does: the call's Deferred fails.
            d.errback()
        else:
            d.callback(result)

    def runAll(self) -> None:
        while self.calls:
            self.runOne()


class BackgroundHashTests(SynchronousTestCase):
    def test_batchesInOrder(self) -> None:
        """
        Pieces are hashed in batches of about L{HASH_BATCH} bytes, one batch
        at a time and in order; the digest comes once the last one is done
        and is that of all the bytes.
        """
        held = HeldCalls()
        hasher = BackgroundHash(held)
        pieces = [os.urandom(64 * 1024 + i) for i in range(40)]
        for piece in pieces:
            hasher.update(piece)
        digest = hasher.hexdigest()
        self.assertNoResult(digest)
        # Only the first batch has gone to the pool: the next waits for it.
        self.assertEqual(len(held.calls), 1)
        done = 0
        while held.calls:
            self.assertGreaterEqual(sum(map(len, held.calls[0][2][0])), min(HASH_BATCH, 1))
            held.runOne()
            done += 1
        self.assertGreater(done, 2)
        self.assertEqual(
            self.successResultOf(digest), hashlib.sha256(b"".join(pieces)).hexdigest()
        )

    def test_empty(self) -> None:
        hasher = BackgroundHash(lambda f, *a: fail(AssertionError("not called")))
        self.assertEqual(self.successResultOf(hasher.hexdigest()), hashlib.sha256().hexdigest())

    def test_failure(self) -> None:
        """
        A batch that cannot be hashed fails the digest.
        """
        hasher = BackgroundHash(lambda f, *a: fail(MemoryError()))
        hasher.update(b"x" * HASH_BATCH)
        self.failureResultOf(hasher.hexdigest(), MemoryError)


class BackgroundWriteTests(SynchronousTestCase):
    """
    L{BackgroundHash} given a file: the bytes are written there, in the
    thread, before they are hashed.
    """

    def setUp(self) -> None:
        self.held = HeldCalls()
        self.out = io.BytesIO()
        self.written: List[int] = []
        self.hasher = BackgroundHash(self.held, self.out, self.written.append)

    def test_firstAtOnceThenWhatCame(self) -> None:
        """
        The first piece is written and hashed at once, on the reactor: the
        first byte waits neither for a megabyte nor for a thread.  The next
        goes to the thread; what comes before that batch runs is taken on
        by it (no trip back to the reactor for each).  Each batch is told
        once written, in order, and the file and the digest hold every byte.
        """
        self.hasher.update(b"a" * 10)
        self.assertEqual(self.held.calls, [])
        self.assertEqual(self.written, [10])
        self.assertEqual(self.out.getvalue(), b"a" * 10)
        self.hasher.update(b"b" * 20)
        self.assertEqual(len(self.held.calls), 1)
        self.assertEqual(self.out.getvalue(), b"a" * 10)  # b: in the thread
        self.hasher.update(b"c" * 30)
        self.hasher.update(b"d" * 40)
        self.assertEqual(len(self.held.calls), 1)
        self.held.runOne()
        self.assertEqual(self.written, [10, 90])
        self.assertEqual(self.held.calls, [])
        self.hasher.update(b"e" * 50)
        self.assertEqual(len(self.held.calls), 1)
        digest = self.hasher.hexdigest()
        self.held.runAll()
        self.assertEqual(self.written, [10, 90, 50])
        whole = b"a" * 10 + b"b" * 20 + b"c" * 30 + b"d" * 40 + b"e" * 50
        self.assertEqual(self.out.getvalue(), whole)
        self.assertEqual(self.successResultOf(digest), hashlib.sha256(whole).hexdigest())

    def test_goesOnUpToTheLimit(self) -> None:
        """
        A batch takes on what came only while it has written less than
        L{DRAIN_LIMIT}: then it reports, and what is left goes next.
        """
        self.patch(filefetch, "DRAIN_LIMIT", 15)
        self.hasher.update(b"a" * 10)
        self.hasher.update(b"b" * 20)
        self.hasher.update(b"c" * 30)
        self.held.runOne()
        self.assertEqual(self.written, [10, 20])
        self.hasher.update(b"d" * 5)
        self.held.runOne()
        self.assertEqual(self.written, [10, 20, 30])
        self.held.runAll()
        self.assertEqual(self.written, [10, 20, 30, 5])
        self.assertEqual(self.out.getvalue(), b"a" * 10 + b"b" * 20 + b"c" * 30 + b"d" * 5)

    def test_takesOnNoMoreThanTheLimit(self) -> None:
        """
        A batch takes on at most about L{DRAIN_LIMIT} bytes in all (the
        piece that crosses it, no more): the rest goes next.
        """
        self.patch(filefetch, "DRAIN_LIMIT", 50)
        self.hasher.update(b"a" * 10)
        self.hasher.update(b"b" * 20)
        for piece in (b"c" * 20, b"d" * 20, b"e" * 20, b"f" * 20):
            self.hasher.update(piece)
        self.held.runOne()
        self.assertEqual(self.written, [10, 60])
        self.held.runAll()
        self.assertEqual(self.written, [10, 60, 40])
        self.assertEqual(self.out.getvalue(), b"a" * 10 + b"b" * 20 + b"c" * 20 + b"d" * 20 + b"e" * 20 + b"f" * 20)

    def test_orderKept(self) -> None:
        """
        However much comes while a batch waits to run (megabytes, and a
        piece more), every byte is written and hashed in the order it came.
        """
        pieces = [os.urandom(HASH_BATCH // 2 + i) for i in range(12)]
        for piece in pieces[:9]:
            self.hasher.update(piece)
        self.held.runOne()
        for piece in pieces[9:]:
            self.hasher.update(piece)
        digest = self.hasher.hexdigest()
        self.held.runAll()
        self.assertEqual(self.out.getvalue(), b"".join(pieces))
        self.assertEqual(sum(self.written), len(b"".join(pieces)))
        self.assertEqual(
            self.successResultOf(digest), hashlib.sha256(b"".join(pieces)).hexdigest()
        )

    def test_abandonWaitsForTheRunningBatch(self) -> None:
        """
        L{BackgroundHash.abandon} closes the file once the batch running
        now is done, and sends no other: bytes queued behind it, or given
        later, are dropped rather than written to a closed file.
        """
        self.hasher.update(b"a" * 10)
        self.hasher.update(b"b" * 20)
        self.hasher.update(b"c" * 30)
        closed = self.hasher.abandon()
        self.assertNoResult(closed)
        self.assertFalse(self.out.closed)
        self.held.runOne()
        self.successResultOf(closed)
        self.assertTrue(self.out.closed)
        self.assertEqual(self.written, [10, 20])
        self.assertIsNone(self.hasher.update(b"d" * HASH_BATCH))
        self.assertEqual(self.held.calls, [])

    def test_abandonAfterFailedBatch(self) -> None:
        """
        A batch that failed does not keep the file open, nor make
        C{abandon} fail; a failed batch is not counted as written.
        """
        self.hasher.update(b"a" * 10)
        self.hasher.update(b"b" * 20)
        closed = self.hasher.abandon()
        self.held.calls.pop(0)[0].errback(OSError("disk on fire"))
        self.successResultOf(closed)
        self.assertTrue(self.out.closed)
        self.assertEqual(self.written, [10])

    def test_firstBatchFailing(self) -> None:
        """
        A first batch that cannot be written fails the digest, as any
        other batch does, and is not counted as written.
        """
        class Full(io.BytesIO):
            def write(self, data: bytes) -> int:
                raise OSError("no space left")

        hasher = BackgroundHash(self.held, Full(), self.written.append)
        hasher.update(b"a" * 10)
        self.assertEqual(self.written, [])
        self.failureResultOf(hasher.hexdigest(), OSError)

    def test_failedTakeOnReleasesItsBytes(self) -> None:
        """
        A batch that fails after taking on what came no longer counts those
        bytes as waiting: reading is not held back for ever by bytes that
        will never be hashed.
        """
        class FullAfterTwo(io.BytesIO):
            writes = 0

            def write(self, data: bytes) -> int:  # type: ignore[override]
                self.writes += 1
                if self.writes > 2:
                    raise OSError("no space left")
                return super().write(data)

        hasher = BackgroundHash(self.held, FullAfterTwo(), self.written.append)
        hasher.update(b"a")
        hasher.update(b"b")
        backlog = None
        while backlog is None:
            backlog = hasher.update(b"c" * (HASH_BATCH + 1))
        # b is written, the c's are taken on and fail.
        self.held.runOne()
        self.successResultOf(backlog)
        self.assertEqual(hasher.pending, 0)
        self.assertRaises(OSError, hasher.update, b"d")
        self.failureResultOf(hasher.hexdigest(), OSError)

    def test_abandonAfterFailedFlush(self) -> None:
        """
        A batch that could not be flushed (the disk is full) leaves bytes in
        the file's buffer: C{abandon} closes the file all the same and
        fires, rather than failing with the flush again.
        """
        class Full(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data: Any) -> int:
                raise OSError(28, "no space left")

        out = io.BufferedWriter(Full())
        hasher = BackgroundHash(self.held, out, self.written.append)  # type: ignore[arg-type]
        hasher.update(b"a" * 10)
        self.assertEqual(self.written, [])
        self.successResultOf(hasher.abandon())
        self.assertTrue(out.raw.closed)

    def test_abandonIdle(self) -> None:
        """
        With no batch running, C{abandon} closes the file at once.
        """
        self.successResultOf(self.hasher.abandon())
        self.assertTrue(self.out.closed)


class BacklogTests(SynchronousTestCase):
    def test_backlogPausesReading(self) -> None:
        """
        When more than L{MAX_PENDING} bytes wait to be hashed, C{update}
        returns a L{Deferred} that fires once the backlog is halved; and
        L{readBody} pauses the upstream until it fires.
        """
        from twisted.internet.task import Clock
        from twisted.web.iweb import UNKNOWN_LENGTH

        from cheesecache.filefetch import MAX_PENDING
        from cheesecache.upstream import readBody

        held = HeldCalls()
        hasher = BackgroundHash(held)

        class Transport:
            paused = 0
            resumed = 0

            def pauseProducing(self) -> None:
                self.paused += 1

            def resumeProducing(self) -> None:
                self.resumed += 1

            def stopProducing(self) -> None:
                pass

        transport = Transport()

        class Response:
            length = UNKNOWN_LENGTH

            def deliverBody(self, protocol: Any) -> None:
                self.protocol = protocol
                protocol.makeConnection(transport)

        response = Response()
        done, _ = readBody(response, hasher.update, Clock(), 60)  # type: ignore[arg-type]
        piece = b"x" * HASH_BATCH
        sent = 0
        while not transport.paused:
            response.protocol.dataReceived(piece)
            sent += len(piece)
        self.assertGreater(sent, MAX_PENDING)
        self.assertEqual(transport.resumed, 0)
        while transport.resumed == 0:
            held.runOne()
        self.assertLessEqual(hasher.pending, MAX_PENDING // 2)
        held.runAll()
        digest = hasher.hexdigest()
        held.runAll()
        self.assertEqual(self.successResultOf(digest), hashlib.sha256(piece * (sent // len(piece))).hexdigest())

    def test_failureReleasesBacklog(self) -> None:
        """
        A batch that fails releases a caller waiting on the backlog (the
        digest then fails).
        """
        from cheesecache.filefetch import MAX_PENDING

        held = HeldCalls()
        hasher = BackgroundHash(held)
        backlog = None
        while backlog is None:
            backlog = hasher.update(b"y" * HASH_BATCH)
        self.assertGreater(hasher.pending, MAX_PENDING)
        held.calls[0][0].errback(OSError("disk on fire"))
        self.successResultOf(backlog)
        self.failureResultOf(hasher.hexdigest(), OSError)


class _Streamed:
    """
    A 200 answer whose body the test hands over piece by piece; also the
    transport it comes over.
    """

    code = 200

    def __init__(self, length: int) -> None:
        self.length = length
        self.headers = Headers()
        self.protocol: Any = None
        self.stopped = False

    def deliverBody(self, protocol: Any) -> None:
        self.protocol = protocol
        protocol.makeConnection(self)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        from twisted.internet.error import ConnectionAborted
        from twisted.python.failure import Failure

        if not self.stopped:
            self.stopped = True
            self.protocol.connectionLost(Failure(ConnectionAborted()))


class _FillsUp:
    """
    A temporary file on a disk that fills up after its first write.
    """

    def __init__(self, out: Any) -> None:
        self._out = out
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes > 1:
            raise OSError(28, "No space left on device")
        return self._out.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


class FetchFailureTests(SynchronousTestCase):
    def test_failedWriteFailsAtOnce(self) -> None:
        """
        A download whose file cannot be written (the disk is full) fails
        at once: the rest of the body is not read, its temporary file is
        removed and its followers are told, rather than all of them waiting
        for every byte to come only to be dropped.
        """
        from twisted.internet.defer import succeed
        from twisted.internet.task import Clock
        from twisted.python.filepath import FilePath

        from cheesecache.blobstore import BlobStore
        from cheesecache.filefetch import FileFetcher, State
        from cheesecache.simple.model import DistFile

        store = BlobStore(FilePath(self.mktemp()))
        newTemporary = BlobStore.newTemporary

        def fillsUp(self: BlobStore) -> Any:
            path, out = newTemporary(self)
            return path, _FillsUp(out)

        self.patch(BlobStore, "newTemporary", fillsUp)
        piece = b"x" * 1000
        answer = _Streamed(100 * len(piece))

        class Upstream:
            def get(self, url: str, headers: dict, via: Any = ()) -> Any:
                return succeed(answer)

        f = DistFile(
            "alpha-1.0.tar.gz", "http://127.0.0.1/alpha-1.0.tar.gz",
            {"sha256": hashlib.sha256(piece * 100).hexdigest()}, size=100 * len(piece),
        )
        fetcher = FileFetcher(store, Clock())
        download = fetcher.fetch(f, Upstream())  # type: ignore[arg-type]
        failed = download.whenDone()
        for _ in range(3):
            if not answer.stopped:
                answer.protocol.dataReceived(piece)
        self.assertTrue(answer.stopped)
        self.assertIs(download.state, State.FAILED)
        self.assertIn("No space left", str(self.failureResultOf(failed, UpstreamError).value))
        self.assertFalse(download.path.exists())
        self.assertIsNone(fetcher.inProgress(f.key))
