"""
Tests for L{cheesecache.outbound}'s netrc credentials: what pip would send
an upstream whose URL carries none; and for its quiet connection pool.
"""

from __future__ import annotations

import base64
import os
import sys

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.testing import MemoryReactorClock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody

from cheesecache.config import ConfigError
from cheesecache.outbound import Outbound, QuietConnectionPool, netrcAuthorization
from cheesecache.pipconfig import PipSettings
from cheesecache.proxies import Proxy
from cheesecache.trust import TrustedHost

from .fakeindex import FakeIndex
from .harness import logEvents, serveIndex
from .test_e2e import TwistdProcess, pipInstallsAlpha, run, upstreamWithWheels


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class NetrcAuthorizationTests(SynchronousTestCase):
    """
    L{netrcAuthorization} reads a netrc file as pip (through requests)
    does.
    """

    def setUp(self) -> None:
        self.home = FilePath(self.mktemp())
        self.home.makedirs()
        self.environ = {"HOME": self.home.path}

    def netrc(self, text: str, name: str = ".netrc") -> FilePath:
        path = self.home.child(name)
        path.setContent(text.encode())
        return path

    def test_hostEntry(self) -> None:
        """
        The entry for the URL's host (its port aside) gives the login and
        password, from C{~/.netrc}.
        """
        path = self.netrc(
            "machine other.test login no password no\n"
            "machine index.corp.test login team password s3cret!\n"
        )
        self.assertEqual(
            netrcAuthorization("https://index.corp.test:8443/simple/", self.environ),
            (basic("team", "s3cret!"), path.path),
        )

    def test_default(self) -> None:
        """
        Without an entry for the host, the default entry is used; without
        either, nothing.
        """
        self.netrc("machine other.test login a password b\ndefault login d password e\n")
        self.assertEqual(
            netrcAuthorization("https://index.corp.test/simple/", self.environ)[0],
            basic("d", "e"),
        )
        self.netrc("machine other.test login a password b\n")
        self.assertEqual(
            netrcAuthorization("https://index.corp.test/simple/", self.environ), (None, None)
        )

    def test_accountWithoutLogin(self) -> None:
        self.netrc("machine index.corp.test account acct password pw\n")
        self.assertEqual(
            netrcAuthorization("https://index.corp.test/simple/", self.environ)[0],
            basic("acct", "pw"),
        )

    def test_files(self) -> None:
        """
        C{NETRC} names the file; else C{~/.netrc}, else C{~/_netrc}.
        """
        self.netrc("machine h.test login underscore password 1\n", "_netrc")
        self.assertEqual(netrcAuthorization("http://h.test/", self.environ)[0], basic("underscore", "1"))
        self.netrc("machine h.test login dot password 2\n")
        self.assertEqual(netrcAuthorization("http://h.test/", self.environ)[0], basic("dot", "2"))
        named = FilePath(self.mktemp())
        named.setContent(b"machine h.test login named password 3\n")
        self.environ["NETRC"] = named.path
        self.assertEqual(
            netrcAuthorization("http://h.test/", self.environ),
            (basic("named", "3"), named.path),
        )

    def test_nothing(self) -> None:
        """
        No file, a file that does not parse, or a URL without a host give
        nothing.
        """
        self.assertEqual(netrcAuthorization("http://h.test/", self.environ), (None, None))
        self.netrc("machine h.test login a password b\nfrobnicate x\n")
        self.assertEqual(netrcAuthorization("http://h.test/", self.environ), (None, None))
        self.netrc("machine h.test login a password b\n")
        self.assertEqual(netrcAuthorization("http:///simple/", self.environ), (None, None))


class OutboundTests(SynchronousTestCase):
    """
    L{Outbound}: the settings gathered once, and the agent made from them.
    """

    def pip(self, **environ: str) -> PipSettings:
        # pip's configuration files say nothing.
        return PipSettings(environ, reader=lambda options: {})

    def test_nothingSet(self) -> None:
        """
        With no option and nothing from pip: no proxy, OpenSSL's own
        authorities, no client certificate, no trusted host.
        """
        outbound = Outbound.fromSettings(self.pip())
        self.assertEqual(
            (outbound.proxies.http, outbound.proxies.https, outbound.caBundle,
             outbound.trustRoot, outbound.clientCert, outbound.identity, outbound.trusted),
            (None, None, None, None, None, None, ()),
        )

    def test_optionsThenPip(self) -> None:
        """
        What the options give wins over pip's settings, which are used for
        what they leave out.
        """
        pip = self.pip(PIP_PROXY="http://pip-proxy.test:3128", PIP_TRUSTED_HOST="pip.test")
        outbound = Outbound.fromSettings(pip, trusted=["given.test:8443"])
        self.assertEqual(outbound.proxies.https, Proxy("pip-proxy.test", 3128))
        self.assertEqual(outbound.trusted, (TrustedHost("given.test", 8443),))
        outbound = Outbound.fromSettings(pip, proxy="http://given-proxy.test:8080")
        self.assertEqual(outbound.proxies.http, Proxy("given-proxy.test", 8080))
        self.assertEqual(outbound.trusted, (TrustedHost("pip.test"),))

    def test_namesTheFlag(self) -> None:
        """
        A bundle that cannot be read is refused under the name the command
        gives its option.
        """
        missing = self.mktemp()
        e = self.assertRaises(
            ConfigError, Outbound.fromSettings, self.pip(), bundle=missing, bundleFlag="--cert"
        )
        self.assertEqual(str(e), f"--cert {missing}: No such file or directory")

    def test_agent(self) -> None:
        """
        The agent connects through endpoints with the given timeout and the
        gathered proxies.
        """
        outbound = Outbound.fromSettings(self.pip(), proxy="http://proxy.test:3128")
        agent = outbound.agent(MemoryReactorClock(), None, connectTimeout=7)
        self.assertEqual(agent.endpoints.connectTimeout, 7)
        self.assertIs(agent.endpoints.proxies, outbound.proxies)


class NetrcUpstreamTests(TestCase):
    """
    twistd cheesecache and cheesecache warm send an upstream the netrc
    file's credentials for it, as pip would.
    """

    timeout = 300

    def setUp(self) -> None:
        self.upstream = upstreamWithWheels()
        self.url = serveIndex(self, self.upstream)
        self.netrc = FilePath(self.mktemp())
        self.netrc.setContent(b"machine 127.0.0.1 login team password s3cret!\n")

    def sentAuthorization(self) -> set:
        return {headers.get(b"authorization") for _, _, headers in self.upstream.requests}

    @inlineCallbacks
    def test_server(self):  # type: ignore[no-untyped-def]
        server = TwistdProcess(self, self.url, self.mktemp(), env={"NETRC": self.netrc.path})
        yield server.ready()
        yield pipInstallsAlpha(self, server)
        self.assertEqual(self.sentAuthorization(), {basic("team", "s3cret!").encode()})
        self.assertIn(f"credentials from {self.netrc.path}", server.log())
        self.assertNotIn("s3cret", server.log())

    @inlineCallbacks
    def test_warm(self):  # type: ignore[no-untyped-def]
        code, output = yield run(
            [sys.executable, "-m", "cheesecache.warm", "--index", self.url, "alpha"],
            {"NETRC": self.netrc.path, "PIP_CONFIG_FILE": os.devnull},
        )
        self.assertEqual(code, 0, output)
        self.assertTrue(self.upstream.requests)
        self.assertEqual(self.sentAuthorization(), {basic("team", "s3cret!").encode()})


class QuietConnectionPoolTests(TestCase):
    """
    L{QuietConnectionPool}'s connections do not log their factory's start
    and stop, as those of Twisted's pool do.
    """

    @inlineCallbacks
    def factoryEvents(self, pool: HTTPConnectionPool):  # type: ignore[no-untyped-def]
        """
        The events of a connection's factory starting and stopping, as one
        request over C{pool} to a loopback server logs them until the pool
        is closed (its stop, logged a reactor turn later under the same
        switch, is not waited for).
        """
        url = serveIndex(self, FakeIndex())
        events = logEvents(self)
        response = yield Agent(reactor, pool=pool).request(b"GET", url.encode("ascii"))
        yield readBody(response)
        # Closed, its end seen by the reactor.
        yield pool.closeCachedConnections()
        return [
            event for event in events
            if str(event.get("log_format", "")).startswith(("Starting factory", "Stopping factory"))
        ]

    @inlineCallbacks
    def test_twistedsLogs(self):  # type: ignore[no-untyped-def]
        """
        Twisted's pool logs them, which is what the quiet one is for.
        """
        events = yield self.factoryEvents(HTTPConnectionPool(reactor))
        self.assertEqual([event["log_format"].split()[0] for event in events], ["Starting"])

    @inlineCallbacks
    def test_quiet(self):  # type: ignore[no-untyped-def]
        """
        The quiet pool logs neither, and still answers.
        """
        events = yield self.factoryEvents(QuietConnectionPool(reactor))
        self.assertEqual(events, [])
