"""
Tests for L{cheesecache.logs}.
"""

from __future__ import annotations

import io
import json
from typing import Any, Dict, Optional

from hypothesis import given, settings, strategies
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import combinedLogFormatter

from cheesecache.logs import (
    FLUSH_INTERVAL,
    BufferedLogObserver,
    combinedLogLine,
    escapeLogText,
)


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


class FinishedRequest:
    """
    What an access-log formatter reads of a finished request.
    """

    def __init__(
        self,
        uri: bytes = b"/simple/alpha/",
        headers: Optional[Dict[bytes, bytes]] = None,
        client: Any = IPv4Address("TCP", "192.0.2.7", 51234),
        method: bytes = b"GET",
        code: int = 200,
        sentLength: int = 1234,
    ) -> None:
        self.uri, self.method, self.clientproto = uri, method, b"HTTP/1.1"
        self.code, self.sentLength = code, sentLength
        self.headers = headers or {}
        self.client = client

    def getClientAddress(self) -> Any:
        return self.client

    def getHeader(self, name: bytes) -> Optional[bytes]:
        return self.headers.get(name)


#: Request data that must come out escaped.
HOSTILE = [
    b"plain/1.0",
    b'quote " and \\ backslash',
    b"it's",
    b"it's \"both\"",
    b"\\'",
    b"'\\\"",
    b"\\\\\"\"'",
    b"new\nline",
    b"cr\rlf\r\n2026-01-01T00:00:00+0000 [fake#info] forged",
    b"\x1b[31mred\x1b[0m \x00 \x7f \t",
    "caf\u00e9 \u2603".encode(),
    b"\xff\xfe",
    b"",
]


class EscapeTests(SynchronousTestCase):
    """
    Request data in access-log lines.
    """

    def test_asTwisted(self) -> None:
        """
        L{combinedLogLine} makes the very line Twisted's
        C{combinedLogFormatter} makes, whatever the request data.
        """
        clients = [
            IPv4Address("TCP", "192.0.2.7", 1),
            IPv6Address("TCP", "2001:db8::1", 1),
            UNIXAddress(b"/run/cc.sock"),
            None,
        ]
        for value in HOSTILE:
            for client in clients:
                for sentLength in (0, 17):
                    request = FinishedRequest(
                        uri=b"/simple/" + value, client=client, sentLength=sentLength,
                        headers={b"referer": value, b"user-agent": value},
                    )
                    self.assertEqual(
                        combinedLogLine("[date]", request),
                        combinedLogFormatter("[date]", request),
                    )
        for value in [bytes([i]) for i in range(256)] + [bytes(range(256))]:
            request = FinishedRequest(code=404, headers={b"user-agent": value})
            self.assertEqual(
                combinedLogLine("[date]", request), combinedLogFormatter("[date]", request)
            )

    @settings(max_examples=500, deadline=None)
    @given(strategies.binary(max_size=40), strategies.binary(max_size=40))
    def test_anyBytes(self, value: bytes, other: bytes) -> None:
        """
        Whatever bytes a request has, the line is Twisted's.
        """
        request = FinishedRequest(
            uri=value, method=other, headers={b"referer": other, b"user-agent": value}
        )
        self.assertEqual(
            combinedLogLine("[date]", request), combinedLogFormatter("[date]", request)
        )

    def test_newlineInUserAgent(self) -> None:
        """
        A newline in the User-Agent (or Referer, or request line) cannot end
        the line and start a forged one: it is written as C{\\n}, and
        quotes cannot end the field.
        """
        request = FinishedRequest(
            uri=b'/x"\n',
            headers={
                b"user-agent": b'pip\n2026-01-01T00:00:00+0000 [cheesecache#info] "forged"',
                b"referer": b"http://a/\r\n",
            },
        )
        line = combinedLogLine("[26/Nov/2026:02:35:05 +0000]", request)
        self.assertNotIn("\n", line)
        self.assertEqual(
            line,
            '"192.0.2.7" - - [26/Nov/2026:02:35:05 +0000] "GET /x\\"\\n HTTP/1.1" 200 1234'
            ' "http://a/\\r\\n"'
            ' "pip\\n2026-01-01T00:00:00+0000 [cheesecache#info] \\"forged\\""',
        )

    def test_escape(self) -> None:
        """
        Plain text is kept as it is; controls, quotes, backslashes and
        non-ASCII bytes are escaped.
        """
        self.assertEqual(escapeLogText(b"pip/24.0 CPython/3.11"), "pip/24.0 CPython/3.11")
        self.assertEqual(escapeLogText("192.0.2.7"), "192.0.2.7")
        self.assertEqual(escapeLogText(b'a"b\\c'), 'a\\"b\\\\c')
        self.assertEqual(escapeLogText(b"it's"), "it's")
        self.assertEqual(escapeLogText(b"\xc3\xa9\t\x00"), "\\xc3\\xa9\\t\\x00")
