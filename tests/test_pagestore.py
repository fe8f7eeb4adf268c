"""
Tests for L{cheesecache.pagestore}.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
from typing import Any, Iterator, List, Optional

import attrs

from twisted.logger import LogLevel
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache import pagestore as pagestoreModule
from cheesecache.freshness import PageEntry, Validators
from cheesecache.pagestore import (
    CHUNK_FILES,
    PageStore,
    _fileToDict,
    atomicWrite,
    entryChunks,
    entryFromJSON,
    entryToJSON,
)
from cheesecache.simple.model import DistFile, ProjectList, ProjectPage

from .harness import logEvents

#: A file with every field set, each to a non-default value.
FULL = DistFile(
    filename="foo_bar-1.0-py3-none-any.whl",
    url="https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
    hashes={"sha256": "a" * 64, "md5": "c" * 32},
    requiresPython=">=3.8,<4",
    yanked="broken \u2603",
    coreMetadata={"sha256": "b" * 64},
    size=12345,
    uploadTime="2026-01-02T03:04:05.123456Z",
    provenance="https://index.example.invalid/prov/1",
)

PAGE = ProjectPage(
    name="foo-bar",
    files=[
        FULL,
        DistFile("foo_bar-1.0.tar.gz", "https://files.example.invalid/p/foo_bar-1.0.tar.gz"),
        DistFile("foo_bar-0.8.tar.gz", "https://files.example.invalid/p/0.8", yanked=True,
                 coreMetadata=True),
        DistFile("foo_bar-2.0+local-py3-none-any.whl", "https://files.example.invalid/p/2.0%2Blocal"),
    ],
    versions=["0.8", "1.0", "2.0+local", "3.0"],
    status=("deprecated", "use baz"),
)

URL = "https://index.example.invalid/simple/foo-bar/"


class EntryAssertions:
    """
    Field-by-field comparison of L{PageEntry}s (which compare by identity).
    """

    def assertSameEntry(self, actual: Optional[PageEntry], expected: PageEntry) -> None:
        """
        C{actual} holds the same persisted fields as C{expected}.
        """
        assert actual is not None
        self.assertEqual(actual.content, expected.content)  # type: ignore[attr-defined]
        self.assertEqual(actual.url, expected.url)  # type: ignore[attr-defined]
        self.assertEqual(actual.validators, expected.validators)  # type: ignore[attr-defined]
        self.assertEqual(actual.fetchedAt, expected.fetchedAt)  # type: ignore[attr-defined]


class SerializationTests(EntryAssertions, SynchronousTestCase):
    """
    Tests for L{entryToJSON} and L{entryFromJSON}.
    """

    def roundTrip(self, entry: PageEntry) -> PageEntry:
        """
        Serialize and read back.
        """
        return entryFromJSON(entryToJSON(entry))

    def test_projectPage(self) -> None:
        """
        A page with files using every L{DistFile} field, versions and a
        status comes back equal.
        """
        entry = PageEntry(PAGE, URL, Validators('"etag"', "Thu, 01 Jan 2026 00:00:00 GMT"), 1234.5)
        back = self.roundTrip(entry)
        self.assertSameEntry(back, entry)
        self.assertEqual(back.content.files[0], FULL)  # type: ignore[union-attr]

    def test_everyFieldOfDistFile(self) -> None:
        """
        Each L{DistFile} field survives with its type: C{True} stays C{True},
        a reason stays a string, C{None} stays C{None}.
        """
        back = self.roundTrip(PageEntry(PAGE, URL, Validators(), 0.0)).content
        assert isinstance(back, ProjectPage)
        self.assertIs(back.files[2].yanked, True)
        self.assertIs(back.files[2].coreMetadata, True)
        self.assertIs(back.files[1].yanked, False)
        self.assertIsNone(back.files[1].coreMetadata)
        self.assertIsNone(back.files[1].size)
        self.assertEqual(dict(back.files[1].hashes), {})

    def test_noVersionsNoStatus(self) -> None:
        """
        A page without versions or status (an HTML upstream) keeps C{None}
        for both.
        """
        page = ProjectPage(name="foo-bar", files=[FULL])
        back = self.roundTrip(PageEntry(page, URL, Validators(), 1.0)).content
        assert isinstance(back, ProjectPage)
        self.assertIsNone(back.versions)
        self.assertIsNone(back.status)
        self.assertEqual(back, page)

    def test_statusWithoutReason(self) -> None:
        """
        A status without a reason comes back as C{(status, None)}.
        """
        page = ProjectPage(name="foo-bar", status=("archived", None))
        back = self.roundTrip(PageEntry(page, URL, Validators(), 1.0)).content
        self.assertEqual(back.status, ("archived", None))  # type: ignore[union-attr]

    def test_rootList(self) -> None:
        """
        A root list comes back with its names in order.
        """
        entry = PageEntry(ProjectList(names=["Frob", "spam_eggs", "caf\u00e9"]), URL, Validators(etag='"x"'), 9.0)
        self.assertSameEntry(self.roundTrip(entry), entry)

    def test_notFound(self) -> None:
        """
        A "not found" entry comes back as not found, with its URL and time.
        """
        entry = PageEntry(None, URL, Validators(), 77.25)
        back = self.roundTrip(entry)
        self.assertSameEntry(back, entry)
        self.assertFalse(back.found)

    def test_backoffAndRenderedNotPersisted(self) -> None:
        """
        The error backoff and the rendered representations are not stored: a
        restart asks a failing upstream again and renders afresh.
        """
        entry = PageEntry(PAGE, URL, Validators(), 5.0, retryAt=100.0)
        entry.rendered["text/html"] = b"<html>"
        back = self.roundTrip(entry)
        self.assertEqual(back.retryAt, 0.0)
        self.assertEqual(back.rendered, {})

    def test_manyFilesInPieces(self) -> None:
        """
        A page of more than L{CHUNK_FILES} files is serialized in pieces of
        at most that many files, which together are the same JSON as the
        page serialized whole, and it comes back equal.
        """
        files = [
            attrs.evolve(FULL, filename=f"foo_bar-1.{i}.tar.gz", size=i)
            for i in range(2 * CHUNK_FILES + 1)
        ]
        page = attrs.evolve(PAGE, files=files)
        entry = PageEntry(page, URL, Validators('"e"', None), 2.0)
        pieces = list(entryChunks(entry))
        self.assertEqual(len(pieces), 2 + 3 + 1)  # head, name, 3 x files, tail
        data = b"".join(pieces)
        self.assertEqual(json.loads(data), json.loads(_wholeJSON(entry)))
        self.assertEqual(data, _wholeJSON(entry))
        self.assertEqual(entryFromJSON(data).content, page)

    def test_piecesOfEveryKind(self) -> None:
        """
        The pieces of an entry without files, of a root list and of a "not
        found" make the same JSON as each entry serialized whole.
        """
        for entry in [
            PageEntry(ProjectPage(name="empty"), URL, Validators(), 1.0),
            PageEntry(PAGE, URL, Validators('"caf\u00e9"', "x"), 1.5),
            PageEntry(ProjectList(names=["Frob", "caf\u00e9"]), URL, Validators(), 2.0),
            PageEntry(None, URL, Validators(), 3.0),
        ]:
            self.assertEqual(entryToJSON(entry), _wholeJSON(entry))
            self.assertSameEntry(entryFromJSON(b"".join(entryChunks(entry))), entry)

    def test_formatIsVersionedJSON(self) -> None:
        """
        The stored form is UTF-8 JSON marked with a format version.
        """
        data = json.loads(entryToJSON(PageEntry(PAGE, URL, Validators(), 5.0)).decode("utf-8"))
        self.assertEqual(data["version"], 1)
        self.assertEqual(data["content"]["type"], "project")


def _wholeJSON(entry: PageEntry) -> bytes:
    """
    The stored form of C{entry} built whole, as it was before pages were
    written in pieces.
    """
    content: Any = None
    if isinstance(entry.content, ProjectPage):
        page = entry.content
        content = {
            "type": "project",
            "name": page.name,
            "files": [_fileToDict(f) for f in page.files],
            "versions": None if page.versions is None else list(page.versions),
            "status": None if page.status is None else list(page.status),
        }
    elif isinstance(entry.content, ProjectList):
        content = {"type": "list", "names": list(entry.content.names)}
    return json.dumps(
        {
            "version": 1,
            "url": entry.url,
            "etag": entry.validators.etag,
            "lastModified": entry.validators.lastModified,
            "fetchedAt": entry.fetchedAt,
            "content": content,
        },
        separators=(",", ":"),
    ).encode("utf-8")


class AtomicWriteTests(SynchronousTestCase):
    """
    Tests for L{atomicWrite}.
    """

    def test_writes(self) -> None:
        """
        The file gets exactly the data, its parent directories are made, and
        no temporary file is left next to it.
        """
        root = FilePath(self.mktemp())
        target = root.child("a").child("b").child("page.json")
        atomicWrite(target, b"hello")
        self.assertEqual(target.getContent(), b"hello")
        self.assertEqual(target.parent().listdir(), ["page.json"])

    def test_replaces(self) -> None:
        """
        Writing again replaces the content (also with less data) and leaves
        no temporary files.
        """
        root = FilePath(self.mktemp())
        target = root.child("page.json")
        atomicWrite(target, b"a much longer first version")
        atomicWrite(target, b"short")
        self.assertEqual(target.getContent(), b"short")
        self.assertEqual(root.listdir(), ["page.json"])

    def test_pieces(self) -> None:
        """
        Data given in pieces is written one piece after the other.
        """
        root = FilePath(self.mktemp())
        target = root.child("page.json")
        atomicWrite(target, iter([b"one ", b"", b"two"]))
        self.assertEqual(target.getContent(), b"one two")
        self.assertEqual(root.listdir(), ["page.json"])

    def test_failingPieces(self) -> None:
        """
        When the pieces fail part way, the old content stays and no
        temporary file is left.
        """
        root = FilePath(self.mktemp())
        target = root.child("page.json")
        atomicWrite(target, b"old")

        def pieces() -> Iterator[bytes]:
            yield b"new"
            raise ValueError("broken")

        self.assertRaises(ValueError, atomicWrite, target, pieces())
        self.assertEqual(target.getContent(), b"old")
        self.assertEqual(root.listdir(), ["page.json"])

    def test_empty(self) -> None:
        """
        Empty data makes an empty file.
        """
        target = FilePath(self.mktemp())
        atomicWrite(target, b"")
        self.assertEqual(target.getContent(), b"")

    def syncs(self, refuseFolders: bool = False) -> List[str]:
        """
        What is synced from now on, in order: C{"file"} or C{"folder"};
        with C{refuseFolders}, a folder's sync fails as some file systems
        make it fail.
        """
        synced: List[str] = []
        fsync = os.fsync

        def recording(fd: int) -> None:
            synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
            if refuseFolders and synced[-1] == "folder":
                raise OSError(errno.EINVAL, "Invalid argument")
            fsync(fd)

        self.patch(os, "fsync", recording)
        return synced

    def test_durable(self) -> None:
        """
        A durable write syncs the new file's bytes before its rename, and
        its folder after it (an upload's record, a user, a token: a client
        was told they are stored, and a crash must not undo the rename); a
        write that is not durable syncs neither.
        """
        target = FilePath(self.mktemp())
        synced = self.syncs()
        atomicWrite(target, b"kept")
        self.assertEqual(synced, ["file", "folder"])
        del synced[:]
        atomicWrite(target, b"cached", durable=False)
        self.assertEqual(synced, [])

    def test_folderSyncFails(self) -> None:
        """
        A folder that cannot be synced (some file systems refuse it) leaves
        the file written and in place, with a warning.
        """
        target = FilePath(self.mktemp())
        events = logEvents(self)  # type: ignore[arg-type]
        synced = self.syncs(refuseFolders=True)
        atomicWrite(target, b"kept")
        self.assertEqual(synced, ["file", "folder"])
        self.assertEqual(target.getContent(), b"kept")
        self.assertEqual(
            [e["log_format"] for e in events if e.get("log_level") == LogLevel.warn],
            ["Could not sync the folder of {path}: {error}"],
        )


class PageStoreTests(EntryAssertions, SynchronousTestCase):
    """
    Tests for L{PageStore}.
    """

    def setUp(self) -> None:
        self.root = FilePath(self.mktemp())
        self.store = PageStore(self.root)

    def test_missing(self) -> None:
        """
        A page never saved loads as C{None}, also when the directory does not
        exist.
        """
        self.assertIsNone(self.store.load("up1", "foo-bar"))
        self.assertIsNone(self.store.load("up1", None))

    def test_saveLoad(self) -> None:
        """
        A saved page loads back with the same content, URL, validators and
        time.
        """
        entry = PageEntry(PAGE, URL, Validators('"e"', None), 42.0)
        self.store.save("up1", "foo-bar", entry)
        self.assertSameEntry(self.store.load("up1", "foo-bar"), entry)

    def test_contentGoneNotSaved(self) -> None:
        """
        A page whose content is gone (let go from memory, and not read
        back) is not saved: it would be read back as "not found".
        """
        entry = PageEntry(None, URL, Validators('"e"'), 42.0, found=True, loader=lambda: None)
        self.store.save("up1", "foo-bar", entry)
        self.assertIsNone(self.store.load("up1", "foo-bar"))

    def test_layout(self) -> None:
        """
        Pages live at C{<root>/<source>/<name>.json}, the root list at
        C{_root.json}, with no temporary files beside them.
        """
        self.store.save("up1", "foo-bar", PageEntry(PAGE, URL, Validators(), 1.0))
        self.store.save("up1", None, PageEntry(ProjectList(names=["a"]), URL, Validators(), 1.0))
        self.assertEqual(sorted(self.root.child("up1").listdir()), ["_root.json", "foo-bar.json"])

    def test_rootList(self) -> None:
        """
        The root list is stored apart from the projects.
        """
        listEntry = PageEntry(ProjectList(names=["Frob", "foo-bar"]), URL, Validators(), 3.0)
        self.store.save("up1", None, listEntry)
        self.assertSameEntry(self.store.load("up1", None), listEntry)
        self.assertIsNone(self.store.load("up1", "foo-bar"))

    def test_notFound(self) -> None:
        """
        A "not found" is stored and loaded as such (not as a missing entry).
        """
        self.store.save("up1", "nope", PageEntry(None, URL, Validators(), 8.0))
        loaded = self.store.load("up1", "nope")
        assert loaded is not None
        self.assertFalse(loaded.found)
        self.assertEqual(loaded.fetchedAt, 8.0)

    def test_sourcesSeparate(self) -> None:
        """
        The same name under two sources are two entries.
        """
        self.store.save("up1", "foo-bar", PageEntry(PAGE, URL, Validators(), 1.0))
        self.store.save("up2", "foo-bar", PageEntry(None, URL, Validators(), 2.0))
        self.assertTrue(self.store.load("up1", "foo-bar").found)  # type: ignore[union-attr]
        self.assertFalse(self.store.load("up2", "foo-bar").found)  # type: ignore[union-attr]

    def test_overwrite(self) -> None:
        """
        Saving again replaces the stored entry.
        """
        self.store.save("up1", "foo-bar", PageEntry(PAGE, URL, Validators('"1"'), 1.0))
        newer = PageEntry(ProjectPage(name="foo-bar"), URL, Validators('"2"'), 2.0)
        self.store.save("up1", "foo-bar", newer)
        self.assertSameEntry(self.store.load("up1", "foo-bar"), newer)
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.json"])

    def corrupt(self, data: bytes) -> Optional[PageEntry]:
        """
        Store C{data} as the page's file and load it.
        """
        path = self.root.child("up1").child("foo-bar.json")
        path.parent().makedirs(ignoreExistingDirectory=True)
        path.setContent(data)
        return self.store.load("up1", "foo-bar")

    def test_garbage(self) -> None:
        """
        A file that is not JSON (truncated, binary, not UTF-8) loads as
        C{None}.
        """
        good = entryToJSON(PageEntry(PAGE, URL, Validators(), 1.0))
        for data in (b"", good[: len(good) // 2], b"\x00\xff\xfe", b"not json"):
            self.assertIsNone(self.corrupt(data), data)

    def test_wrongShape(self) -> None:
        """
        JSON of the wrong shape (not an object, missing keys, unknown file
        fields) loads as C{None}.
        """
        for value in (
            [],
            "text",
            5,
            {},
            {"url": URL, "etag": None, "lastModified": None, "fetchedAt": 1.0},
            {"url": URL, "etag": None, "lastModified": None, "fetchedAt": 1.0,
             "content": {"type": "project"}},
            {"url": URL, "etag": None, "lastModified": None, "fetchedAt": 1.0,
             "content": {"type": "project", "name": "x", "versions": None, "status": None,
                         "files": [{"filename": "x", "url": "y", "colour": "red"}]}},
            {"url": URL, "etag": None, "lastModified": None, "fetchedAt": 1.0,
             "content": {"type": "list"}},
            {"url": URL, "etag": None, "lastModified": None, "fetchedAt": 1.0,
             "content": {"type": "project", "name": "x", "versions": None, "status": None,
                         "files": "abc"}},
            {"url": URL, "etag": None, "lastModified": None, "fetchedAt": 1.0,
             "content": {"type": "project", "name": "x", "versions": None, "status": None,
                         "files": [["x", "y"]]}},
        ):
            self.assertIsNone(self.corrupt(json.dumps(value).encode()), value)

    def test_corruptDoesNotStopOthers(self) -> None:
        """
        One unreadable page does not affect the others.
        """
        self.store.save("up1", "other", PageEntry(PAGE, URL, Validators(), 1.0))
        self.assertIsNone(self.corrupt(b"{"))
        self.assertIsNotNone(self.store.load("up1", "other"))


PAGE_JSON = json.dumps({
    "meta": {"api-version": "1.1"},
    "name": "foo-bar",
    "files": [{
        "filename": "foo_bar-1.0.tar.gz",
        "url": "../../packages/foo_bar-1.0.tar.gz",
        "hashes": {"sha256": "a" * 64},
        "size": 3,
    }],
}).encode()

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class KeptAsFetchedTests(EntryAssertions, SynchronousTestCase):
    """
    Pages kept as the upstream sent them (L{PageStore.keepFetched}), and
    confirmed unchanged (L{PageStore.confirm}).
    """

    def setUp(self) -> None:
        self.root = FilePath(self.mktemp())
        self.store = PageStore(self.root)

    def keep(self, body: bytes = PAGE_JSON, fetchedAt: float = 7.0) -> None:
        pending = self.store.keepFetched(
            "up1", "foo-bar", URL, Validators('"v1"', "Tue, 01 Jan 2030 00:00:00 GMT"),
            fetchedAt, JSON_TYPE, body,
        )
        pending.commit()

    def test_bytesAsFetched(self) -> None:
        """
        The file holds a first line saying where the page came from and
        when, then the upstream's bytes unchanged; it loads as the page
        parsed from them, relative file URLs resolved against its URL.
        """
        self.keep()
        path = self.root.child("up1").child("foo-bar.page")
        header, _, body = path.getContent().partition(b"\n")
        self.assertEqual(body, PAGE_JSON)
        self.assertEqual(json.loads(header)["contentType"], JSON_TYPE)
        loaded = self.store.load("up1", "foo-bar")
        assert loaded is not None
        self.assertEqual(loaded.validators, Validators('"v1"', "Tue, 01 Jan 2030 00:00:00 GMT"))
        self.assertEqual((loaded.url, loaded.fetchedAt), (URL, 7.0))
        [f] = loaded.content.files  # type: ignore[union-attr]
        self.assertEqual(f.url, "https://index.example.invalid/packages/foo_bar-1.0.tar.gz")
        self.assertEqual(f.sha256, "a" * 64)
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.page"])

    def test_abandonKeepsThePrevious(self) -> None:
        """
        A page written but abandoned (it did not parse) leaves the page
        stored before as it was, and no temporary file.
        """
        self.keep()
        pending = self.store.keepFetched(
            "up1", "foo-bar", URL, Validators(), 9.0, JSON_TYPE, b"{not json"
        )
        pending.abandon()
        self.assertEqual(self.store.load("up1", "foo-bar").fetchedAt, 7.0)  # type: ignore[union-attr]
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.page"])

    def test_failedCommitRemovesThePrevious(self) -> None:
        """
        A page written but not put in place (the rename failed) removes the
        page stored before, kept as fetched or parsed: the page served now
        is the newer one, which the older must not be read back as.
        """
        self.keep()
        self.store.save("up1", "baz", PageEntry(PAGE, URL, Validators(), 1.0))
        pending = [
            self.store.keepFetched("up1", name, URL, Validators('"v2"'), 9.0, JSON_TYPE, PAGE_JSON)
            for name in ("foo-bar", "baz")
        ]

        def failingRename(src: str, dst: str) -> None:
            raise OSError(errno.EIO, "I/O error")

        self.patch(pagestoreModule.os, "replace", failingRename)
        for page in pending:
            self.assertRaises(OSError, page.commit)
        self.assertEqual(self.root.child("up1").listdir(), [])

    def test_remove(self) -> None:
        """
        L{PageStore.remove} removes the stored page, as fetched or parsed,
        and is content with none.
        """
        self.keep()
        self.store.remove("up1", "foo-bar")
        self.assertEqual(self.root.child("up1").listdir(), [])
        self.store.save("up1", "foo-bar", PageEntry(PAGE, URL, Validators(), 1.0))
        self.store.remove("up1", "foo-bar")
        self.store.remove("up1", "foo-bar")
        self.assertIsNone(self.store.load("up1", "foo-bar"))

    def test_confirmKeepsTheBytes(self) -> None:
        """
        A page confirmed unchanged gets a new time and validators and keeps
        its bytes (a page of many megabytes is not encoded again).
        """
        self.keep()
        loaded = self.store.load("up1", "foo-bar")
        assert loaded is not None
        confirmed = PageEntry(loaded.content, URL, Validators('"v2"'), 99.0)
        self.store.confirm("up1", "foo-bar", confirmed)
        self.assertSameEntry(self.store.load("up1", "foo-bar"), confirmed)
        path = self.root.child("up1").child("foo-bar.page")
        self.assertEqual(path.getContent().partition(b"\n")[2], PAGE_JSON)
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.page"])

    def test_confirmParsedCopy(self) -> None:
        """
        A page stored in its parsed form (by an older cheesecache) and
        confirmed unchanged is stored parsed again.
        """
        entry = PageEntry(PAGE, URL, Validators('"1"'), 1.0)
        self.store.save("up1", "foo-bar", entry)
        confirmed = PageEntry(PAGE, URL, Validators('"1"'), 50.0)
        self.store.confirm("up1", "foo-bar", confirmed)
        self.assertSameEntry(self.store.load("up1", "foo-bar"), confirmed)
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.json"])

    def test_eachReplacesTheOther(self) -> None:
        """
        A page kept as fetched replaces its parsed copy, and the other way
        round (a page that went away upstream is stored as "not found").
        """
        self.store.save("up1", "foo-bar", PageEntry(PAGE, URL, Validators(), 1.0))
        self.keep(fetchedAt=2.0)
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.page"])
        self.assertEqual(self.store.load("up1", "foo-bar").fetchedAt, 2.0)  # type: ignore[union-attr]
        self.store.save("up1", "foo-bar", PageEntry(None, URL, Validators(), 3.0))
        self.assertEqual(self.root.child("up1").listdir(), ["foo-bar.json"])
        self.assertFalse(self.store.load("up1", "foo-bar").found)  # type: ignore[union-attr]

    def test_cutShort(self) -> None:
        """
        The first line says how long the bytes are: a page whose bytes were
        cut short (a crash: pages are written without a sync) loads as
        C{None}, and is not read as fetched either, though an HTML page cut
        short would parse, listing fewer files.  Confirmed by a 304, it
        stays so.
        """
        html = b"".join(
            b'<a href="../../packages/foo_bar-1.%d.tar.gz">foo_bar-1.%d.tar.gz</a>\n' % (i, i)
            for i in range(3)
        )
        self.store.keepFetched(
            "up1", "foo-bar", URL, Validators('"v1"'), 7.0, "text/html", html
        ).commit()
        path = self.root.child("up1").child("foo-bar.page")
        header, _, body = path.getContent().partition(b"\n")
        self.assertEqual(json.loads(header)["length"], len(html))
        self.assertEqual(len(self.store.load("up1", "foo-bar").content.files), 3)  # type: ignore[union-attr]
        path.setContent(path.getContent()[:-30])
        self.assertIsNone(self.store.load("up1", "foo-bar"))
        self.assertIsNone(self.store.readFetched("up1", "foo-bar"))
        confirmed = PageEntry(PAGE, URL, Validators('"v1"'), 99.0)
        self.store.confirm("up1", "foo-bar", confirmed)
        self.assertIsNone(self.store.load("up1", "foo-bar"))

    def test_withoutLength(self) -> None:
        """
        A page kept by an older cheesecache, whose first line does not say
        how long its bytes are, is read as it was, and stays so confirmed.
        """
        path = self.root.child("up1").child("foo-bar.page")
        path.parent().makedirs()
        header = {
            "version": 2, "url": URL, "etag": '"v1"', "lastModified": None, "fetchedAt": 1,
            "contentType": JSON_TYPE,
        }
        path.setContent(json.dumps(header).encode() + b"\n" + PAGE_JSON)
        loaded = self.store.load("up1", "foo-bar")
        assert loaded is not None
        self.assertEqual(loaded.fetchedAt, 1.0)
        self.store.confirm("up1", "foo-bar", PageEntry(loaded.content, URL, loaded.validators, 9.0))
        self.assertEqual(self.store.load("up1", "foo-bar").fetchedAt, 9.0)  # type: ignore[union-attr]
        self.assertNotIn("length", json.loads(path.getContent().partition(b"\n")[0]))

    def test_unreadable(self) -> None:
        """
        A page file whose first line is not ours, or whose bytes no longer
        parse, loads as C{None}.
        """
        path = self.root.child("up1").child("foo-bar.page")
        path.parent().makedirs()
        good = b'{"version":2,"url":"u","etag":null,"lastModified":null,"fetchedAt":1,"contentType":"%s"}\n' % JSON_TYPE.encode()
        for data in (b"", b"{}\n" + PAGE_JSON, b"not json\n", good + b"{truncated", b"\xff\n"):
            path.setContent(data)
            self.assertIsNone(self.store.load("up1", "foo-bar"), data)
        path.setContent(good + PAGE_JSON)
        self.assertIsNotNone(self.store.load("up1", "foo-bar"))


class _StoredPage(SynchronousTestCase):
    """
    A page store, and a page of C{foo-bar} kept in it as fetched.
    """

    def setUp(self) -> None:
        self.root = FilePath(self.mktemp())
        self.store = PageStore(self.root)

    def keep(self, body: bytes, contentType: str = JSON_TYPE) -> None:
        self.store.keepFetched(
            "up1", "foo-bar", URL, Validators(), 1.0, contentType, body
        ).commit()


class FindFileTests(_StoredPage):
    """
    L{PageStore.findFile}: one file from a stored page, without the rest.
    """

    def test_found(self) -> None:
        """
        A listed file comes back as the whole page's parsing makes it.
        """
        self.keep(PAGE_JSON)
        whole = self.store.load("up1", "foo-bar").content.files[0]  # type: ignore[union-attr]
        found = self.store.findFile("up1", "foo-bar", "a" * 64, "foo_bar-1.0.tar.gz")
        self.assertEqual(found, whole)

    def test_notListed(self) -> None:
        """
        A file the stored page does not list, or lists under another key:
        L{pagestoreModule.FileNotListed}.
        """
        self.keep(PAGE_JSON)
        for key, filename in (("a" * 64, "other-1.0.tar.gz"), ("b" * 64, "foo_bar-1.0.tar.gz")):
            self.assertRaises(
                pagestoreModule.FileNotListed,
                self.store.findFile, "up1", "foo-bar", key, filename,
            )

    def test_notThere(self) -> None:
        """
        A page never stored, an HTML page, or an unreadable one: C{None}
        (the page must be read).
        """
        self.assertIsNone(self.store.findFile("up1", "foo-bar", "a" * 64, "foo_bar-1.0.tar.gz"))
        html = b'<a href="../../packages/foo_bar-1.0.tar.gz#sha256=' + b"a" * 64 + b'">foo_bar-1.0.tar.gz</a>'
        self.keep(html, "text/html")
        self.assertIsNone(self.store.findFile("up1", "foo-bar", "a" * 64, "foo_bar-1.0.tar.gz"))
        self.keep(b'{"meta": {"api-version": "1.0"}, "files": [{"filename"')
        self.assertIsNone(self.store.findFile("up1", "foo-bar", "a" * 64, "foo_bar-1.0.tar.gz"))


class ReadRestTests(SynchronousTestCase):
    """
    L{pagestoreModule.readRest} reads what is left of a file.
    """

    def test_file(self) -> None:
        """
        After the first line of a file on disk, the rest, whole, in one
        read of its size, and then one more that finds its end.
        """
        path = FilePath(self.mktemp())
        rest = bytes(range(256)) * 5000
        path.setContent(b'{"first": "line"}\n' + rest)
        reads = []
        with path.open("rb") as f:
            f.readline()
            real = f.read

            class Counting:
                def __getattr__(self, name: str) -> Any:
                    return getattr(f, name)

                def read(self, size: int = -1) -> bytes:
                    reads.append(size)
                    return real(size)

            self.assertEqual(pagestoreModule.readRest(Counting()), rest)  # type: ignore[arg-type]
        self.assertEqual(reads, [len(rest), -1])

    def test_noFileDescriptor(self) -> None:
        """
        A file without a descriptor is read to its end as it is.
        """
        f = io.BytesIO(b"first\nrest")
        f.readline()
        self.assertEqual(pagestoreModule.readRest(f), b"rest")
