"""
A whole cheesecache (resource tree, upstream client, stores) listening on a
loopback port inside the test's reactor, and a client to talk to it.
"""

from __future__ import annotations

import re
import socket

from typing import Any, Dict, List, Optional, Sequence, Tuple

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.task import Clock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from twisted.cred.portal import Portal

from cheesecache.auth import Authenticator, Credentials, Realm, Throttle
from cheesecache.config import mayUpload, servedPrivately
from cheesecache.tokens import TokenChecker, TokenStore
from cheesecache.blobstore import BlobStore
from cheesecache.private import PrivateStore
from cheesecache.privatesource import PrivateSource
from cheesecache.uploadcheck import UploadPolicy
from cheesecache.users import HtpasswdChecker, setPassword
from cheesecache.eviction import AccessLog, Evictor
from cheesecache.filefetch import FileFetcher
from cheesecache.tap import inThreads
from cheesecache.freshness import Policy
from cheesecache.index import Index, UpstreamSource
from cheesecache.metadata import MetadataService
from cheesecache.pagestore import PageStore
from cheesecache.routing import Route
from cheesecache.upstream import ChainedRedirectAgent, Upstream
from cheesecache.web.site import makeRoot, makeSite
from cheesecache.web.status import Status

from .fakeindex import FakeIndex, listen

JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"


def httpClient(testCase: TestCase, persistent: bool = False) -> Tuple[Any, HTTPConnectionPool]:
    """
    A plain agent (no content decoding, no redirects followed) whose
    connections are closed when the test ends.
    """
    pool = HTTPConnectionPool(reactor, persistent=persistent)
    testCase.addCleanup(pool.closeCachedConnections)
    return Agent(reactor, pool=pool), pool


class Harness:
    """
    cheesecache in front of the given upstream URLs.

    @ivar clock: decides freshness (advance it to age pages); I/O uses the
        real reactor.
    """

    def __init__(
        self,
        testCase: TestCase,
        upstreamURLs: Sequence[str],
        dataDir: Optional[FilePath] = None,
        ttl: float = 600.0,
        idleTimeout: float = 60.0,
        connectTimeout: float = 30.0,
        routes: Sequence[Route] = (),
        names: Optional[Sequence[str]] = None,
        offline: bool = False,
        pseudonym: str = "cheesecache-test",
        channelSettings: Optional[Dict[str, Any]] = None,
        users: Optional[Dict[str, str]] = None,
        maxUploadSize: int = 100 * 1024 * 1024,
        readAuth: bool = False,
        permissions: Sequence[Any] = (),
        maxCacheSize: Optional[int] = None,
    ) -> None:
        self.testCase = testCase
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.dataDir = dataDir or FilePath(testCase.mktemp())
        self.dataDir.makedirs(ignoreExistingDirectory=True)
        upstreamAgent, self.upstreamPool = httpClient(testCase, persistent=True)
        pages = PageStore(self.dataDir.child("pages"))
        policy = Policy(ttl=ttl)
        self.sources: List[UpstreamSource] = [
            UpstreamSource(
                Upstream.fromURL(
                    url,
                    ChainedRedirectAgent(upstreamAgent),
                    reactor,
                    idleTimeout=idleTimeout,
                    connectTimeout=connectTimeout,
                    retryDelays=(0.01, 0.02),
                    pseudonym=pseudonym,
                ),
                pages,
                self.clock,
                policy,
                name=name,
                offline=offline,
            )
            for url, name in zip(
                upstreamURLs,
                names or [f"upstream-{i + 1}" for i in range(len(upstreamURLs))],
            )
        ]
        self.store = BlobStore(self.dataDir)
        self.store.cleanTemporary()
        self.private = PrivateStore(
            self.dataDir, self.store, reactor,
            UploadPolicy(
                maxFileSize=maxUploadSize,
                mayUpload=lambda user, name: mayUpload(tuple(permissions), user, name),
                servedPrivately=lambda name: servedPrivately(routes, name),
            ),
        )
        self.privateSource = PrivateSource(self.private, self.clock)
        self.index = Index([self.privateSource, *self.sources], routes)

        def changed(name: str) -> None:
            self.privateSource.forget(name)
            self.index.forgetRendered(name)

        self.private.subscribe(changed)
        self.authenticator = None
        self.tokens = TokenStore(self.dataDir.child("tokens.json"))
        if users is not None:
            self.usersFile = self.dataDir.child("users.htpasswd")
            for username, password in users.items():
                setPassword(self.usersFile, username, password, rounds=4)
            passwords = HtpasswdChecker(
                self.usersFile, reactor, reactor.getThreadPool(), reactor
            )
            checker = Credentials(passwords, TokenChecker(self.tokens, passwords.hasUser))
            self.throttle = Throttle(reactor)
            self.authenticator = Authenticator(
                Portal(Realm(self.tokens), [checker]), self.throttle
            )
        self.fetcher = FileFetcher(
            self.store, reactor, idleTimeout=idleTimeout, blocking=inThreads(reactor),
            resumeDelays=(0.01, 0.02),
        )
        self.metadata = MetadataService(
            self.store, reactor, idleTimeout=idleTimeout, blocking=inThreads(reactor),
            retryDelays=(0.01, 0.02),
        )
        self.evictor = self.accessLog = None
        if maxCacheSize is not None:
            self.evictor = Evictor(
                self.dataDir, maxCacheSize, reactor, reactor.getThreadPool(),
                interval=3600, minAge=0,
            )
            self.accessLog = AccessLog(self.store, reactor)
            self.fetcher.onStored = self.evictor.noteAdded
        self.status = Status(
            self.index.sources, self.fetcher, private=self.private, evictor=self.evictor
        )
        self.site = site = makeSite(
            makeRoot(
                self.index, self.store, self.fetcher, self.metadata, pseudonym,
                private=self.private, authenticator=self.authenticator,
                reactor=reactor, readAuth=readAuth, status=self.status,
                accessLog=self.accessLog, clock=self.clock,
            ),
            self.status,
            **(channelSettings or {}),
        )
        self.port, self.url = listen(site)
        testCase.addCleanup(self.port.stopListening)
        # Downloads still being stored (a sync in the pool) end with their
        # test, not in the next one's: give them a moment, then cancel.
        testCase.addCleanup(self.fetcher.drain, 5)
        self.client, _ = httpClient(testCase)

    def settled(self) -> "Deferred[None]":
        """
        Fires once the downloads in progress are stored (clients get a
        file's last byte once it is verified, a moment before that), and
        the metadata fetched is (clients get it at once).
        """
        return gatherResults([self.fetcher.settled(), self.metadata.settled()]).addCallback(
            lambda _: None
        )

    @property
    def simpleURL(self) -> str:
        """
        This cheesecache's index URL, to chain another one to it.
        """
        return self.url + "/simple/"

    @inlineCallbacks
    def get(  # type: ignore[no-untyped-def]
        self,
        path: str,
        headers: Optional[Dict[str, str]] = None,
        method: str = "GET",
        body: Optional[bytes] = None,
    ):
        """
        Request C{path} from cheesecache; fires with C{(response, body)}.
        """
        from twisted.web.client import FileBodyProducer
        import io

        raw = Headers({k: [v] for k, v in (headers or {}).items()})
        producer = None if body is None else FileBodyProducer(io.BytesIO(body))
        response = yield self.client.request(
            method.encode(), (self.url + path).encode(), raw, producer
        )
        body = yield treq.content(response)
        return response, body


def serveIndex(testCase: TestCase, index: FakeIndex) -> str:
    """
    Serve a fake upstream index on loopback; returns its Simple URL.
    """
    port, url = listen(index)
    testCase.addCleanup(port.stopListening)
    testCase.addCleanup(index.stop)
    return url + "/simple/"


def header(response: Any, name: str) -> Optional[str]:
    values = response.headers.getRawHeaders(name)
    return values[0] if values else None


@inlineCallbacks
def takeDown(testCase: TestCase, port: Any):  # type: ignore[no-untyped-def]
    """
    Stop C{port} listening, and hold its number, bound but not listening,
    until C{testCase} ends: connections to it are refused, as to a server
    that is down.  Freed, the number could be given to a server of a test
    running in another process (C{trial -j}), which would answer instead,
    and count a request it was never sent.
    """
    number = port.getHost().port
    yield port.stopListening()
    held = socket.socket()
    testCase.addCleanup(held.close)
    # The connections it accepted may linger in TIME_WAIT on the number.
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", number))


def logEvents(testCase: TestCase) -> List[Dict[str, Any]]:
    """
    The events logged from now until C{testCase} ends, as they come.
    """
    from twisted.logger import globalLogPublisher

    events: List[Dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    testCase.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


def sleep(seconds: float) -> "Deferred[None]":
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds, lambda: None)


def rawExchange(port: int, request: bytes, source: str = "127.0.0.1") -> bytes:
    """
    Send C{request} on a new connection (from address C{source}, another
    loopback one to be another client) and read one response: its head,
    then C{Content-Length} bytes of body, unless it is a C{HEAD}'s or a
    C{304}.  Blocking: for a thread.
    """
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    ) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += recvSome(s)
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        if length and not request.startswith(b"HEAD ") and b" 304 " not in head[:20]:
            while len(body) < int(length.group(1)):
                body += recvSome(s)
        return head + b"\r\n\r\n" + body


def recvSome(s: socket.socket) -> bytes:
    piece = s.recv(65536)
    if not piece:
        raise ConnectionError("closed before the whole response")
    return piece
