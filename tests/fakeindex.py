"""
A real upstream index for tests, served by twisted.web on a loopback port:
projects with real files, JSON or HTML pages, validators, a request log, and
faults to inject (down, slow, hang, truncated, wrong bytes, errors midway).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from html import escape
from typing import Any, Dict, List, Optional, Tuple

import attrs
from twisted.internet import reactor as globalReactor
from twisted.internet.defer import Deferred
from twisted.web import server
from twisted.web.resource import Resource

from cheesecache.simple.names import normalize


@attrs.define
class Dist:
    """
    One file the fake index lists.
    """

    filename: str
    data: bytes
    yanked: Any = False
    requiresPython: Optional[str] = None
    metadata: Optional[bytes] = None
    uploadTime: str = "2026-01-02T03:04:05.123456Z"
    listedHash: Optional[str] = None  # default: the real digest
    listedSize: Optional[int] = None  # default: the real size
    #: The hash the page lists the file with.
    hashName: str = "sha256"
    #: Its PEP 740 provenance URL (listed only on pages in the public
    #: index's style).
    provenance: Optional[str] = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def listedDigest(self) -> str:
        return self.listedHash or hashlib.new(self.hashName, self.data).hexdigest()


@attrs.define(eq=False)
class FakeIndex(Resource):
    """
    The upstream index.  C{faults} maps a request path (bytes) to one of:
    C{"500"}, C{"hang"} (files: headers and part of the body, then nothing;
    pages: no answer at all),
    C{"truncate"} (half the body, then close; C{"truncate-once"}: the first
    time only), C{"stall-once"} (pages and files: the first time, the
    headers and half the body, then nothing), C{"wrong"} (other bytes, same
    length), C{"midway500"} (half, then abort), C{"slow"} (in small pieces
    over time), C{"slowwrong"} (other bytes, in small pieces), C{"reset"} (abort at once),
    C{"chunked"} (files: without a C{Content-Length}, so chunked),
    C{"garbage"} (pages: a 200 that does not parse), C{"nested"} (pages: a
    200 of valid JSON nested too deep to decode), C{"redirect:<url>"} (302),
    C{"status:<code>"} or C{"status:<code>:<Retry-After>"},
    or C{"coding:<value>"} (pages: labelled C{Content-Encoding: <value>},
    sent as they are).  With C{gzipPages}, pages are gzipped for a request
    that accepts it, as the public index's are.  Files are served in part
    for a C{Range: bytes=N-} (unless C{fileRanges} is false), with an
    C{ETag} that C{If-Range} is matched against.
    """

    projects: Dict[str, List[Dist]] = attrs.field(factory=dict)
    format: str = "json"
    validators: bool = True
    gzipPages: bool = False
    #: JSON pages written as the public index writes them: compact, keys
    #: in order, C{null} for what a file lacks, core metadata under both
    #: names.
    publicStyle: bool = False
    fileRanges: bool = True
    faults: Dict[bytes, str] = attrs.field(factory=dict)
    down: bool = False
    requests: List[Tuple[bytes, bytes, Dict[bytes, bytes]]] = attrs.field(factory=list)
    held: Optional[List[Deferred]] = None
    clock: Any = globalReactor
    dribbleDelay: float = 0.02
    _timers: List[Any] = attrs.field(factory=list)
    isLeaf = True

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)

    def add(self, project: str, *dists: Dist) -> None:
        self.projects.setdefault(normalize(project), []).extend(dists)

    def count(self, path: bytes, method: bytes = b"GET") -> int:
        """
        How many requests came for C{path}.
        """
        return sum(1 for m, p, _ in self.requests if p == path and m == method)

    def hold(self) -> None:
        """
        Hold every response until L{release}.
        """
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        for d in held:
            d.callback(None)

    def render(self, request: server.Request) -> Any:
        headers = {k.lower(): v[0] for k, v in request.requestHeaders.getAllRawHeaders()}
        self.requests.append((request.method, request.path, headers))
        if self.held is not None:
            d: Deferred[None] = Deferred()
            self.held.append(d)
            d.addCallback(lambda _: self._finishLater(request))
            return server.NOT_DONE_YET
        return self._respond(request)

    def _finishLater(self, request: server.Request) -> None:
        body = self._respond(request)
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _respond(self, request: server.Request) -> Any:
        path = request.path
        fault = self.faults.get(path)
        if self.down or fault == "500":
            request.setResponseCode(500)
            return b"upstream broken"
        if fault is not None and fault.startswith("status:"):
            code, _, retryAfter = fault[len("status:"):].partition(":")
            request.setResponseCode(int(code))
            if retryAfter:
                request.setHeader(b"Retry-After", retryAfter.encode())
            return b"fault injected"
        if fault is not None and fault.startswith("redirect:"):
            request.setResponseCode(302)
            request.setHeader(b"Location", fault[len("redirect:"):].encode())
            return b""
        if fault == "reset":
            request.channel.transport.abortConnection()
            return server.NOT_DONE_YET
        parts = path.decode().split("/")
        if fault == "hang" and parts[1] == "simple":
            return server.NOT_DONE_YET  # never answers
        if fault == "stall-once":
            del self.faults[path]
            request.write = stalling(request)  # type: ignore[method-assign]
        if fault == "cut" and len(parts) == 4 and parts[1] == "simple":
            # The whole page but its last bytes: fails only at the end.
            request.setHeader(b"Content-Type", b"application/vnd.pypi.simple.v1+json")
            return self._projectBody(parts[2])[1][:-10]
        if fault == "garbage" and parts[1] == "simple":
            request.setHeader(b"Content-Type", b"application/vnd.pypi.simple.v1+json")
            return b'{"meta": {"api-version": "1.0"}, "files": [{"filename"'
        if fault == "nested" and parts[1] == "simple":
            request.setHeader(b"Content-Type", b"application/vnd.pypi.simple.v1+json")
            nested = b"[" * 100_000 + b"]" * 100_000
            return b'{"meta": {"api-version": "1.0"}, "files": ' + nested + b"}"
        if path == b"/simple/":
            return self._page(request, self._rootBody())
        if len(parts) == 4 and parts[1] == "simple" and parts[3] == "":
            name = parts[2]
            if name != normalize(name):
                request.setResponseCode(301)
                request.setHeader(b"Location", f"/simple/{normalize(name)}/".encode())
                return b""
            if name not in self.projects:
                request.setResponseCode(404)
                return b"not found"
            return self._page(request, self._projectBody(name))
        if len(parts) == 3 and parts[1] == "packages":
            return self._file(request, parts[2], fault)
        request.setResponseCode(404)
        return b"not found"

    def _page(self, request: server.Request, body: Tuple[bytes, bytes]) -> bytes:
        contentType, data = body
        request.setHeader(b"Content-Type", contentType)
        if self.validators:
            etag = b'"' + hashlib.sha256(data).hexdigest()[:16].encode() + b'"'
            request.setHeader(b"Last-Modified", b"Thu, 01 Jan 2026 00:00:00 GMT")
            if request.setETag(etag):
                return b""
        fault = self.faults.get(request.path) or ""
        if fault.startswith("coding:"):
            request.setHeader(b"Content-Encoding", fault[len("coding:"):].encode())
        elif self.gzipPages and b"gzip" in (request.getHeader(b"accept-encoding") or b""):
            request.setHeader(b"Content-Encoding", b"gzip")
            request.setHeader(b"Vary", b"Accept-Encoding")
            return gzip.compress(data)
        return data

    def _rootBody(self) -> Tuple[bytes, bytes]:
        names = sorted(self.projects)
        if self.format == "json":
            return (
                b"application/vnd.pypi.simple.v1+json",
                json.dumps(
                    {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
                ).encode(),
            )
        anchors = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
        return b"text/html", f"<html><body>{anchors}</body></html>".encode()

    def _projectBody(self, name: str) -> Tuple[bytes, bytes]:
        dists = self.projects[name]
        if self.format == "json":
            files = []
            for d in dists:
                entry: Dict[str, Any] = {
                    "filename": d.filename,
                    "url": f"../../packages/{d.filename}",
                    "hashes": {d.hashName: d.listedDigest},
                    "size": d.listedSize if d.listedSize is not None else len(d.data),
                    "upload-time": d.uploadTime,
                    "yanked": d.yanked,
                }
                if d.requiresPython:
                    entry["requires-python"] = d.requiresPython
                if d.metadata is not None:
                    entry["core-metadata"] = {
                        d.hashName: hashlib.new(d.hashName, d.metadata).hexdigest()
                    }
                if self.publicStyle:
                    entry.setdefault("requires-python", None)
                    entry["provenance"] = d.provenance
                    if "core-metadata" in entry:
                        entry["data-dist-info-metadata"] = entry["core-metadata"]
                files.append(entry)
            page = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
            if self.publicStyle:
                text = json.dumps(page, separators=(",", ":"), sort_keys=True)
            else:
                text = json.dumps(page)
            return (b"application/vnd.pypi.simple.v1+json", text.encode())
        anchors = []
        for d in dists:
            attributes = f'href="../../packages/{d.filename}#{d.hashName}={d.listedDigest}"'
            if d.requiresPython:
                attributes += f' data-requires-python="{escape(d.requiresPython)}"'
            if d.yanked:
                reason = d.yanked if isinstance(d.yanked, str) else ""
                attributes += f' data-yanked="{escape(reason)}"'
            if d.metadata is not None:
                attributes += (
                    f' data-core-metadata="{d.hashName}='
                    f'{hashlib.new(d.hashName, d.metadata).hexdigest()}"'
                )
            anchors.append(f"<a {attributes}>{d.filename}</a><br/>")
        return (
            b"text/html",
            ("<!DOCTYPE html><html><body>" + "\n".join(anchors) + "</body></html>").encode(),
        )

    def _find(self, filename: str) -> Tuple[Optional[Dist], bool]:
        metadata = filename.endswith(".metadata")
        base = filename[: -len(".metadata")] if metadata else filename
        for dists in self.projects.values():
            for d in dists:
                if d.filename == base:
                    return d, metadata
        return None, metadata

    def _file(self, request: server.Request, filename: str, fault: Optional[str]) -> Any:
        d, metadata = self._find(filename)
        if d is None or (metadata and d.metadata is None):
            request.setResponseCode(404)
            return b"no such file"
        data = d.metadata if metadata else d.data
        assert data is not None
        request.setHeader(b"Content-Type", b"application/octet-stream")
        if fault == "wrong":
            return bytes(b ^ 0xFF for b in data)
        etag = b'"' + hashlib.sha256(data).hexdigest()[:16].encode() + b'"'
        request.setHeader(b"ETag", etag)
        if fault in ("truncate", "truncate-once"):
            if fault == "truncate-once":
                del self.faults[request.path]
            return cutShort(request, data)
        if fault == "headers-then-reset":
            # The headers of the whole file, then not one byte of it.
            request.setHeader(b"Content-Length", str(len(data)).encode())
            request.write(b"")
            request.channel.transport.abortConnection()
            return server.NOT_DONE_YET
        if fault in ("midway500", "hang"):
            request.setHeader(b"Content-Length", str(len(data)).encode())
            request.write(data[: len(data) // 2])
            if fault == "midway500":
                request.channel.transport.abortConnection()
            return server.NOT_DONE_YET
        if fault == "chunked":
            piece = 1024 * 1024
            for offset in range(0, len(data), piece):
                request.write(data[offset : offset + piece])
            request.finish()
            return server.NOT_DONE_YET
        if fault in ("slow", "slowwrong"):
            if fault == "slowwrong":
                data = bytes(b ^ 0xFF for b in data)
            request.setHeader(b"Content-Length", str(len(data)).encode())
            self._dribble(request, data, 0)
            return server.NOT_DONE_YET
        wanted = re.fullmatch(rb"bytes=(\d+)-", request.getHeader(b"range") or b"")
        ifRange = request.getHeader(b"if-range")
        if self.fileRanges and wanted and (ifRange is None or ifRange == etag):
            start = int(wanted.group(1))
            if start < len(data):
                request.setResponseCode(206)
                request.setHeader(
                    b"Content-Range", b"bytes %d-%d/%d" % (start, len(data) - 1, len(data))
                )
                return data[start:]
        return data

    def _dribble(self, request: server.Request, data: bytes, offset: int) -> None:
        if request._disconnected:
            return
        piece = max(1, len(data) // 8)
        request.write(data[offset : offset + piece])
        if offset + piece >= len(data):
            request.finish()
        else:
            self._timers = [t for t in self._timers if t.active()]
            self._timers.append(
                self.clock.callLater(
                    self.dribbleDelay, self._dribble, request, data, offset + piece
                )
            )

    def stop(self) -> None:
        """
        Cancel pending slow responses (at the end of a test).
        """
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        self._timers = []


def stalling(request: server.Request) -> Any:
    """
    A replacement for C{request}'s C{write} that sends the headers (with a
    C{Content-Length}) and half of the body it is given, then nothing, and
    leaves the request unfinished.
    """
    write = request.write

    def stalled(body: bytes) -> None:
        request.setHeader(b"Content-Length", str(len(body)).encode())
        write(body[: len(body) // 2])
        request.finish = lambda: None  # type: ignore[method-assign]

    return stalled


def cutShort(request: server.Request, body: bytes) -> Any:
    """
    Answer C{request} with the first half of C{body}, under a
    C{Content-Length} for all of it, then close the connection.
    """
    request.setHeader(b"Content-Length", str(len(body)).encode())
    request.write(body[: len(body) // 2])
    # The channel is the connection's producer: closing waits for it to stop.
    request.channel.transport.unregisterProducer()
    request.channel.transport.loseConnection()
    return server.NOT_DONE_YET


def listen(resource: Any, reactor: Any = globalReactor) -> Tuple[Any, str]:
    """
    Serve C{resource} (a Resource, or a ready Site) on a free loopback port.

    @return: the listening port and its base URL (no trailing slash).
    """
    site = resource if isinstance(resource, server.Site) else server.Site(resource)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    return port, f"http://127.0.0.1:{port.getHost().port}"
