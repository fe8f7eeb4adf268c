# -*- test-case-name: tests.test_files_resource -*-
"""
C{/files/<project>/<key>/<filename>} and its C{.metadata} twin.

A cached file is served from its blob (ranges, HEAD, conditional requests).
A file not cached yet is fetched from the upstream once; every client that
asks meanwhile follows the download as it is written (L{Follower}), starting
at byte 0, so no client waits for the whole file.  So does one that asks
for the rest of the file from some byte on (a downstream cheesecache
resuming a download that broke): its last bytes, too, go out only once the
whole file is verified.  Other ranges wait for the verified file.
"""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO, Callable, Optional

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.web.http import (
    NOT_MODIFIED,
    PARTIAL_CONTENT,
    REQUESTED_RANGE_NOT_SATISFIABLE,
    datetimeToString,
)
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.static import (
    MultipleRangeStaticProducer,
    NoRangeStaticProducer,
    SingleRangeStaticProducer,
)
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.task import deferLater

from ..blobstore import BlobStore, isValidKey
from ..config import PRIVATE
from ..filefetch import Download, FileFetcher, State
from ..index import ISource, Index, ProjectNotFound, SourcesUnavailable, Via
from ..metadata import Metadata, MetadataService, NoMetadata
from ..simple.model import DistFile
from ..simple.names import isSafeFilename, isValidName, normalize
from ..upstream import UpstreamError, UpstreamGone
from ..via import requestVia
from .asyncrender import renderLater
from .ranges import (
    FileValidators,
    bytePosition,
    contentRange,
    isNotModified,
    multipartRanges,
    noneMatch,
    selectRanges,
)
from .representation import notModified, writeError, writeLoopDetected, writeRetryLater
from .sendfile import SocketSender, sendFile, sendfileTransport

log = Logger()

IMMUTABLE = "{scope}, max-age=31536000, immutable"
CHUNK = 64 * 1024
#: Read size when serving a stored file.
READ_SIZE = 512 * 1024


def _fileHeaders(
    request: IRequest, etag: Optional[str], scope: str = "public", cached: bool = True
) -> None:
    """
    Headers of every file response.  C{X-Cheesecache-Cache} says whether
    the bytes came from the store (C{hit}) or from the upstream now
    (C{miss}); C{cheesecache warm} counts with it.
    """
    request.cheesecacheSource = "cache" if cached else "upstream"  # for metrics
    request.setHeader(b"X-Cheesecache-Cache", b"hit" if cached else b"miss")
    request.setHeader(b"Content-Type", b"application/octet-stream")
    request.setHeader(b"Cache-Control", IMMUTABLE.format(scope=scope).encode())
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Accept-Ranges", b"bytes")
    if etag:
        request.setHeader(b"ETag", f'"{etag}"'.encode())


def restOfFileFrom(value: Optional[bytes], size: int) -> Optional[int]:
    """
    The first byte asked for when the C{Range} header C{value} asks for one
    range that runs to the end of a file of C{size} bytes (C{bytes=N-}, or
    C{bytes=N-M} with M past the end): a request that can follow a download
    and end with it.  C{None} for any other range, or none.
    """
    if value is None:
        return None
    unit, _, spec = value.strip().partition(b"=")
    if unit.strip().lower() != b"bytes" or b"," in spec:
        return None
    first, dash, last = spec.strip().partition(b"-")
    if not dash or not first.isdigit() or not (last == b"" or last.isdigit()):
        return None
    start = bytePosition(first)
    if start >= size or (last and bytePosition(last) < size - 1):
        return None
    return start


def serveBlob(
    request: IRequest, path: str, etag: Optional[str], scope: str = "public"
) -> object:
    """
    Answer C{request} from a blob on disk: whole, in ranges (one, or several
    as C{multipart/byteranges}), as a HEAD, or with a 304, as
    L{cheesecache.web.ranges} decides.  The bytes go out with C{sendfile}
    where the connection allows, as C{application/octet-stream} and never
    with a C{Content-Encoding} (a client told that a C{.tar.gz} is gzipped
    would unpack it and fail the hash check).
    """
    ifNoneMatch = request.getHeader(b"if-none-match")
    if ifNoneMatch is not None and noneMatch(ifNoneMatch, etag):
        # Answered before the file is even opened (what isNotModified would
        # say): revalidations mostly get this.
        _fileHeaders(request, etag, scope)
        request.setResponseCode(NOT_MODIFIED)
        return notModified(request)
    try:
        fileObject = open(path, "rb")
    except FileNotFoundError:
        # Evicted since it was found.
        return writeError(request, 404, "Not Found")
    _fileHeaders(request, etag, scope)
    stat = os.fstat(fileObject.fileno())
    size = stat.st_size
    # Whole seconds, as the header has them, so that If-Range can match.
    validators = FileValidators(etag, math.ceil(stat.st_mtime))
    request.setHeader(b"Last-Modified", datetimeToString(validators.lastModified))
    if isNotModified(ifNoneMatch, request.getHeader(b"if-modified-since"), validators):
        fileObject.close()
        request.setResponseCode(NOT_MODIFIED)
        return notModified(request)
    if request.method == b"HEAD":
        fileObject.close()
        request.setHeader(b"Content-Length", b"%d" % (size,))
        return b""
    ranges = selectRanges(
        request.getHeader(b"range"), request.getHeader(b"if-range"), size, validators
    )
    if ranges is None:
        request.setHeader(b"Content-Length", b"%d" % (size,))
        _sendBytes(request, fileObject, 0, size, whole=True)
    elif not ranges:
        fileObject.close()
        request.setResponseCode(REQUESTED_RANGE_NOT_SATISFIABLE)
        request.setHeader(b"Content-Range", b"bytes */%d" % (size,))
        request.setHeader(b"Content-Length", b"0")
        return b""
    elif len(ranges) == 1:
        [(offset, length)] = ranges
        request.setResponseCode(PARTIAL_CONTENT)
        request.setHeader(b"Content-Range", contentRange(offset, length, size))
        request.setHeader(b"Content-Length", b"%d" % (length,))
        _sendBytes(request, fileObject, offset, length)
    else:
        boundary = os.urandom(12).hex().encode("ascii")
        parts, length = multipartRanges(ranges, size, boundary, b"application/octet-stream")
        request.setResponseCode(PARTIAL_CONTENT)
        request.setHeader(
            b"Content-Type", b'multipart/byteranges; boundary="' + boundary + b'"'
        )
        request.setHeader(b"Content-Length", b"%d" % (length,))
        MultipleRangeStaticProducer(request, fileObject, parts).start()
    return NOT_DONE_YET


def _sendBytes(
    request: IRequest, fileObject: BinaryIO, offset: int, size: int, whole: bool = False
) -> None:
    """
    Start sending C{size} bytes of C{fileObject} from C{offset} (all of it,
    if C{whole}) as the body of C{request}: with C{sendfile} where the
    connection allows, else with Twisted's producers, in bigger reads than
    their 64 KiB (fewer trips through Python per megabyte).
    """
    if sendFile(request, fileObject, offset, size):
        return
    producer: Any = (
        NoRangeStaticProducer(request, fileObject)
        if whole
        else SingleRangeStaticProducer(request, fileObject, offset, size)
    )
    producer.bufferSize = READ_SIZE
    producer.start()


def abortConnection(request: IRequest) -> None:
    """
    Cut the client's connection, so that it cannot take what it got for a
    complete response.
    """
    transport = getattr(request.channel, "transport", None)
    if transport is not None:
        abort = getattr(transport, "abortConnection", transport.loseConnection)
        abort()


@implementer(IPushProducer)
@attrs.define(eq=False)
class Follower:
    """
    Streams a L{Download} to one client as it is written, with backpressure:
    a slow client only slows itself, the download goes on for the others.
    """

    download: Download
    request: IRequest
    scope: str = "public"
    #: The first byte sent: with one, the answer is the rest of the file
    #: from there (206), and the download's size must be known.
    start: int = 0
    _offset: int = attrs.field(init=False)
    _file: Optional[BinaryIO] = None
    _paused: bool = False
    _closed: bool = False
    #: Set once the response goes out with sendfile (see L{resumeProducing}).
    transport: Any = None
    _sender: Optional[SocketSender] = None
    #: Whether the headers went out with a C{Content-Length}: only then may
    #: the body go out with sendfile.  Without one it is chunked, and raw
    #: bytes would break the framing, even once the size is known.
    _sized: bool = False

    def __attrs_post_init__(self) -> None:
        self._offset = self.start

    def follow(self) -> None:
        self.request.notifyFinish().addErrback(lambda _: self._close())
        self.download.subscribe(self._update)
        self._update()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.download.unsubscribe(self._update)
        if self._sender is not None:
            self._sender.stop()
        if self._file is not None:
            self._file.close()

    def _update(self) -> None:
        if self._closed:
            return
        download = self.download
        if self._file is None:
            if download.state is State.CONNECTING:
                return
            if download.state is State.FAILED:
                # Answered as those waiting for the whole file are.
                error = _failFile(self.request, Failure(download.failure()))
                self.request.write(error)
                self.request.finish()
                self._close()
                return
            try:
                self._file = open(download.path.path, "rb")
            except OSError as e:
                # This client's trouble (out of file descriptors): it is
                # told so, and the download goes on for the others.
                log.error(
                    "Could not follow the download of {filename}: {error}",
                    filename=download.file.filename, error=e,
                )
                self.request.write(writeError(self.request, 503, "Service Unavailable"))
                self.request.finish()
                self._close()
                return
            _fileHeaders(self.request, download.file.sha256, self.scope, cached=False)
            if self.start:
                assert download.total is not None
                self._file.seek(self.start)
                self.request.setResponseCode(206)
                self.request.setHeader(
                    b"Content-Range",
                    b"bytes %d-%d/%d" % (self.start, download.total - 1, download.total),
                )
            if download.total is not None:
                self.request.setHeader(
                    b"Content-Length", str(download.total - self.start).encode()
                )
                self._sized = True
            self.request.registerProducer(self, True)
            if self.start:
                # The headers now, though no byte past the start may have
                # come yet: the tier below waits for them only so long.
                self.request.write(b"")
        if download.state is State.FAILED and not download.verified:
            log.warn(
                "Aborting a client's download of {filename}: {error}",
                filename=download.file.filename, error=download.error,
            )
            self._close()
            self.request.unregisterProducer()
            abortConnection(self.request)
            return
        if self._sender is not None:
            self._sender.wake()
        else:
            self._pump()

    def _pump(self) -> None:
        assert self._file is not None
        while not self._paused and not self._closed:
            limit = self.download.readable
            if self._offset < limit:
                data = self._file.read(min(CHUNK, limit - self._offset))
                if not data:
                    break
                self._offset += len(data)
                self.request.write(data)
            elif self.download.verified:
                self.request.unregisterProducer()
                self.request.finish()
                self._close()
            else:
                break

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._closed or self._file is None or self._sender is not None:
            return
        # The transport paused us and has now sent all it held: from here
        # on the kernel can send straight from the file (see sendfile.py).
        if self._sized:
            self.transport = sendfileTransport(self.request)
            if self.transport is not None:
                self._sender = SocketSender.forRequest(self, self.request)
                self._sender.start()
                return
        self._pump()

    def stopProducing(self) -> None:
        self._close()

    # SendfileSource

    @property
    def fileObject(self) -> BinaryIO:
        assert self._file is not None
        return self._file

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def done(self) -> bool:
        # Asked by the sender whose connection is lost: without it, a client
        # gone in the middle of sendfile failed the sender, not this.
        return self._closed

    def available(self) -> int:
        # Less than nothing for a client that asked from a byte that has
        # not come yet.
        return max(0, self.download.readable - self._offset)

    def advance(self, n: int) -> None:
        self._offset += n

    def allSent(self) -> bool:
        return self.download.verified and self._offset >= self.download.written

    def _finish(self, sent: int) -> None:
        self._sender = None
        self.request.sentLength += sent  # type: ignore[attr-defined]
        self.request.unregisterProducer()
        self.request.finish()
        self._close()

    def _failed(self, reason: Failure) -> None:
        self._sender = None
        self._close()
        self.request.unregisterProducer()
        abortConnection(self.request)


def _expireIfGone(failure: Failure, name: str, source: ISource) -> Failure:
    """
    When the upstream said a file is gone, its page has most likely changed
    since it was cached: the next request for the page asks again.
    """
    if failure.check(UpstreamGone):
        source.expire(name)
    return failure


def _gone(error: object) -> str:
    return f"Not Found: the upstream does not have it ({error})"


def _failFile(request: IRequest, failure: Failure) -> bytes:
    if failure.check(ProjectNotFound, NoMetadata):
        return writeError(request, 404, "Not Found", maxAge=60)
    if failure.check(UpstreamGone):
        return writeError(request, 404, _gone(failure.value))
    if failure.check(SourcesUnavailable, UpstreamError):
        if getattr(failure.value, "looped", False):
            return writeLoopDetected(request, failure.value)
        if failure.value.retryAfter is not None:
            return writeRetryLater(request, failure.value.retryAfter, str(failure.value))
        return writeError(request, 502, f"Bad Gateway: {failure.value}", phrase=True)
    failure.raiseException()
    return b""  # pragma: no cover


#: Seconds a new wheel waits before its metadata is extracted.  Its page
#: lists the metadata only from its next rendering on (see L{Rerenderer}),
#: and the client that fetched the wheel is most often resolving or
#: installing meanwhile: extracted at once, the wheels of a cold uv install
#: were read and their metadata written and synced on the cores it needed.
EXTRACT_DELAY = 2.0


@attrs.define(eq=False)
class FilesResource(Resource):
    """
    C{/files/}: distribution files and their core metadata.
    """

    index: Index
    store: BlobStore
    fetcher: FileFetcher
    metadata: MetadataService
    scope: str = "public"
    #: Records when blobs are served, for LRU eviction (none without a
    #: cache size limit).
    accessLog: Optional[Any] = None
    #: Called with a project's name once metadata was extracted from one of
    #: its wheels, so that its page advertises it (by default at once).
    onMetadata: Optional[Callable[[str], None]] = None
    #: With it, metadata is extracted from a new wheel L{extractDelay}
    #: seconds after the wheel is stored, rather than at once.
    clock: Optional[IReactorTime] = None
    extractDelay: float = EXTRACT_DELAY
    isLeaf = True

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)

    def render_GET(self, request: IRequest) -> object:
        parts = request.postpath
        if len(parts) != 3:
            return writeError(request, 404, "Not Found")
        try:
            name, key, filename = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            return writeError(request, 404, "Not Found")
        if (
            not isValidName(name)
            or normalize(name) != name
            or not isValidKey(key)
            or key.endswith(".metadata")
            or not isSafeFilename(filename)
        ):
            return writeError(request, 404, "Not Found")
        if filename.endswith(".metadata"):
            return self._metadata(request, name, key, filename[: -len(".metadata")])
        if self.store.exists(key) and not self._shadowed(name, key, filename):
            return self._blobBody(request, key)
        via = requestVia(request)
        return renderLater(
            request,
            self.index.file(name, key, filename, via),
            lambda request, found: self._serveListed(request, name, via, *found),
            _failFile,
        )

    render_HEAD = render_GET

    def _shadowed(self, name: str, key: str, filename: str) -> bool:
        """
        Is the stored blob C{key} one the private project C{name} does not
        list: an upstream file of that name, cached before the name was
        uploaded to?  The private project answers for its name alone, so
        that file is a 404, as it is when it was never cached (a client with
        an old page or a lock file must not be handed it).  Asked of pages
        in memory only: a name that is not private is served as before.
        """
        found = self.index.projectNow(name)
        return (
            found is not None
            and found.source.name == PRIVATE
            and found.page.fileByKey(key, filename) is None
        )

    def _serveListed(
        self, request: IRequest, name: str, via: Via, f: DistFile, source: ISource
    ) -> object:
        if self.store.exists(f.key):
            return self._blobBody(request, f.key)
        # Before a HEAD is answered from the index: offline, a GET could
        # not be served either.
        upstream = source.fileUpstream()
        if upstream is None:
            # A 504, as a cache asked to answer from what it holds only
            # (RFC 9111, 5.2.1.7): pip retries a 503 for seconds, then
            # shows only that it did; a 504 it shows at once, with this.
            return writeError(
                request, 504, f"Not cached: {f.filename} is not cached and its"
                " source may not be contacted (offline)", phrase=True,
            )
        if request.method == b"HEAD" and f.size is not None:
            # Answered from the index, not the store: not a hit.
            _fileHeaders(request, f.sha256, self.scope, cached=False)
            request.setHeader(b"Content-Length", str(f.size).encode())
            return b""
        started = self.fetcher.inProgress(f.key) is None
        download = self.fetcher.fetch(f, upstream, via)
        download.whenDone().addErrback(_expireIfGone, name, source).addErrback(
            lambda _: None
        )
        if started and f.filename.endswith(".whl") and not f.coreMetadata:
            # Once per download, not once per client following it: each
            # extraction reads the wheel and syncs a blob in the pool.
            download.whenDone().addCallback(
                lambda _: self._extractSoon(name, f)
            ).addErrback(lambda _: None)
        start = self._followsFrom(request, download)
        if start is None:
            # Other ranges are served from the whole, verified file, without
            # waiting for it to be synced to disk and put in the store.
            return renderLater(
                request, download.whenWhole(),
                lambda request, whole: serveBlob(
                    request, whole.path.path, _etag(f.key), self.scope
                ),
                _failFile,
            )
        Follower(download, request, self.scope, start).follow()
        return NOT_DONE_YET

    @staticmethod
    def _followsFrom(request: IRequest, download: Download) -> Optional[int]:
        """
        The byte C{request} can follow C{download} from (0 for a plain GET);
        C{None} if it must wait for the whole file: a HEAD, a range that
        does not run to the end of the file (or of a size not known yet),
        or one conditional on something other than this file (C{If-Range}).
        """
        if request.method == b"HEAD":
            return None
        value = request.getHeader(b"range")
        if value is None:
            return 0
        if download.total is None:
            return None
        condition = request.getHeader(b"if-range")
        sha256 = download.file.sha256
        if condition is not None and (
            sha256 is None or condition.strip() != f'"{sha256}"'.encode("ascii")
        ):
            return None
        return restOfFileFrom(value, download.total)

    def _extractSoon(self, name: str, f: DistFile) -> "Deferred[None]":
        if self.clock is None:
            return self._extracted(name, f)
        return deferLater(self.clock, self.extractDelay, self._extracted, name, f)

    def _extracted(self, name: str, f: DistFile) -> "Deferred[None]":
        def extracted(path: Optional[Metadata]) -> None:
            if isinstance(path, FilePath):
                # Pages list the new metadata from their next rendering on.
                (self.onMetadata or self.index.forgetRendered)(name)

        return self.metadata.extract(f).addCallback(extracted)

    def _blobBody(self, request: IRequest, key: str) -> object:
        if self.accessLog is not None:
            self.accessLog.touch(key)
        return serveBlob(request, self.store.path(key).path, _etag(key), self.scope)

    def _metadata(self, request: IRequest, name: str, key: str, filename: str) -> object:
        mkey = key + ".metadata"
        if self.store.exists(mkey) and not self._shadowed(name, key, filename):
            return self._blobBody(request, mkey)

        via = requestVia(request)

        def got(found: tuple) -> "Deferred[object]":
            f, source = found
            download = self.fetcher.inProgress(f.key)
            if download is not None and download.verified:
                # The file is whole and on its way to the store, where its
                # metadata is read from: a moment's wait.
                return download.whenDone().addCallback(
                    lambda _: self.metadata.get(f, source.fileUpstream(), via)
                )
            upstream = source.fileUpstream()
            if (
                upstream is not None
                and not f.coreMetadata
                and f.filename.endswith(".whl")
                and not self.store.exists(f.key)
            ):
                # Its metadata can only be read from the wheel, which is not
                # here: most likely evicted together with the metadata its
                # page (rendered before, or cached by the client) still
                # lists.  The wheel is fetched again, as its own request
                # would, rather than a listed file being a 404.
                return (
                    self.fetcher.fetch(f, upstream, via)
                    .whenDone()
                    .addCallback(lambda _: self.metadata.get(f, upstream, via))
                    .addErrback(_expireIfGone, name, source)
                )
            return self.metadata.get(f, upstream, via).addErrback(
                _expireIfGone, name, source
            )

        return renderLater(
            request,
            self.index.file(name, key, filename, via).addCallback(got),
            self._metadataBody,
            _failFile,
        )

    def _metadataBody(self, request: IRequest, found: Metadata) -> object:
        if isinstance(found, FilePath):
            return self._blobBody(request, found.basename())
        # Verified, but not kept (a full disk): sent from memory, whole.
        _fileHeaders(request, None, self.scope, cached=False)
        request.setHeader(b"Accept-Ranges", b"none")
        request.setHeader(b"Content-Length", b"%d" % (len(found),))
        return b"" if request.method == b"HEAD" else found


def _etag(key: str) -> Optional[str]:
    return key if not key.startswith("u") and not key.endswith(".metadata") else None

