"""
What answering one warm page request costs cheesecache's CPU: the whole
service as twistd builds it (offline, over a data directory holding one
cached page), requests pushed through its HTTP channel one after the other
on one kept-alive connection, and microseconds per request printed.

No sockets and no load generator: it measures the Python work per request
(parsing, resource lookup, headers, the access log), so that two versions
can be compared on a busy machine; the kernel's share (the send and
receive calls) is left out.  To compare a commit with the working tree::

    git archive COMMIT | tar -x -C /tmp/before
    for i in 1 2 3; do
        PYTHONPATH=/tmp/before python bench/request_cost.py
        PYTHONPATH=. python bench/request_cost.py
    done

    python bench/request_cost.py [--requests N] [--rounds R] [--gzip] [--size BYTES]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from typing import Any, List

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.python.filepath import FilePath

from cheesecache.freshness import Validators
from cheesecache.pagestore import PageStore
from cheesecache.tap import Options, makeService

UPSTREAM = "http://127.0.0.1:9/simple/"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def pageOf(size: int) -> bytes:
    """
    A project page of about C{size} bytes of JSON.
    """
    files: List[Any] = []
    page = {"meta": {"api-version": "1.1"}, "name": "tiny", "files": files}
    while len(json.dumps(page)) < size:
        i = len(files)
        files.append({
            "filename": f"tiny-1.{i}.tar.gz",
            "url": f"../../packages/tiny-1.{i}.tar.gz",
            "hashes": {"sha256": hashlib.sha256(b"%d" % i).hexdigest()},
            "size": 1000 + i,
        })
    return json.dumps(page).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--size", type=int, default=15_000)
    args = parser.parse_args()

    dataDir = FilePath(tempfile.mkdtemp(prefix="request-cost-"))
    options = Options()
    options.parseOptions(
        ["--data-dir", dataDir.path, "--offline", "--upstream", UPSTREAM, "--index-ttl", "3600"]
    )
    from twisted.internet import reactor

    service = makeService(options, reactor)
    site = next(child for child in service if hasattr(child, "factory")).factory
    # The folder cheesecache names after the upstream's URL.
    sourceID = hashlib.sha256(UPSTREAM.encode("utf-8")).hexdigest()[:16]
    PageStore(dataDir.child("pages")).keepFetched(
        sourceID, "tiny", UPSTREAM + "tiny/", Validators(), reactor.seconds(), JSON_TYPE,
        pageOf(args.size),
    ).commit()

    request = (
        b"GET /simple/tiny/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\n"
        b"Accept: " + JSON_TYPE.encode() + b"\r\n"
        + (b"Accept-Encoding: gzip, deflate\r\n" if args.gzip else b"")
        + b"\r\n"
    )
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    channel.makeConnection(transport)
    channel.dataReceived(request)
    first = transport.value()
    if not first.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"the page was not served: {first[:200]!r}")
    perRequest = []
    for _ in range(args.rounds):
        transport.clear()
        start = time.perf_counter()
        for _ in range(args.requests):
            channel.dataReceived(request)
            transport.clear()
        perRequest.append((time.perf_counter() - start) / args.requests * 1e6)
    print(
        f"{statistics.median(perRequest):.1f} us per request"
        f" (rounds: {', '.join(f'{t:.1f}' for t in perRequest)};"
        f" response {len(first)} bytes{', gzip' if args.gzip else ''})"
    )


if __name__ == "__main__":
    main()
