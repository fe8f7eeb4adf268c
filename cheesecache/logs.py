# -*- test-case-name: tests.test_logs -*-
"""
Log observers that do not cost a request its speed.

twistd's own text observer formats the time anew and flushes the file for
every event; with an access-log line per request that was a quarter of the
work of serving a small page.  These observers format the time once a
second and write in batches, a fraction of a second apart (and at once for
warnings and errors).
"""

from __future__ import annotations

import re
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
from twisted.web.iweb import IAccessLogFormatter
from zope.interface import implementer, provider

#: The longest a line waits in the buffer, in seconds.
FLUSH_INTERVAL = 0.25

#: Bytes that only C{repr} escapes well: controls and all that is not
#: ASCII.  Request data seldom has any.
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")


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
    """

    out: IO[str]
    callLater: Callable[..., Any]
    running: Callable[[], bool] = lambda: True
    json: bool = False
    _buffer: List[str] = attrs.field(factory=list)
    _pending: Any = None
    _formatTime: _SecondFormatter = attrs.field(factory=_SecondFormatter)

    def __call__(self, event: dict) -> None:
        if self.json:
            line: Optional[str] = eventAsJSON(event) + "\n"
        else:
            line = formatEventAsClassicLogText(event, formatTime=self._formatTime)
        if not line:
            return
        self._buffer.append(line)
        level = event.get("log_level")
        if (level is not None and level >= LogLevel.warn) or not self.running():
            self.flush()
        elif self._pending is None:
            self._pending = self.callLater(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        """
        Write what is buffered.
        """
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None
        if self._buffer:
            data, self._buffer = "".join(self._buffer), []
            self.out.write(data)
            self.out.flush()
