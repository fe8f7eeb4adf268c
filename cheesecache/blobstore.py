# -*- test-case-name: tests.test_blobstore -*-
"""
Immutable file bytes on disk, content-addressed.

C{<data-dir>/blobs/<k[0:2]>/<k[2:4]>/<k>} holds the bytes whose key is C{k}
(a sha256 hex digest, or a key derived from the upstream URL for files the
index gave no sha256 for).  Bytes are written to C{<data-dir>/tmp/} first
and renamed into place only once complete, synced and verified: nothing
half-written is ever visible under C{blobs/}, also after a crash.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO, Tuple

import attrs
from twisted.logger import Logger
from twisted.python.filepath import FilePath

log = Logger()

_KEY = re.compile(r"^u?[0-9a-f]{64}(\.metadata)?\Z")


class BadKey(ValueError):
    """
    Not a key the store could have made.
    """


def isValidKey(key: str) -> bool:
    """
    Is C{key} a blob key (hex digest, optionally C{u}-prefixed and with a
    C{.metadata} suffix)?
    """
    return _KEY.match(key) is not None


def readUnused(path: str) -> bytes:
    """
    The bytes of the file at C{path}, read without its access time moving
    where the system allows (C{O_NOATIME}, for the file's owner, on
    Linux): eviction takes a blob's access time as its last use (see
    L{cheesecache.eviction.lastUsed}), and a read that is no use of the
    blob, such as the start-up scan of every metadata blob, would make
    them all look used then.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        fd = os.open(path, flags | noatime)
    except PermissionError:
        if not noatime:
            raise
        fd = os.open(path, flags)  # not the file's owner
    with open(fd, "rb") as f:
        return f.read()


@attrs.define
class BlobStore:
    """
    The blob store under C{dataDir}.
    """

    dataDir: FilePath

    @property
    def blobs(self) -> FilePath:
        return self.dataDir.child("blobs")

    @property
    def tmp(self) -> FilePath:
        return self.dataDir.child("tmp")

    def path(self, key: str) -> FilePath:
        """
        Where the blob C{key} lives (whether or not it exists).
        """
        if not isValidKey(key):
            raise BadKey(key)
        digest = key.lstrip("u")
        return self.blobs.child(digest[:2]).child(digest[2:4]).child(key)

    def location(self, key: str) -> str:
        """
        L{path} as a string, built without L{FilePath}: checked on every
        file request and for every wheel of a page being rendered.
        """
        if not isValidKey(key):
            raise BadKey(key)
        digest = key.lstrip("u")
        return os.path.join(self.dataDir.path, "blobs", digest[:2], digest[2:4], key)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self.location(key))

    def cleanTemporary(self) -> int:
        """
        Remove temporary files left by an earlier run that did not finish
        them (a crash, a kill).  Call before serving.

        @return: how many were removed.
        """
        removed = 0
        if self.tmp.isdir():
            for child in self.tmp.children():
                child.remove()
                removed += 1
        if removed:
            log.info("Removed {n} unfinished temporary files", n=removed)
        return removed

    def newTemporary(self) -> Tuple[FilePath, BinaryIO]:
        """
        A new temporary file on the same filesystem as the blobs, open for
        writing.
        """
        self.tmp.makedirs(ignoreExistingDirectory=True)
        path = self.tmp.temporarySibling(".part")
        path = self.tmp.child(path.basename())
        return path, open(path.path, "xb")

    def commit(self, temporary: FilePath, f: BinaryIO, key: str) -> FilePath:
        """
        Make the complete, verified temporary file the blob C{key}: sync its
        bytes, rename it into place, sync the directory.
        """
        self.sync(f)
        self.makeFolder(key)
        target = self.place(temporary, key)
        self.syncFolder(target)
        return target

    # The steps of commit, for callers that run the slow ones (the syncs
    # and the folder) in a thread and the rename where their readers are.

    @staticmethod
    def sync(f: BinaryIO) -> None:
        """
        Flush, sync and close a temporary file.
        """
        f.flush()
        os.fsync(f.fileno())
        f.close()

    def makeFolder(self, key: str) -> None:
        """
        Make the folder the blob C{key} goes into, if need be.  Run it with
        L{sync}, in a thread: on some disks making a folder is as slow as
        making a file (0.2 and 0.5 ms on the bench machine's), and L{place}
        then has only the rename left.
        """
        self.path(key).parent().makedirs(ignoreExistingDirectory=True)

    def place(self, temporary: FilePath, key: str) -> FilePath:
        """
        Rename a synced temporary file to the blob C{key}, whose folder
        L{makeFolder} has made.
        """
        target = self.path(key)
        os.replace(temporary.path, target.path)
        return target

    @staticmethod
    def syncFolder(target: FilePath) -> None:
        """
        Sync the folder of C{target}, so that its new name survives a crash.
        """
        fd = os.open(target.parent().path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def putBytes(self, key: str, data: bytes) -> FilePath:
        """
        Store a small blob whose bytes are all in memory.
        """
        temporary, f = self.newTemporary()
        try:
            f.write(data)
            return self.commit(temporary, f, key)
        except BaseException:
            # Closing flushes what is still buffered, and fails again as the
            # write did (a full disk): the temporary file goes all the same.
            try:
                f.close()
            except OSError:
                pass
            if temporary.exists():
                temporary.remove()
            raise
