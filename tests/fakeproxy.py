"""
A real HTTP proxy for tests, on a loopback port: C{CONNECT} tunnels and
absolute-form requests, as company proxies serve them, with a log of what
it was asked, optional credentials, and host names it maps to loopback
ports (it connects nowhere else).
"""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Optional, Tuple

import attrs
from twisted.internet import reactor
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.trial.unittest import TestCase


@attrs.define
class Asked:
    """
    One request the proxy got: C{CONNECT host:port}, or a method and an
    absolute URL, with its C{Proxy-Authorization}.
    """

    method: bytes
    target: bytes
    authorization: Optional[bytes]


class _Upstream(Protocol):
    """
    The proxy's connection onwards, passing bytes back to its client.
    """

    def __init__(self, client: "_ProxyProtocol", first: bytes) -> None:
        self.client = client
        self.first = first

    def connectionMade(self) -> None:
        self.client.onward = self
        if self.first:
            self.transport.write(self.first)
        self.client.onwardReady()

    def dataReceived(self, data: bytes) -> None:
        self.client.transport.write(data)

    def connectionLost(self, reason: Any) -> None:
        self.client.transport.loseConnection()


class _UpstreamFactory(ClientFactory):
    noisy = False

    def __init__(self, client: "_ProxyProtocol", first: bytes) -> None:
        self.client = client
        self.first = first

    def buildProtocol(self, addr: Any) -> _Upstream:
        return _Upstream(self.client, self.first)

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self.client.answer(b"502 Bad Gateway")


class _ProxyProtocol(Protocol):
    """
    One client connection: its request head is read, then the proxy either
    answers itself or splices the connection to the target.
    """

    def __init__(self, proxy: "FakeProxy") -> None:
        self.proxy = proxy
        self.buffer = b""
        self.onward: Optional[_Upstream] = None
        self.tunnel = False
        self.spliced = False

    def answer(self, status: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n"
            + (b'Proxy-Authenticate: Basic realm="proxy"\r\n' if status.startswith(b"407") else b"")
            + b"\r\n"
        )
        self.transport.loseConnection()

    def onwardReady(self) -> None:
        if self.tunnel:
            self.transport.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if self.buffer:
            self.onward.transport.write(self.buffer)  # type: ignore[union-attr]
            self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        if self.spliced:
            if self.onward is not None:
                self.onward.transport.write(data)
            else:
                self.buffer += data
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        requestLine, *lines = head.split(b"\r\n")
        method, target, version = requestLine.split(b" ")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        authorization = headers.get(b"proxy-authorization")
        self.proxy.asked.append(Asked(method, target, authorization))
        if self.proxy.refuse is not None:
            return self.answer(self.proxy.refuse)
        if self.proxy.silent:
            return
        if self.proxy.hangUp:
            self.transport.loseConnection()
            return
        if self.proxy.credentials is not None and authorization != self.proxy.credentials:
            return self.answer(b"407 Proxy Authentication Required")
        if method == b"CONNECT":
            host, _, port = target.rpartition(b":")
            first = b""
            self.tunnel = True
        else:
            # http://host:port/path: sent on in origin form, one request a
            # connection.
            rest = target.split(b"://", 1)[1]
            hostPort, slash, path = rest.partition(b"/")
            host, _, port = hostPort.rpartition(b":") if b":" in hostPort else (hostPort, b"", b"80")
            kept = [
                line for line in lines
                if line.split(b":", 1)[0].strip().lower()
                not in (b"proxy-authorization", b"connection")
            ]
            first = b"\r\n".join(
                [method + b" " + slash + path + b" " + version, *kept, b"Connection: close"]
            ) + b"\r\n\r\n"
        address = self.proxy.names.get(host.decode())
        if address is None:
            return self.answer(b"502 Bad Gateway")
        self.spliced = True
        reactor.connectTCP(address, int(port), _UpstreamFactory(self, first))

    def connectionLost(self, reason: Any) -> None:
        if self.onward is not None:
            self.onward.transport.loseConnection()


@attrs.define
class FakeProxy:
    """
    The proxy's settings and log.

    @ivar names: host names it connects to, and the loopback address each
        stands for (anything else gets a 502).
    @ivar credentials: the C{Proxy-Authorization} it wants, if any.
    @ivar refuse: a status line to answer every request with.
    @ivar silent: read requests and never answer.
    @ivar hangUp: close connections without answering.
    """

    names: Dict[str, str] = attrs.field(factory=lambda: {"upstream.test": "127.0.0.1"})
    credentials: Optional[bytes] = None
    refuse: Optional[bytes] = None
    silent: bool = False
    hangUp: bool = False
    asked: List[Asked] = attrs.field(factory=list)
    connections: List[_ProxyProtocol] = attrs.field(factory=list)

    def requireCredentials(self, user: str, password: str) -> None:
        self.credentials = b"Basic " + base64.b64encode(f"{user}:{password}".encode())

    def listen(self, testCase: TestCase, tls: Optional[Any] = None) -> Tuple[str, int]:
        """
        Listen on a free loopback port until the test ends.

        @param tls: TLS context options to listen with, for an C{https://}
            proxy.
        @return: the proxy's host and port.
        """

        def build() -> _ProxyProtocol:
            protocol = _ProxyProtocol(self)
            self.connections.append(protocol)
            return protocol

        if tls is None:
            port = reactor.listenTCP(0, Factory.forProtocol(build), interface="127.0.0.1")
        else:
            port = reactor.listenSSL(0, Factory.forProtocol(build), tls, interface="127.0.0.1")

        def stop() -> Any:
            for connection in self.connections:
                if connection.transport is not None:
                    connection.transport.abortConnection()
                if connection.onward is not None:
                    connection.onward.transport.abortConnection()
            return port.stopListening()

        testCase.addCleanup(stop)
        return "127.0.0.1", port.getHost().port
