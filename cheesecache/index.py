# -*- test-case-name: tests.test_index -*-
"""
Which source answers for a project, and keeping each upstream's pages fresh.

An L{UpstreamSource} caches one upstream's pages (memory, then disk), serves
them while fresh, revalidates them with conditional requests after, shares
one upstream request among all concurrent requests for a page, and serves
the stale copy when the upstream fails or is slow to answer.  The L{Index}
asks its sources in the order the routing gives (L{cheesecache.routing}):
by default the first that knows a project answers for it alone.
"""

from __future__ import annotations

import collections
import functools
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

import attrs
from twisted.internet.defer import (
    CancelledError, Deferred, DeferredSemaphore, fail, inlineCallbacks, maybeDeferred, succeed,
)
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import CooperativeTask, Cooperator
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

from .coalesce import Coalescer
from .freshness import (
    MAX_RETRY_AFTER,
    Decision,
    PageEntry,
    Policy,
    Validators,
    discardRendered,
)
from .memory import releaseFreeMemory
from .pagestore import FileNotListed, PageStore
from .recent import noteRecent
from .routing import Route, mergePages, routeFor
from .simple.model import DistFile, ProjectList, ProjectPage
from .simple.names import normalize
from .simple.parse import (
    ParseError,
    Steps,
    fileFromJSON,
    finish,
    handProjectJSONEntrySteps,
    isJSONType,
    pageText,
    parseListSteps,
    parseProjectSteps,
)
from .upstream import Fetched, LoopDetected, NotModified, Upstream, UpstreamError

log = Logger()

T = TypeVar("T")

#: A chain of C{Via} pseudonyms a request has passed through.
Via = Tuple[str, ...]


class ProjectNotFound(Exception):
    """
    No source knows the project.
    """


class NotCachedOffline(ProjectNotFound):
    """
    Offline, and the page was never cached.
    """


class SourcesUnavailable(Exception):
    """
    A source that might know the project failed and nothing is cached.

    @ivar retryAfter: the seconds the source's upstream asked to be left
        alone for, if it said (passed on to the client).
    @ivar looped: the upstream answered 508 Loop Detected (passed on to the
        client too).
    """

    def __init__(
        self, message: str, retryAfter: Optional[float] = None, looped: bool = False
    ) -> None:
        Exception.__init__(self, message)
        self.retryAfter = retryAfter
        self.looped = looped


@attrs.frozen
class Lookup:
    """
    A page as a source answers for it.

    @ivar stale: served from the cache because the upstream failed or was
        slow (or cheesecache is offline) although the page is past its
        freshness.
    """

    entry: PageEntry
    stale: bool = False


class ISource(Interface):
    """
    Somewhere project pages come from: an upstream index, or the private
    store of uploads.
    """

    name = Attribute("A short name, used in routes and logs.")

    def fileUpstream() -> Optional[Upstream]:
        """
        The upstream to fetch this source's files from, or C{None} when none
        may be contacted (the private store's files are all stored; an
        offline cache contacts nobody).
        """

    def page(name: Optional[str], via: Via = ()) -> "Deferred[Lookup]":
        """
        The page for project C{name} (C{None}: the root list).
        """

    def cachedEntry(name: Optional[str]) -> Optional[PageEntry]:
        """
        The entry held in memory for a page, if any.
        """

    def pageNow(name: Optional[str]) -> Optional[Lookup]:
        """
        The page, if it can be answered at once from memory without any I/O
        (fresh, or offline); C{None} when L{page} must be asked.
        """

    def storedFile(name: str, key: str, filename: str) -> Optional[DistFile]:
        """
        One file listed on the stored page of project C{name}, read without
        the rest of the page (for a page let go from memory); C{None} when
        it cannot be read so (the page must be read whole).

        @raise FileNotListed: the stored page does not list the file.
        """

    def renderStored(
        name: str, rendered: Dict[str, object], contentType: Optional[str] = None
    ) -> "Optional[Deferred[None]]":
        """
        Render project C{name}'s stored page into C{rendered} (its entry's
        representations), in steps, as when it was fetched, for a page let
        go from memory: its content would otherwise be read back whole, at
        once.  With C{contentType}, only that representation is made (one
        first asked for, such as the HTML); without, those made when the
        page was fetched (they must change).  C{None} when it cannot be
        rendered so.
        """

    def expire(name: str) -> None:
        """
        Ask the source again for project C{name}'s page on its next request,
        however fresh the copy held: the upstream said a file it lists is
        gone, so the page has most likely changed.
        """


class IPageRendering(Interface):
    """
    A big project page's representation, made from its files as they are
    parsed, so that they are never all in memory at once.
    """

    def add(f: DistFile) -> None:
        """
        The next file of the page.
        """

    def addPlain(entry: object) -> bool:
        """
        The next file of the page, as its JSON entry was decoded: written
        straight from it if it can be (see
        L{cheesecache.simple.plain.plainFileJSON}), in which case C{True};
        C{False}, and the file is to be given to L{add}, if not.
        """

    def addRun(text: str, start: int, end: int) -> bool:
        """
        The next files of the page, a run of their entries in C{text} from
        C{start} to C{end}, undecoded: written straight from the text if
        they can be (see L{cheesecache.simple.plain.plainRun}), in which
        case C{True}; C{False}, and they are decoded and given to
        L{addPlain} one by one, if not.
        """

    def finish(page: ProjectPage, rendered: Dict[str, object]) -> None:
        """
        Every file was given: C{page} is the rest of the page (without its
        files).  Put what was made in C{rendered} (an entry's
        representations), or nothing if it does not fit C{page}.
        """

    def abandon() -> None:
        """
        The page did not parse: drop what was made.
        """


#: Seconds a big page's parsing holds the reactor at a time.  The answer
#: to a request read between two slices is sent on the reactor's next
#: turn, after the next slice: with Twisted's default of 10 ms, a warm
#: page asked for while big pages were parsed waited up to 20-25 ms;
#: with 2 ms, up to 6-10 ms, the big pages taking no longer
#: (bench/fairness.py).
PARSE_SLICE = 0.002


class _Slice:
    """
    The end of a slice of L{PARSE_SLICE} seconds from now (a L{Cooperator}'s
    C{terminationPredicateFactory}).
    """

    def __init__(self) -> None:
        self._end = time.monotonic() + PARSE_SLICE

    def __call__(self) -> bool:
        return time.monotonic() >= self._end


#: What runs big pages' parsing (see L{UpstreamSource.cooperate}).
_parsing = Cooperator(terminationPredicateFactory=_Slice)


@implementer(ISource)
@attrs.define
class UpstreamSource:
    """
    One upstream index and its page cache.

    @ivar offline: never contact the upstream; serve only what is cached.
    """

    upstream: Upstream
    store: PageStore
    clock: IReactorTime
    policy: Policy = attrs.field(factory=Policy)
    name: str = ""
    offline: bool = False
    #: Called with each representation of a page that was replaced (to
    #: remove its file).
    discard: Optional[Callable[[object], None]] = None
    #: How many files (or root-list names) the parsed pages kept in memory
    #: may list together; beyond it the least recently loaded are let go
    #: (they are read back from disk when needed, e.g. for a cold file).  A
    #: page over the budget on its own is let go as soon as the requests
    #: that loaded it are answered.
    modelBudget: int = 5_000
    #: Runs a big page's parsing in steps (see L{Steps}), between which
    #: the reactor serves other requests: in slices of L{PARSE_SLICE}, by
    #: default.
    cooperate: Callable[[Iterator[None]], CooperativeTask] = _parsing.cooperate
    #: Given a project's name, the size of its big JSON page in bytes, and
    #: a content type or C{None}, what renders that page while it is parsed
    #: (see L{IPageRendering}): as that type alone, or else as it is when
    #: fetched.
    #: A page that lists more files than L{modelBudget} is then never held
    #: whole: it is let go from memory as it is parsed, and read back from
    #: the page store when its files are needed.  C{None}: big pages are
    #: parsed whole, like small ones.
    renderWhileParsing: Optional[
        Callable[[str, int, Optional[str]], IPageRendering]
    ] = None
    #: Big pages are parsed one at a time: more at once would hold more
    #: pages' text and models in memory at once, for no gain in time.
    _parsingBig: DeferredSemaphore = attrs.field(factory=lambda: DeferredSemaphore(1))
    _loaded: "collections.OrderedDict[Optional[str], int]" = attrs.field(
        factory=collections.OrderedDict
    )
    _loadedTotal: int = 0
    _entries: Dict[Optional[str], PageEntry] = attrs.field(factory=dict)
    #: How many "not found" answers are held in memory and on disk; beyond
    #: it the least recently kept are let go, and their stored copies
    #: removed (the name is asked for again).  Names no source has are
    #: without number: each asked for would otherwise stay for good, in
    #: memory and as a file of the page store.
    notFoundBudget: int = 10_000
    _notFound: "collections.OrderedDict[Optional[str], None]" = attrs.field(
        factory=collections.OrderedDict
    )
    _coalescer: Coalescer[Lookup] = attrs.field(factory=Coalescer)
    #: Big stored pages being read back in steps (see L{_loadingInSteps}).
    _loads: Coalescer[None] = attrs.field(factory=Coalescer)
    #: How many page requests were answered from the cache while fresh.
    hits: int = 0
    #: How many requests this source sent upstream (for tests and metrics).
    requests: int = 0
    #: How many revalidations the upstream answered with 304.
    notModified: int = 0
    #: How many times a stale copy was served because the upstream failed,
    #: or was slow to answer (see L{Policy.patience}).
    staleServed: int = 0
    #: Whether the last request to the upstream worked (C{None}: not asked
    #: yet), and when the last success and the last failure happened.
    reachable: Optional[bool] = None
    lastSuccessAt: Optional[float] = None
    lastFailureAt: Optional[float] = None
    lastError: Optional[str] = None
    #: Until when the upstream asked to be left alone (the C{Retry-After}
    #: of a 429): no page is asked for before then.  A rate limit is the
    #: client's, not the page's; asking for other pages meanwhile would
    #: only prolong it.  (A 503's holds back its page alone: another
    #: cheesecache sends one for a page it has not cached, and still
    #: serves the pages it has.)
    quietUntil: float = 0.0
    #: The upstream left a request unanswered past the policy's patience,
    #: and has answered none since: a stale page is then served at once
    #: (and revalidated meanwhile), rather than after the patience again
    #: for each page.  pip asks for one page at a time.
    slow: bool = False
    #: The upstream's last answer was a failure (refused, broken, a 5xx,
    #: its retries all spent; or an unusable answer) without a time to wait
    #: for, and it has answered none since: a stale page is then served at
    #: once (and revalidated meanwhile), as when it is L{slow}, rather than
    #: after its own tries and their pauses, which would cost each page of
    #: a pip install seconds while the upstream is down.
    failing: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.name:
            self.name = self.upstream.url

    @property
    def sourceID(self) -> str:
        return self.upstream.sourceID

    def _cached(self, name: Optional[str]) -> Optional[PageEntry]:
        entry = self._entries.get(name)
        if entry is None:
            entry = self.store.load(self.sourceID, name)
            if entry is not None:
                entry.loader = functools.partial(self._reload, name)
                self._entries[name] = entry
                self._noteLoaded(name, entry.content)
                self._noteNotFound(name, entry)
        return entry

    def _noteNotFound(self, name: Optional[str], entry: PageEntry) -> None:
        """
        Account for the entry of C{name} now in memory, letting the least
        recently kept "not found" ones go while over L{notFoundBudget},
        from memory and from the page store: a "not found" is fresh for a
        minute only, and one stored for every unknown name ever asked for
        (a scanner, a resolver trying names) filled the disk, never evicted.
        """
        if entry.found:
            self._notFound.pop(name, None)
            return
        for oldName in noteRecent(self._notFound, name, self.notFoundBudget):
            old = self._entries.get(oldName)
            if old is not None and not old.found:
                del self._entries[oldName]
                self._storing(
                    oldName, functools.partial(self.store.remove, self.sourceID, oldName)
                )

    def trimStored(self) -> int:
        """
        Remove the stored "not found" answers beyond L{notFoundBudget} that
        an earlier run left (see L{PageStore.trimNotFound}): none of them
        is in memory at start, so none would ever go.  Call before serving.

        @return: how many were removed.
        """
        removed = self.store.trimNotFound(self.sourceID, self.notFoundBudget)
        if removed:
            log.info(
                "Removed {n} stored \"not found\" answers of {name} beyond the"
                " {budget} kept", n=removed, name=self.name, budget=self.notFoundBudget,
            )
        return removed

    def _noteLoaded(self, name: Optional[str], content: Optional[object]) -> None:
        """
        Account for a parsed page now in memory, letting the least recently
        loaded ones go while over L{modelBudget}.
        """
        if content is None:
            return
        weight = len(getattr(content, "files", ()) or getattr(content, "names", ())) + 1
        self._loadedTotal += weight - self._loaded.pop(name, 0)
        self._loaded[name] = weight
        while self._loadedTotal > self.modelBudget and len(self._loaded) > 1:
            oldName, oldWeight = self._loaded.popitem(last=False)
            self._loadedTotal -= oldWeight
            old = self._entries.get(oldName)
            if old is not None:
                old.trim()
        if weight > self.modelBudget:
            # Needed now (it is being rendered, or a file looked up in it),
            # not after: keeping it would hold several megabytes until the
            # next page comes, and that page is parsed next to it.
            self.clock.callLater(0, self._letGo, name, content)

    def _letGo(self, name: Optional[str], content: object) -> None:
        """
        Trim page C{name} if C{content} is still its parsed form in memory.
        """
        entry = self._entries.get(name)
        if entry is None or entry._content is not content or name not in self._loaded:
            return
        self._loadedTotal -= self._loaded.pop(name)
        entry.trim()
        # What parsing, storing and rendering it took is free now: without
        # this the process would stay near its high-water mark.
        releaseFreeMemory()

    def _reload(self, name: Optional[str]) -> Optional[object]:
        """
        Read a trimmed page back from the page store.  If it is gone, the
        entry is dropped, so the next request fetches the page again.
        """
        stored = self.store.load(self.sourceID, name)
        if stored is None or stored.content is None:
            log.warn("Cached page {name} is gone from disk; it will be fetched again",
                     name=name or "/")
            self._entries.pop(name, None)
            return None
        self._noteLoaded(name, stored.content)
        return stored.content

    def cachedEntry(self, name: Optional[str]) -> Optional[PageEntry]:
        return self._entries.get(name)

    def _keep(self, name: Optional[str], entry: PageEntry) -> None:
        old = self._entries.get(name)
        if old is not None and old.rendered is not entry.rendered and self.discard is not None:
            # Named by their content: a page fetched again as it was is
            # rendered (as it is parsed) to the very files it was before.
            kept = {getattr(rep, "path", None) for rep in entry.rendered.values()}
            for rep in old.rendered.values():
                if getattr(rep, "path", None) not in kept:
                    self.discard(rep)
        self._entries[name] = entry
        if entry.found and entry.loader is None:
            entry.loader = functools.partial(self._reload, name)
        if entry.found:
            self._noteLoaded(name, entry._content)
        self._noteNotFound(name, entry)

    def pageNow(self, name: Optional[str]) -> Optional[Lookup]:
        entry = self._entries.get(name)
        if entry is None:
            return None
        if self.offline:
            self.hits += 1
            return Lookup(entry, stale=self.policy.decide(entry, self.clock.seconds()) is not Decision.USE)
        if self.policy.decide(entry, self.clock.seconds()) is Decision.USE:
            self.hits += 1
            return Lookup(entry, stale=entry.retryAt > 0)
        return None

    def page(self, name: Optional[str], via: Via = ()) -> "Deferred[Lookup]":
        if name not in self._entries:
            loading = self._loadingInSteps(name)
            if loading is not None:
                return loading.addCallback(lambda _: self._pageInMemory(name, via))
        return self._pageInMemory(name, via)

    def _pageInMemory(self, name: Optional[str], via: Via) -> "Deferred[Lookup]":
        self._cached(name)  # from disk into memory, if it is there
        lookup = self.pageNow(name)
        if lookup is not None:
            return succeed(lookup)
        if self.offline:
            return _failed(NotCachedOffline(f"{name or '/'} (offline, not cached)"))
        lookup = self._coalescer.run(name, lambda: self._refresh(name, via))
        entry = self._entries.get(name)
        if entry is None or lookup.called or self.policy.patience is None:
            return lookup
        return self._patiently(name, entry, lookup)

    def _patiently(
        self, name: Optional[str], entry: PageEntry, lookup: "Deferred[Lookup]"
    ) -> "Deferred[Lookup]":
        """
        C{lookup}, the upstream's answer for a stale page, or its cached
        copy C{entry} if the upstream has not answered within the policy's
        patience (at once, if it is L{slow} or L{failing}).  The upstream's
        answer goes on to update the cache (and is shared with the requests
        that come meanwhile, as ever).
        """
        answer: Deferred[Lookup] = Deferred(lambda _: lookup.cancel())

        def stale() -> None:
            self.staleServed += 1
            answer.callback(Lookup(entry, stale=True))

        def impatient() -> None:
            if not self.slow:
                self.slow = True
                log.warn(
                    "Upstream {upstream} is slow to answer for {name}; serving"
                    " cached pages until it answers",
                    upstream=self.upstream.url, name=name or "/",
                )
            stale()

        timer = None
        if self.slow:
            impatient()
        elif self.failing:
            stale()
        else:
            timer = self.clock.callLater(self.policy.patience, impatient)

        def answered(result: object) -> None:
            if timer is not None and timer.active():
                timer.cancel()
            if not answer.called:
                answer.callback(result)
            elif isinstance(result, Failure) and not result.check(
                SourcesUnavailable, CancelledError
            ):
                log.failure("Revalidating {name} failed", result, name=name or "/")

        lookup.addBoth(answered)
        return answer

    def _loadingInSteps(self, name: Optional[str]) -> "Optional[Deferred[None]]":
        """
        Read a big stored page back in steps, as when it was fetched: the
        root list, or a project's JSON page, rendered as it is parsed.
        After a restart, its first request would otherwise parse (and
        render) it in one go, a tenth of a second and more for the biggest,
        and every other request would wait.  Fires once it is in memory
        (or could not be read: it is then read, or fetched, as any other
        page); C{None} for a page that is read at once.
        """
        if self._loads.inflight(name):
            return self._loads.run(name, lambda: succeed(None))
        stored = self._storedInSteps(name)
        if stored is None:
            return None
        outcome, fetchedAt, rendering = stored
        return self._loads.run(
            name, lambda: self._loadInSteps(name, outcome, fetchedAt, rendering)
        )

    def _storedInSteps(
        self, name: Optional[str], contentType: Optional[str] = None
    ) -> Optional[Tuple[Fetched, float, Optional[IPageRendering]]]:
        """
        The big stored page of C{name} (as fetched, when it was fetched)
        and what renders it as it is parsed (nothing, for the root list);
        C{None} when it is not to be read in steps: not stored as fetched,
        small, or a project page with nothing to render it so.
        """
        if name is not None and self.renderWhileParsing is None:
            return None
        stored = self.store.readFetched(self.sourceID, name, atLeast=COOPERATIVE_PARSE)
        if stored is None:
            return None
        fetchedAt = stored.fetchedAt
        outcome = Fetched(stored.body, stored.contentType, stored.url, stored.validators)
        del stored  # the bytes go once parsed (see Fetched.takeBody)
        rendering = self._renderingFor(name, outcome, contentType)
        if name is not None and rendering is None:
            return None
        return outcome, fetchedAt, rendering

    def _loadInSteps(
        self,
        name: Optional[str],
        outcome: Fetched,
        fetchedAt: float,
        rendering: Optional[IPageRendering],
    ) -> "Deferred[None]":
        kept = None if rendering is None else _Kept(rendering, self.modelBudget, outcome.url)
        url, validators = outcome.url, outcome.validators

        def parsed(content: object) -> None:
            self._keep(name, _parsedEntry(content, kept, url, validators, fetchedAt))

        def failed(reason: Failure) -> None:
            if kept is not None:
                kept.rendering.abandon()
            log.warn(
                "Could not read back the stored page {name}: {error}",
                name=name or "/", error=reason.getErrorMessage(),
            )

        return self._parse(name, outcome, kept).addCallbacks(parsed, failed)

    def fileUpstream(self) -> Optional[Upstream]:
        return None if self.offline else self.upstream

    def storedFile(self, name: str, key: str, filename: str) -> Optional[DistFile]:
        return self.store.findFile(self.sourceID, name, key, filename)

    def renderStored(
        self, name: str, rendered: Dict[str, object], contentType: Optional[str] = None
    ) -> "Optional[Deferred[None]]":
        stored = self._storedInSteps(name, contentType)
        if stored is None:
            return None
        outcome, _, rendering = stored
        assert rendering is not None  # a project page's, as _storedInSteps gives
        # Rendered only: the page stays let go.
        kept = _Kept(rendering, 0, outcome.url, files=None)

        def parsed(page: object) -> None:
            rendering.finish(page, rendered)  # type: ignore[arg-type]

        def failed(reason: Failure) -> Failure:
            rendering.abandon()
            return reason

        return self._parse(name, outcome, kept).addCallbacks(parsed, failed)

    def expire(self, name: str) -> None:
        entry = self._entries.get(name)
        if entry is not None and entry.retryAt == 0.0:
            self._entries[name] = entry.expired()

    @property
    def coalesced(self) -> int:
        """
        How many page requests attached to a fetch already in flight.
        """
        return self._coalescer.coalesced

    @inlineCallbacks
    def _refresh(self, name: Optional[str], via: Via):  # type: ignore[no-untyped-def]
        entry = self._cached(name)
        decision = self.policy.decide(entry, self.clock.seconds())
        if decision is Decision.USE:
            return Lookup(entry)
        validators = entry.validators if decision is Decision.REVALIDATE else None
        wait = self._quietFor(self.clock.seconds())
        if wait > 0:
            # Not asked (see quietUntil), nor logged for each page.
            return self._withoutUpstream(
                name, entry, f"{self.upstream.url} asked to be left alone", wait
            )
        self.requests += 1
        try:
            outcome = yield self.upstream.fetchPage(name, validators, via)
            now = self.clock.seconds()
            if self.slow:
                log.info("Upstream {upstream} answers again", upstream=self.upstream.url)
            self.reachable, self.lastSuccessAt, self.slow = True, now, False
            self.failing = False
            if isinstance(outcome, NotModified):
                if entry is None:
                    raise UpstreamError("304 without a cached page")
                self.notModified += 1
                fresh = entry.refreshed(now)
                store = functools.partial(self.store.confirm, self.sourceID, name, fresh)
            elif isinstance(outcome, Fetched):
                pending = self._storing(name, functools.partial(
                    self.store.keepFetched, self.sourceID, name, outcome.url,
                    outcome.validators, now, outcome.contentType, outcome.body,
                ))
                # Only a page that can be read back is rendered as parsed.
                rendering = self._renderingFor(name, outcome) if pending is not None else None
                kept = (
                    _Kept(rendering, self.modelBudget, outcome.url)
                    if rendering is not None
                    else None
                )
                try:
                    content = yield self._parse(name, outcome, kept)
                except BaseException:
                    if pending is not None:
                        pending.abandon()
                    if rendering is not None:
                        rendering.abandon()
                    raise
                fresh = _parsedEntry(content, kept, outcome.url, outcome.validators, now)
                # A page that could not be written does not leave the one
                # stored before in its place: that one would be read back
                # (let go from memory, or after a restart) as this one.
                store = (
                    pending.commit if pending is not None
                    else functools.partial(self.store.remove, self.sourceID, name)
                )
            else:
                fresh = PageEntry(None, self.upstream.pageURL(name), Validators(), now)
                store = functools.partial(self.store.save, self.sourceID, name, fresh)
        except (UpstreamError, ParseError) as e:
            now = self.clock.seconds()
            retryAfter = getattr(e, "retryAfter", None)
            self.reachable, self.lastFailureAt = False, now
            self.lastError = str(e)
            # One that asked to be left alone is not failing: its wait is
            # heeded (quietUntil, or the page's own retryAt).
            self.failing = retryAfter is None
            limited = getattr(e, "rateLimited", False)
            if limited and retryAfter is not None and retryAfter > self._quietFor(now):
                self.quietUntil = now + retryAfter
                log.warn(
                    "Upstream {upstream} asked to be left alone for {seconds:.0f} s;"
                    " pages are not asked for until then",
                    upstream=self.upstream.url, seconds=retryAfter,
                )
            try:
                lookup = self._withoutUpstream(
                    name, entry, str(e), retryAfter, looped=isinstance(e, LoopDetected)
                )
            except SourcesUnavailable as unavailable:
                log.warn(
                    "Upstream {upstream} failed for {name}, nothing cached: {error}",
                    upstream=self.upstream.url, name=name or "/", error=str(e),
                )
                raise unavailable from e
            log.warn(
                "Upstream {upstream} failed for {name}; serving the copy fetched"
                " {age:.0f} s ago: {error}",
                upstream=self.upstream.url, name=name or "/",
                fetchedAt=lookup.entry.fetchedAt,
                age=max(0.0, self.clock.seconds() - lookup.entry.fetchedAt),
                error=str(e),
            )
            return lookup
        self._storing(name, store)
        self._keep(name, fresh)
        return Lookup(fresh)

    def _quietFor(self, now: float) -> float:
        """
        The seconds the upstream is still to be left alone for (see
        L{quietUntil}); none when the quiet time ends further off than any
        C{Retry-After} is heeded for: the clock went back since, and held,
        it would keep the upstream unasked for as long as it went back.
        """
        wait = self.quietUntil - now
        return wait if 0 < wait <= MAX_RETRY_AFTER else 0.0

    def _withoutUpstream(
        self,
        name: Optional[str],
        entry: Optional[PageEntry],
        error: str,
        retryAfter: Optional[float],
        looped: bool = False,
    ) -> Lookup:
        """
        The page when its upstream gives none: the cached copy, served
        stale and held back as L{Policy.afterFailure} says.

        @raise SourcesUnavailable: nothing is cached.
        """
        stale = self.policy.afterFailure(entry, self.clock.seconds(), retryAfter)
        if stale is None:
            raise SourcesUnavailable(error, retryAfter, looped)
        self.staleServed += 1
        self._keep(name, stale)
        return Lookup(stale, stale=True)

    def _storing(self, name: Optional[str], write: Callable[[], T]) -> Optional[T]:
        """
        Run a write to the page store.  A failing disk (full, read-only) is
        logged, not fatal: the page is served from memory all the same (and
        fetched again if it is let go and cannot be read back).
        """
        try:
            return write()
        except OSError as e:
            log.warn(
                "Could not store the page {name} on disk: {error}",
                name=name or "/", error=str(e),
            )
            return None

    def _renderingFor(
        self, name: Optional[str], outcome: Fetched, contentType: Optional[str] = None
    ) -> Optional[IPageRendering]:
        """
        What renders the project page C{outcome} brought while it is parsed
        (as C{contentType} alone, if given), if it is a big JSON page and
        there is one to render it.
        """
        if (
            self.renderWhileParsing is None
            or name is None
            or len(outcome.body) <= COOPERATIVE_PARSE
            or not isJSONType(outcome.contentType)
        ):
            return None
        return self.renderWhileParsing(name, len(outcome.body), contentType)

    def _parse(
        self, name: Optional[str], outcome: Fetched, kept: Optional["_Kept"] = None
    ) -> "Deferred[object]":
        """
        The page C{outcome} brought, parsed: at once if it is small; a big
        one in steps, so that the reactor is not held for the whole of it
        (the biggest pages take a tenth of a second and more).  With
        C{kept}, the files go there as they are parsed, and the page comes
        without them.
        """
        big = len(outcome.body) > COOPERATIVE_PARSE
        # The upstream's bytes go once decoded: neither they nor the text
        # stay while the page is stored and rendered.
        try:
            body = pageText(outcome.takeBody(), outcome.contentType)
        except ParseError:
            # Bytes that are not text fail as a parse does, in the result.
            return fail()
        if name is None:
            steps: Steps[object] = parseListSteps(body, outcome.contentType)
        elif kept is not None:
            steps = handProjectJSONEntrySteps(body, name, kept.addEntry, kept.addRun)
        else:
            steps = parseProjectSteps(body, outcome.contentType, outcome.url, name)
        del body
        if not big:
            return maybeDeferred(finish, steps)
        return self._parsingBig.run(_inSteps, steps, self.cooperate)


@attrs.define
class _Kept:
    """
    The files of a big page being parsed: each goes to the page's
    rendering, and is kept too while the page lists no more than the model
    budget, so that a page that fits stays in memory (its cold files are
    looked up there); past it, none is kept, nor once the rendering writes
    files without the model (see L{addEntry}).
    """

    rendering: IPageRendering
    budget: int
    #: The page's URL, which its files' URLs are relative to.
    url: str
    files: Optional[List[DistFile]] = attrs.field(factory=list)

    def addEntry(self, entry: Any) -> None:
        """
        The next file, as its JSON entry was decoded: made a L{DistFile}
        only if the rendering needs one or the file is kept.

        A page whose rendering writes files without the model is not kept
        either: making the model was most of the time it took, and a cold
        file is looked up on the stored page instead (see
        L{Found.file}).
        """
        if self.rendering.addPlain(entry):
            self.files = None
            return
        f = fileFromJSON(entry, self.url)
        self.rendering.add(f)
        if self.files is not None:
            self.files.append(f)
            if len(self.files) > self.budget:
                self.files = None

    def addRun(self, text: str, start: int, end: int) -> bool:
        """
        The next files, a run of their entries in C{text}, undecoded:
        C{True} if the rendering wrote them (and so none is kept, as for
        L{addEntry}).
        """
        if self.rendering.addRun(text, start, end):
            self.files = None
            return True
        return False

    def page(self, page: ProjectPage) -> Optional[ProjectPage]:
        """
        C{page} (parsed without its files) with them, if they were kept;
        C{None}, the page let go from memory, if not.
        """
        return None if self.files is None else attrs.evolve(page, files=self.files)


def _parsedEntry(
    content: object,
    kept: Optional[_Kept],
    url: str,
    validators: Validators,
    fetchedAt: float,
) -> PageEntry:
    """
    The entry for a page just parsed; one rendered as it was parsed (with
    C{kept}) gets what its rendering made, and its files if they were kept.
    """
    rendered: Dict[str, object] = {}
    if kept is not None:
        kept.rendering.finish(content, rendered)  # type: ignore[arg-type]
        content = kept.page(content)  # type: ignore[arg-type]
    return PageEntry(
        content, url, validators, fetchedAt, rendered=rendered, found=True,  # type: ignore[arg-type]
    )


#: Pages bigger than this (in bytes) are parsed in steps.
COOPERATIVE_PARSE = 256 * 1024

def _inSteps(
    steps: "Steps[T]", cooperate: Callable[[Iterator[None]], CooperativeTask]
) -> "Deferred[T]":
    """
    Take C{steps} to their end under C{cooperate}; a L{Deferred} of their
    result.
    """
    result: List[T] = []

    def keep() -> Iterator[None]:
        result.append((yield from steps))

    return cooperate(keep()).whenDone().addCallback(lambda _: result[0])


def _same(these: Sequence[object], those: Sequence[object]) -> bool:
    """
    Are C{these} the very objects C{those} are, in order?
    """
    return len(these) == len(those) and all(a is b for a, b in zip(these, those))


def _failed(e: Exception) -> "Deferred[Lookup]":
    d: Deferred[Lookup] = Deferred()
    d.errback(e)
    return d


@attrs.frozen
class Found:
    """
    The page that answers for a project, and where its files come from.

    @ivar origins: for a merged page, the source of each file by filename;
        empty when one source answers alone.
    """

    lookup: Lookup
    source: ISource
    origins: Mapping[str, ISource] = attrs.field(factory=dict)

    @property
    def page(self) -> ProjectPage:
        content = self.lookup.entry.content
        if content is None:
            raise SourcesUnavailable("the cached page could not be read back")
        assert isinstance(content, ProjectPage)
        return content

    def file(self, name: str, key: str, filename: str) -> Optional[DistFile]:
        """
        The file listed under C{key} with this C{filename}.  From a page let
        go from memory, only that file is read back when the source can.
        """
        if not self.lookup.entry.loaded and not self.origins:
            try:
                f = self.source.storedFile(name, key, filename)
            except FileNotListed:
                # Not read back whole for a file it does not list: a
                # request for any made-up filename would cost that.
                return None
            if f is not None:
                return f
        return self.page.fileByKey(key, filename)

    def sourceOf(self, f: DistFile) -> ISource:
        """
        The source that lists C{f}.
        """
        return self.origins.get(f.filename, self.source)


@attrs.define
class Index:
    """
    The sources of projects, in order, and the routes between them.
    """

    sources: Sequence[ISource]
    routes: Sequence[Route] = ()
    #: The last merged page (and root list, under C{""}) of each project,
    #: with the rendered-representation dicts of the entries it was merged
    #: from.  It is served again while each source's entry has the same
    #: dict (the same page, or the same page revalidated), which is
    #: compared by identity, and kept alive here so that a new entry's dict
    #: can never be taken for an old one's.
    _merged: Dict[str, Tuple[Tuple[Dict[str, object], ...], Found]] = attrs.field(
        factory=dict
    )
    #: Called with each representation of a merged page that was replaced
    #: (to remove its file): its entry is the Index's own, which no source
    #: discards.
    discard: Optional[Callable[[object], None]] = None
    _byName: Dict[str, ISource] = attrs.field(init=False)
    _names: List[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Worked out once: every page request routes.
        self._byName = {s.name: s for s in self.sources}
        self._names = [s.name for s in self.sources]

    def _sourcesFor(self, name: str) -> Tuple[List[ISource], bool]:
        if not self.routes:
            return list(self.sources), False
        route = routeFor(name, self.routes, self._names)
        return [self._byName[n] for n in route.sources if n in self._byName], route.merge

    def projectNow(self, name: str) -> Optional[Found]:
        """
        The page of project C{name} if every source on its route can answer
        from memory at once (the common, warm case), else C{None}: then
        L{project} must be asked.  C{name} must be normalized.
        """
        sources, merge = self._sourcesFor(name)
        if merge:
            return None
        for source in sources:
            lookup = source.pageNow(name)
            if lookup is None:
                return None
            if lookup.entry.found:
                return Found(lookup, source)
        return None

    @inlineCallbacks
    def project(self, name: str, via: Via = ()):  # type: ignore[no-untyped-def]
        """
        The page of project C{name}.

        @raise ProjectNotFound: no source on its route knows it.
        @raise SourcesUnavailable: a source failed with nothing cached;
            later sources are not asked, so a name never falls through to a
            source that should not answer for it.
        """
        name = normalize(name)
        sources, merge = self._sourcesFor(name)
        if merge:
            return (yield self._mergedProject(name, sources, via))
        for source in sources:
            lookup = yield source.page(name, via)
            if lookup.entry.found:
                return Found(lookup, source)
        raise ProjectNotFound(name)

    @inlineCallbacks
    def _mergedProject(self, name: str, sources: List[ISource], via: Via):  # type: ignore[no-untyped-def]
        found: List[Tuple[ISource, Lookup]] = []
        failure: Optional[Exception] = None
        for source in sources:
            try:
                lookup = yield source.page(name, via)
            except (SourcesUnavailable, NotCachedOffline) as e:
                # The others' files are listed all the same: offline, what
                # each source has cached.
                failure = e
                continue
            if lookup.entry.found:
                found.append((source, lookup))
        if not found:
            if failure is not None:
                raise failure
            raise ProjectNotFound(name)
        key = tuple(lookup.entry.rendered for _, lookup in found)
        cached = self._merged.get(name)
        if cached is not None and _same(cached[0], key):
            return cached[1]
        # A page let go from memory may be gone from disk: its source is
        # left out, as one that failed is (its page is fetched again on
        # the next request).
        read = [(s, l, l.entry.content) for s, l in found]
        read = [(s, l, content) for s, l, content in read if content is not None]
        if not read:
            raise SourcesUnavailable("the cached pages could not be read back")
        found = [(s, l) for s, l, _ in read]
        key = tuple(lookup.entry.rendered for _, lookup in found)
        page, origins, conflicts = mergePages(name, [(s.name, content) for s, _, content in read])
        for conflict in conflicts:
            log.error(
                "{filename} is listed by {kept} and {dropped} with different"
                " hashes; only {kept}'s is listed",
                filename=conflict.filename, kept=conflict.kept, dropped=conflict.dropped,
            )
        byName = {s.name: s for s, _ in found}
        merged = Found(
            Lookup(
                PageEntry(page, "", Validators(), 0.0),
                stale=any(l.stale for _, l in found),
            ),
            found[0][0],
            {filename: byName[s] for filename, s in origins.items()},
        )
        self._keepMerged(name, (key, merged))
        return merged

    def forgetRendered(self, name: str) -> None:
        """
        Drop the rendered representations of project C{name}'s pages, so the
        next request renders them again (after what they show changed).
        Their files go too: the page is rendered as something else, and
        nothing would remove them.
        """
        self._keepMerged(name, None)
        for source in self.sources:
            entry = source.cachedEntry(name)
            if entry is not None:
                discardRendered(entry.rendered, self.discard)

    @inlineCallbacks
    def file(self, name: str, key: str, filename: str, via: Via = ()):  # type: ignore[no-untyped-def]
        """
        The listed file C{filename} under C{key} of project C{name}, with the
        source that lists it.

        @return: a L{Deferred} firing with C{(DistFile, ISource)}.
        @raise ProjectNotFound: the file is not listed.
        """
        found = yield self.project(name, via)
        f: Optional[DistFile] = found.file(name, key, filename)
        if f is None:
            raise ProjectNotFound(f"{name}/{filename}")
        return f, found.sourceOf(f)

    @inlineCallbacks
    def projectList(self, via: Via = ()):  # type: ignore[no-untyped-def]
        """
        The root list: every source's names (sources that fail with nothing
        cached are left out, unless all fail, or all the others list nothing:
        an empty private store's list, served alone as a 200, would say the
        index has no project, and a cheesecache downstream, revalidating its
        cached list, would take that empty one in its place).
        """
        lookups: List[Lookup] = []
        failures: List[Exception] = []
        for source in self.sources:
            try:
                lookups.append((yield source.page(None, via)))
            except (SourcesUnavailable, ProjectNotFound) as e:
                failures.append(e)
        if failures and all(
            isinstance(l.entry.content, ProjectList) and not l.entry.content.names
            for l in lookups
        ):
            raise failures[0]
        if not lookups:
            raise ProjectNotFound("/")
        if len(lookups) == 1:
            return lookups[0]
        key = tuple(l.entry.rendered for l in lookups)
        cached = self._merged.get("")
        if cached is not None and _same(cached[0], key):
            return cached[1].lookup
        listing = [
            l for l in lookups
            if isinstance(l.entry.content, ProjectList) and l.entry.content.names
        ]
        if len(listing) == 1 and not any(l.stale for l in lookups if l is not listing[0]):
            # The others list nothing (an empty private store, say): the one
            # list is served as it is, without normalizing every name of a
            # root list of 700,000 to merge it with nothing.
            merged = listing[0]
        else:
            seen: Dict[str, str] = {}
            for lookup in lookups:
                if isinstance(lookup.entry.content, ProjectList):
                    for n in lookup.entry.content.names:
                        seen.setdefault(normalize(n), n)
            merged = Lookup(
                PageEntry(ProjectList(seen.values()), "", Validators(), 0.0),
                stale=any(l.stale for l in lookups),
            )
        # Read once per change of a source's list: a big list's names may
        # have been let go from memory, and reading them means parsing it.
        self._keepMerged("", (key, Found(merged, self.sources[0])))
        return merged

    def _keepMerged(
        self, name: str, merged: Optional[Tuple[Tuple[Dict[str, object], ...], Found]]
    ) -> None:
        """
        Keep C{merged} as the merged page of C{name} (none if C{None}).  The
        representations of the one it replaces go: a big page's are files,
        which nothing else would remove (a root list of many names, merged
        again at every change of a source's list, left tens of megabytes
        each time).  Not those of a source's own entry, served as the merge
        of one list: that source keeps them.
        """
        old = self._merged.pop(name, None)
        if merged is not None:
            self._merged[name] = merged
        if old is None or self.discard is None:
            return
        rendered = old[1].lookup.entry.rendered
        if any(rendered is mergedFrom for mergedFrom in old[0]):
            return
        discardRendered(rendered, self.discard)
