"""
How long other clients wait while cheesecache works on big pages: a probe
asks for a small warm page every 2 ms (its own process, one persistent
connection) while the server fetches big pages cold (parsing and
rendering them in steps) and then makes their HTML from the stored pages.
The reference, measured in the same run, is the probe's wait with the
server idle.

Each tree given with C{--code} (a folder holding C{cheesecache} and
C{twisted/plugins}, e.g. one made with C{git archive COMMIT | tar -x -C
DIR}) is run in turn, alternating, each on a fresh server and cache; the
first tree is the reference for the ratios::

    python bench/fairness.py UPSTREAM_SIMPLE_URL [--code DIR ...]
        [--small NAME] [--rounds N] [big project ...]

(UPSTREAM_SIMPLE_URL is an upstream on loopback, such as the bench kit's
fixture or C{bench/metadata_upstream.py}'s; the default big projects are
the biggest pages C{uv pip install requests twisted treq} reads.)  Writes
a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

BIG = ["cryptography", "charset-normalizer", "zope-interface", "cffi"]
JSON = "application/vnd.pypi.simple.v1+json"
HERE = Path(__file__).resolve().parent


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(conn: http.client.HTTPConnection, path: str, accept: str) -> bytes:
    conn.request("GET", path, headers={"Accept": accept})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return body


def probe(port: int, path: str, seconds: float) -> None:
    """
    The probe's process: ask for C{path} every 2 ms for C{seconds}, then
    print each wait in milliseconds.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port)
    waits = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        get(conn, path, JSON)
        waits.append((time.perf_counter() - start) * 1e3)
        time.sleep(0.002)
    print(" ".join(f"{w:.3f}" for w in waits))


class Server:
    """
    A fresh cheesecache from C{code}, run with twistd, with its own cache.
    """

    def __init__(self, code: str, upstream: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="cc-fairness-")
        self.port = freePort()
        env = dict(os.environ, PYTHONPATH=code)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
             "--nodaemon", "--pidfile=", "--logfile", os.path.join(self.folder, "log"), "cheesecache",
             "--listen", f"tcp:{self.port}:interface=127.0.0.1",
             "--upstream", upstream, "--data-dir", os.path.join(self.folder, "cache")],
            # Not from here: C{-c} puts the working folder first on the path.
            env=env, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                get(http.client.HTTPConnection("127.0.0.1", self.port), "/-/health", "*/*")
                return
            except (OSError, RuntimeError, http.client.HTTPException):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"cheesecache from {code} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def probed(port: int, small: str, seconds: float, work) -> Tuple[List[float], float]:  # type: ignore[no-untyped-def]
    """
    The probe's waits while C{work()} runs (C{None}: idle), and how long
    the work took in milliseconds.
    """
    prober = subprocess.Popen(
        [sys.executable, __file__, "--probe", str(port), f"/simple/{small}/", str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    time.sleep(0.2)
    start = time.perf_counter()
    if work is not None:
        work()
    took = (time.perf_counter() - start) * 1e3
    out, _ = prober.communicate()
    return [float(w) for w in out.split()], took


def oneRound(code: str, upstream: str, small: str, big: List[str]) -> Dict[str, Tuple[List[float], float]]:
    server = Server(code, upstream)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        get(conn, f"/simple/{small}/", JSON)
        phases = {"idle": probed(server.port, small, 0.6, None)}

        def cold() -> None:
            for name in big:
                get(conn, f"/simple/{name}/", JSON)

        phases["big pages fetched cold (JSON)"] = probed(server.port, small, 1.0, cold)
        # Past the gzip twins' delay, so that they are made before the HTML.
        time.sleep(4)

        def html() -> None:
            for name in big:
                get(conn, f"/simple/{name}/", "text/html")

        phases["their HTML, first asked for"] = probed(server.port, small, 1.0, html)
        return phases
    finally:
        server.stop()


def main(argv: List[str]) -> None:
    if argv[:1] == ["--probe"]:
        probe(int(argv[1]), argv[2], float(argv[3]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("big", nargs="*", default=BIG)
    parser.add_argument("--code", action="append", default=[])
    parser.add_argument("--small", default="six")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    codes = args.code or [str(HERE.parent)]
    results: Dict[str, Dict[str, Tuple[List[float], List[float]]]] = {}
    for _ in range(args.rounds):
        for code in codes:
            for phase, (waits, took) in oneRound(code, args.upstream, args.small, args.big).items():
                kept = results.setdefault(code, {}).setdefault(phase, ([], []))
                kept[0].extend(waits)
                kept[1].append(took)
    print(f"Probe: `GET /simple/{args.small}/` (warm, JSON) every 2 ms; big pages: "
          f"{', '.join(args.big)}; {args.rounds} rounds, each tree on a fresh server.\n")
    print("| tree | phase | probe requests | median ms | p99 ms | worst ms | worst / idle median | work ms (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for code in codes:
        idle = statistics.median(results[code]["idle"][0])
        for phase, (waits, took) in results[code].items():
            waits = sorted(waits)
            p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
            work = f"{statistics.median(took):.1f}" if phase != "idle" else "-"
            print(f"| {code} | {phase} | {len(waits)} | {statistics.median(waits):.2f} | "
                  f"{p99:.1f} | {waits[-1]:.1f} | {waits[-1] / idle:.0f}x | {work} |")


if __name__ == "__main__":
    main(sys.argv[1:])
