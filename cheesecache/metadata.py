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
import zipfile
from typing import Optional, Sequence

import attrs
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.filepath import FilePath

from .blobstore import BlobStore
from .coalesce import Coalescer
from .simple.model import DistFile, ProjectPage
from .upstream import Upstream, UpstreamError, readBody

log = Logger()

#: Metadata files are small; anything bigger than this is not one.
MAX_METADATA_SIZE = 16 * 1024 * 1024


class NoMetadata(Exception):
    """
    There is no core metadata to serve for this file.
    """


def wheelMetadata(path: str) -> bytes:
    """
    The METADATA file of the wheel at C{path}, byte for byte.

    @raise NoMetadata: the wheel has no single C{*.dist-info/METADATA}.
    """
    try:
        with zipfile.ZipFile(path) as z:
            names = [
                n
                for n in z.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise NoMetadata(f"{len(names)} METADATA files in the wheel")
            return z.read(names[0])
    except (zipfile.BadZipFile, OSError, KeyError) as e:
        raise NoMetadata(str(e)) from e


def metadataKey(f: DistFile) -> str:
    return f.key + ".metadata"


def withKnownMetadata(page: ProjectPage, store: BlobStore) -> ProjectPage:
    """
    C{page}, with core metadata advertised for wheels whose metadata
    cheesecache has extracted itself.
    """
    files = []
    changed = False
    for f in page.files:
        if not f.coreMetadata and f.filename.endswith(".whl"):
            try:
                with open(store.location(metadataKey(f)), "rb") as extracted:
                    digest = hashlib.sha256(extracted.read()).hexdigest()
            except FileNotFoundError:
                pass
            else:
                f = attrs.evolve(f, coreMetadata={"sha256": digest})
                changed = True
        files.append(f)
    return attrs.evolve(page, files=files) if changed else page


@attrs.define
class MetadataService:
    """
    Gets the core metadata blob of a listed file.
    """

    store: BlobStore
    clock: IReactorTime
    idleTimeout: float = 60.0
    _coalescer: Coalescer[FilePath] = attrs.field(factory=Coalescer)

    def extract(self, f: DistFile) -> Optional[FilePath]:
        """
        Extract and keep the metadata of the cached wheel C{f}, if it is a
        wheel and the upstream advertises none.
        """
        if f.coreMetadata or not f.filename.endswith(".whl"):
            return None
        key = metadataKey(f)
        if self.store.exists(key):
            return self.store.path(key)
        try:
            data = wheelMetadata(self.store.path(f.key).path)
        except NoMetadata as e:
            log.warn("No metadata in {filename}: {error}", filename=f.filename, error=str(e))
            return None
        return self.store.putBytes(key, data)

    def get(
        self, f: DistFile, upstream: Optional[Upstream], via: Sequence[str] = ()
    ) -> "Deferred[FilePath]":
        """
        The metadata blob of C{f}, fetched and verified if need be.

        @raise NoMetadata: there is none to serve.
        """
        key = metadataKey(f)
        if self.store.exists(key):
            return succeed(self.store.path(key))
        if not f.coreMetadata or upstream is None:
            if self.store.exists(f.key):
                path = self.extract(f)
                if path is not None:
                    return succeed(path)
            return fail(NoMetadata(f.filename))
        return self._coalescer.run(key, lambda: self._fetch(f, upstream, via))

    @inlineCallbacks
    def _fetch(self, f: DistFile, upstream: Upstream, via: Sequence[str]):  # type: ignore[no-untyped-def]
        url = f.url + ".metadata"
        response = yield upstream.get(url, via=via)
        chunks: list[bytes] = []
        done, _ = readBody(
            response, chunks.append, self.clock, self.idleTimeout, MAX_METADATA_SIZE
        )
        yield done
        if response.code != 200:
            raise UpstreamError(f"{url}: HTTP {response.code}")
        data = b"".join(chunks)
        expected = (
            f.coreMetadata.get("sha256")
            if isinstance(f.coreMetadata, dict) or hasattr(f.coreMetadata, "get")
            else None
        )
        digest = hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise UpstreamError(
                f"{url}: sha256 {digest} does not match the index's {expected}"
            )
        if expected is None:
            log.warn("Keeping unverified metadata of {filename}", filename=f.filename)
        return self.store.putBytes(metadataKey(f), data)

