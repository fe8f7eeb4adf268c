"""
What writing one access-log line costs: calls the Site's log path for a
finished request N times, with cheesecache's log observer installed as
twistd installs it, and prints microseconds per call.

No load generator and no sockets: it measures CPU per line, so that two
versions can be compared on a busy machine.  To compare a commit with the
working tree, export the commit and run both, alternating:

    git archive COMMIT | tar -x -C /tmp/before
    for i in 1 2 3; do
        PYTHONPATH=/tmp/before python bench/accesslog_cost.py
        PYTHONPATH=. python bench/accesslog_cost.py
    done

For instruction counts instead of times (steadier when the machine is
shared), run it under C{valgrind --tool=callgrind} with two values of
C{--calls} and divide the difference of the totals by the difference of
the calls.

    python bench/accesslog_cost.py [--calls N] [--rounds R] [--json]
        [--user-agent pip|curl] [--detached]
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time
from typing import Any, List

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, globalLogBeginner
from twisted.web.resource import Resource

import cheesecache
from cheesecache.logs import FLUSH_INTERVAL, BufferedLogObserver
from cheesecache.web.site import makeSite

USER_AGENTS = {
    # pip's: JSON, so quotes to escape.
    "pip": 'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"bookworm","libc":'
    '{"lib":"glibc","version":"2.36"},"name":"Debian GNU/Linux","version":"12"},'
    '"implementation":{"name":"CPython","version":"3.11.7"},"installer":{"name":"pip",'
    '"version":"24.0"},"python":"3.11.7","system":{"name":"Linux","release":"6.1.0"}}',
    "curl": "curl/7.88.1",
}


class Page(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return b'{"meta":{"api-version":"1.1"},"name":"tiny","files":[]}'


def finishedRequest(site: Any, userAgent: str) -> Any:
    """
    A request that went through the Site's channel and was answered.
    """
    finished: List[Any] = []
    site.requestObservers.append(finished.append)
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 3141))
    channel.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000)))
    channel.dataReceived(
        b"GET /simple/tiny/ HTTP/1.1\r\nHost: localhost:3141\r\n"
        b"Accept: application/vnd.pypi.simple.v1+json\r\n"
        b"User-Agent: " + userAgent.encode() + b"\r\n\r\n"
    )
    site.requestObservers.remove(finished.append)
    [request] = finished
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="--log-format json")
    parser.add_argument("--user-agent", choices=sorted(USER_AGENTS), default="pip")
    parser.add_argument(
        "--detached", action="store_true",
        help="the observer is not the installed one (lines go through twisted.logger)",
    )
    args = parser.parse_args()

    clock = Clock()
    out = open(os.devnull, "w")
    observer = BufferedLogObserver(out, clock.callLater, json=args.json)
    if not args.detached:
        # As twistd does with the application's ILogObserver.
        globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
        Logger().info("twistd would have said it is starting up")
    else:
        globalLogBeginner.beginLoggingTo([lambda event: None], redirectStandardIO=False)
    kwargs = {}
    if "logObserver" in inspect.signature(makeSite).parameters:
        kwargs["logObserver"] = observer
    site = makeSite(Page(), **kwargs)
    site.doStart()
    request = finishedRequest(site, USER_AGENTS[args.user_agent])
    clock.advance(FLUSH_INTERVAL)

    perCall = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for i in range(args.calls):
            site.log(request)
            if i % 256 == 255:
                clock.advance(FLUSH_INTERVAL)
        clock.advance(FLUSH_INTERVAL)
        perCall.append((time.perf_counter() - start) / args.calls * 1e6)
    print(
        f"{os.path.dirname(os.path.dirname(cheesecache.__file__))}"
        f" json={args.json} ua={args.user_agent} detached={args.detached}:"
        f" min {min(perCall):.2f} us, median {statistics.median(perCall):.2f} us per line"
    )


if __name__ == "__main__":
    main()
