#!/usr/bin/env python3
"""Summarise a py-spy ``--format raw`` (collapsed stacks) profile.

  profile_top.py PROFILE.txt [N]

Prints the top N functions by self time and by inclusive time (share of all samples),
the inclusive share of a few areas (twisted.web, cheesecache, zlib/gzip, json, ...),
and the top N cheesecache functions by inclusive time. Line numbers are dropped so that
samples of one function add up.
"""
import collections
import re
import sys

path = sys.argv[1]
top_n = int(sys.argv[2]) if len(sys.argv) > 2 else 15
frame_re = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")

self_c = collections.Counter()
incl_c = collections.Counter()
total = 0
idle = 0


def norm(frame):
    m = frame_re.match(frame.strip())
    if not m:
        return frame.strip()
    f = m.group("file")
    # keep the module path from site-packages / the repo on, not the machine's prefix
    for marker in ("site-packages/", "lib/python3", "/work/main/", "/cheesecache/"):
        i = f.find(marker)
        if i >= 0:
            f = f[i + len(marker):] if marker != "/cheesecache/" else "cheesecache/" + f[i + len(marker):]
            break
    f = re.sub(r"^\.\d+/", "", f)  # "lib/python3" + ".11/..." leftovers
    return f"{m.group('func')} ({f})"


with open(path, encoding="utf-8", errors="replace") as fh:
    for line in fh:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = [norm(f) for f in stack.split(";") if f]
        # py-spy may prefix process / thread pseudo-frames
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1].startswith(("Condition.wait", "Event.wait")) and frames[0].startswith("Thread._bootstrap"):
            idle += n  # an idle thread-pool worker (py-spy does not always see it as idle): not counted
            continue
        total += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n

if not total:
    sys.exit(f"no samples in {path}")


def _idle(stack):
    return stack.startswith("Thread._bootstrap") and stack.rsplit(";", 1)[-1].startswith(("Condition.wait", "Event.wait"))


def pct(n):
    return f"{100.0 * n / total:5.1f}%"


print(f"samples={total} at 100 Hz (py-spy leaves out idle samples, e.g. the reactor waiting in epoll; "
      f"{idle} samples of idle thread-pool workers dropped too)")
print(f"\n-- top {top_n} by self time")
for f, n in self_c.most_common(top_n):
    print(f"  {pct(n)}  {f}")
print(f"\n-- top {top_n} by inclusive time (excluding the reactor loop frames)")
skip = ("run (twisted", "mainLoop (", "runReactor", "startApplication", "_twistd_unix",
        "twistd", "<module>", "run (", "runApp", "doPoll", "_doReadOrWrite")
shown = 0
for f, n in incl_c.most_common():
    if any(s in f for s in skip):
        continue
    print(f"  {pct(n)}  {f}")
    shown += 1
    if shown >= top_n:
        break
areas = {
    "cheesecache/": "cheesecache code (inclusive)",
    "twisted/web/": "twisted.web (inclusive)",
    "twisted/internet/": "twisted.internet (inclusive)",
    "gzip": "gzip/zlib (inclusive)",
    "json/": "json (inclusive)",
    "twisted/logger": "twisted.logger (inclusive)",
}
print("\n-- areas (a sample counts once per area)")
for key, label in areas.items():
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if count.isdigit() and key in stack and not _idle(stack):
                n += int(count)
    print(f"  {pct(n)}  {label}")
# Exclusive attribution of each sample: the socket send and the transport's buffer join first,
# then logging (anywhere in the stack), then the nearest frame (from the leaf up) that belongs
# to cheesecache, twisted.web or the rest of Twisted; stdlib frames count for their caller.
LABELS = [
    ("send", "socket send() syscall (kernel copy to loopback)"),
    ("join", "transport buffer join in FileDescriptor.doWrite"),
    ("log", "logging (per-request access log line, twisted.logger)"),
    ("cc", "cheesecache code itself (nearest frame)"),
    ("web", "twisted.web (HTTP parsing, headers, Request objects)"),
    ("other", "reactor, transport, other"),
]


def bucket(frames):
    if any("writeSomeData" in f for f in frames):
        return "send"
    if frames and frames[-1].startswith("FileDescriptor.doWrite"):
        return "join"
    if any("twisted/logger/" in f or f.startswith(("combinedLogFormatter", "HTTPFactory.log", "Site.log"))
           for f in frames):
        return "log"
    for f in reversed(frames):
        if "(cheesecache/" in f:
            return "cc"
        if "(twisted/web/" in f or "(twisted/protocols/" in f:
            return "web"
        if "(twisted/" in f:
            return "other"
    return "other"


bc = collections.Counter()
with open(path, encoding="utf-8", errors="replace") as fh:
    for line in fh:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit() or _idle(stack):
            continue
        frames = [norm(f) for f in stack.split(";") if f]
        bc[bucket(frames)] += int(count)
print("\n-- where the samples go (exclusive: send, join, logging, then the nearest cheesecache/twisted frame)")
for key, label in LABELS:
    print(f"  {pct(bc[key])}  {label}")
print(f"\n-- top {top_n} cheesecache functions by inclusive time")
shown = 0
for f, n in incl_c.most_common():
    if "cheesecache/" in f:
        print(f"  {pct(n)}  {f}")
        shown += 1
        if shown >= top_n:
            break
