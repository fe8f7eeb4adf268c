# -*- test-case-name: tests.test_memory -*-
"""
Giving memory that is free again back to the operating system.

A big page is parsed, stored and rendered through many megabytes of
short-lived allocations.  Once they are freed, the C allocator keeps most
of that memory for later use instead of returning it, so the process's
resident size stays near its high-water mark.  glibc's C{malloc_trim}
returns the free pages (also those between allocations still in use).

Threads make it worse: glibc gives each thread that allocates while
another does an arena of its own, up to eight per core, and memory freed
into one is kept there.  Pages hashed and compressed in the reactor's
thread pool left some thirty megabytes so held; L{limitArenas} caps them.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, List, Optional


def _glibc(name: str, argtypes: List[Any]) -> Optional[Any]:
    """
    The C library's function C{name}, where it is glibc on Linux.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)  # glibc only (not musl)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


_trim = _glibc("malloc_trim", [ctypes.c_size_t])
_mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])

#: glibc's mallopt parameter for the most arenas there may be.
_M_ARENA_MAX = -8


def limitArenas(most: int = 2) -> bool:
    """
    Let the C allocator make at most C{most} arenas, all threads sharing
    them: call it before threads start allocating.

    @return: whether the allocator took the limit (glibc on Linux).
    """
    if _mallopt is None:
        return False
    return bool(_mallopt(_M_ARENA_MAX, most))


def releaseFreeMemory() -> bool:
    """
    Ask the C allocator to give the memory it holds free back to the
    operating system.

    @return: whether it could be asked (glibc on Linux).
    """
    if _trim is None:
        return False
    _trim(0)
    return True
