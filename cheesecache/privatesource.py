# -*- test-case-name: tests.test_upload -*-
"""
The private store as a source of pages for the L{cheesecache.index.Index}.

It comes first: a private project answers for its name alone, so a
same-named upstream project never mixes its files in (no dependency
confusion).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

import attrs
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from .config import PRIVATE
from .freshness import PageEntry, Validators, discardRendered
from .index import ISource, Lookup, SourcesUnavailable, Via
from .private import CorruptRecord, PrivateStore, settled
from .recent import noteRecent
from .simple.model import DistFile, ProjectList
from .simple.names import normalize
from .upstream import Upstream


@implementer(ISource)
@attrs.define
class PrivateSource:
    """
    Pages of uploaded projects, straight from the L{PrivateStore}; entries
    are kept while the record they come from is unchanged, so their
    rendered representations are reused.
    """

    store: PrivateStore
    clock: IReactorTime
    name: str = PRIVATE
    #: Seconds between two looks at the private folder's time (changes by
    #: this server are seen at once; by the command-line tool, within this).
    recheck: float = 0.2
    #: Per name: the record (or names) it was made from, the entry, the
    #: folder's time then, and C{None} if that time was L{settled} or else
    #: when it was read (an unsettled time vouches for nothing after).
    _entries: Dict[
        Optional[str], Tuple[object, PageEntry, int, Optional[float]]
    ] = attrs.field(factory=dict)
    #: How many names found not private are held (see L{_entries});
    #: beyond it the least recently looked up again are let go.  Every
    #: name asked for is asked here first, and names no one has are
    #: without number: each would otherwise stay for good.
    notFoundBudget: int = 10_000
    _notPrivate: "OrderedDict[str, None]" = attrs.field(factory=OrderedDict)
    _lastStamp: int = 0
    _lastSettled: bool = True
    _stampedAt: float = -1.0
    #: Called with each representation of a page that changed (to remove
    #: its file): a big page rendered to disk is served no more once its
    #: project changes, and nothing else would remove it.
    discard: Optional[Callable[[object], None]] = None

    @property
    def _root(self) -> str:
        return self.store.root.path

    def fileUpstream(self) -> Optional[Upstream]:
        return None

    def storedFile(self, name: str, key: str, filename: str) -> Optional[DistFile]:
        # Private pages are made from their records, never let go.
        return None

    def renderStored(
        self, name: str, rendered: Dict[str, object], contentType: Optional[str] = None
    ) -> None:
        return None

    def expire(self, name: str) -> None:
        # Uploads are never gone behind this source's back.
        pass

    def cachedEntry(self, name: Optional[str]) -> Optional[PageEntry]:
        cached = self._entries.get(name)
        return None if cached is None else cached[1]

    def page(self, name: Optional[str], via: Via = ()) -> "Deferred[Lookup]":
        try:
            return succeed(self._lookup(name))
        except SourcesUnavailable as e:
            return fail(e)

    def pageNow(self, name: Optional[str]) -> Optional[Lookup]:
        try:
            return self._lookup(name)
        except SourcesUnavailable:
            return None

    def _stamp(self) -> int:
        """
        The private folder's modification time: every change to a record
        (here or by the command-line tool) renames a file into it, so while
        it stays the same, so do the answers.  One C{stat} instead of
        reading records on every request.
        """
        now = self.clock.seconds()
        if 0 <= now - self._stampedAt < self.recheck:
            return self._lastStamp
        readAt = time.time_ns()
        try:
            self._lastStamp = os.stat(self._root).st_mtime_ns
        except FileNotFoundError:
            self._lastStamp = 0
        # A change within the same tick of the folder's clock keeps its time.
        self._lastSettled = settled(self._lastStamp, readAt)
        self._stampedAt = now
        return self._lastStamp

    def _lookup(self, name: Optional[str]) -> Lookup:
        now = self._stamp()
        checkedAt = None if self._lastSettled else self._stampedAt
        cached = self._entries.get(name)
        if cached is not None and now == cached[2] and cached[3] in (None, checkedAt):
            return Lookup(cached[1])
        try:
            if name is None:
                version: object = self.store.projects()
                content: object = None
            else:
                version = self.store.record(name)
        except CorruptRecord as e:
            # Never fall through to an upstream for a name we cannot read.
            raise SourcesUnavailable(f"private record unreadable: {e}") from e
        if cached is not None and (cached[0] is version or cached[0] == version and name is None):
            self._entries[name] = (version, cached[1], now, checkedAt)
            return Lookup(cached[1])
        if name is None:
            content = ProjectList(version)  # type: ignore[arg-type]
        else:
            content = None if version is None else version.toPage()  # type: ignore[attr-defined]
        entry = PageEntry(content, f"private:{name or ''}", Validators(), 0.0)  # type: ignore[arg-type]
        if cached is not None:
            discardRendered(cached[1].rendered, self.discard)
        self._entries[name] = (version, entry, now, checkedAt)
        if name is not None:
            self._noteNotPrivate(name, version is None)
        return Lookup(entry)

    def _noteNotPrivate(self, name: str, notPrivate: bool) -> None:
        """
        Account for the entry of C{name} now held, letting the least
        recently made ones of names not private go while over
        L{notFoundBudget} (they are looked up again when asked for).
        """
        if not notPrivate:
            self._notPrivate.pop(name, None)
            return
        for oldName in noteRecent(self._notPrivate, name, self.notFoundBudget):
            old = self._entries.get(oldName)
            if old is not None and old[0] is None:
                del self._entries[oldName]

    def forget(self, name: str) -> None:
        """
        Drop what is cached for project C{name} and for the root list.
        """
        for key in (normalize(name), None):
            cached = self._entries.pop(key, None)
            if cached is not None:
                discardRendered(cached[1].rendered, self.discard)
        self._stampedAt = -1.0
