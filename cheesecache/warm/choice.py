# -*- test-case-name: tests.test_warm -*-
"""
Which release of a project, and which of its files, the target installs.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

import attrs
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    BuildTag,
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ..simple.model import DistFile, ProjectPage
from .requirements import Formats, Hashes, Requirement
from .target import Target


@attrs.frozen
class Want:
    """
    Everything asked of one project at one step of the resolution:
    requirements and constraints merged.
    """

    name: str
    specifier: SpecifierSet = attrs.field(factory=SpecifierSet)
    extras: FrozenSet[str] = frozenset()
    hashes: Optional[Hashes] = None
    pinned: bool = False
    allowPre: bool = False
    follow: bool = True
    origins: Tuple[str, ...] = ()

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


def mergeWants(
    requirements: Iterable[Requirement],
    constraints: Iterable[Requirement],
    target: Target,
    allowPre: bool = False,
) -> Dict[str, Want]:
    """
    Merge the requirements (already known to apply to C{target}) by project,
    with the constraints that apply: specifiers are intersected, extras
    united, hashes intersected.
    """
    byName: Dict[str, List[Requirement]] = {}
    for r in requirements:
        byName.setdefault(r.name, []).append(r)
    applicable = [c for c in constraints if c.appliesTo(target)]
    wants: Dict[str, Want] = {}
    for name, reqs in byName.items():
        everything = reqs + [c for c in applicable if c.name == name]
        specifier = SpecifierSet()
        hashes: Optional[Hashes] = None
        for r in everything:
            specifier &= r.specifier
            if r.hashes is not None:
                hashes = r.hashes if hashes is None else hashes & r.hashes
        wants[name] = Want(
            name=name,
            specifier=specifier,
            extras=frozenset().union(*(r.extras for r in reqs)),
            hashes=hashes,
            pinned=any(r.pinned for r in everything),
            allowPre=allowPre,
            follow=not all(r.locked for r in reqs),
            origins=tuple(r.origin for r in reqs),
        )
    return wants


@attrs.frozen
class Release:
    """
    A version chosen for a project, and the file to fetch for it.
    """

    name: str
    version: str
    file: DistFile
    extras: FrozenSet[str] = frozenset()
    hashes: Optional[Hashes] = None
    follow: bool = True

    @property
    def isWheel(self) -> bool:
        return self.file.filename.endswith(".whl")


class NoMatch(Exception):
    """
    No file of a project suits a L{Want} on the target; the message says why.
    """


#: The archives pip installs an sdist from.
SDIST_EXTENSIONS = (
    ".tar.gz",
    ".zip",
    ".tar.bz2",
    ".tbz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
    ".tar",
)


def _parseFilename(filename: str) -> Optional[Tuple[str, Version, FrozenSet[Tag]]]:
    """
    A distribution file's project, version and tags (empty for an sdist),
    or C{None} for files no installer picks (eggs, installers, bad names).
    """
    try:
        if filename.endswith(".whl"):
            name, version, _, tags = parse_wheel_filename(filename)
            return name, version, tags
        extension = next((e for e in SDIST_EXTENSIONS if filename.endswith(e)), None)
        if extension is not None:
            # Named as packaging reads a .tar.gz, whatever the archive.
            stem = filename[: -len(extension)]
            name, version = parse_sdist_filename(stem + ".tar.gz")
            return name, version, frozenset()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    return None


def _buildTag(f: DistFile) -> BuildTag:
    """
    A wheel's build tag (C{()} for none, or for an sdist): of wheels whose
    tags rank the same, pip installs the highest build.
    """
    if not f.filename.endswith(".whl"):
        return ()
    try:
        return parse_wheel_filename(f.filename)[2]
    except (InvalidWheelFilename, InvalidVersion):
        return ()


def _hashesAllow(f: DistFile, hashes: Optional[Hashes]) -> bool:
    """
    May C{f} be chosen under these pinned hashes?  When the page lists no
    digest of a pinned algorithm, the download is checked instead.
    """
    if hashes is None:
        return True
    known = [(a, d) for a, d in hashes if a in f.hashes]
    if not known:
        return any(a not in f.hashes for a, _ in hashes)
    return any(f.hashes[a] == d for a, d in known)


def _ruledOut(formats: Formats) -> str:
    """
    The end of a L{NoMatch} message when C{formats} may have ruled files out.
    """
    described = Formats(formats.noBinary, formats.onlyBinary).describe()
    return f", or files of a kind {described} rules out" if described else ""


def chooseRelease(
    page: ProjectPage, want: Want, target: Target, formats: Formats = Formats()
) -> Release:
    """
    Choose the newest version matching C{want} that has a file for
    C{target}, and its best file: the wheel whose tags rank best, else the
    sdist.  Files that are yanked (unless the version is pinned and all
    files that suit are yanked), need another Python, are of a kind
    C{formats} rule out for the project, or do not match pinned hashes are
    not candidates; with C{formats.preferBinary}, the newest version with a
    wheel wins over newer ones with an sdist only.
    Prereleases are candidates when asked for (C{--pre}, or
    C{--all-releases} in C{formats}), when the specifier names one, or, as
    pip does, when no final version matching it has a file for the target;
    never under C{--only-final}.

    @raise NoMatch: nothing suits.
    """
    usable: Dict[Version, List[Tuple[Tuple[int, int], DistFile]]] = {}
    listed: Dict[Version, bool] = {}
    suits: Set[Version] = set()
    wheels, sdists = formats.allows(want.name)
    for f in page.files:
        parsed = _parseFilename(f.filename)
        if parsed is None or parsed[0] != want.name:
            continue
        _, version, tags = parsed
        if not want.specifier.contains(version, prereleases=True):
            listed.setdefault(version, False)
            continue
        listed[version] = True
        if not (wheels if tags else sdists):
            continue
        if not target.allowsPython(f.requiresPython):
            continue
        if tags:
            rank = target.rank(tags)
            if rank is None:
                continue
            preference = (0, rank)
        else:
            preference = (1, 0)
        # pip weighs prereleases against the versions with a file for the
        # target, yanked or not, before it looks at yanking and hashes.
        suits.add(version)
        if (f.yanked and not want.pinned) or not _hashesAllow(f, want.hashes):
            continue
        usable.setdefault(version, []).append((preference, f))
    if any(not f.yanked for files in usable.values() for _, f in files):
        # Even pinned, yanked files are candidates only when all are (pip).
        usable = {
            v: unyanked
            for v, files in usable.items()
            if (unyanked := [(p, f) for p, f in files if not f.yanked])
        }
    versions = list(usable)
    prereleases = formats.prereleases(want.name)
    if prereleases is False:
        finals = [v for v in versions if not v.is_prerelease]
        if versions and not finals:
            # Said as pip says it: the files are there, the option is why.
            raise NoMatch(
                f"no final version of {want.name}{want.specifier} suits "
                f"{target.description} (pre-releases "
                f"{', '.join(str(v) for v in sorted(versions)[-5:])}: "
                f"--only-final rules them out)"
            )
        versions = finals
    elif not (want.allowPre or prereleases or want.specifier.prereleases):
        if any(not v.is_prerelease for v in suits):
            versions = [v for v in versions if not v.is_prerelease]
    if formats.preferBinary:
        withWheels = [v for v in versions if any(p[0] == 0 for p, _ in usable[v])]
        versions = withWheels or versions
    if not versions:
        if not listed:
            raise NoMatch(f"{want.name} has no files on the index")
        matching = sorted(v for v, m in listed.items() if m)
        if not matching:
            available = ", ".join(str(v) for v in sorted(listed)[-5:])
            raise NoMatch(
                f"no version of {want.name} matches {want.specifier or 'any'} "
                f"(newest: {available})"
            )
        raise NoMatch(
            f"no file of {want.name}{want.specifier} suits {target.description} "
            f"(versions {', '.join(str(v) for v in matching[-5:])}: yanked, other "
            f"Pythons or platforms, or hashes that do not match{_ruledOut(formats)})"
        )
    best = max(versions)
    # The best rank, then the highest build; of files still tied (a .zip
    # and a .tar.gz, py3 and py2.py3 wheels), the last listed: pip tries
    # its candidates, sorted, from the end.
    _, chosen = max(
        reversed(usable[best]),
        key=lambda pf: ((-pf[0][0], -pf[0][1]), _buildTag(pf[1])),
    )
    return Release(
        name=want.name,
        version=str(best),
        file=chosen,
        extras=want.extras,
        hashes=want.hashes,
        follow=want.follow,
    )
