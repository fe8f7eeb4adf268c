"""
Tests for L{cheesecache.freshness}.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.freshness import (
    MAX_RETRY_AFTER,
    Decision,
    PageEntry,
    Policy,
    Validators,
    parseRetryAfter,
)
from cheesecache.simple.model import DistFile, ProjectList, ProjectPage

PAGE = ProjectPage(
    name="foo-bar",
    files=[DistFile("foo_bar-1.0.tar.gz", "https://files.example.invalid/f", {"sha256": "a" * 64})],
)
URL = "https://index.example.invalid/simple/foo-bar/"
ETAG = Validators(etag='"abc"')
POLICY = Policy(ttl=600.0, negativeTTL=60.0, errorBackoff=30.0)


def entry(
    content: Optional[object] = PAGE,
    validators: Validators = ETAG,
    fetchedAt: float = 1000.0,
    retryAt: float = 0.0,
) -> PageEntry:
    """
    A cache entry fetched at C{fetchedAt}.
    """
    return PageEntry(content, URL, validators, fetchedAt, retryAt)  # type: ignore[arg-type]


class ValidatorsTests(SynchronousTestCase):
    """
    Tests for L{Validators.requestHeaders}.
    """

    def test_none(self) -> None:
        """
        Without validators there are no conditional headers.
        """
        self.assertEqual(Validators().requestHeaders(), {})

    def test_etag(self) -> None:
        """
        An ETag becomes C{If-None-Match}, unchanged (quotes and C{W/} kept).
        """
        self.assertEqual(Validators(etag='"abc"').requestHeaders(), {"If-None-Match": '"abc"'})
        self.assertEqual(
            Validators(etag='W/"abc"').requestHeaders(), {"If-None-Match": 'W/"abc"'}
        )

    def test_lastModified(self) -> None:
        """
        A Last-Modified date becomes C{If-Modified-Since}.
        """
        date = "Thu, 01 Jan 2026 00:00:00 GMT"
        self.assertEqual(
            Validators(lastModified=date).requestHeaders(), {"If-Modified-Since": date}
        )

    def test_both(self) -> None:
        """
        With both validators, both headers are sent.
        """
        date = "Thu, 01 Jan 2026 00:00:00 GMT"
        self.assertEqual(
            Validators(etag='"x"', lastModified=date).requestHeaders(),
            {"If-None-Match": '"x"', "If-Modified-Since": date},
        )

    def test_emptyStrings(self) -> None:
        """
        Empty validators are not sent.
        """
        self.assertEqual(Validators(etag="", lastModified="").requestHeaders(), {})

    def test_freshDict(self) -> None:
        """
        Each call returns a new dict, so callers may add to it.
        """
        v = Validators(etag='"x"')
        v.requestHeaders()["Accept"] = "x"
        self.assertEqual(v.requestHeaders(), {"If-None-Match": '"x"'})

    def test_confirmedBy(self) -> None:
        """
        A 304 confirms the page unless it names another version of it:
        tags compared weakly, dates as dates, what one side lacks no
        difference.
        """
        date = "Thu, 01 Jan 2026 00:00:00 GMT"
        both = Validators(etag='"x"', lastModified=date)
        self.assertTrue(both.confirmedBy('"x"', date))
        self.assertTrue(both.confirmedBy('W/"x"', None))
        self.assertTrue(Validators(etag='W/"x"').confirmedBy('"x"', None))
        self.assertTrue(both.confirmedBy(None, None))
        self.assertTrue(both.confirmedBy(None, "Thu, 01 Jan 2026 00:00:00 +0000"))
        self.assertTrue(Validators(lastModified=date).confirmedBy('"y"', None))
        self.assertFalse(both.confirmedBy('"y"', date))
        self.assertFalse(both.confirmedBy(None, "Fri, 02 Jan 2026 00:00:00 GMT"))
        self.assertFalse(Validators(etag='"x"').confirmedBy('W/"y"', None))


class DecideTests(SynchronousTestCase):
    """
    Tests for L{Policy.decide} at the boundaries of its intervals.
    """

    def test_nothingCached(self) -> None:
        """
        Without an entry the page is fetched.
        """
        self.assertIs(POLICY.decide(None, 0.0), Decision.FETCH)

    def test_freshAtFetchTime(self) -> None:
        """
        An entry is fresh at the moment it was fetched.
        """
        self.assertIs(POLICY.decide(entry(), 1000.0), Decision.USE)

    def test_freshJustBeforeTTL(self) -> None:
        """
        An entry is fresh until just before C{ttl} has passed.
        """
        self.assertIs(POLICY.decide(entry(), 1000.0 + 599.999), Decision.USE)

    def test_staleAtTTL(self) -> None:
        """
        At exactly C{ttl} after fetching, a page with validators is
        revalidated.
        """
        self.assertIs(POLICY.decide(entry(), 1600.0), Decision.REVALIDATE)
        self.assertIs(POLICY.decide(entry(), 1600.001), Decision.REVALIDATE)

    def test_lastModifiedAlsoRevalidates(self) -> None:
        """
        A Last-Modified validator alone is enough to revalidate.
        """
        e = entry(validators=Validators(lastModified="Thu, 01 Jan 2026 00:00:00 GMT"))
        self.assertIs(POLICY.decide(e, 5000.0), Decision.REVALIDATE)

    def test_staleWithoutValidators(self) -> None:
        """
        A stale page without validators is fetched again.
        """
        self.assertIs(POLICY.decide(entry(validators=Validators()), 1600.0), Decision.FETCH)

    def test_expiredIsRevalidatedAtOnce(self) -> None:
        """
        An expired entry is revalidated however young it is (fetched again
        without validators), unless a failing upstream's backoff holds.
        """
        self.assertIs(POLICY.decide(entry().expired(), 1000.0), Decision.REVALIDATE)
        self.assertIs(
            POLICY.decide(entry(validators=Validators()).expired(), 1000.0), Decision.FETCH
        )
        self.assertIs(POLICY.decide(entry().expired().failing(1030.0), 1010.0), Decision.USE)
        self.assertIs(
            POLICY.decide(entry().expired().failing(1030.0), 1030.0), Decision.REVALIDATE
        )

    def test_clockWentBackwards(self) -> None:
        """
        An entry from the future (the clock went back) is not trusted as fresh.
        """
        self.assertIs(POLICY.decide(entry(), 999.0), Decision.REVALIDATE)
        self.assertIs(POLICY.decide(entry(validators=Validators()), 999.0), Decision.FETCH)

    def test_backoffFromTheFuture(self) -> None:
        """
        A backoff that ends further off than any is set for (the clock went
        back while the upstream failed) does not hold: the upstream is
        asked again, rather than left alone until the clock catches up.
        """
        failing = entry().failing(1030.0)
        self.assertIs(POLICY.decide(failing, 1030.0 - 86400), Decision.REVALIDATE)
        self.assertIs(POLICY.decide(failing, 1030.0 - MAX_RETRY_AFTER), Decision.USE)

    def test_notFoundUsesNegativeTTL(self) -> None:
        """
        A "not found" is fresh for C{negativeTTL}, then fetched again.
        """
        notFound = entry(content=None)
        self.assertIs(POLICY.decide(notFound, 1000.0), Decision.USE)
        self.assertIs(POLICY.decide(notFound, 1059.999), Decision.USE)
        self.assertIs(POLICY.decide(notFound, 1060.0), Decision.FETCH)

    def test_notFoundNeverRevalidated(self) -> None:
        """
        A stale "not found" is fetched plainly even if it has validators.
        """
        self.assertIs(POLICY.decide(entry(content=None, validators=ETAG), 1060.0), Decision.FETCH)

    def test_negativeTTLCappedByTTL(self) -> None:
        """
        A "not found" is never fresh for longer than C{ttl}.
        """
        policy = Policy(ttl=10.0, negativeTTL=60.0)
        notFound = entry(content=None)
        self.assertIs(policy.decide(notFound, 1009.999), Decision.USE)
        self.assertIs(policy.decide(notFound, 1010.0), Decision.FETCH)

    def test_rootList(self) -> None:
        """
        A cached root list is a found page like any other.
        """
        e = entry(content=ProjectList(names=["a"]))
        self.assertIs(POLICY.decide(e, 1599.0), Decision.USE)
        self.assertIs(POLICY.decide(e, 1600.0), Decision.REVALIDATE)

    def test_zeroTTL(self) -> None:
        """
        With C{ttl=0} every request revalidates.
        """
        self.assertIs(Policy(ttl=0.0).decide(entry(), 1000.0), Decision.REVALIDATE)
        self.assertIs(Policy(ttl=0.0).decide(entry(content=None), 1000.0), Decision.FETCH)

    def test_backoffServesStale(self) -> None:
        """
        During the error backoff a stale entry is used without asking the
        upstream, up to just before C{retryAt}.
        """
        failing = entry(retryAt=2000.0)
        self.assertIs(POLICY.decide(failing, 1700.0), Decision.USE)
        self.assertIs(POLICY.decide(failing, 1999.999), Decision.USE)

    def test_backoffEnds(self) -> None:
        """
        At C{retryAt} the stale entry is revalidated again.
        """
        self.assertIs(POLICY.decide(entry(retryAt=2000.0), 2000.0), Decision.REVALIDATE)

    def test_backoffNotFound(self) -> None:
        """
        A "not found" held back by a failing upstream is used until
        C{retryAt}, then fetched.
        """
        failing = entry(content=None, retryAt=2000.0)
        self.assertIs(POLICY.decide(failing, 1999.0), Decision.USE)
        self.assertIs(POLICY.decide(failing, 2000.0), Decision.FETCH)

    def test_defaults(self) -> None:
        """
        The default policy: ten minutes fresh, a minute for "not found",
        thirty seconds of backoff.
        """
        self.assertEqual(
            (Policy().ttl, Policy().negativeTTL, Policy().errorBackoff), (600.0, 60.0, 30.0)
        )

    @given(
        ttl=st.floats(min_value=0, max_value=1e6),
        age=st.floats(min_value=-1e6, max_value=1e7),
        found=st.booleans(),
        etag=st.booleans(),
    )
    def test_decisionMatchesDefinition(self, ttl: float, age: float, found: bool, etag: bool) -> None:
        """
        For any age and ttl: USE exactly when 0 <= age < lifetime, otherwise
        REVALIDATE exactly for found pages with validators.
        """
        policy = Policy(ttl=ttl, negativeTTL=60.0)
        fetchedAt = 1.7e9
        e = entry(
            content=PAGE if found else None,
            validators=ETAG if etag else Validators(),
            fetchedAt=fetchedAt,
        )
        lifetime = ttl if found else min(ttl, 60.0)
        now = fetchedAt + age
        decision = policy.decide(e, now)
        age = now - fetchedAt
        if 0 <= age < lifetime:
            self.assertIs(decision, Decision.USE)
        elif found and etag:
            self.assertIs(decision, Decision.REVALIDATE)
        else:
            self.assertIs(decision, Decision.FETCH)


class AfterFailureTests(SynchronousTestCase):
    """
    Tests for L{Policy.afterFailure} and L{PageEntry.failing}.
    """

    def test_nothingCached(self) -> None:
        """
        With nothing cached there is nothing to serve.
        """
        self.assertIsNone(POLICY.afterFailure(None, 5000.0))

    def test_stale(self) -> None:
        """
        The stale entry is returned unchanged but for C{retryAt}, which is
        C{now + errorBackoff}.
        """
        original = entry()
        original.rendered["text/html"] = b"<html>"
        stale = POLICY.afterFailure(original, 5000.0)
        assert stale is not None
        self.assertIs(stale.content, original.content)
        self.assertEqual(stale.url, original.url)
        self.assertEqual(stale.validators, original.validators)
        self.assertEqual(stale.fetchedAt, 1000.0)
        self.assertEqual(stale.retryAt, 5030.0)
        self.assertIs(stale.rendered, original.rendered)
        self.assertEqual(original.retryAt, 0.0)

    def test_staleIsUsedDuringBackoff(self) -> None:
        """
        The entry C{afterFailure} gives is served until the backoff ends and
        revalidated from then on.
        """
        stale = POLICY.afterFailure(entry(), 5000.0)
        self.assertIs(POLICY.decide(stale, 5000.0), Decision.USE)
        self.assertIs(POLICY.decide(stale, 5029.999), Decision.USE)
        self.assertIs(POLICY.decide(stale, 5030.0), Decision.REVALIDATE)

    def test_staleNotFound(self) -> None:
        """
        A cached "not found" stays "not found" while the upstream fails.
        """
        stale = POLICY.afterFailure(entry(content=None), 5000.0)
        assert stale is not None
        self.assertFalse(stale.found)
        self.assertIs(POLICY.decide(stale, 5010.0), Decision.USE)

    def test_zeroBackoff(self) -> None:
        """
        With no backoff the next request asks the upstream again.
        """
        stale = Policy(errorBackoff=0.0).afterFailure(entry(), 5000.0)
        self.assertIs(POLICY.decide(stale, 5000.0), Decision.REVALIDATE)

    def test_retryAfter(self) -> None:
        """
        A C{Retry-After} longer than the backoff holds retries back for its
        length; a shorter one leaves the backoff.
        """
        stale = POLICY.afterFailure(entry(), 5000.0, retryAfter=120.0)
        assert stale is not None
        self.assertEqual(stale.retryAt, 5120.0)
        stale = POLICY.afterFailure(entry(), 5000.0, retryAfter=5.0)
        assert stale is not None
        self.assertEqual(stale.retryAt, 5030.0)


class ParseRetryAfterTests(SynchronousTestCase):
    """
    Tests for L{parseRetryAfter}.
    """

    def test_seconds(self) -> None:
        self.assertEqual(parseRetryAfter("120", 5000.0), 120.0)
        self.assertEqual(parseRetryAfter(" 0 ", 5000.0), 0.0)

    def test_date(self) -> None:
        """
        An HTTP date gives the seconds from C{now} to it, none if it is
        past.
        """
        now = 1_800_000_000.0
        self.assertEqual(parseRetryAfter(formatdate(now + 90, usegmt=True), now), 90.0)
        self.assertEqual(parseRetryAfter(formatdate(now - 90, usegmt=True), now), 0.0)

    def test_asctimeDate(self) -> None:
        """
        A date in C{asctime()} form, the third that HTTP allows (RFC 9110,
        5.6.7), is in GMT though it does not say so.
        """
        self.assertEqual(parseRetryAfter("Sun Nov  6 08:49:37 1994", 784111717.0), 60.0)
        self.assertEqual(parseRetryAfter("Sun Nov 16 08:49:37 1994", 784975717.0), 60.0)

    def test_capped(self) -> None:
        self.assertEqual(parseRetryAfter("999999", 0.0), MAX_RETRY_AFTER)
        self.assertEqual(
            parseRetryAfter(formatdate(10**9 + 86400 * 30, usegmt=True), 10**9), MAX_RETRY_AFTER
        )

    def test_notOne(self) -> None:
        """
        No value, a negative or fractional number, words, or a date
        without its zone mean nothing.
        """
        for value in [None, "", "-5", "1.5", "soon", "Wed, 21 Oct 2026 07:28:00"]:
            self.assertIsNone(parseRetryAfter(value, 5000.0), value)

    def test_notASCIIDigits(self) -> None:
        """
        Digits that are not ASCII ones (superscripts, which a header read
        as Latin-1 may hold) are no number of seconds, rather than a crash.
        """
        for value in ["\u00b2", "1\u00b3", "\u00b9\u00b2\u00b3"]:
            self.assertIsNone(parseRetryAfter(value, 5000.0), value)


class PageEntryTests(SynchronousTestCase):
    """
    Tests for L{PageEntry}.
    """

    def test_found(self) -> None:
        """
        An entry with content is found; one without is a "not found".
        """
        self.assertTrue(entry().found)
        self.assertTrue(entry(content=ProjectList()).found)
        self.assertFalse(entry(content=None).found)

    def test_refreshed(self) -> None:
        """
        A refreshed entry has the new fetch time, no backoff, the same
        content, URL and validators.
        """
        original = entry(retryAt=3000.0)
        fresh = original.refreshed(2500.0)
        self.assertIsNot(fresh, original)
        self.assertEqual(fresh.fetchedAt, 2500.0)
        self.assertEqual(fresh.retryAt, 0.0)
        self.assertIs(fresh.content, original.content)
        self.assertEqual(fresh.url, original.url)
        self.assertEqual(fresh.validators, original.validators)
        self.assertEqual(original.fetchedAt, 1000.0)

    def test_expired(self) -> None:
        """
        An expired entry keeps its fetch time, content and rendered cache;
        refreshing it makes it fresh again.
        """
        original = entry()
        expired = original.expired()
        self.assertTrue(expired.mustRevalidate)
        self.assertFalse(original.mustRevalidate)
        self.assertEqual(expired.fetchedAt, original.fetchedAt)
        self.assertIs(expired.content, original.content)
        self.assertIs(expired.rendered, original.rendered)
        fresh = expired.refreshed(1001.0)
        self.assertFalse(fresh.mustRevalidate)
        self.assertIs(POLICY.decide(fresh, 1001.0), Decision.USE)

    def test_refreshedKeepsRendered(self) -> None:
        """
        A refreshed entry shares the rendered cache: what was rendered before
        is still there, and renders added later are seen by both.
        """
        original = entry()
        original.rendered["application/vnd.pypi.simple.v1+json"] = b"{}"
        fresh = original.refreshed(2000.0)
        self.assertIs(fresh.rendered, original.rendered)
        self.assertEqual(fresh.rendered["application/vnd.pypi.simple.v1+json"], b"{}")
        fresh.rendered["text/html"] = b"<html>"
        self.assertEqual(original.rendered["text/html"], b"<html>")

    def test_refreshedIsFresh(self) -> None:
        """
        An entry refreshed (after a 304) is fresh again for C{ttl}.
        """
        fresh = entry().refreshed(5000.0)
        self.assertIs(POLICY.decide(fresh, 5599.0), Decision.USE)
        self.assertIs(POLICY.decide(fresh, 5600.0), Decision.REVALIDATE)

    def test_newEntriesDoNotShareRendered(self) -> None:
        """
        Separately made entries each get their own rendered cache.
        """
        self.assertIsNot(entry().rendered, entry().rendered)
