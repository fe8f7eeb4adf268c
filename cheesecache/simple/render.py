# -*- test-case-name: tests.test_render -*-
"""
Render the model as PEP 691 JSON or PEP 503 HTML, with cheesecache's own
file URLs.

File URLs are relative to the project page (C{/simple/<name>/}) and point at
C{/files/<name>/<key>/<filename>}: same origin as the index (so clients reuse
credentials), ending in the exact filename and free of query strings (pip
appends C{.metadata} to them by string concatenation).
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar
from urllib.parse import quote

import attrs
from packaging.version import InvalidVersion, Version

from .jsoncodec import dumps
from .model import DistFile, ProjectList, ProjectPage, Yanked, checkedHash
from .names import normalize

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"

#: How many files (or root-list names) each piece of a rendered page holds:
#: the C{...Chunks} renderers give a page in pieces, so that a page of many
#: thousand files is never built whole (as dicts, then text, then bytes)
#: next to its parsed form.
CHUNK_ITEMS = 500

_T = TypeVar("_T")


def _batches(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), CHUNK_ITEMS):
        yield items[start : start + CHUNK_ITEMS]


#: Filenames made of these characters need no percent-encoding (the
#: unreserved characters of RFC 3986), which is nearly all of them.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*\Z")


def fileURL(projectName: str, f: DistFile) -> str:
    """
    The URL of C{f} relative to the project page of C{projectName}.
    """
    return relativeFileURL(projectName, f.key, f.filename)


def relativeFileURL(projectName: str, key: str, filename: str) -> str:
    """
    The URL of the file C{filename} under C{key}, relative to the project
    page of C{projectName}.
    """
    if not _UNRESERVED.match(filename):
        filename = quote(filename, safe="")
    return f"../../files/{projectName}/{key}/{filename}"


@lru_cache(maxsize=4096)
def _normalVersion(text: str) -> Optional[str]:
    try:
        return str(Version(text))
    except InvalidVersion:
        return None


def versionOf(filename: str) -> Optional[str]:
    """
    The version a distribution's filename carries, if it can be read.

    Only the version part is read, as C{parse_wheel_filename} and
    C{parse_sdist_filename} find it (they also parse every tag, or the
    name, which was a tenth of rendering a big page), and normalized
    versions are remembered: a version has many files.
    """
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6) or (len(parts) == 6 and not parts[2][:1].isdigit()):
            return None
        return _normalVersion(parts[1])
    for extension in _SDIST_EXTENSIONS:
        if filename.endswith(extension):
            _, dash, version = filename[: -len(extension)].rpartition("-")
            return _normalVersion(version) if dash else None
    if filename.endswith(".egg"):
        # name-version[-pyX.Y[-platform]].egg, the name's dashes escaped.
        parts = filename[:-4].split("-")
        return _normalVersion(parts[1]) if len(parts) > 1 else None
    return None


#: What sdists' filenames end with: C{parse_sdist_filename}'s, then the
#: older archives an index may still list (PEP 700 wants every listed
#: file's version among the page's versions).
_SDIST_EXTENSIONS = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tbz", ".tar")


def _withFileVersions(
    source: Optional[Sequence[str]], fileVersions: Iterable[Optional[str]]
) -> List[str]:
    """
    The PEP 700 versions: the source's, then those of the files it lacks,
    once each.
    """
    seen: Dict[str, None] = dict.fromkeys(source or ())
    for v in fileVersions:
        if v is not None:
            seen.setdefault(v, None)
    return list(seen)


def apiVersion(files: Iterable[DistFile]) -> str:
    """
    The highest API version that is true of these files: 1.1 needs a size on
    every file (PEP 700), otherwise 1.0.
    """
    return "1.1" if all(f.size is not None for f in files) else "1.0"


def _coreMetadataJSON(f: DistFile) -> Any:
    if f.coreMetadata is True:
        return True
    return dict(f.coreMetadata)  # type: ignore[arg-type]


def fileJSON(name: str, f: DistFile) -> Dict[str, Any]:
    """
    The PEP 691 entry of C{f} on the page of C{name}.
    """
    entry: Dict[str, Any] = {
        "filename": f.filename,
        "url": fileURL(name, f),
        "hashes": dict(f.hashes),
    }
    if f.requiresPython:
        entry["requires-python"] = f.requiresPython
    if f.yanked:
        entry["yanked"] = f.yanked
    if f.coreMetadata:
        # Never "dist-info-metadata": pip 22.3 to 23.1 crash on it (PEP 714).
        entry["core-metadata"] = entry["data-dist-info-metadata"] = (
            _coreMetadataJSON(f)
        )
    if f.size is not None:
        entry["size"] = f.size
    if f.uploadTime:
        entry["upload-time"] = f.uploadTime
    if f.provenance:
        entry["provenance"] = f.provenance
    return entry


@attrs.define
class ProjectJSONWriter:
    """
    A project's PEP 691 page written as its files come, in pieces, without
    holding them: the files first, then what depends on all of them (the
    API version, the PEP 700 versions) and the name, in the order of the
    public index's own pages.  A page of 15,000 files can so be written
    while it is parsed, never held whole as a model.

    @ivar name: the project's normalized name, which file URLs are under.
    """

    name: str
    _started: bool = False
    _allSized: bool = True
    _fileVersions: Dict[Optional[str], None] = attrs.field(factory=dict)

    def files(self, batch: Sequence[DistFile]) -> bytes:
        """
        The piece listing C{batch}, the next files of the page.
        """
        return self.entries([fileJSON(self.name, f) for f in batch])

    def entries(self, batch: Sequence[Dict[str, Any]]) -> bytes:
        """
        The piece listing C{batch}, the next files of the page as
        L{fileJSON} writes them (or
        L{cheesecache.simple.plain.plainFileJSON}, the same).
        """
        if not batch:
            return b""
        # A file has a size in the API's terms exactly when its entry does.
        self._allSized = self._allSized and all("size" in entry for entry in batch)
        return self._piece(dumps(batch)[1:-1], [entry["filename"] for entry in batch])

    def run(self, listed: str, filenames: Sequence[str]) -> bytes:
        """
        The piece listing a run of the next files, their entries written
        as L{entries} writes them, as C{listed} (see
        L{cheesecache.simple.plain.plainRun}: every one has a size), their
        names C{filenames}.
        """
        return self._piece(listed.encode("utf-8"), filenames)

    def _piece(self, listed: bytes, filenames: Iterable[str]) -> bytes:
        """
        The piece listing the next files, their entries written as
        C{listed}, their names C{filenames}, whose versions are noted.
        """
        versions = self._fileVersions
        for filename in filenames:
            versions.setdefault(versionOf(filename), None)
        prefix = b"," if self._started else b'{"files":['
        self._started = True
        return prefix + listed

    def end(self, page: ProjectPage) -> bytes:
        """
        The last piece: C{page}'s name, versions and status (its files have
        all been given to L{files}).
        """
        tail: Dict[str, Any] = {
            "meta": {"api-version": "1.1" if self._allSized else "1.0"},
            "name": page.name,
        }
        if page.status is not None:
            status, reason = page.status
            tail["project-status"] = {"status": status}
            if reason:
                tail["project-status"]["reason"] = reason
        tail["versions"] = _withFileVersions(page.versions, self._fileVersions)
        piece = b"]," + dumps(tail)[1:]
        return piece if self._started else b'{"files":[' + piece


def projectJSONChunks(page: ProjectPage) -> Iterator[bytes]:
    """
    The PEP 691 JSON detail page, in pieces.
    """
    writer = ProjectJSONWriter(page.name)
    for batch in _batches(page.files):
        yield writer.files(batch)
    yield writer.end(page)


def renderProjectJSON(page: ProjectPage) -> bytes:
    """
    The PEP 691 JSON detail page.
    """
    return b"".join(projectJSONChunks(page))


#: The hashes an HTML link may name, in order of preference: those both pip
#: and uv read (uv refuses a whole page whose link names a sha1 or sha224).
_HTML_HASHES = ("sha256", "sha512", "sha384", "md5")


def _htmlHash(hashes: Mapping[str, str]) -> Optional[str]:
    """
    The C{name=digest} an HTML link gives of C{hashes}, if any of them is
    one the clients read (see L{_HTML_HASHES}).
    """
    found = checkedHash(hashes, _HTML_HASHES)
    return None if found is None else "=".join(found)


def _coreMetadataHTML(f: DistFile) -> str:
    if f.coreMetadata is True:
        return "true"
    # Core metadata whose hash the clients would not read is there all the
    # same (cheesecache checks it).
    return _htmlHash(f.coreMetadata) or "true"  # type: ignore[arg-type]


def fileHTML(name: str, f: DistFile) -> str:
    """
    The PEP 503 link to C{f} on the page of C{name}.
    """
    return fileAnchor(
        fileURL(name, f),
        f.filename,
        _htmlHash(f.hashes),
        f.requiresPython,
        f.yanked,
        _coreMetadataHTML(f) if f.coreMetadata else None,
    )


def fileAnchor(
    url: str,
    filename: str,
    hash: Optional[str] = None,
    requiresPython: Optional[str] = None,
    yanked: Yanked = False,
    coreMetadata: Optional[str] = None,
) -> str:
    """
    A file's link on a project's HTML page, from what it shows: the one
    place links are written, for the model's files (L{fileHTML}) and for
    entries written without it (L{cheesecache.simple.plain.plainFileHTML}).

    @param hash: the link's fragment, C{"<name>=<digest>"}, if any.
    @param coreMetadata: the value of C{data-core-metadata}, if any
        (C{"true"} or C{"<name>=<digest>"}).
    """
    href = url
    if hash:
        href += "#" + hash
    attributes = [f'href="{escape(href)}"']
    if requiresPython:
        attributes.append(f'data-requires-python="{escape(requiresPython)}"')
    if yanked:
        reason = yanked if isinstance(yanked, str) else ""
        # Always with a value: pip ignores a bare data-yanked.
        attributes.append(f'data-yanked="{escape(reason)}"')
    if coreMetadata is not None:
        value = escape(coreMetadata)
        attributes.append(f'data-core-metadata="{value}"')
        attributes.append(f'data-dist-info-metadata="{value}"')
    return f"    <a {' '.join(attributes)}>{escape(filename)}</a><br />\n"


def projectHTMLHead(page: ProjectPage) -> bytes:
    """
    The PEP 503 HTML detail page up to its first link: it shows the name
    and status, not the files, so the files can be written after it as
    they come (L{projectHTMLFiles}), then L{PROJECT_HTML_TAIL}.
    """
    name = escape(page.name)
    head = [
        '    <meta name="pypi:repository-version" content="1.0">\n',
        f"    <title>Links for {name}</title>\n",
    ]
    if page.status is not None:
        status, reason = page.status
        head.insert(
            1, f'    <meta name="pypi:project-status" content="{escape(status)}">\n'
        )
        if reason:
            head.insert(
                2,
                '    <meta name="pypi:project-status-reason" '
                f'content="{escape(reason)}">\n',
            )
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n",
            *head,
            f"  </head>\n  <body>\n    <h1>Links for {name}</h1>\n",
        ]
    ).encode("utf-8")


def projectHTMLFiles(name: str, batch: Sequence[DistFile]) -> bytes:
    """
    The links to C{batch}, files of project C{name} (normalized).
    """
    return "".join([fileHTML(name, f) for f in batch]).encode("utf-8")


#: The end of a PEP 503 HTML detail page.
PROJECT_HTML_TAIL = b"  </body>\n</html>\n"


def projectHTMLChunks(page: ProjectPage) -> Iterator[bytes]:
    """
    The PEP 503 HTML detail page, in pieces.
    """
    yield projectHTMLHead(page)
    for batch in _batches(page.files):
        yield projectHTMLFiles(page.name, batch)
    yield PROJECT_HTML_TAIL


def renderProjectHTML(page: ProjectPage) -> bytes:
    """
    The PEP 503 HTML detail page.
    """
    return b"".join(projectHTMLChunks(page))


#: Names that are the same written in JSON or HTML (no escaping, quoting or
#: non-ASCII): those of valid projects.
_PLAIN_NAMES = re.compile(r"[A-Za-z0-9._-]*\Z")


def _projectsJSON(batch: Sequence[str]) -> str:
    """
    The root list's entries for C{batch}, comma-separated.  A batch of
    plain names (nearly all) is written by joining them, which took a tenth
    of the time of making and encoding a dict for each of 700,000 names.
    """
    if _PLAIN_NAMES.match("".join(batch)):
        return '{"name":"' + '"},{"name":"'.join(batch) + '"}'
    return dumps([{"name": n} for n in batch])[1:-1].decode("utf-8")


def listJSONChunks(projects: ProjectList) -> Iterator[bytes]:
    """
    The PEP 691 JSON root list, in pieces.
    """
    yield b'{"meta":{"api-version":"1.0"},"projects":['
    for i, batch in enumerate(_batches(projects.names)):
        yield ("," if i else "").encode() + _projectsJSON(batch).encode("utf-8")
    yield b"]}"


def renderListJSON(projects: ProjectList) -> bytes:
    """
    The PEP 691 JSON root list.
    """
    return b"".join(listJSONChunks(projects))


def listHTMLChunks(projects: ProjectList) -> Iterator[bytes]:
    """
    The PEP 503 HTML root list, linking each project relative to C{/simple/},
    in pieces.
    """
    yield (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
    ).encode("utf-8")
    for batch in _batches(projects.names):
        if _PLAIN_NAMES.match("".join(batch)):
            # Nothing to quote or escape: a third of the time for 700,000.
            lines = [f'    <a href="{normalize(n)}/">{n}</a>\n' for n in batch]
        else:
            lines = [f'    <a href="{quote(normalize(n))}/">{escape(n)}</a>\n' for n in batch]
        yield "".join(lines).encode("utf-8")
    yield b"  </body>\n</html>\n"


def renderListHTML(projects: ProjectList) -> bytes:
    """
    The PEP 503 HTML root list, linking each project relative to C{/simple/}.
    """
    return b"".join(listHTMLChunks(projects))
