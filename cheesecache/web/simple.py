# -*- test-case-name: tests.test_simple_resource -*-
"""
C{/simple/} and C{/simple/<project>/}: the Simple Repository API pages.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import NOT_MODIFIED, datetimeToString
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from zope.interface import implementer

from ..coalesce import Coalescer
from ..freshness import PageEntry, discardRendered
from ..index import (
    Found, Index, IPageRendering, Lookup, ProjectNotFound, SourcesUnavailable,
)
from ..simple.model import DistFile, ProjectPage
from ..simple.names import isValidName, normalize
from ..simple.negotiate import negotiate
from ..simple.plain import plainFileHTML, plainFileJSON, plainRun
from ..simple.render import (
    CHUNK_ITEMS,
    JSON_TYPE,
    PROJECT_HTML_TAIL,
    TEXT_HTML,
    ProjectJSONWriter,
    fileHTML,
    fileJSON,
    listHTMLChunks,
    listJSONChunks,
    projectHTMLChunks,
    projectHTMLHead,
    projectJSONChunks,
)
from ..via import UPSTREAM_FAILED, requestVia
from .asyncrender import renderLater
from .representation import (
    NotFound,
    PageUnavailable,
    RenderedStore,
    Representation,
    RepresentationWriter,
    chosenFor,
    representationOf,
    responseHead,
    writeError,
    writeLoopDetected,
    writeRetryLater,
    writeRepresentation,
)

log = Logger()

#: How many project resources L{SimpleResource} keeps for the next request.
PROJECT_RESOURCES = 1024

# Pages are rendered in pieces, hashed, compressed and (when big) written to
# disk as they come: see Representation.of and RenderedStore.make.
_PROJECT_RENDERERS: Dict[bool, Callable[[Any], Iterable[bytes]]] = {
    True: projectJSONChunks,
    False: projectHTMLChunks,
}
_LIST_RENDERERS: Dict[bool, Callable[[Any], Iterable[bytes]]] = {
    True: listJSONChunks,
    False: listHTMLChunks,
}


def redirect(request: IRequest, location: str) -> bytes:
    """
    A permanent redirect to a relative C{location}, keeping the query.
    """
    query = request.uri.partition(b"?")[2]
    target = location.encode("utf-8") + (b"?" + query if query else b"")
    request.setResponseCode(301)
    request.setHeader(b"Location", target)
    request.setHeader(b"Vary", b"Accept, Accept-Encoding")
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return b"" if request.method == b"HEAD" else b"Moved Permanently\n"


def failPage(request: IRequest, failure: Failure) -> bytes:
    """
    The error answer for a page that could not be found or fetched.
    """
    request.setHeader(b"Vary", b"Accept, Accept-Encoding")
    if failure.check(ProjectNotFound):
        return writeError(
            request, 404, f"Not Found: no index knows {failure.value}", maxAge=60
        )
    if failure.check(SourcesUnavailable):
        if failure.value.looped:
            return writeLoopDetected(request, failure.value)
        if failure.value.retryAfter is not None:
            return writeRetryLater(
                request, failure.value.retryAfter, f"nothing is cached; {failure.value}"
            )
        request.setHeader(b"Proxy-Status", UPSTREAM_FAILED)
        return writeError(
            request,
            502,
            f"Bad Gateway: the upstream index failed and nothing is cached"
            f" ({failure.value})",
            phrase=True,
        )
    failure.raiseException()
    return b""  # pragma: no cover


def _respond(  # type: ignore[no-untyped-def]
    renderers: Dict[bool, Callable[[Any], Iterable[bytes]]],
    prepare: Callable[[Any], Any] = lambda content: content,
    scope: str = "public",
    disk: Optional[RenderedStore] = None,
    beforeAnswer: Optional[Callable[[Any, str], "Optional[Deferred[None]]"]] = None,
):
    """
    What answers a request with the page a lookup found.  C{beforeAnswer}
    may first make the representation asked for, when it returns a
    L{Deferred}: the request is then answered once that fires.
    """

    def respond(request: IRequest, result: Any) -> object:
        lookup: Lookup = result.lookup if isinstance(result, Found) else result
        contentType = _negotiated(request)
        render = renderers[contentType == JSON_TYPE]
        answer = _PageAnswer(
            request, lookup.entry, contentType, lambda content: render(prepare(content)),
            scope, disk,
        )
        made = beforeAnswer(result, contentType) if beforeAnswer is not None else None
        if made is not None:
            return renderLater(request, made, answer.answerAfter, failPage)
        return answer.answer(retry=True)

    return respond


@attrs.frozen
class _PageAnswer:
    """
    Answering one request with one representation of a page.

    A class rather than closures that call each other: those would make a
    reference cycle holding the request, so every request's objects would
    wait for the garbage collector (a quarter of a warm request's CPU)
    instead of going when the response is written.
    """

    request: IRequest
    entry: PageEntry
    contentType: str
    render: Callable[[Any], Iterable[bytes]]
    scope: str
    disk: Optional[RenderedStore]

    def answer(self, retry: bool) -> object:
        try:
            rep = representationOf(self.entry, self.contentType, self.render, self.disk)
        except PageUnavailable:
            return failPage(self.request, Failure(SourcesUnavailable(
                "the cached page could not be read back; it is fetched again next time"
            )))
        return self.write(rep, retry)

    def answerAfter(self, request: IRequest, made: object) -> object:
        """
        L{answer}, once what was to be made first is made (see
        L{_respond}).
        """
        return self.answer(retry=True)

    def write(self, rep: Representation, retry: bool) -> object:
        bodies = self.disk.bodies if self.disk is not None else None
        try:
            return writeRepresentation(self.request, rep, self.scope, bodies)
        except FileNotFoundError:
            if not retry:
                raise
            # Its file went (eviction, a wiped folder): render it again.  A
            # big page is rendered without its gzip twin: the headers set for
            # the twin must not label the plain body.
            self.entry.rendered.pop(self.contentType, None)
            self.request.responseHeaders.removeHeader(b"content-encoding")
            return self.answer(retry=False)


@attrs.define(eq=False)
class ProjectResource(Resource):
    """
    C{/simple/<name>/}: one project's page, as HTML or JSON.
    """

    index: Index
    name: str
    prepare: Callable[[ProjectPage], ProjectPage]
    scope: str = "public"
    disk: Optional[RenderedStore] = None
    #: What L{prepare} does to each file.
    prepareFile: Callable[[DistFile], DistFile] = lambda f: f
    #: The representations being made from stored pages (see
    #: L{_htmlFromStored}), shared by the resources of one tree.
    storedRenderings: "Coalescer[None]" = attrs.field(factory=Coalescer)
    _respond: Callable[[IRequest, Any], object] = attrs.field(init=False)
    #: Is L{name} normalized?  (Otherwise a request is redirected.)
    canonical: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)
        self.canonical = normalize(self.name) == self.name
        self._respond = _respond(
            _PROJECT_RENDERERS, self.prepare, self.scope, self.disk, self._htmlFromStored
        )

    def getChild(self, path: bytes, request: IRequest) -> Resource:
        if path == b"" and not request.postpath:
            return self
        return NotFound()

    def _htmlFromStored(self, result: Any, contentType: str) -> "Optional[Deferred[None]]":
        """
        Make the HTML of a page let go from memory (a big one, see
        L{RenderingWhileParsing}) from its stored form, in steps and from
        its plain entries, as its JSON was made when it was fetched: read
        back whole, as a model, on the spot, the page of 4,000 files held
        the reactor for 30 ms.  Requests for it meanwhile wait for the same
        rendering.

        @return: what fires once the HTML is made (or could not be: the
            page is then rendered whole), or C{None} when there is nothing
            to make.
        """
        if contentType == JSON_TYPE or self.disk is None or not isinstance(result, Found):
            return None
        entry = result.lookup.entry
        if result.origins or entry.loaded or not entry.found or contentType in entry.rendered:
            return None
        source = result.source

        def start() -> "Deferred[None]":
            made = source.renderStored(self.name, entry.rendered, contentType)
            if made is None:
                return succeed(None)
            return made.addErrback(self._notMadeFromStored, contentType)

        # The entry's own: a page fetched again meanwhile is made anew.
        return self.storedRenderings.run((id(entry), contentType), start)

    def _notMadeFromStored(self, failure: Failure, contentType: str) -> None:
        log.failure(
            "Could not make the {contentType} of {name} from the stored page;"
            " it is rendered whole",
            failure, contentType=contentType, name=self.name,
        )

    def render_GET(self, request: IRequest) -> object:
        slash = request.path.endswith(b"/")
        canonical = normalize(self.name)
        if not slash or canonical != self.name:
            return redirect(request, (f"../{canonical}/" if slash else f"{canonical}/"))
        respond = self._respond
        found = self.index.projectNow(self.name)
        if found is not None:
            # Warm: answered from memory, no Deferreds.
            return respond(request, found)
        return renderLater(
            request,
            self.index.project(self.name, requestVia(request)),
            respond,
            failPage,
        )

    render_HEAD = render_GET



@attrs.define(eq=False)
class SimpleResource(Resource):
    """
    C{/simple/}: the project list, and the parent of every project page.

    @ivar prepare: applied to a project page before it is rendered.
    """

    index: Index
    prepare: Callable[[ProjectPage], ProjectPage] = lambda page: page
    scope: str = "public"
    disk: Optional[RenderedStore] = None
    #: What L{prepare} does to each file.
    prepareFile: Callable[[DistFile], DistFile] = lambda f: f

    _storedRenderings: "Coalescer[None]" = attrs.field(init=False, factory=Coalescer)
    #: The project resources made lately, by path segment: each request
    #: for a page made one, and what it holds never changes.
    _projects: "OrderedDict[bytes, ProjectResource]" = attrs.field(
        init=False, factory=OrderedDict
    )

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)

    def getChild(self, path: bytes, request: IRequest) -> Resource:
        if path == b"" and not request.postpath:
            return self
        project = self._projects.get(path)
        if project is not None:
            return project
        try:
            name = path.decode("utf-8")
        except UnicodeDecodeError:
            return NotFound()
        if not isValidName(name):
            return NotFound()
        project = ProjectResource(
            self.index, name, self.prepare, self.scope, self.disk, self.prepareFile,
            self._storedRenderings,
        )
        self._projects[path] = project
        if len(self._projects) > PROJECT_RESOURCES:
            self._projects.popitem(last=False)
        return project

    def answerWarm(self, request: IRequest) -> bool:
        """
        Answer a plain C{GET} of a warm project page at once, with the
        bytes L{ProjectResource} would send: the page's rendered body and
        its pre-rendered head (L{responseHead}), in one write, with no
        resource traversal and no header objects.  Those were most of what
        a small warm page cost.  A revalidation (C{If-None-Match}, as pip
        and uv send once their copy is stale) that matches gets its C{304}
        the same way, whatever the page's size.

        Only for a Site whose reads need no credentials: this is asked
        before the resource tree (see L{cheesecache.web.site.PageRequest}).

        @return: C{False}, with nothing done, when the request needs more:
            anything but a C{GET} of a normalized name already asked for,
            over a persistent HTTP/1.1 connection, with no C{Via} (a
            chained cache's loop check), and a page rendered and, unless
            the answer is a 304, in memory.  The Site then processes it as
            usual.
        """
        uri = request.uri
        # Twisted keeps only HTTP/1.1 connections alive (and otherwise adds
        # a Connection: close header): the head is an HTTP/1.1 one.
        if (
            request.method != b"GET"
            or not request.channel.persistent
            or not uri.startswith(b"/simple/")
            or not uri.endswith(b"/")
        ):
            return False
        project = self._projects.get(uri[8:-1])
        if (
            project is None
            or not project.canonical
            or request.requestHeaders.hasHeader(b"via")
        ):
            return False
        found = self.index.projectNow(project.name)
        if found is None or found.origins:
            return False
        rep = found.lookup.entry.rendered.get(_negotiated(request))
        if not isinstance(rep, Representation):
            return False
        compressed, notModified = chosenFor(request, rep)
        body = b"" if notModified else rep.inMemory(
            compressed, self.disk.bodies if self.disk is not None else None
        )
        if body is None:
            return False  # on disk only: the tree sends it with sendfile
        if notModified:
            request.setResponseCode(NOT_MODIFIED)
        before, after = responseHead(rep, compressed, self.scope, notModified)
        request.site = request.channel.site
        request.channel.writeSequence((before, datetimeToString(), after, body))
        request.startedWriting = True
        request.sentLength = len(body)
        request.finish()
        return True

    def render_GET(self, request: IRequest) -> object:
        if not request.path.endswith(b"/"):
            return redirect(request, "simple/")
        return renderLater(
            request,
            self.index.projectList(requestVia(request)),
            _respond(_LIST_RENDERERS, scope=self.scope, disk=self.disk),
            failPage,
        )

    render_HEAD = render_GET


def _negotiated(request: IRequest) -> str:
    """
    The content type C{request} is answered with (see L{negotiate}).  An
    C{Accept} sent on several lines is one list (RFC 9110, 5.3): the last
    line alone, which C{getHeader} gives, could choose HTML for a client
    preferring JSON.
    """
    accept = request.requestHeaders.getRawHeaders(b"accept")
    return negotiate(b", ".join(accept).decode("latin-1") if accept else None)


@implementer(IPageRendering)
@attrs.define
class RenderingWhileParsing:
    """
    A big project page rendered while it is parsed, a few hundred files at
    a time, so that its files are never held together: a page of 15,000
    files made some 13 MB of model, next to its text, at the peak of a cold
    request.  As JSON (what pip, uv, poetry and pdm ask for) when it is
    fetched, and as HTML too when it is very big (see
    L{renderingsWhileParsing}); otherwise as HTML, asked for rarely, from
    the stored page (see L{ProjectResource._htmlFromStored}).

    The HTML head shows the page's name and status, which the JSON gives
    after its files: it is written as that of the project named here,
    without a status, as nearly every page is, and a page that turns out
    otherwise gets nothing (it is rendered whole when asked for).  So does
    one whose disk fails to take the representation, failing nothing else.

    @ivar prepare: applied to each file before it is rendered, as the
        page's C{prepare} is to a whole page.
    @ivar extracted: the wheels C{prepare} changes, by key (see
        L{plainFileJSON}); with it, plain entries are written as they are
        decoded, without the model (L{addPlain}).  C{None}: every file goes
        through the model and C{prepare}.
    """

    disk: RenderedStore
    prepare: Callable[[DistFile], DistFile]
    name: str
    contentType: str = JSON_TYPE
    extracted: Optional[Callable[[str], bool]] = None
    _writer: Optional[ProjectJSONWriter] = attrs.field(init=False, default=None)
    _out: RepresentationWriter = attrs.field(init=False)
    #: The files to write next: their JSON entries, or their HTML links.
    _batch: List[Any] = attrs.field(init=False, factory=list)
    _failed: bool = attrs.field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        self._out = self.disk.writer(self.contentType)
        if self.contentType == JSON_TYPE:
            self._writer = ProjectJSONWriter(self.name)
        else:
            self._write(projectHTMLHead(ProjectPage(name=self.name)))

    def add(self, f: DistFile) -> None:
        f = self.prepare(f)
        self._next(fileJSON(self.name, f) if self._writer is not None else fileHTML(self.name, f))

    def addPlain(self, entry: Any) -> bool:
        listed = self.plainEntry(entry)
        if listed is None:
            return False
        self.addListed(listed)
        return True

    def plainEntry(self, entry: Any) -> Optional[Dict[str, Any]]:
        """
        The JSON entry of the file that C{entry} (as decoded) lists, written
        without the model (L{plainFileJSON}); C{None} if the file must go
        through the model.
        """
        if self.extracted is None:
            return None
        return plainFileJSON(self.name, entry, self.extracted)

    def addRun(self, text: str, start: int, end: int) -> bool:
        """
        The next files, a run of their entries in C{text}, undecoded (see
        L{cheesecache.simple.plain.plainRun}): written as they are here if
        they are plain as JSON, in which case C{True}.
        """
        if self.extracted is None or self._writer is None or self._failed:
            return False
        run = plainRun(self.name, text, start, end)
        if run is None or any(map(self.extracted, run.bare)):
            return False
        self._flush()
        self._write(self._writer.run(run.listed, run.filenames))
        return True

    def addListed(self, listed: Dict[str, Any]) -> None:
        """
        The next file, as L{plainEntry} wrote it.
        """
        self._next(listed if self._writer is not None else plainFileHTML(listed))

    def _next(self, item: Any) -> None:
        if self._failed:
            return
        self._batch.append(item)
        if len(self._batch) >= CHUNK_ITEMS:
            self._flush()

    def _flush(self) -> None:
        """
        Write the files waiting in the batch, if any.
        """
        if self._batch:
            self._write(self._files(self._batch))
            self._batch = []

    def _files(self, batch: List[Any]) -> bytes:
        if self._writer is not None:
            return self._writer.entries(batch)
        return "".join(batch).encode("utf-8")

    def _fits(self, page: ProjectPage) -> bool:
        """
        Does what was written fit C{page}?  File URLs are under the name
        given, and the HTML head shows no status.
        """
        if page.name != self.name:
            return False
        return self._writer is not None or page.status is None

    def _end(self, page: ProjectPage) -> bytes:
        if self._writer is not None:
            return self._writer.end(page)
        return PROJECT_HTML_TAIL

    def _write(self, piece: bytes) -> None:
        if self._failed:
            return
        try:
            self._out.write(piece)
        except OSError as e:
            log.warn(
                "Could not write the {contentType} of {name}: {error}",
                contentType=self.contentType, name=self.name, error=str(e),
            )
            self.abandon()

    def finish(self, page: ProjectPage, rendered: Dict[str, object]) -> None:
        if not self._fits(page):
            self.abandon()
            return
        self._flush()
        self._write(self._end(page))
        if self._failed:
            return
        try:
            rep = self._out.done()
        except OSError as e:
            log.warn(
                "Could not keep the {contentType} of {name}: {error}",
                contentType=self.contentType, name=self.name, error=str(e),
            )
            return
        self.disk.place(rendered, self.contentType, rep)

    def abandon(self) -> None:
        if not self._failed:
            self._failed = True
            self._out.abandon()


#: Pages bigger than this (in bytes, as fetched) are rendered as HTML too
#: while they are parsed.  A big page's HTML is otherwise written, when
#: first asked for, from the stored page, whose bytes and text are then
#: held at once: 6.5 MB each for pydantic-core's 15,000 files was the
#: highest point of the server's memory in the benchmark.  Below this,
#: the HTML, which browsers alone ask for, is not made for every cold
#: fetch: for cryptography's page as the public index writes it (2.3 MB,
#: its wheels listing core metadata) it was 12% of the server's CPU in a
#: cold uv install.
HTML_WHILE_PARSING = 4 * 1024 * 1024


@implementer(IPageRendering)
@attrs.frozen
class Renderings:
    """
    Several representations of one page, made from one parse.
    """

    each: Tuple[RenderingWhileParsing, ...]

    def add(self, f: DistFile) -> None:
        for rendering in self.each:
            rendering.add(f)

    def addRun(self, text: str, start: int, end: int) -> bool:
        # The HTML is written from decoded entries.
        return False

    def addPlain(self, entry: Any) -> bool:
        # One entry, written once, for all: they render the same page.
        listed = self.each[0].plainEntry(entry)
        if listed is None:
            return False
        for rendering in self.each:
            rendering.addListed(listed)
        return True

    def finish(self, page: ProjectPage, rendered: Dict[str, object]) -> None:
        for rendering in self.each:
            rendering.finish(page, rendered)

    def abandon(self) -> None:
        for rendering in self.each:
            rendering.abandon()


def renderingsWhileParsing(
    disk: RenderedStore,
    prepare: Callable[[DistFile], DistFile],
    name: str,
    size: int,
    contentType: Optional[str] = None,
    extracted: Optional[Callable[[str], bool]] = None,
) -> IPageRendering:
    """
    What renders the big JSON page of C{name}, of C{size} bytes, while it
    is parsed (L{UpstreamSource.renderWhileParsing}): as C{contentType}
    alone, if given; otherwise its JSON, and, when it is over
    L{HTML_WHILE_PARSING}, its HTML as C{text/html} too (what browsers get;
    below that, or as the rarer C{application/vnd.pypi.simple.v1+html}, it
    is made from the stored page when first asked for).  C{extracted}: see
    L{RenderingWhileParsing}.
    """
    if contentType is not None:
        return RenderingWhileParsing(disk, prepare, name, contentType, extracted=extracted)
    json = RenderingWhileParsing(disk, prepare, name, extracted=extracted)
    if size <= HTML_WHILE_PARSING:
        return json
    html = RenderingWhileParsing(disk, prepare, name, TEXT_HTML, extracted=extracted)
    return Renderings((json, html))


@attrs.define(eq=False)
class Rerenderer:
    """
    Renders a project's cached page again a while after what it shows
    grew: metadata cheesecache extracted from a wheel it has just cached.

    Forgetting the rendering instead put a render of the whole page (for
    the biggest pages, reading it back from disk too) in the way of the
    next client, and an install that had just fetched twenty wheels paid it
    twenty times.  Meanwhile clients get the previous rendering, which is
    still true, only without the new metadata; several extractions within
    C{delay} make one render.
    """

    index: Index
    clock: IReactorTime
    prepare: Callable[[ProjectPage], ProjectPage]
    disk: Optional[RenderedStore] = None
    delay: float = 10.0
    _pending: Dict[str, Any] = attrs.field(factory=dict)

    def soon(self, name: str) -> None:
        """
        Render project C{name}'s page again in a while.
        """
        if name not in self._pending:
            self._pending[name] = self.clock.callLater(self.delay, self._render, name)

    def _render(self, name: str) -> None:
        del self._pending[name]
        found = self.index.projectNow(name)
        if found is not None and not found.lookup.entry.loaded and not found.origins:
            # A big page let go from memory: rendered from the stored page
            # in steps, not read back whole on the spot.
            entry = found.lookup.entry
            before = entry.rendered.get(JSON_TYPE)
            again = found.source.renderStored(name, entry.rendered)
            if again is not None:
                # The other representations are made again when next asked
                # for, from the stored page.
                for contentType in [t for t in entry.rendered if t != JSON_TYPE]:
                    self._discard(entry.rendered.pop(contentType))
                again.addCallbacks(
                    lambda _: self._renderedAgain(name, entry.rendered, before),
                    lambda failure: self._notRenderedAgain(name, failure),
                )
                return
        content = found.lookup.entry.content if found is not None else None
        if found is None or content is None:
            # Not in memory as one source's page (merged, stale, gone):
            # the next request renders it.
            self.index.forgetRendered(name)
            return
        entry = found.lookup.entry
        for contentType in list(entry.rendered):
            render = _PROJECT_RENDERERS[contentType == JSON_TYPE]
            body = render(self.prepare(content))
            if self.disk is None:
                self._swap(entry, contentType, Representation.of(contentType, body))
                continue
            self._swap(entry, contentType, self.disk.make(contentType, body))

    def _renderedAgain(
        self, name: str, rendered: Dict[str, object], before: Optional[object]
    ) -> None:
        """
        A page's JSON was rendered again into C{rendered}: the one it
        replaced goes; all of it goes if the page was replaced meanwhile.
        """
        if getattr(rendered.get(JSON_TYPE), "path", None) != getattr(before, "path", None):
            self._discard(before)
        else:
            # Not made again (the page did not fit what was rendered).
            self.index.forgetRendered(name)
        found = self.index.projectNow(name)
        if found is None or found.lookup.entry.rendered is not rendered:
            discardRendered(rendered, self._discard)

    def _discard(self, rep: object) -> None:
        if self.disk is not None and rep is not None:
            self.disk.discard(rep)

    def _notRenderedAgain(self, name: str, failure: Failure) -> None:
        log.failure(
            "Could not render {name} again; it is rendered when next asked for",
            failure, name=name,
        )
        self.index.forgetRendered(name)

    def _swap(self, entry: Any, contentType: str, new: Representation) -> None:
        """
        Serve C{new} from now on, in place of what was rendered before.
        """
        old = entry.rendered.get(contentType)
        if self.disk is None:
            entry.rendered[contentType] = new
            return
        self.disk.place(entry.rendered, contentType, new)
        if old is not None and getattr(old, "path", None) != new.path:
            self.disk.discard(old)

    def stop(self) -> None:
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()

