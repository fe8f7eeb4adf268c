# -*- test-case-name: tests.test_model -*-
"""
The one model both representations of the Simple API are rendered from.

Values here keep exactly what the upstream said (PEP 592 yanks, PEP 658/714
core metadata, PEP 700 size and upload time) so that a page passes through
cheesecache without losing anything a client reads.
"""

from __future__ import annotations

import hashlib
import re
import sys
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import attrs

#: What a file's C{yanked} can be: C{False}, C{True} (no reason), or a reason.
Yanked = Union[bool, str]

#: What a file's core metadata can be: absent (C{None}), C{True} (present, no
#: hash), or a mapping of hash name to hex digest.
CoreMetadata = Union[None, bool, Mapping[str, str]]


#: The length of a hex digest under each of hashlib's names (a page's
#: hash names are hashlib's, PEP 691): pip checks a JSON page's digest
#: with C{hashlib.new(name)}, so a C{blake2b} of 64 digits (a blake2b-256,
#: as some tools write it) is no blake2b.
_HEX_LENGTHS = {
    "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
    "blake2b": 128, "blake2s": 64,
    "sha3_224": 56, "sha3_256": 64, "sha3_384": 96, "sha3_512": 128,
}

#: The hashes a file's bytes are checked with, in order of preference: its
#: sha256 (which also names its blob), else the strongest other that PEP
#: 503 lets an index give (hashlib's guaranteed ones), as some indexes still
#: list only an md5.
_CHECKED_HASHES = ("sha256", "sha512", "sha384", "sha224", "sha1", "md5")


def checkedHash(
    hashes: Mapping[str, str], preference: Sequence[str] = _CHECKED_HASHES
) -> Optional[Tuple[str, str]]:
    """
    The hash name and digest, of those in C{hashes} (as a file's are
    kept), that bytes are checked against: the first of C{preference} (by
    default L{_CHECKED_HASHES}) there is; C{None} when there is none.
    """
    for name in preference:
        digest = hashes.get(name)
        if digest is not None:
            return name, digest
    return None


_HEX = re.compile(r"[0-9a-f]+")

#: A sha256 as a file's hashes keep it: lower-case hex.
SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


def _shared(value: Any) -> Any:
    """
    One string object for all the files that carry the same value (hash
    names, requires-python): a page of 15,000 files would otherwise hold
    15,000 copies of C{"sha256"}.
    """
    return sys.intern(value) if type(value) is str else value


def _frozenHashes(value: Mapping[str, str]) -> Mapping[str, str]:
    """
    Lower-case hash names and digests, dropping malformed digests (and
    any that is not a string): a bad sha256 must never become a file's
    key.

    This runs for every file of every page parsed, so it is one loop, and
    the usual case (one lower-case sha256) skips even that.
    """
    if len(value) == 1:
        digest = value.get("sha256")
        if type(digest) is str and SHA256_HEX.match(digest):
            return {"sha256": digest}
    hashes = {}
    for algorithm, digest in value.items():
        if type(digest) is not str:
            continue
        algorithm = str(algorithm).lower()
        digest = digest.lower()
        length = _HEX_LENGTHS.get(algorithm)
        if (length is None or len(digest) == length) and _HEX.fullmatch(digest):
            hashes[sys.intern(algorithm)] = digest
    return hashes


def _frozenCoreMetadata(value: CoreMetadata) -> CoreMetadata:
    """
    Core metadata as a file keeps it.  Hashes of which none is a digest
    (none at all, C{{}}) still list metadata, as pip and uv read them:
    it is metadata without a hash, C{True}, not no metadata.
    """
    if value is None or isinstance(value, bool):
        return value
    return _frozenHashes(value) or True


@attrs.frozen
class DistFile:
    """
    One distribution file as a Simple page lists it.

    @ivar url: the absolute URL the file is fetched from (upstream), never
        the URL cheesecache shows its clients.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = attrs.field(factory=dict, converter=_frozenHashes)
    requiresPython: Optional[str] = attrs.field(default=None, converter=_shared)
    yanked: Yanked = False
    coreMetadata: CoreMetadata = attrs.field(
        default=None, converter=_frozenCoreMetadata
    )
    size: Optional[int] = None
    uploadTime: Optional[str] = None
    provenance: Optional[str] = None

    @property
    def sha256(self) -> Optional[str]:
        """
        The file's sha256 hex digest, if the index gave one.
        """
        return self.hashes.get("sha256")

    @property
    def key(self) -> str:
        """
        A stable key naming this file's bytes: its sha256 when known,
        otherwise a key derived from its upstream URL (marked with C{u})
        and the hash it is checked against, if any: a file replaced
        upstream under the same URL, and listed with its new md5, is
        another file, not the old bytes kept under the URL, which its new
        md5 would refuse.
        """
        if self.sha256:
            return self.sha256
        checked = self.checkedHash
        source = self.url if checked is None else f"{self.url}#{checked[0]}={checked[1]}"
        return "u" + hashlib.sha256(source.encode("utf-8")).hexdigest()

    @property
    def checkedHash(self) -> Optional[Tuple[str, str]]:
        """
        The hash name and digest the file's bytes are checked against (see
        L{_CHECKED_HASHES}); C{None} when the index gave none.
        """
        return checkedHash(self.hashes)

    @property
    def verified(self) -> bool:
        """
        Can the bytes be checked against a digest the index gave?
        """
        return self.checkedHash is not None


@attrs.frozen
class ProjectPage:
    """
    A project's detail page.

    @ivar name: the normalized project name.
    @ivar versions: the PEP 700 C{versions} list, or C{None} when the source
        gave none (it is then derived from the files when rendering).
    @ivar status: the PEP 792 project status, if any, as C{(status, reason)}.
    """

    name: str
    files: Tuple[DistFile, ...] = attrs.field(default=(), converter=tuple)
    versions: Optional[Tuple[str, ...]] = attrs.field(
        default=None,
        converter=lambda v: None if v is None else tuple(v),
    )
    status: Optional[Tuple[str, Optional[str]]] = None

    def fileByKey(self, key: str, filename: str) -> Optional[DistFile]:
        """
        Find the file listed under C{key} with this C{filename}.
        """
        for f in self.files:
            if f.filename == filename and f.key == key:
                return f
        return None


@attrs.frozen
class ProjectList:
    """
    The root page: every project's name, as the source displays it.
    """

    names: Tuple[str, ...] = attrs.field(default=(), converter=tuple)
