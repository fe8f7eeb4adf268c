#!/usr/bin/env python3
"""
Peak memory (RSS) of a cheesecache server through the index-page work of the
benchmark, without any throughput load (one request at a time, or a few).

    python3 bench/memory.py UPSTREAM_URL [--sets SETS_ENV] [--port 8797]
                            [--twistd TWISTD] [--data-dir DIR] [--interval 0.05]
                            [--tracemalloc FILE] [--keep]

Starts C{twistd -n cheesecache} on 127.0.0.1:PORT with an empty data dir and
C{UPSTREAM_URL} as its upstream (index TTL 3600 s: no revalidation during the
run), samples the server's VmRSS from /proc every C{--interval} seconds, and
does, through the server:

  1. cold then warm: every page of the work list as JSON, as HTML and as
     gzipped JSON, one request at a time (the first pass is cold for each
     page, the second and third warm);
  2. concurrent cold probes: 3 never-requested pages, each asked by 8
     clients at once (like the benchmark's coalescing phase, smaller);
  3. a last warm pass over every page in the three forms, 4 clients at a time.

The work list is, from C{SETS_ENV} (the bench kit's sets.env): WARM_SET,
SMALL_SET and INSTALL_CLOSURE; the COLD_* names are kept for step 2.  Without
C{--sets} every project of the upstream's root list is used (the last three
kept back for step 2).  Prints start / peak / end RSS (MB) and the RSS after
each step; C{--json} writes them as JSON too.

C{--tracemalloc FILE}: runs the server with tracemalloc on (25 frames) and a
helper that writes the top allocation sites to FILE whenever traced memory
reaches a new high (for finding what holds memory at the peak; slows the
server, so its RSS figures are not comparable).

Talks to 127.0.0.1 only (and to whatever UPSTREAM_URL is, through the server).
Standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html"
FORMS = (("json", JSON, False), ("html", HTML, False), ("json-gzip", JSON, True))

# Runs inside the server (sitecustomize) when --tracemalloc is given.
TRACER = r'''
import os, threading, time, tracemalloc
_out = os.environ["CC_TRACE_OUT"]
def _watch():
    best = 0
    while True:
        time.sleep(0.01)
        cur, _ = tracemalloc.get_traced_memory()
        if cur > best + 512 * 1024:
            best = cur
            snap = tracemalloc.take_snapshot()
            snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            lines = ["traced now %.1f MB (peak so far %.1f MB)\n" % (cur / 1e6, tracemalloc.get_traced_memory()[1] / 1e6)]
            for key in ("lineno", "traceback"):
                lines.append("== top by %s\n" % key)
                for stat in snap.statistics(key)[:25 if key == "lineno" else 8]:
                    lines.append("%8.1f KB %7d blocks  %s\n" % (stat.size / 1e3, stat.count, stat.traceback.format()[-1].strip() if key == "lineno" else ""))
                    if key == "traceback":
                        lines.extend("      %s\n" % l for l in stat.traceback.format(limit=12))
            with open(_out + ".tmp", "w") as f:
                f.writelines(lines)
            os.replace(_out + ".tmp", _out)
if tracemalloc.is_tracing():
    threading.Thread(target=_watch, daemon=True).start()
'''


def readSets(path: str) -> dict:
    sets = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^([A-Z_]+)=(?:"([^"]*)"|(\S*))', line)
            if m:
                sets[m.group(1)] = (m.group(2) if m.group(2) is not None else m.group(3)).split()
    return sets


def rssMB(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append((time.monotonic(), rssMB(self.pid)))
            time.sleep(self.interval)

    @property
    def peak(self) -> float:
        return max((r for _, r in self.samples), default=0.0)


def get(port: int, name: str, accept: str, gzip: bool) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Accept": accept}
    if gzip:
        headers["Accept-Encoding"] = "gzip"
    conn.request("GET", f"/simple/{name}/", headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, len(body)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("upstream")
    parser.add_argument("--sets", help="the bench kit's sets.env")
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--twistd", default=shutil.which("twistd") or "/tmp/dev/bin/twistd")
    parser.add_argument("--data-dir")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--tracemalloc", metavar="FILE")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--server-arg", action="append", default=[], help="extra cheesecache option")
    parser.add_argument("-v", "--verbose", action="store_true", help="RSS around each request of the cold pass")
    args = parser.parse_args()

    if args.sets:
        sets = readSets(args.sets)
        work = list(dict.fromkeys(sets.get("WARM_SET", []) + sets.get("SMALL_SET", []) + sets.get("INSTALL_CLOSURE", [])))
        cold = [sets[k][0] for k in ("COLD_JSON_MEDIUM", "COLD_JSON_LARGE", "COLD_HTML_MEDIUM") if sets.get(k)]
    else:
        req = urllib.request.Request(args.upstream, headers={"Accept": JSON})
        names = [p["name"] for p in json.load(urllib.request.urlopen(req, timeout=60))["projects"]]
        work, cold = names[:-3], names[-3:]
    cold = [c for c in cold if c not in work]

    tmp = tempfile.mkdtemp(prefix="cc-memory.")
    dataDir = args.data_dir or os.path.join(tmp, "data")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
    if args.tracemalloc:
        with open(os.path.join(tmp, "sitecustomize.py"), "w") as f:
            f.write(TRACER)
        env.update(PYTHONPATH=tmp + os.pathsep + env["PYTHONPATH"], PYTHONTRACEMALLOC="25",
                   CC_TRACE_OUT=os.path.abspath(args.tracemalloc))
    cmd = [args.twistd, "-n", "--pidfile=", "cheesecache",
           "--listen", f"tcp:{args.port}:interface=127.0.0.1", "--upstream", args.upstream,
           "--data-dir", dataDir, "--index-ttl", "3600", *args.server_arg]
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    steps: list = []
    try:
        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=2).request("GET", "/")
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("the server died at start: see " + log.name)
                time.sleep(0.1)
        time.sleep(1.0)
        sampler = Sampler(server.pid, args.interval)
        sampler.start()
        start = rssMB(server.pid)
        bad = []

        def check(name, form, result):
            if result[0] != 200:
                bad.append((name, form, result[0]))

        def step(label):
            steps.append((label, round(rssMB(server.pid), 1), round(sampler.peak, 1)))
            print(f"  {label:<40} rss {steps[-1][1]:6.1f} MB   peak so far {steps[-1][2]:6.1f} MB", flush=True)

        print(f"server pid {server.pid}: {shlex.join(cmd)}")
        print(f"work: {len(work)} pages x {len(FORMS)} forms; cold probes: {' '.join(cold)}")
        step("start")
        for rnd in ("cold", "warm", "warm"):
            for name in work:
                for form, accept, gz in FORMS:
                    t0 = time.monotonic()
                    result = get(args.port, name, accept, gz)
                    check(name, form, result)
                    if args.verbose and rnd == "cold":
                        during = max((r for t, r in sampler.samples if t >= t0), default=0.0)
                        print(f"    {name:<26} {form:<9} {result[1]:>9} B  {time.monotonic() - t0:6.3f} s"
                              f"  peak during {during:6.1f}  after {rssMB(server.pid):6.1f} MB")
            step(f"{rnd} pass (sequential)")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for name in cold:
                for result in pool.map(lambda _: get(args.port, name, JSON, False), range(8)):
                    check(name, "json", result)
            step("cold probes (8 at once)")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            jobs = [(n, f) for n in work + cold for f in FORMS]
            for (name, (form, accept, gz)), result in zip(jobs, pool.map(lambda j: get(args.port, j[0], j[1][1], j[1][2]), jobs)):
                check(name, form, result)
            step("warm pass (4 at once)")
        time.sleep(1.0)
        end = rssMB(server.pid)
        sampler.stopping.set()
        sampler.join()
        figures = {"start_MB": round(start, 1), "peak_MB": round(sampler.peak, 1), "end_MB": round(end, 1),
                   "samples": len(sampler.samples), "pages": len(work) + len(cold), "errors": len(bad),
                   "steps": steps}
        print(f"RESULT start_MB={figures['start_MB']} peak_MB={figures['peak_MB']} end_MB={figures['end_MB']}"
              f" samples={figures['samples']} errors={len(bad)}")
        if bad:
            print("non-200 answers:", bad[:10])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=1)
        return 1 if bad else 0
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp)


if __name__ == "__main__":
    sys.exit(main())
