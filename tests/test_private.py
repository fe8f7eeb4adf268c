"""
Tests for L{cheesecache.private} and L{cheesecache.privaterecord}: uploads
kept in the blob store with a per-project record, served through the same
model as upstream pages, yanked, unyanked, deleted and imported.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from typing import List

import attrs
from twisted.internet.task import Clock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.blobstore import BlobStore
from cheesecache.multipart import Form, parseMultipart
from cheesecache.private import CorruptRecord, NoSuchFile, NoSuchProject, PrivateStore
from cheesecache.privaterecord import (
    PRIVATE_URL_PREFIX,
    PrivateFile,
    ProjectRecord,
    formatUploadTime,
    recordFromJSON,
    recordToJSON,
)
from cheesecache.simple.render import renderProjectHTML, renderProjectJSON
from cheesecache.uploadcheck import Accepted, AlreadyUploaded, Rejection, UploadPolicy

from .uploadforms import encode, twineParts, uvParts
from .wheels import makeSdist, makeWheel, metadataText

B = "privateboundary"

#: 2026-01-01T00:00:00Z
NEW_YEAR = 1767225600.0


def freezeStamps(testCase: SynchronousTestCase, *paths: FilePath) -> None:
    """
    Make C{os.stat} report C{paths} as a filesystem with whole-second times
    that reuses freed inodes (as ext4 does) would, for changes made within
    the second: with the modification time and inode they have now,
    whatever replaces them later; only their size stays true.
    """
    real = os.stat
    frozen = {p.path: real(p.path) for p in paths}

    def stat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        st = real(path, *args, **kwargs)
        first = frozen.get(os.fspath(path))
        if first is None:
            return st
        values = list(st)
        values[1], values[8] = first.st_ino, first[8]
        return os.stat_result(
            values,
            {
                "st_mtime": first.st_mtime,
                "st_mtime_ns": first.st_mtime_ns,
                "st_atime_ns": st.st_atime_ns,
                "st_ctime_ns": st.st_ctime_ns,
            },
        )

    testCase.patch(os, "stat", stat)


def sdistHolding(member: str, data: bytes) -> bytes:
    """
    A gzipped tar holding C{data} as its one member, C{member}.
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return out.getvalue()

class StoreTestsMixin:
    def setUp(self) -> None:
        self.dataDir = FilePath(self.mktemp())  # type: ignore[attr-defined]
        self.blobs = BlobStore(self.dataDir)
        self.clock = Clock()
        self.clock.advance(NEW_YEAR)
        self.store = PrivateStore(self.dataDir, self.blobs, self.clock)
        self.changes: List[str] = []
        self.store.subscribe(self.changes.append)

    def form(self, parts: list) -> Form:  # type: ignore[type-arg]
        form = parseMultipart(
            io.BytesIO(encode(parts, B)), B.encode(), self.blobs.tmp, 10 * 1024 * 1024
        )
        self.addCleanup(form.discard)  # type: ignore[attr-defined]
        return form

    def upload(self, name: str, version: str, filename: str, data: bytes, user: str = "alice"):  # type: ignore[no-untyped-def]
        form = self.form(twineParts(name, version, filename, data))
        try:
            return self.store.add(form, user)
        finally:
            form.discard()


class UploadTests(StoreTestsMixin, SynchronousTestCase):
    """
    L{PrivateStore.add}.
    """

    def test_keepsBytesMetadataAndRecord(self) -> None:
        """
        An accepted wheel is in the blob store under its sha256, its METADATA
        under C{<sha256>.metadata}, and the record lists it with the upload
        time, size, requires-python and core-metadata hash.
        """
        filename, data = makeWheel("foo-bar", "1.1", requiresPython=">=3.9")
        self.clock.advance(0.25)
        decision = self.upload("foo-bar", "1.1", filename, data)
        self.assertIsInstance(decision, Accepted)
        sha256 = hashlib.sha256(data).hexdigest()
        self.assertEqual(self.blobs.path(sha256).getContent(), data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            metadata = z.read("foo_bar-1.1.dist-info/METADATA")
        self.assertEqual(self.blobs.path(sha256 + ".metadata").getContent(), metadata)
        page = self.store.page("Foo_Bar")
        assert page is not None
        self.assertEqual(page.name, "foo-bar")
        (f,) = page.files
        self.assertEqual(f.filename, filename)
        self.assertEqual(f.url, PRIVATE_URL_PREFIX + filename)
        self.assertEqual(f.key, sha256)
        self.assertEqual(dict(f.hashes), {"sha256": sha256})
        self.assertEqual(f.size, len(data))
        self.assertEqual(f.uploadTime, "2026-01-01T00:00:00.250000Z")
        self.assertEqual(f.requiresPython, ">=3.9")
        self.assertEqual(f.coreMetadata, {"sha256": hashlib.sha256(metadata).hexdigest()})
        self.assertFalse(f.yanked)
        self.assertTrue(self.dataDir.child("private").child("foo-bar.json").isfile())
        self.assertEqual(self.changes, ["foo-bar"])

    def test_recordRenameSynced(self) -> None:
        """
        Saving a record syncs the private folder after the rename, as a
        blob's commit does: otherwise a crash soon after an upload was
        answered with 200 (or after a yank or delete) could bring the old
        record back, without the file the client was told is there.
        """
        events: List[object] = []
        replace, fsync = os.replace, os.fsync

        def spyReplace(src: str, dst: str) -> None:
            replace(src, dst)
            events.append(("replace", dst))

        def spyFsync(fd: int) -> None:
            events.append(("fsync", os.fstat(fd).st_ino))
            fsync(fd)

        self.patch(os, "replace", spyReplace)
        self.patch(os, "fsync", spyFsync)
        self.assertIsInstance(self.upload("foo-bar", "1.1", *makeWheel("foo-bar", "1.1")), Accepted)
        private = self.dataDir.child("private")
        renamed = events.index(("replace", private.child("foo-bar.json").path))
        self.assertIn(("fsync", os.stat(private.path).st_ino), events[renamed:])
        del events[:]
        self.store.yank("foo-bar", "1.1")
        self.assertEqual(events[-1], ("fsync", os.stat(private.path).st_ino))

    def test_recordKeepsUploaderAndFields(self) -> None:
        """
        The record keeps the uploader, the digests and every repeated
        metadata value sent.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        self.upload("foo-bar", "1.1", filename, data, user="carol")
        record = self.store.record("foo-bar")
        assert record is not None
        f = record.fileNamed(filename)
        assert f is not None
        self.assertEqual(f.uploader, "carol")
        self.assertEqual(f.md5, hashlib.md5(data).hexdigest())
        self.assertEqual(f.blake2_256, hashlib.blake2b(data, digest_size=32).hexdigest())
        self.assertEqual(len(f.metadata["classifiers"]), 3)
        self.assertEqual(len(f.metadata["requires_dist"]), 2)

    def test_contentMovedNotCopied(self) -> None:
        """
        The spooled upload becomes the blob by a rename: nothing is left in
        the temporary directory.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        form = self.form(twineParts("foo-bar", "1.1", filename, data))
        self.store.add(form, "alice")
        part = form.file("content")
        assert part is not None and part.path is not None
        self.assertFalse(part.path.exists())
        self.assertEqual(self.blobs.tmp.children(), [])

    def test_uvUploadNoContentType(self) -> None:
        """
        uv's upload (no part Content-Type, empty requires_python) is kept,
        with requires-python from the wheel's metadata.
        """
        filename, data = makeWheel("foo-bar", "1.1", requiresPython=">=3.10")
        form = self.form(uvParts("foo-bar", "1.1", filename, data))
        self.assertIsInstance(self.store.add(form, "alice"), Accepted)
        page = self.store.page("foo-bar")
        assert page is not None
        self.assertEqual(page.files[0].requiresPython, ">=3.10")

    def test_identicalReuploadChangesNothing(self) -> None:
        """
        Re-uploading the same file answers L{AlreadyUploaded} and keeps the
        first upload time.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        self.upload("foo-bar", "1.1", filename, data)
        self.clock.advance(60)
        self.assertEqual(self.upload("foo-bar", "1.1", filename, data), AlreadyUploaded(filename))
        page = self.store.page("foo-bar")
        assert page is not None
        self.assertEqual(page.files[0].uploadTime, "2026-01-01T00:00:00.000000Z")
        self.assertEqual(self.changes, ["foo-bar"])

    def test_differentBytesRefused(self) -> None:
        """
        Other bytes under an uploaded filename are refused and the first
        file stays.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        self.upload("foo-bar", "1.1", filename, data)
        _, other = makeWheel("foo-bar", "1.1", requires=["attrs"])
        decision = self.upload("foo-bar", "1.1", filename, other)
        assert isinstance(decision, Rejection)
        self.assertTrue(decision.message.startswith("File already exists"))
        page = self.store.page("foo-bar")
        assert page is not None
        self.assertEqual(page.files[0].sha256, hashlib.sha256(data).hexdigest())
        self.assertFalse(self.blobs.exists(hashlib.sha256(other).hexdigest()))

    def test_sizeLimit(self) -> None:
        """
        The store's policy limits the size; a refused file leaves nothing.
        """
        self.store.policy = UploadPolicy(maxFileSize=100)
        filename, data = makeWheel("foo-bar", "1.1")
        decision = self.upload("foo-bar", "1.1", filename, data)
        self.assertEqual(
            decision, Rejection(400, "File too large. Limit for project 'foo-bar' is 100 bytes.")
        )
        self.assertIsNone(self.store.page("foo-bar"))
        self.assertFalse(self.blobs.exists(hashlib.sha256(data).hexdigest()))

    def test_displayNameFollowsUploads(self) -> None:
        """
        The project's display name is the one of its latest upload; the
        record is found under any spelling.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        self.upload("foo-bar", "1.1", filename, data)
        filename, data = makeWheel("foo-bar", "1.2")
        self.upload("Foo-Bar", "1.2", filename, data)
        self.assertEqual(self.store.projects(), ("Foo-Bar",))
        self.assertTrue(self.store.hasProject("FOO.bar"))
        self.assertFalse(self.store.hasProject("other"))
        self.assertIsNone(self.store.page("other"))
        self.assertFalse(self.store.hasProject("../etc"))

    def test_bothFormatsFromOneRecord(self) -> None:
        """
        The JSON and HTML pages both show the upload with its hash, size,
        upload time and core metadata.
        """
        filename, data = makeWheel("foo-bar", "1.1", requiresPython=">=3.9")
        self.upload("foo-bar", "1.1", filename, data)
        page = self.store.page("foo-bar")
        assert page is not None
        sha256 = hashlib.sha256(data).hexdigest()
        (entry,) = json.loads(renderProjectJSON(page))["files"]
        self.assertEqual(entry["hashes"], {"sha256": sha256})
        self.assertEqual(entry["upload-time"], "2026-01-01T00:00:00.000000Z")
        self.assertEqual(entry["size"], len(data))
        self.assertEqual(entry["url"], f"../../files/foo-bar/{sha256}/{filename}")
        self.assertIn("sha256", entry["core-metadata"])
        html = renderProjectHTML(page).decode()
        self.assertIn(f"#sha256={sha256}", html)
        self.assertIn('data-requires-python="&gt;=3.9"', html)
        self.assertIn("data-core-metadata=\"sha256=", html)


class YankDeleteTests(StoreTestsMixin, SynchronousTestCase):
    """
    Yanking, unyanking and deleting files and releases.
    """

    def setUp(self) -> None:
        StoreTestsMixin.setUp(self)
        self.wheel = makeWheel("foo-bar", "1.1")
        self.sdist = makeSdist("foo-bar", "1.1")
        self.newer = makeWheel("foo-bar", "1.2")
        for filename, data in (self.wheel, self.sdist):
            self.upload("foo-bar", "1.1", filename, data)
        self.upload("foo-bar", "1.2", *self.newer)
        del self.changes[:]

    def yanked(self) -> dict:  # type: ignore[type-arg]
        page = self.store.page("foo-bar")
        assert page is not None
        return {f.filename: f.yanked for f in page.files}

    def test_yankFileWithReason(self) -> None:
        """
        Yanking one file with a reason shows the reason on both formats.
        """
        self.assertEqual(self.store.yank("foo-bar", self.wheel[0], "broken"), (self.wheel[0],))
        self.assertEqual(self.yanked()[self.wheel[0]], "broken")
        self.assertFalse(self.yanked()[self.sdist[0]])
        page = self.store.page("foo-bar")
        assert page is not None
        files = {f["filename"]: f for f in json.loads(renderProjectJSON(page))["files"]}
        self.assertEqual(files[self.wheel[0]]["yanked"], "broken")
        self.assertNotIn("yanked", files[self.sdist[0]])
        self.assertIn('data-yanked="broken"', renderProjectHTML(page).decode())
        self.assertEqual(self.changes, ["foo-bar"])

    def test_yankWithoutReason(self) -> None:
        """
        A yank without a reason is C{true} in JSON and C{data-yanked=""} in
        HTML (pip ignores a bare attribute).
        """
        self.store.yank("foo-bar", self.wheel[0], "")
        page = self.store.page("foo-bar")
        assert page is not None
        files = {f["filename"]: f for f in json.loads(renderProjectJSON(page))["files"]}
        self.assertIs(files[self.wheel[0]]["yanked"], True)
        self.assertIn('data-yanked=""', renderProjectHTML(page).decode())

    def test_yankRelease(self) -> None:
        """
        Yanking a version yanks every file of that release, under any
        spelling of the version, and no other.
        """
        yanked = self.store.yank("foo-bar", "1.1.0", "old")
        self.assertEqual(set(yanked), {self.wheel[0], self.sdist[0]})
        self.assertEqual(
            self.yanked(), {self.wheel[0]: "old", self.sdist[0]: "old", self.newer[0]: False}
        )

    def test_unyank(self) -> None:
        """
        Unyanking restores the files.
        """
        self.store.yank("foo-bar", "1.1", "old")
        self.store.unyank("foo-bar", self.sdist[0])
        self.assertEqual(self.yanked()[self.sdist[0]], False)
        self.store.unyank("foo-bar", "1.1")
        self.assertFalse(any(self.yanked().values()))

    def test_unknownTargets(self) -> None:
        """
        Unknown projects and targets raise L{NoSuchProject} and
        L{NoSuchFile}, changing nothing.
        """
        self.assertRaises(NoSuchProject, self.store.yank, "nope", "1.0")
        self.assertRaises(NoSuchFile, self.store.yank, "foo-bar", "9.9")
        self.assertRaises(NoSuchFile, self.store.delete, "foo-bar", "other-1.0.tar.gz")
        self.assertEqual(self.changes, [])

    def test_deleteFile(self) -> None:
        """
        A deleted file leaves the page and the blob store, and its filename
        can never be uploaded again, even with the same bytes.
        """
        filename, data = self.wheel
        sha256 = hashlib.sha256(data).hexdigest()
        self.assertEqual(self.store.delete("foo-bar", filename), (filename,))
        self.assertNotIn(filename, self.yanked())
        self.assertFalse(self.blobs.exists(sha256))
        self.assertFalse(self.blobs.exists(sha256 + ".metadata"))
        decision = self.upload("foo-bar", "1.1", filename, data)
        self.assertEqual(
            decision,
            Rejection(
                400,
                "This filename was previously used by a file that has since "
                "been deleted. Use a different version.",
            ),
        )

    def test_deleteRelease(self) -> None:
        """
        Deleting a version removes all its files and keeps the others.
        """
        deleted = self.store.delete("foo-bar", "1.1")
        self.assertEqual(set(deleted), {self.wheel[0], self.sdist[0]})
        self.assertEqual(list(self.yanked()), [self.newer[0]])

    def test_emptiedProjectStaysPrivate(self) -> None:
        """
        A project whose files are all deleted is still private (its name
        never falls through to an upstream), with an empty page.
        """
        self.store.delete("foo-bar", "1.1")
        self.store.delete("foo-bar", "1.2")
        self.assertTrue(self.store.hasProject("foo-bar"))
        page = self.store.page("foo-bar")
        assert page is not None
        self.assertEqual(page.files, ())
        self.assertEqual(self.store.projects(), ("foo-bar",))

    def test_sharedBytesKept(self) -> None:
        """
        Deleting a file whose bytes another private file also has keeps the
        blob until the last one goes.
        """
        _, data = makeSdist("aaa", "1.0")
        self.upload("aaa", "1.0", "aaa-1.0.tar.gz", data)
        # Uploads now refuse an sdist whose PKG-INFO names another project;
        # records kept before did not.
        aaa = self.store.record("aaa")
        assert aaa is not None
        self.dataDir.child("private").child("bbb.json").setContent(
            recordToJSON(
                ProjectRecord(name="bbb", files=[attrs.evolve(aaa.files[0], filename="bbb-1.0.tar.gz")])
            )
        )
        sha256 = hashlib.sha256(data).hexdigest()
        self.store.delete("aaa", "aaa-1.0.tar.gz")
        self.assertTrue(self.blobs.exists(sha256))
        self.store.delete("bbb", "1.0")
        self.assertFalse(self.blobs.exists(sha256))

    def test_otherProcessSeesChanges(self) -> None:
        """
        A second store on the same directory (the command-line tool) sees
        and makes changes that the first one sees at once.
        """
        other = PrivateStore(self.dataDir, BlobStore(self.dataDir), self.clock)
        self.assertEqual(self.store.page("foo-bar"), other.page("foo-bar"))
        other.yank("foo-bar", self.newer[0], "from the CLI")
        self.assertEqual(self.yanked()[self.newer[0]], "from the CLI")

    def test_otherProcessSeesChangesWithinTheSecond(self) -> None:
        """
        A change by another process (the command-line tool) is seen even
        when the record's new file has the old one's modification time,
        size and inode (a filesystem with whole-second times that reuses
        inodes, a change within the second), and a change then made by this
        store keeps it rather than writing back what it read before.
        """
        other = PrivateStore(self.dataDir, BlobStore(self.dataDir), self.clock)
        other.yank("foo-bar", self.wheel[0], "reason A")
        self.assertEqual(self.yanked()[self.wheel[0]], "reason A")
        freezeStamps(self, self.dataDir.child("private").child("foo-bar.json"))
        self.assertEqual(self.yanked()[self.wheel[0]], "reason A")
        other.yank("foo-bar", self.wheel[0], "reason B")
        self.assertEqual(self.yanked()[self.wheel[0]], "reason B")
        self.store.yank("foo-bar", self.newer[0])
        fresh = PrivateStore(self.dataDir, BlobStore(self.dataDir), self.clock)
        page = fresh.page("foo-bar")
        assert page is not None
        self.assertEqual(
            {f.filename: f.yanked for f in page.files},
            {self.wheel[0]: "reason B", self.sdist[0]: False, self.newer[0]: True},
        )

    def test_corruptRecord(self) -> None:
        """
        An unreadable record raises L{CorruptRecord}: the project is never
        treated as absent.
        """
        self.dataDir.child("private").child("foo-bar.json").setContent(b"{not json")
        self.assertRaises(CorruptRecord, self.store.page, "foo-bar")

    def test_unreadableRecord(self) -> None:
        """
        A record that cannot be read at all (here a folder in its place; a
        file the server's user may not read is the same) raises
        L{CorruptRecord} too, as an unparsable one does: not an L{OSError},
        which the private source lets through as a traceback.
        """
        record = self.dataDir.child("private").child("foo-bar.json")
        record.remove()
        record.makedirs()
        self.assertRaises(CorruptRecord, self.store.page, "foo-bar")
        self.assertRaises(CorruptRecord, self.store.projects)


class RecordTests(SynchronousTestCase):
    """
    L{ProjectRecord} and its JSON form.
    """

    def test_roundTrip(self) -> None:
        """
        A record survives JSON with every field.
        """
        record = ProjectRecord(
            name="Foo.Bar",
            files=[
                PrivateFile(
                    filename="foo_bar-1.0-py3-none-any.whl", version="1.0", filetype="bdist_wheel",
                    size=3, sha256="a" * 64, md5="b" * 32, blake2_256="c" * 64,
                    uploadTime="2026-01-01T00:00:00.000000Z", requiresPython=">=3.8",
                    metadataSha256="d" * 64, yanked="reason", uploader="alice", pyversion="py3",
                    metadata={"classifiers": ["a", "b"]},
                ),
                PrivateFile(
                    filename="foo_bar-1.0.tar.gz", version="1.0", filetype="sdist", size=4,
                    sha256="e" * 64, md5="f" * 32, blake2_256="0" * 64,
                    uploadTime="2026-01-01T00:00:01.000000Z", yanked=True,
                ),
            ],
            deleted=["foo_bar-0.9.tar.gz"],
        )
        self.assertEqual(recordFromJSON(recordToJSON(record)), record)

    def test_malformed(self) -> None:
        """
        Malformed or unknown-format JSON raises ValueError.
        """
        for data in [b"[]", b'{"format": 2}', b'{"format": 1, "name": "x", "files": [{}]}', b"nope"]:
            self.assertRaises(ValueError, recordFromJSON, data)

    def test_uploadTimeFormat(self) -> None:
        """
        Upload times are PEP 700's yyyy-mm-ddThh:mm:ss.ffffffZ in UTC.
        """
        self.assertEqual(formatUploadTime(NEW_YEAR + 1.5), "2026-01-01T00:00:01.500000Z")


class ImportTests(StoreTestsMixin, SynchronousTestCase):
    """
    L{PrivateStore.importDirectory} on pypiserver-style directories.
    """

    def test_flatAndNested(self) -> None:
        """
        Distributions at the top and in per-project folders are imported
        with their hashes, metadata and modification times; other files are
        reported as skipped.
        """
        source = FilePath(self.mktemp())
        source.makedirs()
        wheel = makeWheel("alpha", "1.0", requiresPython=">=3.8")
        source.child(wheel[0]).setContent(wheel[1])
        os.utime(source.child(wheel[0]).path, (NEW_YEAR - 86400, NEW_YEAR - 86400))
        source.child("beta").makedirs()
        sdist = makeSdist("beta", "2.0")
        source.child("beta").child(sdist[0]).setContent(sdist[1])
        source.child("README.txt").setContent(b"hello")
        source.child(".hidden").makedirs()
        source.child(".hidden").child("x-1.0.tar.gz").setContent(b"x")
        report = self.store.importDirectory(source)
        self.assertEqual(set(report.imported), {wheel[0], sdist[0]})
        self.assertEqual([p for p, _ in report.skipped], ["README.txt"])
        self.assertEqual(self.store.projects(), ("alpha", "beta"))
        alpha = self.store.page("alpha")
        assert alpha is not None
        (f,) = alpha.files
        self.assertEqual(f.sha256, hashlib.sha256(wheel[1]).hexdigest())
        self.assertEqual(f.uploadTime, "2025-12-31T00:00:00.000000Z")
        self.assertEqual(f.requiresPython, ">=3.8")
        self.assertTrue(f.coreMetadata)
        self.assertTrue(self.blobs.exists(f.sha256 + ".metadata"))
        self.assertEqual(self.blobs.path(f.sha256).getContent(), wheel[1])
        self.assertTrue(source.child(wheel[0]).exists())
        self.assertEqual(self.blobs.tmp.children(), [])

    def test_reimportSkips(self) -> None:
        """
        Importing the same directory again adds nothing and says why.
        """
        source = FilePath(self.mktemp())
        source.makedirs()
        wheel = makeWheel("alpha", "1.0")
        source.child(wheel[0]).setContent(wheel[1])
        self.store.importDirectory(source)
        report = self.store.importDirectory(source)
        self.assertEqual(report.imported, ())
        self.assertEqual(report.skipped, ((wheel[0], "already imported"),))

    def test_brokenAndConflicting(self) -> None:
        """
        A broken archive and a file conflicting with an upload are skipped
        with their reasons; the rest is imported.
        """
        filename, data = makeWheel("alpha", "1.0")
        self.upload("alpha", "1.0", filename, data)
        source = FilePath(self.mktemp())
        source.makedirs()
        _, other = makeWheel("alpha", "1.0", requires=["attrs"])
        source.child(filename).setContent(other)
        source.child("gamma-1.0.tar.gz").setContent(b"not a tar")
        good = makeSdist("alpha", "1.0")
        source.child(good[0]).setContent(good[1])
        report = self.store.importDirectory(source)
        self.assertEqual(report.imported, (good[0],))
        reasons = dict(report.skipped)
        self.assertTrue(reasons[filename].startswith("File already exists"))
        self.assertEqual(reasons["gamma-1.0.tar.gz"], "Invalid distribution file. File is not a tarfile")

    def sourceDir(self, *files: "tuple[str, bytes]") -> FilePath:
        source = FilePath(self.mktemp())
        source.makedirs()
        for filename, data in files:
            source.child(filename).setContent(data)
        return source

    def test_legacyPostReleaseSdist(self) -> None:
        """
        An sdist named the old way, with a hyphen in its post-release
        version (C{foo-1.0-1.tar.gz}, version C{1.0.post1}), is imported as
        project C{foo}, version C{1.0.post1}, as an upload of it would be;
        not skipped as if its metadata were for another project than
        C{foo-1-0}.
        """
        sdist = sdistHolding("foo-1.0-1/PKG-INFO", metadataText("foo", "1.0.post1"))
        report = self.store.importDirectory(self.sourceDir(("foo-1.0-1.tar.gz", sdist)))
        self.assertEqual((report.imported, report.skipped), (("foo-1.0-1.tar.gz",), ()))
        record = self.store.record("foo")
        assert record is not None
        self.assertEqual([f.version for f in record.files], ["1.0.post1"])

    def test_sdistWithoutNameInMetadata(self) -> None:
        """
        An sdist whose PKG-INFO has no C{Name} goes to the project its
        filename names, hyphens included (C{foo-bar-1.0.tar.gz} is
        C{foo-bar}), not to the part before the first hyphen.
        """
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as t:
            data = b"Metadata-Version: 1.0\nVersion: 1.0\n\n"
            info = tarfile.TarInfo("foo-bar-1.0/PKG-INFO")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        report = self.store.importDirectory(self.sourceDir(("foo-bar-1.0.tar.gz", out.getvalue())))
        self.assertEqual(report.imported, ("foo-bar-1.0.tar.gz",))
        self.assertEqual(self.store.projects(), ("foo-bar",))

    def test_invalidProjectNameSkipped(self) -> None:
        """
        A distribution whose project name is not a valid one (C{_foo}:
        names start with a letter or digit) is skipped, as its upload would
        be: its record could never be found, so its page would never be
        served nor its blob protected from eviction.
        """
        wheel = makeWheel("_foo", "1.0")
        report = self.store.importDirectory(self.sourceDir(wheel))
        self.assertEqual(report.imported, ())
        self.assertEqual([p for p, _ in report.skipped], [wheel[0]])
        self.assertEqual(self.dataDir.child("private").globChildren("*.json"), [])

    def test_linkedFolderLoop(self) -> None:
        """
        A link to a folder already walked (C{latest -> .}, or a loop) is not
        walked again: the import does not fail with a cycle error, and each
        file is imported once.
        """
        wheel = makeWheel("alpha", "1.0")
        source = self.sourceDir(wheel)
        os.symlink(".", source.child("latest").path)
        source.child("beta").makedirs()
        sdist = makeSdist("beta", "2.0")
        source.child("beta").child(sdist[0]).setContent(sdist[1])
        os.symlink("..", source.child("beta").child("up").path)
        report = self.store.importDirectory(source)
        self.assertEqual((sorted(report.imported), report.skipped), (sorted([wheel[0], sdist[0]]), ()))

    def test_metadataForAnotherVersionSkipped(self) -> None:
        """
        A distribution whose metadata is for another version than its
        filename's (C{gamma-1.0.tar.gz} whose PKG-INFO says 2.0) is skipped,
        as its upload would be refused: installers refuse it as
        inconsistent, after choosing it for 1.0.
        """
        sdist = sdistHolding("gamma-1.0/PKG-INFO", metadataText("gamma", "2.0"))
        report = self.store.importDirectory(self.sourceDir(("gamma-1.0.tar.gz", sdist)))
        self.assertEqual(report.imported, ())
        self.assertEqual(
            report.skipped, (("gamma-1.0.tar.gz", "its metadata is for version '2.0', not '1.0'"),)
        )
        self.assertIsNone(self.store.record("gamma"))

    def test_unreadableFilesSkipped(self) -> None:
        """
        A link to nothing and a named pipe, named as distributions, are
        skipped saying why (not as broken archives; the pipe not waited on
        for ever), and the rest is imported.
        """
        wheel = makeWheel("alpha", "1.0")
        source = self.sourceDir(wheel)
        os.symlink("gone-1.0.tar.gz", source.child("beta-1.0.tar.gz").path)
        os.mkfifo(source.child("gamma-1.0-py3-none-any.whl").path)
        report = self.store.importDirectory(source)
        self.assertEqual(report.imported, (wheel[0],))
        self.assertEqual(
            dict(report.skipped),
            {
                "beta-1.0.tar.gz": "cannot be read: No such file or directory",
                "gamma-1.0-py3-none-any.whl": "not a regular file",
            },
        )
