# -*- test-case-name: tests.test_freshness -*-
"""
When a cached upstream page may be served, when it must be revalidated, and
what each upstream answer does to the cache.

Pure: every function takes C{now} and returns a decision; the caller does
the I/O.
"""

from __future__ import annotations

import enum
import re
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Dict, Optional, Union

import attrs

from .simple.model import ProjectList, ProjectPage

Content = Union[ProjectPage, ProjectList]


@attrs.frozen
class Validators:
    """
    What the upstream gave us to revalidate a page with.
    """

    etag: Optional[str] = None
    lastModified: Optional[str] = None

    def requestHeaders(self) -> Dict[str, str]:
        """
        The conditional request headers these validators allow.
        """
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.lastModified:
            headers["If-Modified-Since"] = self.lastModified
        return headers

    def confirmedBy(self, etag: Optional[str], lastModified: Optional[str]) -> bool:
        """
        Does a 304 bearing C{etag} and C{lastModified} confirm the page
        these validators came with?  Not when it names another version of
        the page (RFC 9111, 4.3.4): a server that answers by its
        C{If-Modified-Since} alone, its pages all of one date, sends a 304
        with the C{ETag} of a page changed since, and the old one would be
        kept, and confirmed again at each revalidation, for good.  Tags
        are compared weakly (a server that compresses may weaken them);
        what one side lacks is no difference.
        """
        if etag and self.etag:
            return _opaqueTag(etag) == _opaqueTag(self.etag)
        if lastModified and self.lastModified:
            return _sameDate(lastModified, self.lastModified)
        return True


def _opaqueTag(etag: str) -> str:
    """
    An entity tag without its weakness indicator, for weak comparison.
    """
    etag = etag.strip()
    return etag[2:] if etag.startswith("W/") else etag


def _sameDate(a: str, b: str) -> bool:
    """
    Are two HTTP dates the same time (the same text, if not dates)?
    """
    try:
        return parsedate_to_datetime(a) == parsedate_to_datetime(b)
    except (TypeError, ValueError, IndexError):
        return a.strip() == b.strip()


def discardRendered(
    rendered: Dict[str, object], discard: Optional[Callable[[object], None]]
) -> None:
    """
    Let every representation in C{rendered} (a page's, replaced or to be
    rendered again) go: each handed to C{discard}, which removes its files
    (none to remove without it), and the dictionary emptied, so that a gzip
    twin still to be made for one of them is not made.
    """
    if discard is not None:
        for rep in rendered.values():
            discard(rep)
    rendered.clear()


@attrs.define(eq=False)
class PageEntry:
    """
    A cached upstream answer for one page: the page, or "not found".

    @ivar content: the parsed page, or C{None} when the upstream said 404.
    @ivar fetchedAt: when the upstream last confirmed this answer.
    @ivar retryAt: until when a failing upstream is not asked again (stale
        copies are served meanwhile); 0 when the upstream is healthy.
    @ivar rendered: representations rendered from C{content}, by content
        type; shared by refreshed copies of the entry, since the content is
        the same.
    @ivar loader: reads the content back (from the page store) after
        L{trim} let it go: a big page's parsed form takes more memory than
        its rendered bytes, and is only needed to render and to look up
        files not cached yet.
    """

    _content: Optional[Content] = attrs.field(alias="content")
    url: str
    validators: Validators
    fetchedAt: float
    retryAt: float = 0.0
    rendered: Dict[str, object] = attrs.field(factory=dict)
    found: bool = attrs.field(default=None)
    loader: Optional[Callable[[], Optional[Content]]] = None
    #: Stale whatever its age (see L{expired}).
    mustRevalidate: bool = False

    def __attrs_post_init__(self) -> None:
        if self.found is None:
            self.found = self._content is not None

    @property
    def content(self) -> Optional[Content]:
        """
        The parsed page (read back if it was trimmed); C{None} for "not
        found", or when it could not be read back.
        """
        if self._content is None and self.found and self.loader is not None:
            self._content = self.loader()
        return self._content

    @property
    def loaded(self) -> bool:
        """
        Is the parsed page in memory (no reading back needed)?
        """
        return self._content is not None

    def trim(self) -> None:
        """
        Let the parsed page go, if it can be read back.
        """
        if self.loader is not None:
            self._content = None

    def _copy(
        self, fetchedAt: float, retryAt: float, mustRevalidate: bool = False
    ) -> "PageEntry":
        return PageEntry(
            self._content, self.url, self.validators, fetchedAt, retryAt,
            self.rendered, self.found, self.loader, mustRevalidate,
        )

    def refreshed(self, now: float) -> "PageEntry":
        """
        This entry, confirmed unchanged at C{now}.
        """
        return self._copy(now, 0.0)

    def expired(self) -> "PageEntry":
        """
        This entry, stale at once: the next request revalidates it.
        """
        return self._copy(self.fetchedAt, 0.0, True)

    def failing(self, retryAt: float) -> "PageEntry":
        """
        This entry, while its upstream fails, not to be retried before
        C{retryAt}.
        """
        return self._copy(self.fetchedAt, retryAt, self.mustRevalidate)


class Decision(enum.Enum):
    """
    What to do with a request for a page, given what is cached.
    """

    #: Serve the cached entry as it is.
    USE = "use"
    #: Ask the upstream with the cached validators (a conditional GET).
    REVALIDATE = "revalidate"
    #: Nothing usable is cached: a plain GET.
    FETCH = "fetch"


@attrs.frozen
class Policy:
    """
    How long cached answers stay fresh.

    @ivar ttl: seconds a page is fresh after the upstream confirmed it.
    @ivar negativeTTL: seconds a "not found" stays fresh (short, so a project
        published upstream shows up soon).
    @ivar errorBackoff: seconds to serve a stale copy without asking a
        failing upstream again.
    @ivar patience: seconds a client waits for an upstream to revalidate a
        stale page before it gets the cached copy (the upstream's answer
        still updates the cache when it comes); C{None}: as long as the
        upstream takes.  An upstream that does not answer at all (a
        network that drops packets) is given up only after the request
        timeout, longer than pip waits (15 s): without this, every stale
        page would fail pip's request, and cached pages would be of no use
        when they are most needed.
    """

    ttl: float = 600.0
    negativeTTL: float = 60.0
    errorBackoff: float = 30.0
    patience: Optional[float] = 3.0

    def decide(self, entry: Optional[PageEntry], now: float) -> Decision:
        """
        Decide whether C{entry} may be served at C{now}.
        """
        if entry is None:
            return Decision.FETCH
        # A backoff ending further off than any is set for: the clock went
        # back since; held, it would keep a recovered upstream unasked
        # for as long as the clock went back.
        if now < entry.retryAt <= now + max(self.errorBackoff, MAX_RETRY_AFTER):
            return Decision.USE
        lifetime = self.ttl if entry.found else min(self.ttl, self.negativeTTL)
        if not entry.mustRevalidate and 0 <= now - entry.fetchedAt < lifetime:
            return Decision.USE
        if entry.found and (entry.validators.etag or entry.validators.lastModified):
            return Decision.REVALIDATE
        return Decision.FETCH

    def afterFailure(
        self, entry: Optional[PageEntry], now: float, retryAfter: Optional[float] = None
    ) -> Optional[PageEntry]:
        """
        The entry to serve when the upstream failed: the stale copy, held
        back from retries for a while (longer if the upstream asked for
        C{retryAfter} seconds), or C{None} when nothing is cached.
        """
        if entry is None:
            return None
        return entry.failing(now + max(self.errorBackoff, retryAfter or 0.0))


#: The longest an upstream's Retry-After is heeded for, in seconds: a
#: mistaken date must not keep cheesecache from asking for days.
MAX_RETRY_AFTER = 3600.0

#: A C{Retry-After} in seconds: ASCII digits only.
_SECONDS = re.compile("[0-9]+")

#: An HTTP date in C{asctime()} form: C{Sun Nov  6 08:49:37 1994}.
_ASCTIME = re.compile(r"[A-Za-z]{3} [A-Za-z]{3} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}")


def parseRetryAfter(value: Optional[str], now: float) -> Optional[float]:
    """
    The seconds a C{Retry-After} header value asks to wait from C{now}:
    a number of seconds or an HTTP date, at most L{MAX_RETRY_AFTER};
    C{None} for no value, or one that is neither.
    """
    if value is None:
        return None
    value = value.strip()
    # Not str.isdigit: it takes superscripts ("\u00b2", in a header read as
    # Latin-1) for digits, and float() does not.
    if _SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            # An HTTP date is in GMT; one without a zone is not one, but for
            # the asctime() form, which never says (RFC 9110, 5.6.7).
            if not _ASCTIME.fullmatch(value):
                return None
            when = when.replace(tzinfo=timezone.utc)
        seconds = max(0.0, when.timestamp() - now)
    return min(seconds, MAX_RETRY_AFTER)
