"""
Tests for L{cheesecache.web.representation}: big pages are kept on disk and
streamed, their parsed form is let go and read back when needed.
"""

from __future__ import annotations

import errno
import gzip
import json
import os

from typing import Iterator

from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cheesecache.freshness import PageEntry, Validators
from cheesecache.simple.render import JSON_TYPE
from cheesecache.web.representation import (
    IN_MEMORY_LIMIT,
    TWIN_DELAY,
    BodyCache,
    Representation,
    RenderedStore,
    acceptsGzip,
    representationOf,
)

from .fakeindex import Dist, FakeIndex
from .harness import JSON_ACCEPT, Harness, header, serveIndex, sleep
from .test_chain import fileURL
from .test_filefetch import HeldCalls
from .wheels import makeSdist


def bigIndex() -> FakeIndex:
    index = FakeIndex()
    index.add("other", Dist(*makeSdist("other", "1.0")))
    for i in range(600):  # well over the in-memory limit once rendered
        name, data = makeSdist("big", f"1.{i}")
        index.add("big", Dist(name, data))
    return index


@inlineCallbacks
def twinsMade(harness: Harness, name: str):  # type: ignore[no-untyped-def]
    """
    Wait (a bounded while) until every representation of project C{name}'s
    page has its gzip twin, made in the reactor's thread pool.
    """
    rendered = harness.sources[0].cachedEntry(name).rendered
    harness.clock.advance(TWIN_DELAY)
    for _ in range(200):
        if all(rep.twin for rep in rendered.values()):
            return
        yield sleep(0.01)
    raise AssertionError(f"no gzip twin for {name}: {rendered!r}")


class AcceptsGzipTests(SynchronousTestCase):
    """
    Reading C{Accept-Encoding} for gzip, q-values and C{*} included.
    """

    def test_table(self) -> None:
        cases = {
            None: False, b"": False, b"identity": False, b"deflate, br": False,
            b"gzip": True, b"gzip, deflate": True, b"GZIP": True, b"x-gzip": True,
            b"gzip;q=0": False, b"gzip; q=0.000": False, b"gzip ; q=0.5": True,
            b"gzip;q=1.0": True, b"*": True, b"*;q=0": False, b"br, *;q=0.1": True,
            b"*, gzip;q=0": False, b"gzip;q=0, *": False,
        }
        for value, expected in cases.items():
            self.assertEqual((value, acceptsGzip(value)), (value, expected))

    def test_malformedWeight(self) -> None:
        """
        An item with a weight that is not a q-value is ignored rather than
        failing the request: the plain body is always acceptable.
        """
        for value in (b"gzip;q=abc", b"gzip;q=", b"gzip;q=1.5", b"gzip;q=-1", b"gzip;q=0.12345"):
            self.assertEqual((value, acceptsGzip(value)), (value, False))


class DiskRepresentationTests(TestCase):
    """
    Pages over the in-memory limit.
    """

    def setUp(self) -> None:
        self.upstream = bigIndex()
        self.harness = Harness(self, [serveIndex(self, self.upstream)])

    @inlineCallbacks
    def test_streamedFromDisk(self):  # type: ignore[no-untyped-def]
        """
        A big page is written under rendered/ once and streamed from there:
        the same bytes, plain and gzip, with Content-Length, HEAD and 304.
        """
        response, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(len(json.loads(body)["files"]), 600)
        self.assertGreater(len(body), 64 * 1024)
        yield twinsMade(self.harness, "big")
        rendered = [p for p in self.harness.dataDir.child("rendered").walk() if p.isfile()]
        self.assertEqual(len(rendered), 2)  # the page and its gzip twin
        again, body2 = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(body2, body)
        self.assertEqual(again.length, len(body))
        zipped, zbody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        self.assertEqual(gzip.decompress(zbody), body)
        odd, obody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip;q=abc"}
        )
        self.assertEqual((odd.code, header(odd, "content-encoding"), obody), (200, None, body))
        head, hbody = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT}, method="HEAD")
        self.assertEqual((hbody, header(head, "content-length")), (b"", str(len(body))))
        cached, cbody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "If-None-Match": header(again, "etag")}
        )
        self.assertEqual((cached.code, cbody), (304, b""))

    @inlineCallbacks
    def test_trimmedAndReadBack(self):  # type: ignore[no-untyped-def]
        """
        Beyond the model budget the parsed page is let go; a cold file is
        looked up in the stored page without reading the page back; a
        rendered file that disappears is rendered again, the page read back
        from the page store.
        """
        source = self.harness.sources[0]
        source.modelBudget = 10
        _, page = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        entry = source.cachedEntry("big")
        yield self.harness.get("/simple/other/")  # loads another page: "big" goes
        self.assertIsNone(entry._content)
        dist = self.upstream.projects["big"][0]
        response, data = yield self.harness.get(fileURL(page, dist.filename))
        self.assertEqual(data, dist.data)
        self.assertIsNone(entry._content)
        for path in self.harness.dataDir.child("rendered").walk():
            if path.isfile():
                path.remove()
        response, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(body, page)


    @inlineCallbacks
    def test_servedBeforeItsTwin(self):  # type: ignore[no-untyped-def]
        """
        The request that renders a big page cold gets it uncompressed, with
        the plain ETag, though it accepts gzip: the gzip twin is made in
        the thread pool afterwards, and served from then on.
        """
        first, body = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        self.assertEqual(header(first, "content-encoding"), None)
        self.assertEqual(header(first, "vary"), "Accept, Accept-Encoding")
        self.assertEqual(len(json.loads(body)["files"]), 600)
        yield twinsMade(self.harness, "big")
        later, zbody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        self.assertEqual(header(later, "content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(zbody), body)
        self.assertEqual(header(later, "etag"), header(first, "etag")[:-1] + '-gz"')

    @inlineCallbacks
    def test_plainCopyStillCurrent(self):  # type: ignore[no-untyped-def]
        """
        A client that got the page plain before its twin was made, and
        asks whether its copy is current (its ETag in C{If-None-Match},
        gzip accepted), is told so: a 304 with the plain ETag, rather than
        the whole page again gzipped.  A copy of the twin is current too;
        another ETag gets the twin.
        """
        gzipped = {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        first, body = yield self.harness.get("/simple/big/", gzipped)
        plain = header(first, "etag")
        yield twinsMade(self.harness, "big")
        for _ in range(2):  # answered by the tree, then as a warm page
            cached, cbody = yield self.harness.get(
                "/simple/big/", {**gzipped, "If-None-Match": plain}
            )
            self.assertEqual((cached.code, cbody, header(cached, "etag")), (304, b"", plain))
            self.assertIsNone(header(cached, "content-encoding"))
        twin = plain[:-1] + '-gz"'
        cached, _ = yield self.harness.get("/simple/big/", {**gzipped, "If-None-Match": twin})
        self.assertEqual((cached.code, header(cached, "etag")), (304, twin))
        other, obody = yield self.harness.get(
            "/simple/big/", {**gzipped, "If-None-Match": '"other"'}
        )
        self.assertEqual((other.code, header(other, "etag")), (200, twin))
        self.assertEqual(gzip.decompress(obody), body)

    @inlineCallbacks
    def test_twinWaits(self):  # type: ignore[no-untyped-def]
        """
        The gzip twin is made only L{TWIN_DELAY} seconds after the page is
        first served: until then, requests for gzip get it uncompressed,
        and no compression has started.
        """
        yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.harness.clock.advance(TWIN_DELAY - 0.1)
        yield sleep(0.05)  # long enough for a thread to have made it
        response, body = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        self.assertEqual(header(response, "content-encoding"), None)
        rendered = self.harness.dataDir.child("rendered")
        self.assertEqual([p.basename() for p in rendered.walk() if p.path.endswith(".gz")], [])
        yield twinsMade(self.harness, "big")
        response, zbody = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        self.assertEqual(header(response, "content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(zbody), body)

    @inlineCallbacks
    def test_madeOnce(self):  # type: ignore[no-untyped-def]
        """
        Concurrent first requests for a big page all get the same page,
        rendered once, plain or (once its twin is made) gzipped; the other
        representation, asked for later, is made then, while the page is
        otherwise warm.
        """
        answers = yield gatherResults([
            self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"})
            for _ in range(5)
        ])
        bodies = {
            gzip.decompress(body) if header(response, "content-encoding") else body
            for response, body in answers
        }
        self.assertEqual(len(bodies), 1)
        self.assertEqual(len(json.loads(bodies.pop())["files"]), 600)
        yield twinsMade(self.harness, "big")
        rendered = self.harness.dataDir.child("rendered")
        self.assertEqual(len([p for p in rendered.walk() if p.isfile()]), 2)
        response, html = yield self.harness.get("/simple/big/", {"Accept": "text/html"})
        self.assertEqual(response.code, 200)
        self.assertEqual(html.count(b"<a "), 600)
        yield twinsMade(self.harness, "big")
        self.assertEqual(len([p for p in rendered.walk() if p.isfile()]), 4)

    @inlineCallbacks
    def test_popularBodyKeptInMemory(self):  # type: ignore[no-untyped-def]
        """
        A body read from disk is kept in memory for the next requests: once
        it is, the file is not needed (nor is the page rendered again).
        """
        _, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertLess(len(body), 256 * 1024)  # below the sendfile size
        _, again = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        yield twinsMade(self.harness, "big")
        for path in self.harness.dataDir.child("rendered").walk():
            if path.isfile():
                path.remove()
        response, third = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual((response.code, third), (200, body))
        rendered = [p for p in self.harness.dataDir.child("rendered").walk() if p.isfile()]
        self.assertEqual(rendered, [])

    @inlineCallbacks
    def test_diskFull(self):  # type: ignore[no-untyped-def]
        """
        A big page that cannot be written under rendered/ (a full disk) is
        served all the same, from memory, and written when it can be.
        """

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        spill = RenderedStore.spill
        self.patch(RenderedStore, "spill", full)
        for accept in (JSON_ACCEPT, "text/html"):
            response, body = yield self.harness.get("/simple/big/", {"Accept": accept})
            self.assertEqual((response.code, response.length), (200, len(body)))
            self.assertIn(b"big-1.599.tar.gz", body)
        self.patch(RenderedStore, "spill", spill)
        response, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        rendered = self.harness.dataDir.child("rendered")
        self.assertEqual(len([p for p in rendered.walk() if p.isfile()]), 1)

    @inlineCallbacks
    def test_twinGoneRenderedAgain(self):  # type: ignore[no-untyped-def]
        """
        A client taking gzip whose page's files went is answered with the
        page rendered again, uncompressed, without C{Content-Encoding: gzip}.
        """
        _, body = yield self.harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        yield twinsMade(self.harness, "big")
        for path in self.harness.dataDir.child("rendered").walk():
            if path.isfile():
                path.remove()
        response, again = yield self.harness.get(
            "/simple/big/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"}
        )
        if header(response, "content-encoding") == "gzip":
            again = gzip.decompress(again)
        self.assertEqual((response.code, again), (200, body))


class BodyCacheTests(SynchronousTestCase):
    """
    L{BodyCache}: recently served bodies within a byte budget.
    """

    def test_budget(self) -> None:
        """
        The least recently used bodies go first when over the budget; a
        body over a quarter of the budget is not kept at all.
        """
        cache = BodyCache(budget=100)
        cache.put("a", b"a" * 25)
        cache.put("b", b"b" * 25)
        cache.put("c", b"c" * 25)
        self.assertEqual(cache.get("a"), b"a" * 25)  # now the most recent
        cache.put("d", b"d" * 25)
        cache.put("e", b"e" * 25)
        self.assertIsNone(cache.get("b"))
        self.assertEqual([cache.get(k) is not None for k in "acde"], [True] * 4)
        self.assertEqual(cache.size, 100)
        cache.put("big", b"x" * 26)
        self.assertIsNone(cache.get("big"))
        cache.discard("a")
        self.assertEqual((cache.get("a"), cache.size), (None, 75))

    def test_discardedWithTheRepresentation(self) -> None:
        """
        Discarding a representation from the store forgets its bodies too.
        """
        store = RenderedStore(FilePath(self.mktemp()))
        body = b"x" * (IN_MEMORY_LIMIT + 1)
        rep = Representation.of("text/html", body, store)
        assert rep.path is not None
        store.bodies.put(rep.path, body)
        store.discard(rep)
        self.assertIsNone(store.bodies.get(rep.path))
        self.assertEqual(store.bodies.size, 0)


class PiecesTests(SynchronousTestCase):
    """
    L{Representation.of} with a body given in pieces.
    """

    def setUp(self) -> None:
        self.root = FilePath(self.mktemp())
        self.disk = RenderedStore(self.root)

    def files(self) -> list:
        return sorted(p.path[len(self.root.path) + 1 :] for p in self.root.walk() if p.isfile())

    def test_smallInMemory(self) -> None:
        """
        Small pieces make the same representation, in memory, as the body
        given whole: same ETag, sizes and bytes.
        """
        pieces = [b"<html>", b"", b"caf\xc3\xa9", b"</html>"]
        whole = Representation.of("text/html", b"".join(pieces), self.disk)
        rep = Representation.of("text/html", iter(pieces), self.disk)
        self.assertEqual(rep, whole)
        self.assertEqual(gzip.decompress(rep.gzipped), b"".join(pieces))
        self.assertEqual((rep.size, rep.gzSize), (len(rep.body), len(rep.gzipped)))
        self.assertIsNone(rep.path)
        self.assertFalse(self.root.exists())

    def test_bigOnDisk(self) -> None:
        """
        Pieces adding up to more than L{IN_MEMORY_LIMIT} go to disk as they
        come: the files are named by the ETag, which is the one of the body
        given whole, and no temporary file is left.
        """
        pieces = [b"%d," % i * 100 for i in range(IN_MEMORY_LIMIT // 100)]
        body = b"".join(pieces)
        rep = Representation.of("application/json", iter(pieces), self.disk)
        self.assertIsNone(rep.body)
        self.assertEqual(rep.etag, Representation.of("application/json", body).etag)
        self.assertEqual(rep.size, len(body))
        with rep.open(False) as f:
            self.assertEqual(f.read(), body)
        with rep.open(True) as f:
            zipped = f.read()
        self.assertEqual((gzip.decompress(zipped), len(zipped)), (body, rep.gzSize))
        self.assertEqual(self.files(), [f"{rep.etag[:2]}/{rep.etag}", f"{rep.etag[:2]}/{rep.etag}.gz"])

    def test_bigWholeOnDisk(self) -> None:
        """
        A big body given whole goes to disk too.
        """
        body = b"x" * (IN_MEMORY_LIMIT + 1)
        rep = Representation.of("text/html", body, self.disk)
        self.assertIsNone(rep.body)
        with rep.open(False) as f:
            self.assertEqual(f.read(), body)

    def test_bigWithoutDisk(self) -> None:
        """
        Without a store, big pieces stay in memory.
        """
        pieces = [b"y" * IN_MEMORY_LIMIT, b"z"]
        rep = Representation.of("text/html", iter(pieces))
        self.assertEqual(rep.body, b"".join(pieces))
        self.assertEqual(gzip.decompress(rep.gzipped), rep.body)

    def test_sameAgain(self) -> None:
        """
        Rendering the same big page again keeps the files there and leaves
        no temporary file.
        """
        pieces = [b"a" * IN_MEMORY_LIMIT, b"b" * 10]
        first = Representation.of("text/html", iter(pieces), self.disk)
        again = Representation.of("text/html", iter(pieces), self.disk)
        self.assertEqual(first, again)
        self.assertEqual(len(self.files()), 2)

    def test_failingPieces(self) -> None:
        """
        When rendering fails after some pieces went to disk, the error goes
        on and no file is left.
        """

        def pieces() -> Iterator[bytes]:
            yield b"a" * (IN_MEMORY_LIMIT + 1)
            yield b"b"
            raise ValueError("broken page")

        self.assertRaises(ValueError, Representation.of, "text/html", pieces(), self.disk)
        self.assertEqual(self.files(), [])


class ClearTests(SynchronousTestCase):
    def test_clear(self) -> None:
        """
        L{RenderedStore.clear} removes every representation and leftover;
        it does nothing where there is none.
        """
        root = FilePath(self.mktemp())
        disk = RenderedStore(root)
        disk.clear()
        rep = Representation.of("text/html", b"x" * (IN_MEMORY_LIMIT + 1), disk)
        root.child("spill-1.tmp").setContent(b"left by a crash")
        self.assertTrue(os.path.exists(rep.path))
        disk.clear()
        self.assertFalse(root.exists())
        again = Representation.of("text/html", b"x" * (IN_MEMORY_LIMIT + 1), disk)
        self.assertEqual(again.path, rep.path)
        self.assertTrue(os.path.exists(again.path))


class MadeInThreadTests(SynchronousTestCase):
    """
    L{RenderedStore.make} and L{RenderedStore.place} with a thread to make
    gzip twins in (held, so the test says when it runs).
    """

    def setUp(self) -> None:
        self.root = FilePath(self.mktemp())
        self.held = HeldCalls()
        self.disk = RenderedStore(self.root, blocking=self.held)
        self.body = b"".join(b"%d," % i * 100 for i in range(IN_MEMORY_LIMIT // 100))
        self.renders = 0

    def render(self, content: object) -> Iterator[bytes]:
        self.renders += 1
        for start in range(0, len(self.body), 10_000):
            yield self.body[start : start + 10_000]

    def entry(self) -> PageEntry:
        return PageEntry("content", "http://127.0.0.1/simple/big/", Validators(), 0.0)

    def files(self) -> list:
        return sorted(p.basename() for p in self.root.walk() if p.isfile())

    def test_smallAtOnce(self) -> None:
        """
        A small body needs no thread: its representation comes whole at
        once, in memory.
        """
        rep = self.disk.make("text/html", iter([b"<html>", b"</html>"]))
        self.assertEqual(rep, Representation.of("text/html", b"<html></html>"))
        entry = self.entry()
        self.disk.place(entry.rendered, "text/html", rep)
        self.assertIs(entry.rendered["text/html"], rep)
        self.assertEqual(self.held.calls, [])

    def test_bigAtOnceTwinLater(self) -> None:
        """
        A big body is written to its file and hashed at once, without its
        gzip twin; the entry serves it so while the thread makes the twin,
        then the whole representation, the one L{Representation.of} gives
        for the same bytes.
        """
        entry = self.entry()
        rep = representationOf(entry, JSON_TYPE, self.render, self.disk)
        self.assertFalse(rep.twin)
        self.assertIs(entry.rendered[JSON_TYPE], rep)
        self.assertEqual(self.files(), [rep.etag])
        with rep.open(False) as f:
            self.assertEqual(f.read(), self.body)
        self.assertEqual(len(self.held.calls), 1)
        self.held.runAll()
        whole = entry.rendered[JSON_TYPE]
        expected = Representation.of(JSON_TYPE, self.body, RenderedStore(FilePath(self.mktemp())))
        self.assertTrue(whole.twin)
        self.assertEqual(
            (whole.etag, whole.size, whole.gzSize, whole.path),
            (expected.etag, expected.size, expected.gzSize, rep.path),
        )
        with whole.open(True) as f:
            self.assertEqual(gzip.decompress(f.read()), self.body)
        self.assertEqual(self.files(), [rep.etag, rep.etag + ".gz"])
        self.assertIs(representationOf(entry, JSON_TYPE, self.render, self.disk), whole)
        self.assertEqual(self.renders, 1)

    def test_writerSameAsMake(self) -> None:
        """
        A representation written piece by piece with L{RenderedStore.writer}
        is the one L{RenderedStore.make} makes of the same pieces, small or
        big.
        """
        for body in (b"<html></html>", self.body):
            pieces = [body[i : i + 7_000] for i in range(0, len(body), 7_000)]
            writer = self.disk.writer(JSON_TYPE)
            for piece in pieces:
                writer.write(piece)
            written = writer.done()
            self.assertEqual(written, self.disk.make(JSON_TYPE, iter(pieces)))
            if written.path is not None:
                with written.open(False) as f:
                    self.assertEqual(f.read(), body)

    def test_writerAbandoned(self) -> None:
        """
        An abandoned writer leaves no file behind.
        """
        writer = self.disk.writer(JSON_TYPE)
        writer.write(self.body)
        writer.write(b"more")
        writer.abandon()
        self.assertEqual(self.files(), [])

    def test_twinThereAlready(self) -> None:
        """
        The same bytes rendered again (another page version that renders
        alike) reuse the file and twin there already.
        """
        first = self.entry()
        representationOf(first, JSON_TYPE, self.render, self.disk)
        self.held.runAll()
        second = self.entry()
        rep = representationOf(second, JSON_TYPE, self.render, self.disk)
        self.held.runAll()
        self.assertEqual(second.rendered[JSON_TYPE].gzSize, first.rendered[JSON_TYPE].gzSize)
        self.assertEqual(self.files(), [rep.etag, rep.etag + ".gz"])

    def test_twoAtATime(self) -> None:
        """
        At most two twins are compressed at once; the next starts when one
        is done, and each representation gets its own.
        """
        entries = [self.entry() for _ in range(4)]
        for i, entry in enumerate(entries):
            self.disk.place(
                entry.rendered, JSON_TYPE,
                self.disk.make(JSON_TYPE, iter([self.body, b"%d" % i])),
            )
        self.assertEqual(len(self.held.calls), 2)
        self.held.runOne()
        self.assertEqual(len(self.held.calls), 2)
        self.held.runAll()
        reps = [entry.rendered[JSON_TYPE] for entry in entries]
        self.assertEqual([r.twin for r in reps], [True] * 4)
        self.assertEqual(len({r.etag for r in reps}), 4)
        self.assertEqual(len(self.files()), 8)

    def test_replacedMeanwhile(self) -> None:
        """
        A twin finished after its representation was replaced (the page
        rendered again) does not bring the old one back.
        """
        entry = self.entry()
        representationOf(entry, JSON_TYPE, self.render, self.disk)
        newer = Representation.of(JSON_TYPE, b"{}")
        entry.rendered[JSON_TYPE] = newer
        self.held.runAll()
        self.assertIs(entry.rendered[JSON_TYPE], newer)

    def test_discardedMeanwhile(self) -> None:
        """
        A representation discarded before its twin is made (its page
        changed) leaves no twin and no temporary file behind, and nothing
        is logged as an error; the entry keeps serving it uncompressed
        until it is replaced.
        """
        entry = self.entry()
        rep = representationOf(entry, JSON_TYPE, self.render, self.disk)
        self.disk.discard(rep)
        runHeld(self.held)
        self.assertEqual(self.files(), [])
        self.assertFalse(entry.rendered[JSON_TYPE].twin)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_discardedWhileCompressed(self) -> None:
        """
        A twin finished after its representation was discarded (the file
        went while the twin was being written) is removed too.
        """
        entry = self.entry()
        rep = representationOf(entry, JSON_TYPE, self.render, self.disk)
        assert rep.path is not None
        d, compress, args = self.held.calls.pop()
        gzSize = compress(*args)
        self.assertTrue(os.path.exists(rep.path + ".gz"))
        os.unlink(rep.path)
        entry.rendered[JSON_TYPE] = Representation.of(JSON_TYPE, b"{}")
        d.callback(gzSize)
        self.assertEqual(self.files(), [])

    def test_twinFails(self) -> None:
        """
        When the twin cannot be made (here what should be the page's file
        is a directory), the error is logged, no temporary file is left,
        and the representation is served uncompressed.
        """
        entry = self.entry()
        rep = representationOf(entry, JSON_TYPE, self.render, self.disk)
        assert rep.path is not None
        os.unlink(rep.path)
        os.mkdir(rep.path)
        runHeld(self.held)
        self.assertEqual(len(self.flushLoggedErrors(IsADirectoryError)), 1)
        self.assertIs(entry.rendered[JSON_TYPE], rep)
        self.assertEqual(self.files(), [])


def runHeld(held: HeldCalls) -> None:
    """
    Run the held calls, each failing its L{Deferred} if it raises.
    """
    while held.calls:
        d, f, args = held.calls.pop(0)
        try:
            result = f(*args)
        except BaseException:
            d.errback()
        else:
            d.callback(result)
