"""
Tests for L{cheesecache.via}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.via import MAX_HOPS, MAX_LENGTH, formatVia, isOverlong, parseVia


class ViaTests(SynchronousTestCase):
    """
    Parsing and formatting C{Via}.
    """

    def test_roundTrip(self) -> None:
        """
        A formatted chain parses back to the same pseudonyms.
        """
        self.assertEqual(parseVia(formatVia(["a", "b"])), ("a", "b"))

    def test_foreignHops(self) -> None:
        """
        Other proxies' entries, comments and bytes headers are understood.
        """
        self.assertEqual(
            parseVia(b"1.0 fred, 1.1 p.example.net (Apache/1.1), HTTP/2 me"),
            ("fred", "p.example.net", "me"),
        )
        self.assertEqual(parseVia(None), ())
        self.assertEqual(parseVia(""), ())

    def test_overlong(self) -> None:
        """
        A chain is overlong past L{MAX_HOPS} hops, or once passed on it
        would be longer than L{MAX_LENGTH} bytes, however few its hops.
        """
        self.assertFalse(isOverlong(()))
        self.assertFalse(isOverlong(("a",) * MAX_HOPS))
        self.assertTrue(isOverlong(("a",) * (MAX_HOPS + 1)))
        self.assertFalse(isOverlong(("a" * (MAX_LENGTH - 4),)))
        self.assertTrue(isOverlong(("a" * (MAX_LENGTH - 3),)))
