"""
Tests for L{cheesecache.logs}.
"""

from __future__ import annotations

import io
import json

from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.logs import FLUSH_INTERVAL, BufferedLogObserver


def event(text: str, level: LogLevel = LogLevel.info) -> dict:
    return {"log_format": text, "log_level": level, "log_time": 1_700_000_000.5,
            "log_namespace": "test"}


class BufferedLogObserverTests(SynchronousTestCase):
    """
    Batched log writing.
    """

    def test_batches(self) -> None:
        """
        Info events wait for the flush interval, then go out together, in
        order.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater)
        observer(event("one"))
        observer(event("two"))
        self.assertEqual(out.getvalue(), "")
        clock.advance(FLUSH_INTERVAL)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].endswith("[test#info] one"))
        self.assertTrue(lines[1].endswith("two"))

    def test_warningsAtOnce(self) -> None:
        """
        A warning flushes what is buffered immediately.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater)
        observer(event("before"))
        observer(event("bad", LogLevel.warn))
        self.assertIn("before", out.getvalue())
        self.assertIn("bad", out.getvalue())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_notRunning(self) -> None:
        """
        Without a running reactor (shutting down) every event is written at
        once: nothing would run a scheduled flush.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater, lambda: False)
        observer(event("Server Shut Down."))
        self.assertIn("Server Shut Down.", out.getvalue())

    def test_json(self) -> None:
        """
        JSON mode writes one JSON object a line.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater, json=True)
        observer(event("hello"))
        observer.flush()
        self.assertEqual(json.loads(out.getvalue())["log_format"], "hello")
