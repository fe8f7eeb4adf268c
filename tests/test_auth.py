"""
Tests for L{cheesecache.auth} and L{cheesecache.tokens}: read protection,
throttling, tokens and per-project upload permissions, over real HTTP.
"""

from __future__ import annotations

import base64
import io
import json

from twisted.internet import reactor, threads
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import readBody

from cheesecache.cli import main as cli
from cheesecache.auth import Credentials
from cheesecache.config import Permission
from cheesecache.forwarded import UNIX_PEERS, parseNetwork
from cheesecache.users import removeUser

from .harness import JSON_ACCEPT, Harness, header, logEvents, rawExchange, serveIndex, sleep
from .test_channel import RawClient
from .test_chain import fileURL
from .test_index import sampleIndex
from .uploadforms import clientBody
from .wheels import makeWheel


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ALICE = basic("alice", "al1ce-pw")


class ReadAuthTests(TestCase):
    """
    --read-auth.
    """

    def setUp(self) -> None:
        self.upstream = sampleIndex()
        self.harness = Harness(
            self, [serveIndex(self, self.upstream)],
            users={"alice": "al1ce-pw"}, readAuth=True,
        )

    @inlineCallbacks
    def test_pagesAndFiles(self):  # type: ignore[no-untyped-def]
        """
        Without or with wrong credentials every read is a 401 with a Basic
        challenge and reaches no upstream; with them, pages and files are
        served, marked private for caches.
        """
        for path in ("/simple/", "/simple/alpha/", "/files/alpha/x/y", "/"):
            for auth in ({}, {"Authorization": basic("alice", "nope")}):
                response, _ = yield self.harness.get(path, auth)
                self.assertEqual((path, response.code), (path, 401))
                self.assertEqual(header(response, "www-authenticate"), 'Basic realm="cheesecache"')
        self.assertEqual(self.upstream.requests, [])
        response, page = yield self.harness.get(
            "/simple/alpha/", {"Accept": JSON_ACCEPT, "Authorization": ALICE}
        )
        self.assertEqual(response.code, 200)
        self.assertTrue(header(response, "cache-control").startswith("private"))
        wheel = self.upstream.projects["alpha"][0]
        response, body = yield self.harness.get(
            fileURL(page, wheel.filename), {"Authorization": ALICE}
        )
        self.assertEqual(body, wheel.data)
        self.assertTrue(header(response, "cache-control").startswith("private"))
        response, _ = yield self.harness.get("/simple/Alpha", {"Authorization": ALICE})
        self.assertEqual(response.code, 301)

    @inlineCallbacks
    def test_healthDiscreet(self):  # type: ignore[no-untyped-def]
        """
        /-/health stays open for load balancers, but without credentials
        it tells how each upstream is doing, not its URL (which may hold a
        token) or its last error (which may name private hosts).
        """
        response, _ = yield self.harness.get("/simple/alpha/", {"Authorization": ALICE})
        self.assertEqual(response.code, 200)
        self.upstream.down = True
        self.harness.clock.advance(3600)
        yield self.harness.get("/simple/alpha/", {"Authorization": ALICE})
        response, body = yield self.harness.get("/-/health")
        self.assertEqual(response.code, 200)
        health = json.loads(body)
        self.assertEqual(health["status"], "ok")
        [upstream] = health["upstreams"]
        self.assertEqual(upstream["name"], "upstream-1")
        self.assertFalse(upstream["reachable"])
        url = self.harness.sources[0].upstream.url
        self.assertNotIn(url.split("//")[1].split("/")[0].encode(), body)
        self.assertNotIn("url", upstream)
        self.assertNotIn("lastError", upstream)

    @inlineCallbacks
    def test_clientGoneDuringLogin(self):  # type: ignore[no-untyped-def]
        """
        A client that disconnects while its credentials are being checked
        is not answered once they check out: its request asks no upstream
        and leaves no error behind (writing to and finishing a request
        whose connection is gone).
        """
        held: Deferred[None] = Deferred()
        portal = self.harness.authenticator.portal
        login = portal.login
        logins = []

        def slowly(*args):  # type: ignore[no-untyped-def]
            logins.append(held)
            return held.addCallback(lambda _: login(*args))

        portal.login = slowly  # type: ignore[method-assign]
        client = yield connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.harness.port.getHost().port),
            RawClient(),
        )
        client.transport.write(
            b"GET /simple/alpha/ HTTP/1.1\r\nHost: x\r\nAuthorization: "
            + ALICE.encode() + b"\r\n\r\n"
        )
        while not logins:
            yield sleep(0.01)
        client.transport.loseConnection()
        yield client.lost
        yield sleep(0.1)  # the server sees the connection go
        held.callback(None)
        yield sleep(0.3)
        self.assertEqual(self.upstream.requests, [])
        self.assertEqual(self.flushLoggedErrors(), [])

    @inlineCallbacks
    def test_userNameLoggedEscaped(self):  # type: ignore[no-untyped-def]
        """
        The user name of a failed or throttled login, which anyone may
        send, is logged with its line breaks escaped: it cannot end its
        line and forge another (a lone carriage return is one to terminals
        and to some log readers).
        """
        events = logEvents(self)
        forged = "x\r2026-01-01 [-] admin logged in\u2028"
        for _ in range(11):
            response, _ = yield self.harness.get(
                "/simple/", {"Authorization": basic(forged, "guess")}
            )
        self.assertEqual(response.code, 429)
        lines = [formatEvent(e) for e in events if "admin logged in" in formatEvent(e)]
        self.assertEqual(len(lines), 11)
        for line in lines:
            self.assertEqual(line.splitlines(), [line])

    @inlineCallbacks
    def test_throttling(self):  # type: ignore[no-untyped-def]
        """
        After ten failed logins for a user within a minute, even the right
        password gets 429 until the window passes.
        """
        for _ in range(10):
            response, _ = yield self.harness.get("/simple/", {"Authorization": basic("alice", "guess")})
            self.assertEqual(response.code, 401)
        response, _ = yield self.harness.get("/simple/", {"Authorization": ALICE})
        self.assertEqual(response.code, 429)
        self.assertEqual(header(response, "retry-after"), "60")
        self.harness.throttle._failures.clear()  # the window passing
        response, _ = yield self.harness.get("/simple/", {"Authorization": ALICE})
        self.assertEqual(response.code, 200)


class TrustedProxyTests(TestCase):
    """
    Behind a trusted reverse proxy (C{--trusted-proxy}), the client's
    address is the one the proxy's C{X-Forwarded-For} names.
    """

    def harness(self, trusted: tuple) -> Harness:
        return Harness(
            self, [serveIndex(self, sampleIndex())],
            users={"alice": "al1ce-pw"}, readAuth=True,
            channelSettings={"trustedProxies": trusted},
        )

    @inlineCallbacks
    def guessesFrom(self, harness: Harness, address: str, get=None):  # type: ignore[no-untyped-def]
        for i in range(10):
            response, _ = yield (get or harness.get)(
                "/simple/",
                {"Authorization": basic(f"guess-{i}", "x"), "X-Forwarded-For": address},
            )
            self.assertEqual(response.code, 401)

    def overUNIXSocket(self, harness: Harness):  # type: ignore[no-untyped-def]
        """
        A function that sends requests to C{harness}'s site over a UNIX
        socket, as a proxy in front of C{--listen unix:PATH} does.
        """
        from twisted.internet.endpoints import UNIXClientEndpoint
        from twisted.web.client import Agent
        from twisted.web.http_headers import Headers

        path = self.mktemp()
        port = reactor.listenUNIX(path, harness.site)
        self.addCleanup(port.stopListening)
        endpoint = UNIXClientEndpoint(reactor, path)

        class To:
            def endpointForURI(self, uri):  # type: ignore[no-untyped-def]
                return endpoint

        agent = Agent.usingEndpointFactory(reactor, To())

        @inlineCallbacks
        def get(path, headers):  # type: ignore[no-untyped-def]
            response = yield agent.request(
                b"GET", b"http://localhost" + path.encode(),
                Headers({k: [v] for k, v in headers.items()}),
            )
            body = yield readBody(response)
            return response, body

        return get

    @inlineCallbacks
    def test_UNIXSocket(self):  # type: ignore[no-untyped-def]
        """
        With C{unix} among the trusted proxies, a proxy that connects over a
        UNIX socket (which has no address) is believed too; without it, its
        header is not, and every client behind it counts as one.
        """
        for trusted, second in [((UNIX_PEERS,), 200), ((parseNetwork("::1"),), 429)]:
            harness = self.harness(trusted)
            get = self.overUNIXSocket(harness)
            events = logEvents(self)
            yield self.guessesFrom(harness, "203.0.113.5", get)
            response, _ = yield get(
                "/simple/", {"Authorization": ALICE, "X-Forwarded-For": "203.0.113.6"}
            )
            self.assertEqual(response.code, second, trusted)
            if second == 200:
                lines = [formatEvent(e) for e in events if "GET /simple/" in formatEvent(e)]
                self.assertTrue(lines[-1].startswith('"203.0.113.6" - - '), lines[-1])

    @inlineCallbacks
    def test_throttledPerClient(self):  # type: ignore[no-untyped-def]
        """
        Failed logins from one client behind the proxy throttle that client,
        not every other one behind it; the access log names the client.
        """
        harness = self.harness((parseNetwork("127.0.0.0/8"),))
        events = logEvents(self)
        yield self.guessesFrom(harness, "203.0.113.5")
        response, _ = yield harness.get(
            "/simple/", {"Authorization": ALICE, "X-Forwarded-For": "203.0.113.5"}
        )
        self.assertEqual(response.code, 429)
        response, _ = yield harness.get(
            "/simple/", {"Authorization": ALICE, "X-Forwarded-For": "203.0.113.6"}
        )
        self.assertEqual(response.code, 200)
        lines = [formatEvent(e) for e in events if "GET /simple/ HTTP/1.1" in formatEvent(e)]
        self.assertTrue(lines[0].startswith('"203.0.113.5" - - '), lines[0])
        self.assertTrue(lines[-1].startswith('"203.0.113.6" - - '), lines[-1])

    @inlineCallbacks
    def test_untrustedHeaderIgnored(self):  # type: ignore[no-untyped-def]
        """
        Without the peer among the trusted proxies, the header is anyone's
        word and is not read: the guesses count against the peer, whatever
        address each request names.
        """
        harness = self.harness((parseNetwork("192.0.2.0/24"),))
        yield self.guessesFrom(harness, "203.0.113.5")
        response, _ = yield harness.get(
            "/simple/", {"Authorization": ALICE, "X-Forwarded-For": "203.0.113.6"}
        )
        self.assertEqual(response.code, 429)

    @inlineCallbacks
    def test_zoneInHeader(self):  # type: ignore[no-untyped-def]
        """
        An IPv6 hop with a zone (C{%...}, any text a client in a trusted
        network wrote) names its address alone: the request is answered and
        logged, not failed in writing its access line.
        """
        harness = self.harness((parseNetwork("127.0.0.0/8"),))
        events = logEvents(self)
        response, body = yield harness.get(
            "/simple/", {"Authorization": ALICE, "X-Forwarded-For": "2001:db8::5%\u00e9\x1b"}
        )
        self.assertEqual(response.code, 200, body)
        lines = [formatEvent(e) for e in events if "GET /simple/ HTTP/1.1" in formatEvent(e)]
        self.assertIn(True, [line.startswith('"2001:db8::5" - - ') for line in lines], lines)


class NonASCIICredentialsTests(TestCase):
    """
    Passwords and user names beyond ASCII, as each client encodes them.
    """

    def setUp(self) -> None:
        self.upstream = sampleIndex()
        self.harness = Harness(
            self, [serveIndex(self, self.upstream)],
            users={"jos\u00e9": "p\u00e2ss-w\u00f6rd"}, readAuth=True,
        )

    @inlineCallbacks
    def test_latin1AndUTF8(self):  # type: ignore[no-untyped-def]
        """
        The right credentials log in whether the client encoded them as
        UTF-8 (uv, curl) or as Latin-1 (pip and twine, through requests);
        a wrong password still does not.
        """
        credentials = "jos\u00e9:p\u00e2ss-w\u00f6rd"
        for encoding in ("utf-8", "latin-1"):
            auth = "Basic " + base64.b64encode(credentials.encode(encoding)).decode()
            response, _ = yield self.harness.get("/simple/", {"Authorization": auth})
            self.assertEqual((encoding, response.code), (encoding, 200))
        wrong = "Basic " + base64.b64encode("jos\u00e9:p\u00e2ss".encode("latin-1")).decode()
        response, _ = yield self.harness.get("/simple/", {"Authorization": wrong})
        self.assertEqual(response.code, 401)


class ThrottleTests(SynchronousTestCase):
    """
    L{cheesecache.auth.Throttle} over a fake clock.
    """

    def test_window(self) -> None:
        """
        Failures count within the window only, per key.
        """
        from twisted.internet.task import Clock

        from cheesecache.auth import Throttle

        clock = Clock()
        throttle = Throttle(clock, maxFailures=3, window=60)
        keys = [("address", "1.2.3.4")]
        for _ in range(3):
            self.assertFalse(throttle.blocked(keys))
            throttle.failed(keys)
        self.assertTrue(throttle.blocked(keys))
        self.assertFalse(throttle.blocked([("address", "5.6.7.8")]))
        clock.advance(61)
        self.assertFalse(throttle.blocked(keys))

    def test_expiredFailuresForgotten(self) -> None:
        """
        Failures out of the window are forgotten even for keys never seen
        again (a scanner trying a new user name each time): they are not
        held until a flood of other keys clears them all.
        """
        from twisted.internet.task import Clock

        from cheesecache.auth import Throttle

        clock = Clock()
        throttle = Throttle(clock, maxFailures=3, window=60)
        for i in range(5000):
            throttle.failed([("user", f"name-{i}")])
        clock.advance(61)
        for i in range(5000):
            throttle.failed([("user", f"other-{i}")])
        self.assertLessEqual(len(throttle._failures), 5000)

    def test_longUserNamesHeldShort(self) -> None:
        """
        A failed login's user name, which may be as long as the headers
        (some 16 KiB), is not held whole by the throttle: 100,000 of them
        would be gigabytes.
        """
        from cheesecache.auth import TooManyFailures

        authenticator = ConcurrentGuessTests.makeAuthenticator(
            lambda credentials: fail(UnauthorizedLogin())
        )
        name = "x" * 12000
        for _ in range(10):
            d = authenticator.authenticate(_LoginRequest(name.encode(), b"guess"))
            self.failureResultOf(d, UnauthorizedLogin)
        self.assertLessEqual(
            max(len(value) for _, value in authenticator.throttle._failures), 256
        )
        d = authenticator.authenticate(_LoginRequest(name.encode(), b"guess", "10.0.0.2"))
        self.failureResultOf(d, TooManyFailures)


class UsersFileNameTests(SynchronousTestCase):
    """
    User names of the users file, through the checker and the realm.
    """

    def test_nameNotUTF8(self) -> None:
        """
        A user whose name in the users file is not UTF-8 (written by hand,
        or by a tool in a Latin-1 terminal) cannot log in, and is told of
        in the log: their right password is refused (401), not a 500 with
        a traceback for every request.
        """
        import bcrypt
        from twisted.cred.portal import Portal
        from twisted.python.filepath import FilePath

        from cheesecache.auth import Authenticator, Realm, Throttle
        from cheesecache.users import HtpasswdChecker

        from .test_users import FakeReactor, FakeThreadPool

        events = logEvents(self)
        path = FilePath(self.mktemp())
        path.setContent(b"jos\xe9:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)) + b"\n")
        reactor, pool = FakeReactor(), FakeThreadPool()
        checker = HtpasswdChecker(path, reactor, pool, reactor)
        authenticator = Authenticator(
            Portal(Realm(), [Credentials(checker)]), Throttle(reactor)
        )
        d = authenticator.authenticate(_LoginRequest(b"jos\xe9", b"pw"))
        pool.runAll()
        self.failureResultOf(d, UnauthorizedLogin)
        self.assertTrue(
            any("jos\\xe9" in formatEvent(e) and "not UTF-8" in formatEvent(e) for e in events)
        )


class TokenAndPermissionTests(TestCase):
    """
    Upload tokens and per-project permissions.
    """

    def setUp(self) -> None:
        self.harness = Harness(
            self, [serveIndex(self, sampleIndex())],
            users={"alice": "al1ce-pw", "bob": "b0b-pw"},
            permissions=[Permission("acme-*", ["alice"])],
        )
        self.events: list = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def upload(self, project: str, auth: str, version: str = "1.0"):  # type: ignore[no-untyped-def]
        filename, wheel = makeWheel(project, version)
        contentType, body = clientBody("twine", project, version, filename, wheel)
        return self.harness.get(
            "/legacy/", {"Content-Type": contentType.decode(), "Authorization": auth},
            method="POST", body=body,
        )

    def token(self, *argv: str) -> str:
        out = io.StringIO()
        code = cli(["token", *argv, "--data-dir", self.harness.dataDir.path], stdout=out)
        self.assertEqual(code, 0, out.getvalue())
        return (out.getvalue().split() or [""])[0]

    @inlineCallbacks
    def test_permissions(self):  # type: ignore[no-untyped-def]
        """
        Only the users a permission names may upload to matching projects
        (403 for others); projects no permission names are open to users.
        """
        response, body = yield self.upload("acme-tools", basic("bob", "b0b-pw"))
        self.assertEqual(response.code, 403, body)
        self.assertIn(b"bob", body)
        response, _ = yield self.upload("acme-tools", ALICE)
        self.assertEqual(response.code, 200)
        response, _ = yield self.upload("bobs-lib", basic("bob", "b0b-pw"))
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_tokens(self):  # type: ignore[no-untyped-def]
        """
        A scoped token uploads as its user to matching projects only; a
        revoked or made-up token is refused; the secret never reaches the
        logs or the tokens file.
        """
        secret = self.token("create", "alice", "--scope", "acme-*")
        asToken = basic("__token__", secret)
        response, body = yield self.upload("acme-tools", asToken)
        self.assertEqual(response.code, 200, body)
        record = self.harness.private.record("acme-tools")
        self.assertEqual(record.files[0].uploader, "alice")
        response, body = yield self.upload("other-thing", asToken)
        self.assertEqual(response.code, 403)
        response, _ = yield self.upload("acme-tools", basic("__token__", secret + "x"), "2.0")
        self.assertEqual(response.code, 401)
        tokenID = self.harness.tokens.tokens()[0].id
        self.assertNotIn(secret.encode(), self.harness.dataDir.child("tokens.json").getContent())
        self.token("revoke", tokenID)
        response, _ = yield self.upload("acme-tools", asToken, "3.0")
        self.assertEqual(response.code, 401)
        text = " ".join(formatEvent(e) for e in self.events)
        self.assertNotIn(secret, text)
        self.assertNotIn("al1ce-pw", text)


    @inlineCallbacks
    def test_tokenEndsWithItsUser(self):  # type: ignore[no-untyped-def]
        """
        A user removed from the users file can no longer log in with their
        tokens either; the tokens of other users still work.
        """
        bobs = basic("__token__", self.token("create", "bob"))
        alices = basic("__token__", self.token("create", "alice"))
        response, body = yield self.upload("bobs-lib", bobs)
        self.assertEqual(response.code, 200, body)
        self.assertTrue(removeUser(self.harness.usersFile, "bob"))
        for auth in (basic("bob", "b0b-pw"), bobs):
            response, body = yield self.upload("bobs-lib", auth, "2.0")
            self.assertEqual(response.code, 401, body)
        self.assertEqual(
            [f.version for f in self.harness.private.record("bobs-lib").files], ["1.0"]
        )
        response, body = yield self.upload("acme-tools", alices)
        self.assertEqual(response.code, 200, body)

    @inlineCallbacks
    def test_tokenGuessesThrottledByAddress(self):  # type: ignore[no-untyped-def]
        """
        Every token logs in as C{__token__}: failed token logins count
        against the address they come from, not against that name, so a
        client guessing tokens locks out itself alone (429, with its reason
        phrase), not every token.
        """
        secret = self.token("create", "alice")
        port = self.harness.port.getHost().port

        def post(source: str, password: str):  # type: ignore[no-untyped-def]
            auth = base64.b64encode(f"__token__:{password}".encode()).decode()
            request = (
                f"POST /-/yank/nothing-here/1.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Basic {auth}\r\nContent-Length: 0\r\n\r\n"
            ).encode()
            return threads.deferToThread(rawExchange, port, request, source)

        for attempt in range(10):
            answer = yield post("127.0.0.2", f"guess-{attempt}")
            self.assertTrue(answer.startswith(b"HTTP/1.1 401 "), answer[:100])
        answer = yield post("127.0.0.2", secret)
        self.assertTrue(answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), answer[:100])
        # Another client's token is not locked out: it gets as far as the
        # project, which does not exist.
        answer = yield post("127.0.0.3", secret)
        self.assertTrue(answer.startswith(b"HTTP/1.1 404 "), answer[:100])

    @inlineCallbacks
    def test_manageNeedsUploadRights(self):  # type: ignore[no-untyped-def]
        """
        Yanking, unyanking and deleting a project's files need the rights an
        upload to it needs: a user the permissions name, with a token whose
        scope covers it.  Anyone else gets 403, and the files stay as they
        were.
        """
        response, body = yield self.upload("acme-tools", ALICE)
        self.assertEqual(response.code, 200, body)
        response, body = yield self.upload("bobs-lib", basic("bob", "b0b-pw"))
        self.assertEqual(response.code, 200, body)
        scoped = basic("__token__", self.token("create", "alice", "--scope", "acme-*"))
        refused = [
            (basic("bob", "b0b-pw"), "acme-tools"),
            (basic("bob", "b0b-pw"), "Acme_Tools"),
            (scoped, "bobs-lib"),
        ]
        for auth, project in refused:
            for action, method in [("yank", "POST"), ("unyank", "POST"), ("delete", "DELETE")]:
                response, body = yield self.harness.get(
                    f"/-/{action}/{project}/1.0", {"Authorization": auth}, method=method
                )
                self.assertEqual(response.code, 403, (action, project, body))
        for project in ("acme-tools", "bobs-lib"):
            record = self.harness.private.record(project)
            self.assertEqual([(f.version, f.yanked) for f in record.files], [("1.0", False)])
            self.assertEqual(record.deleted, frozenset())
        response, body = yield self.harness.get(
            "/-/yank/acme-tools/1.0", {"Authorization": scoped}, method="POST"
        )
        self.assertEqual(response.code, 200, body)
        response, body = yield self.harness.get(
            "/-/delete/bobs-lib/1.0", {"Authorization": basic("bob", "b0b-pw")}, method="DELETE"
        )
        self.assertEqual(response.code, 200, body)


class SecurityHeaderTests(TestCase):
    """
    Headers on HTML pages.
    """

    @inlineCallbacks
    def test_htmlHeaders(self):  # type: ignore[no-untyped-def]
        """
        HTML pages carry a Content-Security-Policy that allows no scripts,
        nosniff and no-referrer; JSON pages and files carry nosniff.
        """
        harness = Harness(self, [serveIndex(self, sampleIndex())])
        response, _ = yield harness.get("/simple/alpha/")
        self.assertIn("default-src 'none'", header(response, "content-security-policy"))
        self.assertEqual(header(response, "x-content-type-options"), "nosniff")
        self.assertEqual(header(response, "referrer-policy"), "no-referrer")
        response, page = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(header(response, "x-content-type-options"), "nosniff")
        name = json.loads(page)["files"][0]["filename"]
        response, _ = yield harness.get(fileURL(page, name))
        self.assertEqual(header(response, "x-content-type-options"), "nosniff")


class _LoginRequest:
    """
    What L{cheesecache.auth.Authenticator} reads of a request.
    """

    def __init__(self, user: bytes, password: bytes, host: str = "10.0.0.1") -> None:
        from twisted.internet.address import IPv4Address

        self.user, self.password = user, password
        self.address = IPv4Address("TCP", host, 1234)

    def getUser(self) -> bytes:
        return self.user

    def getPassword(self) -> bytes:
        return self.password

    def getClientAddress(self):  # type: ignore[no-untyped-def]
        return self.address


class ConcurrentGuessTests(SynchronousTestCase):
    """
    Logins checked at once (bcrypt takes its time in a thread) against the
    L{cheesecache.auth.Throttle}.
    """

    @staticmethod
    def makeAuthenticator(check):  # type: ignore[no-untyped-def]
        """
        An authenticator whose one checker is C{check(credentials)}, with a
        throttle of ten failures a minute on a fake clock.
        """
        from twisted.cred.checkers import ICredentialsChecker
        from twisted.cred.portal import Portal
        from twisted.internet.task import Clock
        from zope.interface import implementer

        from cheesecache.auth import Authenticator, Realm, Throttle

        @implementer(ICredentialsChecker)
        class Checker:
            credentialInterfaces = Credentials.credentialInterfaces

            def requestAvatarId(self, credentials):  # type: ignore[no-untyped-def]
                return check(credentials)

        return Authenticator(Portal(Realm(), [Checker()]), Throttle(Clock(), maxFailures=10))

    def setUp(self) -> None:
        self.checks: list = []

        def slow(credentials):  # type: ignore[no-untyped-def]
            d: Deferred[bytes] = Deferred()
            self.checks.append((credentials.password, d))
            return d

        self.UnauthorizedLogin = UnauthorizedLogin
        self.authenticator = self.makeAuthenticator(slow)

    def test_guessesSentAtOnceAreThrottled(self) -> None:
        """
        Guesses sent at once, before the first has failed, are not all
        checked: no more are checked than the throttle lets fail, the
        others wait for them, and are refused once they have failed.
        """
        from cheesecache.auth import TooManyFailures

        results: list = []
        for i in range(50):
            request = _LoginRequest(b"alice", b"guess-%d" % (i,))
            self.authenticator.authenticate(request).addBoth(results.append)
        self.assertEqual(len(self.checks), 10)
        for _, d in list(self.checks):
            d.errback(self.UnauthorizedLogin())
        self.assertEqual(len(self.checks), 10)
        self.assertEqual(len(results), 50)
        self.assertEqual(
            sum(1 for r in results if r.check(TooManyFailures)), 40
        )

    def test_rightPasswordWaitsNotRefused(self) -> None:
        """
        Logins over the limit while others are being checked wait for
        them: once those succeed, they are checked in turn, not refused
        (many requests of one client, or clients behind one address,
        logging in at once).
        """
        results: list = []
        for i in range(30):
            request = _LoginRequest(b"user-%d" % (i,), b"right")
            self.authenticator.authenticate(request).addBoth(results.append)
        while len(results) < 30:
            pending = [d for _, d in self.checks if not d.called]
            self.assertTrue(pending)
            for d in pending:
                d.callback(b"someone")
        self.assertEqual([r.username for r in results], ["someone"] * 30)

    def test_cancelledWhileWaiting(self) -> None:
        """
        A login cancelled while it waits (its client gone) is forgotten:
        the end of the check it waited for fires nothing twice.
        """
        from twisted.internet.defer import CancelledError

        for i in range(10):
            self.authenticator.authenticate(_LoginRequest(b"alice", b"g%d" % (i,)))
        waiting = self.authenticator.authenticate(_LoginRequest(b"alice", b"late"))
        waiting.cancel()
        self.failureResultOf(waiting, CancelledError)
        for _, d in list(self.checks):
            d.callback(b"alice")
        self.assertEqual(len(self.checks), 10)
