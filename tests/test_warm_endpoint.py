"""
Tests for C{POST /-/warm} (L{cheesecache.web.warmresource}).
"""

from __future__ import annotations

import io
import json
import socket
from typing import Tuple

import treq
from twisted.internet import reactor
from twisted.internet.endpoints import TCP6ClientEndpoint, UNIXClientEndpoint
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, FileBodyProducer
from twisted.web.http_headers import Headers
from zope.interface import implementer
from twisted.web.iweb import IAgentEndpointFactory

from .fakeindex import Dist, FakeIndex
from .harness import Harness, serveIndex
from .test_upload import ALICE
from .wheels import makeWheel


def serverWithAlpha(
    case: TestCase, dependencies: Tuple[str, ...] = ()
) -> Tuple[FakeIndex, Harness]:
    """
    A cheesecache whose user alice may warm, in front of an upstream
    listing a wheel of alpha 1.0 (needing C{dependencies}) and one of each
    dependency.
    """
    upstream = FakeIndex()
    for name, requires in (("alpha", list(dependencies)), *((d, []) for d in dependencies)):
        filename, data = makeWheel(name, "1.0", requires=requires)
        upstream.add(name, Dist(filename, data))
    harness = Harness(case, [serveIndex(case, upstream)], users={"alice": "wonder:land"})
    return upstream, harness


class WarmEndpointTests(TestCase):
    """
    Warming a server over HTTP.
    """

    @inlineCallbacks
    def test_warm(self):  # type: ignore[no-untyped-def]
        """
        With credentials, a requirements body is resolved and every chosen
        file (dependencies included) ends up in the store; without, 401;
        a bad body is a 400.
        """
        upstream, harness = serverWithAlpha(self, ("beta",))
        response, _ = yield harness.get("/-/warm", method="POST", body=b"alpha\n")
        self.assertEqual(response.code, 401)
        response, body = yield harness.get(
            "/-/warm", {"Authorization": ALICE, "Content-Type": "text/plain"},
            method="POST", body=b"alpha\n",
        )
        self.assertEqual(response.code, 200, body)
        report = json.loads(body)
        self.assertEqual(report["failed"], [], report)
        for dists in upstream.projects.values():
            self.assertTrue(harness.store.exists(dists[0].sha256))
        response, body = yield harness.get(
            "/-/warm", {"Authorization": ALICE}, method="POST", body=b"-r other.txt\n",
        )
        self.assertEqual(response.code, 400)
        self.assertIn(b"includes", body)

    @inlineCallbacks
    def test_byteOrderMark(self):  # type: ignore[no-untyped-def]
        """
        A body written with a byte order mark (UTF-16 from Windows
        PowerShell, or UTF-8) and CRLF line ends is read as pip reads a
        requirements file; one that is not text is a 400 that says so.
        """
        _, harness = serverWithAlpha(self)
        for body in ["\ufeffalpha\r\n".encode("utf-8"), "alpha\r\n".encode("utf-16")]:
            response, answer = yield harness.get(
                "/-/warm", {"Authorization": ALICE}, method="POST", body=body,
            )
            self.assertEqual(response.code, 200, answer)
            self.assertEqual(json.loads(answer)["resolved"], {"alpha": "1.0"})
        response, answer = yield harness.get(
            "/-/warm", {"Authorization": ALICE}, method="POST", body=b"alpha\xff\n",
        )
        self.assertEqual(response.code, 400)
        self.assertIn(b"utf-8", answer)

    @inlineCallbacks
    def test_targetBounded(self):  # type: ignore[no-untyped-def]
        """
        A target no machine has (a Python or glibc version in the
        thousands), whose tags would take the server long to list, is a
        400 before anything is warmed.
        """
        _, harness = serverWithAlpha(self)
        for query in ["python-version=3.1000", "platform=manylinux_2_1000_x86_64"]:
            response, body = yield harness.get(
                f"/-/warm?{query}", {"Authorization": ALICE}, method="POST", body=b"alpha\n",
            )
            self.assertEqual(response.code, 400, body)


@implementer(IAgentEndpointFactory)
class _To:
    """
    Sends every request to C{endpoint}, whatever its URL's host.
    """

    def __init__(self, endpoint) -> None:  # type: ignore[no-untyped-def]
        self.endpoint = endpoint

    def endpointForURI(self, uri):  # type: ignore[no-untyped-def]
        return self.endpoint


class WarmOverOtherSocketsTests(TestCase):
    """
    C{/-/warm} on a server listening on IPv6 or on a UNIX socket.
    """

    @inlineCallbacks
    def test_ipv6AndUNIXSocket(self):  # type: ignore[no-untyped-def]
        """
        The warm reaches the server through the socket address the request
        came in on (an IPv6 one, written in brackets in a URL, or a UNIX
        socket, which has no host at all), with the credentials the
        request came with: not a 500.
        """
        upstream, harness = serverWithAlpha(self)
        endpoints = []
        path = self.mktemp()
        unix = reactor.listenUNIX(path, harness.site)
        self.addCleanup(unix.stopListening)
        endpoints.append(UNIXClientEndpoint(reactor, path))
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            pass
        else:
            six = reactor.listenTCP(0, harness.site, interface="::1")
            self.addCleanup(six.stopListening)
            endpoints.append(TCP6ClientEndpoint(reactor, "::1", six.getHost().port))
        for endpoint in endpoints:
            agent = Agent.usingEndpointFactory(reactor, _To(endpoint))
            response = yield agent.request(
                b"POST", b"http://localhost/-/warm",
                Headers({"Authorization": [ALICE]}), FileBodyProducer(io.BytesIO(b"alpha\n")),
            )
            body = yield treq.content(response)
            self.assertEqual(response.code, 200, (endpoint, body))
            self.assertEqual(json.loads(body)["resolved"], {"alpha": "1.0"})
        self.assertTrue(harness.store.exists(upstream.projects["alpha"][0].sha256))
