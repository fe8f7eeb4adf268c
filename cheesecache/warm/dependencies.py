# -*- test-case-name: tests.test_warm -*-
"""
A release's dependencies, read from its core metadata (a wheel's, or
an sdist's when it declares them), and what an sdist is built with.
"""

from __future__ import annotations

import email.parser
import lzma
import tarfile
import tomllib
import zipfile
import zlib
from typing import IO, Dict, FrozenSet, Iterable, List, Optional, Tuple

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.version import InvalidVersion, Version

from ..metadata import MAX_METADATA_SIZE
from .requirements import Requirement
from .target import Target


def requiresDist(
    metadata: bytes, origin: str = ""
) -> Tuple[List[PackagingRequirement], List[str]]:
    """
    The C{Requires-Dist} of a core metadata file, and warnings about the
    entries that could not be read.
    """
    message = email.parser.BytesHeaderParser().parsebytes(metadata)
    result: List[PackagingRequirement] = []
    warnings: List[str] = []
    for value in message.get_all("Requires-Dist") or []:
        try:
            result.append(PackagingRequirement(str(value)))
        except InvalidRequirement as e:
            warnings.append(f"{origin}: skipping Requires-Dist {value!r}: {e}")
    return result, warnings


def dependencies(
    requires: Iterable[PackagingRequirement],
    extras: FrozenSet[str],
    target: Target,
    origin: str,
) -> Tuple[List[Requirement], List[str]]:
    """
    The requirements, among a distribution's C{Requires-Dist}, that apply on
    C{target} when it is installed with C{extras}: a marker must be true
    without an extra or with one of them.  Direct references are skipped
    with a warning.
    """
    environments = [{**target.environment, "extra": e} for e in ("", *sorted(extras))]
    result: List[Requirement] = []
    warnings: List[str] = []
    for r in requires:
        if r.marker is not None:
            try:
                applies = any(r.marker.evaluate(env) for env in environments)
            except Exception as e:  # undefined comparisons, odd versions
                warnings.append(f"{origin}: not following {r} ({e})")
                continue
            if not applies:
                continue
        if r.url:
            warnings.append(f"{origin}: not following {r} (a direct reference)")
            continue
        result.append(
            Requirement(
                name=r.name, specifier=r.specifier, extras=r.extras, origin=origin
            )
        )
    return result, warnings


def _readLimited(f: IO[bytes], limit: int) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError("metadata too large")
    return data


class UnreadableSdist(ValueError):
    """
    An sdist's archive could not be read; the message says why.
    """


def sdistMembers(f: IO[bytes], filename: str, names: Iterable[str]) -> Dict[str, bytes]:
    """
    The files called C{names} at the top of an sdist's project folder
    (C{name-1.0/PKG-INFO}, C{name-1.0/pyproject.toml}), those it has, read
    in one pass over the archive.

    @raise UnreadableSdist: the archive is damaged, or a file too big.
    """
    wanted = frozenset(names)
    found: Dict[str, bytes] = {}

    def member(path: str) -> Optional[str]:
        # "./name-1.0/PKG-INFO" when the archive was made with "tar -C dir .".
        path = path.removeprefix("./")
        if path.count("/") != 1:
            return None
        basename = path.partition("/")[2]
        return basename if basename in wanted and basename not in found else None

    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(f) as z:
                for path in z.namelist():
                    basename = member(path)
                    if basename is not None:
                        with z.open(path) as m:
                            found[basename] = _readLimited(m, MAX_METADATA_SIZE)
        else:
            with tarfile.open(fileobj=f, mode="r:*") as t:
                for info in t:
                    basename = member(info.name) if info.isfile() else None
                    extracted = None if basename is None else t.extractfile(info)
                    if basename is not None and extracted is not None:
                        found[basename] = _readLimited(extracted, MAX_METADATA_SIZE)
                    if len(found) == len(wanted):
                        break
    except (
        tarfile.TarError, zipfile.BadZipFile, OSError, ValueError, EOFError,
        # What a corrupt compressed stream raises mid-read, and zipfile for
        # an encrypted member or a compression it does not know.
        zlib.error, lzma.LZMAError, RuntimeError, NotImplementedError,
    ) as e:
        raise UnreadableSdist(f"{filename}: {e}") from None
    return found


def staticMetadata(pkgInfo: Optional[bytes]) -> Optional[bytes]:
    """
    C{pkgInfo}, an sdist's C{PKG-INFO}, when its dependencies can be
    trusted: only metadata 2.2 or later (PEP 643) that does not mark
    C{Requires-Dist} dynamic.  Otherwise C{None}: the dependencies are only
    known by building it.
    """
    if pkgInfo is None:
        return None
    message = email.parser.BytesHeaderParser().parsebytes(pkgInfo)
    try:
        if Version(str(message.get("Metadata-Version", "1.0"))) < Version("2.2"):
            return None
    except InvalidVersion:
        return None
    dynamic = {str(d).strip().lower() for d in message.get_all("Dynamic") or []}
    return None if "requires-dist" in dynamic else pkgInfo


#: What pip builds an sdist with when it names no build system (it has no
#: C{pyproject.toml}, or one without a C{[build-system]} table).  pip
#: before 24 asks for C{wheel} too: one small file more keeps those able
#: to build offline.
DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")


class NoBuildRequirements(ValueError):
    """
    An sdist's build requirements cannot be read (pip would refuse its
    C{pyproject.toml} too); the message says why.
    """


def buildRequires(pyproject: Optional[bytes]) -> Tuple[str, ...]:
    """
    What pip installs to build an sdist whose C{pyproject.toml} is
    C{pyproject} (C{None}: it has none), read as pip reads it (PEP 518):
    C{build-system.requires}, or L{DEFAULT_BUILD_REQUIRES}.  What a
    backend adds when it is run (C{get_requires_for_build_wheel}) can only
    be known by running it.

    @raise NoBuildRequirements: the file is not TOML, or its
        C{[build-system]} has no list of strings as C{requires}.
    """
    if pyproject is None:
        return DEFAULT_BUILD_REQUIRES
    try:
        document = tomllib.loads(pyproject.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise NoBuildRequirements(f"pyproject.toml does not parse: {e}") from None
    system = document.get("build-system")
    if system is None:
        return DEFAULT_BUILD_REQUIRES
    requires = system.get("requires") if isinstance(system, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise NoBuildRequirements(
            "pyproject.toml's build-system.requires is not a list of strings"
        )
    return tuple(requires)
