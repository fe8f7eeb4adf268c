"""
Tests for L{cheesecache.index}: upstream pages fetched over real HTTP on
loopback, kept fresh, revalidated, coalesced, and served stale on failure.
"""

from __future__ import annotations

import errno
from types import SimpleNamespace
from typing import Callable, Iterator, List, Optional

import attrs
from twisted.internet import reactor
from twisted.internet.defer import (
    CancelledError, Deferred, gatherResults, inlineCallbacks, succeed,
)
from twisted.logger import formatEvent
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cheesecache.freshness import PageEntry, Validators
from cheesecache import index as indexModule
from cheesecache import pagestore as pagestoreModule
from cheesecache.index import Index, Lookup, ProjectNotFound, SourcesUnavailable
from cheesecache.routing import Route
from cheesecache.simple.model import DistFile, ProjectList, ProjectPage
from cheesecache.simple.parse import JSON_TYPE, ParseError
from cheesecache.upstream import Fetched, Upstream

from .fakeindex import Dist, FakeIndex, listen
from .harness import Harness, logEvents, serveIndex, sleep, takeDown
from .wheels import makeSdist, makeWheel


def sampleIndex(format: str = "json") -> FakeIndex:
    index = FakeIndex(format=format)
    filename, data = makeWheel("alpha", "1.0", requiresPython=">=3.8,<4")
    index.add("alpha", Dist(filename, data, requiresPython=">=3.8,<4"))
    filename, data = makeSdist("alpha", "0.9")
    index.add("alpha", Dist(filename, data, yanked="broken"))
    return index


class UpstreamSourceTests(TestCase):
    """
    One upstream's pages through L{UpstreamSource}.
    """

    def setUp(self) -> None:
        self.upstream = sampleIndex()
        self.harness = Harness(self, [serveIndex(self, self.upstream)], ttl=600)
        self.source = self.harness.sources[0]
        self.clock = self.harness.clock

    @inlineCallbacks
    def test_fetchesAndParses(self):  # type: ignore[no-untyped-def]
        """
        A page is fetched from the upstream and parsed with every field.
        """
        lookup = yield self.source.page("alpha")
        page = lookup.entry.content
        self.assertEqual(page.name, "alpha")
        byName = {f.filename: f for f in page.files}
        self.assertEqual(byName["alpha-0.9.tar.gz"].yanked, "broken")
        wheel = byName["alpha-1.0-py3-none-any.whl"]
        self.assertEqual(wheel.requiresPython, ">=3.8,<4")
        self.assertTrue(wheel.url.endswith("/packages/alpha-1.0-py3-none-any.whl"))
        self.assertEqual(wheel.sha256, self.upstream.projects["alpha"][0].sha256)
        self.assertFalse(lookup.stale)

    @inlineCallbacks
    def test_freshWithinTTL(self):  # type: ignore[no-untyped-def]
        """
        Within the TTL a cached page is served without asking the upstream.
        """
        yield self.source.page("alpha")
        self.clock.advance(599)
        yield self.source.page("alpha")
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 1)

    @inlineCallbacks
    def test_revalidatesAfterTTL(self):  # type: ignore[no-untyped-def]
        """
        After the TTL the page is revalidated with the upstream's ETag and
        Last-Modified; a 304 only refreshes the time.
        """
        first = yield self.source.page("alpha")
        self.clock.advance(601)
        second = yield self.source.page("alpha")
        method, path, headers = self.upstream.requests[-1]
        self.assertEqual(path, b"/simple/alpha/")
        self.assertIn(b"if-none-match", headers)
        self.assertEqual(headers[b"if-modified-since"], b"Thu, 01 Jan 2026 00:00:00 GMT")
        self.assertIs(second.entry.content, first.entry.content)
        self.assertEqual(second.entry.fetchedAt, self.clock.seconds())
        self.clock.advance(300)
        yield self.source.page("alpha")
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def test_revalidationSeesChanges(self):  # type: ignore[no-untyped-def]
        """
        A page changed upstream replaces the cached one on revalidation.
        """
        yield self.source.page("alpha")
        filename, data = makeWheel("alpha", "2.0")
        self.upstream.add("alpha", Dist(filename, data))
        self.clock.advance(601)
        lookup = yield self.source.page("alpha")
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])

    @inlineCallbacks
    def untilAsked(self, path: bytes, times: int):  # type: ignore[no-untyped-def]
        """
        Wait (on the real reactor) until the upstream was asked for
        C{path} C{times} times.
        """
        for _ in range(400):
            if self.upstream.count(path) >= times:
                return
            yield sleep(0.005)
        self.fail(f"{path!r} was not asked for {times} times")

    @inlineCallbacks
    def untilRevalidated(self, name: str):  # type: ignore[no-untyped-def]
        """
        Wait (on the real reactor) until the upstream's answer for C{name}
        is in the cache, fetched now.
        """
        for _ in range(400):
            if self.source.cachedEntry(name).fetchedAt == self.clock.seconds():
                return
            yield sleep(0.005)
        self.fail(f"{name} was not revalidated")

    @inlineCallbacks
    def test_slowUpstreamServesCopy(self):  # type: ignore[no-untyped-def]
        """
        A stale page whose upstream does not answer within the policy's
        patience is answered with the cached copy, to every request that
        waits that long; the one upstream request goes on, and its answer
        updates the cache.
        """
        first = yield self.source.page("alpha")
        patience = self.source.policy.patience
        self.upstream.hold()
        self.addCleanup(self.upstream.release)
        self.clock.advance(601)
        waiting = [self.source.page("alpha")]
        yield self.untilAsked(b"/simple/alpha/", 2)
        self.clock.advance(patience / 2)
        waiting.append(self.source.page("alpha"))
        self.assertEqual([d.called for d in waiting], [False, False])
        self.clock.advance(patience / 2)
        self.assertEqual([d.called for d in waiting], [True, False])
        self.clock.advance(patience / 2)
        for lookup in (yield gatherResults(waiting)):
            self.assertTrue(lookup.stale)
            self.assertIs(lookup.entry.content, first.entry.content)
        self.assertEqual(self.source.staleServed, 2)

        filename, data = makeWheel("alpha", "2.0")
        self.upstream.add("alpha", Dist(filename, data))
        self.upstream.release()
        yield self.untilRevalidated("alpha")
        lookup = yield self.source.page("alpha")
        self.assertFalse(lookup.stale)
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def test_slowUpstreamNextPageAtOnce(self):  # type: ignore[no-untyped-def]
        """
        Once the upstream has left a request unanswered past the patience,
        other stale pages are served at once (and revalidated meanwhile),
        until it answers again.
        """
        filename, data = makeWheel("beta", "1.0")
        self.upstream.add("beta", Dist(filename, data))
        yield self.source.page("alpha")
        yield self.source.page("beta")
        self.upstream.hold()
        self.addCleanup(self.upstream.release)
        self.clock.advance(601)
        alpha = self.source.page("alpha")
        self.clock.advance(self.source.policy.patience)
        self.assertTrue(self.successResultOf(alpha).stale)
        self.assertTrue(self.source.slow)
        self.assertTrue(self.successResultOf(self.source.page("beta")).stale)
        yield self.untilAsked(b"/simple/beta/", 2)

        self.upstream.release()
        yield self.untilRevalidated("beta")
        self.assertFalse(self.source.slow)
        self.clock.advance(601)
        self.upstream.hold()
        beta = self.source.page("beta")
        yield self.untilAsked(b"/simple/beta/", 3)
        self.assertFalse(beta.called)
        self.upstream.release()
        self.assertFalse((yield beta).stale)

    @inlineCallbacks
    def test_failedUpstreamNextPageAtOnce(self):  # type: ignore[no-untyped-def]
        """
        Once the upstream has failed (down: every try refused or a 5xx),
        other stale pages are served at once (and revalidated meanwhile)
        rather than each waiting for its own tries, until it answers again.
        """
        filename, data = makeWheel("beta", "1.0")
        self.upstream.add("beta", Dist(filename, data))
        yield self.source.page("alpha")
        yield self.source.page("beta")
        self.upstream.down = True
        self.clock.advance(601)
        self.assertTrue((yield self.source.page("alpha")).stale)
        self.assertFalse(self.source.reachable)
        self.assertTrue(self.successResultOf(self.source.page("beta")).stale)
        for _ in range(400):
            if "/simple/beta/" in (self.source.lastError or ""):
                break
            yield sleep(0.005)
        self.assertEqual(self.upstream.count(b"/simple/beta/"), 4)

        self.upstream.down = False
        filename, data = makeWheel("beta", "2.0")
        self.upstream.add("beta", Dist(filename, data))
        self.clock.advance(601)
        self.assertTrue(self.successResultOf(self.source.page("alpha")).stale)
        yield self.untilRevalidated("alpha")
        self.assertTrue(self.source.reachable)
        self.upstream.hold()
        self.addCleanup(self.upstream.release)
        beta = self.source.page("beta")
        yield self.untilAsked(b"/simple/beta/", 5)
        self.assertFalse(beta.called)
        self.upstream.release()
        lookup = yield beta
        self.assertFalse(lookup.stale)
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])

    @inlineCallbacks
    def test_patientWithoutCopy(self):  # type: ignore[no-untyped-def]
        """
        A page with no cached copy waits for the upstream, however long it
        takes.
        """
        self.upstream.hold()
        self.addCleanup(self.upstream.release)
        waiting = self.source.page("alpha")
        yield self.untilAsked(b"/simple/alpha/", 1)
        self.clock.advance(self.source.policy.patience * 10)
        self.assertFalse(waiting.called)
        self.upstream.release()
        lookup = yield waiting
        self.assertFalse(lookup.stale)
        self.assertEqual(lookup.entry.content.name, "alpha")

    @inlineCallbacks
    def test_quickAnswerNotStale(self):  # type: ignore[no-untyped-def]
        """
        An upstream that answers a revalidation within the patience: its
        answer, not the copy, and nothing left waiting on the clock.
        """
        yield self.source.page("alpha")
        self.clock.advance(601)
        lookup = yield self.source.page("alpha")
        self.assertFalse(lookup.stale)
        self.assertEqual(lookup.entry.fetchedAt, self.clock.seconds())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.source.staleServed, 0)

    @inlineCallbacks
    def test_clientGoneWhileWaiting(self):  # type: ignore[no-untyped-def]
        """
        A request that is cancelled while it waits (its client hung up)
        takes its timer with it; the upstream's answer still updates the
        cache.
        """
        yield self.source.page("alpha")
        self.upstream.hold()
        self.addCleanup(self.upstream.release)
        self.clock.advance(601)
        waiting = self.source.page("alpha")
        yield self.untilAsked(b"/simple/alpha/", 2)
        waiting.cancel()
        self.failureResultOf(waiting, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.upstream.release()
        yield self.untilRevalidated("alpha")
        lookup = yield self.source.page("alpha")
        self.assertFalse(lookup.stale)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def test_diskFailureNotFatal(self):  # type: ignore[no-untyped-def]
        """
        When the page store cannot write (disk full), the page is served
        from memory all the same, the failure is logged, and nothing is left
        half-written.
        """
        store = self.source.store
        logged: List[dict] = []
        self.patch(indexModule.log, "observer", logged.append)

        def full(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(pagestoreModule.PageStore, "keepFetched", full)
        lookup = yield self.source.page("alpha")
        self.assertEqual(lookup.entry.content.name, "alpha")
        self.assertIsNone(store.load(self.source.sourceID, "alpha"))
        [event] = [e for e in logged if "Could not store" in e.get("log_format", "")]
        self.assertIn("No space left", event["error"])

    @inlineCallbacks
    def test_diskFailureOlderPageNotReadBack(self):  # type: ignore[no-untyped-def]
        """
        A changed page that could not be written (disk full) is served from
        memory; once let go from memory, it is not read back as the older
        page stored before, which is gone: it is fetched again.
        """
        self.source.modelBudget = 1
        yield self.source.page("alpha")
        filename, data = makeWheel("alpha", "2.0")
        self.upstream.add("alpha", Dist(filename, data))

        def full(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(pagestoreModule.PageStore, "keepFetched", full)
        self.clock.advance(601)
        lookup = yield self.source.page("alpha")
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])
        self.clock.advance(0)  # let go from memory
        self.assertFalse(lookup.entry.loaded)
        self.assertIsNone(lookup.entry.content)
        lookup = yield self.source.page("alpha")
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 3)

    @inlineCallbacks
    def test_renameFailureLeavesNothing(self):  # type: ignore[no-untyped-def]
        """
        A page written but not renamed into place (the rename failed) is
        removed, and the page is served.
        """
        def failingRename(src, dst):  # type: ignore[no-untyped-def]
            raise OSError(errno.EIO, "I/O error")

        self.patch(pagestoreModule.os, "replace", failingRename)
        lookup = yield self.source.page("alpha")
        self.assertEqual(lookup.entry.content.name, "alpha")
        folder = self.harness.dataDir.child("pages").child(self.source.sourceID)
        self.assertEqual(folder.listdir(), [])

    @inlineCallbacks
    def test_coalescing(self):  # type: ignore[no-untyped-def]
        """
        Fifty concurrent requests for one page make one upstream request,
        and all get the page.
        """
        self.upstream.hold()
        waiting = [self.source.page("alpha") for _ in range(50)]
        while self.upstream.count(b"/simple/alpha/") == 0:
            yield deferLaterZero()
        self.upstream.release()
        lookups = yield gatherResults(waiting)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 1)
        self.assertEqual({id(l.entry) for l in lookups}, {id(lookups[0].entry)})
        self.assertEqual(self.source.requests, 1)

    @inlineCallbacks
    def test_staleOnFailure(self):  # type: ignore[no-untyped-def]
        """
        When the upstream fails (5xx), the cached copy is served, marked
        stale, and the upstream is not asked again during the back-off.
        The log says how old the copy is.
        """
        yield self.source.page("alpha")
        self.clock.advance(601)
        self.upstream.down = True
        events = logEvents(self)
        lookup = yield self.source.page("alpha")
        self.assertTrue(lookup.stale)
        self.assertIn(
            "failed for alpha; serving the copy fetched 601 s ago: ",
            " ".join(formatEvent(e) for e in events),
        )
        self.assertEqual(lookup.entry.content.name, "alpha")
        asked = self.upstream.count(b"/simple/alpha/")
        yield self.source.page("alpha")
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), asked)

    @inlineCallbacks
    def test_staleOnUndecodablePage(self):  # type: ignore[no-untyped-def]
        """
        When a revalidation is answered with a page the JSON decoder cannot
        take (nested too deep: a C{RecursionError}), the cached copy is
        served, stale, as for any page that does not parse.
        """
        yield self.source.page("alpha")
        self.clock.advance(601)
        self.upstream.faults[b"/simple/alpha/"] = "nested"
        lookup = yield self.source.page("alpha")
        self.assertTrue(lookup.stale)
        self.assertEqual(len(lookup.entry.content.files), 2)

    @inlineCallbacks
    def test_retryAfterHeeded(self):  # type: ignore[no-untyped-def]
        """
        An upstream that answers 429 with C{Retry-After} is not asked again
        before that time, though it is longer than the back-off; the
        cached copy is served meanwhile.
        """
        yield self.source.page("alpha")
        self.clock.advance(601)
        self.upstream.faults[b"/simple/alpha/"] = "status:429:120"
        lookup = yield self.source.page("alpha")
        self.assertTrue(lookup.stale)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 2)
        self.clock.advance(100)
        lookup = yield self.source.page("alpha")
        self.assertTrue(lookup.stale)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 2)
        del self.upstream.faults[b"/simple/alpha/"]
        self.clock.advance(21)
        lookup = yield self.source.page("alpha")
        self.assertFalse(lookup.stale)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 3)

    @inlineCallbacks
    def test_retryAfterWithoutCache(self):  # type: ignore[no-untyped-def]
        """
        A 503 with C{Retry-After} is not retried at once (one without is,
        see L{tests.test_chain.RetryTests}); the wait is passed on.
        """
        self.upstream.faults[b"/simple/alpha/"] = "status:503:30"
        failure = yield self.assertFailure(self.source.page("alpha"), SourcesUnavailable)
        self.assertEqual(failure.retryAfter, 30.0)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 1)

    @inlineCallbacks
    def test_retryAfterLeavesUpstreamAlone(self):  # type: ignore[no-untyped-def]
        """
        Until the time an upstream's C{Retry-After} with a 429 gave, it is
        asked for no page at all: a page not cached fails with the time left
        to wait, a stale one is served as it is (and held back as long).
        Then the upstream is asked again.
        """
        yield self.source.page("alpha")
        self.clock.advance(601)
        self.upstream.faults[b"/simple/nope/"] = "status:429:120"
        failure = yield self.assertFailure(self.source.page("nope"), SourcesUnavailable)
        self.assertEqual(failure.retryAfter, 120.0)
        self.clock.advance(100)
        failure = yield self.assertFailure(self.source.page("beta"), SourcesUnavailable)
        self.assertEqual(failure.retryAfter, 20.0)
        lookup = yield self.source.page("alpha")
        self.assertTrue(lookup.stale)
        self.assertEqual(self.source.requests, 2)
        self.clock.advance(30)
        lookup = yield self.source.page("alpha")
        self.assertFalse(lookup.stale)
        # A 503's wait holds back its own page alone (another cheesecache
        # sends one for a page it has not cached).
        del self.upstream.faults[b"/simple/nope/"]
        self.upstream.faults[b"/simple/beta/"] = "status:503:120"
        yield self.assertFailure(self.source.page("beta"), SourcesUnavailable)
        lookup = yield self.source.page("nope")
        self.assertFalse(lookup.entry.found)
        self.assertEqual(
            [path for _, path, _ in self.upstream.requests],
            [b"/simple/alpha/", b"/simple/nope/", b"/simple/alpha/", b"/simple/beta/",
             b"/simple/nope/"],
        )

    @inlineCallbacks
    def test_quietFromTheFuture(self):  # type: ignore[no-untyped-def]
        """
        A 429's quiet time that ends further off than any C{Retry-After} is
        heeded for (the clock went back since) does not hold: the upstream
        is asked again, rather than left alone until the clock catches up,
        and its next 429 is heeded.
        """
        self.upstream.faults[b"/simple/nope/"] = "status:429:120"
        yield self.assertFailure(self.source.page("nope"), SourcesUnavailable)
        del self.upstream.faults[b"/simple/nope/"]
        self.clock.rightNow -= 86400
        lookup = yield self.source.page("nope")
        self.assertFalse(lookup.entry.found)
        self.assertEqual(self.upstream.count(b"/simple/nope/"), 2)
        self.upstream.faults[b"/simple/beta/"] = "status:429:60"
        yield self.assertFailure(self.source.page("beta"), SourcesUnavailable)
        failure = yield self.assertFailure(self.source.page("alpha"), SourcesUnavailable)
        self.assertEqual(failure.retryAfter, 60.0)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 0)

    @inlineCallbacks
    def test_failureWithoutCache(self):  # type: ignore[no-untyped-def]
        """
        When the upstream fails and nothing is cached, the lookup fails with
        L{SourcesUnavailable}.
        """
        self.upstream.down = True
        yield self.assertFailure(self.source.page("alpha"), SourcesUnavailable)

    @inlineCallbacks
    def test_notFound(self):  # type: ignore[no-untyped-def]
        """
        An upstream 404 is a not-found entry, itself cached for a short time.
        """
        lookup = yield self.source.page("nope")
        self.assertFalse(lookup.entry.found)
        yield self.source.page("nope")
        self.assertEqual(self.upstream.count(b"/simple/nope/"), 1)
        self.clock.advance(61)
        yield self.source.page("nope")
        self.assertEqual(self.upstream.count(b"/simple/nope/"), 2)

    @inlineCallbacks
    def test_notFoundHeldWithinBudget(self):  # type: ignore[no-untyped-def]
        """
        Only the latest "not found" answers, up to L{notFoundBudget}, are
        held in memory: requests for ever new unknown names do not grow it
        for good.  One let go is asked again (its stored copy went too).
        """
        self.source.notFoundBudget = 3
        yield self.source.page("alpha")
        for i in range(10):
            lookup = yield self.source.page(f"nope-{i}")
            self.assertFalse(lookup.entry.found)
        held = [n for n in ["alpha"] + [f"nope-{i}" for i in range(10)]
                if self.source.cachedEntry(n) is not None]
        self.assertEqual(held, ["alpha", "nope-7", "nope-8", "nope-9"])
        lookup = yield self.source.page("nope-0")
        self.assertFalse(lookup.entry.found)
        self.assertEqual(self.upstream.count(b"/simple/nope-0/"), 2)
        self.assertIsNone(self.source.cachedEntry("nope-7"))

    @inlineCallbacks
    def test_notFoundStoredWithinBudget(self):  # type: ignore[no-untyped-def]
        """
        A "not found" let go from memory is let go from the page store too:
        requests for ever new unknown names do not fill the disk with a
        file each, for good.
        """
        self.source.notFoundBudget = 3
        yield self.source.page("alpha")
        for i in range(10):
            yield self.source.page(f"nope-{i}")
        stored = self.harness.dataDir.child("pages").child(self.source.sourceID)
        self.assertEqual(
            sorted(stored.listdir()),
            ["alpha.page", "nope-7.json", "nope-8.json", "nope-9.json"],
        )

    @inlineCallbacks
    def test_bodyLetGoOnceParsed(self):  # type: ignore[no-untyped-def]
        """
        The upstream's bytes are not kept once the page is parsed by the
        answer (whose L{Deferred} holds it while the page is stored and
        rendered).
        """
        answers = []
        fetchPage = Upstream.fetchPage

        def recordAnswer(*args, **kwargs):  # type: ignore[no-untyped-def]
            return fetchPage(*args, **kwargs).addCallback(
                lambda answer: answers.append(answer) or answer
            )

        self.patch(Upstream, "fetchPage", recordAnswer)
        lookup = yield self.source.page("alpha")
        self.assertEqual(lookup.entry.content.name, "alpha")
        self.assertEqual([a.body for a in answers], [b""])

    @inlineCallbacks
    def test_pageOverBudgetLetGoOnceAnswered(self):  # type: ignore[no-untyped-def]
        """
        A page that on its own lists more than the model budget keeps its
        parsed form while the requests that loaded it are answered, lets it
        go at the next turn of the reactor (and the allocator is asked to
        give the memory back), and reads it back from the page store (not
        the upstream) when it is needed again.
        """
        released = []
        self.patch(indexModule, "releaseFreeMemory", lambda: released.append(True))
        self.source.modelBudget = 2  # "alpha" lists 2 files: weight 3
        lookup = yield self.source.page("alpha")
        entry = lookup.entry
        self.assertIsNotNone(entry._content)
        self.clock.advance(0)
        self.assertIsNone(entry._content)
        self.assertEqual(released, [True])
        self.assertEqual(len(entry.content.files), 2)
        self.clock.advance(0)
        self.assertIsNone(entry._content)
        self.assertEqual(self.upstream.count(b"/simple/alpha/"), 1)

    @inlineCallbacks
    def test_pageWithinBudgetStays(self):  # type: ignore[no-untyped-def]
        """
        A page within the model budget keeps its parsed form.
        """
        self.source.modelBudget = 3
        lookup = yield self.source.page("alpha")
        self.clock.advance(0)
        self.assertIsNotNone(lookup.entry._content)

    def test_takeBody(self) -> None:
        """
        L{Fetched.takeBody} hands the body over once.
        """
        answer = Fetched(b"page", "text/html", "https://example.invalid/", Validators())
        self.assertEqual(answer.takeBody(), b"page")
        self.assertEqual((answer.body, answer.takeBody()), (b"", b""))

    def test_undecodableIsAFailedParse(self) -> None:
        """
        A page whose bytes are not text (a surrogate encoded on its own) is
        a failed parse, as a L{Deferred}, never an exception raised at the
        caller (whose errback abandons the rendering of a big stored page
        read back so).
        """
        rendering = _RecordingRendering("alpha")
        body = b'{"files":[],"name":"alpha","x":"\xed\xa0\x80"}'
        answer = Fetched(body, JSON_TYPE, "https://example.invalid/", Validators())
        kept = indexModule._Kept(rendering, 0, answer.url)
        self.failureResultOf(self.source._parse("alpha", answer, kept), ParseError)

    @inlineCallbacks
    def test_rootList(self):  # type: ignore[no-untyped-def]
        """
        The root list is fetched and cached like a page.
        """
        lookup = yield self.source.page(None)
        self.assertIsInstance(lookup.entry.content, ProjectList)
        self.assertEqual(list(lookup.entry.content.names), ["alpha"])


def deferLaterZero():  # type: ignore[no-untyped-def]
    from twisted.internet.task import deferLater

    return deferLater(reactor, 0.01, lambda: None)


class RestartTests(TestCase):
    """
    Pages survive a restart in the data directory.
    """

    @inlineCallbacks
    def test_survivesRestart(self):  # type: ignore[no-untyped-def]
        """
        A new process (a new harness on the same data directory) serves the
        cached page without asking the upstream while it is fresh, and
        serves it stale when the upstream is down.
        """
        upstream = sampleIndex()
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir)
        yield first.sources[0].page("alpha")
        second = Harness(self, [url], dataDir=dataDir)
        second.clock.advance(10)
        lookup = yield second.sources[0].page("alpha")
        self.assertEqual(lookup.entry.content.name, "alpha")
        self.assertEqual(upstream.count(b"/simple/alpha/"), 1)
        upstream.down = True
        second.clock.advance(10_000)
        lookup = yield second.sources[0].page("alpha")
        self.assertTrue(lookup.stale)

    @inlineCallbacks
    def test_unparseablePageNeverReplacesStored(self):  # type: ignore[no-untyped-def]
        """
        A page that changed upstream into something that does not parse is
        never stored: the copy fetched before is served stale, also by a
        new process.
        """
        upstream = sampleIndex()
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir, ttl=600)
        yield first.sources[0].page("alpha")
        upstream.faults[b"/simple/alpha/"] = "garbage"
        first.clock.advance(601)
        lookup = yield first.sources[0].page("alpha")
        self.assertTrue(lookup.stale)
        second = Harness(self, [url], dataDir=dataDir, ttl=600)
        second.clock.advance(10_000)
        lookup = yield second.sources[0].page("alpha")
        self.assertTrue(lookup.stale)
        self.assertEqual(lookup.entry.content.name, "alpha")
        self.assertEqual(len(lookup.entry.content.files), 2)
        pages = dataDir.child("pages").child(first.sources[0].sourceID)
        self.assertEqual(pages.listdir(), ["alpha.page"])

    @inlineCallbacks
    def test_cutShortPageFetchedAgain(self):  # type: ignore[no-untyped-def]
        """
        A stored HTML page cut short on disk (a crash: pages are written
        without a sync), which would parse as a page listing fewer files,
        is not served by a new process as if whole: it is fetched again.
        """
        upstream = sampleIndex("html")
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir)
        yield first.sources[0].page("alpha")
        path = dataDir.child("pages").child(first.sources[0].sourceID).child("alpha.page")
        content = path.getContent()
        path.setContent(content[: len(content) - 80])
        second = Harness(self, [url], dataDir=dataDir)
        second.clock.advance(10)
        lookup = yield second.sources[0].page("alpha")
        self.assertEqual(len(lookup.entry.content.files), 2)
        self.assertEqual(upstream.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def test_revalidationSurvivesRestart(self):  # type: ignore[no-untyped-def]
        """
        A page confirmed by a 304 is stored with its new time: a new
        process finds it fresh and does not ask the upstream.
        """
        upstream = sampleIndex()
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir, ttl=600)
        yield first.sources[0].page("alpha")
        first.clock.advance(601)
        yield first.sources[0].page("alpha")
        self.assertEqual(first.sources[0].notModified, 1)
        second = Harness(self, [url], dataDir=dataDir, ttl=600)
        second.clock.advance(601 + 300)
        lookup = yield second.sources[0].page("alpha")
        self.assertEqual(lookup.entry.fetchedAt, first.clock.seconds())
        self.assertFalse(lookup.stale)
        self.assertEqual(upstream.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def restartAfterDiskFailure(self, modelBudget: int):  # type: ignore[no-untyped-def]
        """
        Have alpha's page fetched, then fetched again once changed upstream
        while the disk is full (it is served from memory), then confirmed
        by a 304 once the disk has room again; then ask a new process on
        the same data directory for it.

        @param modelBudget: the first process's (see L{UpstreamSource}).
        @return: a L{Deferred} firing with the new process's lookup, the
            file the change added, and the upstream.
        """
        upstream = sampleIndex()
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir, ttl=600)
        source = first.sources[0]
        source.modelBudget = modelBudget
        yield source.page("alpha")
        filename, data = makeWheel("alpha", "2.0")
        upstream.add("alpha", Dist(filename, data))
        keepFetched = pagestoreModule.PageStore.keepFetched
        full = [True]

        def maybeFull(*args, **kwargs):  # type: ignore[no-untyped-def]
            if full[0]:
                raise OSError(errno.ENOSPC, "No space left on device")
            return keepFetched(*args, **kwargs)

        self.patch(pagestoreModule.PageStore, "keepFetched", maybeFull)
        first.clock.advance(601)
        lookup = yield source.page("alpha")
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])
        full[0] = False
        first.clock.advance(601)
        yield source.page("alpha")
        self.assertEqual(source.notModified, 1)
        second = Harness(self, [url], dataDir=dataDir, ttl=600)
        second.clock.advance(first.clock.seconds() - second.clock.seconds() + 10)
        lookup = yield second.sources[0].page("alpha")
        return lookup, filename, upstream

    @inlineCallbacks
    def test_notModifiedAfterDiskFailure(self):  # type: ignore[no-untyped-def]
        """
        A changed page that could not be written (disk full for a moment),
        then confirmed by a 304, is stored as it is served: the older page
        stored before is not given the new validators, to be served as
        current by a new process.
        """
        lookup, filename, upstream = yield self.restartAfterDiskFailure(5_000)
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])
        self.assertEqual(upstream.count(b"/simple/alpha/"), 3)

    @inlineCallbacks
    def test_notModifiedLetGoAfterDiskFailure(self):  # type: ignore[no-untyped-def]
        """
        The same, the page let go from memory before the 304: it cannot be
        stored then, and nothing is (not a "not found" in its place): a new
        process fetches it again.
        """
        lookup, filename, upstream = yield self.restartAfterDiskFailure(1)
        self.assertIn(filename, [f.filename for f in lookup.entry.content.files])
        self.assertEqual(upstream.count(b"/simple/alpha/"), 4)

    @inlineCallbacks
    def test_stalledPageAskedAgain(self):  # type: ignore[no-untyped-def]
        """
        A page whose body stops coming midway, the connection open, is
        asked for again once nothing came for the idle timeout.
        """
        upstream = sampleIndex()
        harness = Harness(self, [serveIndex(self, upstream)], idleTimeout=0.2)
        upstream.faults[b"/simple/alpha/"] = "stall-once"
        lookup = yield harness.sources[0].page("alpha")
        self.assertFalse(lookup.stale)
        self.assertEqual(lookup.entry.content.name, "alpha")
        self.assertEqual(upstream.count(b"/simple/alpha/"), 2)

    @inlineCallbacks
    def test_upstreamTimeout(self):  # type: ignore[no-untyped-def]
        """
        An upstream that never answers is given up after the timeout, and
        not asked again at once: the stale copy is served, and without one
        the lookup fails.
        """
        upstream = sampleIndex()
        harness = Harness(self, [serveIndex(self, upstream)], connectTimeout=0.3)
        yield harness.sources[0].page("alpha")
        upstream.faults[b"/simple/alpha/"] = "hang"
        upstream.faults[b"/simple/beta/"] = "hang"
        harness.clock.advance(10_000)
        lookup = yield harness.sources[0].page("alpha")
        self.assertTrue(lookup.stale)
        yield self.assertFailure(harness.sources[0].page("beta"), SourcesUnavailable)
        # Not asked again: it would only make the client wait as long again.
        self.assertEqual(upstream.count(b"/simple/alpha/"), 2)
        self.assertEqual(upstream.count(b"/simple/beta/"), 1)

    @inlineCallbacks
    def test_refusedConnection(self):  # type: ignore[no-untyped-def]
        """
        An upstream that refuses connections counts as failed: stale copies
        are served, and without one the lookup fails.
        """
        upstream = sampleIndex()
        port, base = listen(upstream)
        dataDir = FilePath(self.mktemp())
        harness = Harness(self, [base + "/simple/"], dataDir=dataDir)
        yield harness.sources[0].page("alpha")
        yield takeDown(self, port)
        yield harness.upstreamPool.closeCachedConnections()
        harness.clock.advance(10_000)
        lookup = yield harness.sources[0].page("alpha")
        self.assertTrue(lookup.stale)
        yield self.assertFailure(harness.sources[0].page("beta"), SourcesUnavailable)


class IndexTests(TestCase):
    """
    L{cheesecache.index.Index} over several upstreams.
    """

    @inlineCallbacks
    def test_firstSourceThatKnowsWins(self):  # type: ignore[no-untyped-def]
        """
        A project is answered by the first upstream that knows it, alone.
        """
        one, two = sampleIndex(), FakeIndex()
        filename, data = makeWheel("alpha", "9.0")
        two.add("alpha", Dist(filename, data))
        filename, data = makeWheel("beta", "1.0")
        two.add("beta", Dist(filename, data))
        harness = Harness(self, [serveIndex(self, one), serveIndex(self, two)])
        found = yield harness.index.project("Alpha")
        self.assertNotIn("alpha-9.0-py3-none-any.whl", [f.filename for f in found.page.files])
        found = yield harness.index.project("beta")
        self.assertIs(found.source, harness.sources[1])
        yield self.assertFailure(harness.index.project("gamma"), ProjectNotFound)
        listing = yield harness.index.projectList()
        self.assertEqual(sorted(listing.entry.content.names), ["alpha", "beta"])

    @inlineCallbacks
    def test_rootListOfTheOnlySourceWithNames(self):  # type: ignore[no-untyped-def]
        """
        When one source alone lists projects, the root list is that
        source's own entry (and its renderings), not a merged copy.
        """
        harness = Harness(self, [serveIndex(self, FakeIndex()), serveIndex(self, sampleIndex())])
        listing = yield harness.index.projectList()
        own = yield harness.sources[1].page(None)
        self.assertIs(listing.entry, own.entry)
        self.assertEqual(list(listing.entry.content.names), ["alpha"])

    @inlineCallbacks
    def test_rootListLetGoReadOncePerChange(self):  # type: ignore[no-untyped-def]
        """
        A root list let go from memory (over the model budget) is read back
        from the page store when the sources' lists change, not for every
        request.
        """
        harness = Harness(self, [serveIndex(self, FakeIndex()), serveIndex(self, sampleIndex())])
        source = harness.sources[1]
        source.modelBudget = 1
        listing = yield harness.index.projectList()
        harness.clock.advance(0)
        self.assertIsNone(listing.entry._content)
        loads = []
        load = pagestoreModule.PageStore.load
        self.patch(
            pagestoreModule.PageStore, "load",
            lambda store, *a: loads.append(a) or load(store, *a),
        )
        for _ in range(3):
            again = yield harness.index.projectList()
            self.assertIs(again.entry, listing.entry)
        self.assertEqual(loads, [])

    @inlineCallbacks
    def test_noFallThroughOnFailure(self):  # type: ignore[no-untyped-def]
        """
        When an earlier upstream fails with nothing cached, a later one is
        not asked: it must not answer for a name the first may own.
        """
        one, two = sampleIndex(), sampleIndex()
        one.down = True
        harness = Harness(self, [serveIndex(self, one), serveIndex(self, two)])
        yield self.assertFailure(harness.index.project("alpha"), SourcesUnavailable)
        self.assertEqual(two.count(b"/simple/alpha/"), 0)

    @inlineCallbacks
    def test_offlineMergeOfWhatIsCached(self):  # type: ignore[no-untyped-def]
        """
        Offline, a merge route lists the files of the sources that have the
        page cached, rather than none because another has nothing cached
        (as online, when that one fails).  With nothing cached at all, the
        project is not found.
        """
        one, two = FakeIndex(), sampleIndex()
        one.down = True
        urls = [serveIndex(self, one), serveIndex(self, two)]
        routes = [Route("*", ("upstream-1", "upstream-2"), merge=True)]
        dataDir = FilePath(self.mktemp())
        online = Harness(self, urls, dataDir=dataDir, routes=routes)
        found = yield online.index.project("alpha")
        self.assertEqual(len(found.page.files), 2)
        offline = Harness(self, urls, dataDir=dataDir, routes=routes, offline=True)
        offline.clock.advance(10)
        found = yield offline.index.project("alpha")
        self.assertEqual(len(found.page.files), 2)
        self.assertIs(found.sourceOf(found.page.files[0]), offline.sources[1])
        yield self.assertFailure(offline.index.project("beta"), ProjectNotFound)

    @inlineCallbacks
    def test_mergeOfPageGoneFromDisk(self):  # type: ignore[no-untyped-def]
        """
        On a merge route, a source's page let go from memory and gone from
        disk when another's changed is left out, as a source that fails is
        (not a crash merging nothing), and fetched again on the next
        request.
        """
        one, two = sampleIndex(), FakeIndex()
        filename, data = makeWheel("alpha", "9.0")
        two.add("alpha", Dist(filename, data))
        routes = [Route("*", ("upstream-1", "upstream-2"), merge=True)]
        harness = Harness(self, [serveIndex(self, one), serveIndex(self, two)], routes=routes)
        first = harness.sources[0]
        first.modelBudget = 1
        found = yield harness.index.project("alpha")
        self.assertEqual(len(found.page.files), 3)
        harness.clock.advance(0)  # let go from memory
        self.assertFalse(first.cachedEntry("alpha").loaded)
        harness.dataDir.child("pages").child(first.sourceID).child("alpha.page").remove()
        newer, data = makeWheel("alpha", "10.0")
        two.add("alpha", Dist(newer, data))
        harness.sources[1].expire("alpha")
        found = yield harness.index.project("alpha")
        self.assertEqual(sorted(f.filename for f in found.page.files), [newer, filename])
        found = yield harness.index.project("alpha")
        self.assertEqual(len(found.page.files), 4)
        self.assertEqual(one.count(b"/simple/alpha/"), 2)


class _OneEntrySource:
    """
    The least of an L{cheesecache.index.ISource} for merging: one page,
    whose entry L{replace} makes anew, as a source does when a page changes
    or is read back.
    """

    def __init__(self, name: str, page: ProjectPage) -> None:
        self.name = name
        self.entry = PageEntry(page, "", Validators(), 0.0)

    def page(self, name: str, via: object = ()) -> Deferred:
        return succeed(Lookup(self.entry))

    def replace(self, page: ProjectPage) -> None:
        # A busy process has freed dicts to reuse: a new entry's is then
        # most often made where the last one was.
        spare = [{} for _ in range(200)]
        del spare
        self.entry = None  # type: ignore[assignment]
        self.entry = PageEntry(page, "", Validators(), 0.0)


class ForgetRenderedTests(TestCase):
    """
    L{Index.forgetRendered} on pages rendered to disk.
    """

    @inlineCallbacks
    def test_filesGo(self):  # type: ignore[no-untyped-def]
        """
        The files of the representations forgotten go: the page is
        rendered again, as something else (metadata extracted since, a
        release added upstream), when next asked for, and nothing would
        remove the old files, which are served no more.
        """
        import os

        from cheesecache.simple.render import JSON_TYPE

        upstream = bigProjectIndex("big")
        harness = Harness(self, [serveIndex(self, upstream)], ttl=600)
        response, _ = yield harness.get("/simple/big/", {"Accept": JSON_TYPE})
        self.assertEqual(response.code, 200)
        old = harness.sources[0].cachedEntry("big").rendered[JSON_TYPE].path
        self.assertTrue(os.path.exists(old))
        # As the Rerenderer does for a page it cannot render again on the
        # spot (stale, or merged from several sources).
        harness.index.forgetRendered("big")
        upstream.add("big", Dist("big-2.0.tar.gz", b"new"))
        harness.clock.advance(601)
        response, body = yield harness.get("/simple/big/", {"Accept": JSON_TYPE})
        self.assertIn(b"big-2.0.tar.gz", body)
        new = harness.sources[0].cachedEntry("big").rendered[JSON_TYPE].path
        self.assertNotEqual(new, old)
        self.assertFalse(os.path.exists(old))


class MergedPageTests(SynchronousTestCase):
    """
    The merged page of a project on a C{merge = true} route.
    """

    def test_followsNewEntries(self) -> None:
        """
        The merged page is merged again whenever a source's entry is a new
        one, even one made where a freed entry was (a merged page cached
        by the address of what it was merged from was served long after
        the page changed).
        """

        def page(version: str) -> ProjectPage:
            return ProjectPage("shared", [
                DistFile(f"shared-{version}.tar.gz", f"http://h/{version}", {"sha256": "1" * 64})
            ])

        one = _OneEntrySource("one", ProjectPage("shared", []))
        two = _OneEntrySource("two", ProjectPage("shared", []))
        index = Index([one, two], [Route("shared", ("one", "two"), merge=True)])  # type: ignore[list-item]
        shown = []
        for i in range(200):
            one.replace(page(f"{i}.0"))
            found = self.successResultOf(index.project("shared"))
            shown.append([f.filename for f in found.page.files])
        self.assertEqual(shown, [[f"shared-{i}.0.tar.gz"] for i in range(200)])


class HTMLUpstreamTests(TestCase):
    """
    An HTML-only upstream.
    """

    @inlineCallbacks
    def test_htmlUpstream(self):  # type: ignore[no-untyped-def]
        """
        Pages of an HTML upstream are parsed with yanks and requires-python,
        and relative links resolve against the upstream page URL.
        """
        upstream = sampleIndex("html")
        url = serveIndex(self, upstream)
        harness = Harness(self, [url])
        lookup = yield harness.sources[0].page("alpha")
        byName = {f.filename: f for f in lookup.entry.content.files}
        self.assertEqual(byName["alpha-0.9.tar.gz"].yanked, "broken")
        self.assertEqual(
            byName["alpha-1.0-py3-none-any.whl"].requiresPython, ">=3.8,<4"
        )
        self.assertEqual(
            byName["alpha-0.9.tar.gz"].url,
            url.replace("/simple/", "/packages/alpha-0.9.tar.gz"),
        )


class _ManualTask:
    """
    What L{_ManualCooperator} gives for each iterator it is handed.
    """

    def __init__(self, iterator: object) -> None:
        self.iterator = iterator
        self.done: "Deferred[object]" = Deferred()
        self.steps = 0

    def whenDone(self) -> "Deferred[object]":
        return self.done

    def step(self) -> bool:
        """
        Run one step; C{True} once the iterator is through.
        """
        try:
            next(self.iterator)  # type: ignore[call-overload]
        except StopIteration:
            self.done.callback(self.iterator)
            return True
        except Exception:
            self.done.errback()
            return True
        self.steps += 1
        return False

    def runToEnd(self) -> None:
        while not self.step():
            pass


class _ManualCooperator:
    """
    A stand-in for C{task.cooperate} whose steps the test runs.
    """

    def __init__(self) -> None:
        self.tasks: List[_ManualTask] = []

    def __call__(self, iterator: object) -> _ManualTask:
        task = _ManualTask(iterator)
        self.tasks.append(task)
        return task


@inlineCallbacks
def smallAnsweredMidway(  # type: ignore[no-untyped-def]
    testCase: TestCase, source: indexModule.UpstreamSource, task: "_ManualTask", big: Deferred
):
    """
    Take one step of the big page's C{task}, have the page C{small}
    answered while C{big} still waits, then finish the task.
    """
    testCase.assertFalse(task.step())
    testCase.assertNoResult(big)
    small = yield source.page("small")
    testCase.assertEqual(len(small.entry.content.files), 1)
    testCase.assertNoResult(big)
    task.runToEnd()


def bigProjectIndex(*names: str, files: int = 3000) -> FakeIndex:
    """
    An upstream whose pages for C{names} are well over
    L{indexModule.COOPERATIVE_PARSE}, and a small page, C{small}.
    """
    index = FakeIndex()
    for name in names:
        index.add(name, *(Dist(f"{name}-1.{i}.tar.gz", b"%d" % i) for i in range(files)))
    index.add("small", Dist("small-1.0.tar.gz", b"small"))
    return index


class ParseSliceTests(SynchronousTestCase):
    """
    Big pages are parsed in slices of L{indexModule.PARSE_SLICE}, not
    Twisted's default 10 ms, so that requests read between two slices are
    not kept waiting for two long ones.
    """

    def test_sliceEnds(self) -> None:
        """
        A slice ends L{indexModule.PARSE_SLICE} seconds after it starts.
        """
        now = [1000.0]
        self.patch(indexModule, "time", SimpleNamespace(monotonic=lambda: now[0]))
        ended = indexModule._Slice()
        self.assertFalse(ended())
        now[0] += indexModule.PARSE_SLICE / 2
        self.assertFalse(ended())
        now[0] += indexModule.PARSE_SLICE / 2
        self.assertTrue(ended())
        self.assertLess(indexModule.PARSE_SLICE, 0.01)

    def test_stepsInSlices(self) -> None:
        """
        The parsing cooperator runs steps until the slice ends, then lets
        the reactor turn: with steps of a quarter of a slice, four at a
        time.
        """
        now = [1000.0]
        self.patch(indexModule, "time", SimpleNamespace(monotonic=lambda: now[0]))
        turns: List[Callable[[], None]] = []
        cooperator = indexModule.Cooperator(
            terminationPredicateFactory=indexModule._Slice, scheduler=turns.append
        )
        steps: List[int] = []

        def work() -> Iterator[None]:
            for i in range(10):
                steps.append(i)
                now[0] += indexModule.PARSE_SLICE / 4
                yield None

        cooperator.cooperate(work())
        ranPerTurn = []
        while turns:
            before = len(steps)
            turns.pop(0)()
            ranPerTurn.append(len(steps) - before)
        self.assertEqual(ranPerTurn, [4, 4, 2])

    def test_default(self) -> None:
        """
        A source parses its big pages with that cooperator unless told
        otherwise.
        """
        self.assertEqual(
            attrs.fields(indexModule.UpstreamSource).cooperate.default,
            indexModule._parsing.cooperate,
        )
        self.assertIs(indexModule._parsing._terminationPredicateFactory, indexModule._Slice)


class CooperativeParseTests(TestCase):
    """
    Big pages are parsed in steps, one page at a time, and the reactor
    answers other requests between the steps.
    """

    def setUp(self) -> None:
        self.upstream = bigProjectIndex("big", "huge")
        self.harness = Harness(self, [serveIndex(self, self.upstream)])
        self.source = self.harness.sources[0]
        self.cooperator = _ManualCooperator()
        self.source.cooperate = self.cooperator

    @inlineCallbacks
    def waitForTasks(self, count: int):  # type: ignore[no-untyped-def]
        from .harness import sleep

        for _ in range(500):
            if len(self.cooperator.tasks) >= count:
                return
            yield sleep(0.01)
        raise AssertionError(f"{count} parses never started")

    @inlineCallbacks
    def test_inStepsWhileOthersAreServed(self):  # type: ignore[no-untyped-def]
        """
        A big page is parsed in several steps into the same page a parse
        at once gives; while it is under way, a small page is fetched,
        parsed and answered.
        """
        big = self.source.page("big")
        yield self.waitForTasks(1)
        [task] = self.cooperator.tasks
        yield smallAnsweredMidway(self, self.source, task, big)
        lookup = yield big
        self.assertGreaterEqual(task.steps, 3000 // 256)
        page = lookup.entry.content
        self.assertEqual(len(page.files), 3000)
        self.assertEqual(page.files[-1].filename, "big-1.2999.tar.gz")

    @inlineCallbacks
    def test_oneBigPageAtATime(self):  # type: ignore[no-untyped-def]
        """
        A second big page waits for the first to be parsed before its own
        parsing starts, so that only one is held half-parsed in memory.
        """
        big = self.source.page("big")
        huge = self.source.page("huge")
        yield self.waitForTasks(1)
        yield self.source.page("small")  # both big pages have arrived by now
        self.assertEqual(len(self.cooperator.tasks), 1)
        # Whichever arrived first is parsed first (on a busy machine, not
        # always the first asked for).
        self.cooperator.tasks[0].runToEnd()
        yield self.waitForTasks(2)
        self.cooperator.tasks[1].runToEnd()
        lookups = yield gatherResults([big, huge])
        self.assertEqual(
            [len(lookup.entry.content.files) for lookup in lookups], [3000, 3000]
        )

    @inlineCallbacks
    def test_badBigPage(self):  # type: ignore[no-untyped-def]
        """
        A big page that turns out not to parse, at its very end, fails like
        a small one: with nothing cached the source is unavailable, nothing
        is stored, and the next big page is parsed.
        """
        self.upstream.faults[b"/simple/big/"] = "cut"
        failed = self.source.page("big")
        yield self.waitForTasks(1)
        self.cooperator.tasks[0].runToEnd()
        yield self.assertFailure(failed, SourcesUnavailable)
        self.assertIsNone(self.harness.sources[0].store.load(self.source.sourceID, "big"))
        huge = self.source.page("huge")
        yield self.waitForTasks(2)
        self.cooperator.tasks[1].runToEnd()
        lookup = yield huge
        self.assertEqual(len(lookup.entry.content.files), 3000)


class _RecordingRendering:
    """
    An L{indexModule.IPageRendering} that keeps what it is given.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.files: list = []
        self.finished: list = []
        self.abandoned = False

    def add(self, f: object) -> None:
        self.files.append(f)

    def addPlain(self, entry: object) -> bool:
        return False

    def addRun(self, text: str, start: int, end: int) -> bool:
        return False

    def finish(self, page: object, rendered: dict) -> None:
        self.finished.append(page)
        rendered["made"] = f"{len(self.files)} files"

    def abandon(self) -> None:
        self.abandoned = True


def recordRenderings(source: indexModule.UpstreamSource) -> List[_RecordingRendering]:
    """
    Have C{source} render its big pages while parsing them into
    L{_RecordingRendering}s: the list they are added to.
    """
    renderings: List[_RecordingRendering] = []

    def rendering(name: str, size: int, contentType: Optional[str] = None) -> _RecordingRendering:
        renderings.append(_RecordingRendering(name))
        return renderings[-1]

    source.renderWhileParsing = rendering
    return renderings


class RenderWhileParsingTests(TestCase):
    """
    With L{indexModule.UpstreamSource.renderWhileParsing}, a big JSON page's
    files go to its rendering as they are parsed, and its entry holds what
    that made, not the files.
    """

    def setUp(self) -> None:
        self.upstream = bigProjectIndex("big")
        self.harness = Harness(self, [serveIndex(self, self.upstream)])
        self.source = self.harness.sources[0]
        self.renderings = recordRenderings(self.source)

    @inlineCallbacks
    def test_bigPage(self):  # type: ignore[no-untyped-def]
        """
        Every file of a big page goes to the rendering, in order; the entry
        keeps what it made, and the page, which lists no more files than
        the model budget.
        """
        lookup = yield self.source.page("big")
        [rendering] = self.renderings
        self.assertEqual(len(rendering.files), 3000)
        self.assertEqual(lookup.entry.rendered, {"made": "3000 files"})
        self.assertTrue(lookup.entry.loaded)
        self.assertEqual(list(lookup.entry.content.files), rendering.files)

    @inlineCallbacks
    def test_pageOverBudget(self):  # type: ignore[no-untyped-def]
        """
        A big page that lists more files than the model budget is let go as
        it is parsed: its entry keeps what the rendering made, not the page,
        which is read back whole from the page store when asked for.
        """
        self.source.modelBudget = 2999
        lookup = yield self.source.page("big")
        [rendering] = self.renderings
        self.assertEqual(rendering.name, "big")
        self.assertEqual(len(rendering.files), 3000)
        self.assertEqual(rendering.files[-1].filename, "big-1.2999.tar.gz")
        [page] = rendering.finished
        self.assertEqual((page.name, page.files), ("big", ()))
        entry = lookup.entry
        self.assertEqual(entry.rendered, {"made": "3000 files"})
        self.assertTrue(entry.found)
        self.assertFalse(entry.loaded)
        self.assertEqual(list(entry.content.files), rendering.files)
        self.assertEqual(self.upstream.count(b"/simple/big/"), 1)

    @inlineCallbacks
    def test_smallPageParsedWhole(self):  # type: ignore[no-untyped-def]
        """
        A small page is parsed whole, as before; no rendering is made.
        """
        lookup = yield self.source.page("small")
        self.assertEqual(self.renderings, [])
        self.assertTrue(lookup.entry.loaded)

    @inlineCallbacks
    def test_badPageAbandoned(self):  # type: ignore[no-untyped-def]
        """
        A big page that does not parse has its rendering abandoned, and
        fails as before.
        """
        self.upstream.faults[b"/simple/big/"] = "cut"
        yield self.assertFailure(self.source.page("big"), SourcesUnavailable)
        [rendering] = self.renderings
        self.assertTrue(rendering.abandoned)
        self.assertEqual(rendering.finished, [])


class RestartInStepsTests(TestCase):
    """
    After a restart, a big JSON page kept on disk is read back in steps,
    rendered as it is parsed, as when it was fetched; the reactor answers
    other requests between the steps.
    """

    @inlineCallbacks
    def setUp(self):  # type: ignore[no-untyped-def]
        self.upstream = bigProjectIndex("big")
        url = serveIndex(self, self.upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir)
        yield first.sources[0].page("big")
        yield first.sources[0].page("small")
        self.pages = dataDir.child("pages").child(first.sources[0].sourceID)
        # The new process.
        self.harness = Harness(self, [url], dataDir=dataDir)
        self.source = self.harness.sources[0]
        self.cooperator = _ManualCooperator()
        self.source.cooperate = self.cooperator
        self.renderings = recordRenderings(self.source)

    @inlineCallbacks
    def test_bigStoredPageInSteps(self):  # type: ignore[no-untyped-def]
        """
        The big page is parsed in steps, into its rendering; a small stored
        page is answered while it is under way; the upstream is not asked.
        """
        big = self.source.page("big")
        [task] = self.cooperator.tasks
        yield smallAnsweredMidway(self, self.source, task, big)
        lookup = yield big
        [rendering] = self.renderings
        self.assertEqual(rendering.name, "big")
        self.assertEqual(len(rendering.files), 3000)
        self.assertEqual(lookup.entry.rendered, {"made": "3000 files"})
        self.assertEqual(list(lookup.entry.content.files), rendering.files)
        self.assertFalse(lookup.stale)
        self.assertEqual(self.upstream.count(b"/simple/big/"), 1)
        self.assertEqual(self.upstream.count(b"/simple/small/"), 1)

    @inlineCallbacks
    def test_oneReadForAll(self):  # type: ignore[no-untyped-def]
        """
        Requests that come while the page is read back wait for that one
        reading; the next finds the page in memory.
        """
        first, second = self.source.page("big"), self.source.page("big")
        [task] = self.cooperator.tasks
        task.runToEnd()
        a, b = yield gatherResults([first, second])
        self.assertIs(a.entry, b.entry)
        again = yield self.source.page("big")
        self.assertIs(again.entry, a.entry)
        self.assertEqual(len(self.renderings), 1)
        self.assertEqual(len(self.cooperator.tasks), 1)

    @inlineCallbacks
    def test_unreadableStoredPage(self):  # type: ignore[no-untyped-def]
        """
        A stored big page that does not parse any more has its rendering
        abandoned, and is fetched again.
        """
        stored = self.pages.child("big.page")
        # Its bytes changed, not cut short: that is found before parsing.
        stored.setContent(stored.getContent()[:-100] + b"x" * 100)
        big = self.source.page("big")
        self.cooperator.tasks[0].runToEnd()
        # The page fetched again is parsed in steps too.
        from .harness import sleep
        for _ in range(500):
            if len(self.cooperator.tasks) == 2:
                break
            yield sleep(0.01)
        self.cooperator.tasks[1].runToEnd()
        lookup = yield big
        self.assertEqual(len(lookup.entry.content.files), 3000)
        self.assertTrue(self.renderings[0].abandoned)
        self.assertEqual(len(self.renderings), 2)
        self.assertEqual(self.upstream.count(b"/simple/big/"), 2)

    @inlineCallbacks
    def test_withoutRenderingReadAtOnce(self):  # type: ignore[no-untyped-def]
        """
        With no rendering to make, a big stored page is read back at once,
        as before.
        """
        self.source.renderWhileParsing = None
        lookup = yield self.source.page("big")
        self.assertEqual(self.cooperator.tasks, [])
        self.assertEqual(len(lookup.entry.content.files), 3000)
        self.assertEqual(self.upstream.count(b"/simple/big/"), 1)


class RestartRootListInStepsTests(TestCase):
    """
    After a restart, a big stored root list is read back in steps too.
    """

    @inlineCallbacks
    def test_bigRootListInSteps(self):  # type: ignore[no-untyped-def]
        """
        The list is parsed in steps, a small page answered meanwhile, and
        it is the list as fetched; the upstream is not asked again.
        """
        upstream = FakeIndex()
        for i in range(12_000):
            upstream.add(f"project-{i:05d}")
        upstream.add("small", Dist("small-1.0.tar.gz", b"small"))
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        first = Harness(self, [url], dataDir=dataDir)
        fetched = yield first.sources[0].page(None)
        yield first.sources[0].page("small")
        stored = dataDir.child("pages").child(first.sources[0].sourceID)
        self.assertGreater(
            stored.child(pagestoreModule.ROOT_NAME + ".page").getsize(),
            indexModule.COOPERATIVE_PARSE,
        )
        second = Harness(self, [url], dataDir=dataDir)
        source = second.sources[0]
        cooperator = _ManualCooperator()
        source.cooperate = cooperator
        rootList = source.page(None)
        [task] = cooperator.tasks
        yield smallAnsweredMidway(self, source, task, rootList)
        lookup = yield rootList
        self.assertEqual(lookup.entry.content.names, fetched.entry.content.names)
        self.assertEqual(len(lookup.entry.content.names), 12_001)
        self.assertEqual(upstream.count(b"/simple/"), 1)
