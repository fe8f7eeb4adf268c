# -*- test-case-name: tests.test_contentcoding -*-
"""
The content codings of upstream pages: what is asked for, and decoding
what comes.

Pages are asked for gzipped (an index page shrinks to a fifth or less) and
decoded a piece at a time as they arrive, so that no one turn of the
reactor decodes a whole page (5-7 ms for one of 2.3 MB).  Decoding in a
thread instead held some 7 MB more in the allocator once big pages had
been fetched, for no time that showed.
"""

from __future__ import annotations

import zlib
from typing import Optional

import attrs

#: The C{Accept-Encoding} of a page request.
PAGE_ENCODINGS = "gzip"


class UndecodableBody(ValueError):
    """
    A body in a coding that was not asked for, that does not decode, or
    that decodes to more than allowed.
    """


def _gzipped(coding: str) -> bool:
    """
    Is a body sent with C{Content-Encoding: coding} gzipped (C{False}: as
    it is)?

    @raise UndecodableBody: a coding that was not asked for.
    """
    codings = [c.strip().lower() for c in coding.split(",") if c.strip()]
    if not codings or codings == ["identity"]:
        return False
    if codings in (["gzip"], ["x-gzip"]):
        return True
    raise UndecodableBody(f"Content-Encoding {coding!r} was not asked for")


@attrs.define
class BodyDecoder:
    """
    Decodes a body sent with C{Content-Encoding: coding}, piece by piece.

    @ivar limit: the most bytes the decoded body may have: a small body
        that decodes to more (a "zip bomb") is refused before more than
        that is decoded.
    @raise UndecodableBody: from the constructor, a coding that was not
        asked for; from L{feed} and L{finish}, see there.
    """

    coding: str
    limit: int
    _gzip: bool = attrs.field(init=False)
    _decompressor: Optional["zlib._Decompress"] = attrs.field(init=False, default=None)
    _size: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self._gzip = _gzipped(self.coding)

    def feed(self, data: bytes) -> bytes:
        """
        The decoded bytes of the next piece C{data}.

        @raise UndecodableBody: it does not decode, or the body decodes to
            more than L{limit}.
        """
        if not self._gzip:
            return self._counted(data)
        pieces = []
        # A gzip body may hold several members, one after the other.
        while data:
            if self._decompressor is None:
                self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                piece = self._decompressor.decompress(data, self.limit + 1 - self._size)
            except zlib.error as e:
                raise UndecodableBody(f"not gzip: {e}") from None
            pieces.append(self._counted(piece))
            if self._decompressor.eof:
                data = self._decompressor.unused_data
                self._decompressor = None
            elif self._decompressor.unconsumed_tail:
                # The output was cut at the limit: refused above already.
                raise UndecodableBody(f"decodes to more than {self.limit} bytes")
            else:
                data = b""
        return b"".join(pieces)

    def finish(self) -> None:
        """
        The body is over.

        @raise UndecodableBody: its last gzip member was cut short.
        """
        if self._decompressor is not None:
            raise UndecodableBody("gzip data cut short")

    def _counted(self, piece: bytes) -> bytes:
        self._size += len(piece)
        if self._size > self.limit:
            raise UndecodableBody(f"decodes to more than {self.limit} bytes")
        return piece

