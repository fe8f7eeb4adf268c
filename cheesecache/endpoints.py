# -*- test-case-name: tests.test_endpoints -*-
"""
How cheesecache connects to its upstreams: as Twisted's L{Agent} does
(TCP for C{http}, TLS over TCP for C{https}), with wider reads.

A Twisted TCP connection reads at most 64 KiB each time its socket is
readable.  A cold file comes from the upstream far faster than that on a
fast network (the bench's 83 MB wheel at 500 MB/s and more): at 64 KiB a
read, the reactor turned 1,300 times for it, and the Python around each
read (the reactor, the HTTP client, the hashing hand-off) cost a fifth of
the CPU that streaming it took.  Reading up to 256 KiB each time takes what
the socket holds in a quarter of the turns; a slow upstream's reads stay
as small as what arrived, and the bytes object of each read is only as big
as what it holds.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.error import SchemeNotSupported
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

#: Bytes an upstream connection reads at most each time its socket is
#: readable (Twisted's default is 64 KiB; see the module's docstring).
UPSTREAM_READ_SIZE = 256 * 1024


@implementer(IStreamClientEndpoint)
@attrs.frozen
class WideReadEndpoint:
    """
    A TCP endpoint whose connections read up to C{readSize} bytes at a
    time.  Under TLS it is the endpoint TLS wraps, so that the TCP
    transport is the one widened.
    """

    endpoint: IStreamClientEndpoint
    readSize: int = UPSTREAM_READ_SIZE

    def connect(self, protocolFactory: IProtocolFactory) -> "Deferred[IProtocol]":
        return self.endpoint.connect(protocolFactory).addCallback(self._widen)

    def _widen(self, protocol: Any) -> Any:
        # A TCP transport (a FileDescriptor) reads bufferSize bytes at most.
        transport = protocol.transport
        if isinstance(getattr(transport, "bufferSize", None), int):
            transport.bufferSize = self.readSize
        return protocol


@implementer(IAgentEndpointFactory)
@attrs.frozen
class UpstreamEndpoints:
    """
    The endpoints an L{Agent} connects to upstreams through
    (C{Agent.usingEndpointFactory}): what the Agent would make itself,
    with L{WideReadEndpoint} reads.

    @ivar connectTimeout: seconds a connection may take to be accepted.
    @ivar policy: decides how the certificates of C{https} upstreams are
        verified (the system's trust store, by default, as the Agent's).
    """

    reactor: Any
    connectTimeout: float = 30.0
    policy: IPolicyForHTTPS = attrs.field(factory=BrowserLikePolicyForHTTPS)
    readSize: int = UPSTREAM_READ_SIZE

    def endpointForURI(self, uri: Any) -> IStreamClientEndpoint:
        try:
            host = uri.host.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"The host of {uri.toBytes()!r} is not ASCII") from None
        tcp = WideReadEndpoint(
            HostnameEndpoint(self.reactor, host, uri.port, timeout=self.connectTimeout),
            self.readSize,
        )
        if uri.scheme == b"http":
            return tcp
        if uri.scheme == b"https":
            creator = self.policy.creatorForNetloc(uri.host, uri.port)
            return wrapClientTLS(creator, tcp)
        # The Agent turns this into the failure of the request.
        raise SchemeNotSupported(f"Unsupported scheme: {uri.scheme!r}")
