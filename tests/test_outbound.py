"""
Tests for L{cheesecache.outbound}'s netrc credentials: what pip would send
an upstream whose URL carries none.
"""

from __future__ import annotations

import base64
import os
import sys

from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cheesecache.outbound import netrcAuthorization

from .harness import serveIndex
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
