# -*- test-case-name: tests.test_recent -*-
"""
The most recent of names without number: what holds "not found" answers
in memory without holding every name ever asked for (a typo, a scanner,
a resolver trying names).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, TypeVar

K = TypeVar("K")


def noteRecent(recent: "OrderedDict[K, None]", name: K, budget: int) -> List[K]:
    """
    Note C{name} in C{recent} as its most recent, and let the oldest go
    while there are more than C{budget}.

    @return: the names let go, oldest first: the caller drops what it
        holds for them.
    """
    recent[name] = None
    recent.move_to_end(name)
    dropped: List[K] = []
    while len(recent) > budget:
        dropped.append(recent.popitem(last=False)[0])
    return dropped
