# -*- test-case-name: tests.test_warm -*-
"""
Warm a cheesecache: resolve requirements against it and download the files
through it, so that later installs (even with the upstream gone) are served
from the cache.

    cheesecache warm --index URL [-r FILE]... [-c FILE]... [--pylock FILE]
                     [--python-version X.Y] [--platform TAG]... [--pre]
                     [SPEC]...

The pure part (requirements files, C{pylock.toml}, the target environment,
version and file choice, dependency bookkeeping) does no I/O, so that it can
be tested without a network and reused by the server.  L{Warmer} is the
shell: it takes an injected treq-like HTTP client and returns a L{Report},
so the server's own warm endpoint can drive it with its client.

Resolution is deliberately simple: breadth-first, and the first version
chosen for a project is kept (no backtracking).  A later requirement that
the chosen version does not satisfy is reported as a failure rather than
solved, since a warm only needs to fetch what an installer will most likely
ask for, and must never loop.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import os
import platform
import re
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    TextIO,
    Tuple,
)
from urllib.parse import urlsplit

import attrs
from packaging.markers import InvalidMarker, Marker, default_environment
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import (
    Tag,
    compatible_tags,
    cpython_tags,
    mac_platforms,
    platform_tags,
    sys_tags,
)
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from twisted.internet.defer import (
    Deferred,
    DeferredSemaphore,
    gatherResults,
    inlineCallbacks,
)
from twisted.logger import Logger

from .metadata import MAX_METADATA_SIZE, NoMetadata, wheelMetadata
from .simple.model import DistFile, ProjectPage
from .simple.names import normalize
from .upstream import splitCredentials
from .simple.parse import ParseError, parseProject

log = Logger()

#: What the warmer asks for: JSON first, HTML from older indexes.
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)

#: The response header cheesecache sends on file downloads, C{hit} when the
#: file was served from its cache, C{miss} when it had to be fetched.
CACHE_HEADER = "X-Cheesecache-Cache"

#: Hash algorithms a requirements file or lock may pin (as pip accepts).
PIN_ALGORITHMS = ("sha256", "sha384", "sha512")

#: Pages bigger than this are refused (metadata files: L{MAX_METADATA_SIZE}).
MAX_PAGE_SIZE = 64 * 1024 * 1024

#: Files kept in memory up to this size while their metadata is read.
SPOOL_SIZE = 16 * 1024 * 1024


def _requirementTuple(value: Iterable["Requirement"]) -> Tuple["Requirement", ...]:
    return tuple(value)


def _stringTuple(value: Iterable[str]) -> Tuple[str, ...]:
    return tuple(value)


def _tagTuple(value: Iterable[Tag]) -> Tuple[Tag, ...]:
    return tuple(value)


def _extras(value: Iterable[str]) -> FrozenSet[str]:
    return frozenset(canonicalize_name(x) for x in value)


def _environment(value: Mapping[str, str]) -> Dict[str, str]:
    return dict(value)


class RequirementsError(ValueError):
    """
    A requirements file, lock file or requirement could not be understood.
    """


# ---------------------------------------------------------------------------
# Requirements
# ---------------------------------------------------------------------------

Hashes = FrozenSet[Tuple[str, str]]


@attrs.frozen
class Requirement:
    """
    One requirement on a project from the index.

    @ivar name: the normalized project name.
    @ivar hashes: the C{(algorithm, hexdigest)} pairs the chosen file must
        match one of, or C{None} when any file will do.
    @ivar origin: where it came from (C{file:line}, a project, the command
        line), for messages.
    @ivar locked: it comes from a lock file: its marker is evaluated as a
        lock file's, and its dependencies are not followed (the lock lists
        them all).
    """

    name: str = attrs.field(converter=normalize)
    specifier: SpecifierSet = attrs.field(factory=SpecifierSet)
    extras: FrozenSet[str] = attrs.field(default=frozenset(), converter=_extras)
    marker: Optional[Marker] = None
    hashes: Optional[Hashes] = None
    origin: str = ""
    locked: bool = False

    @classmethod
    def parse(
        cls, text: str, origin: str = "", hashes: Optional[Hashes] = None
    ) -> "Requirement":
        """
        Parse a PEP 508 requirement.

        @raise RequirementsError: it is not one, or it names a URL (a file
            not on the index cannot be warmed).
        """
        try:
            parsed = PackagingRequirement(text)
        except InvalidRequirement as e:
            raise RequirementsError(
                f"{origin}: invalid requirement {text!r}: {e}"
            ) from e
        if parsed.url:
            raise RequirementsError(
                f"{origin}: {text!r} is a direct reference, not on the index"
            )
        return cls(
            name=parsed.name,
            specifier=parsed.specifier,
            extras=parsed.extras,
            marker=parsed.marker,
            hashes=hashes,
            origin=origin,
        )

    def appliesTo(self, target: "Target") -> bool:
        """
        Is this requirement for C{target} (its marker, if any, is true)?
        """
        if self.marker is None:
            return True
        if self.locked:
            environment: Dict[str, Any] = dict(target.environment)
            environment.update(
                extras=frozenset(), dependency_groups=frozenset({"default"})
            )
            try:
                return self.marker.evaluate(environment, context="lock_file")
            except TypeError:  # packaging < 25 knows no lock file markers
                return self.marker.evaluate(dict(target.environment))
        return self.marker.evaluate({**target.environment, "extra": ""})

    @property
    def pinned(self) -> bool:
        """
        Does the specifier pin one version (C{==V} without a wildcard, or
        C{===V})?  Only then may a yanked file be chosen (PEP 592).
        """
        return any(
            s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
            for s in self.specifier
        )

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@attrs.frozen
class RequirementsFile:
    """
    What a requirements file (and the files it includes) asks for.

    @ivar allowPre: the file said C{--pre}.
    @ivar warnings: lines that were understood but are not warmed (editable
        installs, URLs, index options: the index is the one being warmed).
    """

    requirements: Tuple[Requirement, ...] = attrs.field(
        default=(), converter=_requirementTuple
    )
    constraints: Tuple[Requirement, ...] = attrs.field(
        default=(), converter=_requirementTuple
    )
    allowPre: bool = False
    warnings: Tuple[str, ...] = attrs.field(default=(), converter=_stringTuple)

    def __add__(self, other: "RequirementsFile") -> "RequirementsFile":
        return RequirementsFile(
            self.requirements + other.requirements,
            self.constraints + other.constraints,
            self.allowPre or other.allowPre,
            self.warnings + other.warnings,
        )


_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDES = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
_IGNORED_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "--config-settings",
    "--global-option",
    "--install-option",
}
_IGNORED_FLAGS = {"--no-index", "--prefer-binary", "--require-hashes"}
_EDITABLE = {"-e", "--editable"}


def _logicalLines(text: str) -> Iterable[Tuple[int, str]]:
    """
    Join continued lines (a trailing backslash) and drop comments, as pip
    does; yields each non-empty logical line with its first line number.
    """
    pending: List[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.endswith("\\") and not line.lstrip().startswith("#"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = _COMMENT.sub("", " ".join(pending)).strip()
        pending = []
        if joined:
            yield start, joined
    if pending:
        joined = _COMMENT.sub("", " ".join(pending)).strip()
        if joined:
            yield start, joined


def _optionValue(tokens: List[str], i: int, origin: str) -> Tuple[str, int]:
    """
    The value of the option at C{tokens[i]} (C{--opt=value}, C{--opt value}
    or C{-rvalue}) and the index of the next token.
    """
    token = tokens[i]
    if token.startswith("--") and "=" in token:
        return token.split("=", 1)[1], i + 1
    if not token.startswith("--") and len(token) > 2:
        return token[2:].lstrip("="), i + 1
    if i + 1 >= len(tokens):
        raise RequirementsError(f"{origin}: {token} needs a value")
    return tokens[i + 1], i + 2


def _parseHash(value: str, origin: str) -> Tuple[str, str]:
    algorithm, sep, digest = value.partition(":")
    algorithm, digest = algorithm.lower(), digest.lower()
    if (
        not sep
        or algorithm not in PIN_ALGORITHMS
        or not re.fullmatch(r"[0-9a-f]+", digest)
    ):
        raise RequirementsError(f"{origin}: bad --hash {value!r} (want sha256:HEX)")
    if len(digest) != hashlib.new(algorithm).digest_size * 2:
        raise RequirementsError(f"{origin}: bad --hash {value!r} (wrong length)")
    return algorithm, digest


def parseRequirements(
    text: str,
    path: str,
    read: Callable[[str], str],
    constraint: bool = False,
    _including: Tuple[str, ...] = (),
) -> RequirementsFile:
    """
    Parse a pip requirements file: requirement lines with markers and
    C{--hash} options, C{-r}/C{-c} includes (relative to the including
    file), comments and continuation lines, C{--pre}.  Other options are
    ignored with a warning, since they choose indexes and build behaviour,
    not what to fetch.

    @param path: the file's path, to name it in messages and to resolve
        includes against.
    @param read: reads an included file by path (injected, so that this
        stays free of I/O).
    @param constraint: the lines are constraints (the file was given with
        C{-c}).
    @raise RequirementsError: a line is not understood, or an include loops.
    """
    if path in _including:
        raise RequirementsError(
            f"{path}: included from itself ({' -> '.join(_including)})"
        )
    including = _including + (path,)
    result = RequirementsFile()
    requirements: List[Requirement] = []
    warnings: List[str] = []
    allowPre = False
    for number, line in _logicalLines(text):
        origin = f"{path}:{number}"
        tokens = line.split()
        if tokens[0].startswith("-"):
            i = 0
            while i < len(tokens):
                token = tokens[i]
                option = token.split("=", 1)[0]
                short = token[:2] if not token.startswith("--") else option
                if short in _INCLUDES or option in _INCLUDES:
                    nested = _INCLUDES.get(option, _INCLUDES.get(short, False))
                    value, i = _optionValue(tokens, i, origin)
                    if "://" in value:
                        warnings.append(f"{origin}: not following the URL {value}")
                        continue
                    included = os.path.join(os.path.dirname(path), value)
                    try:
                        includedText = read(included)
                    except OSError as e:
                        raise RequirementsError(
                            f"{origin}: cannot read {included}: {e}"
                        ) from e
                    result = result + parseRequirements(
                        includedText, included, read, nested, including
                    )
                elif option == "--pre":
                    allowPre = True
                    i += 1
                elif short in _EDITABLE or option in _EDITABLE:
                    value, i = _optionValue(tokens, i, origin)
                    warnings.append(f"{origin}: not warming the editable {value}")
                elif option in _IGNORED_WITH_VALUE or short in ("-i", "-f"):
                    _, i = _optionValue(tokens, i, origin)
                    warnings.append(f"{origin}: ignoring {option}")
                elif option in _IGNORED_FLAGS:
                    warnings.append(f"{origin}: ignoring {option}")
                    i += 1
                else:
                    raise RequirementsError(f"{origin}: unknown option {token}")
            continue
        # A requirement, then its options (pip splits at the first "-" token).
        split = next(
            (i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens)
        )
        spec = " ".join(tokens[:split])
        hashes: List[Tuple[str, str]] = []
        i = split
        while i < len(tokens):
            option = tokens[i].split("=", 1)[0]
            if option == "--hash":
                value, i = _optionValue(tokens, i, origin)
                hashes.append(_parseHash(value, origin))
            elif option in _IGNORED_WITH_VALUE:
                _, i = _optionValue(tokens, i, origin)
                warnings.append(f"{origin}: ignoring {option}")
            else:
                raise RequirementsError(f"{origin}: unknown option {tokens[i]}")
        if re.match(r"^([a-z][a-z0-9+.-]*://|\.|/|[a-z]:\\)", spec, re.IGNORECASE) or (
            "/" in spec.split(";")[0] and "@" not in spec
        ):
            warnings.append(f"{origin}: not warming {spec} (not from the index)")
            continue
        try:
            requirement = Requirement.parse(spec, origin, frozenset(hashes) or None)
        except RequirementsError as e:
            if "direct reference" in str(e):
                warnings.append(f"{origin}: not warming {spec} (not from the index)")
                continue
            raise
        requirements.append(requirement)
    own = RequirementsFile(
        requirements=() if constraint else requirements,
        constraints=requirements if constraint else (),
        allowPre=allowPre,
        warnings=warnings,
    )
    return own + result


def readRequirements(path: str, constraint: bool = False) -> RequirementsFile:
    """
    Parse the requirements file at C{path} and what it includes, from disk.
    """

    def read(p: str) -> str:
        with open(p, encoding="utf-8") as f:
            return f.read()

    try:
        text = read(path)
    except OSError as e:
        raise RequirementsError(f"cannot read {path}: {e}") from e
    return parseRequirements(text, path, read, constraint)


def parsePylock(text: str, origin: str = "pylock.toml") -> RequirementsFile:
    """
    Read a PEP 751 lock file as pinned requirements: each package's version
    with the hashes of the files it lists (so only those files are chosen),
    its marker evaluated as a lock file's, and no dependencies followed (a
    lock lists them all).  Packages from VCS, directories or archive URLs
    are not on the index and are skipped with a warning.

    @raise RequirementsError: it is not a version 1 lock file.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RequirementsError(f"{origin}: not TOML: {e}") from e
    version = str(data.get("lock-version", ""))
    if version.split(".")[0] != "1":
        raise RequirementsError(f"{origin}: unsupported lock-version {version!r}")
    requirements: List[Requirement] = []
    warnings: List[str] = []
    packages = data.get("packages", [])
    if not isinstance(packages, list):
        raise RequirementsError(f"{origin}: packages must be an array of tables")
    for n, package in enumerate(packages):
        where = f"{origin}: packages[{n}]"
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            raise RequirementsError(f"{where}: a package needs a name")
        name = package["name"]
        if package.get("vcs") or package.get("directory") or package.get("archive"):
            warnings.append(f"{where}: not warming {name} (not from the index)")
            continue
        if not isinstance(package.get("version"), str):
            warnings.append(f"{where}: not warming {name} (no version)")
            continue
        hashes: List[Tuple[str, str]] = []
        files = list(package.get("wheels") or [])
        if isinstance(package.get("sdist"), dict):
            files.append(package["sdist"])
        for f in files:
            for algorithm, digest in dict(f.get("hashes") or {}).items():
                if algorithm.lower() in PIN_ALGORITHMS:
                    hashes.append(_parseHash(f"{algorithm}:{digest}", where))
        marker = None
        if package.get("marker"):
            try:
                marker = Marker(package["marker"])
            except InvalidMarker as e:
                raise RequirementsError(f"{where}: bad marker: {e}") from e
        try:
            specifier = SpecifierSet(f"=={package['version']}")
        except InvalidSpecifier as e:
            raise RequirementsError(f"{where}: bad version: {e}") from e
        requirements.append(
            Requirement(
                name=name,
                specifier=specifier,
                marker=marker,
                hashes=frozenset(hashes) or None,
                origin=where,
                locked=True,
            )
        )
    return RequirementsFile(requirements=requirements, warnings=warnings)


# ---------------------------------------------------------------------------
# The target environment
# ---------------------------------------------------------------------------

_LEGACY_MANYLINUX = {
    "manylinux1": (2, 5),
    "manylinux2010": (2, 12),
    "manylinux2014": (2, 17),
}


def expandPlatform(tag: str) -> List[str]:
    """
    The platform tags a machine with platform C{tag} installs, best first:
    a manylinux/musllinux tag also accepts older glibc/musl versions (and
    the legacy manylinux aliases), a macOS tag older macOS versions and
    universal wheels.  Anything else stands for itself.
    """
    tag = tag.replace("-", "_").replace(".", "_").lower()
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(.+)", tag)
    if legacy:
        major, minor = _LEGACY_MANYLINUX[legacy.group(1)]
        tag = f"manylinux_{major}_{minor}_{legacy.group(2)}"
    many = re.fullmatch(r"manylinux_(\d+)_(\d+)_(.+)", tag)
    if many:
        major, minor, arch = int(many.group(1)), int(many.group(2)), many.group(3)
        result = []
        for m in range(minor, -1, -1):
            result.append(f"manylinux_{major}_{m}_{arch}")
            for alias, version in _LEGACY_MANYLINUX.items():
                if version == (major, m):
                    result.append(f"{alias}_{arch}")
        return result
    musl = re.fullmatch(r"musllinux_(\d+)_(\d+)_(.+)", tag)
    if musl:
        major, minor, arch = int(musl.group(1)), int(musl.group(2)), musl.group(3)
        return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
    mac = re.fullmatch(r"macosx_(\d+)_(\d+)_(.+)", tag)
    if mac:
        return list(mac_platforms((int(mac.group(1)), int(mac.group(2))), mac.group(3)))
    return [tag]


def platformEnvironment(tag: str) -> Dict[str, str]:
    """
    The marker variables (C{sys_platform}, C{platform_system}, C{os_name},
    C{platform_machine}) a machine with platform C{tag} has.
    """
    tag = tag.lower()
    if tag.startswith(("manylinux", "musllinux", "linux")):
        machine = re.sub(r"^(manylinux|musllinux)(_\d+_\d+|\d+)?_|^linux_", "", tag)
        return dict(
            sys_platform="linux",
            platform_system="Linux",
            os_name="posix",
            platform_machine=machine,
        )
    if tag.startswith("win"):
        machine = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}.get(
            tag, ""
        )
        return dict(
            sys_platform="win32",
            platform_system="Windows",
            os_name="nt",
            platform_machine=machine,
        )
    if tag.startswith("macosx"):
        machine = tag.rsplit("_", 1)[-1]
        machine = {"universal2": "arm64", "intel": "x86_64"}.get(machine, machine)
        return dict(
            sys_platform="darwin",
            platform_system="Darwin",
            os_name="posix",
            platform_machine=machine,
        )
    return {}


def _parsePythonVersion(text: str) -> Tuple[int, ...]:
    if re.fullmatch(r"\d\d+", text):
        return (int(text[0]), int(text[1:]))
    if not re.fullmatch(r"\d+(\.\d+){1,2}", text):
        raise RequirementsError(f"bad Python version {text!r} (want X.Y)")
    return tuple(int(p) for p in text.split("."))


def _markerEnvironment() -> Dict[str, str]:
    """
    This interpreter's marker variables, as a plain mutable mapping.
    """
    return {str(k): str(v) for k, v in default_environment().items()}


def _tagRanks(target: "Target") -> Mapping[Tag, int]:
    ranks: Dict[Tag, int] = {}
    for i, tag in enumerate(target.tags):
        ranks.setdefault(tag, i)
    return ranks


@attrs.frozen
class Target:
    """
    The environment files are chosen for.

    @ivar pythonVersion: compared with C{Requires-Python}.
    @ivar tags: the wheel tags it installs, best first.
    @ivar environment: the marker variables.
    """

    pythonVersion: str
    tags: Tuple[Tag, ...] = attrs.field(converter=_tagTuple)
    environment: Mapping[str, str] = attrs.field(converter=_environment, hash=False)
    description: str = ""
    _ranks: Mapping[Tag, int] = attrs.field(
        init=False,
        eq=False,
        hash=False,
        repr=False,
        default=attrs.Factory(_tagRanks, takes_self=True),
    )

    @classmethod
    def current(cls) -> "Target":
        """
        This interpreter on this machine.
        """
        return cls(
            pythonVersion=platform.python_version(),
            tags=sys_tags(),
            environment=_markerEnvironment(),
            description=f"this Python ({platform.python_version()})",
        )

    @classmethod
    def fromOptions(
        cls, pythonVersion: Optional[str] = None, platforms: Sequence[str] = ()
    ) -> "Target":
        """
        The target C{--python-version} and C{--platform} describe; what they
        leave out is taken from this interpreter.  Another Python version is
        assumed to be CPython.

        @raise RequirementsError: the Python version is not C{X.Y[.Z]}.
        """
        if pythonVersion is None and not platforms:
            return cls.current()
        environment = _markerEnvironment()
        if pythonVersion is None:
            version = tuple(sys.version_info[:3])
            full = platform.python_version()
            interpreterTags = list(sys_tags()) if not platforms else None
        else:
            version = _parsePythonVersion(pythonVersion)
            full = ".".join(map(str, (version + (0,))[:3]))
            interpreterTags = None
            environment.update(
                python_version=f"{version[0]}.{version[1]}",
                python_full_version=full,
                implementation_name="cpython",
                implementation_version=full,
                platform_python_implementation="CPython",
            )
        expanded: List[str] = []
        for p in platforms:
            expanded.extend(e for e in expandPlatform(p) if e not in expanded)
        if platforms:
            environment.update(platformEnvironment(expanded[0]))
        if interpreterTags is None:
            pythonXY = version[:2]
            plats = expanded or list(platform_tags())
            interpreterTags = list(cpython_tags(pythonXY, platforms=plats)) + list(
                compatible_tags(pythonXY, f"cp{pythonXY[0]}{pythonXY[1]}", plats)
            )
        where = ", ".join(platforms) if platforms else "this platform"
        return cls(
            pythonVersion=full,
            tags=interpreterTags,
            environment=environment,
            description=f"Python {full} on {where}",
        )

    def rank(self, tags: Iterable[Tag]) -> Optional[int]:
        """
        How good a wheel with C{tags} is here (lower is better), or C{None}
        when it cannot be installed.
        """
        ranks = [self._ranks[t] for t in tags if t in self._ranks]
        return min(ranks) if ranks else None

    def allowsPython(self, requiresPython: Optional[str]) -> bool:
        """
        Does C{Requires-Python} admit this target?  An unreadable one does
        (as pip treats it).
        """
        if not requiresPython:
            return True
        try:
            return SpecifierSet(requiresPython).contains(
                self.pythonVersion, prereleases=True
            )
        except InvalidSpecifier:
            return True


# ---------------------------------------------------------------------------
# Choosing versions and files
# ---------------------------------------------------------------------------


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


def _parseFilename(filename: str) -> Optional[Tuple[str, Version, FrozenSet[Tag]]]:
    """
    A distribution file's project, version and tags (empty for an sdist),
    or C{None} for files no installer picks (eggs, installers, bad names).
    """
    try:
        if filename.endswith(".whl"):
            name, version, _, tags = parse_wheel_filename(filename)
            return name, version, tags
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return name, version, frozenset()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    return None


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


def chooseRelease(page: ProjectPage, want: Want, target: Target) -> Release:
    """
    Choose the newest version matching C{want} that has a file for
    C{target}, and its best file: the wheel whose tags rank best, else the
    sdist.  Files that are yanked (unless the version is pinned), need
    another Python, or do not match pinned hashes are not candidates.
    Prereleases are candidates when asked for (C{--pre}), when the
    specifier names one, or, as pip does, when no final version matches.

    @raise NoMatch: nothing suits.
    """
    usable: Dict[Version, List[Tuple[Tuple[int, int], DistFile]]] = {}
    listed: Dict[Version, bool] = {}
    for f in page.files:
        parsed = _parseFilename(f.filename)
        if parsed is None or parsed[0] != want.name:
            continue
        _, version, tags = parsed
        if not want.specifier.contains(version, prereleases=True):
            listed.setdefault(version, False)
            continue
        listed[version] = True
        if f.yanked and not want.pinned:
            continue
        if not target.allowsPython(f.requiresPython) or not _hashesAllow(
            f, want.hashes
        ):
            continue
        if tags:
            rank = target.rank(tags)
            if rank is None:
                continue
            preference = (0, rank)
        else:
            preference = (1, 0)
        usable.setdefault(version, []).append((preference, f))
    versions = list(usable)
    if not (want.allowPre or want.specifier.prereleases):
        finals = [v for v in versions if not v.is_prerelease]
        if finals or any(m and not v.is_prerelease for v, m in listed.items()):
            versions = finals
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
            f"Pythons or platforms, or hashes that do not match)"
        )
    best = max(versions)
    _, chosen = min(usable[best], key=lambda pf: pf[0])
    return Release(
        name=want.name,
        version=str(best),
        file=chosen,
        extras=want.extras,
        hashes=want.hashes,
        follow=want.follow,
    )


# ---------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------


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


def metadataFromSdist(f: IO[bytes], filename: str) -> Optional[bytes]:
    """
    The C{PKG-INFO} of an sdist when its dependencies can be trusted: only
    metadata 2.2 or later (PEP 643) that does not mark C{Requires-Dist}
    dynamic.  Otherwise C{None}: the dependencies are only known by
    building it.
    """
    try:
        data: Optional[bytes] = None
        if filename.endswith(".zip"):
            with zipfile.ZipFile(f) as z:
                names = [
                    n
                    for n in z.namelist()
                    if n.count("/") == 1 and n.endswith("/PKG-INFO")
                ]
                if len(names) == 1:
                    with z.open(names[0]) as m:
                        data = _readLimited(m, MAX_METADATA_SIZE)
        else:
            with tarfile.open(fileobj=f, mode="r:*") as t:
                for member in t:
                    if (
                        member.isfile()
                        and member.name.count("/") == 1
                        and member.name.endswith("/PKG-INFO")
                    ):
                        extracted = t.extractfile(member)
                        if extracted is not None:
                            data = _readLimited(extracted, MAX_METADATA_SIZE)
                        break
    except (tarfile.TarError, zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if data is None:
        return None
    message = email.parser.BytesHeaderParser().parsebytes(data)
    try:
        if Version(str(message.get("Metadata-Version", "1.0"))) < Version("2.2"):
            return None
    except InvalidVersion:
        return None
    dynamic = {str(d).strip().lower() for d in message.get_all("Dynamic") or []}
    return None if "requires-dist" in dynamic else data


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
    chosen: Dict[str, Release] = attrs.field(factory=dict)
    problems: List[Problem] = attrs.field(factory=list)
    warnings: List[str] = attrs.field(factory=list)
    _requires: Dict[str, List[PackagingRequirement]] = attrs.field(factory=dict)
    _failed: Dict[str, str] = attrs.field(factory=dict)
    _pending: List[Requirement] = attrs.field(factory=list)

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
                        str(r),
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
            release = chooseRelease(page, want, self.target)
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
        self.problems.append(Problem(subject, reason))

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


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


@attrs.frozen
class FileOutcome:
    """
    A file that was downloaded through the server.

    @ivar cached: the server said it already had it.
    """

    name: str
    version: str
    filename: str
    size: int
    cached: bool


@attrs.frozen
class Report:
    """
    What a warm did: the files fetched (now cached), those the server
    already had, what failed and why, and what was skipped.
    """

    fetched: Tuple[FileOutcome, ...] = ()
    cached: Tuple[FileOutcome, ...] = ()
    failed: Tuple[Problem, ...] = ()
    warnings: Tuple[str, ...] = ()
    resolved: Tuple[Tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed

    def toJSON(self) -> Dict[str, Any]:
        """
        The report as JSON-ready values (for an HTTP endpoint).
        """

        def outcome(o: FileOutcome) -> Dict[str, Any]:
            return {
                "project": o.name,
                "version": o.version,
                "filename": o.filename,
                "size": o.size,
            }

        return {
            "fetched": [outcome(o) for o in self.fetched],
            "cached": [outcome(o) for o in self.cached],
            "failed": [{"subject": p.subject, "reason": p.reason} for p in self.failed],
            "warnings": list(self.warnings),
            "resolved": dict(self.resolved),
        }


@attrs.frozen
class Progress:
    """
    One step of a warm, for a progress display: C{done} of C{total} files
    known so far (the total grows as dependencies are found).
    """

    done: int
    total: int
    label: str
    status: str  # "fetched", "cached" or "failed"
    reason: Optional[str] = None


# ---------------------------------------------------------------------------
# The shell
# ---------------------------------------------------------------------------


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class _TooBig(Exception):
    pass


class HTTPProblem(Exception):
    """
    The server answered, but not with what was asked for.
    """


def _header(response: Any, name: str) -> Optional[str]:
    values = response.headers.getRawHeaders(name)
    if not values:
        return None
    value = values[0]
    return value.decode("latin-1") if isinstance(value, bytes) else value


@attrs.define
class Warmer:
    """
    Resolves requirements against an index and downloads the chosen files
    through it, with at most C{concurrency} requests at once.

    @ivar client: a treq-like client (C{treq.HTTPClient}, or
        C{treq.testing.StubTreq} in tests).
    @ivar indexURL: the Simple index (credentials in it are sent, as Basic
        auth, only to its own origin).
    @ivar authorization: the Authorization sent to the index's origin when
        its URL carries no credentials (as from a netrc file).
    @ivar progress: called after each file.
    @ivar timeout: seconds to wait for each response's headers (C{None}:
        forever); needs C{reactor}.
    """

    client: Any
    indexURL: str
    target: Target = attrs.field(factory=Target.current)
    concurrency: int = 8
    progress: Callable[[Progress], None] = lambda p: None
    timeout: Optional[float] = None
    reactor: Any = None
    authorization: Optional[str] = None
    _authorization: Optional[str] = attrs.field(init=False, default=None)
    _semaphore: DeferredSemaphore = attrs.field(init=False)
    _done: int = attrs.field(init=False, default=0)
    _total: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        url, found = splitCredentials(self.indexURL)
        self._authorization = found or self.authorization
        self.indexURL = url if url.endswith("/") else url + "/"
        self._semaphore = DeferredSemaphore(self.concurrency)

    @inlineCallbacks
    def warm(
        self,
        requirements: Iterable[Requirement],
        constraints: Iterable[Requirement] = (),
        allowPre: bool = False,
    ) -> Any:
        """
        Resolve C{requirements} (breadth-first, first good version, no
        backtracking) and fetch a file for each project chosen.

        @return: a L{Deferred} that fires with a L{Report}; it does not
            fail for what could not be warmed (that is in the report).
        """
        resolution = Resolution(self.target, tuple(constraints), allowPre)
        resolution.add(requirements)
        downloads: List[Deferred[Any]] = []
        fetched: List[FileOutcome] = []
        cached: List[FileOutcome] = []
        while True:
            wants = resolution.nextLevel()
            if not wants:
                break
            yield gatherResults(
                [
                    self._resolveOne(
                        resolution, wants[name], downloads, fetched, cached
                    )
                    for name in sorted(wants)
                ],
                consumeErrors=True,
            )
        yield gatherResults(downloads, consumeErrors=True)
        report = Report(
            fetched=tuple(fetched),
            cached=tuple(cached),
            failed=tuple(resolution.problems),
            warnings=tuple(resolution.warnings),
            resolved=tuple(
                sorted((r.name, r.version) for r in resolution.chosen.values())
            ),
        )
        log.info(
            "warmed {fetched} files, {cached} already cached, {failed} failed",
            fetched=len(report.fetched),
            cached=len(report.cached),
            failed=len(report.failed),
        )
        return report

    @inlineCallbacks
    def _resolveOne(
        self,
        resolution: Resolution,
        want: Want,
        downloads: List["Deferred[Any]"],
        fetched: List[FileOutcome],
        cached: List[FileOutcome],
    ) -> Any:
        try:
            page = yield self._semaphore.run(self._fetchPage, want.name)
        except Exception as e:
            resolution.fail(want.name, str(want), _describe(e))
            return
        release = resolution.choose(want, page)
        if release is None:
            return
        f = release.file
        needMetadata = release.follow
        if needMetadata and f.coreMetadata:
            try:
                metadata = yield self._semaphore.run(self._fetchMetadata, f)
            except Exception as e:
                resolution.warnings.append(
                    f"{release.name} {release.version}: dependencies not followed "
                    f"(metadata: {_describe(e)})"
                )
            else:
                resolution.learnMetadata(release.name, metadata)
            needMetadata = False
        self._total += 1
        download = self._semaphore.run(self._download, release, needMetadata)
        done = download.addCallbacks(
            lambda result: self._downloaded(
                resolution, release, needMetadata, result, fetched, cached
            ),
            lambda failure: self._downloadFailed(resolution, release, failure.value),
        )
        if needMetadata:
            yield done  # its dependencies belong to the next level
        else:
            downloads.append(done)

    def _downloaded(
        self,
        resolution: Resolution,
        release: Release,
        needMetadata: bool,
        result: Tuple[int, bool, Optional[IO[bytes]]],
        fetched: List[FileOutcome],
        cached: List[FileOutcome],
    ) -> None:
        size, hit, kept = result
        outcome = FileOutcome(
            release.name, release.version, release.file.filename, size, hit
        )
        (cached if hit else fetched).append(outcome)
        self._done += 1
        self.progress(
            Progress(
                self._done,
                self._total,
                release.file.filename,
                "cached" if hit else "fetched",
            )
        )
        if kept is not None:
            with kept:
                kept.seek(0)
                if release.isWheel:
                    try:
                        metadata: Optional[bytes] = wheelMetadata(kept)
                    except NoMetadata:
                        metadata = None
                else:
                    metadata = metadataFromSdist(kept, release.file.filename)
            if metadata is None:
                resolution.warnings.append(
                    f"{release.name} {release.version}: dependencies not followed "
                    f"({release.file.filename} has no static metadata)"
                )
            else:
                resolution.learnMetadata(release.name, metadata)

    def _downloadFailed(
        self, resolution: Resolution, release: Release, error: BaseException
    ) -> None:
        reason = _describe(error)
        resolution.problems.append(Problem(release.file.filename, reason))
        self._done += 1
        self.progress(
            Progress(self._done, self._total, release.file.filename, "failed", reason)
        )

    def _headers(self, url: str, accept: str) -> Dict[bytes, List[bytes]]:
        headers = {b"Accept": [accept.encode("ascii")]}
        if self._authorization and _origin(url) == _origin(self.indexURL):
            headers[b"Authorization"] = [self._authorization.encode("ascii")]
        return headers

    def _get(self, url: str, accept: str) -> Any:
        kwargs: Dict[str, Any] = {"unbuffered": True}
        if self.timeout:
            kwargs.update(timeout=self.timeout, reactor=self.reactor)
        return self.client.get(url, headers=self._headers(url, accept), **kwargs)

    @inlineCallbacks
    def _readBody(self, response: Any, limit: int) -> Any:
        import treq

        chunks: List[bytes] = []
        size = [0]

        def collect(data: bytes) -> None:
            size[0] += len(data)
            if size[0] > limit:
                raise _TooBig(f"response larger than {limit} bytes")
            chunks.append(data)

        yield treq.collect(response, collect)
        return b"".join(chunks)

    @inlineCallbacks
    def _fetchPage(self, name: str) -> Any:
        url = f"{self.indexURL}{normalize(name)}/"
        response = yield self._get(url, PAGE_ACCEPT)
        if response.code == 404:
            yield self._readBody(response, MAX_PAGE_SIZE)
            raise HTTPProblem(f"{name} is not on the index")
        if response.code != 200:
            yield self._readBody(response, MAX_PAGE_SIZE)
            raise HTTPProblem(f"HTTP {response.code} for the page of {name}")
        body = yield self._readBody(response, MAX_PAGE_SIZE)
        finalURL = url
        request = getattr(response, "request", None)
        if request is not None and getattr(request, "absoluteURI", None):
            finalURL = request.absoluteURI.decode("utf-8")
        return parseProject(
            body, _header(response, "Content-Type") or "text/html", finalURL, name
        )

    @inlineCallbacks
    def _fetchMetadata(self, f: DistFile) -> Any:
        response = yield self._get(f.url + ".metadata", "*/*")
        if response.code != 200:
            yield self._readBody(response, MAX_METADATA_SIZE)
            raise HTTPProblem(f"HTTP {response.code}")
        body = yield self._readBody(response, MAX_METADATA_SIZE)
        expected = (
            f.coreMetadata.get("sha256")
            if isinstance(f.coreMetadata, Mapping)
            else None
        )
        if expected and hashlib.sha256(body).hexdigest() != expected:
            raise HTTPProblem("the metadata file does not match its sha256")
        return body

    @inlineCallbacks
    def _download(self, release: Release, keep: bool) -> Any:
        """
        Download the release's file, checking its digests (the page's, and
        the pinned ones).

        @return: its size, whether the server had it cached, and (when
            C{keep}) a file holding the bytes.
        """
        import treq

        f = release.file
        log.debug("fetching {url}", url=f.url)
        response = yield self._get(f.url, "*/*")
        if response.code != 200:
            yield self._readBody(response, MAX_PAGE_SIZE)
            raise HTTPProblem(f"HTTP {response.code}")
        algorithms = {"sha256"} | {a for a in f.hashes if a in PIN_ALGORITHMS}
        algorithms |= {a for a, _ in release.hashes or ()}
        hashers = {a: hashlib.new(a) for a in algorithms}
        kept: Optional[IO[bytes]] = (
            tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE) if keep else None
        )
        size = [0]

        def write(data: bytes) -> None:
            size[0] += len(data)
            for h in hashers.values():
                h.update(data)
            if kept is not None:
                kept.write(data)

        try:
            yield treq.collect(response, write)
            digests = {a: h.hexdigest() for a, h in hashers.items()}
            for algorithm, expected in f.hashes.items():
                if algorithm in digests and digests[algorithm] != expected:
                    raise HTTPProblem(f"{algorithm} does not match the index's")
            if release.hashes is not None and not any(
                digests.get(a) == d for a, d in release.hashes
            ):
                raise HTTPProblem("matches none of the required hashes")
        except BaseException:
            if kept is not None:
                kept.close()
            raise
        hit = (_header(response, CACHE_HEADER) or "").strip().lower() == "hit"
        return size[0], hit, kept


def _describe(error: BaseException) -> str:
    if isinstance(error, (HTTPProblem, ParseError, NoMatch)):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cheesecache warm",
        description="Fetch requirements and their dependencies through a "
        "cheesecache so that they are cached.",
    )
    p.add_argument(
        "--index",
        required=True,
        metavar="URL",
        help="the cheesecache Simple index, e.g. http://user:pass@host:3141/simple/",
    )
    p.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        metavar="FILE",
        help="a requirements file (repeatable)",
    )
    p.add_argument(
        "-c",
        "--constraint",
        action="append",
        default=[],
        metavar="FILE",
        help="a constraints file (repeatable)",
    )
    p.add_argument(
        "--pylock",
        action="append",
        default=[],
        metavar="FILE",
        help="a PEP 751 pylock.toml (repeatable)",
    )
    p.add_argument(
        "--python-version",
        metavar="X.Y",
        help="the target Python (default: this interpreter)",
    )
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="TAG",
        help="a target platform tag, e.g. manylinux_2_17_x86_64 (repeatable; "
        "default: this machine)",
    )
    p.add_argument("--pre", action="store_true", help="consider prereleases")
    p.add_argument(
        "--proxy",
        metavar="URL",
        help="an HTTP proxy to reach the index through, http(s)://[user:pass@]host:port "
        "(default: pip's proxy setting, then HTTPS_PROXY / HTTP_PROXY and NO_PROXY)",
    )
    p.add_argument(
        "--cert",
        metavar="FILE",
        help="a PEM bundle of the certificate authorities an https index is checked "
        "against (default: pip's cert setting, unless SSL_CERT_FILE or SSL_CERT_DIR is set)",
    )
    p.add_argument(
        "--client-cert",
        metavar="FILE",
        help="a PEM file holding a client certificate and its private key, for an https "
        "index that asks for one (default: pip's client-cert setting)",
    )
    p.add_argument(
        "--trusted-host",
        metavar="HOST",
        action="append",
        default=[],
        help="an https index host (or host:port) whose certificate is not checked, as "
        "pip's --trusted-host; repeatable (default: pip's trusted-host setting)",
    )
    p.add_argument(
        "--concurrency", type=int, default=8, help="parallel requests (default 8)"
    )
    p.add_argument(
        "specs", nargs="*", metavar="SPEC", help="requirements, e.g. 'requests>=2'"
    )
    return p


class _ProgressDisplay:
    """
    A one-line bar redrawn with C{\\r} on a terminal; one line per file
    otherwise (logs and CI).
    """

    width = 30

    def __init__(self, out: TextIO) -> None:
        self.out = out
        isatty = getattr(out, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.drawn = False

    def __call__(self, p: Progress) -> None:
        if self.tty:
            filled = self.width * p.done // max(p.total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            line = f"[{bar}] {p.done}/{p.total} {p.label}"[:100]
            self.out.write("\r" + line.ljust(100))
            self.drawn = True
        else:
            reason = f": {p.reason}" if p.reason else ""
            self.out.write(f"[{p.done}/{p.total}] {p.status} {p.label}{reason}\n")
        self.out.flush()

    def finish(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.drawn = False


def _summary(report: Report, out: TextIO) -> None:
    total = len(report.fetched) + len(report.cached)
    size = sum(o.size for o in report.fetched)
    for warning in report.warnings:
        out.write(f"warning: {warning}\n")
    for problem in report.failed:
        out.write(f"failed: {problem.subject}: {problem.reason}\n")
    out.write(
        f"{total} files: {len(report.fetched)} fetched ({size} bytes), "
        f"{len(report.cached)} already cached, {len(report.failed)} failed\n"
    )


def _redacted(url: str) -> str:
    return splitCredentials(url)[0]


def warmCommand(argv: Sequence[str], stdout: TextIO) -> int:
    """
    C{cheesecache warm}: parse C{argv}, resolve and fetch through the
    index, show progress and a summary on C{stdout}.  Runs (and stops) the
    global reactor, so it can be called once per process.

    @return: the exit code: 0, 1 when anything failed, 2 for bad usage.
    """
    try:
        options = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    try:
        wanted = RequirementsFile(allowPre=options.pre)
        for spec in options.specs:
            parsed = Requirement.parse(spec, "command line")
            wanted += RequirementsFile(requirements=(parsed,))
        for path in options.requirement:
            wanted += readRequirements(path)
        for path in options.constraint:
            wanted += readRequirements(path, constraint=True)
        for path in options.pylock:
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise RequirementsError(f"cannot read {path}: {e}") from e
            wanted += parsePylock(text, path)
        target = Target.fromOptions(options.python_version, options.platform)
    except RequirementsError as e:
        stdout.write(f"error: {e}\n")
        return 2
    if not wanted.requirements:
        stdout.write("error: nothing to warm (give requirements, -r or --pylock)\n")
        return 2
    if urlsplit(options.index).scheme not in ("http", "https"):
        stdout.write(f"error: --index must be an http(s) URL, not {options.index!r}\n")
        return 2
    from .config import ConfigError
    from .outbound import Outbound, netrcAuthorization
    from .pipconfig import PipSettings

    try:
        outbound = Outbound.fromSettings(
            PipSettings(),
            proxy=options.proxy,
            bundle=options.cert,
            cert=options.client_cert,
            trusted=options.trusted_host,
            bundleFlag="--cert",
        )
        authorization, _ = netrcAuthorization(options.index, os.environ)
    except ConfigError as e:
        stdout.write(f"error: {e}\n")
        return 2

    stdout.write(f"warming {_redacted(options.index)} for {target.description}\n")
    display = _ProgressDisplay(stdout)
    results: List[Report] = []

    def main(reactor: Any) -> "Deferred[None]":
        import treq
        from twisted.web.client import HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = max(options.concurrency, 2)
        client = treq.client.HTTPClient(outbound.agent(reactor, pool))
        warmer = Warmer(
            client,
            options.index,
            target,
            concurrency=max(options.concurrency, 1),
            progress=display,
            timeout=300,
            reactor=reactor,
            authorization=authorization,
        )
        d = warmer.warm(wanted.requirements, wanted.constraints, wanted.allowPre)
        d.addCallback(results.append)

        def closed(result: object) -> "Deferred[object]":
            return pool.closeCachedConnections().addCallback(lambda _: result)

        d.addBoth(closed)
        return d

    from twisted.internet.task import react

    try:
        react(main)
    except SystemExit as e:
        if e.code:
            display.finish()
            stdout.write("error: the warm stopped unexpectedly\n")
            return int(e.code) if isinstance(e.code, int) else 1
    display.finish()
    if not results:
        return 1
    report = results[0]
    for warning in wanted.warnings:
        stdout.write(f"warning: {warning}\n")
    _summary(report, stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(warmCommand(sys.argv[1:], sys.stdout))
