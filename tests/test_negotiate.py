"""
Tests for L{cheesecache.simple.negotiate}: the tables of SIMPLE-API.md
section 1.6 and cases 10-19 of section 6.B, plus the RFC 9110 corners.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple.negotiate import OFFERS, negotiate

JSON = "application/vnd.pypi.simple.v1+json"
V1HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"

PIP = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
UV = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
POETRY = "application/vnd.pypi.simple.v1+json, */*;q=0.1"


class ClientHeaderTests(SynchronousTestCase):
    """
    What the real clients send gets the representation they prefer.
    """

    def test_pip(self) -> None:
        """
        pip's (and pdm's) header gets JSON (case 10).
        """
        self.assertEqual(negotiate(PIP), JSON)

    def test_uv(self) -> None:
        """
        uv's header gets JSON (case 11).
        """
        self.assertEqual(negotiate(UV), JSON)

    def test_poetry(self) -> None:
        """
        poetry's header, with its C{*/*;q=0.1}, gets JSON (case 12).
        """
        self.assertEqual(negotiate(POETRY), JSON)

    def test_renovateRetry(self) -> None:
        """
        Without an Accept header (renovate's retry) the answer is text/html.
        """
        self.assertEqual(negotiate(None), TEXT_HTML)


class SpecTableTests(SynchronousTestCase):
    """
    The single-header cases of the section 1.6 table and section 6.B.
    """

    def test_textHTML(self) -> None:
        """
        C{text/html} gets C{text/html} (case 13).
        """
        self.assertEqual(negotiate("text/html"), TEXT_HTML)

    def test_v1HTML(self) -> None:
        """
        The versioned HTML type is answered with itself (case 14).
        """
        self.assertEqual(negotiate(V1HTML), V1HTML)

    def test_v1JSON(self) -> None:
        """
        The versioned JSON type alone gets JSON.
        """
        self.assertEqual(negotiate(JSON), JSON)

    def test_equalQualityGoesToServerOrder(self) -> None:
        """
        Three types at equal q: the server's first preference, text/html,
        wins whatever order the client lists them in (case 15).
        """
        self.assertEqual(negotiate(f"{TEXT_HTML}, {V1HTML}, {JSON}"), TEXT_HTML)
        self.assertEqual(negotiate(f"{JSON}, {V1HTML}, {TEXT_HTML}"), TEXT_HTML)

    def test_equalQualityHTMLFlavours(self) -> None:
        """
        v1+html and v1+json at equal q: v1+html comes first in server order.
        """
        self.assertEqual(negotiate(f"{JSON}, {V1HTML}"), V1HTML)

    def test_missing(self) -> None:
        """
        A missing header means C{*/*}, answered with text/html (case 16).
        """
        self.assertEqual(negotiate(None), TEXT_HTML)

    def test_emptyHeader(self) -> None:
        """
        An empty header is treated like a missing one.
        """
        self.assertEqual(negotiate(""), TEXT_HTML)

    def test_anything(self) -> None:
        """
        C{*/*} gets text/html (case 16).
        """
        self.assertEqual(negotiate("*/*"), TEXT_HTML)

    def test_unacceptableFallsBackToHTML(self) -> None:
        """
        Nothing acceptable (C{text/plain}, C{application/json}) still gets
        text/html, never a 406 or 300 (case 17).
        """
        self.assertEqual(negotiate("text/plain"), TEXT_HTML)
        self.assertEqual(negotiate("application/json"), TEXT_HTML)
        self.assertEqual(negotiate("image/png, text/plain;q=0.5"), TEXT_HTML)

    def test_applicationWildcard(self) -> None:
        """
        C{application/*} gets v1+html, the first application type in server
        order.
        """
        self.assertEqual(negotiate("application/*"), V1HTML)

    def test_latestJSON(self) -> None:
        """
        C{latest+json} is answered with the real versioned JSON type (case 18).
        """
        self.assertEqual(negotiate("application/vnd.pypi.simple.latest+json"), JSON)

    def test_latestHTML(self) -> None:
        """
        C{latest+html} is answered with the real versioned HTML type.
        """
        self.assertEqual(negotiate("application/vnd.pypi.simple.latest+html"), V1HTML)

    def test_latestWithQuality(self) -> None:
        """
        C{latest} ranges keep their q-values.
        """
        self.assertEqual(
            negotiate(
                "application/vnd.pypi.simple.latest+html;q=0.5, "
                "application/vnd.pypi.simple.latest+json"
            ),
            JSON,
        )
        self.assertEqual(
            negotiate(
                "application/vnd.pypi.simple.latest+html, "
                "application/vnd.pypi.simple.latest+json;q=0.5"
            ),
            V1HTML,
        )

    def test_qZeroExcludes(self) -> None:
        """
        C{q=0} makes a type unacceptable even if nothing else is better
        (case 19).
        """
        self.assertEqual(negotiate(f"{JSON};q=0, text/html"), TEXT_HTML)
        self.assertEqual(negotiate(f"{JSON};q=0, {V1HTML};q=0.001"), V1HTML)

    def test_qZeroOnlyOffer(self) -> None:
        """
        When the only listed type has C{q=0}, the answer is the fallback.
        """
        self.assertEqual(negotiate(f"{JSON};q=0"), TEXT_HTML)
        self.assertEqual(negotiate(f"{JSON};q=0.000"), TEXT_HTML)


class QualityTests(SynchronousTestCase):
    """
    RFC 9110 q-value handling.
    """

    def test_higherQualityWins(self) -> None:
        """
        A higher q wins over server order.
        """
        self.assertEqual(negotiate(f"text/html;q=0.5, {JSON};q=0.6"), JSON)
        self.assertEqual(negotiate(f"text/html;q=0.7, {JSON};q=0.6"), TEXT_HTML)

    def test_mostSpecificRangeGivesQuality(self) -> None:
        """
        The most specific matching range sets an offer's q, regardless of the
        order the ranges appear in.
        """
        self.assertEqual(negotiate(f"*/*;q=0.9, {TEXT_HTML};q=0.1, {V1HTML};q=0.1"), JSON)
        self.assertEqual(negotiate(f"{TEXT_HTML};q=0.1, {V1HTML};q=0.1, */*;q=0.9"), JSON)

    def test_typeWildcardBeatsAnything(self) -> None:
        """
        C{application/*} is more specific than C{*/*} for application types.
        """
        self.assertEqual(negotiate("application/*;q=0, */*;q=0.5"), TEXT_HTML)
        self.assertEqual(negotiate("text/*;q=0, */*;q=0.5"), V1HTML)

    def test_exactZeroBeatsWildcard(self) -> None:
        """
        An exact C{q=0} excludes a type that a wildcard would accept.
        """
        self.assertEqual(negotiate(f"*/*, {TEXT_HTML};q=0, {V1HTML};q=0"), JSON)

    def test_whitespaceAndCase(self) -> None:
        """
        Spaces around separators and upper-case types and parameter names are
        understood.
        """
        self.assertEqual(
            negotiate(f"  {JSON.upper()} ;  Q = 0.9 ,TEXT/HTML ; q=0.1 "), JSON
        )

    def test_otherParametersIgnored(self) -> None:
        """
        Parameters other than q (such as charset) do not change the q-value.
        """
        self.assertEqual(
            negotiate(f"text/html;charset=utf-8;q=0.2, {JSON};charset=utf-8;q=0.3"), JSON
        )

    def test_emptyItems(self) -> None:
        """
        Empty list items (stray commas) are skipped.
        """
        self.assertEqual(negotiate(f",, {JSON} ,,"), JSON)

    def test_malformedQuality(self) -> None:
        """
        A q-value that is not a number makes its range unacceptable rather
        than fully acceptable.
        """
        self.assertEqual(negotiate(f"{JSON};q=high, text/html;q=0.01"), TEXT_HTML)
        self.assertEqual(negotiate(f"{JSON};q=, {V1HTML};q=0.5"), V1HTML)

    def test_outOfRangeQualityClamped(self) -> None:
        """
        q-values above 1 count as 1 and below 0 as 0.
        """
        self.assertEqual(negotiate(f"{JSON};q=5, text/html;q=1"), TEXT_HTML)
        self.assertEqual(negotiate(f"{JSON};q=-1"), TEXT_HTML)
        self.assertEqual(negotiate(f"{JSON};q=-1, {V1HTML};q=0.01"), V1HTML)

    def test_notANumberQuality(self) -> None:
        """
        C{q=nan} never makes a type win.
        """
        self.assertEqual(negotiate(f"{JSON};q=nan, {V1HTML};q=0.01"), V1HTML)

    def test_defaultQualityIsOne(self) -> None:
        """
        A range without q counts as q=1, beating any explicit q below 1.
        """
        self.assertEqual(negotiate(f"text/html;q=0.999, {JSON}"), JSON)

    @given(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [TEXT_HTML, V1HTML, JSON, "*/*", "application/*", "text/*",
                     "text/plain", "application/vnd.pypi.simple.latest+json",
                     "application/vnd.pypi.simple.latest+html"]
                ),
                st.one_of(
                    st.none(),
                    st.sampled_from(["0", "0.1", "0.5", "1", "1.0", "x", "", "0.001"]),
                ),
            ),
            max_size=6,
        )
    )
    def test_alwaysAnOffer(self, ranges) -> None:  # type: ignore[no-untyped-def]
        """
        Whatever the header, the answer is one of the three Simple types.
        """
        header = ", ".join(r if q is None else f"{r};q={q}" for r, q in ranges)
        self.assertIn(negotiate(header), OFFERS)
