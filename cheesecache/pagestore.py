# -*- test-case-name: tests.test_pagestore -*-
"""
Cached upstream pages on disk, so that a restart (or an upstream outage after
a restart) still serves what was seen before.

Layout: C{<data-dir>/pages/<source-id>/<name>.page}, one file per page: a
first line of JSON (where the page came from, its validators, when it was
fetched, its content type, its length), then the page's bytes as the
upstream sent them.  Keeping those is nearly free (re-encoding a parsed
page of thousands of files took as long as rendering it), a revalidated
page only gets a new first line, and reading one back is parsing it as if
fetched again.

Pages known only parsed (a "not found", a page stored by an older
cheesecache) are kept as C{<name>.json}: the parsed page as JSON (see
L{entryChunks}).  Writes are atomic (temporary file, rename).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, Optional, Union

import attrs
from twisted.logger import Logger
from twisted.python.filepath import FilePath

from .blobstore import BlobStore
from .freshness import PageEntry, Validators
from .simple.model import DistFile, ProjectList, ProjectPage
from .simple.parse import (
    Streamed,
    findFileJSON,
    isJSONType,
    loadStreaming,
    pageText,
    parseList,
    parseProject,
)

try:
    import fcntl
except ImportError:  # pragma: no cover (not on Windows)
    fcntl = None  # type: ignore[assignment]

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
    return PageEntry(
        content=value,
        url=raw["url"],
        validators=Validators(raw["etag"], raw["lastModified"]),
        fetchedAt=_fetchedAt(raw),
    )


def atomicWrite(
    path: FilePath,
    data: Union[bytes, Iterable[bytes]],
    durable: bool = True,
    mode: int = 0o666,
    keepOwner: bool = False,
) -> None:
    """
    Replace C{path}'s content with C{data} (bytes, or pieces of bytes written
    one after the other) so that readers see the old or the new content,
    never a part.

    @param durable: sync the bytes before the rename, and the folder after
        it, so that even after a power loss the file holds the old or the
        new content, and the new once this returns (an upload's record, a
        user, a token: what a client was told is stored).  Caches that can
        fetch again (pages, rendered pages) skip it: a sync costs more than
        the fetch, and a file a crash left empty is read as missing.
    @param mode: the new file's permissions (less the umask), set when it
        is created: a secret given 0600 only after the rename would be
        readable by others for a moment.
    @param keepOwner: give the new file the owner and group of the one it
        replaces, as far as this process may: a file of the server's user
        rewritten by root (C{sudo cheesecache adduser}) must stay readable
        by the server.
    """
    tmp = _writeBeside(path, data, durable, mode, keepOwner)
    try:
        os.replace(tmp.path, path.path)
    except BaseException:
        _removeIfThere(tmp)
        raise
    if durable:
        try:
            BlobStore.syncFolder(path)
        except OSError as e:
            # Written and in place all the same: only a crash could undo it.
            log.warn("Could not sync the folder of {path}: {error}", path=path.path, error=str(e))


@contextlib.contextmanager
def locked(lockPath: FilePath, mode: int = 0o666) -> Iterator[None]:
    """
    Hold an exclusive lock on the file C{lockPath} (made with C{mode}, less
    the umask, if need be), also across processes: the server and the
    command-line tool, or two command-line tools at once.
    """
    lockPath.parent().makedirs(ignoreExistingDirectory=True)
    fd = os.open(lockPath.path, os.O_RDWR | os.O_CREAT, mode)
    with open(fd, "r+b") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        # Closing the file releases the lock.
        yield


def lockedBeside(path: FilePath) -> "contextlib.AbstractContextManager[None]":
    """
    Hold an exclusive lock on C{<path>.lock}, beside C{path}, for one
    read-modify-write of C{path} at a time (see L{locked}).  L{atomicWrite}
    alone does not give it: two writers that read the same old content
    each replace the file with their own change, and one change is lost.
    """
    return locked(path.siblingExtension(".lock"), 0o600)


def _takeOwner(fd: int, path: FilePath) -> None:
    """
    Give the file open as C{fd} the owner and group of C{path}, if it is
    there, as far as this process may (root any; others only a group they
    are in, and their own user).
    """
    try:
        old = os.stat(path.path)
    except FileNotFoundError:
        return
    for uid in (old.st_uid, -1):
        try:
            os.fchown(fd, uid, old.st_gid)
            return
        except PermissionError:
            continue


def _writeBeside(
    path: FilePath,
    data: Union[bytes, Iterable[bytes]],
    durable: bool = False,
    mode: int = 0o666,
    keepOwner: bool = False,
) -> FilePath:
    """
    Write C{data} to a new temporary file beside C{path} (removed again if
    writing fails), for the caller to rename into place.
    """
    path.parent().makedirs(ignoreExistingDirectory=True)
    tmp = path.temporarySibling(".tmp")
    try:
        fd = os.open(tmp.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        if keepOwner:
            _takeOwner(fd, path)
        with open(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                for piece in data:
                    f.write(piece)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        _removeIfThere(tmp)
        raise
    return tmp


#: The largest stored "not found" answer read by L{PageStore.trimNotFound}:
#: its URL and validators, with room for a long URL.
NOT_FOUND_MAX_SIZE = 16 * 1024


#: The version in the first line of a page kept as fetched.
AS_FETCHED = 2


def entryFromFetched(page: BinaryIO, name: Optional[str]) -> PageEntry:
    """
    Read back a page kept as fetched, from its open file: the first line,
    then the bytes, parsed as they were when fetched (and let go once
    decoded, before the parsing).
    """
    stored = StoredFetch.read(page)
    url, contentType = stored.url, stored.contentType
    validators, fetchedAt = stored.validators, stored.fetchedAt
    text = pageText(stored.body, contentType)
    del stored
    content = (
        parseList(text, contentType) if name is None
        else parseProject(text, contentType, url, name)
    )
    return PageEntry(content=content, url=url, validators=validators, fetchedAt=fetchedAt)


class FileNotListed(LookupError):
    """
    A stored page was read, and does not list the file asked for.
    """


def readRest(f: BinaryIO) -> bytes:
    """
    What is left to read of C{f}, in one read when its size is known: a
    buffered file read to its end without a size grows its result piece by
    piece, which took 1.9 ms for a 1.5 MB page (0.08 ms so), and a cold
    file of a big page is looked up on its stored page at each request.
    """
    try:
        size = os.fstat(f.fileno()).st_size - f.tell()
    except (OSError, ValueError, AttributeError):
        return f.read()
    data = f.read(size) if size > 0 else b""
    # Stored pages are replaced, never written in place; this is in case.
    return data + f.read() if len(data) == size else data


def _fetchedMeta(page: BinaryIO) -> Dict[str, Any]:
    """
    The first line of a page kept as fetched, read from its open file.

    @raise ValueError: it is not one.
    """
    meta = json.loads(page.readline())
    if not isinstance(meta, dict) or meta.get("version") != AS_FETCHED:
        raise ValueError("not a page kept as fetched")
    return meta


def _fetchedAt(meta: Dict[str, Any]) -> float:
    fetchedAt = meta["fetchedAt"]
    if not isinstance(fetchedAt, (int, float)) or isinstance(fetchedAt, bool):
        raise TypeError(f"fetchedAt must be a number, not {fetchedAt!r}")
    return float(fetchedAt)


def _fetchedHeader(
    url: str, validators: Validators, fetchedAt: float, contentType: str,
    length: Optional[int],
) -> bytes:
    """
    The first line of a page kept as fetched, whose bytes are C{length}
    long (C{None}: not said, as by an older cheesecache).
    """
    meta: Dict[str, Any] = {
        "version": AS_FETCHED,
        "url": url,
        "etag": validators.etag,
        "lastModified": validators.lastModified,
        "fetchedAt": fetchedAt,
        "contentType": contentType,
    }
    if length is not None:
        meta["length"] = length
    return _dumps(meta).encode("utf-8") + b"\n"


def _checkedLength(meta: Dict[str, Any], body: bytes) -> None:
    """
    Check that C{body} is as long as the first line C{meta} says.  Pages
    are written without a sync: a crash can leave one cut short, and an
    HTML page cut short parses as a page that lists fewer files.

    @raise ValueError: it is not.
    """
    length = meta.get("length")
    if length is None:
        return  # Kept by an older cheesecache, which did not say.
    if not isinstance(length, int) or isinstance(length, bool):
        raise ValueError(f"length must be an integer, not {length!r}")
    if len(body) != length:
        raise ValueError(f"{len(body)} bytes stored of {length}: cut short")


@attrs.frozen
class StoredFetch:
    """
    A page kept as fetched, read back: its bytes, and what came with them.
    """

    body: bytes
    contentType: str
    url: str
    validators: Validators
    fetchedAt: float

    @classmethod
    def read(cls, page: BinaryIO) -> "StoredFetch":
        """
        Read it from its open file: the first line, then the bytes.

        @raise ValueError: it is not a page kept as fetched, or its bytes
            were cut short (or C{KeyError}, C{TypeError}: its first line
            is incomplete).
        """
        meta = _fetchedMeta(page)
        body = readRest(page)
        _checkedLength(meta, body)
        return cls(
            body=body,
            contentType=meta["contentType"],
            url=meta["url"],
            validators=Validators(meta["etag"], meta["lastModified"]),
            fetchedAt=_fetchedAt(meta),
        )


@attrs.define
class PendingPage:
    """
    A fetched page written beside the one it replaces, to be put in its
    place (L{commit}) once it parsed, or thrown away (L{abandon}): a page
    that does not parse never replaces one that did.
    """

    _written: FilePath
    _path: FilePath
    _parsedCopy: FilePath

    def commit(self) -> None:
        """
        Put the page in place.  If it cannot be, the page stored before is
        removed: it is not the page served now, and must not be read back,
        nor confirmed by a 304, as it.
        """
        try:
            os.replace(self._written.path, self._path.path)
        except BaseException:
            self.abandon()
            _removeIfThere(self._path)
            _removeIfThere(self._parsedCopy)
            raise
        _removeIfThere(self._parsedCopy)

    def abandon(self) -> None:
        _removeIfThere(self._written)


def _removeIfThere(path: FilePath) -> None:
    try:
        os.unlink(path.path)
    except FileNotFoundError:
        pass


def _readEntry(path: FilePath, read: Callable[[BinaryIO], PageEntry]) -> Optional[PageEntry]:
    """
    C{read} the entry stored at C{path}: C{None}, with a warning, when it
    cannot be read or makes no sense.

    @raise FileNotFoundError: there is no such file.
    """
    try:
        with open(path.path, "rb") as f:
            return read(f)
    except FileNotFoundError:
        raise
    except OSError as e:
        log.warn("Cannot read cached page {path}: {error}", path=path.path, error=str(e))
    except (ValueError, KeyError, TypeError):
        log.warn("Ignoring unreadable cached page {path}", path=path.path)
    return None


@attrs.define
class PageStore:
    """
    The on-disk page cache under C{root} (C{<data-dir>/pages}).
    """

    root: FilePath

    def _path(self, sourceID: str, name: Optional[str], suffix: str = ".json") -> FilePath:
        return self.root.child(sourceID).child((name or ROOT_NAME) + suffix)

    def load(self, sourceID: str, name: Optional[str]) -> Optional[PageEntry]:
        """
        The stored entry for a page (C{name=None}: the root list), if any.
        """
        try:
            return _readEntry(
                self._path(sourceID, name, ".page"), lambda f: entryFromFetched(f, name)
            )
        except FileNotFoundError:
            pass
        try:
            # As text at once: a big page's bytes need not stay while it is
            # parsed (json would decode them to text anyway).
            return _readEntry(
                self._path(sourceID, name), lambda f: entryFromJSON(readRest(f).decode("utf-8"))
            )
        except FileNotFoundError:
            return None

    def save(self, sourceID: str, name: Optional[str], entry: PageEntry) -> None:
        """
        Store an entry in its parsed form (atomically), in place of any
        page kept as fetched.  A page whose content is gone (let go from
        memory, and not on disk to be read back) is not: it would be read
        back as "not found".
        """
        if entry.found and entry.content is None:
            return
        atomicWrite(self._path(sourceID, name), entryChunks(entry), durable=False)
        _removeIfThere(self._path(sourceID, name, ".page"))

    def trimNotFound(self, sourceID: str, keep: int) -> int:
        """
        Remove the stored "not found" answers of C{sourceID} but the C{keep}
        most recently stored.  The server holds no more of them than its
        budget, in memory and on disk, but only those it has in memory are
        ever removed: those an earlier run left (every unknown name ever
        asked for, before cheesecache let them go at all) would otherwise
        stay for good, never evicted.  Blocking.

        @return: how many were removed.
        """
        try:
            entries = os.scandir(self.root.child(sourceID).path)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        notFound = []
        with entries:
            for entry in entries:
                if not entry.name.endswith(".json"):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                    # A "not found" is its first fields alone; a found page
                    # in parsed form (an older cheesecache's) is not read.
                    if st.st_size > NOT_FOUND_MAX_SIZE:
                        continue
                    with open(entry.path, "rb") as f:
                        raw = json.loads(f.read())
                except (OSError, ValueError):
                    continue
                if isinstance(raw, dict) and "content" in raw and raw["content"] is None:
                    notFound.append((st.st_mtime, entry.path))
        notFound.sort(reverse=True)
        removed = 0
        for _, path in notFound[max(keep, 0):]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            removed += 1
        return removed

    def remove(self, sourceID: str, name: Optional[str]) -> None:
        """
        Remove the stored page of C{name}, if any.
        """
        _removeIfThere(self._path(sourceID, name, ".page"))
        _removeIfThere(self._path(sourceID, name))

    def keepFetched(
        self,
        sourceID: str,
        name: Optional[str],
        url: str,
        validators: Validators,
        fetchedAt: float,
        contentType: str,
        body: bytes,
    ) -> PendingPage:
        """
        Write a page's bytes as fetched, to be put in place once they parse.
        """
        path = self._path(sourceID, name, ".page")
        written = _writeBeside(
            path, (_fetchedHeader(url, validators, fetchedAt, contentType, len(body)), body)
        )
        return PendingPage(written, path, self._path(sourceID, name))

    def findFile(
        self, sourceID: str, name: str, key: str, filename: str
    ) -> Optional[DistFile]:
        """
        The file C{filename} under C{key} from the stored page of C{name},
        read without making the page's other files; C{None} when the page
        is not kept as fetched JSON (it must then be read whole).

        @raise FileNotListed: the page was read and does not list the file.
        """
        stored = self._fetchedJSON(sourceID, name)
        if stored is None:
            return None
        try:
            found = findFileJSON(stored.body, stored.url, key, filename)
        except ValueError:
            return None
        if found is None:
            raise FileNotListed(f"{name}/{filename}")
        return found

    def readFetched(
        self, sourceID: str, name: Optional[str], atLeast: int = 0
    ) -> Optional["StoredFetch"]:
        """
        The page of C{name} as it was fetched, unparsed, if it is kept so
        and its file holds at least C{atLeast} bytes; C{None} otherwise, or
        when it cannot be read (L{load} then tells why).  For a big page
        to be parsed in steps, as when it was fetched.
        """
        path = self._path(sourceID, name, ".page")
        try:
            with open(path.path, "rb") as page:
                if os.fstat(page.fileno()).st_size < atLeast:
                    return None
                return StoredFetch.read(page)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _fetchedJSON(self, sourceID: str, name: str) -> Optional["StoredFetch"]:
        """
        The stored page of C{name}, if it is kept as fetched JSON.
        """
        stored = self.readFetched(sourceID, name)
        if stored is None or not isJSONType(stored.contentType):
            return None
        return stored

    def confirm(self, sourceID: str, name: Optional[str], entry: PageEntry) -> None:
        """
        Store C{entry}, the page stored before and now confirmed unchanged
        (a 304): a page kept as fetched gets a new first line and keeps its
        bytes, without parsing them again.
        """
        path = self._path(sourceID, name, ".page")
        try:
            old = open(path.path, "rb")
        except FileNotFoundError:
            self.save(sourceID, name, entry)
            return
        with old:
            try:
                meta = _fetchedMeta(old)
                contentType = meta["contentType"]
            except (ValueError, KeyError, TypeError):
                old.close()
                self.save(sourceID, name, entry)
                return
            # The length said, not counted: bytes cut short stay so.
            header = _fetchedHeader(
                entry.url, entry.validators, entry.fetchedAt, contentType, meta.get("length")
            )

            def pieces() -> Iterator[bytes]:
                yield header
                yield from iter(lambda: old.read(1024 * 1024), b"")

            atomicWrite(path, pieces(), durable=False)
