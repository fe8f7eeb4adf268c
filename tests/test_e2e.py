"""
End-to-end: the real pip and uv install through a real
C{twistd -n cheesecache} process, in front of a local upstream index that
serves wheels built in the test.
"""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urljoin
import shutil
import signal
import socket
import sys
import time
from typing import Dict, List, Optional, Sequence

from twisted.internet import protocol, reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.trial.unittest import SkipTest, TestCase

from .fakeindex import Dist, FakeIndex
from .fakeindex import listen
from .harness import serveIndex, sleep, takeDown
from .wheels import makeWheel

BIN = os.path.dirname(sys.executable)


def freePort() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


class _Collect(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.output: List[bytes] = []
        self.ended: Deferred[int] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output.append(data)

    errReceived = outReceived

    def processEnded(self, reason) -> None:  # type: ignore[no-untyped-def]
        self.signal = reason.value.signal
        self.ended.callback(reason.value.exitCode)


def childEnvironment(env: Optional[Dict[str, Optional[str]]]) -> Dict[str, str]:
    """
    This process's environment with C{env} on top: its values set, or,
    where they are C{None}, unset.
    """
    environ = {**os.environ, **(env or {})}
    return {name: value for name, value in environ.items() if value is not None}


def run(  # type: ignore[no-untyped-def]
    argv: List[str],
    env: Optional[Dict[str, Optional[str]]] = None,
    timeout: float = 120,
    stdin: Optional[str] = None,
):
    """
    Run a command without blocking the reactor (the upstream lives in it);
    fires with C{(exitCode, output)}.
    """
    collector = _Collect()
    transport = reactor.spawnProcess(collector, argv[0], argv, env=childEnvironment(env))
    if stdin is not None:
        transport.write(stdin.encode())
    transport.closeStdin()
    timer = reactor.callLater(timeout, transport.signalProcess, "KILL")

    def done(code: int):  # type: ignore[no-untyped-def]
        if timer.active():
            timer.cancel()
        return code, b"".join(collector.output).decode("utf-8", "replace")

    return collector.ended.addCallback(done)


CLIENT_ENV = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "UV_NO_CONFIG": "1",
}


class TwistdProcess:
    """
    C{twistd -n cheesecache} in a subprocess.

    @param tls: C{(certificate, key)} paths to listen with TLS instead.
    @param env: variables to set (or, with C{None}, unset) for it.
    @param twistdOptions: twistd's own options (before C{cheesecache}).
    @param prefix: a command that runs twistd, its arguments appended (the
        process keeps its pid only if that command C{exec}s them).
    """

    def __init__(
        self,
        testCase: TestCase,
        upstream: str,
        dataDir: str,
        *extra: str,
        tls: Optional[tuple] = None,
        env: Optional[Dict[str, Optional[str]]] = None,
        twistdOptions: Sequence[str] = (),
        prefix: Sequence[str] = (),
    ) -> None:
        self.port = freePort()
        if tls is None:
            self.url = f"http://127.0.0.1:{self.port}/simple/"
            listen = f"tcp:{self.port}:interface=127.0.0.1"
        else:
            self.url = f"https://127.0.0.1:{self.port}/simple/"
            listen = (
                f"ssl:{self.port}:interface=127.0.0.1:certKey={tls[0]}:privateKey={tls[1]}"
            )
        self.collector = _Collect()
        argv = [
            *prefix,
            os.path.join(BIN, "twistd"), "-n", "--pidfile=", *twistdOptions, "cheesecache",
            "--listen", listen, "--upstream", upstream, "--data-dir", dataDir, *extra,
        ]
        self.transport = reactor.spawnProcess(
            self.collector, argv[0], argv, env=childEnvironment(env)
        )
        testCase.addCleanup(self.stop)

    @inlineCallbacks
    def ready(self):  # type: ignore[no-untyped-def]
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1) as s:
                    # twistd listens before its reactor runs and handles
                    # signals: only an answer (or, over TLS, the connection
                    # closed) says it is up.
                    s.sendall(b"GET /-/health HTTP/1.0\r\n\r\n")
                    s.recv(1)
                return
            except OSError:
                yield sleep(0.05)
        raise AssertionError("cheesecache did not start:\n" + self.log())

    def log(self) -> str:
        return b"".join(self.collector.output).decode("utf-8", "replace")

    @inlineCallbacks
    def untilLogged(self, text: str):  # type: ignore[no-untyped-def]
        """
        Wait up to 2 s for C{text} in the log, which twistd writes in
        batches; the caller asserts it is there.
        """
        for _ in range(40):
            if text in self.log():
                return
            yield sleep(0.05)

    def stop(self):  # type: ignore[no-untyped-def]
        if not self.collector.ended.called:
            self.transport.signalProcess("TERM")
        return self.collector.ended


@inlineCallbacks
def pipInstallsAlpha(  # type: ignore[no-untyped-def]
    case: TestCase, server: "TwistdProcess", *options: str, env=CLIENT_ENV
):
    """
    C{pip install alpha} from C{server} into a new target directory, which
    must succeed and hold C{alpha_mod}.

    @param options: more of pip's options.
    @return: a Deferred that fires with the target directory.
    """
    target = FilePath(case.mktemp())
    code, output = yield run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", *options,
         "--target", target.path, "--index-url", server.url, "alpha"],
        env,
    )
    case.assertEqual(code, 0, output + server.log())
    case.assertTrue(target.child("alpha_mod").isdir())
    return target


def upstreamWithWheels() -> FakeIndex:
    index = FakeIndex()
    for name, version, requires in [
        ("alpha", "1.0", ["beta>=2"]),
        ("beta", "2.0", []),
        ("beta", "1.0", []),
    ]:
        filename, data = makeWheel(name, version, requires)
        index.add(name, Dist(filename, data))
    return index


class InstallTests(TestCase):
    """
    pip and uv install through cheesecache.
    """

    timeout = 300

    @inlineCallbacks
    def test_pipAndUv(self):  # type: ignore[no-untyped-def]
        """
        pip installs a project and its dependency through cheesecache; uv
        does too; then, with the upstream failing, a fresh pip install still
        works from what is cached, without downloading any file again.
        """
        upstream = upstreamWithWheels()
        server = TwistdProcess(
            self, serveIndex(self, upstream), self.mktemp(), "--index-ttl", "0"
        )
        yield server.ready()

        target = yield pipInstallsAlpha(self, server)
        self.assertTrue(target.child("beta-2.0.dist-info").isdir())

        uv = shutil.which("uv", path=BIN) or shutil.which("uv")
        if uv is not None:
            target = self.mktemp()
            code, output = yield run(
                [uv, "pip", "install", "--no-cache", "--python", sys.executable,
                 "--target", target, "--index-url", server.url, "alpha"],
                CLIENT_ENV,
            )
            self.assertEqual(code, 0, output + server.log())
            self.assertTrue(FilePath(target).child("beta_mod").isdir())

        fileRequests = [p for _, p, _ in upstream.requests if p.startswith(b"/packages/")]
        upstream.down = True
        yield pipInstallsAlpha(self, server)
        self.assertEqual(
            [p for _, p, _ in upstream.requests if p.startswith(b"/packages/")],
            fileRequests,
        )
        self.assertIn("serving the copy fetched", server.log())

    @inlineCallbacks
    def test_pipOfflineFileNotCached(self):  # type: ignore[no-untyped-def]
        """
        Offline, pip asking for a file that was never cached is told so at
        once (a 504, with the reason), not after retrying as it does a 503.
        """
        upstream = upstreamWithWheels()
        url, dataDir = serveIndex(self, upstream), self.mktemp()
        online = TwistdProcess(self, url, dataDir)
        yield online.ready()
        d = Agent(reactor).request(b"GET", online.url.encode() + b"alpha/")
        response = yield d
        yield readBody(response)
        self.assertEqual(response.code, 200)
        yield online.stop()
        offline = TwistdProcess(self, url, dataDir, "--offline")
        yield offline.ready()
        code, output = yield run(
            [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-deps",
             "--target", self.mktemp(), "--index-url", offline.url, "alpha"],
            CLIENT_ENV,
        )
        self.assertNotEqual(code, 0)
        self.assertIn("alpha-1.0-py3-none-any.whl is not cached", output)
        yield offline.untilLogged("alpha-1.0-py3-none-any.whl")
        self.assertEqual(offline.log().count('alpha-1.0-py3-none-any.whl HTTP/1.1" 504'), 1)

    @inlineCallbacks
    def test_uvWithoutCoreMetadata(self):  # type: ignore[no-untyped-def]
        """
        uv installs a wheel whose page has no core-metadata (it reads the
        wheel's metadata with HEAD and Range requests).
        """
        uv = shutil.which("uv", path=BIN) or shutil.which("uv")
        if uv is None:
            raise SkipTest("uv is not installed in the test environment")
        upstream = upstreamWithWheels()
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield server.ready()
        target = self.mktemp()
        code, output = yield run(
            [uv, "pip", "install", "--no-cache", "--python", sys.executable,
             "--target", target, "--index-url", server.url, "alpha"],
            CLIENT_ENV,
        )
        self.assertEqual(code, 0, output + server.log())
        self.assertTrue(FilePath(target).child("alpha_mod").isdir())
        yield server.untilLogged('"HEAD /files/')
        self.assertIn('"HEAD /files/', server.log())

    @inlineCallbacks
    def test_stopsCleanlyOnSIGTERM(self):  # type: ignore[no-untyped-def]
        """
        twistd cheesecache shuts down cleanly on SIGTERM (twistd then ends
        itself with the same signal, to report why it stopped).
        """
        upstream = upstreamWithWheels()
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield server.ready()
        code = yield server.stop()
        self.assertIn((code, server.collector.signal), [(0, None), (None, signal.SIGTERM)])
        self.assertIn("Server Shut Down.", server.log())
        self.assertNotIn("Traceback", server.log())


class RetryAfterTests(TestCase):
    """
    An upstream that asks to be left alone, through to pip.
    """

    timeout = 300

    @inlineCallbacks
    def test_pipWaitsAndRetries(self):  # type: ignore[no-untyped-def]
        """
        The upstream answers the first request for a page with 429 and
        C{Retry-After: 1}; pip gets a 503 with the same C{Retry-After},
        asks again after it, and installs.
        """
        upstream = upstreamWithWheels()
        answered = upstream._respond
        asked: List[float] = []

        def busyOnce(request):  # type: ignore[no-untyped-def]
            if request.path == b"/simple/alpha/":
                asked.append(time.monotonic())
                if len(asked) == 1:
                    request.setResponseCode(429)
                    request.setHeader(b"Retry-After", b"1")
                    return b"slow down"
            return answered(request)

        upstream._respond = busyOnce  # type: ignore[method-assign]
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield server.ready()
        yield pipInstallsAlpha(self, server)
        self.assertEqual(len(asked), 2)
        # pip waited as told (without Retry-After it asks again at once).
        self.assertGreaterEqual(asked[1] - asked[0], 0.9)
        self.assertIn('"GET /simple/alpha/ HTTP/1.1" 503', server.log())


class SlowUpstreamTests(TestCase):
    """
    An upstream that stops answering (a network that drops packets),
    through to pip.
    """

    timeout = 300

    @inlineCallbacks
    def test_pipGetsCachedCopies(self):  # type: ignore[no-untyped-def]
        """
        With every page stale and the upstream holding every answer, pip,
        with a timeout shorter than cheesecache's own for the upstream,
        installs from what is cached: the first page is answered with its
        copy once the patience is out, the next at once.
        """
        upstream = upstreamWithWheels()
        server = TwistdProcess(
            self, serveIndex(self, upstream), self.mktemp(),
            "--index-ttl", "0", "--upstream-patience", "1",
        )
        yield server.ready()
        yield pipInstallsAlpha(self, server)
        upstream.hold()
        self.addCleanup(upstream.release)
        asked = len(upstream.requests)
        yield pipInstallsAlpha(self, server, "--timeout", "8", "--retries", "0")
        self.assertEqual(
            sorted(path for _, path, _ in upstream.requests[asked:]),
            [b"/simple/alpha/", b"/simple/beta/"],
        )
        yield server.untilLogged("is slow to answer for alpha")
        self.assertIn("is slow to answer for alpha; serving cached pages", server.log())

    @inlineCallbacks
    def test_upstreamTimeout(self):  # type: ignore[no-untyped-def]
        """
        A page with no cached copy, from an upstream holding every answer,
        fails with a 502 after C{--upstream-timeout}: here, long before the
        client's own 10 s (the default, 30 s, would outlast it).
        """
        upstream = upstreamWithWheels()
        server = TwistdProcess(
            self, serveIndex(self, upstream), self.mktemp(), "--upstream-timeout", "1",
        )
        yield server.ready()
        upstream.hold()
        self.addCleanup(upstream.release)
        # Asked without blocking: the upstream lives in this reactor.
        d = Agent(reactor).request(b"GET", server.url.encode() + b"alpha/")
        d.addTimeout(10, reactor)
        response = yield d
        body = yield readBody(response)
        self.assertEqual(response.code, 502)
        self.assertIn(b"alpha", body)
        self.assertEqual([path for _, path, _ in upstream.requests], [b"/simple/alpha/"])


class LogRotationTests(TestCase):
    """
    The log file rotates as twistd's own does.
    """

    timeout = 120

    @inlineCallbacks
    def test_sigusr1(self):  # type: ignore[no-untyped-def]
        """
        On SIGUSR1 (what log rotation set up for twistd sends) the server
        goes on; its log file is rotated to C{.1} and it logs to a new one.
        """
        logs = FilePath(self.mktemp())
        logs.makedirs()
        logfile = logs.child("cheesecache.log")
        server = TwistdProcess(
            self, serveIndex(self, upstreamWithWheels()), self.mktemp(),
            twistdOptions=["--logfile", logfile.path],
        )
        yield server.ready()
        server.transport.signalProcess(signal.SIGUSR1)
        rotated = logs.child("cheesecache.log.1")
        for _ in range(100):
            if rotated.exists():
                break
            yield sleep(0.05)
        self.assertTrue(rotated.exists(), logs.listdir())
        self.assertIn(b"GuardedSite starting on", rotated.getContent())
        # Asked without blocking: the upstream lives in this reactor.
        response = yield Agent(reactor).request(b"GET", server.url.encode() + b"alpha/")
        yield readBody(response)
        self.assertEqual(response.code, 200)
        for _ in range(100):
            if logfile.exists() and b"/simple/alpha/" in logfile.getContent():
                break
            yield sleep(0.05)
        self.assertFalse(server.collector.ended.called, server.log())
        self.assertIn(b'"GET /simple/alpha/ HTTP/1.1" 200', logfile.getContent())
        self.assertNotIn(b"/simple/alpha/", rotated.getContent())


class CrashTests(TestCase):
    """
    What a killed process leaves behind.
    """

    timeout = 120

    @inlineCallbacks
    def test_sigkillMidDownload(self):  # type: ignore[no-untyped-def]
        """
        After SIGKILL in the middle of a download, the partial file is never
        visible as a blob; the restarted server removes it, and the file is
        then fetched whole.
        """
        upstream = FakeIndex(dribbleDelay=0.5)
        filename, data = makeWheel("alpha", "1.0", padding=200_000)
        upstream.add("alpha", Dist(filename, data))
        upstream.faults[b"/packages/" + filename.encode()] = "slow"
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        server = TwistdProcess(self, url, dataDir.path)
        yield server.ready()
        agent = Agent(reactor)
        response = yield agent.request(
            b"GET", server.url.encode() + b"alpha/",
            Headers({b"Accept": [b"application/vnd.pypi.simple.v1+json"]}),
        )
        import json

        import treq

        page = json.loads((yield treq.content(response)))
        fileURL = urljoin(server.url + "alpha/", page["files"][0]["url"])
        pending = agent.request(b"GET", fileURL.encode()).addCallback(
            treq.content
        ).addErrback(lambda f: f.value)
        tmp = dataDir.child("tmp")
        for _ in range(100):
            if tmp.exists() and any(c.getsize() > 0 for c in tmp.children()):
                break
            yield sleep(0.05)
        server.transport.signalProcess("KILL")
        yield server.collector.ended
        yield pending
        self.assertTrue(tmp.children(), "no partial file was left to clean")
        sha = hashlib.sha256(data).hexdigest()
        blob = dataDir.child("blobs").child(sha[:2]).child(sha[2:4]).child(sha)
        self.assertFalse(blob.exists())

        upstream.dribbleDelay = 0.01
        restarted = TwistdProcess(self, url, dataDir.path)
        yield restarted.ready()
        self.assertEqual(tmp.children(), [])
        response = yield agent.request(
            b"GET", fileURL.replace(str(server.port), str(restarted.port)).encode()
        )
        body = yield treq.content(response)
        self.assertEqual(hashlib.sha256(body).hexdigest(), sha)
        # Kept a moment after its last byte went out.
        for _ in range(100):
            if blob.exists():
                break
            yield sleep(0.05)
        self.assertTrue(blob.exists())


class ChainInstallTests(TestCase):
    """
    pip through two tiers of twistd cheesecache.
    """

    timeout = 300

    @inlineCallbacks
    def test_laptopCompanyUpstream(self):  # type: ignore[no-untyped-def]
        """
        pip installs through laptop -> company -> local upstream; then the
        upstream stops, and pip in a fresh venv still installs everything
        through the chain.
        """
        upstream = upstreamWithWheels()
        port, base = listen(upstream)
        self.addCleanup(port.stopListening)
        company = TwistdProcess(self, base + "/simple/", self.mktemp(), "--index-ttl", "0")
        yield company.ready()
        laptop = TwistdProcess(self, company.url, self.mktemp(), "--index-ttl", "0")
        yield laptop.ready()
        target = self.mktemp()
        code, output = yield run(
            [sys.executable, "-m", "pip", "install", "--no-cache-dir",
             "--target", target, "--index-url", laptop.url, "alpha"],
            CLIENT_ENV,
        )
        self.assertEqual(code, 0, output + laptop.log() + company.log())

        upstream.down = True
        yield takeDown(self, port)
        venv = self.mktemp()
        code, output = yield run([sys.executable, "-m", "venv", venv])
        self.assertEqual(code, 0, output)
        code, output = yield run(
            [os.path.join(venv, "bin", "python"), "-m", "pip", "install",
             "--no-cache-dir", "--index-url", laptop.url, "alpha"],
            CLIENT_ENV,
        )
        self.assertEqual(code, 0, output + laptop.log() + company.log())
        code, output = yield run(
            [os.path.join(venv, "bin", "python"), "-c",
             "import alpha_mod, beta_mod; print(alpha_mod.VERSION, beta_mod.VERSION)"]
        )
        self.assertEqual((code, output.strip()), (0, "1.0 2.0"))

    @inlineCallbacks
    def test_stallAboveBothTiers(self):  # type: ignore[no-untyped-def]
        """
        The upstream stalls a wheel halfway, once.  The company tier waits
        out its 10 s stall deadline and asks the upstream for the rest; the
        laptop, which got as far as the company did, gets the rest too
        (from the same response, or by resuming from the company, which
        streams it from that byte as it comes).  pip, whose own timeout
        (15 s) is longer, installs the verified wheel, and both tiers keep
        it.
        """
        upstream = upstreamWithWheels()
        [alpha] = upstream.projects["alpha"]
        wheelPath = b"/packages/" + alpha.filename.encode()
        company = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield company.ready()
        laptop = TwistdProcess(self, company.url, self.mktemp())
        yield laptop.ready()
        upstream.faults[wheelPath] = "stall-once"
        started = time.monotonic()
        yield pipInstallsAlpha(self, laptop)
        self.assertGreater(time.monotonic() - started, 9)
        asked = [headers for _, path, headers in upstream.requests if path == wheelPath]
        self.assertEqual(len(asked), 2, company.log())
        self.assertNotIn(b"range", asked[0])
        self.assertRegex(asked[1][b"range"].decode(), r"\Abytes=[1-9][0-9]*-\Z")
        cached = f"Cached {alpha.filename} ({len(alpha.data)} bytes)"
        for tier in (company, laptop):
            yield tier.untilLogged(cached)
            self.assertIn(cached, tier.log())
            self.assertNotIn("Traceback", tier.log())
        self.assertIn(f"Download of {alpha.filename} broke after", company.log())
