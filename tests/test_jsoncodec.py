"""
Tests for L{cheesecache.simple.jsoncodec}: the same JSON with orjson as
with the standard library.
"""

from __future__ import annotations

import json
import platform
from typing import Any
from unittest import SkipTest

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple import jsoncodec
from cheesecache.simple.jsoncodec import dumps, dumpsStandard, loads

#: What pages are made of: strings of any characters but lone surrogates,
#: integers of any size, booleans, None, lists and objects.
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


class DumpsTests(SynchronousTestCase):
    def test_installed(self) -> None:
        """
        orjson is there to test (it is a dependency on CPython).
        """
        if platform.python_implementation() != "CPython":
            raise SkipTest("orjson is a dependency on CPython only")
        self.assertIsNotNone(jsoncodec.orjson)

    @settings(max_examples=300, deadline=None)
    @given(_values)
    def test_sameAsStandard(self, value: Any) -> None:
        """
        L{dumps} writes the bytes the standard library writes, compact and
        in UTF-8, integers past 64 bits included; and those decode back.
        """
        self.assertEqual(dumps(value), dumpsStandard(value))
        self.assertEqual(json.loads(dumps(value)), value)

    def test_characters(self) -> None:
        """
        Non-ASCII is written as it is, control characters and quotes are
        escaped.
        """
        value = {"caf\u00e9": "\x00\x1f\t\n\"\\/\u2028\U0001f600\x7f"}
        self.assertEqual(
            dumps(value),
            '{"caf\u00e9":"\\u0000\\u001f\\t\\n\\"\\\\/\u2028\U0001f600\x7f"}'.encode("utf-8"),
        )

    def test_loneSurrogate(self) -> None:
        """
        A lone surrogate cannot be written, with either.
        """
        self.assertRaises(UnicodeEncodeError, dumps, {"a": "x\ud800"})
        self.assertRaises(UnicodeEncodeError, dumpsStandard, {"a": "x\ud800"})

    def test_withoutOrjson(self) -> None:
        """
        Without orjson, the standard library writes.
        """
        self.patch(jsoncodec, "orjson", None)
        self.assertEqual(dumps({"a": [1, "\u00e9"]}), '{"a":[1,"\u00e9"]}'.encode("utf-8"))


class LoadsTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
            | st.floats(allow_nan=False) | st.text(),
            lambda children: st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4),
            max_leaves=20,
        ),
        st.sampled_from([None, 1]),
    )
    def test_sameAsStandard(self, value: Any, indent: Any) -> None:
        """
        L{loads} reads what C{json.loads} reads, infinities included, as
        text or bytes.
        """
        text = json.dumps(value, indent=indent, ensure_ascii=False)
        self.assertEqual(loads(text), value)
        self.assertEqual(loads(text.encode("utf-8")), value)

    def test_standardOnly(self) -> None:
        """
        What only the standard library reads (NaN, a lone surrogate
        escape) is read by it.
        """
        self.assertTrue(all(v != v for v in loads("[NaN]")))
        self.assertEqual(loads('"\\ud800"'), "\ud800")

    def test_bigIntegers(self) -> None:
        """
        An integer past 64 bits is read as a float with orjson, exactly
        without.
        """
        self.assertEqual(loads("[1" + "0" * 30 + "]"), [1e30])
        self.patch(jsoncodec, "orjson", None)
        self.assertEqual(loads("[1" + "0" * 30 + "]"), [10**30])

    def test_notJSON(self) -> None:
        """
        What is not JSON is a C{ValueError}, with either.
        """
        for text in ["", "{", '{"a": 1,}', "[1] x", "{a: 1}"]:
            self.assertRaises(ValueError, loads, text)
            self.patch(jsoncodec, "orjson", None)
            self.assertRaises(ValueError, loads, text)
