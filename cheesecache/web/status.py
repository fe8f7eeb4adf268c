# -*- test-case-name: tests.test_status -*-
"""
What an operator looks at: C{/-/health}, C{/-/metrics} (Prometheus text)
and the landing page at C{/}.

Components keep plain counters; L{Status} gathers them when asked, so
serving a request costs nothing more than incrementing an integer.
"""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any, Dict, List, Optional, Sequence, Tuple

import attrs
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..filefetch import FileFetcher
from ..index import ISource, UpstreamSource
from ..metrics import CounterVec, Family, counter, gauge, one, render
from ..private import PrivateStore

#: The first path segment of each kind of request, for per-route counts.
_ROUTES = {b"simple": "simple", b"files": "files", b"legacy": "upload", b"-": "manage"}


def routeOf(path: bytes) -> str:
    """
    A low-cardinality name for the route a request path took.
    """
    parts = path.split(b"?", 1)[0].split(b"/")
    first = parts[1] if len(parts) > 1 else b""
    if first == b"":
        return "root"
    route = _ROUTES.get(first, "other")
    if route == "simple":
        # /simple and /simple/ are the list; /simple/NAME (redirected to
        # /simple/NAME/) is a project's page.
        return "simple-list" if len(parts) < 3 or parts[2] == b"" else "simple-project"
    if route == "files" and parts[-1].endswith(b".metadata"):
        return "metadata"
    if route == "manage" and len(parts) > 2 and parts[2] in (b"health", b"metrics", b"warm"):
        return parts[2].decode()
    return route


@attrs.define
class RequestMetrics:
    """
    Requests by route and status, and file bytes by where they came from.

    Counted per request URI and status code, and grouped into routes only
    when scraped: every request passes through L{record}, so it does no
    more than one dictionary update.
    """

    #: Finished requests by C{(uri, code)}, until the next scrape folds them.
    _pending: Dict[Tuple[bytes, int], int] = attrs.field(factory=dict)
    _byRoute: CounterVec = attrs.field(factory=CounterVec)
    bytesServed: CounterVec = attrs.field(factory=CounterVec)
    #: File responses served from the store, and streamed from an upstream.
    fileHits: int = 0
    fileMisses: int = 0

    def record(self, request: IRequest) -> None:
        """
        Count a finished request (called from the Site's log hook).
        """
        key = (request.uri, request.code)
        pending = self._pending
        pending[key] = pending.get(key, 0) + 1
        if len(pending) > _FOLD_AT:
            self._fold()
        source = getattr(request, "cheesecacheSource", None)
        if source is not None:
            self.bytesServed.inc(float(getattr(request, "sentLength", 0)), source=source)
            if source == "cache":
                self.fileHits += 1
            else:
                self.fileMisses += 1

    def _fold(self) -> None:
        pending, self._pending = self._pending, {}
        for (uri, code), n in pending.items():
            self._byRoute.inc(float(n), route=routeOf(uri), code=str(code))

    @property
    def requests(self) -> CounterVec:
        """
        Requests by route and status code, up to now.
        """
        self._fold()
        return self._byRoute


#: How many distinct URIs L{RequestMetrics} counts before grouping them
#: (request lines are at most 16 KiB, so at worst a few megabytes).
_FOLD_AT = 256


@attrs.define
class Status:
    """
    Everything the operator pages report on.
    """

    sources: Sequence[ISource]
    fetcher: FileFetcher
    requests: RequestMetrics = attrs.field(factory=RequestMetrics)
    private: Optional[PrivateStore] = None
    uploads: Optional[Dict[str, int]] = None
    evictor: Any = None
    startedAt: float = attrs.field(factory=time.time)

    @property
    def upstreams(self) -> List[UpstreamSource]:
        return [s for s in self.sources if isinstance(s, UpstreamSource)]

    def health(self, discreet: bool = False) -> Dict[str, Any]:
        """
        The health report: serving, and how each upstream did last time.

        @param discreet: leave out each upstream's URL (which may hold a
            token) and last error (which names it), for whoever asks
            without credentials when reads need them.
        """
        report: Dict[str, Any] = {
            "status": "ok",
            "uptime": round(time.time() - self.startedAt, 1),
            "upstreams": [
                {
                    "name": s.name,
                    "url": s.upstream.url,
                    "offline": s.offline,
                    "reachable": None if s.offline else s.reachable,
                    # Left a request unanswered past the patience: stale
                    # pages are served at once until it answers.
                    "slow": False if s.offline else s.slow,
                    "lastSuccess": s.lastSuccessAt,
                    "lastFailure": s.lastFailureAt,
                    "lastError": s.lastError,
                }
                for s in self.upstreams
            ],
        }
        if discreet:
            for upstream in report["upstreams"]:
                del upstream["url"], upstream["lastError"]
        return report

    def hitRate(self) -> Optional[float]:
        """
        The share of page and file requests answered from the cache.
        """
        hits = sum(s.hits for s in self.upstreams) + self.requests.fileHits
        misses = sum(s.requests for s in self.upstreams) + self.requests.fileMisses
        return None if hits + misses == 0 else hits / (hits + misses)

    def families(self) -> List[Family]:
        """
        Every metric, gathered now.
        """
        up = self.upstreams

        def per(attribute: str) -> Dict[Any, float]:
            return {(("upstream", s.name),): float(getattr(s, attribute)) for s in up}

        families = [
            counter("cheesecache_requests_total", "HTTP requests by route and status.",
                    self.requests.requests.values),
            counter("cheesecache_page_cache_hits_total", "Page requests answered from the cache while fresh.", per("hits")),
            counter("cheesecache_page_cache_misses_total", "Page requests that asked the upstream.", per("requests")),
            counter("cheesecache_page_revalidated_total", "Revalidations the upstream answered with 304.", per("notModified")),
            counter("cheesecache_stale_served_total", "Stale pages served because the upstream failed or was slow.", per("staleServed")),
            counter("cheesecache_coalesced_waiters_total", "Requests that joined a fetch already in flight.",
                    {**{(("kind", "page"), ("upstream", s.name)): float(s.coalesced) for s in up},
                     (("kind", "file"), ("upstream", "all")): float(self.fetcher.attached)}),
            counter("cheesecache_file_cache_total", "File responses by cache result.",
                    {(("result", "hit"),): float(self.requests.fileHits),
                     (("result", "miss"),): float(self.requests.fileMisses)}),
            counter("cheesecache_file_downloads_total", "Files fetched from upstreams (one per file, however many clients).", one(self.fetcher.started)),
            counter("cheesecache_file_download_failures_total", "Downloads that failed or did not verify.", one(self.fetcher.failed)),
            counter("cheesecache_bytes_fetched_total", "Bytes received from upstreams for files.", one(self.fetcher.bytesFetched)),
            counter("cheesecache_bytes_served_total", "File bytes sent to clients, by where they came from.",
                    self.requests.bytesServed.values),
            counter("cheesecache_upstream_errors_total", "Upstream requests that failed.",
                    {(("upstream", s.name),): float(s.upstream.errors) for s in up}),
            Family("cheesecache_upstream_request_seconds", "histogram",
                   "Seconds from an upstream request to its response headers.",
                   {(("upstream", s.name),): s.upstream.latency for s in up}),
            gauge("cheesecache_upstream_up", "1 if the last request to the upstream worked.",
                  {(("upstream", s.name),): 1.0 if s.reachable else 0.0 for s in up}),
        ]
        if self.uploads is not None:
            families.append(counter(
                "cheesecache_uploads_total", "Uploads by outcome.",
                {(("result", k),): float(v) for k, v in self.uploads.items()},
            ))
        if self.evictor is not None:
            families.append(counter("cheesecache_evictions_total", "Cached files and pages evicted.",
                                    one(getattr(self.evictor, "evicted", 0))))
            families.append(counter("cheesecache_evicted_bytes_total", "Bytes evicted.",
                                    one(getattr(self.evictor, "evictedBytes", 0))))
        return families


class HealthResource(Resource):
    """
    C{/-/health}: 200 while serving, with each upstream's last outcome.

    @ivar discreet: answer without upstream URLs and errors (see
        L{Status.health}): reads need credentials, and this page does not.
    """

    isLeaf = True

    def __init__(self, status: Status, discreet: bool = False) -> None:
        Resource.__init__(self)
        self.status = status
        self.discreet = discreet

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(self.status.health(self.discreet), indent=1).encode() + b"\n"


class MetricsResource(Resource):
    """
    C{/-/metrics}: Prometheus text format.
    """

    isLeaf = True

    def __init__(self, status: Status) -> None:
        Resource.__init__(self)
        self.status = status

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        return render(self.status.families())


def _upstreamState(upstream: Dict[str, Any]) -> str:
    """
    How an upstream of the health report stands, in words.
    """
    if upstream["offline"]:
        return "offline"
    if upstream["slow"]:
        return "slow to answer: serving cached pages"
    return {True: "reachable", False: "failing", None: "not asked yet"}[upstream["reachable"]]


def landingPage(status: Status) -> bytes:
    """
    The human page at C{/}: private projects, upstreams and their health,
    cache size and hit rate.
    """
    health = status.health()
    rate = status.hitRate()
    private = status.private.projects() if status.private is not None else ()
    cacheSize = getattr(status.evictor, "cacheSize", None)
    size = "not measured (no --max-cache-size)" if cacheSize is None else f"{cacheSize / 1e6:.1f} MB"
    rows = "".join(
        f"<tr><td>{escape(u['name'])}</td><td>{escape(u['url'])}</td>"
        f"<td>{_upstreamState(u)}</td></tr>"
        for u in health["upstreams"]
    )
    projects = "".join(
        f'<li><a href="simple/{escape(n)}/">{escape(n)}</a></li>' for n in private
    ) or "<li>none yet</li>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>cheesecache</title></head><body>"
        "<h1>cheesecache</h1>"
        "<p>A Python package index. Install with "
        "<code>pip install --index-url &lt;this server&gt;/simple/ PROJECT</code>.</p>"
        f"<h2>Private projects</h2><ul>{projects}</ul>"
        f"<h2>Upstreams</h2><table><tr><th>name</th><th>URL</th><th>state</th></tr>{rows}</table>"
        f"<h2>Cache</h2><p>Size: {escape(size)}. Hit rate: "
        f"{'n/a' if rate is None else f'{rate:.0%}'}.</p>"
        '<p><a href="-/health">health</a> · <a href="-/metrics">metrics</a></p>'
        "</body></html>\n"
    ).encode("utf-8")
