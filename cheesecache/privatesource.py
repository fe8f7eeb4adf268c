# -*- test-case-name: tests.test_upload -*-
"""
The private store as a source of pages for the L{cheesecache.index.Index}.

It comes first: a private project answers for its name alone, so a
same-named upstream project never mixes its files in (no dependency
confusion).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import attrs
from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from .config import PRIVATE
from .freshness import PageEntry, Validators
from .index import ISource, Lookup, SourcesUnavailable, Via
from .private import CorruptRecord, PrivateStore
from .simple.model import ProjectList
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
    name: str = PRIVATE
    _entries: Dict[Optional[str], Tuple[object, PageEntry]] = attrs.field(factory=dict)

    def fileUpstream(self) -> Optional[Upstream]:
        return None

    def cachedEntry(self, name: Optional[str]) -> Optional[PageEntry]:
        cached = self._entries.get(name)
        return None if cached is None else cached[1]

    def page(self, name: Optional[str], via: Via = ()) -> "Deferred[Lookup]":
        try:
            if name is None:
                version: object = self.store.projects()
                content: object = None
            else:
                version = self.store.record(name)
        except CorruptRecord as e:
            # Never fall through to an upstream for a name we cannot read.
            return fail(SourcesUnavailable(f"private record unreadable: {e}"))
        cached = self._entries.get(name)
        if cached is not None and (cached[0] is version or cached[0] == version and name is None):
            return succeed(Lookup(cached[1]))
        if name is None:
            content = ProjectList(version)  # type: ignore[arg-type]
        else:
            content = None if version is None else version.toPage()  # type: ignore[attr-defined]
        entry = PageEntry(content, f"private:{name or ''}", Validators(), 0.0)  # type: ignore[arg-type]
        self._entries[name] = (version, entry)
        return succeed(Lookup(entry))

    def forget(self, name: str) -> None:
        """
        Drop what is cached for project C{name} and for the root list.
        """
        self._entries.pop(normalize(name), None)
        self._entries.pop(None, None)
