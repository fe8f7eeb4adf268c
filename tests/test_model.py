"""
Tests for L{cheesecache.simple.model}.
"""

from __future__ import annotations

import attrs
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple.model import DistFile, checkedHash


def fresh(text: str) -> str:
    """
    A string equal to C{text} that is not the same object.
    """
    return "".join(list(text))


class SharedValuesTests(SynchronousTestCase):
    """
    Values that many files repeat are one object, so that a page of many
    thousand files does not hold as many copies.
    """

    def test_hashNames(self) -> None:
        """
        Files share their hash names, however they were spelled.
        """
        a = DistFile("a-1.0.tar.gz", "u", hashes={fresh("SHA256"): "a" * 64})
        b = DistFile("b-1.0.tar.gz", "u", hashes={fresh("sha256"): "b" * 64})
        (nameA,), (nameB,) = a.hashes, b.hashes
        self.assertEqual(nameA, "sha256")
        self.assertIs(nameA, nameB)

    def test_requiresPython(self) -> None:
        """
        Files share an equal requires-python, also through C{attrs.evolve};
        C{None} stays C{None}.
        """
        a = DistFile("a-1.0.tar.gz", "u", requiresPython=fresh(">=3.8"))
        b = DistFile("b-1.0.tar.gz", "u", requiresPython=fresh(">=3.8"))
        self.assertEqual(a.requiresPython, ">=3.8")
        self.assertIs(a.requiresPython, b.requiresPython)
        self.assertIs(attrs.evolve(a, requiresPython=fresh(">=3.8")).requiresPython, a.requiresPython)
        self.assertIsNone(DistFile("c-1.0.tar.gz", "u").requiresPython)


class CheckedHashTests(SynchronousTestCase):
    """
    The hash a file's bytes are checked against.
    """

    def test_preference(self) -> None:
        """
        The sha256 when there is one, else the strongest other of hashlib's
        guaranteed ones; one it does not know is never chosen.
        """
        digests = {name: "0" * length for name, length in [
            ("md5", 32), ("sha1", 40), ("sha224", 56), ("sha256", 64),
            ("sha384", 96), ("sha512", 128),
        ]}
        order = ["sha256", "sha512", "sha384", "sha224", "sha1", "md5"]
        for i, name in enumerate(order):
            given = {n: digests[n] for n in order[i:]}
            self.assertEqual(checkedHash(given), (name, digests[name]))
            f = DistFile(filename="a-1.0.tar.gz", url="http://x/a-1.0.tar.gz", hashes=given)
            self.assertEqual(f.checkedHash, (name, digests[name]))
            self.assertTrue(f.verified)
        self.assertIsNone(checkedHash({"blake2b": "0" * 128}))
        self.assertFalse(DistFile(filename="a-1.0.tar.gz", url="http://x/a-1.0.tar.gz").verified)


class DigestLengthTests(SynchronousTestCase):
    """
    Digests of the wrong length for their hash name are dropped.
    """

    def test_hashlibLengths(self) -> None:
        """
        A digest under a hashlib name is kept only at the length hashlib's
        algorithm of that name gives: a C{blake2b} of 64 hex digits (a
        blake2b-256, which C{hashlib.new("blake2b")} is not) would be
        listed on cheesecache's JSON page, and pip, which reads it as
        hashlib's blake2b, would refuse the file it installs from the
        upstream's HTML page (where it reads no blake2b).
        """
        import hashlib

        for name in ("blake2b", "blake2s", "sha3_224", "sha3_256", "sha3_384", "sha3_512"):
            right = hashlib.new(name, b"x").hexdigest()
            f = DistFile("a-1.0.tar.gz", "http://x/a-1.0.tar.gz", hashes={name: right})
            self.assertEqual(dict(f.hashes), {name: right}, name)
            for wrong in (right[:-2], right + "00"):
                f = DistFile("a-1.0.tar.gz", "http://x/a-1.0.tar.gz", hashes={name: wrong})
                self.assertEqual(dict(f.hashes), {}, name)
