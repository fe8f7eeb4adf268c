# -*- test-case-name: tests.test_index -*-
"""
Which source answers for a project, and keeping each upstream's pages fresh.

An L{UpstreamSource} caches one upstream's pages (memory, then disk), serves
them while fresh, revalidates them with conditional requests after, shares
one upstream request among all concurrent requests for a page, and serves
the stale copy when the upstream fails.  The L{Index} asks its sources in
order: the first that knows a project answers for it alone.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import attrs
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from .coalesce import Coalescer
from .freshness import Decision, PageEntry, Policy, Validators
from .pagestore import PageStore
from .simple.model import DistFile, ProjectList, ProjectPage
from .simple.names import normalize
from .simple.parse import ParseError, parseList, parseProject
from .upstream import Fetched, NotFound, NotModified, Upstream, UpstreamError

log = Logger()


class ProjectNotFound(Exception):
    """
    No source knows the project.
    """


class SourcesUnavailable(Exception):
    """
    A source that might know the project failed and nothing is cached.
    """


@attrs.frozen
class Lookup:
    """
    A page as a source answers for it.

    @ivar stale: served from the cache because the upstream failed.
    """

    entry: PageEntry
    stale: bool = False


@attrs.define
class UpstreamSource:
    """
    One upstream index and its page cache.
    """

    upstream: Upstream
    store: PageStore
    clock: IReactorTime
    policy: Policy = attrs.field(factory=Policy)
    _entries: Dict[Optional[str], PageEntry] = attrs.field(factory=dict)
    _coalescer: Coalescer[Lookup] = attrs.field(factory=Coalescer)
    #: How many requests this source sent upstream (for tests and metrics).
    requests: int = 0

    @property
    def sourceID(self) -> str:
        return self.upstream.sourceID

    def _cached(self, name: Optional[str]) -> Optional[PageEntry]:
        entry = self._entries.get(name)
        if entry is None:
            entry = self.store.load(self.sourceID, name)
            if entry is not None:
                self._entries[name] = entry
        return entry

    def cachedEntry(self, name: Optional[str]) -> Optional[PageEntry]:
        """
        The entry cached in memory for a page, if any.
        """
        return self._entries.get(name)

    def _keep(self, name: Optional[str], entry: PageEntry, persist: bool = True) -> None:
        self._entries[name] = entry
        if persist:
            self.store.save(self.sourceID, name, entry)

    def page(self, name: Optional[str]) -> "Deferred[Lookup]":
        """
        The page for project C{name} (C{None}: the root list).
        """
        entry = self._cached(name)
        if self.policy.decide(entry, self.clock.seconds()) is Decision.USE:
            assert entry is not None
            return succeed(Lookup(entry, stale=entry.retryAt > 0))
        return self._coalescer.run(name, lambda: self._refresh(name))

    @inlineCallbacks
    def _refresh(self, name: Optional[str]):  # type: ignore[no-untyped-def]
        entry = self._cached(name)
        decision = self.policy.decide(entry, self.clock.seconds())
        if decision is Decision.USE:
            return Lookup(entry)
        validators = entry.validators if decision is Decision.REVALIDATE else None
        self.requests += 1
        try:
            outcome = yield self.upstream.fetchPage(name, validators)
            now = self.clock.seconds()
            if isinstance(outcome, NotModified):
                if entry is None:
                    raise UpstreamError("304 without a cached page")
                fresh = entry.refreshed(now)
            elif isinstance(outcome, NotFound):
                fresh = PageEntry(None, self.upstream.pageURL(name), Validators(), now)
            else:
                assert isinstance(outcome, Fetched)
                fresh = PageEntry(
                    self._parse(name, outcome),
                    outcome.url,
                    outcome.validators,
                    now,
                )
        except (UpstreamError, ParseError) as e:
            stale = self.policy.afterFailure(entry, self.clock.seconds())
            if stale is None:
                log.warn(
                    "Upstream {upstream} failed for {name}, nothing cached: {error}",
                    upstream=self.upstream.url, name=name or "/", error=str(e),
                )
                raise SourcesUnavailable(str(e)) from e
            log.warn(
                "Upstream {upstream} failed for {name}; serving the copy fetched"
                " at {fetchedAt}: {error}",
                upstream=self.upstream.url, name=name or "/",
                fetchedAt=stale.fetchedAt, error=str(e),
            )
            self._keep(name, stale, persist=False)
            return Lookup(stale, stale=True)
        self._keep(name, fresh)
        return Lookup(fresh)

    @staticmethod
    def _parse(name: Optional[str], outcome: Fetched) -> object:
        if name is None:
            return parseList(outcome.body, outcome.contentType)
        return parseProject(outcome.body, outcome.contentType, outcome.url, name)


@attrs.frozen
class Found:
    """
    The page that answers for a project, and the source it came from.
    """

    lookup: Lookup
    source: UpstreamSource

    @property
    def page(self) -> ProjectPage:
        content = self.lookup.entry.content
        assert isinstance(content, ProjectPage)
        return content


@attrs.define
class Index:
    """
    The ordered sources of projects.
    """

    sources: Sequence[UpstreamSource]

    @inlineCallbacks
    def project(self, name: str):  # type: ignore[no-untyped-def]
        """
        The page of project C{name} from the first source that knows it.

        @raise ProjectNotFound: no source knows it.
        @raise SourcesUnavailable: an earlier source failed with nothing
            cached; later sources are not asked, so a name never falls
            through to a source that should not answer for it.
        """
        name = normalize(name)
        for source in self.sources:
            lookup = yield source.page(name)
            if lookup.entry.found:
                return Found(lookup, source)
        raise ProjectNotFound(name)

    def forgetRendered(self, name: str) -> None:
        """
        Drop the rendered representations of project C{name}'s pages, so the
        next request renders them again (after what they show changed).
        """
        for source in self.sources:
            entry = source.cachedEntry(name)
            if entry is not None:
                entry.rendered.clear()

    @inlineCallbacks
    def file(self, name: str, key: str, filename: str):  # type: ignore[no-untyped-def]
        """
        The listed file C{filename} under C{key} of project C{name}, with the
        source that lists it.

        @return: a L{Deferred} firing with C{(DistFile, UpstreamSource)}.
        @raise ProjectNotFound: the file is not listed.
        """
        found = yield self.project(name)
        f: Optional[DistFile] = found.page.fileByKey(key, filename)
        if f is None:
            raise ProjectNotFound(f"{name}/{filename}")
        return f, found.source

    @inlineCallbacks
    def projectList(self):  # type: ignore[no-untyped-def]
        """
        The root list: every source's names (sources that fail with nothing
        cached are left out, unless all fail).
        """
        lookups: List[Lookup] = []
        failures = []
        for source in self.sources:
            try:
                lookups.append((yield source.page(None)))
            except SourcesUnavailable as e:
                failures.append(e)
        if not lookups:
            raise failures[0] if failures else ProjectNotFound("/")
        if len(lookups) == 1:
            return lookups[0]
        seen: Dict[str, str] = {}
        for lookup in lookups:
            if isinstance(lookup.entry.content, ProjectList):
                for n in lookup.entry.content.names:
                    seen.setdefault(normalize(n), n)
        merged = PageEntry(ProjectList(seen.values()), "", Validators(), 0.0)
        return Lookup(merged, stale=any(l.stale for l in lookups))
