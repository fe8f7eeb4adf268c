#!/usr/bin/env python3
"""
Peak memory (RSS) of a cheesecache server through the index-page work of the
benchmark, without any throughput load (one request at a time, or a few).

    python3 bench/memory.py UPSTREAM_URL [--sets SETS_ENV] [--port 8797]
                            [--twistd TWISTD] [--repo CHECKOUT] [--data-dir DIR]
                            [--interval 0.05] [--json FILE] [-v]
                            [--tracemalloc FILE] [--keep]

e.g. (the bench kit's fixture upstream and sets):

    python3 bench/memory.py http://127.0.0.1:8700/simple/ --sets /tmp/bench/sets.env

Starts C{twistd -n cheesecache} on 127.0.0.1:PORT with an empty data dir and
C{UPSTREAM_URL} as its upstream (index TTL 3600 s: no revalidation during the
run), samples the server's VmRSS from /proc every C{--interval} seconds, and
does, through the server:

  1. concurrent cold probes: the COLD_* pages, each asked by 8 clients at
     once (like the benchmark's coalescing phase, smaller);
  2. BIG_PROJECT's and INSTALL_CLOSURE's pages as JSON (what the big-file
     and uv phases ask), twice;
  3. three rounds (the first cold, the others warm) of, one request at a
     time and in the bench's order: WARM_SET as JSON, WARM_SET as HTML,
     SMALL_SET as JSON, WARM_SET as gzipped JSON;
  4. every page in all three forms, 4 clients at a time.

The sets come from C{SETS_ENV} (the bench kit's sets.env).  Without
C{--sets}, the last three projects of the upstream's root list are the cold
probes and the others the warm set.  Prints start / peak / end RSS (MB) and
the RSS after each step; C{--json} writes them as JSON too; C{-v} shows the
RSS around each request of the first round.

The server runs the cheesecache of C{--repo} (default: the checkout holding
this script; it is put first on PYTHONPATH), so an older commit can be
measured with the same work: C{mkdir /tmp/old && git archive <commit> |
tar -x -C /tmp/old}, then C{--repo /tmp/old}.  C{--twistd} is a twistd of an environment with
cheesecache's dependencies (default: C{twistd} on PATH).

C{--tracemalloc FILE}: runs the server with tracemalloc on (12 frames) and a
helper that keeps a snapshot whenever traced memory reaches a new high and
writes the top allocation sites of the highest to FILE at the end (for
finding what holds memory at the peak; it slows the server and adds its own
memory, so its RSS figures are not comparable).

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
_best = [0, None]
def _watch():
    while True:
        time.sleep(0.01)
        if os.path.exists(_out + ".go"):
            os.unlink(_out + ".go")
            _dump()
        cur, _ = tracemalloc.get_traced_memory()
        if cur > _best[0] + 256 * 1024:
            _best[:] = [cur, None]
            _best[1] = tracemalloc.take_snapshot()
def _dump():
    cur, snap = _best
    if snap is None:
        return
    snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    with open(_out + ".tmp", "w") as f:
        f.write("traced memory at its highest: %.1f MB\n" % (cur / 1e6))
        for key, n in (("filename", 15), ("lineno", 30), ("traceback", 12)):
            f.write("== top by %s\n" % key)
            for stat in snap.statistics(key)[:n]:
                f.write("%9.1f KB %8d blocks  %s\n" % (stat.size / 1e3, stat.count,
                        stat.traceback.format()[-1].strip() if key != "traceback" else ""))
                if key == "traceback":
                    f.writelines("      %s\n" % l for l in stat.traceback.format(limit=12))
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
    parser.add_argument("--twistd", default=shutil.which("twistd") or "twistd")
    parser.add_argument("--repo", default=repo, help="the cheesecache checkout to run")
    parser.add_argument("--data-dir")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--tracemalloc", metavar="FILE")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--server-arg", action="append", default=[], help="extra cheesecache option")
    parser.add_argument("-v", "--verbose", action="store_true", help="RSS around each request of round 1")
    args = parser.parse_args()

    if args.sets:
        sets = readSets(args.sets)
        cold = [sets[k][0] for k in ("COLD_JSON_MEDIUM", "COLD_JSON_LARGE", "COLD_HTML_MEDIUM") if sets.get(k)]
        install = sets.get("BIG_PROJECT", []) + sets.get("INSTALL_CLOSURE", [])
        warm, small = sets.get("WARM_SET", []), sets.get("SMALL_SET", [])
    else:
        req = urllib.request.Request(args.upstream, headers={"Accept": JSON})
        names = [p["name"] for p in json.load(urllib.request.urlopen(req, timeout=60))["projects"]]
        cold, install, warm, small = names[-3:], [], names[:-3], []
    coldForms = [FORMS[1] if i == 2 else FORMS[0] for i in range(len(cold))]
    every = list(dict.fromkeys(cold + install + warm + small))

    tmp = tempfile.mkdtemp(prefix="cc-memory.")
    dataDir = args.data_dir or os.path.join(tmp, "data")
    repo = os.path.abspath(args.repo)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
    if args.tracemalloc:
        with open(os.path.join(tmp, "sitecustomize.py"), "w") as f:
            f.write(TRACER)
        env.update(PYTHONPATH=tmp + os.pathsep + env["PYTHONPATH"], PYTHONTRACEMALLOC="12",
                   CC_TRACE_OUT=os.path.abspath(args.tracemalloc))
    cmd = [args.twistd, "-n", "--pidfile=", "cheesecache",
           "--listen", f"tcp:{args.port}:interface=127.0.0.1", "--upstream", args.upstream,
           "--data-dir", dataDir, "--index-ttl", "3600", *args.server_arg]
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    steps: list = []
    try:
        for _ in range(1200):
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=2).request("GET", "/")
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("the server died at start: see " + log.name)
                time.sleep(0.1)
        time.sleep(1.0)
        start = rssMB(server.pid)
        sampler = Sampler(server.pid, args.interval)
        sampler.start()
        bad = []

        def check(name, form, result):
            if result[0] != 200:
                bad.append((name, form, result[0]))

        def step(label):
            now = rssMB(server.pid)
            steps.append((label, round(now, 1), round(max(sampler.peak, start, now), 1)))
            print(f"  {label:<40} rss {steps[-1][1]:6.1f} MB   peak so far {steps[-1][2]:6.1f} MB", flush=True)

        print(f"server pid {server.pid}: PYTHONPATH={env['PYTHONPATH']} {shlex.join(cmd)}")
        print(f"pages: {len(every)} ({len(cold)} cold probes, {len(install)} install, {len(warm)} warm set,"
              f" {len(small)} small set)")
        step("start")

        def sequential(names, form, accept, gz, verbose=False):
            for name in names:
                t0 = time.monotonic()
                result = get(args.port, name, accept, gz)
                check(name, form, result)
                if verbose:
                    during = max((r for t, r in sampler.samples if t >= t0), default=0.0)
                    print(f"    {name:<26} {form:<9} {result[1]:>9} B  {time.monotonic() - t0:6.3f} s"
                          f"  peak during {during:6.1f}  after {rssMB(server.pid):6.1f} MB")

        # like the bench: concurrent cold probes, the install closure's pages, then the
        # warm set (JSON, then HTML), the small set and the warm set gzipped, 3 rounds
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for name, (form, accept, gz) in zip(cold, coldForms):
                for result in pool.map(lambda _: get(args.port, name, accept, gz), range(8)):
                    check(name, form, result)
        step("cold probes (8 at once)")
        for rnd in (1, 2):
            sequential(install, *FORMS[0], verbose=args.verbose and rnd == 1)
            step(f"install pages json, round {rnd}")
        for rnd in (1, 2, 3):
            verbose = args.verbose and rnd == 1
            sequential(warm, *FORMS[0], verbose=verbose)
            step(f"warm set json, round {rnd}")
            sequential(warm, *FORMS[1], verbose=verbose)
            step(f"warm set html, round {rnd}")
            sequential(small, *FORMS[0], verbose=verbose)
            step(f"small set json, round {rnd}")
            sequential(warm, *FORMS[2], verbose=verbose)
            step(f"warm set json-gzip, round {rnd}")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            jobs = [(n, f) for n in every for f in FORMS]
            for (name, (form, accept, gz)), result in zip(jobs, pool.map(lambda j: get(args.port, j[0], j[1][1], j[1][2]), jobs)):
                check(name, form, result)
            step("every page, every form (4 at once)")
        time.sleep(1.0)
        end = rssMB(server.pid)
        sampler.stopping.set()
        sampler.join()
        peak = max(sampler.peak, start, end)
        figures = {"start_MB": round(start, 1), "peak_MB": round(peak, 1), "end_MB": round(end, 1),
                   "samples": len(sampler.samples), "pages": len(every), "errors": len(bad),
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
        if args.tracemalloc:
            out = os.path.abspath(args.tracemalloc)
            if os.path.exists(out):
                os.unlink(out)
            open(out + ".go", "w").close()
            for _ in range(600):
                if os.path.exists(out) or server.poll() is not None:
                    break
                time.sleep(0.5)
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
