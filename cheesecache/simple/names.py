# -*- test-case-name: tests.test_names -*-
"""
Project and file names, as the name-normalization specification defines them.
"""

from __future__ import annotations

import re

#: ASCII only: ignoring case alone, C{[A-Z]} also matches the Kelvin sign,
#: the long s and the dotted and dotless i, which lower-case to other names
#: (or to two characters).
_VALID = re.compile(
    r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE | re.ASCII
)
_SEPARATORS = re.compile(r"[-_.]+")

#: The longest valid project name: pages and private records are stored in
#: files named after their projects, with a suffix and, while written, a
#: temporary prefix, and file names are at most 255 bytes long.
MAX_NAME_LENGTH = 200


def isValidName(name: str) -> bool:
    """
    Is C{name} a valid project name (ASCII letters, digits, C{.-_} inside,
    at most L{MAX_NAME_LENGTH} long)?
    """
    return len(name) <= MAX_NAME_LENGTH and _VALID.match(name) is not None


def normalize(name: str) -> str:
    """
    The normalized form of a project name: runs of C{-_.} become one C{-},
    letters become lower case.

    Most names have no run to collapse (single hyphens only), so the
    substitution is skipped for them: merging a root list of 700,000 names
    normalizes every one.
    """
    lowered = name.lower()
    if "_" in lowered or "." in lowered or "--" in lowered:
        return _SEPARATORS.sub("-", lowered)
    return lowered


def isSafeFilename(filename: str) -> bool:
    """
    May C{filename} name a file in a URL or on disk?  Rejects path separators,
    parent references, NUL and control characters.
    """
    if not filename or filename in (".", ".."):
        return False
    if "/" in filename or "\\" in filename or ".." in filename:
        return False
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in filename)
