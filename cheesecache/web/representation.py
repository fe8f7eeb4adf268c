# -*- test-case-name: tests.test_representation -*-
"""
Rendered pages as bytes, rendered once per page version and content type,
with a gzip twin and a strong ETag each, and the code that writes them out.

Small representations stay in memory; big ones (some upstream pages are
megabytes) are written once to C{<data-dir>/rendered/} and streamed from
there, so memory does not grow with the size of the pages served, and the
operating system's page cache does what nginx relies on too.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import tempfile
import zlib
from collections import OrderedDict
from http import HTTPStatus
from typing import Any, BinaryIO, Callable, Dict, Iterable, List, Optional, Tuple, Union

import attrs
from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.web.http import NOT_MODIFIED, RESPONSES
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, version as SERVER_VERSION
from twisted.web.static import NoRangeStaticProducer

from ..freshness import PageEntry
from .ranges import noneMatch
from .sendfile import sendFile

log = Logger()

#: How long clients may reuse a page without asking again: short, so new
#: uploads and upstream releases show up soon.
PAGE_MAX_AGE = 60

#: C{Cache-Control} of a page by scope: C{public}, or C{private} when reads
#: need credentials (no shared cache may keep the page).
_CACHE_CONTROL = {
    scope: f"{scope}, max-age={PAGE_MAX_AGE}".encode() for scope in ("public", "private")
}


#: Representations larger than this are kept on disk, not in memory.
IN_MEMORY_LIMIT = 64 * 1024

#: Representations on disk up to this size are read in one go when they
#: cannot be sent with C{sendfile}.
READ_AT_ONCE = 1024 * 1024

#: What a big representation is hashed and compressed in, a block at a time.
HASH_BLOCK = 256 * 1024


def _digestOf(contentType: str) -> Any:
    """
    What makes a representation's ETag: its content type and bytes hashed.
    """
    return hashlib.sha256(contentType.encode() + b"\0")


def _compressor() -> Any:
    """
    What makes a gzip twin (mtime 0, so the same bytes give the same twin).
    """
    return zlib.compressobj(6, zlib.DEFLATED, 31)


@attrs.frozen
class Representation:
    """
    One rendered representation of a page, with its gzip twin: in memory
    (C{body}, C{gzipped}) or on disk (C{path}, C{path + ".gz"}).

    @ivar twin: is the gzip twin there?  A big representation is served
        before its twin is made (see L{RenderedStore.make}), uncompressed.
    """

    contentType: str
    etag: str
    size: int
    gzSize: int
    body: Optional[bytes] = None
    gzipped: Optional[bytes] = None
    path: Optional[str] = None
    twin: bool = True
    #: Its header values, worked out once rather than for every request.
    headers: "_HeaderValues" = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "headers", _HeaderValues.of(self))

    @classmethod
    def of(
        cls,
        contentType: str,
        body: Union[bytes, Iterable[bytes]],
        disk: Optional["RenderedStore"] = None,
    ) -> "Representation":
        """
        The representation of C{body}, given whole or in pieces.  Pieces are
        hashed and compressed as they come; once they add up to more than
        L{IN_MEMORY_LIMIT} (and C{disk} is given) they go on to disk, so a
        big page is never held whole in memory, plain or gzipped.
        """
        pieces: List[bytes] = []
        gzPieces: List[bytes] = []
        digest, compressor = _digestOf(contentType), _compressor()
        size = gzSize = 0
        spill: Optional[_Spill] = None
        try:
            for piece in (body,) if isinstance(body, bytes) else body:
                digest.update(piece)
                size += len(piece)
                zipped = compressor.compress(piece)
                gzSize += len(zipped)
                if spill is not None:
                    spill.write(piece, zipped)
                    continue
                pieces.append(piece)
                gzPieces.append(zipped)
                if disk is not None and size > IN_MEMORY_LIMIT:
                    spill = disk.spill()
                    spill.write(b"".join(pieces), b"".join(gzPieces))
                    pieces, gzPieces = [], []
            zipped = compressor.flush()
            gzSize += len(zipped)
            etag = digest.hexdigest()[:32]
            if spill is not None:
                spill.write(b"", zipped)
                path, spill = spill.keep(etag), None
                return cls(contentType, etag, size, gzSize, path=path)
        finally:
            if spill is not None:
                spill.abandon()
        gzPieces.append(zipped)
        return cls(
            contentType, etag, size, gzSize, b"".join(pieces), b"".join(gzPieces)
        )

    def file(self, compressed: bool) -> str:
        """
        Where the body (or its gzip twin) is on disk.
        """
        assert self.path is not None
        return self.path + ".gz" if compressed else self.path

    def open(self, compressed: bool) -> BinaryIO:
        """
        The body from disk (raises C{OSError} if it went missing).
        """
        return open(self.file(compressed), "rb")

    def inMemory(self, compressed: bool, bodies: Optional["BodyCache"]) -> Optional[bytes]:
        """
        The body, if it can be written from memory: held here, or, for one
        on disk, in C{bodies}; else C{None}.
        """
        if self.path is None:
            return self.gzipped if compressed else self.body
        return None if bodies is None else bodies.get(self.file(compressed))


@attrs.frozen
class _HeaderValues:
    """
    The response header values of a L{Representation}, plain and gzipped.
    """

    contentType: bytes
    html: bool
    etag: bytes
    gzETag: bytes
    length: bytes
    gzLength: bytes
    #: Whole response heads by C{(compressed, scope, notModified)} (see
    #: L{responseHead}).
    heads: Dict[Tuple[bool, str, bool], Tuple[bytes, bytes]] = attrs.field(
        factory=dict, eq=False, repr=False
    )

    def etagFor(self, compressed: bool) -> bytes:
        return self.gzETag if compressed else self.etag

    @classmethod
    def of(cls, rep: Representation) -> "_HeaderValues":
        contentType = rep.contentType
        html = contentType.startswith("text/html") or contentType.endswith("+html")
        if html:
            contentType += "; charset=utf-8"
        return cls(
            contentType.encode(), html,
            f'"{rep.etag}"'.encode(), f'"{rep.etag}-gz"'.encode(),
            b"%d" % (rep.size,), b"%d" % (rep.gzSize,),
        )


@attrs.define
class BodyCache:
    """
    The bodies on disk most recently served the ordinary way (too small for
    C{sendfile} to pay), in memory within a byte budget: a popular page's
    gzip twin then costs no open and read per request.  Keyed by path, and
    paths are content-addressed, so an entry is never out of date.
    """

    budget: int = 4 * 1024 * 1024
    _bodies: "OrderedDict[str, bytes]" = attrs.field(factory=OrderedDict)
    size: int = 0

    def get(self, path: str) -> Optional[bytes]:
        body = self._bodies.get(path)
        if body is not None:
            self._bodies.move_to_end(path)
        return body

    def put(self, path: str, body: bytes) -> None:
        if len(body) > self.budget // 4 or path in self._bodies:
            return
        self._bodies[path] = body
        self.size += len(body)
        while self.size > self.budget:
            _, old = self._bodies.popitem(last=False)
            self.size -= len(old)

    def discard(self, path: str) -> None:
        body = self._bodies.pop(path, None)
        if body is not None:
            self.size -= len(body)


#: Seconds a big representation is served before its gzip twin is made.
#: A big page fetched cold is most often asked for by a client that is
#: resolving dependencies, and that asks for the next pages at once: made
#: at once, the twins of a uv install's big pages (0.8-1.5 MB each) took
#: the cores the install and the next pages needed.  Clients asking for
#: gzip meanwhile get the page uncompressed.
TWIN_DELAY = 2.0


@attrs.define
class RenderedStore:
    """
    Big representations on disk, named by their ETag (content-addressed:
    a name always holds the same bytes, so replacing one is harmless).

    @ivar blocking: runs a blocking call in a thread and gives a
        L{Deferred} of its result.  With it, a big representation's gzip
        twin is made there, after the representation is first served
        (see L{make}).
    @ivar clock: with it, a twin is made L{twinDelay} seconds after its
        representation is first served, rather than at once.
    """

    root: FilePath
    bodies: BodyCache = attrs.field(factory=BodyCache)
    blocking: Optional[Callable[..., "Deferred[Any]"]] = None
    clock: Optional[IReactorTime] = None
    twinDelay: float = TWIN_DELAY
    #: Twins compressed at once, at most: more than the cores gains
    #: nothing, and each holds a block and a compressor.
    _compressing: DeferredSemaphore = attrs.field(factory=lambda: DeferredSemaphore(2))

    def make(self, contentType: str, body: Union[bytes, Iterable[bytes]]) -> Representation:
        """
        The representation of C{body}.

        With a thread to use, a big body is written straight to its file
        and hashed as it comes, and its representation is given without
        its gzip twin, which L{place} has made in the thread: the request
        that rendered a big page cold, and any that come before the twin
        is ready, get it uncompressed rather than wait for a compression
        that takes as long as parsing and rendering the page did.
        """
        writer = self.writer(contentType)
        try:
            for piece in (body,) if isinstance(body, bytes) else body:
                writer.write(piece)
        except BaseException:
            writer.abandon()
            raise
        return writer.done()

    def writer(self, contentType: str) -> "RepresentationWriter":
        """
        Write a representation piece by piece (see L{make}), for a page
        rendered as it is parsed.
        """
        return RepresentationWriter(self, contentType)

    def place(self, rendered: Dict[str, object], contentType: str, rep: Representation) -> None:
        """
        Serve C{rep} as C{contentType} from C{rendered} (an entry's
        representations).  One still without its gzip twin gets it made in
        the thread, and is replaced by the whole once that is done, unless
        another has taken its place meanwhile.
        """
        rendered[contentType] = rep
        if rep.twin or rep.path is None or self.blocking is None:
            return
        if self.clock is None:
            self._compress(rendered, contentType, rep)
            return

        def later() -> None:
            # Not if another has taken its place (it went with its page).
            if rendered.get(contentType) is rep:
                self._compress(rendered, contentType, rep)

        self.clock.callLater(self.twinDelay, later)

    def _compress(self, rendered: Dict[str, object], contentType: str, rep: Representation) -> None:
        """
        Make C{rep}'s gzip twin in the thread, and serve the whole in its
        place once it is made (see L{place}).
        """
        assert self.blocking is not None

        def compressed(gzSize: int) -> None:
            assert rep.path is not None
            if rendered.get(contentType) is rep:
                rendered[contentType] = attrs.evolve(rep, gzSize=gzSize, twin=True)
            elif not os.path.exists(rep.path):
                # Discarded while its twin was being made: the twin goes too.
                _removeIfThere(rep.path + ".gz")

        def notCompressed(failure: Failure) -> None:
            if failure.check(FileNotFoundError):
                return  # discarded meanwhile: its page changed
            log.failure(
                "Could not compress {path}; it is served uncompressed",
                failure, path=rep.path,
            )

        self._compressing.run(self.blocking, compressTwin, rep.path).addCallbacks(
            compressed, notCompressed
        )

    def representationOf(
        self,
        entry: PageEntry,
        contentType: str,
        render: Callable[[object], Union[bytes, Iterable[bytes]]],
    ) -> Representation:
        """
        Make the representation of C{entry}'s content as C{contentType}
        (see L{make}) and keep it with the entry (see L{place}).  One that
        cannot be written (a full disk) is made in memory and served, not
        kept: the page is there to serve, and the next request tries again.
        """
        try:
            rep = _renderNow(entry, contentType, render, self.make)
        except OSError as e:
            log.warn(
                "Could not write the {contentType} of {url}: {error};"
                " it is served from memory",
                contentType=contentType, url=entry.url, error=str(e),
            )
            return _renderNow(entry, contentType, render, Representation.of)
        self.place(entry.rendered, contentType, rep)
        return rep

    def _path(self, etag: str) -> FilePath:
        return self.root.child(etag[:2]).child(etag)

    def clear(self) -> None:
        """
        Remove every representation: at startup none is shown by any page
        yet, and what an earlier run left (pages since changed upstream, or
        a crash between writing and naming) would otherwise stay forever.
        """
        if self.root.exists():
            self.root.remove()

    def spill(self, twin: bool = True) -> "_Spill":
        """
        Start writing a representation whose ETag is not known yet, with
        its gzip twin beside it unless C{twin} is false.
        """
        self.root.makedirs(ignoreExistingDirectory=True)
        fd, tmp = tempfile.mkstemp(prefix="spill-", suffix=".tmp", dir=self.root.path)
        return _Spill(self, os.fdopen(fd, "wb"), tmp, twin)

    def discard(self, rep: object) -> None:
        """
        Remove a representation no page shows any more.
        """
        if isinstance(rep, Representation) and rep.path is not None:
            for name in (rep.path, rep.path + ".gz"):
                self.bodies.discard(name)
                _removeIfThere(name)


@attrs.define
class RepresentationWriter:
    """
    A representation being written (see L{RenderedStore.make}): in memory
    while small, then to its file, hashed as it comes.
    """

    store: RenderedStore
    contentType: str
    _pieces: List[bytes] = attrs.field(factory=list)
    _size: int = 0
    _spill: Optional["_Spill"] = None
    _digest: Any = None

    def write(self, piece: bytes) -> None:
        """
        Add the next piece.
        """
        self._size += len(piece)
        if self._spill is not None:
            self._spill.writePlain(piece)
            self._digest.update(piece)
            return
        self._pieces.append(piece)
        if self._size > IN_MEMORY_LIMIT and self.store.blocking is not None:
            self._spill = self.store.spill(twin=False)
            self._digest = _digestOf(self.contentType)
            first = b"".join(self._pieces)
            self._pieces = []
            self._spill.writePlain(first)
            self._digest.update(first)

    def done(self) -> Representation:
        """
        The representation of the pieces written.
        """
        if self._spill is None:
            return Representation.of(self.contentType, self._pieces, self.store)
        etag = self._digest.hexdigest()[:32]
        try:
            path = self._spill.keep(etag)
        except BaseException:
            self._spill.abandon()
            raise
        return Representation(self.contentType, etag, self._size, 0, path=path, twin=False)

    def abandon(self) -> None:
        """
        Give up: nothing written stays.
        """
        if self._spill is not None:
            self._spill.abandon()


class _Spill:
    """
    A representation, and its gzip twin unless it is made later (see
    L{compressTwin}), being written to temporary files, named by their
    ETag once complete (L{keep}) or removed (L{abandon}).
    """

    def __init__(self, store: RenderedStore, body: BinaryIO, tmp: str, twin: bool) -> None:
        self._store = store
        self._names: Tuple[str, ...] = (tmp, tmp + ".gz") if twin else (tmp,)
        self._files: Tuple[BinaryIO, ...] = (body,)
        try:
            self._files += tuple(open(name, "xb") for name in self._names[1:])
        except BaseException:
            self.abandon()
            raise

    def write(self, piece: bytes, zipped: bytes) -> None:
        body, gz = self._files
        body.write(piece)
        gz.write(zipped)

    def writePlain(self, piece: bytes) -> None:
        """
        Write a piece of a representation without a twin.
        """
        self._files[0].write(piece)

    def _close(self) -> None:
        for f in self._files:
            f.close()

    def keep(self, etag: str) -> str:
        self._close()
        path = self._store._path(etag)
        path.parent().makedirs(ignoreExistingDirectory=True)
        targets = (path, path.siblingExtension(".gz"))[: len(self._names)]
        if all(target.exists() for target in targets):
            self.abandon()
        else:
            for name, target in reversed(list(zip(self._names, targets))):
                os.replace(name, target.path)
        return path.path

    def abandon(self) -> None:
        self._close()
        for name in self._names:
            _removeIfThere(name)


def _removeIfThere(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def compressTwin(path: str) -> int:
    """
    Make the gzip twin of the representation at C{path} (C{path + ".gz"}),
    unless it is there already; its size.  Blocking: for a thread.
    """
    twin = path + ".gz"
    try:
        return os.stat(twin).st_size
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix="twin-", suffix=".tmp", dir=os.path.dirname(path))
    try:
        gzSize = 0
        compressor = _compressor()
        with os.fdopen(fd, "wb") as out, open(path, "rb") as plain:
            for block in iter(lambda: plain.read(HASH_BLOCK), b""):
                zipped = compressor.compress(block)
                out.write(zipped)
                gzSize += len(zipped)
            zipped = compressor.flush()
            out.write(zipped)
            gzSize += len(zipped)
        os.replace(tmp, twin)
    except BaseException:
        _removeIfThere(tmp)
        raise
    return gzSize


def representationOf(
    entry: PageEntry,
    contentType: str,
    render: Callable[[object], Union[bytes, Iterable[bytes]]],
    disk: Optional[RenderedStore] = None,
) -> Representation:
    """
    The representation of C{entry}'s content as C{contentType}, rendered on
    first use and kept with the entry (see L{RenderedStore.make}).
    """
    rep = entry.rendered.get(contentType)
    if rep is not None:
        assert isinstance(rep, Representation)
        return rep
    if disk is None:
        rep = _renderNow(entry, contentType, render, Representation.of)
        entry.rendered[contentType] = rep
        return rep
    return disk.representationOf(entry, contentType, render)


def _renderNow(
    entry: PageEntry,
    contentType: str,
    render: Callable[[object], Union[bytes, Iterable[bytes]]],
    make: Callable[[str, Union[bytes, Iterable[bytes]]], Representation],
) -> Representation:
    content = entry.content
    if content is None:
        raise PageUnavailable(entry.url)
    return make(contentType, render(content))


class PageUnavailable(Exception):
    """
    A cached page could not be read back to render it.
    """


@functools.lru_cache(maxsize=256)
def acceptsGzip(header: Optional[bytes]) -> bool:
    """
    Does an C{Accept-Encoding} header accept gzip (named, or as C{*})?

    An item whose weight is not a valid q-value is ignored, so a malformed
    header gets the plain body, which every client can take.  Remembered
    for the few headers clients send: every page request asks.
    """
    if not header:
        return False
    anyCoding = False
    for item in header.decode("latin-1").lower().split(","):
        coding, _, params = item.partition(";")
        weight = _weight(params)
        if weight is None:
            continue
        coding = coding.strip()
        if coding in ("gzip", "x-gzip"):
            return weight > 0
        if coding == "*":
            anyCoding = weight > 0
    return anyCoding


_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")


def _weight(params: str) -> Optional[float]:
    """
    The q-value among an C{Accept-Encoding} item's parameters (1 when it
    has none), or C{None} when it is malformed.
    """
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip() == "q":
            value = value.strip()
            return float(value) if _QVALUE.match(value) else None
    return 1.0


#: Pages are links only: nothing to run, load or embed.
CONTENT_SECURITY_POLICY = b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


#: Headers every HTML page carries, in the order they are written.
SECURITY_HEADERS: Tuple[Tuple[bytes, bytes], ...] = (
    (b"Content-Security-Policy", CONTENT_SECURITY_POLICY),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"no-referrer"),
)

#: What a page that is not HTML carries of them.
_NOT_HTML_HEADERS: Tuple[Tuple[bytes, bytes], ...] = ((b"X-Content-Type-Options", b"nosniff"),)


def securityHeaders(request: IRequest) -> None:
    """
    Set L{SECURITY_HEADERS}.
    """
    for name, value in SECURITY_HEADERS:
        request.setHeader(name, value)


def writeRepresentation(
    request: IRequest,
    rep: Representation,
    scope: str = "public",
    bodies: Optional[BodyCache] = None,
) -> bytes:
    """
    Answer C{request} with C{rep}: gzip when accepted, 304 when the client
    has it already.

    @param scope: C{public}, or C{private} when reads need credentials (no
        shared cache may keep the page).
    @param bodies: where bodies read from disk are kept for next time.
    @return: the body to return from C{render}.
    """
    compressed, current = chosenFor(request, rep)
    headers = rep.headers
    for name, value in SECURITY_HEADERS if headers.html else _NOT_HTML_HEADERS:
        request.setHeader(name, value)
    request.setHeader(b"Vary", b"Accept, Accept-Encoding")
    request.setHeader(b"Cache-Control", _CACHE_CONTROL[scope])
    request.setHeader(b"Content-Type", headers.contentType)
    etag = headers.etagFor(compressed)
    # Given to Twisted, which writes it where the quick path does (see
    # responseHead); whether the client has it is ours to say.  Not with
    # setETag, which also makes the answer a 304 by Twisted's own reading
    # of If-None-Match (any "*" word in it): the page's bytes then went
    # out after a 304 by sendfile, and the next response on the
    # connection was read from them.
    request.etag = etag
    if current:
        request.setResponseCode(NOT_MODIFIED)
        return notModified(request)
    if compressed:
        request.setHeader(b"Content-Encoding", b"gzip")
        size = rep.gzSize
        request.setHeader(b"Content-Length", headers.gzLength)
    else:
        size = rep.size
        request.setHeader(b"Content-Length", headers.length)
    if request.method == b"HEAD":
        return b""
    held = rep.inMemory(compressed, bodies)
    if held is not None:
        return held
    body = rep.open(compressed)
    if sendFile(request, body, 0, size):
        return NOT_DONE_YET  # type: ignore[no-any-return]
    if size <= READ_AT_ONCE:
        with body:
            data = body.read()
        if bodies is not None:
            bodies.put(rep.file(compressed), data)
        return data
    NoRangeStaticProducer(request, body).start()
    return NOT_DONE_YET  # type: ignore[no-any-return]


def chosenFor(request: IRequest, rep: Representation) -> Tuple[bool, bool]:
    """
    Which of C{rep}'s encodings answers C{request}, and whether the client
    has it already: C{(compressed, current)}.  Gzip when it is accepted and
    the twin is made, except for a client whose copy is the plain one (its
    ETag in C{If-None-Match}): a page is served plain until its twin is
    made, and a client revalidating that copy was sent the whole page
    again, gzipped, rather than a 304.
    """
    compressed = rep.twin and acceptsGzip(request.getHeader(b"accept-encoding"))
    value = request.getHeader(b"if-none-match")
    if value is None:
        return compressed, False
    headers = rep.headers
    if noneMatch(value, headers.etagFor(compressed)[1:-1].decode("ascii")):
        return compressed, True
    if compressed and noneMatch(value, headers.etagFor(False)[1:-1].decode("ascii")):
        return False, True
    return compressed, False


def notModified(request: IRequest) -> Any:
    """
    Finish a C{304} now: returned to twisted.web as an empty body, it
    would carry C{Content-Length: 0}, which a 304 must not (RFC 9110,
    8.6: only the length the 200 would have).  It is sent without one.

    @return: C{NOT_DONE_YET}, for C{render} to return.
    """
    request.finish()
    return NOT_DONE_YET


def responseHead(
    rep: Representation, compressed: bool, scope: str, notModified: bool = False
) -> Tuple[bytes, bytes]:
    """
    The status line and headers of a C{200} answer with C{rep} to a
    persistent HTTP/1.1 C{GET} (or, with C{notModified}, of a C{304}), byte
    for byte as twisted.web writes those of L{writeRepresentation} (the
    tests hold the two equal), in two parts to go either side of the
    C{Date} header's value.  Made once per representation, encoding, scope
    and status: a warm page is then answered with one write (see
    L{cheesecache.web.simple.SimpleResource.answerWarm}).
    """
    headers = rep.headers
    key = (compressed, scope, notModified)
    head = headers.heads.get(key)
    if head is not None:
        return head
    lines = [
        name + b": " + value
        for name, value in (SECURITY_HEADERS if headers.html else _NOT_HTML_HEADERS)
    ]
    lines += [
        b"Vary: Accept, Accept-Encoding",
        b"Cache-Control: " + _CACHE_CONTROL[scope],
        b"Content-Type: " + headers.contentType,
    ]
    if not notModified:
        if compressed:
            lines += [b"Content-Encoding: gzip", b"Content-Length: " + headers.gzLength]
        else:
            lines.append(b"Content-Length: " + headers.length)
    lines.append(b"ETag: " + headers.etagFor(compressed))
    status = b"304 Not Modified" if notModified else b"200 OK"
    head = headers.heads[key] = (
        b"HTTP/1.1 " + status + b"\r\nServer: " + SERVER_VERSION + b"\r\nDate: ",
        b"".join(b"\r\n" + line for line in lines) + b"\r\n\r\n",
    )
    return head


def _reasonPhrase(code: int) -> Optional[bytes]:
    """
    The reason phrase of status C{code}: Twisted's, else the standard
    library's for the codes Twisted does not name (429, 508), which it
    would send as "Unknown Status" (twine shows the phrase); else none.
    """
    if code in RESPONSES:
        return None
    try:
        return HTTPStatus(code).phrase.encode("ascii")
    except ValueError:
        return None


def reasonPhrase(message: str) -> bytes:
    """
    C{message} as an HTTP reason phrase: one latin-1 line, not too long
    (pip and twine show an error's reason phrase, not its body).
    """
    line = " ".join(message.split())
    return line.encode("latin-1", "replace")[:400]


def writeError(
    request: IRequest, code: int, message: str, maxAge: int = 0, phrase: bool = False
) -> bytes:
    """
    Answer with a short plain-text error message.

    @param phrase: the message is the reason phrase too, which is all pip
        and twine show of an error.
    """
    request.setResponseCode(code, reasonPhrase(message) if phrase else _reasonPhrase(code))
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(
        b"Cache-Control", f"max-age={maxAge}".encode() if maxAge else b"no-store"
    )
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    request.setHeader(b"Content-Length", str(len(body)).encode())
    return b"" if request.method == b"HEAD" else body


def writeLoopDetected(request: IRequest, error: object) -> bytes:
    """
    Answer 508 Loop Detected: the upstream answered so, as the tiers of
    chained caches configured in a circle do; passed on as it came, the
    loop is seen by the client and the tier below does not ask again
    (a 502 it would, a few times, at every tier).
    """
    return writeError(
        request, 508, f"Loop Detected: the upstreams lead back to a cheesecache"
        f" this request passed through; check their configuration ({error})",
        phrase=True,
    )


def writeRetryLater(request: IRequest, retryAfter: float, message: str) -> bytes:
    """
    Answer 503 with C{Retry-After}: an upstream asked to be left alone for
    C{retryAfter} seconds (a 429 or 503 of its own), and so are we, by
    clients that heed it (pip does, and retries a 503 after it).
    """
    seconds = math.ceil(retryAfter)
    request.setHeader(b"Retry-After", b"%d" % (seconds,))
    return writeError(
        request, 503,
        f"Service Unavailable: the upstream asked to be left alone for {seconds} s ({message})",
    )


class NotFound(Resource):
    """
    A 404 for whatever path is below it.
    """

    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return writeError(request, 404, "Not Found")
