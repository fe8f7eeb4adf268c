"""
Is a failed login for an unknown user as slow as one for a known user with
a wrong password?  (If not, timing tells an attacker which names exist.)

Runs the real checker (bcrypt off the reactor thread) on a real reactor,
interleaving the two cases, and prints their medians, their ratio and a
permutation test's p-value.  Usage: python bench/auth_timing.py [N]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time

from twisted.cred.credentials import UsernamePassword
from twisted.internet import task
from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath

from cheesecache.users import HtpasswdChecker, setPassword


@inlineCallbacks
def main(reactor, n: str = "40"):  # type: ignore[no-untyped-def]
    rounds = int(n)
    path = FilePath(tempfile.mkdtemp()).child("users")
    setPassword(path, "alice", "correct horse")
    checker = HtpasswdChecker(path, reactor, reactor.getThreadPool(), reactor, cacheSeconds=0)
    times = {"known": [], "unknown": []}
    cases = [("known", b"alice"), ("unknown", b"mallory")] * rounds
    random.shuffle(cases)
    for label, user in cases:
        start = time.perf_counter()
        try:
            yield checker.requestAvatarId(UsernamePassword(user, b"wrong guess"))
        except Exception:
            pass
        times[label].append(time.perf_counter() - start)
    known, unknown = times["known"], times["unknown"]
    observed = abs(statistics.median(known) - statistics.median(unknown))
    pooled = known + unknown
    extreme = 0
    trials = 2000
    for _ in range(trials):
        random.shuffle(pooled)
        a, b = pooled[:rounds], pooled[rounds:]
        if abs(statistics.median(a) - statistics.median(b)) >= observed:
            extreme += 1
    sys.stdout.write(
        f"failed logins, {rounds} each, bcrypt cost as `cheesecache adduser` writes it\n"
        f"known user, wrong password: median {statistics.median(known) * 1000:.1f} ms\n"
        f"unknown user:               median {statistics.median(unknown) * 1000:.1f} ms\n"
        f"ratio unknown/known: {statistics.median(unknown) / statistics.median(known):.3f}\n"
        f"permutation test p-value (difference of medians): {extreme / trials:.3f}\n"
    )


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
