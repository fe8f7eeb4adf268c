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

import time
from typing import IO, Any, Callable, List, Optional

import attrs
from twisted.logger import (
    ILogObserver,
    LogLevel,
    eventAsJSON,
    formatEventAsClassicLogText,
)
from zope.interface import implementer

#: The longest a line waits in the buffer, in seconds.
FLUSH_INTERVAL = 0.25


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
