# -*- test-case-name: tests.test_warm -*-
"""
Warm a cheesecache: resolve requirements against it and download the files
through it, so that later installs (even with the upstream gone) are served
from the cache.

The pure part does no I/O, so that it can be tested without a network and
reused by the server:

  - L{requirements}: requirement specifiers, requirements files and
    C{pylock.toml};
  - L{target}: the environment the files are for;
  - L{choice}: which release, and which of its files, the target installs;
  - L{dependencies}: a release's dependencies, from its core metadata;
  - L{resolution}: the bookkeeping of the resolution;
  - L{report}: what a warm did.

L{warmer} is the shell: a L{warmer.Warmer} takes an injected treq-like HTTP
client and returns a L{report.Report}, so the server's own warm endpoint
drives it with its client.  L{command} is C{cheesecache warm}.

Resolution is deliberately simple: breadth-first, and the first version
chosen for a project is kept (no backtracking).  A later requirement that
the chosen version does not satisfy is reported as a failure rather than
solved, since a warm only needs to fetch what an installer will most likely
ask for, and must never loop.
"""
