"""
Tests for L{cheesecache.contentcoding}: decoding upstream pages.
"""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.contentcoding import UndecodableBody, decodeBody


class DecodeBodyTests(SynchronousTestCase):
    """
    L{decodeBody} gives a page's bytes as they were before coding, or
    refuses them.
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
            self.assertEqual(decodeBody(coding, b"\x1f\x8b not gzip", 5), b"\x1f\x8b not gzip")

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
