# -*- test-case-name: tests.test_contentcoding -*-
"""
The content codings of upstream pages: what is asked for, and decoding
what comes.

Pages are asked for gzipped (an index page shrinks to a fifth or less).
Decoding is a plain function over bytes, so that the upstream client can
run it in a thread for a big page: for a page of 2.3 MB it took 5-7 ms,
which the reactor would otherwise spend on it alone.
"""

from __future__ import annotations

import zlib

#: The C{Accept-Encoding} of a page request.
PAGE_ENCODINGS = "gzip"


class UndecodableBody(ValueError):
    """
    A body in a coding that was not asked for, that does not decode, or
    that decodes to more than allowed.
    """


def decodeBody(coding: str, body: bytes, limit: int) -> bytes:
    """
    C{body}, sent with C{Content-Encoding: coding}, decoded.

    @param coding: the header's value (C{""} when there was none).
    @param limit: the most bytes the decoded body may have; a small body
        that decodes to more (a "zip bomb") is refused without being
        decoded further.
    @raise UndecodableBody: see there.
    """
    codings = [c.strip().lower() for c in coding.split(",") if c.strip()]
    if not codings or codings == ["identity"]:
        return body
    if codings not in (["gzip"], ["x-gzip"]):
        raise UndecodableBody(f"Content-Encoding {coding!r} was not asked for")
    pieces = []
    size = 0
    rest = body
    # A gzip body may hold several members, one after the other.
    while rest:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            piece = decompressor.decompress(rest, limit + 1 - size)
        except zlib.error as e:
            raise UndecodableBody(f"not gzip: {e}") from None
        size += len(piece)
        if size > limit:
            raise UndecodableBody(f"decodes to more than {limit} bytes")
        pieces.append(piece)
        if not decompressor.eof:
            raise UndecodableBody("gzip data cut short")
        rest = decompressor.unused_data
    return b"".join(pieces)
