"""
Tests for L{cheesecache.openfiles}.
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional, Tuple

from twisted.internet.defer import inlineCallbacks
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from cheesecache.openfiles import ENOUGH, MOST, SELECT_MOST, raiseOpenFileLimit, wantedLimit

from .test_e2e import TwistdProcess, serveIndex, upstreamWithWheels

UNLIMITED = -1


class WantedLimitTests(SynchronousTestCase):
    """
    Tests for L{wantedLimit}: what soft limit to ask for.
    """

    def test_upToHard(self) -> None:
        """
        The soft limit a service manager commonly sets is raised to the hard
        limit.
        """
        self.assertEqual(wantedLimit(1024, 524288), 524288)

    def test_capped(self) -> None:
        """
        A hard limit past L{MOST}, or none at all, gives L{MOST}.
        """
        self.assertEqual(wantedLimit(1024, MOST * 4), MOST)
        self.assertEqual(wantedLimit(1024, UNLIMITED), MOST)

    def test_neverLower(self) -> None:
        """
        A soft limit already at or past the ceiling is kept.
        """
        self.assertEqual(wantedLimit(20000, 20000), 20000)
        self.assertEqual(wantedLimit(MOST * 2, UNLIMITED), MOST * 2)
        self.assertEqual(wantedLimit(UNLIMITED, UNLIMITED), UNLIMITED)
        self.assertEqual(wantedLimit(4096, 524288, most=SELECT_MOST), 4096)

    def test_most(self) -> None:
        """
        C{most} caps what is asked for.
        """
        self.assertEqual(wantedLimit(256, 524288, most=SELECT_MOST), SELECT_MOST)


class FakeLimits:
    """
    The part of the C{resource} module that reads and sets limits.
    """

    RLIMIT_NOFILE = 7
    RLIM_INFINITY = UNLIMITED

    def __init__(self, soft: int, hard: int, refuse: Optional[Exception] = None) -> None:
        self.limit = (soft, hard)
        self.refuse = refuse
        self.asked: List[Tuple[int, int]] = []

    def getrlimit(self, which: int) -> Tuple[int, int]:
        assert which == self.RLIMIT_NOFILE
        return self.limit

    def setrlimit(self, which: int, limit: Tuple[int, int]) -> None:
        assert which == self.RLIMIT_NOFILE
        self.asked.append(limit)
        if self.refuse is not None:
            raise self.refuse
        self.limit = limit


class RaiseOpenFileLimitTests(SynchronousTestCase):
    """
    Tests for L{raiseOpenFileLimit}.
    """

    def setUp(self) -> None:
        self.events: List[Any] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def messages(self) -> List[str]:
        return [formatEvent(e) for e in self.events if e.get("log_namespace") == "cheesecache.openfiles"]

    def test_raised(self) -> None:
        """
        The soft limit is set to the hard one, which stays as it is, and
        the change is logged.
        """
        limits = FakeLimits(1024, 524288)
        self.assertEqual(raiseOpenFileLimit(MemoryReactorClock(), limits), (1024, 524288))
        self.assertEqual(limits.asked, [(524288, 524288)])
        self.assertEqual(self.messages(), ["Open files limit raised from 1024 to 524288"])

    def test_alreadyThere(self) -> None:
        """
        Nothing is set, nor logged, when the soft limit is the hard one.
        """
        limits = FakeLimits(20000, 20000)
        self.assertEqual(raiseOpenFileLimit(MemoryReactorClock(), limits), (20000, 20000))
        self.assertEqual(limits.asked, [])
        self.assertEqual(self.messages(), [])

    def test_lowHardLimit(self) -> None:
        """
        When even the hard limit leaves little room, a warning says so and
        how to raise it.
        """
        limits = FakeLimits(256, 1024)
        self.assertEqual(raiseOpenFileLimit(MemoryReactorClock(), limits), (256, 1024))
        [message] = self.messages()
        self.assertIn("Only 1024 files may be open at once (the hard limit is 1024)", message)
        self.assertIn("LimitNOFILE=", message)
        self.assertLess(1024, ENOUGH)

    def test_refused(self) -> None:
        """
        When the system refuses, the limit stays, the refusal is logged, and
        the server starts anyway.
        """
        limits = FakeLimits(1024, 524288, refuse=ValueError("not allowed"))
        self.assertEqual(raiseOpenFileLimit(MemoryReactorClock(), limits), (1024, 1024))
        messages = self.messages()
        self.assertIn(
            "Could not raise the open files limit from 1024 to 524288: not allowed", messages
        )

    def test_selectReactor(self) -> None:
        """
        A C{select()} reactor cannot watch descriptors past 1024: no more
        is asked for, and that is not worth a warning.
        """
        limits = FakeLimits(256, 524288)
        reactor = SelectReactor()
        self.addCleanup(reactor.disconnectAll)
        self.addCleanup(lambda: [os.close(fd) for fd in (reactor.waker.i, reactor.waker.o)])
        self.assertEqual(raiseOpenFileLimit(reactor, limits), (256, SELECT_MOST))
        self.assertEqual(limits.asked, [(SELECT_MOST, 524288)])
        self.assertEqual(self.messages(), ["Open files limit raised from 256 to 1024"])


class AtStartTests(TestCase):
    """
    C{twistd cheesecache} raises its own limit.
    """

    timeout = 120

    @inlineCallbacks
    def test_raisedAtStart(self):  # type: ignore[no-untyped-def]
        """
        Started with a soft limit of 256 open files, the server runs with
        its hard limit.
        """
        if not sys.platform.startswith("linux"):
            raise SkipTest("reads /proc")
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < ENOUGH:
            raise SkipTest(f"the hard limit here is {hard}")
        server = TwistdProcess(
            self, serveIndex(self, upstreamWithWheels()), self.mktemp(),
            prefix=["/bin/sh", "-c", 'ulimit -Sn 256 && exec "$@"', "sh"],
        )
        yield server.ready()
        with open(f"/proc/{server.transport.pid}/limits") as f:
            [line] = [line for line in f if line.startswith("Max open files")]
        self.assertEqual(line.split()[3], str(wantedLimit(256, hard)), line)
        raised = f"Open files limit raised from 256 to {wantedLimit(256, hard)}"
        # Written as the server starts, but read from its output pipe by
        # this process's reactor, maybe after the health check's answer.
        yield server.untilLogged(raised)
        self.assertIn(raised, server.log())
