# -*- test-case-name: tests.test_proxy_connections -*-
"""
Connections to HTTPS upstreams through an HTTP proxy: a C{CONNECT} tunnel.

The proxy is asked to connect to the upstream (C{CONNECT host:port}); once
it answers 200, the connection carries whatever the client and upstream
send, and TLS runs inside it, end to end, so the proxy sees neither the
requests nor the certificate checks.  Twisted's own C{ProxyAgent} does not
make tunnels; L{TunnelEndpoint} is an endpoint like any other, so the
C{Agent}, its connection pool and TLS wrap it as they wrap TCP.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

#: The most a proxy's answer to C{CONNECT} may be, in bytes.
MAX_ANSWER = 64 * 1024

#: The blank line that ends an answer's head: lines end in CRLF, or, as
#: the installers' HTTP clients (and curl) also accept, in a bare LF.
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class ProxyRefused(ConnectError):
    """
    The proxy did not open the tunnel: it answered something other than a
    2xx, or nothing an HTTP proxy would answer.
    """


def connectRequest(host: str, port: int, authorization: Optional[bytes]) -> bytes:
    """
    The request that asks a proxy for a tunnel to C{host:port}.
    """
    target = (f"[{host}]" if ":" in host else host).encode("idna") + b":%d" % (port,)
    lines = [b"CONNECT " + target + b" HTTP/1.1", b"Host: " + target]
    if authorization is not None:
        lines.append(b"Proxy-Authorization: " + authorization)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def answerStatus(head: bytes) -> tuple[int, str]:
    """
    The status code and reason of a proxy's answer head (its status line
    and headers, without the blank line).

    @raise ValueError: it is not an HTTP status line.
    """
    statusLine = head.split(b"\n", 1)[0].rstrip(b"\r")
    parts = statusLine.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {statusLine[:80]!r}")
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    return int(parts[1]), reason


class _TunnelProtocol(Protocol):
    """
    Asks for the tunnel, reads the answer, then hands the connection to the
    protocol the caller wanted, passing it every byte from then on.
    """

    def __init__(self, endpoint: "TunnelEndpoint", wanted: IProtocolFactory, ready: Deferred) -> None:
        self.endpoint = endpoint
        self.wanted = wanted
        self.ready = ready
        self.buffer = b""
        self.inner: Optional[IProtocol] = None

    def connectionMade(self) -> None:
        e = self.endpoint
        self.transport.write(connectRequest(e.host, e.port, e.authorization))

    def _refuse(self, why: str) -> None:
        if not self.ready.called:
            self.ready.errback(
                Failure(ProxyRefused(
                    string=f"Proxy {self.endpoint.proxyName} would not connect to"
                    f" {self.endpoint.host}:{self.endpoint.port}: {why}"
                ))
            )
        self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.dataReceived(data)
            return
        self.buffer += data
        end = _HEAD_END.search(self.buffer)
        if end is None:
            if b"\n" in self.buffer:
                # The status line is in: what is not HTTP (another
                # service on the proxy's port) may never send a blank
                # line, so it is refused now rather than waited on.
                try:
                    answerStatus(self.buffer)
                except ValueError as e:
                    self._refuse(str(e))
                    return
            if len(self.buffer) > MAX_ANSWER:
                self._refuse(f"its answer is longer than {MAX_ANSWER} bytes")
            return
        head, rest = self.buffer[:end.start()], self.buffer[end.end():]
        self.buffer = b""
        try:
            code, reason = answerStatus(head)
        except ValueError as e:
            self._refuse(str(e))
            return
        if not 200 <= code < 300:
            self._refuse(f"{code} {reason}".rstrip())
            return
        inner = self.wanted.buildProtocol(self.transport.getPeer())
        if inner is None:
            self.transport.loseConnection()
            self.ready.errback(Failure(ConnectError(string="the protocol factory refused")))
            return
        self.inner = inner
        inner.makeConnection(self.transport)
        self.ready.callback(inner)
        if rest:
            inner.dataReceived(rest)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.inner is not None:
            self.inner.connectionLost(reason)
        elif not self.ready.called:
            self.ready.errback(
                Failure(ProxyRefused(
                    string=f"Proxy {self.endpoint.proxyName} closed the connection before"
                    f" answering CONNECT {self.endpoint.host}:{self.endpoint.port}"
                ))
            )


class _TunnelFactory(Factory):
    noisy = False

    def __init__(self, build: Any) -> None:
        self.build = build

    def buildProtocol(self, addr: Any) -> _TunnelProtocol:
        return self.build()  # type: ignore[no-any-return]


@implementer(IStreamClientEndpoint)
@attrs.frozen
class TunnelEndpoint:
    """
    Connects to C{host:port} through a C{CONNECT} tunnel of the proxy that
    C{proxy} connects to.

    @ivar proxyName: the proxy's C{host:port}, for messages.
    @ivar authorization: the C{Proxy-Authorization} value, if the proxy
        wants credentials.
    """

    proxy: IStreamClientEndpoint
    proxyName: str
    host: str
    port: int
    authorization: Optional[bytes] = attrs.field(default=None, repr=False)

    def connect(self, protocolFactory: IProtocolFactory) -> "Deferred[IProtocol]":
        tunnels: list = []

        def cancel(d: Deferred) -> None:
            if tunnels and tunnels[0].transport is not None:
                tunnels[0].transport.abortConnection()
            else:
                connecting.cancel()

        ready: Deferred = Deferred(cancel)

        def build() -> _TunnelProtocol:
            tunnel = _TunnelProtocol(self, protocolFactory, ready)
            tunnels.append(tunnel)
            return tunnel

        connecting = self.proxy.connect(_TunnelFactory(build))

        def failed(reason: Failure) -> None:
            if not ready.called:
                ready.errback(reason)

        connecting.addErrback(failed)
        return ready
