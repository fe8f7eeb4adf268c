"""
Tests for L{cheesecache.memory}.
"""

from __future__ import annotations

import platform
import subprocess
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


_ARENAS_CHILD = """
import ctypes, sys, threading
from cheesecache import memory
if sys.argv[1] == "limit":
    assert memory.limitArenas(1)
def work():
    for _ in range(20000):
        [bytes(2000) for _ in range(10)]
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


class LimitArenasTests(SynchronousTestCase):
    """
    Tests for L{memory.limitArenas}.
    """

    def arenas(self, mode: str) -> int:
        """
        How many arenas glibc made in a child process whose eight threads
        allocate at once (C{malloc_stats} lists them).
        """
        child = subprocess.run(
            [sys.executable, "-c", _ARENAS_CHILD, mode],
            capture_output=True, text=True, timeout=120, check=True,
        )
        return sum(line.startswith("Arena ") for line in child.stderr.splitlines())

    def test_glibc(self) -> None:
        """
        With the limit, threads allocating at once share one arena; without
        it they get several.
        """
        if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
            raise SkipTest("not Linux with glibc")
        unlimited = self.arenas("none")
        if unlimited < 2:
            raise SkipTest("the threads never contended, so no arena was added")
        self.assertEqual(self.arenas("limit"), 1)

    def test_elsewhere(self) -> None:
        """
        Where the allocator cannot be told, nothing happens.
        """
        self.patch(memory, "_mallopt", None)
        self.assertFalse(memory.limitArenas())
