# -*- test-case-name: tests.test_filefetch -*-
"""
Fetching a file from its upstream once, however many clients want it.

A L{Download} writes the upstream body to a temporary file while hashing it;
every client that asks for the file meanwhile follows that temporary file
(see L{cheesecache.web.files}) and so starts receiving bytes at once.  The
file becomes a blob only when its size and hash match the index; on any
mismatch or upstream failure the temporary file is removed and followers are
told to abort their connections.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from typing import BinaryIO, Callable, Dict, List, Optional, Sequence

import attrs
from twisted.internet.defer import Deferred, DeferredList, gatherResults, maybeDeferred, succeed
from twisted.python.failure import Failure
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.filepath import FilePath
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse

from .blobstore import BlobStore
from .simple.model import DistFile
from .upstream import (
    IDLE_TIMEOUT,
    Upstream,
    UpstreamError,
    UpstreamGone,
    abandon,
    connectionBroke,
    contentRange,
    describeError,
    header,
    readBody,
    retryAfterOf,
    statusError,
)

log = Logger()


class State(enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    DONE = "done"
    FAILED = "failed"


@attrs.define(eq=False)
class Download:
    """
    One upstream download in progress, and what its followers need to know.

    @ivar total: the size the file must have, once known (from the index, or
        else from the upstream's Content-Length); C{None} when unknown.
    @ivar written: bytes written to the temporary file so far.
    @ivar verified: every byte is here and the hash checks out, so followers
        may send the last one; the file may still be on its way to disk.
    @ivar path: the temporary file while streaming, the blob once done.
    """

    file: DistFile
    path: FilePath
    total: Optional[int] = None
    written: int = 0
    state: State = State.CONNECTING
    error: Optional[str] = None
    #: The upstream answered that the file is not there (see
    #: L{UpstreamGone}).
    gone: bool = False
    #: Seconds the upstream asked to be left alone for, if it failed so.
    retryAfter: Optional[float] = None
    verified: bool = False
    _listeners: List[Callable[[], None]] = attrs.field(factory=list)
    #: Stops the transfer (set while one runs).
    _stop: Optional[Callable[[Exception], None]] = None

    def cancel(self, reason: str) -> None:
        """
        Give up on this download (shutting down): followers are aborted and
        the temporary file is removed, as for any failure.
        """
        if self._stop is not None and self.state in (State.CONNECTING, State.STREAMING):
            self._stop(UpstreamError(reason))

    def subscribe(self, listener: Callable[[], None]) -> None:
        """
        Call C{listener} whenever bytes arrive or the state changes.
        """
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    @property
    def readable(self) -> int:
        """
        How many bytes followers may send now.  Until the file is verified,
        the last byte is held back, so that no client ever sees a complete
        response with unverified bytes.
        """
        if self.verified:
            return self.written
        if self.total is not None:
            return min(self.written, self.total - 1)
        return self.written

    def whenDone(self) -> "Deferred[Download]":
        """
        A L{Deferred} of one's own that fires with this download once it is
        verified and kept, or fails if the download fails.
        """
        return self._when(lambda: self.state is State.DONE)

    def whenWhole(self) -> "Deferred[Download]":
        """
        A L{Deferred} of one's own that fires with this download once every
        byte is here and verified, or fails if the download fails.  The file
        may still be on its way to the store (syncs take a while): open it
        at L{path} at once; being renamed into the store later does not
        disturb a file already open.
        """
        return self._when(lambda: self.verified or self.state is State.DONE)

    def failure(self) -> UpstreamError:
        """
        Why this failed download failed, as those waiting for it are told:
        L{UpstreamGone} if the upstream said the file is not there, with
        the wait it asked for, if any.
        """
        error = UpstreamGone if self.gone else UpstreamError
        return error(self.error or "download failed", self.retryAfter)

    def _when(self, ready: Callable[[], bool]) -> "Deferred[Download]":
        d: Deferred[Download] = Deferred()

        def check() -> None:
            if d.called:
                return
            if ready():
                self.unsubscribe(check)
                d.callback(self)
            elif self.state is State.FAILED:
                self.unsubscribe(check)
                d.errback(self.failure())

        self.subscribe(check)
        check()
        return d


#: Bytes hashed per trip to the thread pool.
HASH_BATCH = 1024 * 1024

#: Bytes waiting to be hashed beyond which the upstream is paused.
MAX_PENDING = 16 * HASH_BATCH

#: Bytes a trip to the thread pool takes on with, past its batch, before
#: it reports back (see L{BackgroundHash}).
DRAIN_LIMIT = 4 * HASH_BATCH


class BackgroundHash:
    """
    The digest of a stream (sha256, or C{algorithm}), worked out a batch at
    a time by C{blocking} (the thread pool), so that the reactor thread
    only receives while the bytes are written (to C{out}, when given) and
    hashed beside it: writing and hashing were most of streaming a big
    file cold.  Batches run one after the other, in order; one is sent as
    soon as none is running, and bigger ones form while the disk or the
    hash is slower than the upstream.

    The first batch, one read's worth, is written and hashed at once on the
    reactor: the clients waiting for the file's first byte waited 1 to 5 ms
    more for a pool thread to take it, and up to 10 ms under load.

    A batch written to C{out} goes on, in its thread, with what came
    meanwhile (up to L{DRAIN_LIMIT} more bytes) rather than coming back to
    the reactor for each: while a big page was parsed, every trip back
    waited for a slice of the parse, and a 3 MB wheel took 20-60 ms to be
    whole.

    @ivar onWritten: called (on the reactor) with the size of each batch
        once it is written.
    """

    def __init__(
        self,
        blocking: Callable[..., "Deferred[object]"],
        out: Optional[BinaryIO] = None,
        onWritten: Callable[[int], object] = lambda size: None,
        algorithm: str = "sha256",
    ) -> None:
        self._hash = hashlib.new(algorithm)
        self._blocking = blocking
        self._out = out
        self._onWritten = onWritten
        self._batch: List[bytes] = []
        self._size = 0
        self._running = 0
        self._done: "Deferred[object]" = succeed(None)
        #: Bytes given and not hashed yet (memory held for the hash).
        self.pending = 0
        self._drained: "Optional[Deferred[None]]" = None
        self._abandoned = False
        self._first = True
        #: Why a batch failed, if one did: every later one fails with it.
        self._failure: Optional[Failure] = None
        #: Guards C{_batch} and C{_size}, which a batch running in a thread
        #: takes on from (see L{_takeMore}), and C{_tookOn}.
        self._lock = threading.Lock()
        #: Bytes the running batch took on: if it fails, they too are never
        #: hashed, and no longer count as waiting (see L{_hashed}).
        self._tookOn = 0

    def update(self, data: bytes) -> "Optional[Deferred[None]]":
        """
        Hash C{data} after what came before.

        @return: C{None}, or, when too much is waiting to be hashed, a
            L{Deferred} that fires once the backlog is down again: the
            caller should stop reading until then.
        @raise Exception: why a batch failed (the disk is full), if one
            did: the rest would only be read to be dropped, while the
            clients following the download wait for it.
        """
        if self._abandoned:
            return None
        if self._failure is not None:
            raise self._failure.value
        with self._lock:
            self._batch.append(data)
            self._size += len(data)
        self.pending += len(data)
        if self._out is None:
            if self._size >= HASH_BATCH:
                self._send()
        elif not self._running:
            # While a batch runs, it takes on what comes (see _takeMore):
            # another sent now could be written after what came later.
            self._send()
        if self.pending > MAX_PENDING:
            if self._drained is None:
                self._drained = Deferred()
            return self._drained
        return None

    def hexdigest(self) -> "Deferred[str]":
        """
        The digest of everything given, once every batch is hashed.
        """
        self._send()
        return self._done.addCallback(lambda _: self._hash.hexdigest())

    def abandon(self) -> "Deferred[None]":
        """
        Give up on the stream (its download failed): bytes not sent yet are
        dropped, none given later is written, and C{out} is closed once the
        batch running now, if any, is done, so no batch ever writes to a
        closed file.  Fires (never fails) once C{out} is closed.
        """
        with self._lock:
            self._abandoned = True
            self._batch, self._size = [], 0
        if self._drained is not None:
            drained, self._drained = self._drained, None
            drained.callback(None)
        closed: Deferred[None] = Deferred()

        def close(result: object) -> None:
            if self._out is not None:
                try:
                    self._out.close()
                except OSError:
                    # A failed batch left bytes it could not flush (the disk
                    # is full): close flushes them again, fails again, and
                    # closes the file all the same.  They are dropped.
                    pass
            closed.callback(None)
            # A failed batch was the download's failure, reported there.

        self._done.addBoth(close)
        return closed

    def _send(self) -> None:
        with self._lock:
            if not self._batch or self._abandoned:
                return
            batch, size = self._batch, self._size
            self._batch, self._size = [], 0
        self._running += 1
        if self._first and self._out is not None:
            self._first = False
            self._done.addCallback(lambda _: maybeDeferred(self._hashAll, batch, False))
        else:
            self._done.addCallback(lambda _: self._blocking(self._hashAll, batch))
        self._done.addBoth(self._hashed, size)

    def _hashed(self, result: object, size: int) -> object:
        """
        A batch of C{size} bytes is done: C{result} is how many bytes it
        took in all (see L{_hashAll}), or why it failed.
        """
        self._running -= 1
        with self._lock:
            took, self._tookOn = self._tookOn, 0
        if isinstance(result, Failure):
            if self._failure is None:
                self._failure = result
            # What it took on is dropped too: counted still, it would hold
            # reading back for ever once past MAX_PENDING.
            self.pending -= size + took
        else:
            size = result  # type: ignore[assignment]
            self.pending -= size
            self._onWritten(size)
            result = None
        if self._drained is not None and (
            self.pending <= MAX_PENDING // 2 or isinstance(result, Failure)
        ):
            drained, self._drained = self._drained, None
            drained.callback(None)
        if self._batch and self._out is not None and not self._running:
            self._send()
        return result

    def _hashAll(self, batch: List[bytes], goOn: bool = True) -> int:
        """
        Write and hash C{batch}, then, if C{goOn} and there is a file to
        write to, what came meanwhile (see L{_takeMore}); how many bytes
        that was.  Runs in a thread, but for the first batch.
        """
        size = 0
        while batch:
            if self._out is not None:
                # Piece by piece: joined, a batch made a string of up to
                # DRAIN_LIMIT, which the allocator kept (13 MB more held
                # after a cold 83 MB wheel).
                for data in batch:
                    self._out.write(data)
                self._out.flush()
            for data in batch:
                self._hash.update(data)
                size += len(data)
            batch = self._takeMore(size) if goOn and self._out is not None else []
        return size

    def _takeMore(self, taken: int) -> List[bytes]:
        """
        What came while a batch that took C{taken} bytes ran, for it to go
        on with, up to about L{DRAIN_LIMIT} in all (a piece more at most),
        so that the reactor hears of the bytes written (the clients
        following the download are sent them) at least that often.
        """
        if taken >= DRAIN_LIMIT:
            return []
        room = DRAIN_LIMIT - taken
        with self._lock:
            if self._abandoned:
                return []
            count = size = 0
            for data in self._batch:
                if size >= room:
                    break
                count += 1
                size += len(data)
            batch = self._batch[:count]
            del self._batch[:count]
            self._size -= size
            self._tookOn += size
        return batch


def resumedSize(response: IResponse, offset: int, total: Optional[int]) -> Optional[int]:
    """
    The file's size, as known before (C{total}) or as C{response}, a 206
    answer to a request for the bytes from C{offset} on, gives it.

    @raise UpstreamError: the answer does not start at C{offset}, or gives
        another size (its body is dropped).
    """
    given = header(response, b"content-range")
    found = contentRange(given)
    if found is None or found[0] != offset or None not in (found[2], total) and found[2] != total:
        abandon(response)
        raise UpstreamError(f"asked for the bytes from {offset} on, got the range {given!r}")
    return total if total is not None else found[2]


@attrs.define
class FileFetcher:
    """
    Starts downloads and keeps at most one per file key.
    """

    store: BlobStore
    clock: IReactorTime
    idleTimeout: float = IDLE_TIMEOUT
    #: Seconds to wait before each time a download whose connection broke
    #: (or stalled) is resumed (asked for the rest, with a C{Range}); after
    #: the last, it fails.
    resumeDelays: Sequence[float] = (0.25, 1.0, 4.0)
    _downloads: Dict[str, Download] = attrs.field(factory=dict)
    #: How many downloads were started (one per file, however many clients).
    started: int = 0
    #: How many requests attached to a download already in progress.
    attached: int = 0
    #: Bytes received from upstreams, and downloads that failed.
    bytesFetched: int = 0
    failed: int = 0
    #: Called with the size of each file kept (the evictor's cue).
    onStored: Optional[Callable[[int], None]] = None
    #: Runs a blocking call (the fsyncs of a new blob) off the reactor
    #: thread, returning a L{Deferred}; C{None} runs it in place.
    blocking: Optional[Callable[..., "Deferred[object]"]] = None

    def _blocking(self, f: Callable[..., object], *args: object) -> "Deferred[object]":
        if self.blocking is None:
            return maybeDeferred(f, *args)
        return self.blocking(f, *args)

    def inProgress(self, key: str) -> Optional[Download]:
        return self._downloads.get(key)

    def drain(self, timeout: float) -> "Deferred[None]":
        """
        Wait for the downloads in progress to finish (so their clients get
        whole files), for at most C{timeout} seconds; then cancel the rest,
        which leaves nothing behind.  Called on shutdown.
        """
        downloads = list(self._downloads.values())
        if not downloads:
            return succeed(None)
        log.info("Waiting up to {timeout}s for {n} downloads", timeout=timeout, n=len(downloads))
        waiting = DeferredList([d.whenDone() for d in downloads], consumeErrors=True)
        finished: Deferred[None] = Deferred()
        waiting.addBoth(lambda _: finished.called or finished.callback(None))

        def giveUp() -> None:
            for download in list(self._downloads.values()):
                download.cancel("cheesecache is shutting down")
            if not finished.called:
                finished.callback(None)

        timer = self.clock.callLater(timeout, giveUp)
        finished.addBoth(lambda result: timer.active() and timer.cancel() or result)
        return finished

    def settled(self) -> "Deferred[None]":
        """
        Fires once every download in progress now has ended, stored or not.
        """
        downloads = [d.whenDone() for d in self._downloads.values()]
        return DeferredList(downloads, consumeErrors=True).addCallback(lambda _: None)

    def fetch(self, f: DistFile, upstream: Upstream, via: Sequence[str] = ()) -> Download:
        """
        The download of C{f}: the one in progress, or a new one.
        """
        download = self._downloads.get(f.key)
        if download is not None:
            self.attached += 1
            return download
        temporary, out = self.store.newTemporary()
        download = Download(f, temporary, total=f.size)
        self._downloads[f.key] = download
        self.started += 1
        self._run(download, out, upstream, via)
        return download

    def _run(
        self, download: Download, out: BinaryIO, upstream: Upstream, via: Sequence[str]
    ) -> None:
        f = download.file
        received = 0

        def written(size: int) -> None:
            # The bytes are in the file now: followers may send them.
            if download.state is not State.FAILED:
                download.written += size
                download._notify()

        # Writing and hashing happen in a thread, a batch at a time.
        checked = f.checkedHash
        hasher = BackgroundHash(
            self._blocking, out, written, checked[0] if checked else "sha256"
        )

        def fail(reason: str, gone: bool = False, retryAfter: Optional[float] = None) -> None:
            if download.state in (State.DONE, State.FAILED):
                return
            log.error(
                "Download of {filename} from {url} failed: {reason}",
                filename=f.filename, url=f.url, reason=reason,
            )
            # Closed once no batch is being written to it.
            hasher.abandon()
            if download.path.exists():
                download.path.remove()
            download.state = State.FAILED
            download.error = reason
            download.gone = gone
            download.retryAfter = retryAfter
            self.failed += 1
            del self._downloads[f.key]
            download._notify()

        #: Bytes of the answer to drop before the rest is kept: an upstream
        #: that answers a resumption with the whole file again.
        skip = 0
        #: The validator a resumption is conditional on (C{If-Range}).
        validator: Optional[str] = None
        resumeDelays = list(self.resumeDelays)

        def chunk(data: bytes) -> "Optional[Deferred[None]]":
            nonlocal received, skip
            if skip:
                dropped, data = data[:skip], data[skip:]
                skip -= len(dropped)
                if not data:
                    return None
            if download.total is not None and received + len(data) > download.total:
                raise UpstreamError(
                    f"more than the {download.total} bytes the index promised"
                )
            received += len(data)
            self.bytesFetched += len(data)
            return hasher.update(data)

        def finished(_: object) -> None:
            if download.state is State.FAILED:
                return
            if download.total is not None and received != download.total:
                fail(f"got {received} bytes, expected {download.total}")
                return
            download._stop = None
            hasher.hexdigest().addCallbacks(
                verify, lambda failure: fail(f"could not hash the file: {failure.value}")
            )

        def verify(digest: str) -> None:
            if download.state is State.FAILED:
                return
            if checked is None:
                log.warn(
                    "Keeping {filename} unverified: its index gave no hash"
                    " (its sha256 is {digest})",
                    filename=f.filename, digest=digest,
                )
            elif digest != checked[1]:
                algorithm, expected = checked
                fail(f"{algorithm} {digest} does not match the index's {expected}")
                return
            # Every byte is checked: the clients may have the last one now,
            # without waiting for the disk.
            download.verified = True
            download._notify()
            # The blob's folder is made in the pool too, beside the sync,
            # so that only the rename is left for the reactor.
            synced = gatherResults(
                [
                    self._blocking(self.store.sync, out),
                    self._blocking(self.store.makeFolder, f.key),
                ],
                consumeErrors=True,
            ).addErrback(lambda failure: failure.value.subFailure)
            synced.addCallback(lambda _: placed(self.store.place(download.path, f.key)))
            synced.addCallbacks(stored, lambda failure: notStored(str(failure.value)))

        def placed(blob: FilePath) -> "Deferred[object]":
            download.path = blob
            return self._blocking(self.store.syncFolder, blob)

        def notStored(reason: str) -> None:
            if download.path != self.store.path(f.key):
                fail(f"could not store the file: {reason}")
            else:
                # Renamed, but the folder sync failed: the blob is whole.
                log.warn("Could not sync the folder of {path}: {reason}", path=download.path.path, reason=reason)
                stored(None)

        def stored(_: object) -> None:
            download.total = download.written
            download.state = State.DONE
            del self._downloads[f.key]
            if self.onStored is not None:
                self.onStored(download.written)
            log.info(
                "Cached {filename} ({size} bytes)",
                filename=f.filename, size=download.written,
            )
            download._notify()

        def gotResponse(response: IResponse, offset: int) -> "Optional[Deferred[None]]":
            nonlocal skip, validator
            # What an earlier answer left to drop is not this one's to drop.
            skip = 0
            # With no hash to catch it, the rest of another version of the
            # file (it changed since the first answer, which If-Range asked
            # about, or the upstream ignored) would be kept as the file.
            if (
                offset
                and checked is None
                and response.code in (200, 206)
                and (header(response, b"etag") or header(response, b"last-modified"))
                != validator
            ):
                abandon(response)
                raise UpstreamError("the file changed upstream while it was fetched")
            if offset and response.code == 206:
                download.total = resumedSize(response, offset, download.total)
            elif response.code != 200:
                abandon(response)
                raise statusError(
                    response.code, f"HTTP {response.code}",
                    retryAfterOf(response, self.clock.seconds()),
                )
            else:
                if offset:
                    # The whole file again: what came before is dropped.
                    skip = offset
                else:
                    validator = header(response, b"etag") or header(response, b"last-modified")
                if response.length is not UNKNOWN_LENGTH:
                    if download.total is None:
                        download.total = response.length
                    elif response.length != download.total:
                        abandon(response)
                        raise UpstreamError(
                            f"upstream announces {response.length} bytes,"
                            f" the index {download.total}"
                        )
            download.state = State.STREAMING
            download._notify()
            done, abort = readBody(response, chunk, self.clock, self.idleTimeout)
            download._stop = abort
            return done

        def request(offset: int) -> None:
            headers = {}
            if offset:
                headers["Range"] = f"bytes={offset}-"
                if validator is not None and not validator.startswith("W/"):
                    headers["If-Range"] = validator
            # A request refused before it is sent (a URL the client will
            # not send) fails the download like any other, rather than
            # leaving it in progress for ever.
            d = maybeDeferred(upstream.get, f.url, headers, via=via)
            download._stop = lambda reason: d.cancel()
            d.addCallback(gotResponse, offset)
            d.addCallbacks(finished, broken)
            d.addErrback(lambda failure: fail(f"internal error: {failure.value}"))

        def broken(failure: Failure) -> None:
            """
            The answer failed: if its connection broke (or stalled: see
            L{IDLE_TIMEOUT}), ask again for the rest (the clients following
            the download keep their bytes and wait for more); otherwise, or
            after the last try, give up.  If every byte had come (only the
            end of a chunked answer was lost), the file is whole: the rest,
            nothing, is not asked for (an upstream refuses it, a 416).
            """
            if (
                download.state is not State.FAILED
                and download.total is not None
                and received == download.total
                and connectionBroke(failure.value)
            ):
                finished(None)
                return
            if (
                resumeDelays
                and download.state is not State.FAILED
                and connectionBroke(failure.value)
            ):
                delay = resumeDelays.pop(0)
                log.warn(
                    "Download of {filename} broke after {received} bytes; asking"
                    " again in {delay} s for the rest: {reason}",
                    filename=f.filename, received=received, delay=delay,
                    reason=describeError(failure.value),
                )
                later = self.clock.callLater(delay, request, received)

                def stop(reason: Exception) -> None:
                    if later.active():
                        later.cancel()
                    fail(str(reason))

                download._stop = stop
                return
            fail(
                describeError(failure.value),
                failure.check(UpstreamGone) is not None,
                getattr(failure.value, "retryAfter", None),
            )

        request(0)
