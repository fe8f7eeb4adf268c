# -*- test-case-name: tests.test_logs -*-
"""
Log observers that do not cost a request its speed.

twistd's own text observer formats the time anew and flushes the file for
every event; with an access-log line per request that was a quarter of the
work of serving a small page.  These observers format the time once a
second and write in batches, a fraction of a second apart (and at once for
warnings and errors).

Even so, an access-log line handed to twisted.logger (Twisted's Site writes
it to a L{LoggingFile}) became an event that was built, published and then
formatted again through C{string.Formatter}: still nearly a fifth of the
CPU spent serving small pages.  L{AccessLogFile} hands Twisted's already
formatted line straight to the L{BufferedLogObserver}, which adds the same
prefix (or JSON fields) the event would have had.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import IO, Any, Callable, List, Optional, Union

import attrs
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.logger import (
    ILogObserver,
    LogLevel,
    eventAsJSON,
    formatEventAsClassicLogText,
)
from twisted.python import log as legacyLog
from twisted.web.iweb import IAccessLogFormatter
from zope.interface import implementer, provider

#: The longest a line waits in the buffer, in seconds.
FLUSH_INTERVAL = 0.25

#: The namespace of the events Twisted's Site logs through
#: twisted.python.log.logfile: access lines keep it, so that text and JSON
#: logs read as before.
ACCESS_NAMESPACE = "twisted.python.log"

#: The fields of such an event that are the same on every line, as
#: L{eventAsJSON} writes them (between the line and the time).
_ACCESS_JSON_FIXED = json.dumps({
    **json.loads(eventAsJSON({"log_logger": object(), "log_level": LogLevel.info})),
    "log_namespace": ACCESS_NAMESPACE,
    "log_source": None,
    "log_format": "{log_io}",
})[1:-1]

#: Bytes that only C{repr} escapes well: controls and all that is not
#: ASCII.  Request data seldom has any.
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")


#: Characters of an event's text that would let data in it (a project
#: name from a request's path, an uploaded file's name) forge a line or
#: play with the terminal of whoever reads the log: controls (but the tab,
#: and the newline, after which Twisted indents the rest of the event) and
#: what Python's C{splitlines} also ends a line at.
_UNSAFE_IN_EVENT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escapeUnsafe(match: "re.Match[str]") -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escapeLogText(value: Union[bytes, str]) -> str:
    """
    Escape untrusted request data for a double-quoted access-log field, as
    Twisted's C{combinedLogFormatter} does (C{repr} escapes, and C{"} as
    C{\\"}), so that it can neither end the field nor the line.  Printable
    ASCII, the usual case, needs only backslashes and quotes escaped, which
    is cheaper than C{repr}.
    """
    if isinstance(value, str):
        value = value.encode("ascii")
    if _NOT_PRINTABLE.search(value) is None:
        text = value.decode("ascii")
        if "\\" in text:
            text = text.replace("\\", "\\\\")
        if '"' in text:
            text = text.replace('"', '\\"')
        return text
    text = repr(value)[1:]
    if text.startswith("'"):
        return text[1:-1].replace('"', '\\"').replace("\\'", "'")
    return text[1:-1]


@provider(IAccessLogFormatter)
def combinedLogLine(timestamp: str, request: Any) -> str:
    """
    The line Twisted's C{combinedLogFormatter} makes, made with a cheaper
    escape and one f-string (for C{Site(logFormatter=...)}).
    """
    address = request.getClientAddress()
    host = address.host if isinstance(address, (IPv4Address, IPv6Address)) else "-"
    return (
        f'"{escapeLogText(host)}" - - {timestamp}'
        f' "{escapeLogText(request.method)} {escapeLogText(request.uri)}'
        f' {escapeLogText(request.clientproto)}" {request.code:d}'
        f' {request.sentLength or "-"}'
        f' "{escapeLogText(request.getHeader(b"referer") or b"-")}"'
        f' "{escapeLogText(request.getHeader(b"user-agent") or b"-")}"'
    )


@attrs.define
class _SecondFormatter:
    """
    Formats timestamps like twistd does, reusing the text within a second.
    """

    _second: int = -1
    _text: str = ""

    def __call__(self, when: Optional[float]) -> str:
        if when is None:
            return "-"
        second = int(when)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(second))
        return self._text


@implementer(ILogObserver)
@attrs.define
class BufferedLogObserver:
    """
    Writes events to C{out}, one line each (classic text or JSON), in
    batches.

    @ivar callLater: schedules the flush (a reactor's C{callLater}).
    @ivar running: is the reactor running?  When it is not (starting up,
        shutting down) nothing would run a scheduled flush, so every event
        is written at once.
    @ivar now: the time of an access line (L{writeAccessLine}).
    @ivar callFromThread: hands an event logged in another thread than the
        one that made this observer (the reactor's) to the reactor's
        thread (a reactor's C{callFromThread}): twisted.logger calls
        observers in the thread that logs, and neither C{callLater} nor
        the buffer may be used from two threads.  Without it, every thread
        is taken for the reactor's.
    """

    out: IO[str]
    callLater: Callable[..., Any]
    running: Callable[[], bool] = lambda: True
    json: bool = False
    now: Callable[[], float] = time.time
    callFromThread: Optional[Callable[..., Any]] = None
    _buffer: List[str] = attrs.field(factory=list)
    _pending: Any = None
    _formatTime: _SecondFormatter = attrs.field(factory=_SecondFormatter)
    _attached: bool = attrs.field(default=False, init=False)
    _thread: int = attrs.field(factory=threading.get_ident, init=False)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, init=False)

    @property
    def attached(self) -> bool:
        """
        Has twisted.logger given this observer an event, that is, is it the
        one twistd installed?  Until then access lines written straight to
        it would bypass whatever observer is installed instead.
        """
        return self._attached

    def __call__(self, event: dict) -> None:
        self._attached = True
        if self.json:
            line: Optional[str] = eventAsJSON(event) + "\n"
        else:
            line = formatEventAsClassicLogText(event, formatTime=self._formatTime)
            if line and _UNSAFE_IN_EVENT.search(line) is not None:
                line = _UNSAFE_IN_EVENT.sub(_escapeUnsafe, line)
        if not line:
            return
        level = event.get("log_level")
        self._add(line, level is not None and level >= LogLevel.warn)

    def writeAccessLine(self, line: str) -> None:
        """
        Log an access-log line (ending with its only newline) as the info
        event from L{ACCESS_NAMESPACE} that Twisted's Site would have logged,
        without building, publishing and formatting that event.
        """
        when = self.now()
        if self.json:
            # What eventAsJSON writes, the line encoded once instead of
            # three times, and no dictionaries built.
            text = json.dumps(line[:-1])
            entry = (
                f'{{"log_io": {text}, {_ACCESS_JSON_FIXED}, "log_time": {when!r},'
                f' "log_flattened": {{"log_io!s:": {text}, "log_io!:": {text}}}}}\n'
            )
        else:
            entry = f"{self._formatTime(when)} [{ACCESS_NAMESPACE}#info] {line}"
        self._add(entry, False)

    def _add(self, line: str, urgent: bool) -> None:
        if not self.running():
            # Nothing would run a scheduled flush, nor what is handed to
            # the reactor: written at once, from whichever thread (pool
            # threads finishing as the reactor stops).
            with self._lock:
                self._buffer.append(line)
                self.flush()
            return
        if self.callFromThread is not None and threading.get_ident() != self._thread:
            self.callFromThread(self._add, line, urgent)
            return
        self._buffer.append(line)
        if urgent:
            self.flush()
        elif self._pending is None:
            self._pending = self.callLater(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        """
        Write what is buffered.
        """
        with self._lock:
            if self._pending is not None and self._pending.active():
                self._pending.cancel()
            self._pending = None
            if self._buffer:
                data, self._buffer = "".join(self._buffer), []
                self.out.write(data)
                self.out.flush()

    def rotate(self) -> None:
        """
        Write what is buffered, then rotate the file, if C{out} is one that
        rotates (a L{twisted.python.logfile.LogFile}).
        """
        self.flush()
        rotate = getattr(self.out, "rotate", None)
        if rotate is not None:
            rotate()


@attrs.define
class AccessLogFile:
    """
    The file a Site writes its access log to (C{Site.logFile}): each line
    goes straight to C{observer} once it is the installed observer, and
    otherwise to twisted.python.log.logfile, where Twisted's Site writes
    it (then to whatever observer is installed: C{twistd --logger}, tests).
    """

    observer: BufferedLogObserver

    def write(self, data: str) -> None:
        end = len(data) - 1
        # A single line, as Twisted's Site writes; LoggingFile would make
        # one event of each line of anything else.
        if end > 0 and data.find("\n") == end and self.observer.attached:
            self.observer.writeAccessLine(data)
        else:
            legacyLog.logfile.write(data)

    def close(self) -> None:
        """
        Nothing to close: the observer's file is twistd's log.
        """
