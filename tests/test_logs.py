"""
Tests for L{cheesecache.logs}.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from typing import Any, Dict, List, Optional

from hypothesis import given, settings, strategies
from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.logger import (
    Logger,
    LoggingFile,
    LogLevel,
    formatTime,
    globalLogPublisher,
    timeFormatRFC3339,
)
from twisted.python import log as legacyLog
from twisted.python.filepath import FilePath
from twisted.python.logfile import LogFile
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.http import combinedLogFormatter, datetimeToLogString
from twisted.web.resource import Resource

from cheesecache.logs import (
    ACCESS_NAMESPACE,
    FLUSH_INTERVAL,
    AccessLogFile,
    BufferedLogObserver,
    combinedLogLine,
    escapeLogText,
)
from cheesecache.web.site import makeSite

WHEN = 1_700_000_000.5
CLIENT = IPv4Address("TCP", "192.0.2.7", 51234)


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

    def test_fromAThread(self) -> None:
        """
        An event logged in another thread than the reactor's (an upload or
        a deletion in the pool logs its outcome there) is handed to the
        reactor's thread, which buffers and schedules it: the reactor's
        C{callLater} is not thread-safe (a flush scheduled from a thread
        may never run, and then nothing is written until a warning), nor is
        the buffer (a line added as it is written out is lost).
        """
        out, clock = io.StringIO(), Clock()
        scheduledIn: List[int] = []

        def callLater(delay: float, f: Any) -> Any:
            scheduledIn.append(threading.get_ident())
            return clock.callLater(delay, f)

        handed: List[Any] = []
        observer = BufferedLogObserver(
            out, callLater, callFromThread=lambda f, *a: handed.append((f, a))
        )
        thread = threading.Thread(target=observer, args=(event("uploaded"),))
        thread.start()
        thread.join()
        self.assertEqual((scheduledIn, out.getvalue()), ([], ""))
        for f, args in handed:
            f(*args)
        self.assertEqual(scheduledIn, [threading.get_ident()])
        clock.advance(FLUSH_INTERVAL)
        self.assertTrue(out.getvalue().endswith("] uploaded\n"))

    def test_fromAThreadNotRunning(self) -> None:
        """
        When the reactor is not running (pool threads finishing as it
        stops), an event from a thread is written at once, as nothing
        would run what is handed to the reactor.
        """
        out, clock = io.StringIO(), Clock()
        handed: List[Any] = []
        observer = BufferedLogObserver(
            out, clock.callLater, lambda: False, callFromThread=handed.append
        )
        thread = threading.Thread(target=observer, args=(event("last words"),))
        thread.start()
        thread.join()
        self.assertEqual(handed, [])
        self.assertTrue(out.getvalue().endswith("] last words\n"))

    def test_rotate(self) -> None:
        """
        Rotating writes what is buffered to the file being rotated away, and
        later lines go to a new file of the same name.
        """
        logs = FilePath(self.mktemp())
        logs.makedirs()
        out = LogFile.fromFullPath(logs.child("cc.log").path)
        self.addCleanup(out.close)
        clock = Clock()
        observer = BufferedLogObserver(out, clock.callLater)
        observer(event("before"))
        observer.rotate()
        observer(event("after"))
        observer.flush()
        rotated = logs.child("cc.log.1").getContent().decode()
        current = logs.child("cc.log").getContent().decode()
        self.assertIn("before", rotated)
        self.assertNotIn("after", rotated)
        self.assertIn("after", current)
        self.assertNotIn("before", current)

    def test_rotateNotAFile(self) -> None:
        """
        Rotating an observer writing to a stream that does not rotate
        (standard output) only flushes it.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater)
        observer(event("kept"))
        observer.rotate()
        self.assertIn("kept", out.getvalue())

    def test_json(self) -> None:
        """
        JSON mode writes one JSON object a line.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater, json=True)
        observer(event("hello"))
        observer.flush()
        self.assertEqual(json.loads(out.getvalue())["log_format"], "hello")

    def test_controlCharactersEscaped(self) -> None:
        """
        Control characters in an event's text, such as a project name taken
        from a request's path (C{/-/yank/...} refused), are written escaped:
        a carriage return, an ANSI escape or a Unicode line separator cannot
        start a forged line, nor rewrite the terminal of whoever reads the
        log.  Line breaks still continue the event on an indented line.
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater)
        project = "a\r2026-01-01T00:00:00+0000 [fake#info] forged\x1b[2J\x85\u2028caf\u00e9"
        observer({**event("{user} may not yank on {project}: no"), "user": "bob",
                  "project": project})
        observer(event("first\nsecond\ttabbed"))
        observer.flush()
        self.assertEqual(len(out.getvalue().splitlines()), 3)
        refused, first, second, end = out.getvalue().split("\n")
        self.assertEqual(
            refused.split("] ", 1)[1],
            "bob may not yank on a\\r2026-01-01T00:00:00+0000 [fake#info] forged"
            "\\x1b[2J\\x85\\u2028caf\u00e9: no",
        )
        self.assertTrue(first.endswith("] first"))
        self.assertEqual((second, end), ("\tsecond\ttabbed", ""))


class FinishedRequest:
    """
    What an access-log formatter reads of a finished request.
    """

    def __init__(
        self,
        uri: bytes = b"/simple/alpha/",
        headers: Optional[Dict[bytes, bytes]] = None,
        client: Any = CLIENT,
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


def slowLine(line: str, json: bool = False) -> str:
    """
    What a L{BufferedLogObserver} writes for C{line} coming the way Twisted's
    Site sends it: through a L{LoggingFile} as a twisted.logger event.
    """
    out = io.StringIO()
    observer = BufferedLogObserver(out, Clock().callLater, json=json)
    LoggingFile(Logger(namespace=ACCESS_NAMESPACE, observer=observer)).write(line)
    observer.flush()
    return out.getvalue()


class AccessLineTests(SynchronousTestCase):
    """
    L{BufferedLogObserver.writeAccessLine} writes what the event would have.
    """

    line = '"192.0.2.7" - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 5 "-" "pip"\n'

    def observer(self, json: bool = False) -> "tuple[io.StringIO, Clock, BufferedLogObserver]":
        out, clock = io.StringIO(), Clock()
        return out, clock, BufferedLogObserver(out, clock.callLater, json=json, now=lambda: WHEN)

    def test_text(self) -> None:
        """
        In text mode an access line gets twistd's classic prefix: the time
        and the system of Twisted's own access-log events.
        """
        out, _, observer = self.observer()
        observer.writeAccessLine(self.line)
        observer.flush()
        self.assertEqual(
            out.getvalue(),
            formatTime(WHEN, timeFormatRFC3339) + " [twisted.python.log#info] " + self.line,
        )
        slow = slowLine(self.line)
        self.assertEqual(out.getvalue().split(" ", 1)[1], slow.split(" ", 1)[1])

    def test_json(self) -> None:
        """
        In JSON mode an access line is the JSON event Twisted's Site made
        (same fields, same order, same text), with the time it was written.
        """
        hostile = combinedLogLine("[date]", FinishedRequest(
            headers={b"user-agent": b"".join(HOSTILE), b"referer": b'{"a": "\\\\"}'}
        )) + "\n"
        for line in (self.line, hostile):
            out, _, observer = self.observer(json=True)
            observer.writeAccessLine(line)
            observer.flush()
            text = out.getvalue()
            self.assertTrue(text.endswith("}\n"))
            self.assertEqual(text.count("\n"), 1)
            slow = json.loads(slowLine(line, json=True))
            slow["log_time"] = WHEN
            self.assertEqual(text, json.dumps(slow) + "\n")
            fast = json.loads(text)
            self.assertEqual(fast["log_time"], WHEN)
            self.assertEqual(fast["log_io"], line[:-1])
            self.assertEqual(fast["log_namespace"], "twisted.python.log")

    def test_batched(self) -> None:
        """
        Access lines wait for the flush interval with the other events, in
        the order they came.
        """
        out, clock, observer = self.observer()
        observer(event("before"))
        observer.writeAccessLine(self.line)
        observer(event("after"))
        self.assertEqual(out.getvalue(), "")
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(FLUSH_INTERVAL)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].endswith("before"))
        self.assertTrue(lines[1].endswith(self.line[:-1]))
        self.assertTrue(lines[2].endswith("after"))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_flushedByWarning(self) -> None:
        """
        A warning writes the access lines before it at once.
        """
        out, clock, observer = self.observer()
        observer.writeAccessLine(self.line)
        observer(event("bad", LogLevel.warn))
        self.assertIn(self.line, out.getvalue())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_notRunning(self) -> None:
        """
        Without a running reactor an access line is written at once.
        """
        out = io.StringIO()
        observer = BufferedLogObserver(out, Clock().callLater, lambda: False)
        observer.writeAccessLine(self.line)
        self.assertTrue(out.getvalue().endswith(self.line))


class AccessLogFileTests(SynchronousTestCase):
    """
    L{AccessLogFile} uses the observer only once it is the installed one.
    """

    line = AccessLineTests.line

    def setUp(self) -> None:
        self.out = io.StringIO()
        self.observer = BufferedLogObserver(self.out, Clock().callLater, lambda: False)
        self.events: List[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def test_notAttached(self) -> None:
        """
        Before the observer got any event (twistd installed another, or
        none), lines go through twisted.logger as Twisted's Site sends them.
        """
        AccessLogFile(self.observer).write(self.line)
        self.assertEqual(self.out.getvalue(), "")
        self.assertEqual([e.get("log_io") for e in self.events], [self.line[:-1]])

    def test_attached(self) -> None:
        """
        Once twisted.logger gives the observer events, lines go straight to
        it, not through twisted.logger.
        """
        globalLogPublisher.addObserver(self.observer)
        self.addCleanup(globalLogPublisher.removeObserver, self.observer)
        Logger().info("hello")
        self.events.clear()
        AccessLogFile(self.observer).write(self.line)
        self.assertTrue(self.out.getvalue().endswith(self.line))
        self.assertEqual(self.events, [])

    def test_notOneLine(self) -> None:
        """
        Anything but a single line goes through twisted.logger, which makes
        an event of each line.
        """
        self.observer(event("attach"))
        AccessLogFile(self.observer).write("one\ntwo\n")
        AccessLogFile(self.observer).write("\n")
        self.assertNotIn("one", self.out.getvalue())
        self.assertEqual([e.get("log_io") for e in self.events], ["one", "two", ""])


class Client(Protocol):
    def __init__(self) -> None:
        self.done: Deferred[None] = Deferred()

    def connectionLost(self, reason: Any) -> None:
        self.done.callback(None)


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return b"hello"


class SiteAccessLogTests(TestCase):
    """
    The access log of a real Site, over loopback.
    """

    def serve(self, observer: Optional[BufferedLogObserver]) -> int:
        site = makeSite(Hello(), logObserver=observer)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port  # type: ignore[no-any-return]

    @inlineCallbacks
    def request(self, port: int, data: bytes):  # type: ignore[no-untyped-def]
        client = yield connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port), Client()
        )
        client.transport.write(data)
        yield client.done

    @inlineCallbacks
    def test_line(self):  # type: ignore[no-untyped-def]
        """
        A request's combined-log line goes to the installed observer, with
        its prefix, escaped, without credentials, after the flush interval.
        (Twisted refuses a CR or LF in a header: L{EscapeTests} has those.)
        """
        out, clock = io.StringIO(), Clock()
        observer = BufferedLogObserver(out, clock.callLater, now=lambda: WHEN)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        # Twisted's Site updates its date a second after the last update.
        before = datetimeToLogString()
        port = self.serve(observer)
        secret = base64.b64encode(b"alice:s3cret").decode()
        yield self.request(port, (
            "GET /hello?q=%0a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Basic {secret}\r\n"
            'User-Agent: pip "1" \x1b[31m\u00e9\r\n'
            "Referer: http://ref/\r\n\r\n"
        ).encode("utf-8"))
        after = datetimeToLogString()
        self.assertEqual(out.getvalue(), "")
        clock.advance(FLUSH_INTERVAL)
        prefix = formatTime(WHEN, timeFormatRFC3339) + " [twisted.python.log#info] "
        expected = [
            prefix + f'"127.0.0.1" - - {date} "GET /hello?q=%0a HTTP/1.1" 200 5'
            ' "http://ref/" "pip \\"1\\" \\x1b[31m\\xc3\\xa9"\n'
            for date in (before, after)
        ]
        written = [l for l in out.getvalue().splitlines(True) if "GET /hello" in l]
        self.assertEqual(len(written), 1, out.getvalue())
        self.assertIn(written[0], expected)
        self.assertNotIn(secret, out.getvalue())
        self.assertNotIn("s3cret", out.getvalue())

    @inlineCallbacks
    def test_withoutObserver(self):  # type: ignore[no-untyped-def]
        """
        A Site without cheesecache's observer logs through twisted.logger,
        as Twisted's Site does.
        """
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        port = self.serve(None)
        yield self.request(port, b"GET /x HTTP/1.0\r\nUser-Agent: a\tb\r\n\r\n")
        lines = [e["log_io"] for e in events if "log_io" in e]
        self.assertEqual(len(lines), 1)
        self.assertRegex(
            lines[0], r'^"127\.0\.0\.1" - - \[.*\] "GET /x HTTP/1\.0" 200 5 "-" "a\\tb"$'
        )
        self.assertEqual(events[-1]["log_namespace"], "twisted.python.log")

    def test_logFileKept(self) -> None:
        """
        The Site's log file is the L{AccessLogFile} again each time it
        starts (Twisted's C{startFactory} resets it).
        """
        observer = BufferedLogObserver(io.StringIO(), Clock().callLater)
        site = makeSite(Hello(), logObserver=observer)
        for _ in range(2):
            site.doStart()
            self.assertIsInstance(site.logFile, AccessLogFile)
            site.doStop()
        plain = makeSite(Hello())
        plain.doStart()
        self.addCleanup(plain.doStop)
        self.assertIs(plain.logFile, legacyLog.logfile)
