# -*- test-case-name: tests.test_memory -*-
"""
Giving memory that is free again back to the operating system.

A big page is parsed, stored and rendered through many megabytes of
short-lived allocations.  Once they are freed, the C allocator keeps most
of that memory for later use instead of returning it, so the process's
resident size stays near its high-water mark.  glibc's C{malloc_trim}
returns the free pages (also those between allocations still in use).
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Optional


def _findTrim() -> Optional[Any]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc only (not musl)
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_trim = _findTrim()


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
