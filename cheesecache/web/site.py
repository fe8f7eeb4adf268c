# -*- test-case-name: tests.test_site -*-
"""
The resource tree, and the Site that serves it.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

from twisted.logger import Logger
from twisted.web import server
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..auth import Authenticator, ReadGuard
from ..blobstore import BlobStore
from ..filefetch import FileFetcher
from ..index import Index
from ..logs import AccessLogFile, BufferedLogObserver
from ..metadata import MetadataService, fileWithKnownMetadata, withKnownMetadata
from ..private import PrivateStore
from ..via import MAX_HOPS, MAX_LENGTH, isOverlong, requestVia
from .channel import ForwardedFor, GuardedRequest, GuardedSite
from .files import FilesResource
from .manage import ACTIONS, ManageAction
from .representation import NotFound, RenderedStore, securityHeaders, writeError
from .status import HealthResource, MetricsResource, Status, landingPage
from .simple import Rerenderer, SimpleResource, renderingsWhileParsing
from .upload import UploadResource
from .warmresource import WarmResource

log = Logger()


class RootResource(Resource):
    """
    C{/}: a short landing page, the upload endpoint for clients configured
    with the bare server URL, and the parent of everything else.
    """

    def __init__(self, upload: Optional[Resource] = None, status: Optional[Status] = None) -> None:
        Resource.__init__(self)
        self.upload = upload
        self.status = status

    def getChild(self, path: bytes, request: IRequest) -> Resource:
        if path == b"" and not request.postpath:
            return self
        return NotFound()

    def render_POST(self, request: IRequest) -> object:
        if self.upload is None:
            return writeError(request, 405, "Method Not Allowed")
        return self.upload.render(request)

    def render_GET(self, request: IRequest) -> bytes:
        if self.status is None:
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return (
                b"cheesecache: a Python package index.\n"
                b"Install with: pip install --index-url <this server>/simple/ <project>\n"
            )
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        securityHeaders(request)
        return landingPage(self.status)


class _Directory(Resource):
    """
    A node whose children answer; itself, and unknown children, are 404.
    """

    def getChild(self, path: bytes, request: IRequest) -> Resource:
        return NotFound()

    def render(self, request: IRequest) -> bytes:
        return writeError(request, 404, "Not Found")



class PageRequest(GuardedRequest):
    """
    A request that a warm project page may answer before the resource
    tree is walked (see L{SimpleResource.answerWarm}): the Site's
    C{warmPages}, when its reads need no credentials.
    """

    def process(self) -> None:
        warmPages = self.channel.site.warmPages
        if warmPages is not None:
            try:
                if warmPages.answerWarm(self):
                    return
            except Exception:
                # A fault here must cost no more than the tree's answer
                # (the tree turns its own faults into a 500).
                log.failure("Could not answer {uri} as a warm page", uri=self.uri)
                if self.startedWriting:
                    self.channel.transport.abortConnection()
                    return
        server.Request.process(self)


class ForwardedPageRequest(ForwardedFor, PageRequest):
    """
    A L{PageRequest} from behind trusted reverse proxies.
    """


class LoopGuard(Resource):
    """
    Refuses (508 Loop Detected) any request that already passed through this
    cheesecache, as its C{Via} chain shows: chained caches configured in a
    circle would otherwise ask each other forever.
    """

    def __init__(
        self, wrapped: Resource, pseudonym: str, warmPages: Optional[SimpleResource] = None
    ) -> None:
        Resource.__init__(self)
        self.wrapped = wrapped
        self.pseudonym = pseudonym
        #: What answers warm pages ahead of this tree, for the Site (see
        #: L{PageRequest}): given only when reads need no credentials.
        self.warmPages = warmPages

    def _refusal(self, request: IRequest) -> Optional[Resource]:
        """
        What answers C{request} instead of the tree, if its C{Via} chain
        is refused: one that holds this cheesecache, or is longer than any
        chain of caches (see L{isOverlong}).
        """
        chain = requestVia(request)
        if not chain:
            return None
        if self.pseudonym in chain:
            return _LoopDetected()
        if isOverlong(chain):
            return _OverlongVia()
        return None

    def getChildWithDefault(self, path: bytes, request: IRequest) -> Resource:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self.wrapped.getChildWithDefault(path, request)

    def render(self, request: IRequest) -> bytes:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal.render(request)  # type: ignore[no-any-return]
        return self.wrapped.render(request)  # type: ignore[no-any-return]


class _LoopDetected(Resource):
    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        log.error(
            "Loop detected: a request for {uri} came back to us through {via}",
            uri=request.uri, via=b", ".join(request.requestHeaders.getRawHeaders(b"via", [])),
        )
        return writeError(
            request, 508, "Loop Detected: this request already passed through"
            " this cheesecache; check the upstream configuration",
        )


class _OverlongVia(Resource):
    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return writeError(
            request, 400, f"Bad Request: the Via header is longer than any chain of"
            f" caches (at most {MAX_HOPS} hops, {MAX_LENGTH} bytes)",
        )


def makeRoot(
    index: Index,
    store: BlobStore,
    fetcher: FileFetcher,
    metadata: MetadataService,
    pseudonym: str = "cheesecache",
    private: Optional[PrivateStore] = None,
    authenticator: Optional[Authenticator] = None,
    reactor: Any = None,
    readAuth: bool = False,
    status: Optional[Status] = None,
    accessLog: Optional[Any] = None,
    clock: Optional[Any] = None,
) -> Resource:
    """
    The whole resource tree.

    @param private: the private store; with it come the upload and
        management endpoints.
    @param authenticator: checks credentials for uploads and management
        (and every read with C{readAuth}).
    @param clock: schedules background work (C{reactor} if not given).
    """
    upload = None
    if private is not None:
        upload = UploadResource(private, authenticator, fetcher.blocking)
    root = RootResource(upload, status)
    manage = _Directory()
    root.putChild(b"-", manage)
    if upload is not None:
        root.putChild(b"legacy", upload)
        for action in ACTIONS:
            manage.putChild(
                action.encode(),
                ManageAction(private, authenticator, action, fetcher.blocking),
            )
    manage.putChild(b"warm", WarmResource(authenticator, reactor, fetcher.settled))
    if status is not None:
        if upload is not None:
            status.uploads = upload.outcomes
        manage.putChild(b"health", HealthResource(status, discreet=readAuth))
        manage.putChild(b"metrics", MetricsResource(status))
    scope = "private" if readAuth else "public"
    clock = clock or reactor
    disk = RenderedStore(store.dataDir.child("rendered"), blocking=fetcher.blocking, clock=clock)
    disk.clear()
    index.discard = disk.discard
    prepare = lambda page: withKnownMetadata(page, metadata.known)  # noqa: E731
    prepareFile = lambda f: fileWithKnownMetadata(f, metadata.known)  # noqa: E731
    for source in index.sources:
        if hasattr(source, "discard"):
            source.discard = disk.discard
        if hasattr(source, "renderWhileParsing"):
            source.renderWhileParsing = functools.partial(
                renderingsWhileParsing, disk, prepareFile, extracted=metadata.known.extracted
            )
    simple = SimpleResource(index, prepare, scope, disk, prepareFile)
    root.putChild(b"simple", simple)
    files = FilesResource(index, store, fetcher, metadata, scope, accessLog, clock=clock)
    if clock is not None:
        files.onMetadata = Rerenderer(index, clock, prepare, disk).soon
    root.putChild(b"files", files)
    if readAuth:
        if authenticator is None:
            raise ValueError("--read-auth needs a users file")
        return LoopGuard(ReadGuard(root, authenticator), pseudonym)
    return LoopGuard(root, pseudonym, warmPages=simple)


def isUpload(method: bytes, path: bytes) -> bool:
    """
    Is a request with this method and path (as sent) an upload, whose body
    may be as big as a file?  Others have bodies of a requirements file or
    a yank's reason at most (see L{GuardedChannel.maxSmallBodySize}).
    """
    return method == b"POST" and path.partition(b"?")[0] in _UPLOAD_PATHS


#: Where twine uploads: the upload endpoint, or the bare server URL.
_UPLOAD_PATHS = frozenset([b"/", b"/legacy", b"/legacy/"])


def makeSite(
    root: Resource,
    status: Optional[Status] = None,
    logObserver: Optional[BufferedLogObserver] = None,
    **channelSettings: Any,
) -> server.Site:
    """
    A Site for C{root}: deadlines against slow clients (see
    L{GuardedChannel}; C{channelSettings} override them), and Twisted's own
    form parsing off (uploads parse their bodies themselves).

    @param logObserver: twistd's observer, if cheesecache made it: the
        access log is written to it directly.
    @param channelSettings: with C{trustedProxies}, requests are
        L{ForwardedFor} them.
    """
    request = ForwardedPageRequest if channelSettings.get("trustedProxies") else PageRequest
    site = GuardedSite(
        root, requestFactory=functools.partial(request, parsePOSTFormSubmission=False)
    )
    site.warmPages = getattr(root, "warmPages", None)
    if logObserver is not None:
        site.accessLogFile = AccessLogFile(logObserver)
    site.channelSettings["takesBigBody"] = isUpload
    site.channelSettings.update(channelSettings)
    if status is not None:
        site.requestObservers.append(status.requests.record)
    return site
