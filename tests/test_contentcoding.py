"""
Tests for L{cheesecache.contentcoding}: decoding upstream pages.
"""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.contentcoding import BodyDecoder, UndecodableBody


def _fed(coding: str, pieces: list, limit: int) -> bytes:
    decoder = BodyDecoder(coding, limit)
    decoded = b"".join(decoder.feed(piece) for piece in pieces)
    decoder.finish()
    return decoded


def decodeBody(coding: str, body: bytes, limit: int) -> bytes:
    """
    C{body} decoded in one piece.
    """
    return _fed(coding, [body], limit)


def _cut(data: bytes, at: list) -> list:
    """
    C{data} cut at the offsets C{at}.
    """
    points = sorted({0, len(data), *(min(a, len(data)) for a in at)})
    return [data[a:b] for a, b in zip(points, points[1:])]


class BodyDecoderTests(SynchronousTestCase):
    """
    L{BodyDecoder} decodes a body piece by piece, however it is cut.
    """

    @given(
        st.lists(st.binary(max_size=2048), min_size=1, max_size=3),
        st.lists(st.integers(min_value=0, max_value=6000), max_size=8),
    )
    def test_anyPieces(self, members: list, at: list) -> None:
        """
        A body of one gzip member or more, cut anywhere, decodes to what
        was gzipped.
        """
        body = b"".join(gzip.compress(m) for m in members)
        self.assertEqual(_fed("gzip", _cut(body, at), 6144), b"".join(members))

    def test_cutShort(self) -> None:
        """
        A body that ends inside a gzip member is refused when it ends,
        whatever was decoded of it so far.
        """
        body = gzip.compress(b"page " * 1000)
        decoder = BodyDecoder("gzip", 10_000)
        self.assertTrue(decoder.feed(body[:-10]))
        with self.assertRaises(UndecodableBody) as caught:
            decoder.finish()
        self.assertIn("cut short", str(caught.exception))

    def test_limitAcrossPieces(self) -> None:
        """
        The limit holds for the whole body, not for each piece, as it is
        and gzipped.
        """
        with self.assertRaises(UndecodableBody):
            _fed("", [b"x" * 600, b"x" * 600], 1000)
        body = gzip.compress(bytes(1200))
        with self.assertRaises(UndecodableBody):
            _fed("gzip", _cut(body, [len(body) // 2]), 1000)
        self.assertEqual(_fed("", [b"x" * 500, b"x" * 500], 1000), b"x" * 1000)

    def test_codingRefusedAtOnce(self) -> None:
        """
        A coding that was not asked for is refused before any of the body
        is read.
        """
        with self.assertRaises(UndecodableBody):
            BodyDecoder("br", 100)


class DecodeBodyTests(SynchronousTestCase):
    """
    L{BodyDecoder} given a whole body gives a page's bytes as they were
    before coding, or refuses them.
    """

    @given(st.binary(max_size=4096), st.sampled_from(["gzip", "x-gzip", "GZip ", " gzip"]))
    def test_gzip(self, data: bytes, coding: str) -> None:
        """
        A gzipped body decodes to what was gzipped, whatever the label's
        case and spaces.
        """
        self.assertEqual(decodeBody(coding, gzip.compress(data), 4096), data)

    def test_identity(self) -> None:
        """
        A body with no coding, or C{identity}, is what came.
        """
        for coding in ("", "identity", " Identity"):
            self.assertEqual(decodeBody(coding, b"\x1f\x8b not gzip", 100), b"\x1f\x8b not gzip")

    def test_members(self) -> None:
        """
        A body of several gzip members, one after the other, decodes to
        all of them.
        """
        body = gzip.compress(b"one, ") + gzip.compress(b"two")
        self.assertEqual(decodeBody("gzip", body, 100), b"one, two")

    def test_limit(self) -> None:
        """
        A body decoding to more than the limit is refused, and not decoded
        much past it: 64 MiB of zeros, gzipped to some 64 KiB.
        """
        bomb = gzip.compress(bytes(64 * 1024 * 1024))
        self.assertLess(len(bomb), 100 * 1024)
        with self.assertRaises(UndecodableBody) as caught:
            decodeBody("gzip", bomb, 1000)
        self.assertIn("more than 1000 bytes", str(caught.exception))
        self.assertEqual(decodeBody("gzip", gzip.compress(bytes(1000)), 1000), bytes(1000))
        # Past the limit in a second member.
        with self.assertRaises(UndecodableBody):
            decodeBody("gzip", gzip.compress(bytes(600)) + gzip.compress(bytes(600)), 1000)

    def test_broken(self) -> None:
        """
        A body that is not gzip, one cut short, and one followed by bytes
        that are not gzip, are refused.
        """
        whole = gzip.compress(b"page " * 1000)
        for body in (b"not gzip at all", whole[: len(whole) // 2], whole + b"trailing"):
            with self.assertRaises(UndecodableBody):
                decodeBody("gzip", body, 10_000)

    def test_notAskedFor(self) -> None:
        """
        Codings other than gzip (only gzip is asked for), and codings
        applied on top of each other, are refused.
        """
        deflated = zlib.compress(b"page")
        for coding in ("br", "deflate", "zstd", "gzip, gzip", "identity, gzip"):
            with self.assertRaises(UndecodableBody) as caught:
                decodeBody(coding, deflated, 100)
            self.assertIn("not asked for", str(caught.exception))
