# -*- test-case-name: tests.test_routing -*-
"""
Which sources may answer for a project, and how pages from several sources
combine.

By default every source is asked in order and the first that knows a
project answers for it alone: a project present in an earlier source never
gets files from a later one (no dependency confusion).  Routes pin name
patterns to sources, and can opt a project into a union of its sources'
files.
"""

from __future__ import annotations

import fnmatch
from typing import Dict, List, Optional, Sequence, Tuple

import attrs

from .simple.model import DistFile, ProjectPage
from .simple.names import normalize


@attrs.frozen
class Route:
    """
    A routing rule.

    @ivar pattern: a shell-style pattern matched against normalized project
        names (C{acme-*}, C{torch*}).
    @ivar sources: the names of the sources that may answer, in order.
    @ivar merge: list the union of every source's files, instead of the
        first source that knows the project.
    """

    pattern: str
    sources: Tuple[str, ...] = attrs.field(converter=tuple)
    merge: bool = False

    def matches(self, name: str) -> bool:
        """
        Does this route's pattern match project C{name}?  Both sides are
        normalized, so C{Acme_*} matches C{acme-tools}.
        """
        return fnmatch.fnmatchcase(normalize(name), normalize(self.pattern))


def routeFor(name: str, routes: Sequence[Route], sources: Sequence[str]) -> Route:
    """
    The route for project C{name}: the first route whose pattern matches,
    else every source in order, first wins.
    """
    for route in routes:
        if route.matches(name):
            return route
    return Route("*", tuple(sources))


@attrs.frozen
class Conflict:
    """
    A filename two sources list with different hashes.
    """

    filename: str
    kept: str
    dropped: str


def mergePages(
    name: str, pages: Sequence[Tuple[str, ProjectPage]]
) -> Tuple[ProjectPage, Dict[str, str], List[Conflict]]:
    """
    The union of several sources' pages for one project, in source order.

    A filename is listed once: from the first source that lists it.  When a
    later source lists the same filename with a different sha256 (or other
    hash it is checked with, see L{DistFile.checkedHash}), that is a
    conflict (reported; the later file is dropped, never listed twice).

    @return: the merged page, the source name of each kept file (by
        filename), and the conflicts.
    """
    files: List[DistFile] = []
    origin: Dict[str, str] = {}
    byName: Dict[str, DistFile] = {}
    conflicts: List[Conflict] = []
    versions: Dict[str, None] = {}
    status: Optional[Tuple[str, Optional[str]]] = None
    for sourceName, page in pages:
        for f in page.files:
            kept = byName.get(f.filename)
            if kept is None:
                byName[f.filename] = f
                origin[f.filename] = sourceName
                files.append(f)
            elif kept.checkedHash != f.checkedHash:
                # Compared by the hash each is checked with: two indexes
                # that give only an md5 conflict as two with a sha256 do.
                conflicts.append(Conflict(f.filename, origin[f.filename], sourceName))
        versions.update(dict.fromkeys(page.versions or ()))
        if status is None:
            status = page.status
    return (
        ProjectPage(
            name=normalize(name),
            files=files,
            versions=list(versions) if any(p.versions is not None for _, p in pages) else None,
            status=status,
        ),
        origin,
        conflicts,
    )
