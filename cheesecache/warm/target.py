# -*- test-case-name: tests.test_warm -*-
"""
The environment a warm fetches for (Python version, platform tags,
marker values), which may not be the one it runs in.
"""

from __future__ import annotations

import platform
import re
import sys
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import attrs
from packaging.markers import default_environment
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import (
    Tag,
    compatible_tags,
    cpython_tags,
    mac_platforms,
    platform_tags,
    sys_tags,
)

from .requirements import RequirementsError


def _tagTuple(value: Iterable[Tag]) -> Tuple[Tag, ...]:
    return tuple(value)


def _environment(value: Mapping[str, str]) -> Dict[str, str]:
    return dict(value)


#: The highest major or minor version a target's Python or platform tag
#: may name, and the most platform tags: the tags a target installs grow
#: with them (every older Python minor, glibc and macOS is listed), so a
#: version no machine has would stall the warm (and the server, for
#: C{/-/warm}) while they were listed.
MAX_VERSION_NUMBER = 99
MAX_PLATFORMS = 32


def _checkNumbers(tag: str, *numbers: int) -> None:
    if any(n > MAX_VERSION_NUMBER for n in numbers):
        raise RequirementsError(
            f"bad platform {tag!r} (versions go up to {MAX_VERSION_NUMBER})"
        )


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

    @raise RequirementsError: a version in the tag is over
        L{MAX_VERSION_NUMBER}.
    """
    tag = tag.replace("-", "_").replace(".", "_").lower()
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(.+)", tag)
    if legacy:
        major, minor = _LEGACY_MANYLINUX[legacy.group(1)]
        tag = f"manylinux_{major}_{minor}_{legacy.group(2)}"
    many = re.fullmatch(r"manylinux_(\d+)_(\d+)_(.+)", tag)
    if many:
        major, minor, arch = int(many.group(1)), int(many.group(2)), many.group(3)
        _checkNumbers(tag, major, minor)
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
        _checkNumbers(tag, major, minor)
        return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
    mac = re.fullmatch(r"macosx_(\d+)_(\d+)_(.+)", tag)
    if mac:
        _checkNumbers(tag, int(mac.group(1)), int(mac.group(2)))
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
    # Numbers kept within MAX_VERSION_NUMBER (a patch level is only
    # compared with Requires-Python).
    if re.fullmatch(r"\d\d\d?", text):
        return (int(text[0]), int(text[1:]))
    if not re.fullmatch(r"\d\d?\.\d\d?(\.\d{1,6})?", text):
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
        This interpreter on this machine.  Its version is compared with
        C{Requires-Python} without a prerelease suffix, as pip does, so
        3.13.0rc1 counts as 3.13.0.
        """
        return cls(
            pythonVersion="%d.%d.%d" % sys.version_info[:3],
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

        @raise RequirementsError: the Python version is not C{X.Y[.Z]}, a
            version is over L{MAX_VERSION_NUMBER}, or there are more than
            L{MAX_PLATFORMS} platforms.
        """
        if pythonVersion is None and not platforms:
            return cls.current()
        environment = _markerEnvironment()
        if pythonVersion is None:
            version = tuple(sys.version_info[:3])
            full = ".".join(map(str, version))
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
        if len(platforms) > MAX_PLATFORMS:
            raise RequirementsError(f"more than {MAX_PLATFORMS} platforms")
        # In order, without repeats.
        expanded = list(
            dict.fromkeys(e for p in platforms for e in expandPlatform(p))
        )
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
