"""
Tests for L{cheesecache.coalesce}.
"""

from __future__ import annotations

from typing import List

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.coalesce import Coalescer


class Boom(Exception):
    """
    The shared operation failed.
    """


class Starter:
    """
    A C{start} callable that counts its calls and hands out Deferreds the
    test fires.
    """

    def __init__(self) -> None:
        self.started: List["Deferred[object]"] = []
        self.cancelled = 0

    def __call__(self) -> "Deferred[object]":
        def cancel(d: "Deferred[object]") -> None:
            self.cancelled += 1

        d: Deferred[object] = Deferred(cancel)
        self.started.append(d)
        return d


class CoalescerTests(SynchronousTestCase):
    """
    Tests for L{Coalescer.run}.
    """

    def setUp(self) -> None:
        self.coalescer: Coalescer[object] = Coalescer()
        self.start = Starter()

    def test_manyCallersOneStart(self) -> None:
        """
        N concurrent callers for one key start the operation once, and all get
        its result.
        """
        ds = [self.coalescer.run("k", self.start) for _ in range(5)]
        self.assertEqual(len(self.start.started), 1)
        self.assertEqual(self.coalescer.coalesced, 4)
        for d in ds:
            self.assertNoResult(d)
        self.start.started[0].callback("page")
        self.assertEqual([self.successResultOf(d) for d in ds], ["page"] * 5)

    def test_eachCallerOwnDeferred(self) -> None:
        """
        Each caller gets a distinct Deferred, never the shared one.
        """
        ds = [self.coalescer.run("k", self.start) for _ in range(3)]
        self.assertEqual(len({id(d) for d in ds}), 3)
        self.assertNotIn(self.start.started[0], ds)

    def test_callbacksDoNotLeakBetweenCallers(self) -> None:
        """
        What one caller's callbacks return does not change what the others get.
        """
        first = self.coalescer.run("k", self.start)
        second = self.coalescer.run("k", self.start)
        first.addCallback(lambda result: "changed")
        self.start.started[0].callback("page")
        self.assertEqual(self.successResultOf(first), "changed")
        self.assertEqual(self.successResultOf(second), "page")

    def test_differentKeysSeparate(self) -> None:
        """
        Different keys run separate operations with separate results.
        """
        a = self.coalescer.run("a", self.start)
        b = self.coalescer.run("b", self.start)
        self.assertEqual(len(self.start.started), 2)
        self.assertEqual(self.coalescer.coalesced, 0)
        self.start.started[1].callback("B")
        self.assertNoResult(a)
        self.assertEqual(self.successResultOf(b), "B")
        self.start.started[0].callback("A")
        self.assertEqual(self.successResultOf(a), "A")

    def test_inflight(self) -> None:
        """
        A key is in flight from the start until the operation finishes.
        """
        self.assertFalse(self.coalescer.inflight("k"))
        self.coalescer.run("k", self.start)
        self.assertTrue(self.coalescer.inflight("k"))
        self.assertFalse(self.coalescer.inflight("other"))
        self.start.started[0].callback(None)
        self.assertFalse(self.coalescer.inflight("k"))

    def test_cancelDetachesOnlyThatCaller(self) -> None:
        """
        A caller cancelling gets a CancelledError; the shared operation is not
        cancelled and the other callers still get its result.
        """
        ds = [self.coalescer.run("k", self.start) for _ in range(3)]
        ds[1].cancel()
        self.failureResultOf(ds[1], CancelledError)
        self.assertEqual(self.start.cancelled, 0)
        self.assertTrue(self.coalescer.inflight("k"))
        self.start.started[0].callback("page")
        self.assertEqual(self.successResultOf(ds[0]), "page")
        self.assertEqual(self.successResultOf(ds[2]), "page")

    def test_firstCallerCancelling(self) -> None:
        """
        The caller that started the operation may cancel without stopping it.
        """
        first = self.coalescer.run("k", self.start)
        second = self.coalescer.run("k", self.start)
        first.cancel()
        self.failureResultOf(first, CancelledError)
        self.assertEqual(self.start.cancelled, 0)
        self.start.started[0].callback("page")
        self.assertEqual(self.successResultOf(second), "page")

    def test_allCallersCancelling(self) -> None:
        """
        Even with every caller gone the operation runs to completion, and the
        key is free afterwards.
        """
        ds = [self.coalescer.run("k", self.start) for _ in range(2)]
        for d in ds:
            d.cancel()
            self.failureResultOf(d, CancelledError)
        self.assertEqual(self.start.cancelled, 0)
        self.assertTrue(self.coalescer.inflight("k"))
        self.start.started[0].callback("page")
        self.assertFalse(self.coalescer.inflight("k"))

    def test_failureReachesAll(self) -> None:
        """
        A failure of the operation reaches every caller, and nothing is left
        unhandled.
        """
        ds = [self.coalescer.run("k", self.start) for _ in range(3)]
        self.start.started[0].errback(Boom("down"))
        for d in ds:
            self.assertEqual(str(self.failureResultOf(d, Boom).value), "down")
        self.assertFalse(self.coalescer.inflight("k"))
        self.assertIsNone(self.successResultOf(self.start.started[0]))

    def test_synchronousSuccess(self) -> None:
        """
        A C{start} that returns an already-fired Deferred gives its result at
        once, and the key is not left in flight.
        """
        d = self.coalescer.run("k", lambda: succeed("now"))
        self.assertEqual(self.successResultOf(d), "now")
        self.assertFalse(self.coalescer.inflight("k"))

    def test_synchronousFailure(self) -> None:
        """
        A C{start} that returns an already-failed Deferred fails the caller at
        once.
        """
        d = self.coalescer.run("k", lambda: fail(Boom("now")))
        self.failureResultOf(d, Boom)
        self.assertFalse(self.coalescer.inflight("k"))

    def test_startRaising(self) -> None:
        """
        A C{start} that raises fails the caller with that exception instead
        of raising, and does not leave the key in flight.
        """

        def start() -> "Deferred[object]":
            raise Boom("raised")

        d = self.coalescer.run("k", start)
        self.assertEqual(str(self.failureResultOf(d, Boom).value), "raised")
        self.assertFalse(self.coalescer.inflight("k"))
        again = self.coalescer.run("k", self.start)
        self.assertEqual(len(self.start.started), 1)
        self.start.started[0].callback("ok")
        self.assertEqual(self.successResultOf(again), "ok")

    def test_newRunAfterCompletion(self) -> None:
        """
        After an operation completes, the next caller starts a new one rather
        than getting the old result.
        """
        first = self.coalescer.run("k", self.start)
        self.start.started[0].callback("old")
        self.assertEqual(self.successResultOf(first), "old")
        second = self.coalescer.run("k", self.start)
        self.assertEqual(len(self.start.started), 2)
        self.assertNoResult(second)
        self.start.started[1].callback("new")
        self.assertEqual(self.successResultOf(second), "new")
        self.assertEqual(self.coalescer.coalesced, 0)

    def test_newRunAfterFailure(self) -> None:
        """
        A failed operation is not remembered: the next caller starts again.
        """
        first = self.coalescer.run("k", self.start)
        self.start.started[0].errback(Boom())
        self.failureResultOf(first, Boom)
        second = self.coalescer.run("k", self.start)
        self.assertEqual(len(self.start.started), 2)
        self.start.started[1].callback("ok")
        self.assertEqual(self.successResultOf(second), "ok")

    def test_runFromCallback(self) -> None:
        """
        A caller that runs the key again from its own callback starts a new
        operation instead of attaching to the finished one.
        """
        results: List["Deferred[object]"] = []
        first = self.coalescer.run("k", self.start)
        first.addCallback(lambda _: results.append(self.coalescer.run("k", self.start)))
        self.start.started[0].callback("old")
        self.assertEqual(len(self.start.started), 2)
        self.assertNoResult(results[0])
        self.start.started[1].callback("new")
        self.assertEqual(self.successResultOf(results[0]), "new")

    def test_callerCallbackRaisingDoesNotHurtOthers(self) -> None:
        """
        An exception in one caller's callback stays in that caller's Deferred.
        """
        first = self.coalescer.run("k", self.start)
        second = self.coalescer.run("k", self.start)

        def explode(result: object) -> object:
            raise Boom("mine")

        first.addCallback(explode)
        self.start.started[0].callback("page")
        self.failureResultOf(first, Boom)
        self.assertEqual(self.successResultOf(second), "page")

    def test_startCalledWithoutArguments(self) -> None:
        """
        C{start} is called with no arguments, once per operation, and
        synchronously inside C{run}.
        """
        calls: List[tuple] = []

        def start(*args: object) -> "Deferred[object]":
            calls.append(args)
            return Deferred()

        self.coalescer.run("k", start)
        self.assertEqual(calls, [()])
