"""
Stored files and big rendered pages sent with C{sendfile}, over real
loopback connections: whole files, ranges, pipelining, slow and vanishing
clients, and the ordinary path where C{sendfile} cannot be used (TLS).
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
from typing import Any, List, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.internet.ssl import CertificateOptions, PrivateCertificate
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from cheesecache.web import sendfile
from cheesecache.web.channel import GuardedSite
from cheesecache.web.files import serveBlob
from cheesecache.web.representation import Representation, RenderedStore, writeRepresentation

from .harness import sleep
from .tlscerts import makeCertificates


class _Blob(Resource):
    isLeaf = True

    def __init__(self, path: str) -> None:
        Resource.__init__(self)
        self.path = path
        self.requests: List[Any] = []

    def render_GET(self, request: Any) -> object:
        self.requests.append(request)
        return serveBlob(request, self.path, "etag")

    render_HEAD = render_GET


class _Page(Resource):
    isLeaf = True

    def __init__(self, rep: Representation) -> None:
        Resource.__init__(self)
        self.rep = rep

    def render_GET(self, request: Any) -> object:
        return writeRepresentation(request, self.rep)


class RawClient(Protocol):
    """
    Sends raw request bytes and keeps every byte of the answer.
    """

    def __init__(self, request: bytes, stopAfter: Optional[int] = None) -> None:
        self.request = request
        self.stopAfter = stopAfter
        self.received = bytearray()
        self.closed: Deferred = Deferred()
        self.reading: Deferred = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if not self.reading.called:
            self.reading.callback(None)
        if self.stopAfter is not None and len(self.received) >= self.stopAfter:
            self.transport.abortConnection()

    def connectionLost(self, reason: Any) -> None:
        self.closed.callback(bytes(self.received))


def connect(port: Any, client: RawClient, tls: Any = None) -> RawClient:
    factory = ClientFactory.forProtocol(lambda: client)
    host = port.getHost()
    if tls is None:
        reactor.connectTCP(host.host, host.port, factory)
    else:
        reactor.connectSSL(host.host, host.port, factory, tls)
    return client


def connectSmallWindow(port: Any, client: RawClient, receiveBuffer: int = 65536) -> RawClient:
    """
    Connect C{client} over a socket whose receive buffer is small from the
    start: set after the connection is made, the kernel may already have
    let the window grow to megabytes.
    """
    host = port.getHost()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
        # The kernel completes a loopback handshake without the reactor.
        s.connect((host.host, host.port))
        s.setblocking(False)
        reactor.adoptStreamConnection(
            s.fileno(), socket.AF_INET, ClientFactory.forProtocol(lambda: client)
        )
    finally:
        s.close()  # the reactor has its own duplicate
    return client


def responses(raw: bytes) -> List[tuple]:
    """
    Split raw HTTP/1.1 responses with Content-Length into (head, body).
    """
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        out.append((head, rest[:length]))
        raw = rest[length:]
    return out


def openFiles() -> List[str]:
    """
    What this process has open, other than pipes (the reactor's).
    """
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + name)
        except OSError:
            continue
        if not target.startswith("pipe:"):
            found.append(target)
    return sorted(found)


def get(path: bytes, extra: bytes = b"", close: bool = True) -> bytes:
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: test\r\n" + extra
        + (b"Connection: close\r\n" if close else b"") + b"\r\n"
    )


class SendfileTests(TestCase):
    def setUp(self) -> None:
        self.calls: List[int] = []
        realSendfile = os.sendfile

        def counting(*args: Any) -> int:
            self.calls.append(args[3])
            return realSendfile(*args)

        self.patch(os, "sendfile", counting)

    def blob(self, size: int, random: bool = True) -> FilePath:
        path = FilePath(self.mktemp())
        with path.open("wb") as f:
            if random:
                f.write(os.urandom(size))
            else:
                f.truncate(size)
        return path

    def serve(self, resource: Resource, tls: Any = None) -> tuple:
        root = Resource()
        root.putChild(b"f", resource)
        site = GuardedSite(root)
        finished: List[Any] = []
        site.requestObservers.append(finished.append)
        if tls is None:
            port = reactor.listenTCP(0, site, interface="127.0.0.1")
        else:
            port = reactor.listenSSL(0, site, tls, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port, site, finished

    @inlineCallbacks
    def test_wholeFile(self):  # type: ignore[no-untyped-def]
        """
        A stored file goes out whole and byte for byte, all of it through
        C{sendfile} (none read into Python), and the access log counts
        every byte.
        """
        path = self.blob(3 * 1024 * 1024 + 17)
        port, site, finished = self.serve(_Blob(path.path))
        raw = yield connect(port, RawClient(get(b"/f"))).closed
        [(head, body)] = responses(raw)
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(path.getContent()).digest())
        self.assertTrue(self.calls, "sendfile was not used")
        # Its first call is asked for the whole file.
        self.assertEqual(self.calls[0], path.getsize())
        yield sleep(0)
        self.assertEqual(finished[0].sentLength, path.getsize())

    @inlineCallbacks
    def test_singleRange(self):  # type: ignore[no-untyped-def]
        path = self.blob(2 * 1024 * 1024)
        port, _, _ = self.serve(_Blob(path.path))
        raw = yield connect(port, RawClient(get(b"/f", b"Range: bytes=1000-1500999\r\n"))).closed
        [(head, body)] = responses(raw)
        self.assertIn(b" 206 ", head.split(b"\r\n")[0])
        self.assertEqual(body, path.getContent()[1000:1501000])
        self.assertTrue(self.calls)

    @inlineCallbacks
    def test_pipelined(self):  # type: ignore[no-untyped-def]
        """
        Two requests in one write get two whole answers, in order: the
        second one's bytes never overtake the first one's.
        """
        first, second = self.blob(1024 * 1024), self.blob(700 * 1024)
        root = Resource()
        root.putChild(b"a", _Blob(first.path))
        root.putChild(b"b", _Blob(second.path))
        port = reactor.listenTCP(0, GuardedSite(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        raw = yield connect(port, RawClient(get(b"/a", close=False) + get(b"/b"))).closed
        bodies = [body for _, body in responses(raw)]
        self.assertEqual(bodies, [first.getContent(), second.getContent()])

    @inlineCallbacks
    def test_slowReader(self):  # type: ignore[no-untyped-def]
        """
        A client that stops reading for a while (the socket fills up) still
        gets the whole file once it reads again.
        """
        path = self.blob(24 * 1024 * 1024, random=False)
        port, _, _ = self.serve(_Blob(path.path))
        client = connect(port, RawClient(get(b"/f")))
        yield client.reading
        client.transport.pauseProducing()
        yield sleep(0.3)
        client.transport.resumeProducing()
        raw = yield client.closed
        [(_, body)] = responses(raw)
        self.assertEqual(len(body), path.getsize())

    @inlineCallbacks
    def test_clientGoesAway(self):  # type: ignore[no-untyped-def]
        """
        A client that hangs up midway leaves nothing behind: no writer in the
        reactor, no open descriptor.
        """
        path = self.blob(32 * 1024 * 1024, random=False)
        resource = _Blob(path.path)
        port, _, _ = self.serve(resource)
        before = openFiles()
        client = connect(port, RawClient(get(b"/f"), stopAfter=256 * 1024))
        yield client.closed
        lost = resource.requests[0].notifyFinish()
        yield lost.addErrback(lambda f: None)
        yield sleep(0.05)
        senders = [w for w in reactor.getWriters() if isinstance(w, sendfile.SocketSender)]
        self.assertEqual(senders, [])
        self.assertEqual(openFiles(), before)

    @inlineCallbacks
    def test_stalledClientCutOff(self):  # type: ignore[no-untyped-def]
        """
        A client that reads nothing for longer than the channel's
        C{writeStallTimeout} is disconnected.
        """
        path = self.blob(64 * 1024 * 1024, random=False)
        port, site, _ = self.serve(_Blob(path.path))
        site.channelSettings["writeStallTimeout"] = 0.3
        # A small receive buffer, so that the kernel cannot take the whole
        # file on the client's behalf (loopback buffers grow to tens of MB).
        client = connectSmallWindow(port, RawClient(get(b"/f")))
        yield client.reading
        client.transport.pauseProducing()
        yield sleep(2.5)
        client.transport.resumeProducing()
        raw = yield client.closed
        self.assertLess(len(raw), path.getsize())

    @inlineCallbacks
    def test_head(self):  # type: ignore[no-untyped-def]
        path = self.blob(1024 * 1024)
        port, _, _ = self.serve(_Blob(path.path))
        raw = yield connect(port, RawClient(get(b"/f").replace(b"GET", b"HEAD", 1))).closed
        self.assertTrue(raw.endswith(b"\r\n\r\n"), raw[-200:])
        self.assertIn(b"Content-Length: 1048576", raw)
        self.assertEqual(self.calls, [])

    @inlineCallbacks
    def test_bigRenderedPage(self):  # type: ignore[no-untyped-def]
        """
        A big representation kept on disk is sent with C{sendfile}, plain
        and gzipped.
        """
        store = RenderedStore(FilePath(self.mktemp()))
        text = b"".join(b'<a href="x-%d.whl">x-%d.whl</a><br/>\n' % (i, i) for i in range(20000))
        rep = Representation.of("text/html", text, store)
        self.assertIsNotNone(rep.path)
        port, _, _ = self.serve(_Page(rep))
        raw = yield connect(port, RawClient(get(b"/f"))).closed
        [(_, body)] = responses(raw)
        self.assertEqual(body, text)
        raw = yield connect(port, RawClient(get(b"/f", b"Accept-Encoding: gzip\r\n"))).closed
        [(head, body)] = responses(raw)
        self.assertIn(b"Content-Encoding: gzip", head)
        import gzip

        self.assertEqual(gzip.decompress(body), text)
        self.assertTrue(self.calls)

    @inlineCallbacks
    def test_bigPageNotModifiedOnlyWhenItMatches(self):  # type: ignore[no-untyped-def]
        """
        An C{If-None-Match} that Twisted's own check would take for a match
        (a C{*} among other tokens), but that names no tag of the page, gets
        the page (200): a 304 followed by the page's bytes, sent with
        C{sendfile} where no body may be, broke the framing of the
        connection, and the next response read on it was those bytes.
        """
        store = RenderedStore(FilePath(self.mktemp()))
        text = b"".join(b'<a href="x-%d.whl">x-%d.whl</a><br/>\n' % (i, i) for i in range(20000))
        rep = Representation.of("text/html", text, store)
        port, _, _ = self.serve(_Page(rep))
        for value in [b'"other" *', b'*, "other"', b'"q "%s" q"' % (rep.etag.encode(),)]:
            raw = yield connect(
                port,
                RawClient(
                    get(b"/f", b"If-None-Match: " + value + b"\r\n", close=False)
                    + get(b"/f", b"If-None-Match: \"%s\"\r\n" % (rep.etag.encode(),))
                ),
            ).closed
            [(first, body), (second, _)] = responses(raw)
            self.assertTrue(first.startswith(b"HTTP/1.1 200 "), value)
            self.assertEqual(body, text, value)
            self.assertTrue(second.startswith(b"HTTP/1.1 304 "), value)

    @inlineCallbacks
    def test_tlsUsesOrdinaryWrites(self):  # type: ignore[no-untyped-def]
        """
        Over TLS the bytes must be encrypted in the process: the file is sent
        the ordinary way, whole.
        """
        ca, cert, key = makeCertificates(FilePath(self.mktemp()))
        certificate = PrivateCertificate.loadPEM(cert.getContent() + key.getContent())
        path = self.blob(2 * 1024 * 1024)
        port, _, _ = self.serve(_Blob(path.path), tls=certificate.options())
        raw = yield connect(port, RawClient(get(b"/f")), tls=CertificateOptions()).closed
        [(_, body)] = responses(raw)
        self.assertEqual(body, path.getContent())
        self.assertEqual(self.calls, [])


class _Unpausing:
    """
    A request whose transport never pauses its producer.
    """

    def __init__(self) -> None:
        self.written: List[bytes] = []
        self.finished = False
        self.sentLength = 0
        self.producer: Any = None
        self.channel = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer
        self.streaming = streaming

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def finish(self) -> None:
        self.finished = True


class FallbackTests(TestCase):
    def test_notPaused(self) -> None:
        """
        When writing the headers does not make the transport pause (so there
        is no telling when its buffer is empty), the body is written the
        ordinary way.
        """
        data = os.urandom(600 * 1024)
        request = _Unpausing()

        class Transport:
            bufferSize = 64 * 1024

        producer = sendfile.SendfileProducer(request, Transport(), io.BytesIO(data), 10, len(data) - 10)  # type: ignore[arg-type]
        producer.start()
        self.assertFalse(producer.sender)
        while request.producer is not None:
            request.producer.resumeProducing()
        self.assertTrue(request.finished)
        self.assertEqual(b"".join(request.written), data[10:])


class _Source:
    """
    A L{sendfile.SendfileSource} over a whole file, sending to one end of
    a socket pair.
    """

    def __init__(self, fileObject: Any, size: int, sock: socket.socket) -> None:
        self.fileObject = fileObject
        self.size = size
        self.offset = 0
        self.sock = sock
        self.reactor = MemoryReactorClock()
        self.transport = self
        self.finished: List[int] = []
        self.failed: List[Any] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    done = False

    #: How much of the file exists so far (all of it, unless a test says).
    written: Optional[int] = None

    def available(self) -> int:
        end = self.size if self.written is None else self.written
        return end - self.offset

    def advance(self, n: int) -> None:
        self.offset += n

    def allSent(self) -> bool:
        return self.offset >= self.size

    def _finish(self, sent: int) -> None:
        self.finished.append(sent)

    def _failed(self, reason: Any) -> None:
        self.failed.append(reason)


class SocketSenderTests(TestCase):
    """
    L{sendfile.SocketSender} sends at once what the socket takes, and
    watches a duplicate of it only for the rest.
    """

    def source(self, size: int, sendBuffer: int) -> tuple:
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sendBuffer)
        ours.setblocking(False)
        theirs.setblocking(False)
        path = FilePath(self.mktemp())
        path.setContent(os.urandom(size))
        fileObject = path.open("rb")
        self.addCleanup(fileObject.close)
        self.dups: List[int] = []
        realDup = os.dup

        def dup(fd: int) -> int:
            self.dups.append(fd)
            return realDup(fd)

        self.patch(os, "dup", dup)
        return _Source(fileObject, size, ours), theirs, path.getContent()

    def test_fitsAtOnce(self) -> None:
        """
        A body the socket's buffer takes whole is sent by C{start}: no
        duplicate descriptor, nothing for the reactor to watch.
        """
        source, theirs, content = self.source(32 * 1024, 1024 * 1024)
        sender = sendfile.SocketSender(source, stallTimeout=10)
        sender.start()
        self.assertEqual(source.finished, [len(content)])
        self.assertEqual((self.dups, source.reactor.getWriters()), ([], []))
        self.assertEqual(theirs.recv(len(content) + 1), content)

    def test_restWhenWritable(self) -> None:
        """
        What the socket cannot take at once is sent from a watched
        duplicate when it becomes writable, with the stall deadline armed;
        the receiver gets every byte, in order.
        """
        source, theirs, content = self.source(2 * 1024 * 1024, 16 * 1024)
        sender = sendfile.SocketSender(source, stallTimeout=10)
        sender.start()
        self.assertEqual(source.finished, [])
        self.assertEqual(self.dups, [source.fileno()])
        self.assertEqual(source.reactor.getWriters(), [sender])
        self.assertNotEqual(sender.fileno(), source.fileno())
        self.assertEqual(len(source.reactor.getDelayedCalls()), 1)
        received = []
        for _ in range(10_000):  # bounded: a sender that stops sending fails, not hangs
            if source.finished:
                break
            try:
                received.append(theirs.recv(1024 * 1024))
            except BlockingIOError:
                pass
            self.assertIsNone(sender.doWrite())
        while sum(map(len, received)) < len(content):
            received.append(theirs.recv(len(content)))
        self.assertEqual(b"".join(received), content)
        self.assertEqual(source.finished, [len(content)])
        self.assertEqual(source.reactor.getWriters(), [])
        self.assertEqual(source.failed, [])

    def test_stallAfterAFullBurst(self) -> None:
        """
        A client that reads nothing more after a burst the socket took
        whole (L{sendfile.BURST} reached, not a full socket) is cut off
        once the stall deadline passes: the socket may never be writable
        again, so the deadline cannot wait for a blocked send.
        """
        self.patch(sendfile, "BURST", 64 * 1024)
        source, theirs, content = self.source(8 * 1024 * 1024, 1024 * 1024)
        sender = sendfile.SocketSender(source, stallTimeout=10)
        sender.start()
        # One sendfile call took the burst and more, without blocking.
        self.assertTrue(64 * 1024 <= source.offset < len(content), source.offset)
        self.assertEqual(source.reactor.getWriters(), [sender])
        source.reactor.advance(10)
        self.assertEqual(len(source.failed), 1)
        self.assertEqual(source.reactor.getWriters(), [])
        self.assertEqual(source.reactor.getDelayedCalls(), [])

    def test_waitingForTheFileIsNoStall(self) -> None:
        """
        While the file is still being written (a download in progress), the
        sender waits for it with no deadline on the client, even one armed
        while it was sending; once there is more, the client must read
        again.
        """
        source, theirs, content = self.source(8 * 1024 * 1024, 1024 * 1024)
        source.written = 64 * 1024
        sender = sendfile.SocketSender(source, stallTimeout=10)
        sender.start()
        self.assertEqual((source.offset, source.reactor.getWriters()), (64 * 1024, []))
        source.reactor.pump([10] * 6)
        # More of the file: sent while the client reads, until caught up.
        source.written = 4 * 1024 * 1024
        sender.wake()
        self.assertEqual(source.reactor.getWriters(), [sender])
        for _ in range(10_000):  # bounded
            if source.offset == source.written:
                break
            try:
                theirs.recv(8 * 1024 * 1024)
            except BlockingIOError:
                pass
            self.assertIsNone(sender.doWrite())
        self.assertIsNone(sender.doWrite())  # caught up: waits for the file
        self.assertEqual(source.reactor.getWriters(), [])
        source.reactor.pump([10] * 6)
        self.assertEqual(source.failed, [])
        # The rest of the file; now the client reads nothing.
        source.written = None
        sender.wake()
        self.assertIsNone(sender.doWrite())
        self.assertTrue(source.offset < len(content))
        source.reactor.advance(10)
        self.assertEqual(source.failed, [])  # it was sending until now
        source.reactor.advance(10)
        self.assertEqual(len(source.failed), 1)

    def test_startBeyondWhatCame(self) -> None:
        """
        A source that starts past what exists of its file yet (a client
        asking for the rest of a download from a byte that has not come)
        has less than nothing available: nothing is sent (C{sendfile} of a
        negative count fails, and cut the client off), and the sender waits
        for the file, then sends the rest.
        """
        source, theirs, content = self.source(256 * 1024, 1024 * 1024)
        source.offset = 128 * 1024
        source.written = 64 * 1024
        sender = sendfile.SocketSender(source, stallTimeout=10)
        sender.start()
        self.assertEqual(source.failed, [])
        self.assertEqual((source.offset, source.reactor.getWriters()), (128 * 1024, []))
        source.written = None
        sender.wake()
        self.assertIsNone(sender.doWrite())
        self.assertEqual(source.finished, [128 * 1024])
        self.assertEqual(theirs.recv(len(content)), content[128 * 1024 :])

    def test_stoppedDuplicateOutlivesTheRound(self) -> None:
        """
        A sender stopped while its duplicate is watched (its client went
        away: the reactor is handling the client's socket) keeps the
        duplicate open until the reactor's next round, so that no socket
        opened in this round (a connection accepted) takes its number.
        """
        source, theirs, content = self.source(2 * 1024 * 1024, 16 * 1024)
        sender = sendfile.SocketSender(source, stallTimeout=10)
        sender.start()
        duplicate = sender.fileno()
        self.assertEqual(source.reactor.getWriters(), [sender])
        sender.stop()
        self.assertEqual(source.reactor.getWriters(), [])
        accepted = socket.socket()
        self.addCleanup(accepted.close)
        self.assertNotEqual(accepted.fileno(), duplicate)
        self.assertEqual(
            os.fstat(duplicate).st_ino, os.fstat(source.fileno()).st_ino
        )
        source.reactor.advance(0)
        self.assertRaises(OSError, os.fstat, duplicate)
