# -*- test-case-name: tests.test_warm -*-
"""
The bookkeeping of a breadth-first, no-backtracking resolution.
"""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import attrs
from packaging.requirements import Requirement as PackagingRequirement

from ..simple.model import ProjectPage
from ..simple.names import normalize
from .choice import NoMatch, Release, Want, chooseRelease, mergeWants
from .dependencies import dependencies, requiresDist
from .requirements import Formats, Requirement
from .target import Target


@attrs.frozen
class Problem:
    """
    Something that could not be warmed, and why.
    """

    subject: str
    reason: str


@attrs.define
class Resolution:
    """
    The bookkeeping of a breadth-first, no-backtracking resolution, free of
    I/O: the caller asks for the next level of L{Want}s, fetches their
    pages and metadata however it likes, and reports back with
    L{choose} and L{learnMetadata}.

    Within a level every request for a project is merged, so a level's
    requirements are weighed together; once a version is chosen it stays,
    and a later requirement it does not satisfy is recorded as a problem.
    """

    target: Target
    constraints: Tuple[Requirement, ...] = ()
    allowPre: bool = False
    formats: Formats = Formats()
    #: What the resolution is for, said beside its problems (a build's).
    purpose: str = ""
    chosen: Dict[str, Release] = attrs.field(factory=dict)
    problems: List[Problem] = attrs.field(factory=list)
    warnings: List[str] = attrs.field(factory=list)
    _requires: Dict[str, List[PackagingRequirement]] = attrs.field(factory=dict)
    _failed: Dict[str, str] = attrs.field(factory=dict)
    _pending: List[Requirement] = attrs.field(factory=list)
    #: The chosen sdists' build requirements, by the releases they build.
    _builds: Dict[Tuple[str, ...], List[Release]] = attrs.field(factory=dict)

    def add(self, requirements: Iterable[Requirement]) -> None:
        """
        Ask for C{requirements} (those whose markers are false for the
        target are dropped).
        """
        self._pending.extend(r for r in requirements if r.appliesTo(self.target))

    def nextLevel(self) -> Dict[str, Want]:
        """
        The projects to resolve next, merged by name.  Requirements on
        projects already chosen are checked instead; new extras on them add
        their dependencies to the level after.
        """
        pending, self._pending = self._pending, []
        fresh: List[Requirement] = []
        for r in pending:
            if r.name in self._failed:
                continue
            release = self.chosen.get(r.name)
            if release is None:
                fresh.append(r)
                continue
            if not r.specifier.contains(release.version, prereleases=True):
                self.problems.append(
                    Problem(
                        self._subject(str(r)),
                        f"{release.name} {release.version} was chosen first; "
                        f"{r.origin or 'a requirement'} wants {r.specifier} "
                        f"(no backtracking)",
                    )
                )
            newExtras = r.extras - release.extras
            if newExtras:
                release = attrs.evolve(release, extras=release.extras | newExtras)
                self.chosen[r.name] = release
                if r.name in self._requires:
                    self._follow(release)
        return mergeWants(fresh, self.constraints, self.target, self.allowPre)

    def choose(self, want: Want, page: ProjectPage) -> Optional[Release]:
        """
        Choose a release for C{want} from its project page; C{None} (and a
        problem recorded) when nothing suits.
        """
        try:
            release = chooseRelease(page, want, self.target, self.formats)
        except NoMatch as e:
            self.fail(want.name, str(want), str(e))
            return None
        self.chosen[want.name] = release
        return release

    def fail(self, name: str, subject: str, reason: str) -> None:
        """
        Record that project C{name} could not be resolved; it is not retried.
        """
        self._failed[normalize(name)] = reason
        self.problems.append(Problem(self._subject(subject), reason))

    def _subject(self, subject: str) -> str:
        return f"{subject} ({self.purpose})" if self.purpose else subject

    def learnBuildRequires(self, release: Release, requires: Iterable[str]) -> None:
        """
        The chosen sdist C{release} is built with C{requires} (see
        L{cheesecache.warm.dependencies.buildRequires}).
        """
        self._builds.setdefault(tuple(sorted(set(requires))), []).append(release)

    def builds(self) -> Iterator[Tuple[Tuple[str, ...], List[Release]]]:
        """
        Each set of build requirements the chosen sdists have, with the
        sdists built with it: pip installs each sdist's in an environment
        of its own, resolved apart from the one it installs into.
        """
        return iter(self._builds.items())

    def learnMetadata(self, name: str, metadata: bytes) -> None:
        """
        Read the chosen release's core metadata, and ask for the
        dependencies that apply to the target with its extras.
        """
        release = self.chosen[name]
        requires, warnings = requiresDist(metadata, f"{release.name} {release.version}")
        self.warnings.extend(warnings)
        self._requires[name] = requires
        self._follow(release)

    def _follow(self, release: Release) -> None:
        deps, warnings = dependencies(
            self._requires[release.name],
            release.extras,
            self.target,
            f"{release.name} {release.version}",
        )
        self.warnings.extend(warnings)
        self._pending.extend(deps)
