"""
How cheesecache's page times grow with the size of what it serves: a root
list of up to 700,000 project names and a project page of up to 10,000
files, from a generated upstream on loopback.

For each size: the first (cold) request, which fetches, parses, stores and
renders; then the median of 20 warm requests, served from what was
rendered.  Usage: python bench/scale.py [--quick]; writes a Markdown table
to stdout.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import tempfile
import time

import treq
from twisted.internet import task
from twisted.internet.defer import inlineCallbacks
from twisted.web import server
from twisted.web.resource import Resource
from twisted.web.client import Agent, HTTPConnectionPool

from cheesecache.tap import Options, makeService

JSON = "application/vnd.pypi.simple.v1+json"


class Generated(Resource):
    """
    An upstream whose root lists C{names} projects and whose project
    C{big} lists C{files} files.  The root list is compact JSON, as the
    public index writes it; C{spaced} writes it with spaces after the
    separators instead (Python's default), which cheesecache reads with its
    general, slower parser.
    """

    isLeaf = True

    def __init__(self, names: int, files: int, spaced: bool = False) -> None:
        Resource.__init__(self)
        self.root = json.dumps(
            {"meta": {"api-version": "1.1"},
             "projects": [{"name": f"project-{i}"} for i in range(names)]},
            separators=(", ", ": ") if spaced else (",", ":"),
        ).encode()
        sha = hashlib.sha256(b"x").hexdigest()
        self.page = json.dumps(
            {"meta": {"api-version": "1.1"}, "name": "big", "files": [
                {"filename": f"big-1.{i}.tar.gz", "url": f"../../packages/big-1.{i}.tar.gz",
                 "hashes": {"sha256": sha}, "size": 1, "upload-time": "2026-01-01T00:00:00Z"}
                for i in range(files)]}
        ).encode()

    def render_GET(self, request):  # type: ignore[no-untyped-def]
        request.setHeader(b"Content-Type", JSON.encode())
        return self.root if request.path == b"/simple/" else self.page


@inlineCallbacks
def measure(reactor, names: int, files: int, spaced: bool = False):  # type: ignore[no-untyped-def]
    upstream = reactor.listenTCP(
        0, server.Site(Generated(names, files, spaced)), interface="127.0.0.1"
    )
    options = Options()
    options.parseOptions([
        "--listen", "tcp:0:interface=127.0.0.1", "--data-dir", tempfile.mkdtemp(),
        "--upstream", f"http://127.0.0.1:{upstream.getHost().port}/simple/",
    ])
    service = makeService(options, reactor)
    service.startService()
    yield task.deferLater(reactor, 0.2, lambda: None)
    port = list(service)[0]._waitingForPort.result.getHost().port
    pool = HTTPConnectionPool(reactor, persistent=True)
    client = treq.client.HTTPClient(Agent(reactor, pool=pool))
    rows = []
    for path in ("/simple/", "/simple/big/")[: 1 if spaced else 2]:
        url = f"http://127.0.0.1:{port}{path}"
        times = []
        for i in range(21):
            started = time.perf_counter()
            response = yield client.get(url, headers={"Accept": JSON})
            body = yield treq.content(response)
            times.append(time.perf_counter() - started)
        rows.append((path, len(body), times[0], statistics.median(times[1:])))
    yield pool.closeCachedConnections()
    yield service.stopService()
    yield upstream.stopListening()
    return rows


@inlineCallbacks
def main(reactor, *args):  # type: ignore[no-untyped-def]
    sizes = [(10_000, 1_000), (100_000, 5_000), (700_000, 10_000)]
    if "--quick" in args:
        sizes = sizes[:1]
    out = ["| names in root list | files on page | page | bytes | cold (s) | warm median (ms) |",
           "|---|---|---|---|---|---|"]
    for names, files in sizes:
        rows = yield measure(reactor, names, files)
        for path, size, cold, warm in rows:
            out.append(f"| {names:,} | {files:,} | `{path}` | {size:,} | {cold:.2f} | {warm * 1000:.1f} |")
    names = sizes[-1][0]
    rows = yield measure(reactor, names, 1, spaced=True)
    for path, size, cold, warm in rows:
        out.append(
            f"| {names:,} (spaced JSON) | | `{path}` | {size:,} | {cold:.2f} | {warm * 1000:.1f} |"
        )
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
