"""
Tests for L{cheesecache.memory}.
"""

from __future__ import annotations

import platform
import sys

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from cheesecache import memory


class ReleaseFreeMemoryTests(SynchronousTestCase):
    """
    Tests for L{memory.releaseFreeMemory}.
    """

    def test_glibc(self) -> None:
        """
        On Linux with glibc the allocator is asked.
        """
        if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
            raise SkipTest("not Linux with glibc")
        self.assertTrue(memory.releaseFreeMemory())

    def test_elsewhere(self) -> None:
        """
        Where the allocator cannot be asked, nothing happens.
        """
        self.patch(memory, "_trim", None)
        self.assertFalse(memory.releaseFreeMemory())
