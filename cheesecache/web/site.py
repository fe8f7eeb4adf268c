# -*- test-case-name: tests.test_site -*-
"""
The resource tree, and the Site that serves it.
"""

from __future__ import annotations

import functools

from twisted.web import server
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..blobstore import BlobStore
from ..filefetch import FileFetcher
from ..index import Index
from ..metadata import MetadataService, withKnownMetadata
from .files import FilesResource
from .representation import writeError
from .simple import SimpleResource


class RootResource(Resource):
    """
    C{/}: a short landing page, and the parent of everything else.
    """

    def getChild(self, path: bytes, request: IRequest) -> Resource:
        if path == b"" and not request.postpath:
            return self
        return _NotFound()

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return (
            b"cheesecache: a Python package index.\n"
            b"Install with: pip install --index-url <this server>/simple/ <project>\n"
        )


class _NotFound(Resource):
    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return writeError(request, 404, "Not Found")


def makeRoot(
    index: Index, store: BlobStore, fetcher: FileFetcher, metadata: MetadataService
) -> Resource:
    """
    The whole resource tree.
    """
    root = RootResource()
    root.putChild(
        b"simple",
        SimpleResource(index, lambda page: withKnownMetadata(page, store)),
    )
    root.putChild(b"files", FilesResource(index, store, fetcher, metadata))
    return root


def makeSite(root: Resource) -> server.Site:
    """
    A Site for C{root}, with Twisted's own form parsing off (uploads parse
    their bodies themselves).
    """
    site = server.Site(
        root,
        requestFactory=functools.partial(
            server.Request, parsePOSTFormSubmission=False
        ),
    )
    return site
