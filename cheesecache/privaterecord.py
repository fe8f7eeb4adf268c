# -*- test-case-name: tests.test_private -*-
"""
The record of one private project: its uploaded files and the filenames
it may never use again.  Pure values and their JSON form; the store that
reads and writes them is L{cheesecache.private}.

A private project is rendered through the same model as an upstream one
(L{cheesecache.simple.model.ProjectPage}), so both page formats show an
upload, a yank or a delete at once and can never disagree.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Tuple

import attrs
from packaging.version import InvalidVersion, Version

from .simple.model import DistFile, ProjectPage, Yanked
from .simple.names import normalize

#: The C{url} of a private file's L{DistFile}.  It is never fetched: the
#: bytes are in the blob store under the file's sha256 from the moment the
#: upload is accepted, and pages link to C{/files/<name>/<sha256>/<file>}.
PRIVATE_URL_PREFIX = "private:"

#: The version of the JSON layout written by L{recordToJSON}.
RECORD_FORMAT = 1


def formatUploadTime(seconds: float) -> str:
    """
    A POSIX time as PEP 700 writes C{upload-time}:
    C{yyyy-mm-ddThh:mm:ss.ffffffZ}, always UTC.
    """
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sameVersion(a: str, b: str) -> bool:
    """
    Do C{a} and C{b} name the same release (PEP 440 equality, so C{1.0} is
    C{1.0.0}; strings that are not versions must match exactly)?
    """
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _frozenMetadata(value: Mapping[str, Iterable[str]]) -> Mapping[str, Tuple[str, ...]]:
    return {str(k): tuple(str(v) for v in values) for k, values in dict(value).items()}


@attrs.frozen
class PrivateFile:
    """
    One uploaded distribution file.

    @ivar version: the release's version, normalized (C{str(Version(...))}).
    @ivar filetype: C{bdist_wheel} or C{sdist}, as uploaded.
    @ivar uploadTime: PEP 700 C{upload-time}, set once when accepted.
    @ivar metadataSha256: the sha256 of the core metadata kept as the blob
        C{<sha256>.metadata}, or C{None} when there is none (sdists with
        Metadata-Version before 2.2).
    @ivar yanked: C{False}, C{True} (yanked without a reason) or the reason.
    @ivar uploader: the user who uploaded it (C{None} for imports).
    @ivar metadata: the metadata fields the client sent with the upload
        (C{classifiers}, C{requires_dist}, ...), every value of repeated ones.
    """

    filename: str
    version: str
    filetype: str
    size: int
    sha256: str
    md5: str
    blake2_256: str
    uploadTime: str
    requiresPython: Optional[str] = None
    metadataSha256: Optional[str] = None
    yanked: Yanked = False
    uploader: Optional[str] = None
    pyversion: Optional[str] = None
    metadata: Mapping[str, Tuple[str, ...]] = attrs.field(
        factory=dict, converter=_frozenMetadata
    )

    def toDistFile(self) -> DistFile:
        """
        This file as the Simple pages list it.
        """
        return DistFile(
            filename=self.filename,
            url=PRIVATE_URL_PREFIX + self.filename,
            hashes={"sha256": self.sha256},
            requiresPython=self.requiresPython,
            yanked=self.yanked,
            coreMetadata=(
                {"sha256": self.metadataSha256} if self.metadataSha256 else None
            ),
            size=self.size,
            uploadTime=self.uploadTime,
        )


@attrs.frozen
class ProjectRecord:
    """
    A private project.

    @ivar name: the project's name as last uploaded (for display).
    @ivar files: in upload order.
    @ivar deleted: filenames of deleted files; never accepted again, so a
        name can never point at different bytes than it once did.
    """

    name: str
    files: Tuple[PrivateFile, ...] = attrs.field(default=(), converter=tuple)
    deleted: FrozenSet[str] = attrs.field(default=frozenset(), converter=frozenset)

    @property
    def normalizedName(self) -> str:
        return normalize(self.name)

    def fileNamed(self, filename: str) -> Optional[PrivateFile]:
        """
        The file called C{filename}, if the project has it.
        """
        for f in self.files:
            if f.filename == filename:
                return f
        return None

    def filesOf(self, version: str) -> Tuple[PrivateFile, ...]:
        """
        The files of release C{version}.
        """
        return tuple(f for f in self.files if sameVersion(f.version, version))

    def withFile(self, f: PrivateFile, name: Optional[str] = None) -> "ProjectRecord":
        """
        This record with C{f} added (or replacing the file of that name), and
        the display name updated when given.
        """
        files = [g for g in self.files if g.filename != f.filename] + [f]
        return attrs.evolve(self, name=name or self.name, files=files)

    def replacing(self, files: Iterable[PrivateFile]) -> "ProjectRecord":
        """
        This record with the files of the same names replaced by C{files}.
        """
        new = {f.filename: f for f in files}
        return attrs.evolve(
            self, files=[new.get(f.filename, f) for f in self.files]
        )

    def without(self, filenames: Iterable[str]) -> "ProjectRecord":
        """
        This record with C{filenames} deleted (and remembered as deleted).
        """
        gone = frozenset(filenames)
        return attrs.evolve(
            self,
            files=[f for f in self.files if f.filename not in gone],
            deleted=self.deleted | gone,
        )

    def toPage(self) -> ProjectPage:
        """
        The project's Simple page.
        """
        return ProjectPage(
            name=self.normalizedName, files=[f.toDistFile() for f in self.files]
        )


def _fileToDict(f: PrivateFile) -> Dict[str, Any]:
    return {
        "filename": f.filename,
        "version": f.version,
        "filetype": f.filetype,
        "size": f.size,
        "sha256": f.sha256,
        "md5": f.md5,
        "blake2_256": f.blake2_256,
        "upload-time": f.uploadTime,
        "requires-python": f.requiresPython,
        "core-metadata-sha256": f.metadataSha256,
        "yanked": f.yanked,
        "uploader": f.uploader,
        "pyversion": f.pyversion,
        "metadata": {k: list(v) for k, v in f.metadata.items()},
    }


def _fileFromDict(d: Mapping[str, Any]) -> PrivateFile:
    yanked = d.get("yanked", False)
    if not isinstance(yanked, (bool, str)) or yanked == "":
        raise ValueError(f"bad yanked value {yanked!r}")
    return PrivateFile(
        filename=d["filename"],
        version=d["version"],
        filetype=d["filetype"],
        size=int(d["size"]),
        sha256=d["sha256"],
        md5=d["md5"],
        blake2_256=d["blake2_256"],
        uploadTime=d["upload-time"],
        requiresPython=d.get("requires-python"),
        metadataSha256=d.get("core-metadata-sha256"),
        yanked=yanked,
        uploader=d.get("uploader"),
        pyversion=d.get("pyversion"),
        metadata=d.get("metadata") or {},
    )


def recordToJSON(record: ProjectRecord) -> bytes:
    """
    Serialize a record (stable key order, so equal records give equal bytes).
    """
    return json.dumps(
        {
            "format": RECORD_FORMAT,
            "name": record.name,
            "files": [_fileToDict(f) for f in record.files],
            "deleted": sorted(record.deleted),
        },
        indent=1,
        sort_keys=True,
        ensure_ascii=False,
    ).encode("utf-8")


def recordFromJSON(data: bytes) -> ProjectRecord:
    """
    Read back what L{recordToJSON} wrote.

    @raise ValueError: not a record (or a format this version cannot read).
    """
    try:
        raw = json.loads(data)
        if raw.get("format") != RECORD_FORMAT:
            raise ValueError(f"unknown record format {raw.get('format')!r}")
        return ProjectRecord(
            name=raw["name"],
            files=[_fileFromDict(f) for f in raw["files"]],
            deleted=raw.get("deleted", []),
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"malformed project record: {e!r}") from e
