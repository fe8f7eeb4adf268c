# -*- test-case-name: tests.test_via -*-
"""
The C{Via} header (RFC 9110 section 7.6.3), which is how chained caches
notice a loop: each cheesecache adds its pseudonym to the chain it received
when it asks its upstream, and refuses (508) a request whose chain already
holds its own pseudonym.
"""

from __future__ import annotations

from typing import Iterable, Optional, Tuple, Union

from twisted.web.iweb import IRequest


def parseVia(header: Union[None, str, bytes]) -> Tuple[str, ...]:
    """
    The received-by pseudonyms of a C{Via} header, in order.
    """
    if not header:
        return ()
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    chain = []
    for hop in header.split(","):
        parts = hop.split()
        if len(parts) >= 2:
            chain.append(parts[1])
    return tuple(chain)


#: The most hops of a request's C{Via} chain that is passed on: chains of
#: caches and proxies have a handful.
MAX_HOPS = 32

#: The longest C{Via} header, as passed on (see L{formatVia}), of a
#: request's chain.
MAX_LENGTH = 4096


def isOverlong(chain: Tuple[str, ...]) -> bool:
    """
    Is C{chain}, a request's, longer than any chain of caches (more than
    L{MAX_HOPS} hops, or more than L{MAX_LENGTH} bytes passed on)?  Only a
    forged one is: passed on to the upstream, as it is on behalf of every
    client waiting for the same page or file, it made the upstream's
    request longer than the upstream takes (the chain passed on grows at
    every hop: its own, and every forged one written out in full), which
    failed for them all, and held the page as failing.
    """
    return len(chain) > MAX_HOPS or len(formatVia(chain)) > MAX_LENGTH


def requestVia(request: IRequest) -> Tuple[str, ...]:
    """
    The pseudonyms of all of C{request}'s C{Via} header lines, in order: a
    proxy may add a line of its own rather than extend the last one (RFC
    9110 section 5.3), and a loop is one whichever line names us.
    """
    return parseVia(b", ".join(request.requestHeaders.getRawHeaders(b"via", [])))


def formatVia(chain: Iterable[str]) -> str:
    """
    A C{Via} header for a chain of pseudonyms.
    """
    return ", ".join(f"1.1 {hop}" for hop in chain)


#: The C{Proxy-Status} (RFC 9209) of a cheesecache's 502 for a page its
#: upstream failed, after the tries it makes of every page: a cheesecache
#: below, tier of the same chain, does not try again.  It did, at every
#: tier: the origin was asked 3 to the power of the tiers times for one
#: client's request, which waited as many times the top tier's tries.
UPSTREAM_FAILED = b"cheesecache; error=destination_unavailable"


def upstreamTried(proxyStatus: Optional[str]) -> bool:
    """
    Does a 5xx answer's C{Proxy-Status} say a cheesecache made it, after
    trying its own upstream (see L{UPSTREAM_FAILED})?  Proxies between
    the two tiers may add their own members to the list.
    """
    if not proxyStatus:
        return False
    for member in proxyStatus.split(","):
        name, _, parameters = member.partition(";")
        if name.strip() == "cheesecache" and "error=" in parameters:
            return True
    return False
