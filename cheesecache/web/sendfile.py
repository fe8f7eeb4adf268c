# -*- test-case-name: tests.test_sendfile -*-
"""
Zero-copy sending of files that are already on disk (stored downloads and
big rendered pages), with C{sendfile(2)}.

Reading a file into Python and writing it out costs two copies and a trip
through the interpreter per chunk; for an 80 MB wheel that was half of what
nginx manages.  C{sendfile} lets the kernel move the bytes from the page
cache to the socket.

Twisted's transport owns the socket and may still hold buffered bytes (the
response headers, the tail of a pipelined response), so the kernel must not
be given the socket before that buffer is empty.  A push producer learns
exactly that: a transport that pauses its producer because its buffer is
full resumes it only once the buffer has drained.  So L{SendfileProducer}
writes the headers the ordinary way while the transport's C{bufferSize} is
0, is paused, and on resume hands the whole body to a L{SocketSender}, which
watches a duplicate of the socket's file descriptor for writability (the
reactor keeps the original for reading) and calls C{sendfile} until the
range is sent.  (It used to write a first piece of the file a little larger
than the buffer, to the same end: 64 KiB read and copied through Python for
every response, 2-3% of the requests per second of big warm pages with
gzip.)

Only plain TCP qualifies: a TLS transport has to encrypt the bytes itself.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Optional, Protocol

from twisted.internet import tcp
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer, IReactorFDSet, ISSLTransport, IWriteDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.static import SingleRangeStaticProducer
from zope.interface import implementer

log = Logger()

#: Below this many bytes the ordinary write path is as cheap.
MIN_SIZE = 256 * 1024

#: The most one writability event sends before the reactor serves others.
BURST = 4 * 1024 * 1024

#: Seconds a client may read nothing before it is cut off, unless the
#: channel says otherwise (C{writeStallTimeout}).
STALL_TIMEOUT = 120.0


def sendfileTransport(request: IRequest) -> Optional[tcp.Connection]:
    """
    The plain TCP transport under C{request}, if C{sendfile} can write to it.
    """
    if not hasattr(os, "sendfile"):
        return None
    transport = getattr(getattr(request, "channel", None), "transport", None)
    if not isinstance(transport, tcp.Connection) or ISSLTransport.providedBy(transport):
        return None
    if not IReactorFDSet.providedBy(getattr(transport, "reactor", None)):
        return None
    return transport


def sendFile(request: IRequest, fileObject: BinaryIO, offset: int, size: int) -> bool:
    """
    Start sending C{size} bytes of C{fileObject} from C{offset} as the body of
    C{request}, with C{sendfile} when the transport allows it.

    @return: C{False} (and nothing done) when C{sendfile} cannot be used, so
        the caller writes the body its own way; C{True} once the producer has
        started: it finishes the request and closes C{fileObject}.
    """
    transport = sendfileTransport(request)
    if transport is None or size < MIN_SIZE:
        return False
    SendfileProducer(request, transport, fileObject, offset, size).start()
    return True


@implementer(IPushProducer)
class SendfileProducer:
    """
    Writes the response headers the ordinary way, then the whole body with
    C{sendfile} once the transport's buffer has drained.
    """

    def __init__(
        self,
        request: IRequest,
        transport: tcp.Connection,
        fileObject: BinaryIO,
        offset: int,
        size: int,
    ) -> None:
        self.request = request
        self.transport = transport
        self.fileObject = fileObject
        self.offset = offset
        self.remaining = size
        self.paused = False
        self.sender: Optional[SocketSender] = None
        self.done = False

    def start(self) -> None:
        self.request.registerProducer(self, True)
        # The headers alone, written while the transport may buffer nothing,
        # make it pause us, and resume us once it has sent them.
        limit = self.transport.bufferSize
        self.transport.bufferSize = 0
        try:
            self.request.write(b"")
        finally:
            self.transport.bufferSize = limit
        if self.done:
            return  # the client went away during that write
        if not self.remaining:
            self._finish(0)
        elif not self.paused:
            # The transport did not pause us: we cannot know when its buffer
            # is empty, so the body goes the ordinary way.
            self.request.unregisterProducer()
            SingleRangeStaticProducer(
                self.request, self.fileObject, self.offset, self.remaining
            ).start()

    def available(self) -> int:
        return self.remaining

    def advance(self, n: int) -> None:
        self.offset += n
        self.remaining -= n

    def allSent(self) -> bool:
        return not self.remaining

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        if self.sender is None and not self.done and self.remaining:
            self.sender = SocketSender.forRequest(self, self.request)
            self.sender.start()

    def stopProducing(self) -> None:
        """
        The client went away.
        """
        if self.sender is not None:
            self.sender.stop()
        self._close()

    def _close(self) -> None:
        self.done = True
        self.fileObject.close()

    def _finish(self, sent: int) -> None:
        self._close()
        # Bytes that bypassed request.write still count for the access log
        # and the metrics.
        self.request.sentLength += sent  # type: ignore[attr-defined]
        self.request.unregisterProducer()
        self.request.finish()

    def _failed(self, reason: Failure) -> None:
        self._close()
        self.request.unregisterProducer()
        self.transport.abortConnection()


class SendfileSource(Protocol):
    """
    What a L{SocketSender} sends from: a file, how much of it may go now,
    and whom to tell when all is sent or the client is lost.
    """

    fileObject: BinaryIO
    offset: int
    transport: tcp.Connection

    @property
    def done(self) -> bool:
        """
        Whether the source has ended already (finished, failed, or its
        client gone): a lost connection is then nothing to report.
        """

    def available(self) -> int:
        """
        Bytes after C{offset} that may be sent now (none if zero or less).
        """

    def advance(self, n: int) -> None:
        """
        C{n} more bytes were sent.
        """

    def allSent(self) -> bool:
        """
        Nothing more will become available.
        """

    def _finish(self, sent: int) -> None:
        ...

    def _failed(self, reason: Failure) -> None:
        ...


@implementer(IWriteDescriptor)
class SocketSender:
    """
    Calls C{sendfile} whenever a duplicate of the client's socket is
    writable, until its source has sent all.  A source that has nothing
    available yet (a download that is still coming) leaves it idle until
    L{wake} is called.
    """

    def __init__(self, producer: SendfileSource, stallTimeout: float) -> None:
        self.producer = producer
        self.reactor: Any = producer.transport.reactor
        self.stallTimeout = stallTimeout
        self.fd = -1
        self.sent = 0
        self.idle = False
        self.progressed = False
        self.stallTimer: Optional[Any] = None

    @classmethod
    def forRequest(cls, producer: SendfileSource, request: IRequest) -> "SocketSender":
        """
        A sender for C{producer}, the body of C{request}, with the
        write-stall deadline of C{request}'s channel; L{start} it once the
        producer holds on to it (it may finish at once).
        """
        stall = getattr(request.channel, "writeStallTimeout", STALL_TIMEOUT)
        return cls(producer, stall)

    def start(self) -> None:
        """
        Send what the kernel takes now, on the transport's own socket (its
        buffer has just drained, so there is most likely room), and watch a
        duplicate of the socket only for the rest.  A page or file that
        fits in the socket's buffer then costs no C{dup}, no C{epoll_ctl}
        and no extra reactor turn.
        """
        producer = self.producer
        error = self._send(producer.transport.fileno())
        if error is not None:
            producer._failed(Failure(error))
            return
        if producer.allSent():
            producer._finish(self.sent)
            return
        self.fd = os.dup(producer.transport.fileno())
        if producer.available() <= 0:
            self.idle = True
            return
        self._watch()

    def _watch(self) -> None:
        """
        Wait for room in the socket, cutting the client off if it reads
        nothing for C{stallTimeout} seconds: whether the last burst filled
        the socket or only reached L{BURST}, the socket may never have room
        again.
        """
        self.reactor.addWriter(self)
        self._armStallTimer()

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "sendfile"

    def _send(self, fd: int) -> Optional[Exception]:
        """
        C{sendfile} to C{fd} what is available, up to L{BURST}.

        @return: an exception when the client is gone or the file is short,
            else C{None} (all that is available sent, or the socket full, or
            L{BURST} reached).
        """
        producer = self.producer
        inFd = producer.fileObject.fileno()
        burst = 0
        while burst < BURST:
            available = producer.available()
            if available <= 0:
                break  # (a negative count would make sendfile fail)
            try:
                n = os.sendfile(fd, inFd, producer.offset, available)
            except BlockingIOError:
                return None  # The socket is full.
            except OSError as e:
                return ConnectionLost(f"sendfile: {e}")
            if n == 0:
                log.error("A file on disk is shorter than its size")
                return ConnectionLost("the file is shorter than its size")
            producer.advance(n)
            self.sent += n
            burst += n
            self.progressed = True
        return None

    def doWrite(self) -> Optional[Exception]:
        producer = self.producer
        error = self._send(self.fd)
        if error is not None:
            return error
        if producer.allSent():
            self._close()
            producer._finish(self.sent)
        elif producer.available() <= 0:
            # Caught up with a file still being written: wait for more.
            self.reactor.removeWriter(self)
            self.idle = True
        return None

    def wake(self) -> None:
        """
        More is available (or all is): start sending again.
        """
        if self.idle and self.fd >= 0:
            self.idle = False
            self._watch()

    def connectionLost(self, reason: Failure) -> None:
        """
        C{doWrite} failed (the reactor has stopped watching us already).
        """
        self._close(removeWriter=False)
        if not self.producer.done:
            self.producer._failed(reason)

    def stop(self) -> None:
        """
        The source is done (its client went away, or its file failed): stop
        watching the duplicate, and close it in the reactor's next round.
        This is called while the reactor handles another descriptor's event
        (the client's socket, an upstream's), and an event of the duplicate
        (a hang-up) may be waiting in the same round: closed now, its
        number could go to a connection accepted in that round, and the
        reactor, which knows descriptors by number, would hand it the
        hang-up, closing it before its request was read.
        """
        self._close(later=True)

    def _armStallTimer(self) -> None:
        if self.stallTimer is None:
            self.progressed = False
            self.stallTimer = self.reactor.callLater(self.stallTimeout, self._checkStall)

    def _checkStall(self) -> None:
        self.stallTimer = None
        if self.idle:
            return  # Waiting for the file, not for the client.
        if self.progressed:
            self._armStallTimer()
            return
        log.warn(
            "Closing a connection whose client read nothing for {seconds}s",
            seconds=self.stallTimeout,
        )
        self._close()
        self.producer._failed(Failure(ConnectionLost("client stopped reading")))

    def _close(self, removeWriter: bool = True, later: bool = False) -> None:
        if self.stallTimer is not None:
            if self.stallTimer.active():
                self.stallTimer.cancel()
            self.stallTimer = None
        if self.fd >= 0:
            if removeWriter and not self.idle:
                self.reactor.removeWriter(self)
            if later:
                self.reactor.callLater(0, os.close, self.fd)
            else:
                os.close(self.fd)
            self.fd = -1
