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

Where a proxy is configured (see L{cheesecache.proxies}), HTTPS upstreams
are reached through a C{CONNECT} tunnel (L{cheesecache.tunnel}) and plain
HTTP ones by asking the proxy for the whole URL, as the installers do.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import attrs
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectError
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.python.failure import Failure
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS, ProxyAgent
from twisted.web.error import SchemeNotSupported
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory, IBodyProducer, IPolicyForHTTPS, IResponse
from zope.interface import implementer

from .proxies import Proxy, ProxySettings
from .tunnel import TunnelEndpoint

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


class ProxyUnreachable(ConnectError):
    """
    The proxy an upstream is reached through could not be connected to.
    """


@implementer(IStreamClientEndpoint)
@attrs.frozen
class ProxyEndpoint:
    """
    The connection to a proxy, whose failures name the proxy: the request
    they fail names the upstream, and a bare "connection refused" would
    send whoever reads it to look at the upstream rather than the proxy.

    @ivar proxyName: the proxy's C{host:port} (never its credentials).
    """

    endpoint: IStreamClientEndpoint
    proxyName: str

    def connect(self, protocolFactory: IProtocolFactory) -> "Deferred[IProtocol]":
        return self.endpoint.connect(protocolFactory).addErrback(self._named)

    def _named(self, reason: Failure) -> Failure:
        if reason.check(CancelledError):
            return reason
        return Failure(ProxyUnreachable(
            string=f"Proxy {self.proxyName} could not be reached:"
            f" {reason.getErrorMessage().rstrip('.')}"
        ))


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
    @ivar proxies: which upstreams are reached through a proxy's tunnel.
    """

    reactor: Any
    connectTimeout: float = 30.0
    policy: IPolicyForHTTPS = attrs.field(factory=BrowserLikePolicyForHTTPS)
    readSize: int = UPSTREAM_READ_SIZE
    proxies: ProxySettings = ProxySettings()

    def tcp(self, host: str, port: int) -> IStreamClientEndpoint:
        """
        A TCP connection, with wide reads, to C{host:port}.
        """
        return WideReadEndpoint(
            HostnameEndpoint(self.reactor, host, port, timeout=self.connectTimeout),
            self.readSize,
        )

    def toProxy(self, proxy: Proxy) -> IStreamClientEndpoint:
        """
        A connection to C{proxy}: TCP, or TLS over it for an C{https://}
        proxy (its certificate checked as an upstream's would be).
        """
        tcp = ProxyEndpoint(self.tcp(proxy.host, proxy.port), proxy.address())
        if not proxy.tls:
            return tcp
        return wrapClientTLS(self.policy.creatorForNetloc(proxy.host.encode("idna"), proxy.port), tcp)

    def endpointForURI(self, uri: Any) -> IStreamClientEndpoint:
        try:
            host = uri.host.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"The host of {uri.toBytes()!r} is not ASCII") from None
        if uri.scheme not in (b"http", b"https"):
            # The Agent turns this into the failure of the request.
            raise SchemeNotSupported(f"Unsupported scheme: {uri.scheme!r}")
        proxy = self.proxies.forTarget(uri.scheme.decode("ascii"), host, uri.port)
        if proxy is None:
            stream = self.tcp(host, uri.port)
        else:
            stream = TunnelEndpoint(
                self.toProxy(proxy), proxy.address(), host, uri.port, proxy.authorization
            )
        if uri.scheme == b"http":
            return stream
        creator = self.policy.creatorForNetloc(uri.host, uri.port)
        return wrapClientTLS(creator, stream)


@implementer(IAgent)
class UpstreamAgent:
    """
    The agent upstream requests go through: straight to the upstream (or
    through a proxy's tunnel, for HTTPS) by the endpoints of
    L{UpstreamEndpoints}, or, for plain HTTP behind a proxy, asking the
    proxy for the whole URL (proxies commonly allow tunnels to port 443
    only).  Both ways share one connection pool.
    """

    def __init__(self, endpoints: UpstreamEndpoints, pool: Any) -> None:
        self.endpoints = endpoints
        self.pool = pool
        self.direct = Agent.usingEndpointFactory(endpoints.reactor, endpoints, pool=pool)
        self._viaProxy: Dict[Proxy, ProxyAgent] = {}

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Optional[Headers] = None,
        bodyProducer: Optional[IBodyProducer] = None,
    ) -> "Deferred[IResponse]":
        parsed = URI.fromBytes(uri)
        proxy = None
        if parsed.scheme == b"http":
            proxy = self.endpoints.proxies.forTarget(
                "http", parsed.host.decode("ascii", "replace"), parsed.port
            )
        if proxy is None:
            return self.direct.request(method, uri, headers, bodyProducer)  # type: ignore[no-any-return]
        agent = self._viaProxy.get(proxy)
        if agent is None:
            # One agent per proxy: the pool keys its connections by it.
            agent = ProxyAgent(self.endpoints.toProxy(proxy), self.endpoints.reactor, self.pool)
            self._viaProxy[proxy] = agent
        if proxy.authorization is not None:
            headers = headers.copy() if headers is not None else Headers()
            headers.setRawHeaders(b"proxy-authorization", [proxy.authorization])
        return agent.request(method, uri, headers, bodyProducer)  # type: ignore[no-any-return]
