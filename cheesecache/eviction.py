# -*- test-case-name: tests.test_eviction -*-
"""
A bounded cache: least-recently-used eviction of upstream files (and their
core metadata) and of big pages rendered to disk, never of pages or private
uploads.

What counts toward the limit is everything under C{<data-dir>/blobs},
C{<data-dir>/pages} and C{<data-dir>/rendered}: upstream files, their core
metadata, cached pages, big pages rendered to disk (and their gzip twins),
and private uploads too (they use the same disk), but only the upstream
part and the rendered pages are ever removed: pages are read back to find
the files they list, so they stay.  A rendered page is made again from its
stored page when next asked for (see
L{cheesecache.web.simple}'s C{_Answer.write}), so it goes in its turn, least
recently written first, like an upstream file.  If private uploads alone
exceed the limit, every upstream file goes and a warning says so.
Temporary files (C{tmp/}: downloads and uploads in progress, and rendered
pages being written) are neither counted nor evicted; C{cheesecache gc}
removes only the ones left over (untouched for an hour).

Three layers, so that the decision is tested without I/O:

  - L{planEviction} is pure: entries in, victims out.
  - L{scanCache}, L{evict} and L{runOnce} do the I/O, in whichever thread
    calls them.
  - L{Evictor} runs L{runOnce} in a thread pool, every minute and whenever
    the server adds enough bytes to go over the limit, one run at a time.

When a file was last used is the later of its access and modification
times (L{lastUsed}): L{AccessLog.touch} sets the access time (at most once
a minute per file) when the file is served, and a blob's modification time
is when it was written, which is when it was first used.  The modification
time itself is left alone: it is the file's C{Last-Modified}, which must
not move forward every time the file is served (a client resuming with
C{If-Range}, or revalidating with C{If-Modified-Since}, would get the whole
file again).  Keeping the last use on disk rather than in memory costs a
C{stat} and a C{utime} a minute per file served, and survives restarts and
the command-line tool running in another process.  An explicit C{utime}
sets the access time on C{noatime} mounts too.  The server's own reads that
are no use of a blob (the start-up scan of metadata) leave it alone (see
L{cheesecache.blobstore.readUnused}); other readers of the data directory
(a backup) can only make a file look used more recently (with C{relatime},
at most once a day), so that it goes later than its turn, never sooner.

Deleting a blob that a client is being sent is safe: the response holds the
file open, and POSIX keeps an unlinked file's bytes until its last
descriptor is closed.  A download in progress lives in C{tmp/} until it is
complete and verified, and eviction never looks there.  Directories are
never removed: L{BlobStore.commit} creates a blob's parent directory and
then renames into it, and an eviction removing the (empty) directory in
between would make that rename fail.
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import (
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    TextIO,
    Tuple,
)

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock, LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath

from .blobstore import BlobStore, isValidKey
from .private import CorruptRecord, PrivateStore

log = Logger()

#: Evict down to this fraction of the limit, so that the next few files
#: added do not each start an eviction.
LOW_WATER = 0.9

#: Never evict what was used (or written) this many seconds ago or less: a
#: request may have just checked that the blob exists and be about to open
#: it, and an upload's blob is committed just before its record is saved.
MIN_AGE = 60.0

#: How often the server checks the cache size, in seconds.
INTERVAL = 60.0

#: A temporary file untouched for this long is a leftover of a crash or of
#: a client that went away, not work in progress.
STALE_TEMPORARY = 3600.0

BLOB = "blob"
PAGE = "page"
TEMPORARY = "temp"
RENDERED = "rendered"


# -- Values -----------------------------------------------------------------


@attrs.frozen
class CacheEntry:
    """
    One file of the cache.

    @ivar path: its absolute path.
    @ivar size: its size in bytes.
    @ivar lastUsed: when it was last served or written (POSIX time).
    @ivar kind: L{BLOB}, L{PAGE}, L{RENDERED} or L{TEMPORARY}.
    @ivar key: the blob key for a blob; the path under the data directory
        for the others (which never looks like a blob key).
    """

    path: str
    size: int
    lastUsed: float
    kind: str
    key: str


@attrs.frozen
class Usage:
    """
    How many files, and how many bytes they take.
    """

    count: int = 0
    size: int = 0

    @classmethod
    def of(cls, entries: Iterable[CacheEntry]) -> "Usage":
        count = size = 0
        for entry in entries:
            count += 1
            size += entry.size
        return cls(count, size)

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.count + other.count, self.size + other.size)


@attrs.frozen
class CacheUsage:
    """
    What L{scanCache} found.

    @ivar entries: every blob (upstream and private), page and rendered
        page: what counts toward the limit.
    @ivar temporaries: files in C{tmp/}, and unfinished page and rendered
        page writes.
    @ivar protected: the blob keys of private uploads and their metadata.
    """

    entries: Tuple[CacheEntry, ...] = attrs.field(converter=tuple)
    temporaries: Tuple[CacheEntry, ...] = attrs.field(converter=tuple)
    protected: FrozenSet[str] = attrs.field(converter=frozenset)

    @property
    def upstream(self) -> Usage:
        return Usage.of(
            e for e in self.entries if e.kind == BLOB and e.key not in self.protected
        )

    @property
    def private(self) -> Usage:
        return Usage.of(
            e for e in self.entries if e.kind == BLOB and e.key in self.protected
        )

    @property
    def pages(self) -> Usage:
        return Usage.of(e for e in self.entries if e.kind == PAGE)

    @property
    def rendered(self) -> Usage:
        return Usage.of(e for e in self.entries if e.kind == RENDERED)

    @property
    def temporary(self) -> Usage:
        return Usage.of(self.temporaries)

    @property
    def cacheSize(self) -> int:
        """
        The bytes that count toward the limit.
        """
        return sum(e.size for e in self.entries)

    @property
    def total(self) -> Usage:
        return Usage.of(self.entries) + self.temporary


@attrs.frozen
class EvictionPlan:
    """
    What to delete, and the sizes before and after.

    @ivar victims: the entries to delete, least recently used first.
    @ivar sizeBefore: the bytes counted before.
    @ivar sizeAfter: the bytes counted once the victims are gone; above the
        limit still if too little could be evicted.
    """

    victims: Tuple[CacheEntry, ...] = attrs.field(converter=tuple)
    sizeBefore: int
    sizeAfter: int

    @property
    def freed(self) -> int:
        return self.sizeBefore - self.sizeAfter


@attrs.frozen
class EvictionResult:
    """
    What one pass of L{runOnce} did.

    @ivar removed: the entries actually deleted (fewer than planned when a
        file was used or removed since the scan).
    """

    usage: CacheUsage
    plan: EvictionPlan
    removed: Tuple[CacheEntry, ...] = attrs.field(converter=tuple)
    limit: int

    @property
    def removedBytes(self) -> int:
        return sum(e.size for e in self.removed)

    @property
    def sizeAfter(self) -> int:
        return self.plan.sizeBefore - self.removedBytes


# -- Planning (pure) --------------------------------------------------------


def lowWaterMark(limit: int, ratio: float = LOW_WATER) -> int:
    """
    The size an eviction brings the cache down to: below the limit, so that
    the cache does not go over it again with the very next file.
    """
    return int(limit * ratio)


def planEviction(
    entries: Iterable[CacheEntry],
    protected: FrozenSet[str],
    limit: int,
    lowWater: int,
    now: Optional[float] = None,
    minAge: float = 0.0,
) -> EvictionPlan:
    """
    Choose what to delete to bring the cache from over C{limit} down to
    C{lowWater}: the least recently used entries first, never a protected
    one.  Under the limit, nothing is chosen (the low-water mark only says
    how far to go once eviction is needed).

    @param protected: keys never chosen (private blobs and their metadata);
        their sizes still count.  Pages are never chosen either: the server
        reads a page back from disk to find the files it lists (it keeps
        only rendered pages in memory), so they stay; their sizes count.
        Rendered pages are chosen as upstream files are.
    @param now: with C{minAge}, entries used less than C{minAge} seconds
        before C{now} are not chosen either.
    """
    entries = list(entries)
    size = sum(e.size for e in entries)
    if size <= limit:
        return EvictionPlan((), size, size)
    candidates = sorted(
        (
            e
            for e in entries
            if e.key not in protected
            and e.kind != PAGE
            and (now is None or now - e.lastUsed >= minAge)
        ),
        key=lambda e: (e.lastUsed, e.path),
    )
    victims: List[CacheEntry] = []
    remaining = size
    for entry in candidates:
        if remaining <= lowWater:
            break
        victims.append(entry)
        remaining -= entry.size
    return EvictionPlan(victims, size, remaining)


# -- Units ------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(i?b?)\s*\Z", re.IGNORECASE)
_UNITS = "kmgtp"


def parseSize(value: str) -> int:
    """
    Bytes from a size as people write it: C{"10G"}, C{"500M"}, C{"1.5GB"},
    C{"2GiB"}, C{"1048576"}.  Every unit is a power of 1024 (C{du -h} and
    most servers' configuration read them so), with or without C{B}/C{iB}.

    @raise ValueError: not a size.
    """
    match = _SIZE.match(value)
    if match is None or (match.group(3).lower() == "i"):
        raise ValueError(f"not a size: {value!r} (try 10G, 500M or a number of bytes)")
    number, unit = float(match.group(1)), match.group(2).lower()
    if match.group(3).lower() == "ib" and not unit:
        raise ValueError(f"not a size: {value!r}")
    factor = 1024 ** (_UNITS.index(unit) + 1) if unit else 1
    result = number * factor
    if not math.isfinite(result):
        raise ValueError(f"not a size: {value!r}")
    return int(result)


def formatSize(size: int) -> str:
    """
    A size for people: C{"512 B"}, C{"1.5 KiB"}, C{"10.0 GiB"}.
    """
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in "KMGTP":
        value /= 1024
        if value < 1024 or unit == "P":
            return f"{value:.1f} {unit}iB"
    raise AssertionError("unreachable")  # pragma: no cover


# -- Access tracking --------------------------------------------------------


@attrs.define
class AccessLog:
    """
    Records that a blob was used, so that eviction keeps what is in use.

    L{touch} sets the blob file's access time to now (not its modification
    time, its C{Last-Modified}: see the module's docstring), at most once
    per C{interval} seconds per key (a dictionary lookup otherwise): LRU
    needs minutes of precision, not every request, and the file's time
    survives restarts.  Call it from the reactor thread; C{stat} and
    C{utime} are two cheap system calls.

    @ivar touched: how many times a file's time was actually set.
    """

    store: BlobStore
    clock: IReactorTime
    interval: float = 60.0
    maxRemembered: int = 10000
    touched: int = 0
    _last: Dict[str, float] = attrs.field(factory=dict, init=False)

    def touch(self, key: str) -> None:
        """
        Note that blob C{key} is being served.  Unknown or missing keys are
        ignored: tracking never fails a request.
        """
        if not isValidKey(key):
            return
        now = self.clock.seconds()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return
        if len(self._last) >= self.maxRemembered:
            self._forget(now)
        self._last[key] = now
        path = self.store.location(key)
        try:
            os.utime(path, ns=(int(now * 1e9), os.stat(path).st_mtime_ns))
        except OSError:
            return
        self.touched += 1

    def _forget(self, now: float) -> None:
        """
        Keep the dictionary small: drop what is older than the interval (it
        would be touched again anyway), or everything if that is not enough
        (a few extra C{utime} calls are the only cost).
        """
        self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        if len(self._last) >= self.maxRemembered:
            self._last.clear()


# -- I/O --------------------------------------------------------------------


def _privateStore(dataDir: FilePath) -> PrivateStore:
    """
    A private store of its own, only to read records: its record cache is
    not shared with the server's across threads.
    """
    return PrivateStore(dataDir, BlobStore(dataDir), Clock())


def protectedKeys(private: PrivateStore) -> FrozenSet[str]:
    """
    The blob keys of every private file and of its core metadata.

    @raise cheesecache.private.CorruptRecord: a record is unreadable; then
        nobody knows which blobs are private, and nothing may be evicted.
    """
    keys = set()
    for name in private.projects():
        record = private.record(name)
        if record is None:
            continue
        for f in record.files:
            keys.add(f.sha256)
            keys.add(f.sha256 + ".metadata")
    return frozenset(keys)


def _files(directory: str, depth: int) -> Iterator[os.DirEntry]:  # type: ignore[type-arg]
    """
    The regular files exactly C{depth} directories below C{directory}
    (C{depth=0}: its own files).  Missing directories are empty.
    """
    try:
        it = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with it:
        for entry in it:
            try:
                if depth == 0:
                    if entry.is_file(follow_symlinks=False):
                        yield entry
                elif entry.is_dir(follow_symlinks=False):
                    yield from _files(entry.path, depth - 1)
            except FileNotFoundError:
                continue


def lastUsed(st: os.stat_result) -> float:
    """
    When a blob was last used: served (its access time, set by
    L{AccessLog.touch}) or written (its modification time).
    """
    return max(st.st_atime, st.st_mtime)


#: The name of a rendered page (its ETag), or of its gzip twin.
_RENDERED = re.compile(r"^[0-9a-f]{32}(\.gz)?\Z")


def _entry(dirEntry: os.DirEntry, kind: str, key: str) -> Optional[CacheEntry]:  # type: ignore[type-arg]
    try:
        st = dirEntry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    # A temporary file is in use as long as it is written to.
    used = st.st_mtime if kind == TEMPORARY else lastUsed(st)
    return CacheEntry(dirEntry.path, st.st_size, used, kind, key)


def scanCache(dataDir: FilePath, private: Optional[PrivateStore] = None) -> CacheUsage:
    """
    Walk C{blobs/}, C{pages/}, C{rendered/} and C{tmp/} under C{dataDir}:
    every file's size and last use, and which blobs are private.  Files
    that vanish during the walk are skipped.

    @param private: the private store to read records from (default: one
        on C{dataDir}).
    @raise cheesecache.private.CorruptRecord: see L{protectedKeys}.
    """
    if private is None:
        private = _privateStore(dataDir)
    protected = protectedKeys(private)
    entries: List[CacheEntry] = []
    temporaries: List[CacheEntry] = []
    for dirEntry in _files(dataDir.child("blobs").path, 2):
        if isValidKey(dirEntry.name):
            found = _entry(dirEntry, BLOB, dirEntry.name)
            if found is not None:
                entries.append(found)
    pagesDir = dataDir.child("pages").path
    for dirEntry in _files(pagesDir, 1):
        relative = "pages/" + os.path.relpath(dirEntry.path, pagesDir)
        if dirEntry.name.endswith((".page", ".json")):
            found = _entry(dirEntry, PAGE, relative)
            if found is not None:
                entries.append(found)
        elif dirEntry.name.endswith(".tmp"):
            # An atomic write in progress, or the leftover of a crash.
            found = _entry(dirEntry, TEMPORARY, relative)
            if found is not None:
                temporaries.append(found)
    renderedDir = dataDir.child("rendered").path
    for depth in (0, 1):
        for dirEntry in _files(renderedDir, depth):
            relative = "rendered/" + os.path.relpath(dirEntry.path, renderedDir)
            if depth == 1 and _RENDERED.match(dirEntry.name):
                found = _entry(dirEntry, RENDERED, relative)
                if found is not None:
                    entries.append(found)
            else:
                # A rendered page or its twin being written.
                found = _entry(dirEntry, TEMPORARY, relative)
                if found is not None:
                    temporaries.append(found)
    for dirEntry in _files(dataDir.child("tmp").path, 0):
        found = _entry(dirEntry, TEMPORARY, "tmp/" + dirEntry.name)
        if found is not None:
            temporaries.append(found)
    return CacheUsage(entries, temporaries, protected)


def _inside(dataDir: FilePath, path: str, parts: Sequence[str]) -> bool:
    root = os.path.abspath(dataDir.path)
    path = os.path.abspath(path)
    return any(path.startswith(os.path.join(root, part) + os.sep) for part in parts)


def evict(dataDir: FilePath, plan: EvictionPlan) -> Tuple[CacheEntry, ...]:
    """
    Delete the plan's victims.  An entry used (touched or rewritten) since
    it was scanned is kept: it is no longer least recently used.  Only
    files under C{blobs/}, C{pages/} and C{rendered/} are ever deleted,
    never a directory.

    @return: the entries deleted.
    """
    removed: List[CacheEntry] = []
    for entry in plan.victims:
        if entry.kind not in (BLOB, PAGE, RENDERED) or not _inside(
            dataDir, entry.path, ("blobs", "pages", "rendered")
        ):
            log.error("Refusing to evict {path}: not a cached file", path=entry.path)
            continue
        try:
            if lastUsed(os.stat(entry.path)) > entry.lastUsed:
                continue
            os.remove(entry.path)
        except FileNotFoundError:
            continue
        except OSError as e:
            log.warn("Cannot evict {path}: {error}", path=entry.path, error=str(e))
            continue
        removed.append(entry)
    return tuple(removed)


def runOnce(
    dataDir: FilePath,
    limit: int,
    now: Optional[float] = None,
    lowWaterRatio: float = LOW_WATER,
    minAge: float = MIN_AGE,
    dryRun: bool = False,
) -> EvictionResult:
    """
    One eviction pass: scan, plan, delete.  Blocking; run it in a thread.

    The private store's lock is held from reading its records to the last
    deletion, so that an upload (which commits its blob and then saves its
    record, under that lock) is never seen half done.  The scan itself,
    the long part, runs without it.

    @param now: the current time (default: the system's).
    @param dryRun: plan only; delete nothing.
    """
    if now is None:
        now = time.time()
    private = _privateStore(dataDir)
    usage = scanCache(dataDir, private)
    lowWater = lowWaterMark(limit, lowWaterRatio)
    if usage.cacheSize <= limit:
        plan = planEviction(usage.entries, usage.protected, limit, lowWater)
        return EvictionResult(usage, plan, (), limit)
    if dryRun:
        plan = planEviction(
            usage.entries, usage.protected, limit, lowWater, now, minAge
        )
        return EvictionResult(usage, plan, plan.victims, limit)
    # PrivateStore's lock is the one its uploads take; see the docstring.
    with private._locked():
        protected = usage.protected | protectedKeys(private)
        plan = planEviction(usage.entries, protected, limit, lowWater, now, minAge)
        removed = evict(dataDir, plan)
    return EvictionResult(usage, plan, removed, limit)


def staleTemporaries(
    usage: CacheUsage, now: float, age: float = STALE_TEMPORARY
) -> Tuple[CacheEntry, ...]:
    """
    The temporary files untouched for C{age} seconds: leftovers, since a
    download or upload in progress writes to its file all the time.
    """
    return tuple(e for e in usage.temporaries if now - e.lastUsed >= age)


def removeTemporaries(dataDir: FilePath, entries: Iterable[CacheEntry]) -> Tuple[CacheEntry, ...]:
    """
    Delete leftover temporary files (those still untouched since scanned).
    """
    removed: List[CacheEntry] = []
    for entry in entries:
        if entry.kind != TEMPORARY or not _inside(
            dataDir, entry.path, ("tmp", "pages", "rendered")
        ):
            continue
        try:
            if os.stat(entry.path).st_mtime > entry.lastUsed:
                continue
            os.remove(entry.path)
        except OSError:
            continue
        removed.append(entry)
    return tuple(removed)


# -- The server's evictor ---------------------------------------------------


@attrs.define(eq=False)
class Evictor(Service):
    """
    Keeps the cache under C{maxSize} while the server runs: a pass every
    C{interval} seconds, and one as soon as L{noteAdded} says the cache went
    over the limit.  Passes run in C{threadpool}, never in the reactor
    thread, and never two at a time: a request for a pass while one runs
    gets the next one, shared by all who asked meanwhile.

    @ivar reactor: gives the time, the timer and C{callFromThread}.
    @ivar threadpool: where passes run (C{reactor.getThreadPool()} will do).
    @ivar evicted: files evicted since start (for metrics).
    @ivar evictedBytes: their bytes.
    @ivar runs: passes completed.
    @ivar failures: passes that failed (logged).
    @ivar cacheSize: the size counted by the last pass, plus what was added
        since.
    """

    dataDir: FilePath
    maxSize: int
    reactor: IReactorTime
    threadpool: object
    interval: float = INTERVAL
    lowWaterRatio: float = LOW_WATER
    minAge: float = MIN_AGE
    evicted: int = 0
    evictedBytes: int = 0
    runs: int = 0
    failures: int = 0
    cacheSize: int = 0
    lastResult: Optional[EvictionResult] = None
    #: Called with the keys of the blobs each pass removed.
    onRemoved: Optional[Callable[[List[str]], None]] = None
    _running: bool = attrs.field(default=False, init=False)
    _current: List["Deferred[Optional[EvictionResult]]"] = attrs.field(factory=list, init=False)
    _next: List["Deferred[Optional[EvictionResult]]"] = attrs.field(factory=list, init=False)
    _loop: Optional[LoopingCall] = attrs.field(default=None, init=False)
    _idle: List["Deferred[None]"] = attrs.field(factory=list, init=False)
    _addedDuringRun: int = attrs.field(default=0, init=False)
    #: The last pass failed, or left the cache over the limit (what is left
    #: is private, or too recent to go): bytes added since do not start
    #: another, which would find the same (and warn again, for every file
    #: stored); the timer's next pass does.
    _stuck: bool = attrs.field(default=False, init=False)

    def startService(self) -> None:
        Service.startService(self)
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.reactor
        self._loop.start(self.interval, now=True)

    def stopService(self) -> "Deferred[None]":
        """
        Stop the timer, drop passes asked for but not started, and wait for
        the one running (a thread cannot be interrupted).
        """
        Service.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        pending, self._next = self._next, []
        for waiter in pending:
            waiter.callback(None)
        if not self._running:
            return succeed(None)
        idle: "Deferred[None]" = Deferred()
        self._idle.append(idle)
        return idle

    def _tick(self) -> None:
        self.run()

    def noteAdded(self, size: int) -> None:
        """
        The server stored C{size} more bytes (a file, its metadata, a
        page): start a pass if that takes the cache over the limit, unless
        the last pass could not bring it under (see C{_stuck}).
        """
        self.cacheSize += size
        self._addedDuringRun += size
        if (
            self.running
            and self.cacheSize > self.maxSize
            and not self._running
            and not self._stuck
        ):
            self.run()

    def run(self) -> "Deferred[Optional[EvictionResult]]":
        """
        A pass, now or right after the one running.

        @return: a Deferred of its own that fires with the pass's result,
            or C{None} if it failed or was dropped at shutdown.
        """
        d: "Deferred[Optional[EvictionResult]]" = Deferred()
        if self._running:
            self._next.append(d)
        else:
            self._start([d])
        return d

    def _start(self, waiters: List["Deferred[Optional[EvictionResult]]"]) -> None:
        self._running = True
        self._current = waiters
        self._addedDuringRun = 0
        now = self.reactor.seconds()
        work: "Deferred[EvictionResult]" = deferToThreadPool(
            self.reactor,  # type: ignore[arg-type]
            self.threadpool,  # type: ignore[arg-type]
            runOnce,
            self.dataDir,
            self.maxSize,
            now,
            self.lowWaterRatio,
            self.minAge,
        )
        work.addCallbacks(self._succeeded, self._failed)
        work.addErrback(self._failed)
        work.addCallback(self._finished)

    def _succeeded(self, result: EvictionResult) -> Optional[EvictionResult]:
        self.runs += 1
        self.lastResult = result
        self.evicted += len(result.removed)
        self.evictedBytes += result.removedBytes
        # What was added while the pass ran may or may not have been seen:
        # count it again, erring toward the next pass being early.
        self.cacheSize = result.sizeAfter + self._addedDuringRun
        self._stuck = result.sizeAfter > self.maxSize
        if result.removed and self.onRemoved is not None:
            self.onRemoved([e.key for e in result.removed if e.kind == BLOB])
        if result.removed:
            log.info(
                "Evicted {count} cached files ({size}); the cache now takes"
                " {after} of {limit}",
                count=len(result.removed),
                size=formatSize(result.removedBytes),
                after=formatSize(result.sizeAfter),
                limit=formatSize(self.maxSize),
            )
        if result.sizeAfter > self.maxSize:
            log.warn(
                "The cache takes {after}, over its limit of {limit}: what is"
                " left is private uploads ({private}) and pages ({pages}),"
                " never evicted, or was used in the last {minAge:.0f} seconds",
                after=formatSize(result.sizeAfter),
                limit=formatSize(self.maxSize),
                private=formatSize(result.usage.private.size),
                pages=formatSize(result.usage.pages.size),
                minAge=self.minAge,
            )
        return result

    def _failed(self, failure: Failure) -> None:
        self.failures += 1
        self._stuck = True
        log.failure("Cache eviction failed; nothing was evicted this time", failure)

    def _finished(self, result: Optional[EvictionResult]) -> None:
        waiters, self._current = self._current, []
        self._running = False
        for d in waiters:
            d.callback(result)
        if self._next:
            waiters, self._next = self._next, []
            self._start(waiters)
        elif self._idle:
            idle, self._idle = self._idle, []
            for stopped in idle:
                stopped.callback(None)


# -- Command-line helpers ---------------------------------------------------


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def statsCommand(dataDir: FilePath, stdout: TextIO) -> int:
    """
    C{cheesecache stats}: print how many files of each kind the cache in
    C{dataDir} (which is there: see L{cheesecache.cli.NEEDS_DATA_DIR})
    holds, and their sizes.

    @return: the exit status.
    """
    try:
        usage = scanCache(dataDir)
    except CorruptRecord as e:
        stdout.write(f"Error: unreadable private record {e}\n")
        return 1
    rows = [
        ("upstream files", usage.upstream),
        ("private files", usage.private),
        ("pages", usage.pages),
        ("rendered pages", usage.rendered),
        ("temporary files", usage.temporary),
        ("total", usage.total),
    ]
    stdout.write(f"Cache in {dataDir.path}\n")
    for label, u in rows:
        stdout.write(f"  {label:<16} {u.count:>8}  {formatSize(u.size):>10}\n")
    upstream = [
        e for e in usage.entries if e.kind == BLOB and e.key not in usage.protected
    ]
    if upstream:
        oldest = min(e.lastUsed for e in upstream)
        stdout.write(f"  least recently used: {_when(oldest)}\n")
    return 0


def gcCommand(
    dataDir: FilePath,
    maxSize: int,
    stdout: TextIO,
    dryRun: bool = False,
    now: Optional[float] = None,
    lowWaterRatio: float = LOW_WATER,
    minAge: float = MIN_AGE,
) -> int:
    """
    C{cheesecache gc}: one eviction pass over C{dataDir} (which is there:
    see L{cheesecache.cli.NEEDS_DATA_DIR}) down to C{maxSize}, as the
    server would make, and removal of temporary files untouched for an
    hour.  Safe while the server runs.

    @param dryRun: only print what would be removed.
    @return: the exit status.
    """
    if now is None:
        now = time.time()
    verb = "would remove" if dryRun else "removed"
    try:
        result = runOnce(dataDir, maxSize, now, lowWaterRatio, minAge, dryRun)
    except CorruptRecord as e:
        stdout.write(
            f"Error: unreadable private record {e}; nothing was evicted, since"
            " which files are private is not known\n"
        )
        return 1
    stale = staleTemporaries(result.usage, now)
    temporaries = stale if dryRun else removeTemporaries(dataDir, stale)
    root = dataDir.path + os.sep
    for entry in result.removed:
        stdout.write(
            f"{verb}: {entry.path[len(root):]} ({formatSize(entry.size)},"
            f" last used {_when(entry.lastUsed)})\n"
        )
    for entry in temporaries:
        stdout.write(
            f"{verb}: {entry.path[len(root):]} ({formatSize(entry.size)},"
            f" leftover temporary file)\n"
        )
    sizeAfter = result.sizeAfter
    stdout.write(
        f"{len(result.removed)} cached files {verb} ({formatSize(result.removedBytes)}),"
        f" {len(temporaries)} temporary files {verb}"
        f" ({formatSize(sum(e.size for e in temporaries))});"
        f" the cache takes {formatSize(sizeAfter)} of {formatSize(maxSize)}\n"
    )
    if sizeAfter > maxSize:
        stdout.write(
            f"Still over the limit: private uploads take"
            f" {formatSize(result.usage.private.size)} and pages take"
            f" {formatSize(result.usage.pages.size)}, and neither is ever"
            f" evicted; files used in the last {minAge:.0f} seconds are kept.\n"
        )
    return 0
