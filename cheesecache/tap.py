# -*- test-case-name: tests.test_tap -*-
"""
C{twistd cheesecache}: command-line options and the service they make.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.filepath import FilePath

log = Logger()


def defaultDataDir() -> str:
    """
    Where cached pages and files live unless C{--data-dir} says otherwise.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "cheesecache")


class Options(usage.Options):
    """
    Options of C{twistd cheesecache}.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve a Python package index (PEP 503/691) that caches the upstream"
        " indexes given with --upstream (default: the index pip is configured"
        " to use)."
    )

    optParameters = [
        ["data-dir", "d", None, "Directory for cached pages and files."],
        ["index-ttl", None, 600.0, "Seconds an upstream page stays fresh.", float],
    ]

    def __init__(self) -> None:
        usage.Options.__init__(self)
        self["listen"] = []
        self["upstream"] = []

    def opt_listen(self, endpoint: str) -> None:
        """
        Listen on this endpoint (repeatable; default tcp:3141).
        """
        self["listen"].append(endpoint)

    def opt_upstream(self, url: str) -> None:
        """
        An upstream index URL (repeatable, in order of preference).
        """
        self["upstream"].append(url)

    def postOptions(self) -> None:
        if not self["listen"]:
            self["listen"] = ["tcp:3141"]
        if not self["data-dir"]:
            self["data-dir"] = defaultDataDir()
        if self["index-ttl"] < 0:
            raise usage.UsageError("--index-ttl must not be negative")
        if not self["upstream"]:
            from .pipconfig import NoDefaultIndex, defaultIndexURL

            try:
                self["upstream"] = [defaultIndexURL()]
            except NoDefaultIndex as e:
                raise usage.UsageError(str(e))
        for url in self["upstream"]:
            if not url.startswith(("http://", "https://")):
                raise usage.UsageError(f"--upstream must be an http(s) URL: {url!r}")


class CheesecacheService(service.MultiService):
    """
    The whole server: its listening ports, and the upstream connection pool
    to close on stop.
    """

    def __init__(self, pool: Any) -> None:
        service.MultiService.__init__(self)
        self.pool = pool

    def stopService(self) -> "Deferred[None]":
        d = service.MultiService.stopService(self)
        d.addCallback(lambda _: self.pool.closeCachedConnections())
        return d


def makeService(options: Options, reactor: Optional[Any] = None) -> service.IService:
    """
    Build the service described by C{options}.
    """
    if reactor is None:
        from twisted.internet import reactor  # type: ignore[no-redef]
    import treq
    from twisted.web.client import Agent, HTTPConnectionPool, RedirectAgent

    from .blobstore import BlobStore
    from .filefetch import FileFetcher
    from .freshness import Policy
    from .index import Index, UpstreamSource
    from .metadata import MetadataService
    from .pagestore import PageStore
    from .upstream import Upstream
    from .web.site import makeRoot, makeSite

    dataDir = FilePath(os.path.abspath(options["data-dir"]))
    dataDir.makedirs(ignoreExistingDirectory=True)
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 16
    agent = Agent(reactor, pool=pool, connectTimeout=30)
    client = treq.client.HTTPClient(agent)
    pages = PageStore(dataDir.child("pages"))
    policy = Policy(ttl=options["index-ttl"])
    sources: List[UpstreamSource] = []
    for url in options["upstream"]:
        upstream = Upstream.fromURL(url, client, RedirectAgent(agent), reactor)
        sources.append(UpstreamSource(upstream, pages, reactor, policy))
        log.info("Upstream index: {url}", url=upstream.url)
    store = BlobStore(dataDir)
    store.cleanTemporary()
    root = makeRoot(
        Index(sources),
        store,
        FileFetcher(store, reactor),
        MetadataService(store, reactor),
    )
    site = makeSite(root)
    top = CheesecacheService(pool)
    for description in options["listen"]:
        endpoint = endpoints.serverFromString(reactor, description)
        StreamServerEndpointService(endpoint, site).setServiceParent(top)
    log.info("Data directory: {path}", path=dataDir.path)
    return top
