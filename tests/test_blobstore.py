"""
Tests for L{cheesecache.blobstore}.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Tuple

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.blobstore import BlobStore

KEY = "a" * 64


class FullDiskStore(BlobStore):
    """
    A store whose temporary files are made, but whose bytes go to
    C{/dev/full}: every write that reaches the disk fails with C{ENOSPC}.
    """

    def newTemporary(self) -> Tuple[FilePath, BinaryIO]:
        path, f = BlobStore.newTemporary(self)
        f.close()
        return path, open("/dev/full", "wb")


class PutBytesTests(SynchronousTestCase):
    """
    L{BlobStore.putBytes}.
    """

    def test_diskFullLeavesNoTemporary(self) -> None:
        """
        When the disk is full, putBytes raises the disk's error and removes
        its temporary file: nothing is left behind to take more room.
        """
        if not os.path.exists("/dev/full"):
            raise self.skipTest("no /dev/full")
        store = FullDiskStore(FilePath(self.mktemp()))
        error = self.assertRaises(OSError, store.putBytes, KEY, b"x" * 100)
        self.assertEqual(error.errno, 28)
        self.assertEqual(store.tmp.children(), [])
        self.assertFalse(store.exists(KEY))
