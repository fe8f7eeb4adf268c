# -*- test-case-name: tests.test_pagestore -*-
"""
Cached upstream pages on disk, so that a restart (or an upstream outage after
a restart) still serves what was seen before.

Layout: C{<data-dir>/pages/<source-id>/<name>.json}, one file per page, with
the parsed page, the upstream validators and the time it was fetched.
Writes are atomic (temporary file, fsync, rename).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Iterator, Optional, Union

import attrs
from twisted.logger import Logger
from twisted.python.filepath import FilePath

from .freshness import PageEntry, Validators
from .simple.model import DistFile, ProjectList, ProjectPage
from .simple.parse import Streamed, loadStreaming

ROOT_NAME = "_root"  # normalized names never contain "_"

log = Logger()


def _fileToDict(f: DistFile) -> Dict[str, Any]:
    return {
        "filename": f.filename,
        "url": f.url,
        "hashes": dict(f.hashes),
        "requiresPython": f.requiresPython,
        "yanked": f.yanked,
        "coreMetadata": f.coreMetadata
        if isinstance(f.coreMetadata, (bool, type(None)))
        else dict(f.coreMetadata),
        "size": f.size,
        "uploadTime": f.uploadTime,
        "provenance": f.provenance,
    }


#: How many files each piece of a stored page holds (see L{entryChunks}).
CHUNK_FILES = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def entryChunks(entry: PageEntry) -> Iterator[bytes]:
    """
    Serialize a cache entry, in pieces: a page of many thousand files is
    written out a few hundred files at a time instead of being built whole
    (as dicts, then text, then bytes) next to its parsed form.
    """
    head = _dumps(
        {
            "version": 1,
            "url": entry.url,
            "etag": entry.validators.etag,
            "lastModified": entry.validators.lastModified,
            "fetchedAt": entry.fetchedAt,
        }
    )
    yield (head[:-1] + ',"content":').encode("utf-8")
    content = entry.content
    if isinstance(content, ProjectPage):
        yield ('{"type":"project","name":' + _dumps(content.name) + ',"files":[').encode("utf-8")
        files = content.files
        for start in range(0, len(files), CHUNK_FILES):
            piece = _dumps([_fileToDict(f) for f in files[start : start + CHUNK_FILES]])
            yield (("," if start else "") + piece[1:-1]).encode("utf-8")
        versions = None if content.versions is None else list(content.versions)
        status = None if content.status is None else list(content.status)
        yield (
            '],"versions":' + _dumps(versions) + ',"status":' + _dumps(status) + "}}"
        ).encode("utf-8")
    elif isinstance(content, ProjectList):
        yield (_dumps({"type": "list", "names": list(content.names)}) + "}").encode("utf-8")
    else:
        yield b"null}"


def entryToJSON(entry: PageEntry) -> bytes:
    """
    Serialize a cache entry.
    """
    return b"".join(entryChunks(entry))


def entryFromJSON(data: Union[bytes, str]) -> PageEntry:
    """
    Read back what L{entryToJSON} wrote.
    """
    text = data if isinstance(data, str) else data.decode("utf-8")
    # Each file is made as soon as it is decoded (see loadStreaming).
    raw = loadStreaming(text, ("content", "files"), lambda f: DistFile(**f))
    content = raw["content"]
    value: Any = None
    if content is not None and content["type"] == "project":
        files = content["files"]
        value = ProjectPage(
            name=content["name"],
            files=files if isinstance(files, Streamed) else [DistFile(**f) for f in files],
            versions=content["versions"],
            status=None if content["status"] is None else tuple(content["status"]),
        )
    elif content is not None:
        value = ProjectList(names=content["names"])
    fetchedAt = raw["fetchedAt"]
    if not isinstance(fetchedAt, (int, float)) or isinstance(fetchedAt, bool):
        raise TypeError(f"fetchedAt must be a number, not {fetchedAt!r}")
    return PageEntry(
        content=value,
        url=raw["url"],
        validators=Validators(raw["etag"], raw["lastModified"]),
        fetchedAt=float(fetchedAt),
    )


def atomicWrite(
    path: FilePath, data: Union[bytes, Iterable[bytes]], durable: bool = True
) -> None:
    """
    Replace C{path}'s content with C{data} (bytes, or pieces of bytes written
    one after the other) so that readers see the old or the new content,
    never a part.

    @param durable: sync the bytes before the rename, so that even after a
        power loss the file holds the old or the new content.  Caches that
        can fetch again (pages, rendered pages) skip it: a sync costs more
        than the fetch, and a file a crash left empty is read as missing.
    """
    path.parent().makedirs(ignoreExistingDirectory=True)
    tmp = path.temporarySibling(".tmp")
    try:
        with open(tmp.path, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                for piece in data:
                    f.write(piece)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp.path, path.path)
    except BaseException:
        if tmp.exists():
            tmp.remove()
        raise


@attrs.define
class PageStore:
    """
    The on-disk page cache under C{root} (C{<data-dir>/pages}).
    """

    root: FilePath

    def _path(self, sourceID: str, name: Optional[str]) -> FilePath:
        return self.root.child(sourceID).child((name or ROOT_NAME) + ".json")

    def load(self, sourceID: str, name: Optional[str]) -> Optional[PageEntry]:
        """
        The stored entry for a page (C{name=None}: the root list), if any.
        """
        path = self._path(sourceID, name)
        try:
            # As text at once: a big page's bytes need not stay while it is
            # parsed (json would decode them to text anyway).
            data = path.getContent().decode("utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warn("Cannot read cached page {path}: {error}", path=path.path, error=str(e))
            return None
        except UnicodeDecodeError:
            data = ""  # unreadable
        try:
            return entryFromJSON(data)
        except (ValueError, KeyError, TypeError):
            log.warn("Ignoring unreadable cached page {path}", path=path.path)
            return None

    def save(self, sourceID: str, name: Optional[str], entry: PageEntry) -> None:
        """
        Store an entry (atomically).
        """
        atomicWrite(self._path(sourceID, name), entryChunks(entry), durable=False)
