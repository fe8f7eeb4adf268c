# -*- test-case-name: tests.test_channel -*-
"""
Deadlines Twisted's HTTP channel does not have.

Its idle timeout restarts on every byte received and is off while a response
is written, so a client sending one header byte every few seconds
(slowloris), dribbling a body, or never reading its response (slow read)
could hold a connection, and the memory behind it, forever.  The
L{GuardedChannel} gives each request a deadline for its headers, a minimum
rate for its body, and aborts a connection whose client stops reading.

Its body size is limited too, whether announced (C{Content-Length}) or not
(chunked, counted as it arrives by a L{GuardedRequest}): Twisted spools a
body to a temporary file however long it is, so without a limit any client
could fill the disk.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, List, Optional, Set

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.web import server
from twisted.web.http import HTTPChannel

from ..forwarded import UNIX_PEERS, TrustedProxies, clientAddress, forwardedClient
from ..logs import combinedLogLine
from .representation import reasonPhrase

log = Logger()


class GuardedChannel(HTTPChannel):
    """
    An HTTP/1.1 channel with deadlines against slow clients.

    @ivar headerDeadline: seconds from a request's first byte to its last
        header.
    @ivar bodyGrace: seconds a body may come at less than C{minBodyRate}:
        at any time after its headers, C{minBodyRate} bytes for every second
        past these must have come.
    @ivar minBodyRate: bytes per second a request body must at least come at.
    @ivar writeStallTimeout: seconds a client may read nothing of a response
        that is waiting to be sent.
    @ivar maxBodySize: the largest request body accepted (413 above it), for
        requests that L{takesBigBody} picks (uploads).
    @ivar maxSmallBodySize: the largest body of any other request.
    @ivar trustedProxies: the reverse proxies whose C{X-Forwarded-For} is
        believed, by requests that are L{ForwardedFor}.
    @ivar bigBodyRefusal: the message of a 413 for a body over
        C{maxBodySize} (an upload too big), as its reason phrase too, which
        is what twine shows; by default, the sizes in bytes.
    """

    headerDeadline = 30.0
    bodyGrace = 60.0
    minBodyRate = 16 * 1024
    writeStallTimeout = 120.0
    maxBodySize = 1024 * 1024 * 1024
    maxSmallBodySize = 2 * 1024 * 1024
    bigBodyRefusal: Optional[str] = None
    trustedProxies: TrustedProxies = ()

    #: Whether a request, given its method and path, may have a body of up
    #: to C{maxBodySize}, not C{maxSmallBodySize}: by default every one.
    takesBigBody: Callable[[bytes, bytes], bool] = staticmethod(lambda method, path: True)

    #: The clock the deadlines are read from (the site's reactor's).
    seconds: Callable[[], float] = staticmethod(time.time)

    #: When the request now arriving sent its first line, until its headers
    #: are complete.
    _headersSince: Optional[float] = None
    _host: Optional[Any] = None
    _peer: Optional[Any] = None
    _headerTimer: Optional[Any] = None
    _bodyTimer: Optional[Any] = None
    #: When the headers of the body now arriving were complete.
    _bodySince: float = 0.0
    _stallTimer: Optional[Any] = None
    #: The idle timeout (Twisted's C{TimeoutMixin} period): seconds, or
    #: None while a request is being answered.
    _idlePeriod: Optional[float] = None
    _idleSince: float = 0.0
    _idleTimer: Optional[Any] = None
    #: The limit of the body now arriving, and how much of it has.
    _bodyLimit: Optional[int] = None
    _bodyArrived: int = 0
    _bigBody: bool = False
    _refused: bool = False
    #: Fired when the connection is gone, once L{closeWhenDone} was called.
    _closeWaiters: Optional[List["Deferred[None]"]] = None

    def _cancel(self, name: str) -> None:
        timer = getattr(self, name)
        if timer is not None:
            if timer.active():
                timer.cancel()
            setattr(self, name, None)

    def _abort(self, why: str) -> None:
        log.warn(
            "Closing the connection from {peer}: {why}",
            peer=getattr(self.transport.getPeer(), "host", "?"), why=why,
        )
        self.transport.abortConnection()

    def getHost(self) -> Any:
        # Twisted asks for every request; the answer never changes.
        if self._host is None:
            self._host = HTTPChannel.getHost(self)
        return self._host

    def getPeer(self) -> Any:
        if self._peer is None:
            self._peer = HTTPChannel.getPeer(self)
        return self._peer

    def dataReceived(self, data: bytes) -> None:
        # The clock starts when the bytes of a request's head start to
        # arrive (checked here, once per read, rather than for every line).
        if self._headersSince is None and self.line_mode and not self.paused:
            self._headersSince = self.seconds()
            if self._headerTimer is None:
                self._headerTimer = self.callLater(self.headerDeadline, self._checkHeaders)
        HTTPChannel.dataReceived(self, data)

    def _checkHeaders(self) -> None:
        """
        The header deadline, checked by one timer per connection that is
        left running between requests (a timer made and cancelled for each
        request cost a few percent of a small page's CPU).
        """
        self._headerTimer = None
        if self._headersSince is None:
            return  # No request is waiting for its headers.
        left = self._headersSince + self.headerDeadline - self.seconds()
        if left > 0:
            self._headerTimer = self.callLater(left, self._checkHeaders)
        else:
            self._abort(f"request headers not complete within {self.headerDeadline}s")

    def allHeadersReceived(self) -> None:
        self._headersSince = None
        # Twisted's channel holds the request line until the body is in.
        method, path = getattr(self, "_command", b""), getattr(self, "_path", b"")
        if path[:1] != b"/":
            path = self._path = originForm(path)
        self._bigBody = self.takesBigBody(method, path)
        limit = self.maxBodySize if self._bigBody else self.maxSmallBodySize
        if self.length is not None and self.length > limit:
            self._refuseBody(limit, f"Request body of {self.length} bytes")
            return
        self._bodyLimit, self._bodyArrived = limit, 0
        if self.length or self._transferDecoder is not None:
            self._bodySince = self.seconds()
            self._bodyTimer = self.callLater(self.bodyGrace, self._checkBody)
        HTTPChannel.allHeadersReceived(self)

    def _checkBody(self) -> None:
        """
        The minimum body rate, checked again when what has come will no
        longer do (at most once a second).  A deadline for the whole body,
        from its announced length or the limit, let a client sending a
        byte a minute hold a connection for hours.
        """
        self._bodyTimer = None
        elapsed = self.seconds() - self._bodySince - self.bodyGrace
        ahead = self._bodyArrived / self.minBodyRate - elapsed
        if ahead < 0:
            self._abort(
                f"request body slower than {self.minBodyRate} bytes/s"
                f" ({self._bodyArrived} bytes in {elapsed + self.bodyGrace:.0f}s)"
            )
        else:
            self._bodyTimer = self.callLater(max(ahead, 1.0), self._checkBody)

    def bodyArrived(self, size: int) -> bool:
        """
        Note that C{size} more bytes of the body now arriving have been
        decoded: C{False}, and the request refused, once they pass its
        limit (a chunked body's length is known only so).
        """
        if self._refused:
            return False
        self._bodyArrived += size
        if self._bodyLimit is not None and self._bodyArrived > self._bodyLimit:
            self._refuseBody(self._bodyLimit, "Request body")
            return False
        return True

    def _refuseBody(self, limit: int, what: str) -> None:
        self._refused = True
        log.warn(
            "Refusing a request body from {peer}: over the limit of {limit} bytes",
            peer=getattr(self.getPeer(), "host", "?"), limit=limit,
        )
        text = f"{what} is larger than the limit of {limit} bytes"
        if self._bigBody and self.bigBodyRefusal is not None:
            text = self.bigBodyRefusal
        phrase = reasonPhrase(text)  # ASCII: sizes, and the site's message
        message = phrase + b"\n"
        self.transport.write(
            b"HTTP/1.1 413 %s\r\nContent-Type: text/plain\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (phrase, len(message), message)
        )
        self.transport.loseConnection()
        self.dataReceived = self.lineReceived = lambda *args: None  # type: ignore[method-assign]

    def allContentReceived(self) -> None:
        if self._bodyTimer is not None:
            self._cancel("_bodyTimer")
        self._bodyLimit = None
        if self._refused:
            # The rest of the body was in the bytes that passed the limit:
            # the request was answered with a 413 and is not processed.
            return
        HTTPChannel.allContentReceived(self)

    def pauseProducing(self) -> None:
        if self._stallTimer is None:
            self._stallTimer = self.callLater(
                self.writeStallTimeout, self._abort,
                f"client read nothing for {self.writeStallTimeout}s",
            )
        HTTPChannel.pauseProducing(self)
        if not self._handlingRequest:
            # Twisted stopped reading; parse nothing more of what was read.
            self.paused = True

    def resumeProducing(self) -> None:
        self._cancel("_stallTimer")
        self.paused = False
        HTTPChannel.resumeProducing(self)
        if self._buffer and not self.paused:
            self.dataReceived(b"")  # what was read before the pause

    def checkPersistence(self, request: Any, version: bytes) -> bool:
        """
        Twisted's, but with C{Connection} read as the comma-separated list
        of options it is (RFC 9110, 7.6.1), on however many lines: Twisted
        looked for C{close} among the words of its first line only, so a
        client sending C{close,TE}, or C{close} on a second line, had its
        connection kept open, and its response did not say it would close.
        Once the connection is closing (see L{closeWhenDone}), every
        request is its last.
        """
        connection = request.requestHeaders.getRawHeaders(b"connection")
        if self._closeWaiters is not None or (
            version == b"HTTP/1.1"
            and connection
            and any(
                option.strip().lower() == b"close"
                for line in connection
                for option in line.split(b",")
            )
        ):
            request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
            return False
        return HTTPChannel.checkPersistence(self, request, version)  # type: ignore[no-any-return]

    def requestDone(self, request: Any) -> None:
        """
        A response is written: if the client has not read what came before
        it, the next request waits until it has.  Twisted only stops reading
        for a full transport between requests, and a request answered at
        once (a warm page) ends before the next is read, so a client
        sending pipelined requests and reading nothing had its responses
        pile up in memory for as long as it sent.
        """
        if self._waitingForTransport and self.persistent:
            self.paused = True
            self._networkProducer.pauseProducing()
        HTTPChannel.requestDone(self, request)

    def setTimeout(self, period: Optional[float]) -> Optional[float]:
        """
        Twisted's idle timeout, kept by one timer per connection.

        Twisted pauses the timeout for every request and starts it again
        when the response is done, which cancelled one timer and made
        another each time.  Here pausing and restarting only note the
        period and the time; the timer, left running, checks them when it
        fires (see L{_checkIdle}).
        """
        previous, self._idlePeriod = self._idlePeriod, period
        self._idleSince = self.seconds()
        if period is None:
            return previous
        if self._idleTimer is None:
            self._idleTimer = self.callLater(period, self._checkIdle)
        elif self._idleTimer.getTime() > self._idleSince + period:
            self._idleTimer.reset(period)  # A shorter period than before.
        return previous

    def resetTimeout(self) -> None:
        if self._idlePeriod is not None:
            self._idleSince = self.seconds()

    def _checkIdle(self) -> None:
        self._idleTimer = None
        if self._idlePeriod is None:
            return  # A request is being answered; its end restarts the clock.
        left = self._idleSince + self._idlePeriod - self.seconds()
        if left > 0:
            self._idleTimer = self.callLater(left, self._checkIdle)
        else:
            self._idlePeriod = None
            self.timeoutConnection()

    def connectionMade(self) -> None:
        HTTPChannel.connectionMade(self)
        site = getattr(self, "site", None)
        if site is not None:
            site.channels.add(self)

    def closeWhenDone(self) -> "Deferred[None]":
        """
        Close the connection once the requests it has begun are answered
        and their responses sent, at once if there are none (the server is
        stopping): its listening ports are closed already, and a response
        cut short when the process exits would leave its client a partial
        file.

        @return: fires once the connection is closed.
        """
        closed: "Deferred[None]" = Deferred()
        if self._closeWaiters is None:
            self._closeWaiters = []
        self._closeWaiters.append(closed)
        # Twisted closes a connection that is not persistent once its
        # response is done (see checkPersistence for the requests to come).
        self.persistent = False
        if not self.requests:
            self.loseConnection()
        return closed

    def connectionLost(self, reason: Any) -> None:
        for name in ("_headerTimer", "_bodyTimer", "_stallTimer"):
            self._cancel(name)
        HTTPChannel.connectionLost(self, reason)
        self._cancel("_idleTimer")
        site = getattr(self, "site", None)
        if site is not None:
            site.channels.discard(self)
        waiters, self._closeWaiters = self._closeWaiters or [], None
        for closed in waiters:
            closed.callback(None)


_ABSOLUTE_FORM = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^#]*)")


def originForm(target: bytes) -> bytes:
    """
    The path and query of a request target in the absolute form
    (C{http://host/simple/}), which a server must accept (RFC 9112, section
    3.2.2) and Twisted takes for a path; any other target as it is.
    """
    match = _ABSOLUTE_FORM.fullmatch(target)
    if match is None:
        return target
    rest = match.group(1)
    return rest if rest.startswith(b"/") else b"/" + rest


class GuardedRequest(server.Request):
    """
    A request that counts its body for its L{GuardedChannel} as it arrives,
    and stops taking it once the channel refuses it.
    """

    def handleContentChunk(self, data: bytes) -> None:
        if self.channel.bodyArrived(len(data)):
            server.Request.handleContentChunk(self, data)


class ForwardedFor:
    """
    A request mixin: its client's address is the one its channel's trusted
    proxies say it is (see L{cheesecache.forwarded}).  Only a site with
    trusted proxies makes such requests, so others pay nothing for it.
    """

    channel: Any
    requestHeaders: Any

    def getClientAddress(self) -> Any:
        address = super().getClientAddress()  # type: ignore[misc]
        forwardedFor = self.requestHeaders.getRawHeaders(b"x-forwarded-for")
        if not forwardedFor:
            return address
        trusted = self.channel.trustedProxies
        if isinstance(address, (IPv4Address, IPv6Address)):
            host: Optional[str] = clientAddress(address.host, forwardedFor, trusted)
            if host == address.host:
                return address
        elif isinstance(address, UNIXAddress) and UNIX_PEERS in trusted:
            host = forwardedClient(forwardedFor, trusted)
        else:
            return address
        if host is None:
            return address
        kind = IPv6Address if ":" in host else IPv4Address
        return kind("TCP", host, 0)


class GuardedSite(server.Site):
    """
    A Site whose connections are L{GuardedChannel}s, with a short idle
    timeout between requests, and a cheaper access log (see
    L{cheesecache.logs}).  Its requests must be L{GuardedRequest}s.
    """

    protocol = GuardedChannel  # type: ignore[assignment]

    def __init__(self, resource: Any, **kwargs: Any) -> None:
        kwargs.setdefault("requestFactory", GuardedRequest)
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("logFormatter", combinedLogLine)
        server.Site.__init__(self, resource, **kwargs)
        self.channelSettings: dict = {}
        #: Called with every finished request (metrics).
        self.requestObservers: list = []
        #: The access log's file instead of twisted.python.log.logfile (an
        #: L{cheesecache.logs.AccessLogFile}), or None.
        self.accessLogFile: Optional[Any] = None
        #: What may answer a warm page before the resource tree is walked
        #: (L{cheesecache.web.site.PageRequest}), or None.
        self.warmPages: Optional[Any] = None
        #: The open connections (see L{closeConnections}).
        self.channels: Set[GuardedChannel] = set()

    def startFactory(self) -> None:
        server.Site.startFactory(self)
        # Twisted's startFactory sets the log file to twisted.python.log's
        # every time the Site starts listening.
        if self.accessLogFile is not None:
            self.logFile = self.accessLogFile

    def log(self, request: Any) -> None:
        server.Site.log(self, request)
        for observer in self.requestObservers:
            observer(request)

    def buildProtocol(self, addr: Any) -> Any:
        channel = server.Site.buildProtocol(self, addr)
        channel.seconds = self.reactor.seconds
        for name, value in self.channelSettings.items():
            setattr(channel, name, value)
        return channel

    def closeConnections(self) -> "Deferred[None]":
        """
        Close every open connection once the responses it is sending are
        done (see L{GuardedChannel.closeWhenDone}), for a stop that lets
        clients finish their downloads.

        @return: fires once they are all closed.
        """
        closing = [channel.closeWhenDone() for channel in list(self.channels)]
        return DeferredList(closing).addCallback(lambda _: None)
