# -*- test-case-name: tests.test_warm -*-
"""
Requirement specifiers, requirements files and C{pylock.toml}, read into
L{Requirement}s.  Only L{readRequirements} touches the disk: the parsers
take text (and L{parseRequirements} a function that reads included files).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import shlex
import tomllib
from typing import (
    TYPE_CHECKING,
    AbstractSet,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
)

import attrs
from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ..simple.names import normalize

if TYPE_CHECKING:
    from .target import Target


#: Hash algorithms a requirements file or lock may pin (as pip accepts).
PIN_ALGORITHMS = ("sha256", "sha384", "sha512")


def _requirementTuple(value: Iterable["Requirement"]) -> Tuple["Requirement", ...]:
    return tuple(value)


def _stringTuple(value: Iterable[str]) -> Tuple[str, ...]:
    return tuple(value)


def _extras(value: Iterable[str]) -> FrozenSet[str]:
    return frozenset(canonicalize_name(x) for x in value)


class RequirementsError(ValueError):
    """
    A requirements file, lock file or requirement could not be understood.
    """


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
    @ivar lockGroups: the dependency groups a lock file's marker is
        evaluated with: the lock's C{default-groups}.
    """

    name: str = attrs.field(converter=normalize)
    specifier: SpecifierSet = attrs.field(factory=SpecifierSet)
    extras: FrozenSet[str] = attrs.field(default=frozenset(), converter=_extras)
    marker: Optional[Marker] = None
    hashes: Optional[Hashes] = None
    origin: str = ""
    locked: bool = False
    lockGroups: FrozenSet[str] = frozenset()

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
            environment.update(extras=frozenset(), dependency_groups=self.lockGroups)
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


#: The options that choose between wheels and sdists, as pip names them.
NO_BINARY = "--no-binary"
ONLY_BINARY = "--only-binary"
#: The options that choose between pre-releases and final releases (pip
#: 26.3): read as the two above are.
ALL_RELEASES = "--all-releases"
ONLY_FINAL = "--only-final"

#: Each option that chooses among a project's files, and the option whose
#: list a name it names leaves.
_OPPOSITE = {
    NO_BINARY: ONLY_BINARY,
    ONLY_BINARY: NO_BINARY,
    ALL_RELEASES: ONLY_FINAL,
    ONLY_FINAL: ALL_RELEASES,
}

#: The options L{Formats} reads.
FORMAT_OPTIONS = tuple(_OPPOSITE)

#: A step of L{Formats}: C{(option, value)}, the option one of
#: L{FORMAT_OPTIONS}.
FormatOption = Tuple[str, str]


def _chosen(
    lists: Mapping[str, AbstractSet[str]], name: str, first: str, second: str
) -> Optional[str]:
    """
    Which of the options C{first} and C{second} (opposites) rules for
    project C{name}, if either: a project named in a list outweighs
    C{:all:} in the other, and C{:all:} in C{first} outweighs C{:all:} in
    C{second}.
    """
    for option in (first, second):
        if name in lists[option]:
            return option
    for option in (first, second):
        if ":all:" in lists[option]:
            return option
    return None


@attrs.frozen
class Formats:
    """
    Which files pip may install for each project, as C{--no-binary} and
    C{--only-binary}, C{--all-releases} and C{--only-final} (in
    requirements files or on the command line) and C{--prefer-binary}
    leave them.  A warmed cache must hold the file pip will ask for: the
    sdist of a project it may not install from a wheel, the final release
    of one it may not install a pre-release of.

    @ivar noBinary: projects (normalized), or C{":all:"}, that pip installs
        from sdists only.
    @ivar onlyBinary: projects, or C{":all:"}, that pip installs from
        wheels only.
    @ivar preferBinary: a wheel of an older version wins over an sdist of a
        newer one.
    @ivar allReleases: projects, or C{":all:"}, whose pre-releases are
        candidates, as C{--pre} makes every project's.
    @ivar onlyFinal: projects, or C{":all:"}, whose pre-releases never are.
    """

    noBinary: FrozenSet[str] = frozenset()
    onlyBinary: FrozenSet[str] = frozenset()
    preferBinary: bool = False
    allReleases: FrozenSet[str] = frozenset()
    onlyFinal: FrozenSet[str] = frozenset()

    @classmethod
    def read(cls, options: Iterable[FormatOption], preferBinary: bool = False) -> "Formats":
        """
        The formats the options leave, taken in order, each as pip reads
        it: a comma-separated list in which C{:all:} stands for every
        project (and empties both its own and the opposite option's lists
        first; what follows it in the same value counts only if a
        C{:none:} does), C{:none:} empties the option's own list, and a
        name moves to the option's list from the opposite one's.
        """
        lists: Dict[str, Set[str]] = {option: set() for option in FORMAT_OPTIONS}
        for option, value in options:
            own = lists[option]
            other = lists[_OPPOSITE[option]]
            items = value.split(",")
            while ":all:" in items:
                own.clear()
                other.clear()
                own.add(":all:")
                items = items[items.index(":all:") + 1 :]
                if ":none:" not in items:
                    items = []
            for item in items:
                if item == ":none:":
                    own.clear()
                elif item:
                    name = canonicalize_name(item)
                    other.discard(name)
                    own.add(name)
        return cls(
            frozenset(lists[NO_BINARY]),
            frozenset(lists[ONLY_BINARY]),
            preferBinary,
            frozenset(lists[ALL_RELEASES]),
            frozenset(lists[ONLY_FINAL]),
        )

    @property
    def _lists(self) -> Dict[str, FrozenSet[str]]:
        return {
            NO_BINARY: self.noBinary,
            ONLY_BINARY: self.onlyBinary,
            ALL_RELEASES: self.allReleases,
            ONLY_FINAL: self.onlyFinal,
        }

    def allows(self, name: str) -> Tuple[bool, bool]:
        """
        May project C{name} (normalized) be installed from a wheel, and from
        an sdist?  (C{--only-binary=:all:} outweighs C{--no-binary=:all:}.)
        """
        rule = _chosen(self._lists, name, ONLY_BINARY, NO_BINARY)
        return rule != NO_BINARY, rule != ONLY_BINARY

    def prereleases(self, name: str) -> Optional[bool]:
        """
        May pre-releases of project C{name} (normalized) be installed:
        C{True} (C{--all-releases}), C{False} (C{--only-final}, even if its
        specifier names one), or C{None}, pip's default (when the specifier
        names one, or no final release suits)?
        """
        rule = _chosen(self._lists, name, ONLY_FINAL, ALL_RELEASES)
        return None if rule is None else rule == ALL_RELEASES

    def describe(self) -> str:
        """
        The options that set these formats, for messages (empty for none).
        """
        parts = [
            f"{option}={','.join(sorted(names))}"
            for option, names in self._lists.items()
            if names
        ]
        if self.preferBinary:
            parts.append("--prefer-binary")
        return " ".join(parts)


@attrs.frozen
class RequirementsFile:
    """
    What a requirements file (and the files it includes) asks for.

    @ivar allowPre: the file said C{--pre}.
    @ivar formatOptions: its C{--no-binary} and C{--only-binary} options, in
        the order pip reads them (see L{Formats.read}).
    @ivar preferBinary: it said C{--prefer-binary}.
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
    formatOptions: Tuple[FormatOption, ...] = attrs.field(default=(), converter=tuple)
    preferBinary: bool = False

    def __add__(self, other: "RequirementsFile") -> "RequirementsFile":
        return RequirementsFile(
            self.requirements + other.requirements,
            self.constraints + other.constraints,
            self.allowPre or other.allowPre,
            self.warnings + other.warnings,
            self.formatOptions + other.formatOptions,
            self.preferBinary or other.preferBinary,
        )

    @property
    def formats(self) -> Formats:
        """
        The kinds of file pip installs for each project, given these files.
        """
        return Formats.read(self.formatOptions, self.preferBinary)


_COMMENT = re.compile(r"(^|\s+)#.*$")
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")
_INCLUDES = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
_IGNORED_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--use-feature",
    "--config-settings",
    "--global-option",
    "--install-option",
}
#: Short options ignored as their long forms are.
_IGNORED_SHORT = {"-i": "--index-url", "-f": "--find-links", "-C": "--config-settings"}
_IGNORED_FLAGS = {"--no-index", "--require-hashes"}
_EDITABLE = {"-e", "--editable"}


def _logicalLines(text: str) -> Iterable[Tuple[int, str]]:
    """
    Join continued lines (a trailing backslash) and drop comments, as pip
    does; yields each non-empty logical line with its first line number.
    Lines are joined as they are, without a space: pip lets a backslash
    split a version or a hash.
    """
    pending: List[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        comment = line.lstrip().startswith("#")
        if line.endswith("\\") and not comment:
            pending.append(line[:-1])
            continue
        # A comment ends a continued line, and is cut off it even when
        # joined right after a backslash (pip puts a space before it).
        pending.append(" " + line if comment else line)
        joined = _COMMENT.sub("", "".join(pending)).strip()
        pending = []
        if joined:
            yield start, joined
    if pending:
        joined = _COMMENT.sub("", "".join(pending)).strip()
        if joined:
            yield start, joined


def _expand(line: str, environ: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: environ.get(m.group(1)) or m.group(0), line)


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


def _splitOptions(text: str, origin: str) -> List[str]:
    """
    Options split as pip splits them, as a shell would (C{shlex}): a quoted
    value may hold spaces (C{-r "my reqs.txt"},
    C{--config-settings="--build-option=--a b"}).
    """
    try:
        return shlex.split(text)
    except ValueError as e:
        raise RequirementsError(f"{origin}: cannot split {text!r}: {e}") from e


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
    environ: Optional[Mapping[str, str]] = None,
    _including: Tuple[str, ...] = (),
) -> RequirementsFile:
    """
    Parse a pip requirements file: requirement lines with markers and
    C{--hash} options, C{-r}/C{-c} includes (relative to the including
    file), comments and continuation lines, C{--pre}, and the options that
    choose between wheels and sdists (see L{Formats}).  Other options are
    ignored with a warning, since they choose indexes and build behaviour,
    not what to fetch.

    @param path: the file's path, to name it in messages and to resolve
        includes against.
    @param read: reads an included file by path (injected, so that this
        stays free of I/O).
    @param constraint: the lines are constraints (the file was given with
        C{-c}).
    @param environ: the variables C{${NAME}} stands for, as pip expands
        them (an unset or empty one is left as it is); none by default, so
        that a file from elsewhere (C{/-/warm}) cannot read the server's.
    @raise RequirementsError: a line is not understood, or an include loops.
    """
    # Compared normalized: a loop through "./a.txt" spells the path anew
    # each time round.
    normalized = os.path.normpath(path)
    if normalized in _including:
        raise RequirementsError(
            f"{path}: included from itself ({' -> '.join(_including)})"
        )
    including = _including + (normalized,)
    result = RequirementsFile()
    requirements: List[Requirement] = []
    warnings: List[str] = []
    allowPre = preferBinary = False
    # In line order, an included file's where it is included (so that a
    # later line outweighs it, as with pip).
    formatOptions: List[FormatOption] = []
    for number, line in _logicalLines(text):
        origin = f"{path}:{number}"
        if environ:
            line = _expand(line, environ)
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0].startswith("-"):
            tokens = _splitOptions(line, origin)
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
                    found = parseRequirements(
                        includedText, included, read, nested, environ, including
                    )
                    formatOptions.extend(found.formatOptions)
                    result = result + attrs.evolve(found, formatOptions=())
                elif option == "--pre":
                    allowPre = True
                    i += 1
                elif option in FORMAT_OPTIONS:
                    value, i = _optionValue(tokens, i, origin)
                    if value.startswith("-"):
                        raise RequirementsError(f"{origin}: {option} needs a value")
                    formatOptions.append((option, value))
                elif option == "--prefer-binary":
                    preferBinary = True
                    i += 1
                elif short in _EDITABLE or option in _EDITABLE:
                    value, i = _optionValue(tokens, i, origin)
                    warnings.append(f"{origin}: not warming the editable {value}")
                elif option in _IGNORED_WITH_VALUE or short in _IGNORED_SHORT:
                    _, i = _optionValue(tokens, i, origin)
                    warnings.append(
                        f"{origin}: ignoring {_IGNORED_SHORT.get(short, option)}"
                    )
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
        options = _splitOptions(" ".join(tokens[split:]), origin)
        i = 0
        while i < len(options):
            option = options[i].split("=", 1)[0]
            short = options[i][:2] if not option.startswith("--") else option
            if option == "--hash":
                value, i = _optionValue(options, i, origin)
                hashes.append(_parseHash(value, origin))
            elif option in _IGNORED_WITH_VALUE or short in _IGNORED_SHORT:
                _, i = _optionValue(options, i, origin)
                warnings.append(
                    f"{origin}: ignoring {_IGNORED_SHORT.get(short, option)}"
                )
            else:
                raise RequirementsError(f"{origin}: unknown option {options[i]}")
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
        formatOptions=formatOptions,
        preferBinary=preferBinary,
    )
    return own + result


#: Byte order marks and their encodings, longest first (UTF-32 LE starts
#: with UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decodeRequirements(data: bytes, origin: str) -> str:
    """
    The text of a requirements file: as pip reads it, a byte order mark
    gives the encoding (Windows PowerShell writes UTF-16 with one), and
    without one it is UTF-8.

    @raise RequirementsError: it is not text in that encoding.
    """
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], name
            break
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise RequirementsError(f"{origin}: not {encoding} text: {e}") from e


def readRequirements(path: str, constraint: bool = False) -> RequirementsFile:
    """
    Parse the requirements file at C{path} and what it includes, from disk,
    with this process's environment variables.
    """

    def read(p: str) -> str:
        with open(p, "rb") as f:
            return decodeRequirements(f.read(), p)

    try:
        text = read(path)
    except OSError as e:
        raise RequirementsError(f"cannot read {path}: {e}") from e
    return parseRequirements(text, path, read, constraint, os.environ)


def parsePylock(text: str, origin: str = "pylock.toml") -> RequirementsFile:
    """
    Read a PEP 751 lock file as pinned requirements: each package's version
    with the hashes of the files it lists (so only those files are chosen),
    its marker evaluated as a lock file's (with the lock's default groups
    and no extras), and no dependencies followed (a
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
    # What an installer evaluates markers with when it is asked for no
    # group or extra by name (PEP 751): no extras, and these groups.
    groups = data.get("default-groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise RequirementsError(f"{origin}: default-groups must be an array of strings")
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
                lockGroups=frozenset(groups),
            )
        )
    return RequirementsFile(requirements=requirements, warnings=warnings)
