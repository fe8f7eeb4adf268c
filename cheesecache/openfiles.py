# -*- test-case-name: tests.test_openfiles -*-
"""
How many files and sockets the server may have open at once.

Every client connection is a file descriptor, and so is every page read,
every file sent and every upstream connection.  Service managers commonly
start a process with a soft limit of 1024 open files under a hard limit
hundreds of times higher, leaving it to the program to ask for more; at
1024, a few hundred clients at once (a CI fleet starting together) made
reads of cached pages fail with C{EMFILE} and every request answer 502.
So the server raises its soft limit to the hard one when it starts, as
any process may, and warns when even that leaves little room.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from twisted.internet.selectreactor import SelectReactor
from twisted.logger import Logger

log = Logger()

#: The most asked for, whatever the hard limit (Linux's default ceiling,
#: C{fs.nr_open}; an unlimited hard limit cannot be the soft one).
MOST = 1 << 20

#: The most a C{select()}-based reactor can watch.
SELECT_MOST = 1024

#: Below this many, the server warns that it may run out under load.
ENOUGH = 4096


def wantedLimit(soft: int, hard: int, most: int = MOST, unlimited: int = -1) -> int:
    """
    The soft limit on open files to ask for: as high as the hard limit
    allows, up to C{most}, and never lower than it is.

    @param unlimited: the value of a limit that is not set
        (C{resource.RLIM_INFINITY}).
    """
    if soft == unlimited:
        return soft
    return max(soft, most if hard == unlimited else min(hard, most))


def raiseOpenFileLimit(reactor: Any, limits: Optional[Any] = None) -> Optional[Tuple[int, int]]:
    """
    Raise this process's soft limit on open files to its hard limit, and
    log what it is.

    @param reactor: the reactor that will watch the sockets: one built on
        C{select()} cannot use descriptors past L{SELECT_MOST}.
    @param limits: what reads and sets the limits (the C{resource}
        module, where the platform has one).
    @return: the soft limit before and after, or C{None} where there are
        no such limits.
    """
    if limits is None:
        try:
            import resource as limits
        except ImportError:  # pragma: no cover (Windows)
            return None
    soft, hard = limits.getrlimit(limits.RLIMIT_NOFILE)
    most = SELECT_MOST if isinstance(reactor, SelectReactor) else MOST
    wanted = wantedLimit(soft, hard, most, limits.RLIM_INFINITY)
    now = soft
    if wanted != soft:
        try:
            limits.setrlimit(limits.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError) as e:
            log.warn("Could not raise the open files limit from {soft} to {wanted}: {why}",
                     soft=soft, wanted=wanted, why=e)
        else:
            now = wanted
    if now != limits.RLIM_INFINITY and now < min(ENOUGH, most):
        log.warn(
            "Only {limit} files may be open at once (the hard limit is {hard}):"
            " under load, connections and reads of the cache may fail. Raise it"
            " (LimitNOFILE= in a systemd unit, ulimit -n in a shell).",
            limit=now, hard=hard,
        )
    elif now != soft:
        log.info("Open files limit raised from {soft} to {limit}", soft=soft, limit=now)
    return soft, now
