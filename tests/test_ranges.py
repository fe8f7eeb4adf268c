"""
Tests for L{cheesecache.web.ranges}.
"""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import datetimeToString

from cheesecache.web.ranges import (
    FileValidators,
    byteRanges,
    httpDate,
    ifRangeHolds,
    isNotModified,
    multipartRanges,
    noneMatch,
    selectRanges,
)

#: A file's validators: its tag and its Last-Modified (2021-01-01).
FILE = FileValidators("abc", 1609459200)
SAME_DATE = datetimeToString(FILE.lastModified)


class ByteRangesTests(SynchronousTestCase):
    """
    L{byteRanges}: what a C{Range} header asks for of a file of 100 bytes.
    """

    def test_single(self) -> None:
        """
        A range gives its offset and length; one running past the end stops
        there; an open one runs to the end.
        """
        self.assertEqual(byteRanges(b"bytes=10-19", 100), [(10, 10)])
        self.assertEqual(byteRanges(b"bytes=90-199", 100), [(90, 10)])
        self.assertEqual(byteRanges(b"bytes=0-", 100), [(0, 100)])
        self.assertEqual(byteRanges(b"bytes=99-99", 100), [(99, 1)])
        self.assertEqual(byteRanges(b" Bytes = 5-6 ", 100), [(5, 2)])

    def test_suffix(self) -> None:
        """
        A suffix is the file's last bytes; one longer than the file is all
        of it (RFC 9110, 14.1.2), never a negative offset.
        """
        self.assertEqual(byteRanges(b"bytes=-22", 100), [(78, 22)])
        self.assertEqual(byteRanges(b"bytes=-100", 100), [(0, 100)])
        self.assertEqual(byteRanges(b"bytes=-200", 100), [(0, 100)])

    def test_several(self) -> None:
        """
        Several ranges come in the order asked, without those that cannot
        be served; empty list elements are allowed.
        """
        self.assertEqual(
            byteRanges(b"bytes=50-59, 0-9,,-5", 100), [(50, 10), (0, 10), (95, 5)]
        )
        self.assertEqual(byteRanges(b"bytes=200-300,0-1,150-", 100), [(0, 2)])

    def test_unsatisfiable(self) -> None:
        """
        No range of the set overlapping the file: an empty list (416).
        """
        for value in (b"bytes=100-", b"bytes=100-200", b"bytes=-0", b"bytes=110-120,130-"):
            self.assertEqual(byteRanges(value, 100), [], value)

    def test_overlapping(self) -> None:
        """
        Ranges that together are longer than the file (they overlap) are
        ignored: the whole file, once.  Served, C{bytes=0-,0-,...} from a
        header of a few KiB made an answer of the file thousands of times
        over (RFC 9110, 14.2, allows ignoring them).
        """
        self.assertIsNone(byteRanges(b"bytes=" + b"0-," * 4000, 100))
        self.assertIsNone(byteRanges(b"bytes=0-59,40-99", 100))
        self.assertIsNone(byteRanges(b"bytes=-60,0-59", 100))
        # Overlapping, but not longer than the file: served as asked.
        self.assertEqual(byteRanges(b"bytes=0-9,5-14", 100), [(0, 10), (5, 10)])

    def test_hugeNumbers(self) -> None:
        """
        Positions of more digits than C{int()} takes (over 4300: a
        C{ValueError}, a 500) are past the end of the file, however long:
        a range from there cannot be served, a suffix that long is all of
        the file, and leading zeros count for nothing.
        """
        huge = b"9" * 5000
        self.assertEqual(byteRanges(b"bytes=" + huge + b"-", 100), [])
        self.assertEqual(byteRanges(b"bytes=" + huge + b"-" + huge, 100), [])
        self.assertEqual(byteRanges(b"bytes=10-" + huge, 100), [(10, 90)])
        self.assertEqual(byteRanges(b"bytes=-" + huge, 100), [(0, 100)])
        self.assertIsNone(byteRanges(b"bytes=" + huge + b"-5", 100))
        self.assertEqual(byteRanges(b"bytes=" + b"0" * 5000 + b"5-6", 100), [(5, 2)])

    def test_ignored(self) -> None:
        """
        A header in another unit, malformed, or for a file of no bytes is
        ignored (C{None}: the whole file).
        """
        for value in (
            b"", b"bytes", b"bytes=", b"bytes=,", b"items=0-1", b"bytes=5", b"bytes=-",
            b"bytes=9-5", b"bytes=a-5", b"bytes=5-b", b"bytes=+5-6", b"bytes=0-1,x",
            b"bytes=1_0-20",
        ):
            self.assertIsNone(byteRanges(value, 100), value)
        self.assertIsNone(byteRanges(b"bytes=0-", 0))


class ConditionTests(SynchronousTestCase):
    """
    L{noneMatch}, L{isNotModified} and L{ifRangeHolds}.
    """

    def test_noneMatch(self) -> None:
        """
        C{If-None-Match} is a list of tags compared weakly, or C{*}.
        """
        for value in (b'"abc"', b'"x", "abc"', b'W/"abc"', b'"x",W/"abc"', b"*", b" * "):
            self.assertTrue(noneMatch(value, "abc"), value)
        for value in (b'"abcd"', b'"x"', b"abc", b"", b'"a,bc"'):
            self.assertFalse(noneMatch(value, "abc"), value)
        self.assertTrue(noneMatch(b"*", None))
        self.assertFalse(noneMatch(b'"abc"', None))

    def test_notModifiedSince(self) -> None:
        """
        Without C{If-None-Match}, C{If-Modified-Since} a date at or after
        the file's makes a 304; anything else does not.
        """
        self.assertTrue(isNotModified(None, SAME_DATE, FILE))
        self.assertTrue(isNotModified(None, SAME_DATE + b"; length=3", FILE))
        self.assertTrue(isNotModified(None, b"Fri, 01 Jan 2100 00:00:00 GMT", FILE))
        for value in (b"Thu, 31 Dec 2020 23:59:59 GMT", b"yesterday", b" ", b"\xff"):
            self.assertFalse(isNotModified(None, value, FILE), value)
        self.assertFalse(isNotModified(None, None, FILE))

    def test_ifNoneMatchFirst(self) -> None:
        """
        With C{If-None-Match}, C{If-Modified-Since} is ignored (RFC 9110,
        13.1.3): the tags alone decide.
        """
        self.assertFalse(isNotModified(b'"other"', SAME_DATE, FILE))
        self.assertTrue(isNotModified(b'"abc"', b"Thu, 01 Jan 1998 00:00:00 GMT", FILE))

    def test_ifRange(self) -> None:
        """
        C{If-Range} holds only for the file's own strong tag or its very
        C{Last-Modified}.
        """
        self.assertTrue(ifRangeHolds(b'"abc"', FILE))
        self.assertTrue(ifRangeHolds(b' "abc" ', FILE))
        self.assertTrue(ifRangeHolds(SAME_DATE, FILE))
        for value in (
            b'"other"', b'W/"abc"', b'"abc", "x"', b"abc", b"",
            b"Thu, 01 Jan 1998 00:00:00 GMT", b"Fri, 01 Jan 2100 00:00:00 GMT",
        ):
            self.assertFalse(ifRangeHolds(value, FILE), value)
        self.assertFalse(ifRangeHolds(b'"abc"', FileValidators(None, FILE.lastModified)))

    def test_selectRanges(self) -> None:
        """
        A range is served only when C{If-Range}, if any, holds; otherwise
        the whole file is.
        """
        self.assertIsNone(selectRanges(None, None, 100, FILE))
        self.assertEqual(selectRanges(b"bytes=1-2", None, 100, FILE), [(1, 2)])
        self.assertEqual(selectRanges(b"bytes=1-2", b'"abc"', 100, FILE), [(1, 2)])
        self.assertIsNone(selectRanges(b"bytes=1-2", b'"other"', 100, FILE))
        self.assertIsNone(selectRanges(b"bytes=200-", b'"other"', 100, FILE))

    def test_httpDate(self) -> None:
        """
        The three forms of HTTP-date are read; anything else is C{None}.
        """
        for value in (
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ):
            self.assertEqual(httpDate(value), 784111777, value)
        for value in (b"", b" ", b"\xff", b"Sun, 06 Xyz 1994 08:49:37 GMT", b'"abc"'):
            self.assertIsNone(httpDate(value), value)


class MultipartTests(SynchronousTestCase):
    """
    L{multipartRanges}.
    """

    def test_parts(self) -> None:
        """
        Each part is preceded by its delimiter and headers, the body ends
        with the closing delimiter, and the length counts every byte.
        """
        data = bytes(range(100))
        parts, length = multipartRanges([(10, 5), (90, 10)], 100, b"BOUND", b"x/y")
        self.assertEqual(
            parts,
            [
                (b"\r\n--BOUND\r\nContent-Type: x/y\r\nContent-Range: bytes 10-14/100\r\n\r\n",
                 10, 5),
                (b"\r\n--BOUND\r\nContent-Type: x/y\r\nContent-Range: bytes 90-99/100\r\n\r\n",
                 90, 10),
                (b"\r\n--BOUND--\r\n", 0, 0),
            ],
        )
        body = b"".join(head + data[offset : offset + size] for head, offset, size in parts)
        self.assertEqual(len(body), length)
