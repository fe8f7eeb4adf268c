# -*- test-case-name: tests.test_warm_endpoint -*-
"""
C{POST /-/warm}: warm the cache of a remote host from a requirements file,
the same as C{cheesecache warm} run on the host.

The body is the requirements file (includes are refused: there is no file
system to read them from); C{python-version} and C{platform} (repeatable)
query parameters choose the target.  Credentials are required.  The server
warms itself by fetching through its own address, exactly as a client would,
so everything a client gets afterwards is what was warmed.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

import attrs
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..auth import Authenticator, renderAuthenticated
from ..outbound import QuietConnectionPool
from ..warm.requirements import (
    RequirementsError,
    decodeRequirements,
    parseRequirements,
)
from ..warm.target import Target
from ..warm.warmer import Warmer
from .representation import writeError

log = Logger()

MAX_REQUIREMENTS = 1024 * 1024


def _selfClient(reactor: Any, address: Any, secure: bool) -> Any:
    """
    An HTTP client whose every request goes to C{address}, this server's
    own socket address that a request came in on, whatever its URL says:
    an IPv6 address or a UNIX socket has no host that a URL (and treq)
    could take.  Over TLS the certificate is for the public name, not the
    address, and the peer is this very process, so it is not verified.
    """
    import treq
    from twisted.internet.address import IPv6Address, UNIXAddress
    from twisted.internet.endpoints import (
        TCP4ClientEndpoint,
        TCP6ClientEndpoint,
        UNIXClientEndpoint,
        wrapClientTLS,
    )
    from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
    from twisted.internet.ssl import CertificateOptions
    from twisted.web.client import Agent
    from twisted.web.iweb import IAgentEndpointFactory
    from zope.interface import implementer

    @implementer(IOpenSSLClientConnectionCreator)
    class _Unverified:
        def clientConnectionForTLS(self, tlsProtocol: Any) -> Any:
            from OpenSSL import SSL

            connection = SSL.Connection(CertificateOptions(verify=False).getContext(), None)
            connection.set_app_data(tlsProtocol)
            return connection

    @implementer(IAgentEndpointFactory)
    class _Ourselves:
        def endpointForURI(self, uri: Any) -> Any:
            endpoint: Any
            if isinstance(address, UNIXAddress):
                endpoint = UNIXClientEndpoint(reactor, address.name)
            elif isinstance(address, IPv6Address):
                endpoint = TCP6ClientEndpoint(reactor, address.host, address.port)
            else:
                endpoint = TCP4ClientEndpoint(reactor, address.host, address.port)
            return wrapClientTLS(_Unverified(), endpoint) if secure else endpoint

    pool = QuietConnectionPool(reactor, persistent=False)
    return treq.client.HTTPClient(Agent.usingEndpointFactory(reactor, _Ourselves(), pool))


@attrs.define(eq=False)
class WarmResource(Resource):
    """
    Warms the cache on request.
    """

    authenticator: Optional[Authenticator]
    reactor: Any
    #: Fires once the downloads in progress are stored, so that the report
    #: is only sent when what it counts is on disk.
    settled: Optional[Callable[[], "Deferred[None]"]] = None
    isLeaf = True
    #: POST only: HEAD is refused (405) like GET, rather than answered by
    #: Resource's HEAD, which would call a GET there is not.
    render_HEAD = None  # type: ignore[assignment]
    allowedMethods = (b"POST",)

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)

    def render_POST(self, request: IRequest) -> object:
        return renderAuthenticated(
            request, self.authenticator, lambda user: self._warm(request, user.username),
            "Forbidden: no users file (--users FILE)",
        )

    @inlineCallbacks
    def _warm(self, request: IRequest, username: str):  # type: ignore[no-untyped-def]
        request.content.seek(0)
        text = request.content.read(MAX_REQUIREMENTS + 1)
        if len(text) > MAX_REQUIREMENTS:
            return writeError(request, 413, "Content Too Large: requirements over 1 MiB")

        def noIncludes(path: str) -> str:
            raise RequirementsError(f"includes are not possible here: {path}")

        args = request.args
        try:
            wanted = parseRequirements(
                decodeRequirements(text, "<request body>"), "<request body>", noIncludes
            )
            target = Target.fromOptions(
                (args.get(b"python-version") or [b""])[0].decode() or None,
                [p.decode() for p in args.get(b"platform", [])],
            )
        except (RequirementsError, UnicodeDecodeError, ValueError) as e:
            return writeError(request, 400, f"Bad Request: {e}")
        secure = request.isSecure()
        # The host is never looked up (see _selfClient); the request's own
        # credentials, as it sent them, are sent on.
        index = f"{'https' if secure else 'http'}://localhost/simple/"
        authorization = request.getHeader(b"authorization")
        log.info("{user} warms {n} requirements", user=username, n=len(wanted.requirements))
        warmer = Warmer(
            _selfClient(self.reactor, request.getHost(), secure), index, target,
            reactor=self.reactor,
            authorization=authorization.decode("latin-1") if authorization else None,
        )
        report = yield warmer.warm(
            wanted.requirements, wanted.constraints, wanted.allowPre, wanted.formats
        )
        if self.settled is not None:
            yield self.settled()
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(report.toJSON(), indent=1).encode() + b"\n"
