"""
Tests for L{cheesecache.eviction}: LRU planning, access tracking, scanning
and evicting a real data directory, the background L{Evictor}, and the
C{stats} and C{gc} command helpers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import time
from typing import Any, Callable, List, Optional, Tuple

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.logger import formatEvent
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.test.requesthelper import DummyRequest

from cheesecache.blobstore import BlobStore
from cheesecache.eviction import (
    BLOB,
    PAGE,
    RENDERED,
    TEMPORARY,
    AccessLog,
    CacheEntry,
    EvictionPlan,
    EvictionResult,
    Evictor,
    evict,
    formatSize,
    gcCommand,
    lowWaterMark,
    parseSize,
    planEviction,
    runOnce,
    scanCache,
    statsCommand,
)
from cheesecache.metadata import KnownMetadata
from cheesecache.multipart import parseMultipart
from cheesecache.pagestore import atomicWrite
from cheesecache.private import CorruptRecord, PrivateStore
from cheesecache.uploadcheck import Accepted
from cheesecache.web.files import serveBlob
from cheesecache.web.representation import (
    IN_MEMORY_LIMIT,
    TWIN_DELAY,
    RenderedStore,
    Representation,
)

from .harness import JSON_ACCEPT, Harness, logEvents, serveIndex, sleep
from .test_index import bigProjectIndex
from .uploadforms import encode, twineParts
from .wheels import makeWheel

#: 2026-01-01T00:00:00Z
NOW = 1767225600.0
DAY = 86400.0
B = "evictionboundary"


def entry(key: str, size: int, lastUsed: float, kind: str = BLOB) -> CacheEntry:
    return CacheEntry(path="/d/" + key, size=size, lastUsed=lastUsed, kind=kind, key=key)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PlanTests(SynchronousTestCase):
    """
    L{planEviction}, without I/O.
    """

    def test_nothingUnderLimit(self) -> None:
        """
        A cache at or under its limit loses nothing, even above the low-water mark.
        """
        entries = [entry("a", 50, 1), entry("b", 50, 2)]
        plan = planEviction(entries, frozenset(), limit=100, lowWater=10)
        self.assertEqual(plan, EvictionPlan((), 100, 100))

    def test_leastRecentlyUsedFirst(self) -> None:
        """
        Over the limit, victims are chosen oldest use first, whatever order they came in.
        """
        entries = [entry("c", 10, 30), entry("a", 10, 10), entry("d", 10, 40), entry("b", 10, 20)]
        plan = planEviction(entries, frozenset(), limit=35, lowWater=20)
        self.assertEqual([e.key for e in plan.victims], ["a", "b"])
        self.assertEqual((plan.sizeBefore, plan.sizeAfter, plan.freed), (40, 20, 20))

    def test_lowWaterMark(self) -> None:
        """
        Eviction goes down to the low-water mark, not just under the limit.
        """
        entries = [entry(str(i), 10, i) for i in range(10)]
        self.assertEqual(len(planEviction(entries, frozenset(), 99, 99).victims), 1)
        plan = planEviction(entries, frozenset(), 99, lowWaterMark(99))
        self.assertEqual(lowWaterMark(99), 89)
        self.assertEqual([e.key for e in plan.victims], ["0", "1"])
        self.assertEqual(plan.sizeAfter, 80)

    def test_protectedNeverChosen(self) -> None:
        """
        Protected keys and pages are never victims, even when oldest and
        when the limit is zero; they still count toward the size.
        """
        entries = [
            entry("private", 100, 1),
            entry("private.metadata", 5, 1),
            entry("upstream", 10, 50),
            entry("pages/s/x.json", 1, 60, PAGE),
        ]
        protected = frozenset({"private", "private.metadata"})
        plan = planEviction(entries, protected, limit=0, lowWater=0)
        self.assertEqual([e.key for e in plan.victims], ["upstream"])
        self.assertEqual(plan.sizeAfter, 106)

    def test_minAge(self) -> None:
        """
        Entries used within C{minAge} seconds of now are left alone.
        """
        entries = [entry("old", 10, NOW - 120), entry("fresh", 10, NOW - 30)]
        plan = planEviction(entries, frozenset(), 0, 0, now=NOW, minAge=60)
        self.assertEqual([e.key for e in plan.victims], ["old"])


class SizeTests(SynchronousTestCase):
    """
    L{parseSize} and L{formatSize}.
    """

    def test_parse(self) -> None:
        """
        Units are powers of 1024, with or without B or iB, any case; a bare number is bytes.
        """
        self.assertEqual(parseSize("10G"), 10 * 1024**3)
        self.assertEqual(parseSize("500M"), 500 * 1024**2)
        self.assertEqual(parseSize("1.5GB"), 1536 * 1024**2)
        self.assertEqual(parseSize("2gib"), 2 * 1024**3)
        self.assertEqual(parseSize("64k"), 65536)
        self.assertEqual(parseSize("1T"), 1024**4)
        self.assertEqual(parseSize("123456"), 123456)
        self.assertEqual(parseSize("100B"), 100)
        self.assertEqual(parseSize(" 0 "), 0)

    def test_parseRejects(self) -> None:
        """
        Anything that is not a size is a ValueError.
        """
        for bad in ["", "G", "-1G", "10X", "1e9", "ten", "10Gi", "5iB", "1.2.3M"]:
            self.assertRaises(ValueError, parseSize, bad)

    def test_format(self) -> None:
        """
        Sizes print in bytes under 1 KiB and with one decimal above.
        """
        self.assertEqual(formatSize(0), "0 B")
        self.assertEqual(formatSize(1023), "1023 B")
        self.assertEqual(formatSize(1536), "1.5 KiB")
        self.assertEqual(formatSize(10 * 1024**3), "10.0 GiB")


class DataDirMixin:
    """
    A real data directory with upstream blobs, pages and private uploads.
    """

    def setUp(self) -> None:
        self.dataDir = FilePath(self.mktemp())  # type: ignore[attr-defined]
        self.dataDir.makedirs()
        self.blobs = BlobStore(self.dataDir)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.private = PrivateStore(self.dataDir, self.blobs, self.clock)

    def upstream(self, data: bytes, age: float) -> str:
        """
        Store an upstream blob last used C{age} seconds before L{NOW}.
        """
        key = sha(data)
        self.setAge(self.blobs.putBytes(key, data).path, age)
        return key

    def setAge(self, path: str, age: float) -> None:
        os.utime(path, (NOW - age, NOW - age))

    def page(
        self, source: str, name: str, data: bytes, age: float, suffix: str = ".json"
    ) -> FilePath:
        path = self.dataDir.child("pages").child(source).child(name + suffix)
        atomicWrite(path, data)
        self.setAge(path.path, age)
        return path

    def upload(self, name: str, version: str, age: float) -> Tuple[str, bytes]:
        """
        Upload a wheel through L{PrivateStore.add}, as the upload resource
        does, and make its blobs look unused for C{age} seconds.
        """
        filename, data = makeWheel(name, version, padding=4096)
        form = parseMultipart(
            io.BytesIO(encode(twineParts(name, version, filename, data), B)),
            B.encode(),
            self.blobs.tmp,
            10 * 1024 * 1024,
        )
        try:
            decision = self.private.add(form, "alice")
        finally:
            form.discard()
        assert isinstance(decision, Accepted), decision
        key = sha(data)
        for k in (key, key + ".metadata"):
            self.setAge(self.blobs.path(k).path, age)
        return key, data

    def rendered(self, name: str, age: float) -> Representation:
        """
        A big page rendered to disk (with its gzip twin) by a
        L{RenderedStore}, as the server keeps it, written C{age} seconds
        before L{NOW}.
        """
        store = RenderedStore(self.dataDir.child("rendered"))
        body = b"".join(b"<a>%s-%d</a>\n" % (name.encode(), i) for i in range(8000))
        rep = store.make("text/html", body)
        assert rep.path is not None
        for path in (rep.path, rep.path + ".gz"):
            self.setAge(path, age)
        return rep

    def temporary(self, name: str, data: bytes, age: float) -> FilePath:
        path = self.blobs.tmp.child(name)
        self.blobs.tmp.makedirs(ignoreExistingDirectory=True)
        path.setContent(data)
        self.setAge(path.path, age)
        return path


class AccessLogTests(DataDirMixin, SynchronousTestCase):
    """
    L{AccessLog.touch}.
    """

    def test_touchSetsAccessTime(self) -> None:
        """
        Touching a blob sets its access time to the clock's now, and leaves
        its modification time.
        """
        key = self.upstream(b"x" * 10, age=DAY)
        accessLog = AccessLog(self.blobs, self.clock)
        accessLog.touch(key)
        st = os.stat(self.blobs.path(key).path)
        self.assertEqual((st.st_atime, st.st_mtime), (NOW, NOW - DAY))
        self.assertEqual(accessLog.touched, 1)

    def test_rateLimited(self) -> None:
        """
        A key is written at most once per interval; after it, again.
        """
        key = self.upstream(b"y" * 10, age=DAY)
        path = self.blobs.path(key).path
        accessLog = AccessLog(self.blobs, self.clock, interval=60)
        accessLog.touch(key)
        self.setAge(path, DAY)
        self.clock.advance(59)
        accessLog.touch(key)
        self.assertEqual(os.stat(path).st_atime, NOW - DAY)
        self.assertEqual(accessLog.touched, 1)
        self.clock.advance(1)
        accessLog.touch(key)
        self.assertEqual(os.stat(path).st_atime, NOW + 60)
        self.assertEqual(accessLog.touched, 2)

    def test_missingAndInvalidKeysIgnored(self) -> None:
        """
        A key with no blob, or not a key at all, is ignored without error.
        """
        accessLog = AccessLog(self.blobs, self.clock)
        accessLog.touch("a" * 64)
        accessLog.touch("../../etc/passwd")
        self.assertEqual(accessLog.touched, 0)

    def test_memoryBounded(self) -> None:
        """
        The per-key memory never grows past C{maxRemembered} entries.
        """
        accessLog = AccessLog(self.blobs, self.clock, maxRemembered=3)
        for i in range(10):
            accessLog.touch(f"{i:064x}")
            self.assertLessEqual(len(accessLog._last), 3)

    def test_servingKeepsLastModified(self) -> None:
        """
        A file served (and so touched) keeps the C{Last-Modified} it had:
        a client revalidating or resuming with that date gets a 304, not
        the file again; eviction still sees the use.
        """
        key = self.upstream(b"m" * 10, age=DAY) + ".metadata"
        self.blobs.putBytes(key, b"Metadata-Version: 2.1\n")
        self.setAge(self.blobs.path(key).path, DAY)
        path = self.blobs.path(key).path
        first = DummyRequest([])
        first.method = b"HEAD"
        serveBlob(first, path, None)
        (lastModified,) = first.responseHeaders.getRawHeaders(b"last-modified")
        AccessLog(self.blobs, self.clock).touch(key)
        again = DummyRequest([])
        again.requestHeaders.setRawHeaders(b"if-modified-since", [lastModified])
        serveBlob(again, path, None)
        self.assertEqual(again.responseCode, 304)
        (found,) = [e for e in scanCache(self.dataDir).entries if e.key == key]
        self.assertEqual(found.lastUsed, NOW)

    def test_metadataScanIsNoUse(self) -> None:
        """
        The server's start-up scan, which reads every metadata blob, does
        not make them look used then (it may move a file's access time).
        """
        key = sha(b"wheel") + ".metadata"
        self.blobs.putBytes(key, b"Metadata-Version: 2.1\n")
        self.setAge(self.blobs.path(key).path, DAY)
        self.assertIn(key, KnownMetadata(self.blobs).scan())
        (found,) = [e for e in scanCache(self.dataDir).entries if e.key == key]
        self.assertEqual(found.lastUsed, NOW - DAY)

    def test_survivesRestart(self) -> None:
        """
        The last use is on disk: a scan by a new process sees it.
        """
        key = self.upstream(b"z" * 10, age=DAY)
        AccessLog(self.blobs, self.clock).touch(key)
        (found,) = [e for e in scanCache(self.dataDir).entries if e.key == key]
        self.assertEqual(found.lastUsed, NOW)


class ScanTests(DataDirMixin, SynchronousTestCase):
    """
    L{scanCache} on a real data directory.
    """

    def test_kinds(self) -> None:
        """
        Upstream blobs, private blobs (with their metadata), pages (kept as
        fetched or parsed) and
        temporary files are told apart and sized.
        """
        up1 = self.upstream(b"a" * 100, age=10)
        self.upstream(b"b" * 200, age=20)
        key, data = self.upload("mine", "1.0", age=5)
        self.page("pypi", "requests", b"p" * 30, age=1)
        self.page("pypi", "treq", b"q" * 40, age=2, suffix=".page")
        self.dataDir.child("pages").child("pypi").child("XYZrequests.json.tmp").setContent(b"t")
        self.temporary("abc.part", b"t" * 7, age=1)
        usage = scanCache(self.dataDir)
        self.assertEqual(usage.protected, {key, key + ".metadata"})
        metadataSize = self.blobs.path(key + ".metadata").getsize()
        self.assertEqual((usage.upstream.count, usage.upstream.size), (2, 300))
        self.assertEqual(
            (usage.private.count, usage.private.size), (2, len(data) + metadataSize)
        )
        self.assertEqual((usage.pages.count, usage.pages.size), (2, 70))
        self.assertEqual((usage.temporary.count, usage.temporary.size), (2, 8))
        self.assertEqual(usage.cacheSize, 370 + len(data) + metadataSize)
        self.assertEqual(usage.total.size, usage.cacheSize + 8)
        (e,) = [e for e in usage.entries if e.key == up1]
        self.assertEqual((e.kind, e.size, e.lastUsed), (BLOB, 100, NOW - 10))
        self.assertEqual(e.path, self.blobs.path(up1).path)
        pages = sorted(e.key for e in usage.entries if e.kind == PAGE)
        self.assertEqual(pages, ["pages/pypi/requests.json", "pages/pypi/treq.page"])
        self.assertEqual({t.kind for t in usage.temporaries}, {TEMPORARY})

    def test_renderedCounted(self) -> None:
        """
        Big rendered pages on disk and their gzip twins count toward the
        limit; one being written is a temporary file.
        """
        self.upstream(b"a" * 100, age=10)
        rep = self.rendered("big", age=5)
        assert rep.path is not None
        renderedSize = rep.size + rep.gzSize
        self.dataDir.child("rendered").child("spill-x.tmp").setContent(b"s" * 3)
        usage = scanCache(self.dataDir)
        self.assertEqual((usage.rendered.count, usage.rendered.size), (2, renderedSize))
        self.assertEqual(usage.cacheSize, 100 + renderedSize)
        self.assertEqual((usage.temporary.count, usage.temporary.size), (1, 3))
        (e,) = [e for e in usage.entries if e.path == rep.path]
        self.assertEqual((e.kind, e.lastUsed), (RENDERED, NOW - 5))

    def test_empty(self) -> None:
        """
        A data directory with nothing cached yet scans as empty.
        """
        usage = scanCache(self.dataDir)
        self.assertEqual((usage.entries, usage.temporaries, usage.total.size), ((), (), 0))

    def test_corruptRecord(self) -> None:
        """
        An unreadable private record makes the scan fail rather than treat
        that project's blobs as upstream ones.
        """
        self.upload("mine", "1.0", age=5)
        self.dataDir.child("private").child("mine.json").setContent(b"{not json")
        self.assertRaises(CorruptRecord, scanCache, self.dataDir)


class EvictTests(DataDirMixin, SynchronousTestCase):
    """
    L{runOnce} and L{evict} on a real data directory.
    """

    def test_smallLimitKeepsPrivate(self) -> None:
        """
        Under a small limit old upstream blobs go, least recently used
        first; pages stay (the server reads them back to find files), and
        private blobs and their metadata all stay.
        """
        oldest = self.upstream(b"1" * 1000, age=5 * DAY)
        older = self.upstream(b"2" * 1000, age=4 * DAY)
        recent = self.upstream(b"3" * 1000, age=1 * DAY)
        page = self.page("pypi", "old", b"p" * 100, age=6 * DAY)
        key, data = self.upload("mine", "1.0", age=30 * DAY)
        privateSize = sum(
            self.blobs.path(k).getsize() for k in (key, key + ".metadata")
        )
        limit = privateSize + 1600
        result = runOnce(self.dataDir, limit, now=NOW, lowWaterRatio=1.0)
        self.assertTrue(page.exists())
        self.assertFalse(self.blobs.exists(oldest))
        self.assertFalse(self.blobs.exists(older))
        self.assertTrue(self.blobs.exists(recent))
        self.assertTrue(self.blobs.exists(key))
        self.assertTrue(self.blobs.exists(key + ".metadata"))
        self.assertEqual(self.blobs.path(key).getContent(), data)
        self.assertEqual(len(result.removed), 2)
        self.assertEqual(result.removedBytes, 2000)
        self.assertEqual(scanCache(self.dataDir).cacheSize, result.sizeAfter)
        self.assertLessEqual(result.sizeAfter, limit)
        # The private project is still whole.
        record = self.private.record("mine")
        assert record is not None
        self.assertEqual([f.sha256 for f in record.files], [key])

    def test_renderedEvicted(self) -> None:
        """
        Rendered pages count toward the limit, and go in their turn, least
        recently written first, like upstream files: the disk used stays
        under the limit.
        """
        recent = self.upstream(b"r" * 1000, age=DAY)
        old = self.rendered("old", age=2 * DAY)
        new = self.rendered("new", age=10)
        assert old.path is not None and new.path is not None
        limit = 1000 + new.size + new.gzSize
        result = runOnce(self.dataDir, limit, now=NOW, lowWaterRatio=1.0)
        self.assertEqual(
            sorted(e.path for e in result.removed), [old.path, old.path + ".gz"]
        )
        self.assertTrue(self.blobs.exists(recent))
        self.assertTrue(os.path.exists(new.path) and os.path.exists(new.path + ".gz"))
        self.assertEqual(scanCache(self.dataDir).cacheSize, result.sizeAfter)
        self.assertLessEqual(result.sizeAfter, limit)

    def test_zeroLimit(self) -> None:
        """
        Even a limit of zero removes every upstream file and no private one.
        """
        up = self.upstream(b"u" * 10, age=DAY)
        key, _ = self.upload("mine", "1.0", age=DAY)
        result = runOnce(self.dataDir, 0, now=NOW)
        self.assertFalse(self.blobs.exists(up))
        self.assertTrue(self.blobs.exists(key))
        self.assertTrue(self.blobs.exists(key + ".metadata"))
        self.assertGreater(result.sizeAfter, 0)

    def test_underLimitNothingRemoved(self) -> None:
        """
        Under the limit, nothing is removed, however old.
        """
        up = self.upstream(b"u" * 10, age=365 * DAY)
        result = runOnce(self.dataDir, 10, now=NOW)
        self.assertEqual(result.removed, ())
        self.assertTrue(self.blobs.exists(up))

    def test_openFileStillReadable(self) -> None:
        """
        A blob open for reading (a response in progress) can still be read
        completely after eviction deleted it.
        """
        data = os.urandom(256 * 1024)
        key = self.upstream(data, age=DAY)
        with open(self.blobs.path(key).path, "rb") as f:
            first = f.read(1000)
            # That read was a use (it may set the access time): a day ago.
            self.setAge(self.blobs.path(key).path, DAY)
            result = runOnce(self.dataDir, 0, now=NOW)
            self.assertEqual([e.key for e in result.removed], [key])
            self.assertFalse(self.blobs.exists(key))
            rest = f.read()
        self.assertEqual(first + rest, data)

    def test_temporaryFilesUntouched(self) -> None:
        """
        Files in tmp/ (downloads and uploads in progress), old or new, are
        never evicted.
        """
        self.upstream(b"u" * 10, age=DAY)
        fresh = self.temporary("download.part", b"d" * 5000, age=0)
        stale = self.temporary("upload.upload", b"s" * 5000, age=30 * DAY)
        runOnce(self.dataDir, 0, now=NOW)
        self.assertEqual(fresh.getContent(), b"d" * 5000)
        self.assertEqual(stale.getContent(), b"s" * 5000)

    def test_recentlyUsedKept(self) -> None:
        """
        A blob used within the last minute is not evicted, even at limit zero.
        """
        old = self.upstream(b"o" * 10, age=DAY)
        fresh = self.upstream(b"f" * 10, age=10)
        runOnce(self.dataDir, 0, now=NOW)
        self.assertFalse(self.blobs.exists(old))
        self.assertTrue(self.blobs.exists(fresh))

    def test_touchedSinceScanKept(self) -> None:
        """
        An entry used after the scan planned its removal is kept.
        """
        key = self.upstream(b"o" * 10, age=DAY)
        usage = scanCache(self.dataDir)
        plan = planEviction(usage.entries, usage.protected, 0, 0)
        self.assertEqual(len(plan.victims), 1)
        AccessLog(self.blobs, self.clock).touch(key)
        self.assertEqual(evict(self.dataDir, plan), ())
        self.assertTrue(self.blobs.exists(key))

    def test_evictRefusesOtherFiles(self) -> None:
        """
        L{evict} deletes nothing outside blobs/ and pages/, whatever the plan says.
        """
        record = self.dataDir.child("users")
        record.setContent(b"alice:hash\n")
        victim = CacheEntry(record.path, 11, 0.0, BLOB, "a" * 64)
        self.assertEqual(evict(self.dataDir, EvictionPlan((victim,), 11, 0)), ())
        self.assertTrue(record.exists())

    def test_corruptRecordEvictsNothing(self) -> None:
        """
        With a private record unreadable, nothing is evicted.
        """
        up = self.upstream(b"u" * 10, age=DAY)
        self.upload("mine", "1.0", age=DAY)
        self.dataDir.child("private").child("mine.json").setContent(b"{")
        self.assertRaises(CorruptRecord, runOnce, self.dataDir, 0, NOW)
        self.assertTrue(self.blobs.exists(up))

    def test_dryRun(self) -> None:
        """
        A dry run reports what it would remove and removes nothing.
        """
        up = self.upstream(b"u" * 10, age=DAY)
        result = runOnce(self.dataDir, 0, now=NOW, dryRun=True)
        self.assertEqual([e.key for e in result.removed], [up])
        self.assertTrue(self.blobs.exists(up))


class FakeReactor(Clock):
    """
    A clock whose C{callFromThread} calls at once (the "thread" is the test's).
    """

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)


class SyncThreadPool:
    """
    Runs work at once, in the caller's thread.
    """

    def callInThreadWithCallback(
        self, onResult: Callable[[bool, Any], None], f: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        try:
            result = f(*args, **kwargs)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


class ManualThreadPool(SyncThreadPool):
    """
    Holds work until the test runs it, to see what happens meanwhile.
    """

    def __init__(self) -> None:
        self.queue: List[Tuple[Any, ...]] = []

    def callInThreadWithCallback(self, *args: Any, **kwargs: Any) -> None:
        self.queue.append((args, kwargs))

    def runOne(self) -> None:
        args, kwargs = self.queue.pop(0)
        SyncThreadPool.callInThreadWithCallback(self, *args, **kwargs)


class EvictorTests(DataDirMixin, SynchronousTestCase):
    """
    L{Evictor}, with a fake clock and thread pool.
    """

    def setUp(self) -> None:
        DataDirMixin.setUp(self)
        self.reactor = FakeReactor()
        self.reactor.advance(NOW)

    def evictor(self, maxSize: int, threadpool: Optional[Any] = None) -> Evictor:
        return Evictor(
            self.dataDir, maxSize, self.reactor, threadpool or SyncThreadPool(), interval=60
        )

    def test_startEvictsAndCounts(self) -> None:
        """
        Starting runs a pass: old upstream blobs go, private ones stay, and
        the counters say how many and how big.
        """
        a = self.upstream(b"a" * 1000, age=3 * DAY)
        b = self.upstream(b"b" * 1000, age=2 * DAY)
        c = self.upstream(b"c" * 1000, age=1 * DAY)
        key, _ = self.upload("mine", "1.0", age=9 * DAY)
        privateSize = scanCache(self.dataDir).private.size
        evictor = self.evictor(privateSize + 2000)
        evictor.startService()
        self.addCleanup(evictor.stopService)
        self.assertFalse(self.blobs.exists(a))
        self.assertFalse(self.blobs.exists(b))
        self.assertTrue(self.blobs.exists(c))
        self.assertTrue(self.blobs.exists(key))
        self.assertTrue(self.blobs.exists(key + ".metadata"))
        self.assertEqual((evictor.evicted, evictor.evictedBytes, evictor.runs), (2, 2000, 1))
        self.assertEqual(evictor.cacheSize, privateSize + 1000)

    def test_onRemovedGetsKeys(self) -> None:
        """
        C{onRemoved} hears the keys of the blobs a pass removed (metadata
        digests kept in memory are forgotten with it).
        """
        a = self.upstream(b"a" * 1000, age=3 * DAY)
        b = self.upstream(b"b" * 1000, age=1 * DAY)
        heard: list = []
        evictor = self.evictor(1500)
        evictor.onRemoved = heard.append
        evictor.startService()
        self.addCleanup(evictor.stopService)
        self.assertEqual(heard, [[a]])
        self.assertTrue(self.blobs.exists(b))

    def test_periodic(self) -> None:
        """
        A pass runs every interval, and evicts what went over the limit since.
        """
        evictor = self.evictor(1500)
        evictor.startService()
        self.addCleanup(evictor.stopService)
        self.assertEqual(evictor.runs, 1)
        a = self.upstream(b"a" * 1000, age=2 * DAY)
        self.upstream(b"b" * 1000, age=1 * DAY)
        self.reactor.advance(59)
        self.assertTrue(self.blobs.exists(a))
        self.reactor.advance(1)
        self.assertEqual(evictor.runs, 2)
        self.assertFalse(self.blobs.exists(a))
        self.assertEqual(evictor.evicted, 1)

    def test_noteAddedTriggersOverLimit(self) -> None:
        """
        Bytes added past the limit start a pass at once; below it, none.
        """
        evictor = self.evictor(1500)
        evictor.startService()
        self.addCleanup(evictor.stopService)
        a = self.upstream(b"a" * 1000, age=2 * DAY)
        evictor.noteAdded(1000)
        self.assertEqual(evictor.runs, 1)
        self.upstream(b"b" * 1000, age=1 * DAY)
        evictor.noteAdded(1000)
        self.assertEqual(evictor.runs, 2)
        self.assertFalse(self.blobs.exists(a))

    def test_overLimitWarningNamesPages(self) -> None:
        """
        The warning that a pass left the cache over its limit says how much
        the pages, which are never evicted, take.
        """
        events = logEvents(self)  # type: ignore[arg-type]
        self.page("pypi", "big", b"p" * 2048, age=DAY)
        self.evictor(1024).run()
        (warning,) = [e for e in events if "over its limit" in e.get("log_format", "")]
        self.assertIn("pages (2.0 KiB", formatEvent(warning))

    def test_overLimitAfterPassWaitsForTimer(self) -> None:
        """
        When a pass could not bring the cache under the limit (private
        uploads alone exceed it), files added later do not each start a
        pass that would find the same and warn again: the timer's next
        pass evicts them once they are old enough.
        """
        events = logEvents(self)  # type: ignore[arg-type]
        self.upload("mine", "1.0", age=DAY)
        evictor = self.evictor(10)
        evictor.minAge = 60
        evictor.startService()
        self.addCleanup(evictor.stopService)
        self.assertEqual(evictor.runs, 1)
        added = [self.upstream(bytes([i]) * 1000, age=0) for i in range(3)]
        for _ in added:
            evictor.noteAdded(1000)
        self.assertEqual(evictor.runs, 1)
        warnings = [e for e in events if "over its limit" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 1)
        self.reactor.advance(60)
        self.assertEqual(evictor.runs, 2)
        self.assertEqual(evictor.evicted, 3)

    def test_coalesced(self) -> None:
        """
        One pass at a time: requests during a pass share the next one, and
        each caller gets its own Deferred with the result of a pass that
        started after it asked.
        """
        pool = ManualThreadPool()
        evictor = self.evictor(0, pool)
        a = self.upstream(b"a" * 10, age=DAY)
        first = evictor.run()
        second, third = evictor.run(), evictor.run()
        self.assertIsNot(second, third)
        self.assertEqual(len(pool.queue), 1)
        pool.runOne()
        firstResult = self.successResultOf(first)
        assert firstResult is not None
        self.assertEqual([e.key for e in firstResult.removed], [a])
        self.assertNoResult(second)
        self.assertEqual(len(pool.queue), 1)
        self.upstream(b"b" * 10, age=DAY)
        pool.runOne()
        results = [self.successResultOf(second), self.successResultOf(third)]
        self.assertIs(results[0], results[1])
        assert results[0] is not None
        self.assertEqual(len(results[0].removed), 1)
        self.assertEqual(pool.queue, [])
        self.assertEqual(evictor.runs, 2)

    def test_stopWaitsForPass(self) -> None:
        """
        Stopping waits for the running pass, drops requested ones, and
        stops the timer.
        """
        pool = ManualThreadPool()
        evictor = self.evictor(0, pool)
        evictor.startService()
        queued = evictor.run()
        stopped = evictor.stopService()
        self.assertNoResult(stopped)
        self.assertIsNone(self.successResultOf(queued))
        pool.runOne()
        self.successResultOf(stopped)
        self.reactor.advance(600)
        self.assertEqual(pool.queue, [])
        self.assertEqual(evictor.runs, 1)

    def test_failureCountedAndRecovered(self) -> None:
        """
        A failed pass is logged and counted, evicts nothing, and the next
        pass runs normally.
        """
        up = self.upstream(b"u" * 10, age=DAY)
        self.upload("mine", "1.0", age=DAY)
        recordPath = self.dataDir.child("private").child("mine.json")
        good = recordPath.getContent()
        recordPath.setContent(b"{")
        evictor = self.evictor(0)
        evictor.startService()
        self.addCleanup(evictor.stopService)
        self.assertEqual(len(self.flushLoggedErrors(CorruptRecord)), 1)
        self.assertEqual((evictor.failures, evictor.runs), (1, 0))
        self.assertTrue(self.blobs.exists(up))
        recordPath.setContent(good)
        self.reactor.advance(60)
        self.assertEqual((evictor.failures, evictor.runs), (1, 1))
        self.assertFalse(self.blobs.exists(up))


class RealThreadEvictorTests(DataDirMixin, TestCase):
    """
    L{Evictor} in the real reactor's thread pool.
    """

    @inlineCallbacks
    def test_passInThread(self):  # type: ignore[no-untyped-def]
        """
        A pass in a real thread evicts old upstream blobs and keeps private ones.
        """
        up = self.upstream(b"u" * 1000, age=DAY)
        key, _ = self.upload("mine", "1.0", age=DAY)
        evictor = Evictor(
            self.dataDir, 0, reactor, reactor.getThreadPool(),  # type: ignore[attr-defined]
            minAge=0,
        )
        result = yield evictor.run()
        self.assertIsInstance(result, EvictionResult)
        self.assertFalse(self.blobs.exists(up))
        self.assertTrue(self.blobs.exists(key))
        self.assertEqual(evictor.evicted, 1)


class RenderedEvictedTests(TestCase):
    """
    A server whose rendered pages eviction removed.
    """

    @inlineCallbacks
    def test_renderedAgain(self):  # type: ignore[no-untyped-def]
        """
        A big page whose rendered files (and gzip twin) eviction removed,
        here C{cheesecache gc} beside the server, is rendered again when
        next asked for: the same page, plain and gzipped.
        """
        harness = Harness(self, [serveIndex(self, bigProjectIndex("big"))])
        accept = {"Accept": JSON_ACCEPT}
        gzipped = {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        response, body = yield harness.get("/simple/big/", accept)
        self.assertEqual(response.code, 200)
        self.assertGreater(len(body), IN_MEMORY_LIMIT)
        harness.clock.advance(TWIN_DELAY)
        for _ in range(200):
            response, zipped = yield harness.get("/simple/big/", gzipped)
            if response.headers.hasHeader(b"content-encoding"):
                break
            yield sleep(0.01)
        self.assertEqual(gzip.decompress(zipped), body)
        result = runOnce(harness.dataDir, 0, now=time.time() + 3600)
        self.assertEqual(len([e for e in result.removed if e.kind == RENDERED]), 2)
        self.assertEqual(scanCache(harness.dataDir).rendered.count, 0)
        response, again = yield harness.get("/simple/big/", gzipped)
        self.assertEqual(response.code, 200)
        if response.headers.hasHeader(b"content-encoding"):
            again = gzip.decompress(again)
        self.assertEqual(again, body)
        response, again = yield harness.get("/simple/big/", accept)
        self.assertEqual((response.code, again), (200, body))


class CommandTests(DataDirMixin, SynchronousTestCase):
    """
    L{statsCommand} and L{gcCommand}.
    """

    def test_stats(self) -> None:
        """
        stats prints counts and human sizes of each kind and the total.
        """
        self.upstream(b"a" * 2048, age=DAY)
        self.upstream(b"b" * 1024, age=DAY)
        self.upload("mine", "1.0", age=DAY)
        self.page("pypi", "x", b"p" * 100, age=DAY)
        rep = self.rendered("big", age=DAY)
        self.temporary("x.part", b"t" * 10, age=0)
        out = io.StringIO()
        self.assertEqual(statsCommand(self.dataDir, out), 0)
        lines = out.getvalue().splitlines()
        self.assertEqual(lines[0], f"Cache in {self.dataDir.path}")
        rows = {line[:19].strip(): line[19:].split(None, 1) for line in lines[1:7]}
        self.assertEqual(rows["upstream files"], ["2", "3.0 KiB"])
        self.assertEqual(rows["private files"][0], "2")
        self.assertEqual(rows["pages"], ["1", "100 B"])
        self.assertEqual(
            rows["rendered pages"], ["2", formatSize(rep.size + rep.gzSize)]
        )
        self.assertEqual(rows["temporary files"], ["1", "10 B"])
        self.assertEqual(rows["total"][0], "8")
        self.assertTrue(lines[7].startswith("  least recently used: "))

    def test_statsLeastRecentlyUsedIsAnUpstreamFile(self) -> None:
        """
        stats' "least recently used" is the oldest upstream file's last
        use: pages, never evicted, do not count (nor private uploads).
        """
        self.upstream(b"a" * 10, age=DAY)
        self.page("pypi", "x", b"p" * 10, age=30 * DAY)
        self.upload("mine", "1.0", age=60 * DAY)
        out = io.StringIO()
        self.assertEqual(statsCommand(self.dataDir, out), 0)
        self.assertEqual(
            out.getvalue().splitlines()[7],
            "  least recently used: "
            + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(NOW - DAY)),
        )

    def test_gc(self) -> None:
        """
        gc evicts old upstream files down to the limit, removes temporary
        files untouched for an hour (not fresher ones), keeps private
        uploads, and prints what it removed.
        """
        old = self.upstream(b"o" * 1000, age=2 * DAY)
        new = self.upstream(b"n" * 1000, age=DAY)
        key, _ = self.upload("mine", "1.0", age=3 * DAY)
        stale = self.temporary("stale.part", b"s" * 10, age=2 * 3600)
        fresh = self.temporary("fresh.part", b"f" * 10, age=60)
        privateSize = scanCache(self.dataDir).private.size
        out = io.StringIO()
        code = gcCommand(
            self.dataDir, privateSize + 1500, out, False, now=NOW, lowWaterRatio=1.0
        )
        self.assertEqual(code, 0)
        self.assertFalse(self.blobs.exists(old))
        self.assertTrue(self.blobs.exists(new))
        self.assertTrue(self.blobs.exists(key))
        self.assertTrue(self.blobs.exists(key + ".metadata"))
        self.assertFalse(stale.exists())
        self.assertTrue(fresh.exists())
        text = out.getvalue()
        self.assertIn(f"removed: blobs/{old[:2]}/{old[2:4]}/{old} (1000 B, last used ", text)
        self.assertIn("removed: tmp/stale.part (10 B, leftover temporary file)", text)
        self.assertIn("1 cached files removed (1000 B), 1 temporary files removed (10 B)", text)
        self.assertNotIn(key, text)

    def test_gcDryRun(self) -> None:
        """
        gc --dry-run prints what it would remove and removes nothing.
        """
        old = self.upstream(b"o" * 1000, age=2 * DAY)
        stale = self.temporary("stale.part", b"s" * 10, age=2 * 3600)
        out = io.StringIO()
        self.assertEqual(gcCommand(self.dataDir, 0, out, True, now=NOW), 0)
        self.assertTrue(self.blobs.exists(old))
        self.assertTrue(stale.exists())
        text = out.getvalue()
        self.assertIn(f"would remove: blobs/{old[:2]}/{old[2:4]}/{old}", text)
        self.assertIn("would remove: tmp/stale.part", text)

    def test_gcOverLimitWithPrivate(self) -> None:
        """
        When private uploads alone exceed the limit, gc says so and still succeeds.
        """
        key, _ = self.upload("mine", "1.0", age=DAY)
        out = io.StringIO()
        self.assertEqual(gcCommand(self.dataDir, 10, out, False, now=NOW), 0)
        self.assertTrue(self.blobs.exists(key))
        self.assertIn("Still over the limit: private uploads take", out.getvalue())

    def test_gcOverLimitWithPages(self) -> None:
        """
        When pages (never evicted) keep the cache over the limit, gc says
        so, rather than blame private uploads that take nothing.
        """
        up = self.upstream(b"u" * 10, age=DAY)
        self.page("pypi", "big", b"p" * 2048, age=DAY)
        out = io.StringIO()
        self.assertEqual(gcCommand(self.dataDir, 1024, out, False, now=NOW), 0)
        self.assertFalse(self.blobs.exists(up))
        self.assertIn("pages take 2.0 KiB", out.getvalue())

    def test_gcCorruptRecord(self) -> None:
        """
        gc refuses to evict with an unreadable private record, with status 1.
        """
        up = self.upstream(b"u" * 10, age=DAY)
        self.upload("mine", "1.0", age=DAY)
        self.dataDir.child("private").child("mine.json").setContent(b"{")
        out = io.StringIO()
        self.assertEqual(gcCommand(self.dataDir, 0, out, False, now=NOW), 1)
        self.assertIn("unreadable private record", out.getvalue())
        self.assertTrue(self.blobs.exists(up))
