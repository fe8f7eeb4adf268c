"""
Operations: a size-bounded cache in a running server, JSON logs, the
daemonized process, and a clean stop on SIGTERM with a download in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from urllib.parse import urljoin

import treq
from twisted.internet import reactor, threads
from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent
from twisted.web.http_headers import Headers

from .fakeindex import Dist, FakeIndex
from .harness import JSON_ACCEPT, Harness, serveIndex, sleep
from .test_chain import fileURL
from .test_e2e import BIN, TwistdProcess, run
from .test_upload import ALICE
from .uploadforms import clientBody
from .wheels import makeWheel


def bigIndex(count: int, size: int) -> FakeIndex:
    index = FakeIndex()
    for i in range(count):
        name, data = makeWheel("big", f"{i}.0", padding=size)
        index.add("big", Dist(name, data))
    return index


class EvictionTests(TestCase):
    """
    --max-cache-size in a running server.
    """

    @inlineCallbacks
    def test_evictsUpstreamNeverPrivate(self):  # type: ignore[no-untyped-def]
        """
        Over the limit, the least recently used upstream files go; private
        uploads and their metadata stay; evicted files are fetched again
        when asked for.
        """
        upstream = bigIndex(4, 200_000)
        harness = Harness(
            self, [serveIndex(self, upstream)], users={"alice": "wonder:land"},
            maxCacheSize=700_000,
        )
        filename, wheel = makeWheel("mine", "1.0", padding=300_000)
        contentType, body = clientBody("twine", "mine", "1.0", filename, wheel)
        response, text = yield harness.get(
            "/legacy/", {"Content-Type": contentType.decode(), "Authorization": ALICE},
            method="POST", body=body,
        )
        self.assertEqual(response.code, 200, text)
        _, page = yield harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        names = sorted(f["filename"] for f in json.loads(page)["files"])
        for name in names:
            yield harness.get(fileURL(page, name))
            yield sleep(0.01)
        result = yield harness.evictor.run()
        self.assertGreater(len(result.removed), 0)
        self.assertLessEqual(result.sizeAfter, 700_000)
        privateSha = hashlib.sha256(wheel).hexdigest()
        self.assertTrue(harness.store.exists(privateSha))
        self.assertTrue(harness.store.exists(privateSha + ".metadata"))
        # The most recently used upstream file stays; the oldest went.
        shas = {d.filename: d.sha256 for d in upstream.projects["big"]}
        self.assertTrue(harness.store.exists(shas[names[-1]]))
        self.assertFalse(harness.store.exists(shas[names[0]]))
        response, data = yield harness.get(fileURL(page, names[0]))
        self.assertEqual(hashlib.sha256(data).hexdigest(), shas[names[0]])
        _, metrics = yield harness.get("/-/metrics")
        self.assertIn(b"cheesecache_evictions_total", metrics)

    @inlineCallbacks
    def test_downloadInProgressSurvives(self):  # type: ignore[no-untyped-def]
        """
        An eviction pass during a download leaves it alone: the client gets
        the whole, verified file.
        """
        upstream = bigIndex(1, 300_000)
        harness = Harness(self, [serveIndex(self, upstream)], maxCacheSize=1)
        _, page = yield harness.get("/simple/big/", {"Accept": JSON_ACCEPT})
        dist = upstream.projects["big"][0]
        upstream.faults[b"/packages/" + dist.filename.encode()] = "slow"
        pending = harness.get(fileURL(page, dist.filename))
        while harness.fetcher.inProgress(dist.sha256) is None:
            yield sleep(0.01)
        yield harness.evictor.run()
        response, data = yield pending
        self.assertEqual(data, dist.data)


@inlineCallbacks
def bigFileURL(agent: Agent, simpleURL: str):  # type: ignore[no-untyped-def]
    """
    The URL of the first file on the project page of C{big} (see
    L{bigIndex}) that the server at C{simpleURL} lists.
    """
    response = yield agent.request(
        b"GET", (simpleURL + "big/").encode(),
        Headers({b"Accept": [JSON_ACCEPT.encode()]}),
    )
    page = json.loads((yield treq.content(response)))
    return urljoin(simpleURL + "big/", page["files"][0]["url"])


class ProcessTests(TestCase):
    """
    The twistd process.
    """

    timeout = 120

    @inlineCallbacks
    def test_jsonLogs(self):  # type: ignore[no-untyped-def]
        """
        --log-format json writes one JSON event a line, access log included.
        """
        upstream = bigIndex(1, 10)
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp(), "--log-format", "json")
        yield server.ready()
        yield treq.get(server.url + "big/", persistent=False)
        yield sleep(0.2)
        yield server.stop()
        lines = [l for l in server.log().splitlines() if l.strip()]
        events = [json.loads(l) for l in lines]
        self.assertTrue(any("GET /simple/big/" in json.dumps(e) for e in events), lines)
        self.assertTrue(all("log_namespace" in e for e in events))

    @inlineCallbacks
    def test_daemon(self):  # type: ignore[no-untyped-def]
        """
        twistd --pidfile --logfile daemonizes; SIGTERM stops it cleanly and
        removes the pid file.
        """
        from .test_e2e import freePort

        upstream = bigIndex(1, 10)
        work = FilePath(self.mktemp())
        work.makedirs()
        pidfile, logfile = work.child("cc.pid"), work.child("cc.log")
        port = freePort()
        code, output = yield run([
            os.path.join(BIN, "twistd"), "--pidfile", pidfile.path, "--logfile", logfile.path,
            "cheesecache", "--listen", f"tcp:{port}:interface=127.0.0.1",
            "--upstream", serveIndex(self, upstream), "--data-dir", work.child("data").path,
        ])
        self.assertEqual(code, 0, output)
        for _ in range(100):
            if os.path.exists(pidfile.path):  # FilePath caches its stat
                break
            yield sleep(0.05)
        pid = int(pidfile.getContent())
        response = yield treq.get(f"http://127.0.0.1:{port}/-/health", persistent=False)
        yield treq.content(response)
        self.assertEqual(response.code, 200)
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not os.path.exists(pidfile.path):
                break
            yield sleep(0.05)
        self.assertFalse(os.path.exists(pidfile.path))
        self.assertIn(b"Server Shut Down.", logfile.getContent())

    @inlineCallbacks
    def test_sigtermFinishesDownload(self):  # type: ignore[no-untyped-def]
        """
        SIGTERM during a download lets it finish: the client gets the whole
        file, the file is kept, and the process then exits.
        """
        upstream = bigIndex(1, 200_000)
        upstream.dribbleDelay = 0.2
        dist = upstream.projects["big"][0]
        upstream.faults[b"/packages/" + dist.filename.encode()] = "slow"
        dataDir = FilePath(self.mktemp())
        server = TwistdProcess(self, serveIndex(self, upstream), dataDir.path)
        yield server.ready()
        agent = Agent(reactor)
        url = yield bigFileURL(agent, server.url)
        pending = agent.request(b"GET", url.encode()).addCallback(treq.content)
        while not dataDir.child("tmp").exists() or not any(
            c.getsize() for c in dataDir.child("tmp").children()
        ):
            yield sleep(0.05)
        server.transport.signalProcess("TERM")
        body = yield pending
        self.assertEqual(hashlib.sha256(body).hexdigest(), dist.sha256)
        yield server.collector.ended
        self.assertEqual(dataDir.child("tmp").children(), [])
        sha = dist.sha256
        self.assertTrue(dataDir.child("blobs").child(sha[:2]).child(sha[2:4]).child(sha).exists())

    @inlineCallbacks
    def test_sigtermFinishesSlowClientsResponse(self):  # type: ignore[no-untyped-def]
        """
        SIGTERM while a client that reads slowly is sent a cached file lets
        that response finish: the client gets the whole file, then the
        process exits.
        """
        # More than the kernel's socket buffers hold between the two ends.
        upstream = bigIndex(1, 16_000_000)
        dist = upstream.projects["big"][0]
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield server.ready()
        agent = Agent(reactor)
        url = yield bigFileURL(agent, server.url)
        response = yield agent.request(b"GET", url.encode())
        self.assertEqual(len((yield treq.content(response))), len(dist.data))
        path = url[len(f"http://127.0.0.1:{server.port}"):]
        client = socket.socket()
        self.addCleanup(client.close)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(30)
        client.connect(("127.0.0.1", server.port))
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

        def receive() -> bytes:
            received = b""
            while b"\r\n\r\n" not in received:
                received += client.recv(4096)
            # The server is told to stop while the response is on its way.
            server.transport.signalProcess("TERM")
            time.sleep(1)
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    return received
                received += chunk

        received = yield threads.deferToThread(receive)
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head.split(b"\r\n")[0])
        self.assertEqual(len(body), len(dist.data))
        self.assertEqual(hashlib.sha256(body).hexdigest(), dist.sha256)
        yield server.collector.ended
