# -*- test-case-name: tests.test_upstream -*-
"""
The HTTP client side: asking an upstream index for pages and files.

One L{Upstream} per configured upstream URL.  Credentials come from that URL
(C{https://user:pass@host/simple/}) and are sent as Basic auth; they are
never logged, and Twisted's redirect handling drops them when a redirect
leaves the upstream's origin.  The client's own Authorization is never
forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Callable, Dict, Optional, Sequence, Tuple
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import attrs
from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore, inlineCallbacks
from twisted.internet.error import ConnectError
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import (
    RedirectAgent,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.error import InfiniteRedirection, RedirectWithNoLocation
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IResponse

from . import __version__
from .contentcoding import PAGE_ENCODINGS, BodyDecoder, UndecodableBody
from .freshness import Validators, parseRetryAfter
from .metrics import Histogram
from .via import formatVia, upstreamTried

log = Logger()

USER_AGENT = f"cheesecache/{__version__}"
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)


class UpstreamError(Exception):
    """
    The upstream could not give a usable answer (refused, timed out, 5xx,
    an unexpected status, a body cut short).

    @ivar retryAfter: the seconds the upstream asked to be left alone for
        (the C{Retry-After} of its 429 or 503), if it said.
    @ivar rateLimited: it said so with a 429 (Too Many Requests): the wait
        is for every request of ours, not just this one.  A 503's may be
        for one page only (another cheesecache's, for a page it has not
        cached).
    """

    def __init__(
        self, message: str, retryAfter: Optional[float] = None, rateLimited: bool = False
    ) -> None:
        Exception.__init__(self, message)
        self.retryAfter = retryAfter
        self.rateLimited = rateLimited


class UpstreamGone(UpstreamError):
    """
    The upstream answered that a file is not there (404 or 410): the
    client is told the same, rather than to try again later.
    """


class LoopDetected(UpstreamError):
    """
    The upstream answered 508 Loop Detected: our request came back to a
    cheesecache it had passed through (tiers configured in a circle).
    Passed on to our client as a 508 too, which a cheesecache below does
    not ask again: a 502 it would, at every tier.
    """


#: What an upstream answers for a file it does not have.
GONE_CODES = frozenset({404, 410})


def statusError(code: int, message: str, retryAfter: Optional[float] = None) -> UpstreamError:
    """
    The error for an upstream's answer with status C{code} where a file
    was wanted: L{UpstreamGone} when it says there is no such file.
    """
    return (UpstreamGone if code in GONE_CODES else UpstreamError)(message, retryAfter)


def retryAfterOf(response: IResponse, now: float) -> Optional[float]:
    """
    The seconds an upstream's 429 or 503 C{response} asks to be left alone
    for, if it says (its C{Retry-After}); C{None} for other answers.
    """
    if response.code not in (429, 503):
        return None
    return parseRetryAfter(header(response, b"retry-after"), now)


class _Retryable(Exception):
    """
    A failure worth another try: a 5xx answer, a refused connection, or
    one that broke before the answer was whole.
    """


class BodyCutShort(UpstreamError):
    """
    The connection broke before the whole body came.
    """


class BodyStalled(BodyCutShort):
    """
    No byte of the body came for the idle timeout: the connection is as
    good as broken (a peer gone without a word, a route lost), and is
    dropped and asked again as one that broke.
    """


#: Seconds without a byte of a body before its connection counts as
#: broken.  Shorter than pip's timeout (15 s, reset by each byte): a file
#: whose download stalls is resumed, its bytes flowing to pip again,
#: before pip gives up on it.
IDLE_TIMEOUT = 10.0


#: What Twisted's HTTP client fails with when a request or its answer
#: failed: each holds the failures that made it (C{reasons}).
_CLIENT_FAILURES = (RequestTransmissionFailed, ResponseNeverReceived, ResponseFailed)


def connectionBroke(error: Exception) -> bool:
    """
    Did a request fail because its connection was refused, or broke (or
    stalled) before the whole answer was in?  (Not because it was
    cancelled: it timed out, and trying again would only make the client
    wait as long again; nor because the answer was a redirect that cannot
    be followed, which L{twisted.web.client.RedirectAgent} fails with
    too: a loop, or no C{Location}.  Asked again, it would be the same.)
    """
    if isinstance(error, (ConnectError, BodyCutShort)):
        return True
    if isinstance(error, _CLIENT_FAILURES):
        return not any(
            reason.check(CancelledError, InfiniteRedirection, RedirectWithNoLocation)
            for reason in error.reasons
        )
    return False


def describeError(error: BaseException) -> str:
    """
    What went wrong, in words, for a log line or an error page: Twisted's
    HTTP client fails with lists of failures (L{ResponseFailed} and its
    kin), whose own text is their repr; theirs are given instead.
    """
    if isinstance(error, _CLIENT_FAILURES):
        said = [reason.getErrorMessage() for reason in error.reasons]
        return "; ".join(dict.fromkeys(said)) or type(error).__name__
    return str(error)


class ChainedRedirectAgent(RedirectAgent):
    """
    A L{RedirectAgent} that resolves each C{Location} against the URL that
    answered with it.  Twisted's resolves every one against the URL first
    asked for: a page or file sent on to another host that moves it
    within itself (a relative C{Location}) was looked for on the first
    host, and a redirect loop, or the wrong answer, came back.
    """

    def _handleResponse(  # type: ignore[no-untyped-def]
        self, response, method, uri, headers, redirectCount
    ):
        request = getattr(response, "request", None)
        if request is not None and request.absoluteURI:
            uri = request.absoluteURI
        return RedirectAgent._handleResponse(
            self, response, method, uri, headers, redirectCount
        )


@attrs.define(eq=False)
class Fetched:
    """
    A 200 answer for a page.

    @ivar body: the page's bytes, until L{takeBody} hands them over.
    """

    body: bytes
    contentType: str
    url: str
    validators: Validators

    def takeBody(self) -> bytes:
        """
        The body, no longer kept here.  The L{Deferred} that delivers this
        answer holds it as its result while its callbacks run, and for a page
        they parse, store and render it: a big page's bytes should not stay
        for all of that.
        """
        body, self.body = self.body, b""
        return body


@attrs.frozen
class NotModified:
    """
    A 304: the cached page is still current.
    """


@attrs.frozen
class NotFound:
    """
    A 404 or 410: the upstream does not know this project.
    """


def splitCredentials(url: str) -> tuple[str, Optional[str]]:
    """
    Split C{url} into the URL without user info and an Authorization header
    value built from that user info (if any).
    """
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    user = unquote(parts.username)
    password = unquote(parts.password or "")
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), basicAuthorization(user, password)


@inlineCallbacks
def tryAgain(  # type: ignore[no-untyped-def]
    clock: IReactorTime,
    delays: Sequence[float],
    attempt: Callable[[], "Deferred[object]"],
    worthAnother: Callable[[Exception], bool],
    what: str,
):
    """
    The result of C{attempt()}, called again after each of C{delays} while
    it fails with what C{worthAnother} accepts; after the last, or with
    anything else, its failure.

    @param what: what is asked for, for the log.
    """
    for delay in (*delays, None):
        try:
            result = yield attempt()
            return result
        except Exception as e:
            if delay is None or not worthAnother(e):
                raise
            log.info("Retrying {url} in {delay}s: {error}", url=what, delay=delay, error=describeError(e))
            yield deferLater(clock, delay, lambda: None)


_CONTENT_RANGE = re.compile(r"bytes[ ]+(\d+)-(\d+)/(\d+|\*)\Z")


def contentRange(value: Optional[str]) -> Optional[Tuple[int, int, Optional[int]]]:
    """
    The first byte, last byte and whole size (C{None}: not said) a 206
    answer's C{Content-Range} gives, or C{None} when it gives none that
    makes sense.
    """
    match = _CONTENT_RANGE.match((value or "").strip())
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


def basicAuthorization(user: str, password: str) -> str:
    """
    The Authorization header value that sends C{user} and C{password} as
    Basic auth (UTF-8, as pip sends them).
    """
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


class _BodyReader(Protocol):
    """
    Deliver a response body chunk by chunk, enforcing an idle deadline (no
    byte for C{idleTimeout} seconds aborts the connection) and a size cap.
    The deadline does not run while reading waits for the consumer: the
    upstream is not to blame for a slow disk.
    """

    def __init__(
        self,
        onChunk: Callable[[bytes], object],
        done: "Deferred[None]",
        clock: IReactorTime,
        idleTimeout: float,
        maxSize: Optional[int],
    ) -> None:
        self._onChunk = onChunk
        self._done = done
        self._clock = clock
        self._idleTimeout = idleTimeout
        self._maxSize = maxSize
        self._received = 0
        self._timer: Optional[IDelayedCall] = None
        self._error: Optional[Exception] = None
        #: Reading is paused until the consumer catches up.
        self._waiting = False

    def connectionMade(self) -> None:
        self._timer = self._clock.callLater(self._idleTimeout, self._idle)

    def _idle(self) -> None:
        if self._waiting:
            # The consumer is behind, not the upstream.
            self._timer = self._clock.callLater(self._idleTimeout, self._idle)
            return
        self._timer = None
        self.abort(BodyStalled(f"no data for {self._idleTimeout} seconds"))

    def abort(self, reason: Exception) -> None:
        """
        Stop reading and fail with C{reason}.
        """
        if self._error is None:
            self._error = reason
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data: bytes) -> None:
        if self._error is not None:
            return
        if self._timer is not None:
            self._timer.reset(self._idleTimeout)
        self._received += len(data)
        if self._maxSize is not None and self._received > self._maxSize:
            self.abort(UpstreamError(f"body larger than {self._maxSize} bytes"))
            return
        try:
            backlog = self._onChunk(data)
        except Exception as e:
            self.abort(e)
            return
        if isinstance(backlog, Deferred) and self.transport is not None:
            # The consumer is behind: read on once it has caught up.
            transport = self.transport
            transport.pauseProducing()
            self._waiting = True
            backlog.addBoth(lambda _: self._caughtUp(transport))

    def _caughtUp(self, transport: IPushProducer) -> None:
        """
        The consumer took what it was given: read on, and wait for the
        upstream's next byte no longer than the deadline.
        """
        self._waiting = False
        if self._error is not None or self._done.called:
            return
        if self._timer is not None:
            # Pushed back, not made anew: a cold download pauses for the
            # disk at nearly every piece, and a reset costs next to nothing.
            self._timer.reset(self._idleTimeout)
        transport.resumeProducing()

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._error is not None:
            self._done.errback(self._error)
        elif reason.check(ResponseDone, PotentialDataLoss):
            # PotentialDataLoss: a close-delimited body.  Callers check sizes
            # and hashes; a page body that was cut short fails to parse.
            self._done.callback(None)
        else:
            self._done.errback(BodyCutShort(f"body cut short: {reason.value!r}"))


class _Abandon(Protocol):
    def connectionMade(self) -> None:
        self.transport.stopProducing()


def abandon(response: IResponse) -> None:
    """
    Drop C{response}'s body unread, closing its connection (it cannot go
    back to the pool with a body pending).
    """
    response.deliverBody(_Abandon())


def readBody(
    response: IResponse,
    onChunk: Callable[[bytes], object],
    clock: IReactorTime,
    idleTimeout: float,
    maxSize: Optional[int] = None,
) -> "tuple[Deferred[None], Callable[[Exception], None]]":
    """
    Start reading C{response}'s body into C{onChunk}.  When C{onChunk}
    returns a L{Deferred} (it is falling behind), reading pauses until that
    fires.

    @return: a L{Deferred} that fires when the body is complete, and a
        function that aborts the read.
    """
    done: Deferred[None] = Deferred()
    reader = _BodyReader(onChunk, done, clock, idleTimeout, maxSize)
    if response.length == 0:
        done.callback(None)
    else:
        response.deliverBody(reader)
    return done, reader.abort


#: The most bytes of an answer's body read only to drop it (a 304's, a
#: 404's, an error's): more, and its connection is closed instead.
MAX_DISCARDED = 1024 * 1024


@attrs.define
class Upstream:
    """
    One upstream index.

    @ivar url: the index's Simple API base URL, ending in C{/}, without
        credentials.
    @ivar authorization: the Authorization header value for this upstream.
    @ivar connectTimeout: seconds a request may wait for its answer's
        headers (the connection, too, is given up after this long: see
        L{cheesecache.outbound.Outbound.agent}); then it has failed.
    @ivar agent: an L{IAgent} following redirects (over a persistent
        connection pool), for pages and files.  Pages are asked for gzipped
        and decoded here; files are asked for as they are (a C{.tar.gz}
        that a server labels C{Content-Encoding: gzip} must arrive exactly
        as stored).
    """

    url: str
    agent: IAgent
    clock: IReactorTime
    authorization: Optional[str] = None
    connectTimeout: float = 30.0
    idleTimeout: float = IDLE_TIMEOUT
    maxPageSize: int = 512 * 1024 * 1024
    #: This cheesecache's pseudonym in C{Via} headers (loop detection).
    pseudonym: str = "cheesecache"
    #: Waits before retrying an idempotent GET that failed with a 5xx or a
    #: refused connection; one retry per entry.
    retryDelays: Tuple[float, ...] = (0.25, 1.0)
    #: At most this many page requests to this upstream at once.
    maxConcurrentPages: int = 8
    _pageSlots: DeferredSemaphore = attrs.field(init=False)
    #: Seconds from each request to its response headers.
    latency: Histogram = attrs.field(factory=Histogram, init=False)
    #: Requests that failed (refused, timed out, 5xx).
    errors: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._pageSlots = DeferredSemaphore(self.maxConcurrentPages)

    @classmethod
    def fromURL(
        cls, url: str, agent: IAgent, clock: IReactorTime, **kw: object
    ) -> "Upstream":
        """
        Make an upstream from a configured URL, which may carry credentials.
        """
        if not url.endswith("/"):
            url += "/"
        bare, authorization = splitCredentials(url)
        return cls(bare, agent, clock, authorization, **kw)  # type: ignore[arg-type]

    @property
    def sourceID(self) -> str:
        """
        A short stable identifier for this upstream (names its cache folder).
        """
        return hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]

    def pageURL(self, name: Optional[str]) -> str:
        """
        The URL of a project's page (C{name=None}: the root list).
        """
        if name is None:
            return self.url
        return f"{self.url}{quote(name, safe='')}/"

    def headers(
        self,
        extra: Optional[Dict[str, str]] = None,
        url: Optional[str] = None,
        via: Sequence[str] = (),
    ) -> Dict[str, str]:
        """
        The headers a request to C{url} (default: this upstream) carries; the
        upstream's credentials go only to the upstream's own origin.

        @param via: the C{Via} chain of the client request this one serves.
        """
        headers = {
            "User-Agent": USER_AGENT,
            "Via": formatVia((*via, self.pseudonym)),
        }
        if self.authorization and (url is None or _sameOrigin(url, self.url)):
            headers["Authorization"] = self.authorization
        headers.update(extra or {})
        return headers

    @inlineCallbacks
    def fetchPage(  # type: ignore[no-untyped-def]
        self, name: Optional[str], validators: Optional[Validators], via: Sequence[str] = ()
    ):
        """
        GET a page, conditionally when C{validators} are given, retrying
        after 5xx answers, refused connections and connections that broke
        before the page was whole.

        @return: a L{Deferred} firing with L{Fetched}, L{NotModified} or
            L{NotFound}, or failing with L{UpstreamError}.
        """
        try:
            result = yield tryAgain(
                self.clock,
                self.retryDelays,
                lambda: self._pageSlots.run(self._fetchPageOnce, name, validators, via),
                lambda e: isinstance(e, _Retryable),
                self.pageURL(name),
            )
        except _Retryable as e:
            raise UpstreamError(str(e)) from e
        return result

    @inlineCallbacks
    def _fetchPageOnce(  # type: ignore[no-untyped-def]
        self, name: Optional[str], validators: Optional[Validators], via: Sequence[str]
    ):
        url = self.pageURL(name)
        extra = {"Accept": PAGE_ACCEPT, "Accept-Encoding": PAGE_ENCODINGS}
        if validators is not None:
            extra.update(validators.requestHeaders())
        try:
            response = yield self.get(url, extra, via)
        except Exception as e:
            if connectionBroke(e):
                raise _Retryable(f"{url}: {describeError(e)}") from e
            raise UpstreamError(f"{url}: {describeError(e)}") from e
        code = response.code
        if code == 304:
            yield self._discard(response)
            if validators is not None and not validators.confirmedBy(
                header(response, b"etag"), header(response, b"last-modified")
            ):
                log.info(
                    "{url} answered 304 for another version of the page;"
                    " asking for it whole", url=url,
                )
                return (yield self._fetchPageOnce(name, None, via))
            return NotModified()
        if code in (404, 410):
            yield self._discard(response)
            return NotFound()
        if code != 200:
            yield self._discard(response)
            if code == 508:
                log.error("Loop detected: {url} sent our own request back", url=url)
                raise LoopDetected(f"{url}: HTTP 508 (Loop Detected)")
            wait = retryAfterOf(response, self.clock.seconds())
            if (
                500 <= code < 600
                and code != 508
                and wait is None
                and not upstreamTried(header(response, b"proxy-status"))
            ):
                raise _Retryable(f"{url}: HTTP {code}")
            # Asked to wait: not asked again at once, and the wait is
            # passed on (see Policy.afterFailure, failPage).
            raise UpstreamError(
                f"{url}: HTTP {code}", retryAfter=wait, rateLimited=code == 429
            )
        try:
            decoder = BodyDecoder(header(response, b"content-encoding") or "", self.maxPageSize)
        except UndecodableBody as e:
            yield self._discard(response)
            raise UpstreamError(f"{url}: {describeError(e)}") from e
        chunks: list[bytes] = []
        # The limit holds for the body as it comes too: gzipped, it is
        # smaller than decoded, and the decoder holds the decoding to it.
        done, _ = readBody(
            response, lambda data: chunks.append(decoder.feed(data)), self.clock,
            self.idleTimeout, self.maxPageSize,
        )
        try:
            yield done
            decoder.finish()
        except BodyCutShort as e:
            raise _Retryable(f"{url}: {describeError(e)}") from e
        except Exception as e:
            raise UpstreamError(f"{url}: {describeError(e)}") from e
        body = b"".join(chunks)
        # The reader keeps its callback until the whole callback chain of
        # this response (parsing, storing, rendering the page) has run.
        chunks.clear()
        finalURL = response.request.absoluteURI.decode("utf-8")
        return Fetched(
            body=body,
            contentType=header(response, b"content-type") or "text/html",
            url=finalURL,
            validators=Validators(
                header(response, b"etag"), header(response, b"last-modified")
            ),
        )

    def _discard(self, response: IResponse) -> "Deferred[None]":
        """
        Read C{response}'s body to drop it (its connection can then be used
        again), but no more than L{MAX_DISCARDED} bytes of it: past that
        the connection is closed.  Read without end, a body that never
        ends (a broken upstream's, or a hostile one's) held the page
        request, and one of the upstream's page slots, for good.
        """
        done, _ = readBody(
            response, lambda data: None, self.clock, self.idleTimeout, MAX_DISCARDED
        )
        return done.addErrback(lambda f: None)

    def get(
        self, url: str, headers: Optional[Dict[str, str]] = None, via: Sequence[str] = ()
    ) -> "Deferred[IResponse]":
        """
        Start a GET of C{url} (a file) whose body the caller streams; fails
        if no response headers arrive within C{connectTimeout}.
        """
        raw = Headers()
        for name, value in self.headers(
            {"Accept-Encoding": "identity", **(headers or {})}, url, via
        ).items():
            raw.setRawHeaders(name, [value])
        d = self.agent.request(b"GET", url.encode("utf-8"), raw)
        timer = self.clock.callLater(self.connectTimeout, d.cancel)
        started = self.clock.seconds()

        def stopTimer(result: object) -> object:
            if timer.active():
                timer.cancel()
            if isinstance(result, Failure) or result.code >= 500:  # type: ignore[attr-defined]
                self.errors += 1
            else:
                self.latency.observe(self.clock.seconds() - started)
            return result

        return d.addBoth(stopTimer)


def _sameOrigin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def header(response: IResponse, name: bytes) -> Optional[str]:
    """
    The first value of the header C{name} of C{response}, if it has one.
    """
    values = response.headers.getRawHeaders(name)
    return values[0].decode("latin-1") if values else None
