"""
Tests for the pure parts of L{cheesecache.metadata}: reading METADATA out of
a wheel, and advertising metadata already extracted into the blob store.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from typing import Dict

from twisted.internet.task import Clock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.blobstore import BlobStore
from cheesecache.metadata import (
    MAX_METADATA_SIZE,
    KnownMetadata,
    MetadataService,
    NoMetadata,
    metadataKey,
    wheelMetadata,
    withKnownMetadata,
)
from cheesecache.simple.model import DistFile, ProjectPage
from tests.test_filefetch import HeldCalls
from tests.wheels import makeSdist, makeWheel, metadataText


def zipBytes(members: Dict[str, bytes]) -> bytes:
    """
    A zip archive with these members.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


class WheelMetadataTests(SynchronousTestCase):
    """
    Tests for L{wheelMetadata}.
    """

    def write(self, data: bytes) -> str:
        """
        Write C{data} to a new temporary file and return its path.
        """
        path = FilePath(self.mktemp())
        path.setContent(data)
        return path.path

    def test_wheel(self) -> None:
        """
        The METADATA of a real wheel is returned byte for byte.
        """
        _, data = makeWheel("Foo.Bar", "1.0", requires=["attrs>=23"], requiresPython=">=3.8,<4")
        self.assertEqual(
            wheelMetadata(self.write(data)),
            metadataText("Foo.Bar", "1.0", ["attrs>=23"], ">=3.8,<4"),
        )

    def test_bigWheel(self) -> None:
        """
        Other large members do not get in the way.
        """
        _, data = makeWheel("big", "2.0", padding=256 * 1024)
        self.assertEqual(wheelMetadata(self.write(data)), metadataText("big", "2.0"))

    def test_notAZip(self) -> None:
        """
        A file that is not a zip raises L{NoMetadata}.
        """
        self.assertRaises(NoMetadata, wheelMetadata, self.write(b"not a zip at all"))

    def test_sdistIsNotAWheel(self) -> None:
        """
        A gzipped tarball raises L{NoMetadata}.
        """
        _, data = makeSdist("foo", "1.0")
        self.assertRaises(NoMetadata, wheelMetadata, self.write(data))

    def test_truncated(self) -> None:
        """
        A wheel cut short raises L{NoMetadata}.
        """
        _, data = makeWheel("foo", "1.0")
        self.assertRaises(NoMetadata, wheelMetadata, self.write(data[: len(data) // 2]))

    def test_missingFile(self) -> None:
        """
        A path with no file raises L{NoMetadata}.
        """
        self.assertRaises(NoMetadata, wheelMetadata, self.mktemp())

    def test_zipWithoutMetadata(self) -> None:
        """
        A zip without a C{.dist-info/METADATA} raises L{NoMetadata}.
        """
        path = self.write(zipBytes({"foo/__init__.py": b"", "foo-1.0.dist-info/WHEEL": b"x"}))
        self.assertRaises(NoMetadata, wheelMetadata, path)

    def test_nestedMetadataIgnored(self) -> None:
        """
        Only a top-level C{*.dist-info/METADATA} counts, not one deeper down.
        """
        path = self.write(zipBytes({"vendor/x-1.0.dist-info/METADATA": b"Name: x\n"}))
        self.assertRaises(NoMetadata, wheelMetadata, path)
        path = self.write(
            zipBytes(
                {
                    "vendor/x-1.0.dist-info/METADATA": b"Name: x\n",
                    "foo-1.0.dist-info/METADATA": b"Name: foo\n",
                }
            )
        )
        self.assertEqual(wheelMetadata(path), b"Name: foo\n")

    def test_fromAFile(self) -> None:
        """
        The wheel may be given as an open binary file instead of a path.
        """
        _, data = makeWheel("foo", "1.0")
        self.assertEqual(wheelMetadata(io.BytesIO(data)), metadataText("foo", "1.0"))

    def test_hugeMetadata(self) -> None:
        """
        A METADATA that unpacks to more than L{MAX_METADATA_SIZE} bytes
        raises L{NoMetadata} rather than being read whole into memory (a
        wheel of a few kilobytes can hold one of gigabytes).
        """
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("bomb-1.0.dist-info/METADATA", b"x" * (MAX_METADATA_SIZE + 1))
        path = self.write(out.getvalue())
        self.assertLess(os.path.getsize(path), MAX_METADATA_SIZE // 100)
        self.assertRaises(NoMetadata, wheelMetadata, path)

    def test_twoMetadataFiles(self) -> None:
        """
        Two top-level METADATA files are ambiguous and raise L{NoMetadata}.
        """
        path = self.write(
            zipBytes(
                {"a-1.0.dist-info/METADATA": b"Name: a\n", "b-1.0.dist-info/METADATA": b"Name: b\n"}
            )
        )
        self.assertRaises(NoMetadata, wheelMetadata, path)


class WithKnownMetadataTests(SynchronousTestCase):
    """
    Tests for L{withKnownMetadata}.
    """

    def setUp(self) -> None:
        self.store = BlobStore(FilePath(self.mktemp()))
        self.wheel = DistFile(
            "foo_bar-1.0-py3-none-any.whl",
            "https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
            {"sha256": "a" * 64},
        )
        self.sdist = DistFile(
            "foo_bar-1.0.tar.gz", "https://files.example.invalid/p/foo_bar-1.0.tar.gz",
            {"sha256": "c" * 64},
        )
        self.metadata = metadataText("Foo.Bar", "1.0")

    def test_metadataKey(self) -> None:
        """
        The metadata blob of a file is keyed by the file's key plus
        C{.metadata}.
        """
        self.assertEqual(metadataKey(self.wheel), "a" * 64 + ".metadata")
        noHash = DistFile("x-1.0-py3-none-any.whl", "https://files.example.invalid/x")
        self.assertEqual(metadataKey(noHash), noHash.key + ".metadata")
        self.assertTrue(noHash.key.startswith("u"))

    def test_nothingExtracted(self) -> None:
        """
        Without extracted metadata the very same page is returned.
        """
        page = ProjectPage(name="foo-bar", files=[self.wheel, self.sdist])
        self.assertIs(withKnownMetadata(page, KnownMetadata(self.store)), page)

    def test_extracted(self) -> None:
        """
        A wheel whose metadata blob exists is advertised with that blob's
        sha256; other fields and other files are unchanged.
        """
        self.store.putBytes(metadataKey(self.wheel), self.metadata)
        page = ProjectPage(name="foo-bar", files=[self.wheel, self.sdist], versions=["1.0"])
        result = withKnownMetadata(page, KnownMetadata(self.store))
        expected = {"sha256": hashlib.sha256(self.metadata).hexdigest()}
        self.assertEqual(result.files[0].coreMetadata, expected)
        self.assertEqual(result.files[0].filename, self.wheel.filename)
        self.assertEqual(result.files[0].hashes, self.wheel.hashes)
        self.assertEqual(result.files[1], self.sdist)
        self.assertEqual((result.name, result.versions), (page.name, page.versions))
        self.assertIsNone(page.files[0].coreMetadata)

    def test_extractedWithoutSha256(self) -> None:
        """
        A wheel the index gave no sha256 for uses its URL-derived key.
        """
        wheel = DistFile("foo_bar-1.0-py3-none-any.whl", "https://files.example.invalid/w")
        self.store.putBytes(metadataKey(wheel), self.metadata)
        result = withKnownMetadata(ProjectPage(name="foo-bar", files=[wheel]), KnownMetadata(self.store))
        self.assertEqual(
            result.files[0].coreMetadata, {"sha256": hashlib.sha256(self.metadata).hexdigest()}
        )

    def test_upstreamMetadataWins(self) -> None:
        """
        A wheel the upstream already advertises metadata for keeps the
        upstream's value.
        """
        wheel = DistFile(
            self.wheel.filename, self.wheel.url, self.wheel.hashes, coreMetadata={"sha256": "d" * 64}
        )
        self.store.putBytes(metadataKey(wheel), self.metadata)
        page = ProjectPage(name="foo-bar", files=[wheel])
        self.assertIs(withKnownMetadata(page, KnownMetadata(self.store)), page)
        wheelTrue = DistFile(self.wheel.filename, self.wheel.url, self.wheel.hashes, coreMetadata=True)
        page = ProjectPage(name="foo-bar", files=[wheelTrue])
        self.assertIs(withKnownMetadata(page, KnownMetadata(self.store)), page)

    def test_onlyWheels(self) -> None:
        """
        Non-wheel files are never given metadata, even if a blob exists.
        """
        self.store.putBytes(metadataKey(self.sdist), self.metadata)
        page = ProjectPage(name="foo-bar", files=[self.sdist])
        self.assertIs(withKnownMetadata(page, KnownMetadata(self.store)), page)

    def test_onlyMatchingBlob(self) -> None:
        """
        The metadata of one wheel is not advertised for another.
        """
        self.store.putBytes(metadataKey(self.wheel), self.metadata)
        other = DistFile(
            "foo_bar-2.0-py3-none-any.whl", "https://files.example.invalid/p/2", {"sha256": "e" * 64}
        )
        result = withKnownMetadata(ProjectPage(name="foo-bar", files=[other, self.wheel]), KnownMetadata(self.store))
        self.assertIsNone(result.files[0].coreMetadata)
        self.assertIsNotNone(result.files[1].coreMetadata)


class KnownMetadataTests(SynchronousTestCase):
    """
    L{KnownMetadata}: digests of metadata blobs kept in memory, so that
    rendering a page does not look on disk for every wheel.
    """

    def setUp(self) -> None:
        self.store = BlobStore(FilePath(self.mktemp()))
        self.data = metadataText("Foo.Bar", "1.0")
        self.key = "a" * 64 + ".metadata"

    def test_scanThenMemory(self) -> None:
        """
        After the scan, digests come from memory: a blob removed behind its
        back is still known, one added behind its back is not, until
        L{KnownMetadata.add} and L{KnownMetadata.discard} say so.
        """
        self.store.putBytes(self.key, self.data)
        self.store.putBytes("b" * 64, b"not metadata")
        known = KnownMetadata(self.store)
        found = known.scan()
        self.assertEqual(found, {self.key: hashlib.sha256(self.data).hexdigest()})
        known.scanned(found)
        self.assertTrue(known.complete)
        self.store.path(self.key).remove()
        self.assertEqual(known.digest(self.key), hashlib.sha256(self.data).hexdigest())
        other = "c" * 64 + ".metadata"
        self.store.putBytes(other, self.data)
        self.assertIsNone(known.digest(other))
        known.add(other, self.data)
        self.assertEqual(known.digest(other), hashlib.sha256(self.data).hexdigest())
        known.discard(self.key)
        self.assertIsNone(known.digest(self.key))

    def test_beforeScanAsksDisk(self) -> None:
        """
        Until the scan is in, a key not in memory is looked up on disk.
        """
        known = KnownMetadata(self.store)
        self.assertIsNone(known.digest(self.key))
        self.store.putBytes(self.key, self.data)
        self.assertEqual(known.digest(self.key), hashlib.sha256(self.data).hexdigest())

    def test_scanKeepsNewerEntries(self) -> None:
        """
        What was learnt while the scan ran is not overwritten by it.
        """
        known = KnownMetadata(self.store)
        known.add(self.key, b"newer")
        known.scanned({self.key: "0" * 64})
        self.assertEqual(known.digest(self.key), hashlib.sha256(b"newer").hexdigest())

    def test_evictedWhileScanning(self) -> None:
        """
        A blob the scan read but that eviction removed (and discarded)
        before the scan was in is not known afterwards: pages do not
        advertise metadata that is gone.  One kept again since is.
        """
        other = "b" * 64 + ".metadata"
        for key in (self.key, other):
            self.store.putBytes(key, self.data)
        known = KnownMetadata(self.store)
        found = known.scan()
        for key in (self.key, other):
            self.store.path(key).remove()
            known.discard(key)
        known.add(other, b"kept again")
        known.scanned(found)
        self.assertIsNone(known.digest(self.key))
        self.assertFalse(known.extracted("a" * 64))
        self.assertEqual(known.digest(other), hashlib.sha256(b"kept again").hexdigest())

    def test_extractedInThread(self) -> None:
        """
        Reading the wheel and writing (and syncing) its metadata blob happen
        in the thread C{blocking} stands for, not on the reactor; the
        metadata is known once they are done.
        """
        filename, wheel = makeWheel("alpha", "1.0")
        f = DistFile(filename, "https://files.example.invalid/w", {"sha256": hashlib.sha256(wheel).hexdigest()})
        self.store.putBytes(f.key, wheel)
        held = HeldCalls()
        service = MetadataService(self.store, Clock(), blocking=held)
        service.known.scanned({})
        extracted = service.extract(f)
        self.assertNoResult(extracted)
        self.assertEqual([call[1] for call in held.calls], [wheelMetadata])
        held.runOne()
        self.assertEqual([call[1] for call in held.calls], [self.store.putBytes])
        self.assertFalse(self.store.exists(metadataKey(f)))
        self.assertIsNone(service.known.digest(metadataKey(f)))
        held.runOne()
        path = self.successResultOf(extracted)
        self.assertEqual(path, self.store.path(metadataKey(f)))
        self.assertEqual(
            service.known.digest(metadataKey(f)), hashlib.sha256(path.getContent()).hexdigest()
        )

    def test_extractedIsKnown(self) -> None:
        """
        Metadata the service extracts is known at once, also after a scan.
        """
        filename, wheel = makeWheel("alpha", "1.0")
        f = DistFile(filename, "https://files.example.invalid/w", {"sha256": hashlib.sha256(wheel).hexdigest()})
        self.store.putBytes(f.key, wheel)
        service = MetadataService(self.store, Clock())
        service.known.scanned({})
        path = self.successResultOf(service.extract(f))
        self.assertIsNotNone(path)
        self.assertEqual(
            service.known.digest(metadataKey(f)), hashlib.sha256(path.getContent()).hexdigest()
        )

