# -*- test-case-name: tests.test_negotiate -*-
"""
Content negotiation for Simple pages (PEP 691), following RFC 9110: each
offer gets the q-value of the most specific range that matches it, q=0 means
"not acceptable", ties go to the server's order, and when nothing matches the
answer is C{text/html} (as the public index does; never 406 or 300).
"""

from __future__ import annotations

import functools
from typing import List, Optional, Tuple

from .render import HTML_TYPE, JSON_TYPE, TEXT_HTML

#: Offers in server preference order (ties go to the first).
OFFERS = (TEXT_HTML, HTML_TYPE, JSON_TYPE)

_LATEST = {
    "application/vnd.pypi.simple.latest+json": JSON_TYPE,
    "application/vnd.pypi.simple.latest+html": HTML_TYPE,
}


def _parseAccept(header: str) -> List[Tuple[str, float]]:
    ranges = []
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        mediaRange = parts[0].lower()
        if not mediaRange:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((_LATEST.get(mediaRange, mediaRange), q))
    return ranges


def _specificity(mediaRange: str, offer: str) -> int:
    """
    How specifically C{mediaRange} matches C{offer}: 3 exact, 2 C{type/*},
    1 C{*/*}, 0 not at all.
    """
    if mediaRange == offer:
        return 3
    rangeType, _, rangeSub = mediaRange.partition("/")
    offerType = offer.partition("/")[0]
    if rangeSub == "*" and rangeType == offerType:
        return 2
    if mediaRange == "*/*":
        return 1
    return 0


def _quality(ranges: List[Tuple[str, float]], offer: str) -> float:
    best: Tuple[int, float] = (0, 0.0)
    for mediaRange, q in ranges:
        s = _specificity(mediaRange, offer)
        if s > best[0]:
            best = (s, q)
    return best[1]


@functools.lru_cache(maxsize=512)
def negotiate(accept: Optional[str]) -> str:
    """
    Choose the content type to answer a Simple page request with.

    @param accept: the request's C{Accept} header, or C{None} when absent
        (which means C{*/*}).
    """
    if not accept:
        return TEXT_HTML
    ranges = _parseAccept(accept)
    best, bestQ = TEXT_HTML, 0.0
    for offer in OFFERS:
        q = _quality(ranges, offer)
        if q > bestQ:
            best, bestQ = offer, q
    return best
