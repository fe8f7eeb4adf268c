# -*- test-case-name: tests.test_coalesce -*-
"""
Single flight: any number of concurrent requests for one key share one
operation.

Every caller gets a L{Deferred} of its own, so one caller cancelling (a client
that hung up) detaches only that caller; the shared work goes on for the
others.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generic, Hashable, List, TypeVar

import attrs
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


@attrs.define
class Coalescer(Generic[T]):
    """
    Runs at most one operation per key at a time.

    @ivar coalesced: how many callers attached to an operation already in
        flight, over the coalescer's life (for metrics and tests).
    """

    _inflight: Dict[Hashable, List["Deferred[T]"]] = attrs.field(factory=dict)
    coalesced: int = 0

    def inflight(self, key: Hashable) -> bool:
        """
        Is an operation for C{key} running now?
        """
        return key in self._inflight

    def run(self, key: Hashable, start: Callable[[], "Deferred[T]"]) -> "Deferred[T]":
        """
        Attach to the operation for C{key}, starting it with C{start()} if
        none is running.

        @return: a L{Deferred} for this caller alone.
        """
        mine: Deferred[T] = Deferred()
        waiters = self._inflight.get(key)
        if waiters is not None:
            self.coalesced += 1
            waiters.append(mine)
            return mine
        waiters = self._inflight[key] = [mine]

        def fire(result: Any) -> None:
            del self._inflight[key]
            for waiter in waiters:
                if waiter.called:  # cancelled by its caller
                    continue
                if isinstance(result, Failure):
                    waiter.errback(result)
                else:
                    waiter.callback(result)

        try:
            shared = start()
        except BaseException:
            shared = Deferred()
            shared.errback()
        shared.addBoth(fire)
        return mine
