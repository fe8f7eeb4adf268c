# -*- test-case-name: tests.test_private -*-
"""
The private index: uploaded releases, their yanks and deletions.

Layout::

    <data-dir>/private/<normalized-name>.json   the project's record
    <data-dir>/private/.lock                    serializes read-modify-write
    <data-dir>/blobs/...                        the bytes, key = sha256, and
                                                the core metadata, key =
                                                <sha256>.metadata

Keeping the bytes in the blob store under their sha256 means the existing
C{/files/<name>/<sha256>/<filename>} resource serves uploads (and their
C{.metadata}) exactly as it serves cached upstream files.  Records are small
JSON files replaced atomically, and re-read when they change on disk, so
that the command-line tool and the server can both change them.  All the
I/O of the private index is in L{PrivateStore}; the rules are in
L{cheesecache.uploadcheck} and L{cheesecache.privaterecord}.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import attrs
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.filepath import FilePath

from .blobstore import BlobStore
from .multipart import Form
from .pagestore import atomicWrite, locked
from .privaterecord import (
    PrivateFile,
    ProjectRecord,
    formatUploadTime,
    recordFromJSON,
    recordToJSON,
    sameVersion,
)
from .simple.model import ProjectPage
from .simple.names import isSafeFilename, isValidName, normalize
from .uploadcheck import (
    Accepted,
    Decision,
    InvalidDistribution,
    UploadPolicy,
    checkArchive,
    checkUpload,
    coreMetadataOf,
    formProject,
    readCoreMetadata,
    sdistPkgInfo,
)

log = Logger()

_CHUNK = 64 * 1024

#: The coarsest modification time granularity allowed for (FAT's two
#: seconds; ext3 and HFS+ have one), in nanoseconds.
TIME_GRANULARITY_NS = 2_000_000_000


def settled(mtimeNs: int, readAtNs: int) -> bool:
    """
    Was a file (or folder) last modified at C{mtimeNs} long enough before
    it was read, at C{readAtNs}, that any later change must give it another
    modification time?  A change within the same tick of the file's clock
    keeps the time; and the inode freed by an atomic replace is often the
    next one's, so time, size and inode can all stay as they were.
    """
    return readAtNs - mtimeNs >= TIME_GRANULARITY_NS



class NoSuchProject(KeyError):
    """
    There is no private project of that name.
    """


class NoSuchFile(KeyError):
    """
    The project has no file of that name and no release of that version.
    """


class CorruptRecord(Exception):
    """
    A project record on disk cannot be read.  Nothing treats the project as
    absent then: that would let an upstream project of the same name show
    through, or let a deleted filename be used again.
    """


@attrs.frozen
class ImportReport:
    """
    What L{PrivateStore.importDirectory} did.

    @ivar imported: the filenames added.
    @ivar skipped: C{(path, reason)} for every file not added.
    """

    imported: Tuple[str, ...] = attrs.field(default=(), converter=tuple)
    skipped: Tuple[Tuple[str, str], ...] = attrs.field(default=(), converter=tuple)


def _hashFile(source: str, target: Optional[str] = None) -> Tuple[int, str, str, str]:
    """
    Size, md5, sha256 and blake2b-256 of C{source}, copying it to C{target}
    on the way when given.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    blake2 = hashlib.blake2b(digest_size=32)
    size = 0
    with open(source, "rb") as f, (
        open(target, "wb") if target else contextlib.nullcontext()
    ) as out:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            md5.update(chunk)
            sha256.update(chunk)
            blake2.update(chunk)
            if out is not None:
                out.write(chunk)
    return size, md5.hexdigest(), sha256.hexdigest(), blake2.hexdigest()


@attrs.define
class PrivateStore:
    """
    The private projects under C{<data-dir>/private}, their bytes in
    C{blobs}.

    @ivar clock: gives the upload time of new files.
    @ivar policy: the size limit and other acceptance rules.
    """

    dataDir: FilePath
    blobs: BlobStore
    clock: IReactorTime
    policy: UploadPolicy = attrs.field(factory=UploadPolicy)
    #: Per project: the record file's stamp, the record, and whether the
    #: stamp was L{settled} when read (a stamp that was not proves nothing).
    _cache: Dict[str, Tuple[Tuple[int, int, int], ProjectRecord, bool]] = attrs.field(
        factory=dict, init=False
    )
    _observers: List[Callable[[str], None]] = attrs.field(factory=list, init=False)

    @property
    def root(self) -> FilePath:
        return self.dataDir.child("private")

    def _path(self, normalized: str) -> FilePath:
        return self.root.child(normalized + ".json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """
        Hold the store's lock: one read-modify-write at a time, also across
        processes (the server and the command-line tool).
        """
        with locked(self.root.child(".lock")):
            yield

    def subscribe(self, observer: Callable[[str], None]) -> None:
        """
        Call C{observer(normalizedName)} after every change this store makes
        to a project (so rendered pages can be forgotten).
        """
        self._observers.append(observer)

    def _changed(self, normalized: str) -> None:
        for observer in list(self._observers):
            try:
                observer(normalized)
            except Exception:
                log.failure("Observer of private project {name} failed", name=normalized)

    def record(self, name: str) -> Optional[ProjectRecord]:
        """
        The record of project C{name} (any spelling), if it is private.

        @raise CorruptRecord: the record exists but cannot be read.
        """
        if not isValidName(name):
            return None
        normalized = normalize(name)
        path = self._path(normalized)
        readAt = time.time_ns()
        try:
            st = os.stat(path.path)
        except FileNotFoundError:
            self._cache.pop(normalized, None)
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._cache.get(normalized)
        if cached is not None and cached[0] == stamp and cached[2]:
            return cached[1]
        try:
            record = recordFromJSON(path.getContent())
        except FileNotFoundError:
            self._cache.pop(normalized, None)
            return None
        except (ValueError, OSError) as e:
            # Not readable at all (a file of root's, 0600) is as unreadable.
            log.error("Unreadable private record {path}: {e}", path=path.path, e=str(e))
            raise CorruptRecord(path.path) from e
        if cached is not None and cached[1] == record:
            # The same object while unchanged: callers compare by identity.
            record = cached[1]
        self._cache[normalized] = (stamp, record, settled(st.st_mtime_ns, readAt))
        return record

    def _save(self, record: ProjectRecord) -> None:
        normalized = record.normalizedName
        path = self._path(normalized)
        atomicWrite(path, recordToJSON(record))
        # The rename too must survive a crash: an upload answered with 200,
        # or a deletion whose blob is about to go, must not be undone.
        BlobStore.syncFolder(path)
        self._cache.pop(normalized, None)

    def projects(self) -> Tuple[str, ...]:
        """
        The names (as displayed) of every private project, sorted by their
        normalized names.  A project whose files were all deleted is still
        private: its name never falls through to an upstream.
        """
        if not self.root.isdir():
            return ()
        names = []
        for child in sorted(self.root.children(), key=lambda p: p.basename()):
            base = child.basename()
            if base.startswith(".") or not base.endswith(".json"):
                continue
            record = self.record(base[: -len(".json")])
            if record is not None:
                names.append(record.name)
        return tuple(names)

    def hasProject(self, name: str) -> bool:
        """
        Is C{name} a private project (and so never looked up upstream)?
        """
        return self.record(name) is not None

    def page(self, name: str) -> Optional[ProjectPage]:
        """
        The Simple page of private project C{name}, or C{None} if it is not
        private.  Files' C{url} is C{"private:" + filename}, never fetched:
        their bytes are the blobs named by their sha256.
        """
        record = self.record(name)
        return None if record is None else record.toPage()

    def add(
        self, form: Form, user: Optional[str] = None, action: Optional[str] = None
    ) -> Decision:
        """
        Validate an upload and, when it is accepted, keep it: the content's
        temporary file becomes its blob, the core metadata a blob of its own,
        and the record gains the file with its upload time.

        The caller still owns C{form}'s temporary files and must call
        C{form.discard()} afterwards (an accepted content file is no longer
        there by then).

        @param user: the authenticated user, recorded as the uploader.
        @param action: C{:action} from the query string, if any.
        @return: the decision; only an L{Accepted} one changed anything.
        """
        decision = self.decide(form, user, action)
        self.announce(decision)
        return decision

    def decide(
        self, form: Form, user: Optional[str] = None, action: Optional[str] = None
    ) -> Decision:
        """
        The blocking part of L{add} (the store's lock, reading the record,
        checking the upload, writing and syncing the blobs and the record),
        for a thread; L{announce} then tells the observers, on the reactor.
        """
        formName = formProject(form)
        with self._locked():
            record = self.record(formName) if isValidName(formName) else None
            decision = checkUpload(form, record, self.policy, user, action)
            if isinstance(decision, Accepted):
                self._keep(decision, record, user)
        return decision

    def announce(self, decision: Decision) -> None:
        """
        Tell the observers about the project an accepted upload changed.
        """
        if isinstance(decision, Accepted):
            self.announceChange(decision.name)

    def _keep(
        self, accepted: Accepted, record: Optional[ProjectRecord], user: Optional[str]
    ) -> None:
        content = accepted.content
        assert content.path is not None and isSafeFilename(content.filename)
        if not self.blobs.exists(content.sha256):
            with open(content.path.path, "rb") as f:
                self.blobs.commit(content.path, f, content.sha256)
        metadataSha256 = None
        if accepted.coreMetadata is not None:
            metadataSha256 = hashlib.sha256(accepted.coreMetadata).hexdigest()
            key = content.sha256 + ".metadata"
            if not self.blobs.exists(key):
                self.blobs.putBytes(key, accepted.coreMetadata)
        new = PrivateFile(
            filename=content.filename,
            version=accepted.version,
            filetype=accepted.filetype,
            size=content.size,
            sha256=content.sha256,
            md5=content.md5,
            blake2_256=content.blake2_256,
            uploadTime=formatUploadTime(self.clock.seconds()),
            requiresPython=accepted.requiresPython,
            metadataSha256=metadataSha256,
            uploader=user,
            pyversion=accepted.pyversion,
            metadata=accepted.metadata,
        )
        if record is None:
            record = ProjectRecord(name=accepted.name)
        self._save(record.withFile(new, name=accepted.name))
        log.info(
            "{user} uploaded {filename} ({size} bytes, sha256 {sha256})",
            user=user,
            filename=new.filename,
            size=new.size,
            sha256=new.sha256,
        )

    def _target(self, record: ProjectRecord, target: str) -> Tuple[PrivateFile, ...]:
        f = record.fileNamed(target)
        if f is not None:
            return (f,)
        files = record.filesOf(target)
        if not files:
            raise NoSuchFile(target)
        return files

    def _modify(
        self,
        name: str,
        target: str,
        change: Callable[[ProjectRecord, Tuple[PrivateFile, ...]], ProjectRecord],
        announce: bool = True,
    ) -> Tuple[str, ...]:
        with self._locked():
            record = self.record(name)
            if record is None:
                raise NoSuchProject(name)
            files = self._target(record, target)
            updated = change(record, files)
            if updated != record:
                self._save(updated)
        if updated != record and announce:
            self._changed(record.normalizedName)
        return tuple(f.filename for f in files)

    def announceChange(self, name: str) -> None:
        """
        Tell the observers that project C{name} changed: for a change made
        with C{announce=False} in a thread, told on the reactor.
        """
        self._changed(normalize(name))

    def yank(
        self, name: str, target: str, reason: Optional[str] = None, announce: bool = True
    ) -> Tuple[str, ...]:
        """
        Yank (PEP 592) the file called C{target}, or every file of release
        C{target}.  Installers then skip them unless pinned exactly.

        @param reason: shown by installers; C{None} or empty for none.
        @param announce: tell the observers at once; with C{False} (in a
            thread) the caller does, with L{announceChange}.  The same holds
            for L{unyank} and L{delete}.
        @return: the filenames yanked.
        @raise NoSuchProject: C{name} is not private.
        @raise NoSuchFile: C{target} is neither a filename nor a version of it.
        """
        value = reason if reason else True
        return self._modify(
            name,
            target,
            lambda record, files: record.replacing(
                attrs.evolve(f, yanked=value) for f in files
            ),
            announce,
        )

    def unyank(self, name: str, target: str, announce: bool = True) -> Tuple[str, ...]:
        """
        Undo L{yank} for the file or release C{target}.
        """
        return self._modify(
            name,
            target,
            lambda record, files: record.replacing(
                attrs.evolve(f, yanked=False) for f in files
            ),
            announce,
        )

    def delete(self, name: str, target: str, announce: bool = True) -> Tuple[str, ...]:
        """
        Delete the file called C{target}, or every file of release C{target}.
        The filenames can never be uploaded again; the bytes are removed from
        the blob store unless another private file has the same bytes.

        @return: the filenames deleted.
        """
        removed: List[PrivateFile] = []

        def change(
            record: ProjectRecord, files: Tuple[PrivateFile, ...]
        ) -> ProjectRecord:
            removed.extend(files)
            return record.without(f.filename for f in files)

        deleted = self._modify(name, target, change, announce)
        with self._locked():
            for f in removed:
                try:
                    referenced = self._referenced(f.sha256)
                except CorruptRecord as e:
                    # The delete is done; whether the unreadable project
                    # has these bytes too nobody can tell: they stay (as
                    # eviction leaves every blob then).
                    log.error(
                        "Keeping the bytes of deleted {filename}: {error}",
                        filename=f.filename, error=f"unreadable record {e}",
                    )
                    referenced = True
                if not referenced:
                    for key in (f.sha256, f.sha256 + ".metadata"):
                        path = self.blobs.path(key)
                        if path.exists():
                            path.remove()
        log.info("Deleted {filenames} of {name}", filenames=deleted, name=name)
        return deleted

    def _referenced(self, sha256: str) -> bool:
        """
        Does any private file have these bytes?
        """
        for projectName in self.projects():
            record = self.record(projectName)
            if record is not None and any(f.sha256 == sha256 for f in record.files):
                return True
        return False

    def importDirectory(
        self, directory: FilePath, uploader: Optional[str] = None
    ) -> ImportReport:
        """
        Add every distribution under C{directory} (a pypiserver package
        directory: flat, or one folder per project, or deeper) to the private
        index.  The source files are copied, not moved; the upload time is
        each file's modification time.  Files already imported with the same
        bytes are skipped, so an import can be re-run.
        """
        imported: List[str] = []
        skipped: List[Tuple[str, str]] = []
        for path in sorted(_filesUnder(directory), key=lambda p: p.path):
            rel = "/".join(path.segmentsFrom(directory))
            try:
                self._importOne(path, uploader)
            except _Skip as e:
                skipped.append((rel, str(e)))
            else:
                imported.append(path.basename())
        for rel, reason in skipped:
            log.info("Not imported: {path}: {reason}", path=rel, reason=reason)
        return ImportReport(imported=imported, skipped=skipped)

    def _importOne(self, path: FilePath, uploader: Optional[str]) -> None:
        filename = path.basename()
        if not isSafeFilename(filename):
            raise _Skip("unsafe filename")
        try:
            if filename.endswith(".whl"):
                name, version, _, tags = parse_wheel_filename(filename)
                filetype = "bdist_wheel"
                pyversion = ".".join(sorted({t.interpreter for t in tags}))
            elif filename.endswith((".tar.gz", ".zip")):
                name, version = parse_sdist_filename(filename)
                filetype, pyversion = "sdist", "source"
            else:
                raise _Skip("not a wheel or sdist (.whl, .tar.gz, .zip)")
        except (InvalidWheelFilename, InvalidSdistFilename) as e:
            raise _Skip(f"not a distribution filename: {e}")
        try:
            # Not left to the archive checks: they would wait for ever on a
            # named pipe, and call what they cannot read a broken archive.
            if not stat.S_ISREG(os.stat(path.path).st_mode):
                raise _Skip("not a regular file")
            with open(path.path, "rb"):
                pass
        except OSError as e:
            raise _Skip(f"cannot be read: {e.strerror}")
        try:
            checkArchive(path.path, filename)
            coreMetadata = coreMetadataOf(path.path, filename)
            pkgInfo = (
                coreMetadata
                if coreMetadata is not None
                else sdistPkgInfo(path.path, filename)
            )
        except InvalidDistribution as e:
            raise _Skip(e.message)
        core = readCoreMetadata(pkgInfo)
        if filetype == "sdist" and core.name is not None and canonicalize_name(core.name) != name:
            # An old sdist with a hyphen in its version ("foo-1.0-1.tar.gz"
            # for 1.0.post1) splits wrongly at its last hyphen.
            name, version = _splitSdistFilename(filename, core.name) or (name, version)
        if core.name is not None and canonicalize_name(core.name) != name:
            raise _Skip(f"its metadata is for project {core.name!r}")
        if core.version is not None and not sameVersion(core.version, str(version)):
            # As an upload would be refused: installers that chose it for
            # its filename's version refuse it as inconsistent.
            raise _Skip(f"its metadata is for version {core.version!r}, not {str(version)!r}")
        displayName = core.name or name
        if not isValidName(displayName):
            # Its record could never be looked up: never served, and its
            # blob never protected from eviction.
            raise _Skip(f"{displayName!r} is not a valid project name")

        temporary, f = self.blobs.newTemporary()
        f.close()
        try:
            size, md5, sha256, blake2 = _hashFile(path.path, temporary.path)
            with self._locked():
                record = self.record(name)
                if record is not None:
                    existing = record.fileNamed(filename)
                    if existing is not None:
                        if existing.sha256 == sha256:
                            raise _Skip("already imported")
                        raise _Skip(
                            f"File already exists ({filename!r}, with "
                            f"blake2_256 hash {blake2!r})."
                        )
                    if filename in record.deleted:
                        raise _Skip("this filename was deleted and cannot be reused")
                if not self.blobs.exists(sha256):
                    with open(temporary.path, "rb") as out:
                        self.blobs.commit(temporary, out, sha256)
                metadataSha256 = None
                if coreMetadata is not None:
                    metadataSha256 = hashlib.sha256(coreMetadata).hexdigest()
                    if not self.blobs.exists(sha256 + ".metadata"):
                        self.blobs.putBytes(sha256 + ".metadata", coreMetadata)
                new = PrivateFile(
                    filename=filename,
                    version=str(version),
                    filetype=filetype,
                    size=size,
                    sha256=sha256,
                    md5=md5,
                    blake2_256=blake2,
                    uploadTime=formatUploadTime(path.getModificationTime()),
                    requiresPython=core.requiresPython,
                    metadataSha256=metadataSha256,
                    uploader=uploader,
                    pyversion=pyversion,
                )
                if record is None:
                    record = ProjectRecord(name=displayName)
                self._save(record.withFile(new))
        finally:
            if temporary.exists():
                temporary.remove()
        self._changed(name)


def _filesUnder(directory: FilePath) -> Iterator[FilePath]:
    """
    The files under C{directory} at any depth, but none in a hidden folder
    nor hidden themselves.  A linked folder is walked as if it were there,
    unless the folder it leads to was walked already (C{latest -> .}, a
    loop): its files are not taken twice, nor without end.
    """
    walked = set()

    def walk(folder: FilePath) -> Iterator[FilePath]:
        real = os.path.realpath(folder.path)
        if real in walked:
            return
        walked.add(real)
        for child in sorted(folder.children(), key=lambda p: p.path):
            if child.basename().startswith("."):
                continue
            if child.isdir():
                yield from walk(child)
            else:
                yield child

    return walk(directory)


def _splitSdistFilename(
    filename: str, project: str
) -> Optional[Tuple[NormalizedName, Version]]:
    """
    The normalized name and the version of sdist C{filename}, split after
    the part that names C{project} (its metadata's name), if the rest is a
    version.
    """
    wanted = canonicalize_name(project)
    parts = filename.removesuffix(".tar.gz").removesuffix(".zip").split("-")
    for i in range(1, len(parts)):
        if canonicalize_name("-".join(parts[:i])) == wanted:
            try:
                return wanted, Version("-".join(parts[i:]))
            except InvalidVersion:
                return None
    return None


class _Skip(Exception):
    """
    A file in an imported directory is not imported, for the reason given.
    """
