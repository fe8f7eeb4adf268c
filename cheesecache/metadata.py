# -*- test-case-name: tests.test_metadata -*-
"""
Core metadata files (PEP 658): fetched from the upstream when it has them,
extracted from the cached wheel when it does not.

Either way the bytes are verified (against the hash the index advertises)
or derived from a verified wheel before they are kept as the blob
C{<file key>.metadata}.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Set, Union

import attrs
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath

from .blobstore import BlobStore, readUnused
from .coalesce import Coalescer
from .simple.model import DistFile, ProjectPage, checkedHash
from .upstream import (
    IDLE_TIMEOUT,
    Upstream,
    UpstreamError,
    connectionBroke,
    describeError,
    readBody,
    retryAfterOf,
    statusError,
    tryAgain,
)

log = Logger()

#: Metadata files are small; anything bigger than this is not one.
MAX_METADATA_SIZE = 16 * 1024 * 1024


#: Core metadata as L{MetadataService} gives it: its blob, or its verified
#: bytes themselves when they could not be kept (a full disk).
Metadata = Union[FilePath, bytes]


class NoMetadata(Exception):
    """
    There is no core metadata to serve for this file.
    """


def wheelMetadata(wheel: Union[str, IO[bytes]], limit: int = MAX_METADATA_SIZE) -> bytes:
    """
    The METADATA file of C{wheel} (a path, or a file open for reading
    bytes), byte for byte.

    @raise NoMetadata: the wheel has no single C{*.dist-info/METADATA}, or
        it unpacks to more than C{limit} bytes (a wheel of kilobytes can
        hold one of gigabytes: it is never read whole).
    """
    try:
        with zipfile.ZipFile(wheel) as z:
            names = [
                n
                for n in z.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise NoMetadata(f"{len(names)} METADATA files in the wheel")
            with z.open(names[0]) as member:
                data = member.read(limit + 1)
    except (
        zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError,
        # What zipfile raises for an encrypted member, or a compression
        # it does not know.
        RuntimeError, NotImplementedError,
    ) as e:
        raise NoMetadata(str(e)) from e
    if len(data) > limit:
        raise NoMetadata(f"its METADATA is over {limit} bytes")
    return data


def metadataKey(f: DistFile) -> str:
    return f.key + ".metadata"


def listedMismatch(f: DistFile, data: bytes) -> Optional[str]:
    """
    How C{data} differs from the core metadata C{f}'s page lists (its
    digest, in the strongest hash the page gives), or C{None} when it does
    not, or the page lists no hash to check it against.
    """
    if not f.coreMetadata or f.coreMetadata is True:
        return None
    checked = checkedHash(f.coreMetadata)
    if checked is None:
        return None
    algorithm, expected = checked
    digest = hashlib.new(algorithm, data).hexdigest()
    if digest != expected:
        return f"{algorithm} {digest} does not match the index's {expected}"
    return None


@attrs.define
class KnownMetadata:
    """
    The sha256 of every core-metadata blob in the store, in memory.

    Pages advertise the metadata cheesecache extracted itself; looking for
    it on disk meant a failed C{open} for every wheel of a page, thousands
    on the biggest ones, each time a page was rendered.  This is filled by
    a scan of the store at start-up (L{scan}, in a thread), then by every
    metadata blob kept, and emptied by eviction.  Until the scan is in it
    asks the disk.
    """

    store: BlobStore
    _digests: Dict[str, str] = attrs.field(factory=dict)
    complete: bool = False
    #: Keys discarded (evicted) before the scan was in: the scan may have
    #: read them before they went.
    _discarded: Set[str] = attrs.field(factory=set)

    def extracted(self, fileKey: str) -> bool:
        """
        Did cheesecache extract the metadata of the wheel under C{fileKey}
        (so that L{fileWithKnownMetadata} advertises it)?
        """
        return self.digest(fileKey + ".metadata") is not None

    def digest(self, key: str) -> Optional[str]:
        """
        The sha256 of the metadata blob C{key}, or C{None} if there is none.
        """
        found = self._digests.get(key)
        if found is not None or self.complete:
            return found
        try:
            with open(self.store.location(key), "rb") as blob:
                found = self._digests[key] = hashlib.sha256(blob.read()).hexdigest()
        except FileNotFoundError:
            pass
        return found

    def add(self, key: str, data: bytes) -> None:
        self._digests[key] = hashlib.sha256(data).hexdigest()

    def discard(self, key: str) -> None:
        self._digests.pop(key, None)
        if not self.complete:
            self._discarded.add(key)

    def scan(self) -> Dict[str, str]:
        """
        Read the digest of every metadata blob (blocking: run it in a thread
        and give the result to L{scanned}).
        """
        found: Dict[str, str] = {}
        for folder, _, names in os.walk(self.store.blobs.path):
            for name in names:
                if name.endswith(".metadata"):
                    try:
                        # Not a use of it, for eviction.
                        data = readUnused(os.path.join(folder, name))
                        found[name] = hashlib.sha256(data).hexdigest()
                    except OSError:
                        pass
        return found

    def scanned(self, found: Dict[str, str]) -> None:
        for key, digest in found.items():
            if key not in self._discarded:
                self._digests.setdefault(key, digest)
        self._discarded.clear()
        self.complete = True


def scanMetadata(
    known: KnownMetadata, blocking: Callable[..., "Deferred[object]"]
) -> "Deferred[None]":
    """
    Fill C{known} from the store, with C{blocking} running the scan off the
    reactor thread.
    """
    d = blocking(known.scan)
    d.addCallback(known.scanned)
    d.addErrback(
        lambda failure: log.failure(
            "Could not scan the store for metadata; looking on disk instead", failure
        )
    )
    return d


def withKnownMetadata(page: ProjectPage, known: KnownMetadata) -> ProjectPage:
    """
    C{page}, with core metadata advertised for wheels whose metadata
    cheesecache has extracted itself.
    """
    files = [fileWithKnownMetadata(f, known) for f in page.files]
    changed = any(new is not old for new, old in zip(files, page.files))
    return attrs.evolve(page, files=files) if changed else page


def fileWithKnownMetadata(f: DistFile, known: KnownMetadata) -> DistFile:
    """
    C{f}, with core metadata advertised if it is a wheel whose metadata
    cheesecache has extracted itself (see L{withKnownMetadata}).
    """
    if not f.coreMetadata and f.filename.endswith(".whl"):
        digest = known.digest(f.key + ".metadata")
        if digest is not None:
            return attrs.evolve(f, coreMetadata={"sha256": digest})
    return f


@attrs.define
class MetadataService:
    """
    Gets the core metadata blob of a listed file.
    """

    store: BlobStore
    clock: IReactorTime
    idleTimeout: float = IDLE_TIMEOUT
    #: Seconds to wait before each new try at metadata whose connection
    #: broke (or stalled) before it was whole.
    retryDelays: Sequence[float] = (0.25, 1.0)
    #: Runs a blocking call (reading a wheel, writing and syncing a blob)
    #: in a thread, giving a L{Deferred} of its result; without it, calls
    #: run at once.
    blocking: Optional[Callable[..., "Deferred[Any]"]] = None
    _coalescer: Coalescer[Metadata] = attrs.field(factory=Coalescer)
    known: KnownMetadata = attrs.field(
        default=attrs.Factory(lambda self: KnownMetadata(self.store), takes_self=True)
    )
    #: Fetched and verified metadata on its way to the store, by key:
    #: served from memory until it is kept (see L{_keepBehind}).
    _keeping: Dict[str, bytes] = attrs.field(factory=dict)
    _whenKept: List["Deferred[None]"] = attrs.field(factory=list)

    def _inThread(self, f: Callable[..., Any], *args: Any) -> "Deferred[Any]":
        if self.blocking is None:
            return maybeDeferred(f, *args)
        return self.blocking(f, *args)

    def _keep(self, key: str, data: bytes) -> "Deferred[Metadata]":
        # Written and synced off the reactor: two fsyncs per wheel stalled
        # every client.
        def kept(path: FilePath) -> FilePath:
            self.known.add(key, data)
            return path

        def notKept(failure: Failure) -> bytes:
            # The bytes are verified: the client that asked gets them all
            # the same, and the next one tries to keep them again.
            failure.trap(OSError)
            log.error(
                "Could not keep the metadata {key}: {error}",
                key=key, error=str(failure.value),
            )
            return data

        return self._inThread(self.store.putBytes, key, data).addCallbacks(kept, notKept)

    def _keepBehind(self, key: str, data: bytes) -> bytes:
        """
        Keep C{data}, fetched and verified, and give it at once: the client
        that asked does not wait for its write and two syncs.  A cold
        install asks for each release's metadata in turn, level after level
        of its dependencies, and each answer waited for them (a few
        milliseconds on a busy disk).  Until they are done, the metadata is
        served from memory.
        """
        self._keeping[key] = data
        d = self._keep(key, data)
        d.addErrback(
            lambda failure: log.failure("Could not keep the metadata {key}", failure, key=key)
        )
        d.addBoth(self._kept, key)
        return data

    def _kept(self, _: object, key: str) -> None:
        self._keeping.pop(key, None)
        if not self._keeping:
            waiting, self._whenKept = self._whenKept, []
            for waiter in waiting:
                waiter.callback(None)

    def settled(self) -> "Deferred[None]":
        """
        Fires once no metadata is on its way to the store.
        """
        if not self._keeping:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._whenKept.append(waiter)
        return waiter

    def extract(self, f: DistFile) -> "Deferred[Optional[Metadata]]":
        """
        Extract and keep the metadata of the cached wheel C{f}, if it is a
        wheel.  Metadata its page lists (which L{get} reads from the wheel
        when it cannot fetch it: offline) is kept only if it is what the
        page lists.
        """
        if not f.filename.endswith(".whl"):
            return succeed(None)
        key = metadataKey(f)
        if self.store.exists(key):
            path = self.store.path(key)
            if self.known.digest(key) is None:
                self.known.add(key, path.getContent())
            return succeed(path)

        def none(failure: Failure) -> None:
            failure.trap(NoMetadata)
            log.warn(
                "No metadata in {filename}: {error}",
                filename=f.filename, error=str(failure.value),
            )

        def keep(data: bytes) -> "Optional[Deferred[Metadata]]":
            mismatch = listedMismatch(f, data)
            if mismatch is not None:
                log.warn(
                    "The metadata in {filename} is not what its page lists: {mismatch}",
                    filename=f.filename, mismatch=mismatch,
                )
                return None
            return self._keep(key, data)

        return self._inThread(wheelMetadata, self.store.path(f.key).path).addCallbacks(
            keep, none
        )

    def get(
        self, f: DistFile, upstream: Optional[Upstream], via: Sequence[str] = ()
    ) -> "Deferred[Metadata]":
        """
        The metadata blob of C{f}, fetched and verified if need be (or its
        bytes, when just fetched and not yet kept, or when they could not
        be kept).

        @raise NoMetadata: there is none to serve.
        """
        key = metadataKey(f)
        keeping = self._keeping.get(key)
        if keeping is not None:
            return succeed(keeping)
        if self.store.exists(key):
            return succeed(self.store.path(key))
        if not f.coreMetadata or upstream is None:
            if self.store.exists(f.key):
                return self.extract(f).addCallback(self._orNone, f)
            return self._orNone(None, f)
        return self._coalescer.run(key, lambda: self._fromWheelOrFetched(f, upstream, via))

    def _fromWheelOrFetched(
        self, f: DistFile, upstream: Upstream, via: Sequence[str]
    ) -> "Deferred[Metadata]":
        """
        C{f}'s listed metadata read from its wheel, if that is cached
        (fetched by a client that asked for no metadata: poetry or pdm
        installing from their lock) and it is what the page lists; else
        fetched.  The upstream is not asked for what is here: it may be
        down, and the install of a cached release would fail.
        """
        if not self.store.exists(f.key):
            return self._fetch(f, upstream, via)

        def fetchUnlessRead(path: Optional[Metadata]) -> "Union[Metadata, Deferred[Metadata]]":
            if path is None:
                # Not in the wheel, or not what the page lists.
                return self._fetch(f, upstream, via)
            return path

        return self.extract(f).addCallback(fetchUnlessRead)

    def _orNone(self, path: Optional[Metadata], f: DistFile) -> Metadata:
        if path is None:
            self.known.discard(metadataKey(f))
            raise NoMetadata(f.filename)
        return path

    @inlineCallbacks
    def _fetch(self, f: DistFile, upstream: Upstream, via: Sequence[str]):  # type: ignore[no-untyped-def]
        """
        Fetch, verify and keep C{f}'s metadata, trying again when the
        connection breaks before it is whole.

        @raise UpstreamError: the upstream gave no usable answer, refused
            or timed out too: the client is told so (a 502), as for the
            wheel itself, not with a 500.
        """
        url = f.url + ".metadata"
        try:
            path = yield tryAgain(
                self.clock,
                self.retryDelays,
                lambda: self._fetchOnce(f, upstream, via),
                connectionBroke,
                url,
            )
        except UpstreamError:
            raise
        except Exception as e:
            # Refused, or broken, at each try.
            if not connectionBroke(e):
                raise
            raise UpstreamError(f"{url}: {describeError(e)}") from e
        return path

    @inlineCallbacks
    def _fetchOnce(self, f: DistFile, upstream: Upstream, via: Sequence[str]):  # type: ignore[no-untyped-def]
        url = f.url + ".metadata"
        try:
            response = yield upstream.get(url, via=via)
        except Exception as e:
            if connectionBroke(e):
                raise
            # Timed out, or a redirect that cannot be followed: not tried
            # again (see connectionBroke).
            raise UpstreamError(f"{url}: {describeError(e)}") from e
        chunks: list[bytes] = []
        done, _ = readBody(
            response, chunks.append, self.clock, self.idleTimeout, MAX_METADATA_SIZE
        )
        yield done
        if response.code != 200:
            raise statusError(
                response.code, f"{url}: HTTP {response.code}",
                retryAfterOf(response, self.clock.seconds()),
            )
        data = b"".join(chunks)
        # Core metadata is listed (see get): True, or its hashes.
        checked = None if f.coreMetadata is True else checkedHash(f.coreMetadata)
        if checked is None:
            log.warn("Keeping unverified metadata of {filename}", filename=f.filename)
        mismatch = listedMismatch(f, data)
        if mismatch is not None:
            raise UpstreamError(f"{url}: {mismatch}")
        return self._keepBehind(metadataKey(f), data)

