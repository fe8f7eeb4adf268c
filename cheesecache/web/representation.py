# -*- test-case-name: tests.test_representation -*-
"""
Rendered pages as bytes, rendered once per page version and content type,
with a gzip twin and a strong ETag each, and the code that writes them out.
"""

from __future__ import annotations

import gzip
import hashlib
from typing import Callable, Optional

import attrs
from twisted.web.http import CACHED
from twisted.web.iweb import IRequest

from ..freshness import PageEntry

#: How long clients may reuse a page without asking again: short, so new
#: uploads and upstream releases show up soon.
PAGE_MAX_AGE = 60


@attrs.frozen
class Representation:
    """
    One rendered representation of a page.
    """

    contentType: str
    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, contentType: str, body: bytes) -> "Representation":
        digest = hashlib.sha256(contentType.encode() + b"\0" + body).hexdigest()
        return cls(
            contentType=contentType,
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            etag=digest[:32],
        )


def representationOf(
    entry: PageEntry, contentType: str, render: Callable[[object], bytes]
) -> Representation:
    """
    The representation of C{entry}'s content as C{contentType}, rendered on
    first use and kept with the entry.
    """
    rep = entry.rendered.get(contentType)
    if rep is None:
        rep = entry.rendered[contentType] = Representation.of(
            contentType, render(entry.content)
        )
    assert isinstance(rep, Representation)
    return rep


def acceptsGzip(header: Optional[bytes]) -> bool:
    """
    Does an C{Accept-Encoding} header accept gzip?
    """
    if not header:
        return False
    for item in header.decode("latin-1").lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip"):
            q = params.strip()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


#: Pages are links only: nothing to run, load or embed.
CONTENT_SECURITY_POLICY = b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def securityHeaders(request: IRequest) -> None:
    """
    Headers every HTML page carries.
    """
    request.setHeader(b"Content-Security-Policy", CONTENT_SECURITY_POLICY)
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Referrer-Policy", b"no-referrer")


def writeRepresentation(
    request: IRequest, rep: Representation, scope: str = "public"
) -> bytes:
    """
    Answer C{request} with C{rep}: gzip when accepted, 304 when the client
    has it already.

    @param scope: C{public}, or C{private} when reads need credentials (no
        shared cache may keep the page).
    @return: the body to return from C{render}.
    """
    compressed = acceptsGzip(request.getHeader(b"accept-encoding"))
    contentType = rep.contentType
    if contentType.startswith("text/html") or contentType.endswith("+html"):
        contentType += "; charset=utf-8"
        securityHeaders(request)
    request.setHeader(b"Vary", b"Accept, Accept-Encoding")
    request.setHeader(b"Cache-Control", f"{scope}, max-age={PAGE_MAX_AGE}".encode())
    request.setHeader(b"Content-Type", contentType.encode())
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    etag = f'"{rep.etag}{"-gz" if compressed else ""}"'.encode()
    if request.setETag(etag) == CACHED:
        return b""
    body = rep.gzipped if compressed else rep.body
    if compressed:
        request.setHeader(b"Content-Encoding", b"gzip")
    request.setHeader(b"Content-Length", str(len(body)).encode())
    if request.method == b"HEAD":
        return b""
    return body


def writeError(request: IRequest, code: int, message: str, maxAge: int = 0) -> bytes:
    """
    Answer with a short plain-text error message.
    """
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(
        b"Cache-Control", f"max-age={maxAge}".encode() if maxAge else b"no-store"
    )
    body = (message.rstrip("\n") + "\n").encode("utf-8")
    request.setHeader(b"Content-Length", str(len(body)).encode())
    return b"" if request.method == b"HEAD" else body
