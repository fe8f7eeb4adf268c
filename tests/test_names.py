"""
Tests for L{cheesecache.simple.names}.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple.names import MAX_NAME_LENGTH, isSafeFilename, isValidName, normalize

#: Names made only of the characters a valid project name may contain.
_nameCharacters = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
    min_size=1,
    max_size=30,
)


class NormalizeTests(SynchronousTestCase):
    """
    Tests for L{normalize}.
    """

    def test_specExample(self) -> None:
        """
        The name-normalization specification's example normalizes as it says.
        """
        self.assertEqual(normalize("FrIeNdLy-._.-bArD"), "friendly-bard")

    def test_separatorsCollapse(self) -> None:
        """
        Every run of C{-}, C{_} and C{.} becomes a single C{-}.
        """
        self.assertEqual(normalize("Foo.Bar"), "foo-bar")
        self.assertEqual(normalize("foo__bar"), "foo-bar")
        self.assertEqual(normalize("foo-_-.bar"), "foo-bar")
        self.assertEqual(normalize("a.b_c-d"), "a-b-c-d")

    def test_lowercase(self) -> None:
        """
        Letters become lower case; digits are kept.
        """
        self.assertEqual(normalize("Django"), "django")
        self.assertEqual(normalize("PyYAML6"), "pyyaml6")

    def test_alreadyNormal(self) -> None:
        """
        A normalized name is its own normal form.
        """
        for name in ("requests", "foo-bar", "zope-interface", "a", "x1-2"):
            self.assertEqual(normalize(name), name)

    @given(_nameCharacters)
    def test_idempotent(self, name: str) -> None:
        """
        Normalizing twice gives the same as normalizing once.
        """
        once = normalize(name)
        self.assertEqual(normalize(once), once)

    @given(_nameCharacters)
    def test_noUnderscoresOrDots(self, name: str) -> None:
        """
        A normalized name has no C{_}, no C{.}, no upper case and no C{--}.
        """
        result = normalize(name)
        self.assertNotIn("_", result)
        self.assertNotIn(".", result)
        self.assertNotIn("--", result)
        self.assertEqual(result, result.lower())

    @given(_nameCharacters)
    def test_caseAndSeparatorInsensitive(self, name: str) -> None:
        """
        Names differing only in case and separator spelling normalize alike.
        """
        variant = name.upper().replace("-", "_.").replace(".", "-")
        self.assertEqual(normalize(variant), normalize(name))


    @given(st.text(max_size=30))
    def test_specificationRule(self, name: str) -> None:
        """
        Whatever the text, the result is the specification's rule applied
        as written: C{re.sub(r"[-_.]+", "-", name).lower()}.
        """
        self.assertEqual(normalize(name), re.sub(r"[-_.]+", "-", name).lower())

    def test_hyphenRuns(self) -> None:
        """
        A run of hyphens alone (nothing else to collapse) becomes one.
        """
        self.assertEqual(normalize("Foo---Bar"), "foo-bar")
        self.assertEqual(normalize("foo-bar--"), "foo-bar-")


class IsValidNameTests(SynchronousTestCase):
    """
    Tests for L{isValidName}.
    """

    def test_valid(self) -> None:
        """
        Letters, digits and inner separators make valid names, in any case.
        """
        for name in ("a", "A", "0", "requests", "Foo.Bar", "foo_bar", "zope.interface",
                     "FrIeNdLy-._.-bArD", "x1", "1x"):
            self.assertTrue(isValidName(name), name)

    def test_leadingOrTrailingSeparator(self) -> None:
        """
        A name may not start or end with C{-}, C{_} or C{.}.
        """
        for name in ("-foo", "foo-", "_foo", "foo_", ".foo", "foo.", "-", "."):
            self.assertFalse(isValidName(name), name)

    def test_empty(self) -> None:
        """
        The empty name is invalid.
        """
        self.assertFalse(isValidName(""))

    def test_tooLong(self) -> None:
        """
        A name longer than L{MAX_NAME_LENGTH} is invalid: pages and records
        are stored under their names, which must fit a file name.
        """
        self.assertTrue(isValidName("a" * MAX_NAME_LENGTH))
        self.assertFalse(isValidName("a" * (MAX_NAME_LENGTH + 1)))

    def test_otherCharacters(self) -> None:
        """
        Spaces, slashes, non-ASCII letters and other punctuation are invalid.
        """
        for name in ("foo bar", "foo/bar", "foo\\bar", "caf\u00e9", "foo+bar",
                     "foo@1", "../etc", "foo\x00", "\u0661"):
            self.assertFalse(isValidName(name), repr(name))

    def test_nonASCIILettersMatchingASCIIOnesIgnoringCase(self) -> None:
        """
        Letters outside ASCII that match an ASCII letter when case is
        ignored (the Kelvin sign, the long s, the dotless i, the dotted
        capital I) do not make a valid name.
        """
        for name in ("\u212a", "a\u212ab", "\u017f", "\u0131", "\u0130", "fo\u0130o"):
            self.assertFalse(isValidName(name), repr(name))

    def test_trailingNewline(self) -> None:
        """
        A trailing newline does not sneak past the end anchor.
        """
        self.assertFalse(isValidName("foo\n"))


class IsSafeFilenameTests(SynchronousTestCase):
    """
    Tests for L{isSafeFilename}.
    """

    def test_distributionFilenames(self) -> None:
        """
        Ordinary wheel and sdist names, including C{+} and C{!}, are safe.
        """
        for filename in ("foo_bar-1.0-py3-none-any.whl", "foo_bar-1.0.tar.gz",
                         "foo_bar-2.0+local-py3-none-any.whl", "foo-1!2.0.zip",
                         "foo_bar-1.0-py3-none-any.whl.metadata"):
            self.assertTrue(isSafeFilename(filename), filename)

    def test_emptyAndDots(self) -> None:
        """
        The empty name, C{.} and C{..} are not safe.
        """
        for filename in ("", ".", ".."):
            self.assertFalse(isSafeFilename(filename), repr(filename))

    def test_separators(self) -> None:
        """
        Forward and back slashes are not safe anywhere in the name.
        """
        for filename in ("a/b.whl", "/etc/passwd", "a\\b.whl", "..\\x", "x/"):
            self.assertFalse(isSafeFilename(filename), repr(filename))

    def test_parentReference(self) -> None:
        """
        Any C{..} inside the name is refused.
        """
        self.assertFalse(isSafeFilename("foo..bar.whl"))
        self.assertFalse(isSafeFilename("..foo"))

    def test_controlCharacters(self) -> None:
        """
        NUL, other C0 controls and DEL are not safe.
        """
        for c in ("\x00", "\n", "\r", "\t", "\x1f", "\x7f"):
            self.assertFalse(isSafeFilename(f"foo{c}.whl"), repr(c))

    def test_nonASCIIPrintable(self) -> None:
        """
        Printable non-ASCII characters are allowed.
        """
        self.assertTrue(isSafeFilename("caf\u00e9-1.0.tar.gz"))
