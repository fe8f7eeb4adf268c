"""
Tests for L{cheesecache.web.simple}: the Simple API pages over real HTTP.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import os
from html.parser import HTMLParser
from typing import Callable, Iterator, Optional

import attrs
import treq

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import cooperate
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.static import Data
from twisted.web.http_headers import Headers
from twisted.web.test.requesthelper import DummyRequest

from cheesecache.simple.model import DistFile, ProjectPage
from cheesecache.freshness import PageEntry, Validators
from cheesecache.index import Found, Lookup, UpstreamSource
from cheesecache.pagestore import PageStore
from cheesecache.simple.parse import fileFromJSON
from cheesecache.simple.plain import plainFileJSON
from cheesecache.simple.render import JSON_TYPE, TEXT_HTML, renderProjectHTML, renderProjectJSON
from cheesecache.web import representation as representationModule
from cheesecache.web.representation import IN_MEMORY_LIMIT, TWIN_DELAY, RenderedStore, Representation
from cheesecache.web import simple as simpleModule
from cheesecache.web.representation import NotFound
from cheesecache.web.simple import ProjectResource, RenderingWhileParsing, SimpleResource

from .fakeindex import Dist, FakeIndex, listen
from .harness import JSON_ACCEPT, Harness, header, httpClient, serveIndex, sleep
from .test_chain import fileURL
from .test_index import bigProjectIndex, sampleIndex

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list = []
        self.meta: dict = {}

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag == "a":
            self.anchors.append(dict(attrs))
        if tag == "meta":
            d = dict(attrs)
            self.meta[d.get("name")] = d.get("content")


def anchors(body: bytes) -> Anchors:
    parser = Anchors()
    parser.feed(body.decode("utf-8"))
    return parser


def servePages(testCase: TestCase, pages: dict) -> str:
    """
    Serve an upstream whose Simple pages are exactly C{pages} (by project
    name, C{""} for the root list), as JSON; returns its Simple URL.
    """
    root, simple = Resource(), Resource()
    root.putChild(b"simple", simple)
    for name, data in pages.items():
        page = Data(json.dumps(data).encode(), JSON_ACCEPT)
        if name:
            project = Resource()
            project.putChild(b"", page)
            simple.putChild(name.encode(), project)
        else:
            simple.putChild(b"", page)
    port, url = listen(root)
    testCase.addCleanup(port.stopListening)
    return url + "/simple/"


class ProjectPageTests(TestCase):
    """
    C{/simple/<name>/}.
    """

    def setUp(self) -> None:
        self.upstream = sampleIndex()
        self.harness = Harness(self, [serveIndex(self, self.upstream)])

    @inlineCallbacks
    def test_json(self):  # type: ignore[no-untyped-def]
        """
        pip's Accept header gets PEP 691 JSON with our own relative file
        URLs, PEP 592/700 fields, and no null values.
        """
        response, body = yield self.harness.get("/simple/alpha/", {"Accept": PIP_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertEqual(header(response, "content-type"), JSON_ACCEPT)
        self.assertIn("Accept", header(response, "vary"))
        data = json.loads(body)
        self.assertEqual(data["name"], "alpha")
        self.assertEqual(data["meta"]["api-version"], "1.1")
        self.assertEqual(sorted(data["versions"]), ["0.9", "1.0"])
        files = {f["filename"]: f for f in data["files"]}
        sdist = files["alpha-0.9.tar.gz"]
        self.assertEqual(sdist["yanked"], "broken")
        self.assertTrue(sdist["url"].startswith("../../files/alpha/"))
        self.assertTrue(sdist["url"].endswith("/alpha-0.9.tar.gz"))
        self.assertEqual(sdist["size"], len(self.upstream.projects["alpha"][1].data))
        self.assertEqual(sdist["upload-time"], "2026-01-02T03:04:05.123456Z")
        self.assertEqual(files["alpha-1.0-py3-none-any.whl"]["requires-python"], ">=3.8,<4")
        for f in data["files"]:
            self.assertNotIn(None, f.values())
            self.assertNotIn("?", f["url"])
            self.assertNotIn("dist-info-metadata", f)

    @inlineCallbacks
    def test_html(self):  # type: ignore[no-untyped-def]
        """
        No Accept header gets PEP 503 HTML with the repository-version meta,
        escaped requires-python, and a valued data-yanked.
        """
        response, body = yield self.harness.get("/simple/alpha/")
        self.assertEqual(response.code, 200)
        self.assertTrue(header(response, "content-type").startswith("text/html"))
        self.assertIn(b'data-requires-python="&gt;=3.8,&lt;4"', body)
        parsed = anchors(body)
        self.assertEqual(parsed.meta["pypi:repository-version"][:2], "1.")
        byText = {a["href"].rsplit("#")[0].rsplit("/", 1)[1]: a for a in parsed.anchors}
        self.assertEqual(byText["alpha-0.9.tar.gz"]["data-yanked"], "broken")
        self.assertNotIn("data-yanked", byText["alpha-1.0-py3-none-any.whl"])
        for a in parsed.anchors:
            self.assertRegex(a["href"], r"#sha256=[0-9a-f]{64}$")

    @inlineCallbacks
    def test_acceptOnSeveralLines(self):  # type: ignore[no-untyped-def]
        """
        An Accept header sent on several lines is one list (RFC 9110,
        5.3): JSON first and text/html at q=0.01 on the next line gets
        JSON, whether the page is rendered for the request or already
        (and answered on a persistent connection).
        """
        agent, _ = httpClient(self, persistent=True)
        for _ in range(3):
            response = yield agent.request(
                b"GET", (self.harness.url + "/simple/alpha/").encode(),
                Headers({b"Accept": [JSON_ACCEPT.encode(), b"text/html;q=0.01"]}),
            )
            body = yield treq.content(response)
            self.assertEqual(header(response, "content-type"), JSON_ACCEPT)
            self.assertEqual(json.loads(body)["name"], "alpha")

    @inlineCallbacks
    def test_vendorHTMLType(self):  # type: ignore[no-untyped-def]
        """
        Asking for the versioned HTML type gets that type back.
        """
        response, _ = yield self.harness.get(
            "/simple/alpha/", {"Accept": "application/vnd.pypi.simple.v1+html"}
        )
        self.assertEqual(
            header(response, "content-type"),
            "application/vnd.pypi.simple.v1+html; charset=utf-8",
        )

    @inlineCallbacks
    def test_etagPerRepresentation(self):  # type: ignore[no-untyped-def]
        """
        HTML and JSON carry different strong ETags; If-None-Match with the
        matching one gets a 304 with ETag, Cache-Control and Vary, and the
        other representation's ETag gets a 200.
        """
        jsonResponse, _ = yield self.harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        htmlResponse, _ = yield self.harness.get("/simple/alpha/")
        jsonTag = header(jsonResponse, "etag")
        self.assertNotEqual(jsonTag, header(htmlResponse, "etag"))
        self.assertTrue(jsonTag.startswith('"'))
        response, body = yield self.harness.get(
            "/simple/alpha/", {"Accept": JSON_ACCEPT, "If-None-Match": jsonTag}
        )
        self.assertEqual(response.code, 304)
        self.assertEqual(body, b"")
        self.assertEqual(header(response, "etag"), jsonTag)
        self.assertIn("max-age=", header(response, "cache-control"))
        self.assertIn("Accept", header(response, "vary"))
        response, _ = yield self.harness.get(
            "/simple/alpha/", {"If-None-Match": jsonTag}
        )
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_etagInAList(self):  # type: ignore[no-untyped-def]
        """
        If-None-Match names the page's ETag in a list (with or without
        spaces) or weakened (RFC 9110, 13.1.2): a 304, whether the page is
        rendered for the request or served as already rendered.
        """
        response, _ = yield self.harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        tag = header(response, "etag")
        for value in [f'{tag}, "other"', f'"other",{tag}', f"W/{tag}", "*"]:
            self.harness.index.forgetRendered("alpha")
            for _ in range(2):
                response, body = yield self.harness.get(
                    "/simple/alpha/", {"Accept": JSON_ACCEPT, "If-None-Match": value}
                )
                self.assertEqual((response.code, body), (304, b""), value)
                self.assertEqual(header(response, "etag"), tag)
        response, _ = yield self.harness.get(
            "/simple/alpha/", {"Accept": JSON_ACCEPT, "If-None-Match": '"other", W/"x"'}
        )
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_gzip(self):  # type: ignore[no-untyped-def]
        """
        A client accepting gzip gets the compressed twin of the same page.
        """
        plain, plainBody = yield self.harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        response, body = yield self.harness.get(
            "/simple/alpha/", {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip, deflate"}
        )
        self.assertEqual(header(response, "content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(body), plainBody)
        self.assertIn("Accept-Encoding", header(response, "vary"))
        self.assertNotEqual(header(response, "etag"), header(plain, "etag"))

    @inlineCallbacks
    def test_head(self):  # type: ignore[no-untyped-def]
        """
        HEAD gets the GET's headers and no body.
        """
        get, body = yield self.harness.get("/simple/alpha/")
        head, headBody = yield self.harness.get("/simple/alpha/", method="HEAD")
        self.assertEqual(head.code, 200)
        self.assertEqual(headBody, b"")
        self.assertEqual(header(head, "content-length"), str(len(body)))
        self.assertEqual(header(head, "content-type"), header(get, "content-type"))

    @inlineCallbacks
    def test_redirects(self):  # type: ignore[no-untyped-def]
        """
        Non-normalized names and missing slashes get a 301 to the
        normalized URL (relative, so it works behind any prefix).
        """
        for path, location in [
            ("/simple/Alpha/", "../alpha/"),
            ("/simple/Alpha", "alpha/"),
            ("/simple/alpha", "alpha/"),
            ("/simple/FrIeNdLy-._.-bArD/", "../friendly-bard/"),
            ("/simple", "simple/"),
        ]:
            response, _ = yield self.harness.get(path)
            self.assertEqual((path, response.code), (path, 301))
            self.assertEqual(header(response, "location"), location)
            self.assertIn("Accept", header(response, "vary"))

    @inlineCallbacks
    def test_unknownProject(self):  # type: ignore[no-untyped-def]
        """
        A project no upstream knows is a 404 with a short cache lifetime.
        """
        response, body = yield self.harness.get("/simple/no-such-thing/")
        self.assertEqual(response.code, 404)
        self.assertIn(b"no-such-thing", body)
        self.assertIn("max-age=60", header(response, "cache-control"))

    @inlineCallbacks
    def test_badNames(self):  # type: ignore[no-untyped-def]
        """
        Names that cannot be project names (traversal, NUL, separators) are
        404s and never reach the upstream.
        """
        for path in ["/simple/..%2F..%2Fetc/", "/simple/%00/", "/simple/a%2Fb/", "/simple/-x-/"]:
            response, _ = yield self.harness.get(path)
            self.assertEqual((path, response.code), (path, 404))
        self.assertEqual(
            [p for _, p, _ in self.upstream.requests if p != b"/simple/"], []
        )

    @inlineCallbacks
    def test_nonASCIINames(self):  # type: ignore[no-untyped-def]
        """
        A name with a letter outside ASCII is a 404, though it lower-cases
        to ASCII (the Kelvin sign) or to two characters (the dotted
        capital I): never a 301 to another name, or with a Location that
        is not ASCII.
        """
        for path in ["/simple/%E2%84%AA/", "/simple/%C4%B0/", "/simple/fo%C4%B0o"]:
            response, _ = yield self.harness.get(path)
            self.assertEqual((path, response.code), (path, 404))
            self.assertIsNone(header(response, "location"))

    @inlineCallbacks
    def test_upstreamDown(self):  # type: ignore[no-untyped-def]
        """
        With the upstream failing and nothing cached: 502 with a message.
        With a cached copy: 200, the stale copy.
        """
        yield self.harness.get("/simple/alpha/")
        self.upstream.down = True
        self.harness.clock.advance(10_000)
        response, body = yield self.harness.get("/simple/alpha/")
        self.assertEqual(response.code, 200)
        self.assertIn(b"alpha-1.0-py3-none-any.whl", body)
        response, body = yield self.harness.get("/simple/beta/")
        self.assertEqual(response.code, 502)
        self.assertIn(b"upstream", body)
        # The reason too, which is what pip shows of it.
        self.assertEqual(response.phrase + b"\n", body)


class UpstreamValuesTests(TestCase):
    """
    Values an upstream gives that are not what the specification says they
    are: the pages served are still what clients read.
    """

    @inlineCallbacks
    def test_projectStatusNotText(self):  # type: ignore[no-untyped-def]
        """
        A project status whose reason is not text: both pages are served
        (not a 500), the status kept and the reason left out, and the JSON
        never gives a reason that is not a string (uv refuses such a page).
        """
        url = servePages(self, {"foo": {
            "meta": {"api-version": "1.4"},
            "name": "foo",
            "project-status": {"status": "archived", "reason": 5},
            "files": [],
        }})
        harness = Harness(self, [url])
        response, body = yield harness.get("/simple/foo/")
        self.assertEqual(response.code, 200)
        self.assertEqual(anchors(body).meta.get("pypi:project-status"), "archived")
        self.assertNotIn("pypi:project-status-reason", anchors(body).meta)
        response, body = yield harness.get("/simple/foo/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(body)["project-status"], {"status": "archived"})

    @inlineCallbacks
    def test_projectStatusWithoutTextStatus(self):  # type: ignore[no-untyped-def]
        """
        A project status whose status is not text is no status at all, not
        the status C{"None"}.
        """
        url = servePages(self, {"foo": {
            "meta": {"api-version": "1.4"},
            "name": "foo",
            "project-status": {"status": None, "reason": "r"},
            "files": [],
        }})
        harness = Harness(self, [url])
        response, body = yield harness.get("/simple/foo/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertNotIn("project-status", json.loads(body))
        response, body = yield harness.get("/simple/foo/")
        self.assertNotIn("pypi:project-status", anchors(body).meta)

    @inlineCallbacks
    def test_fileURLNotEncoded(self):  # type: ignore[no-untyped-def]
        """
        A file whose upstream link has a space in it (which pip fetches
        percent-encoded) is fetched, not refused as an invalid URI (a 502).
        """
        data = b"hello"
        sha = hashlib.sha256(data).hexdigest()
        root, simple, files, project = Resource(), Resource(), Resource(), Resource()
        root.putChild(b"simple", simple)
        root.putChild(b"files", files)
        simple.putChild(b"foo", project)
        project.putChild(b"", Data(
            f'<a href="/files/foo 1.0.tar.gz#sha256={sha}">x</a>'.encode(), "text/html"
        ))
        files.putChild(b"foo 1.0.tar.gz", Data(data, "application/octet-stream"))
        port, url = listen(root)
        self.addCleanup(port.stopListening)
        harness = Harness(self, [url + "/simple/"])
        response, body = yield harness.get("/simple/foo/", {"Accept": JSON_ACCEPT})
        response, body = yield harness.get(fileURL(body, "foo 1.0.tar.gz"))
        self.assertEqual((response.code, body), (200, data))

class RootListTests(TestCase):
    """
    C{/simple/}.
    """

    @inlineCallbacks
    def test_rootList(self):  # type: ignore[no-untyped-def]
        """
        The root list merges every upstream's names, in HTML and JSON.
        """
        one, two = sampleIndex(), FakeIndex(format="html")
        two.add("Beta.Thing", Dist("beta_thing-1.0.tar.gz", b"x"))
        harness = Harness(self, [serveIndex(self, one), serveIndex(self, two)])
        response, body = yield harness.get("/simple/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        names = [p["name"] for p in json.loads(body)["projects"]]
        self.assertEqual(sorted(names), ["alpha", "beta-thing"])
        response, body = yield harness.get("/simple/")
        parsed = anchors(body)
        self.assertEqual(
            sorted(a["href"] for a in parsed.anchors), ["alpha/", "beta-thing/"]
        )
        self.assertIn("pypi:repository-version", parsed.meta)


    @inlineCallbacks
    def test_mergedListChangedLeavesNoFiles(self):  # type: ignore[no-untyped-def]
        """
        A merged root list big enough to be kept on disk, rendered again
        once one of its sources' lists changed, leaves only its new files
        under rendered/: the old ones go with the old list.
        """
        one, two = sampleIndex(), FakeIndex()
        for i in range(3000):
            two.add(f"project-{i}", Dist(f"project_{i}-1.0.tar.gz", b"x"))
        harness = Harness(self, [serveIndex(self, one), serveIndex(self, two)])
        rendered = harness.dataDir.child("rendered")

        def files() -> int:
            return len([p for p in rendered.walk() if p.isfile()]) if rendered.exists() else 0

        response, body = yield harness.get("/simple/")
        self.assertGreater(len(body), IN_MEMORY_LIMIT)
        harness.clock.advance(TWIN_DELAY)
        for _ in range(200):
            if files() == 2:  # the list and its gzip twin
                break
            yield sleep(0.01)
        self.assertEqual(files(), 2)
        two.add("project-new", Dist("project_new-1.0.tar.gz", b"x"))
        harness.clock.advance(3600)
        response, body = yield harness.get("/simple/")
        self.assertIn(b"project-new", body)
        self.assertEqual(files(), 1)

    @inlineCallbacks
    def test_nameNotText(self):  # type: ignore[no-untyped-def]
        """
        An upstream root list naming a project with something other than
        text (a number, null) is an unusable page, as one without a name
        is: the root list is served, in HTML and JSON, without it, never
        as a 500 or with the number in it.
        """
        for odd in [5, None]:
            url = servePages(self, {"": {
                "meta": {"api-version": "1.0"},
                "projects": [{"name": "foo"}, {"name": odd}],
            }})
            one = sampleIndex()
            harness = Harness(self, [serveIndex(self, one), url])
            response, body = yield harness.get("/simple/", {"Accept": JSON_ACCEPT})
            self.assertEqual(response.code, 200)
            self.assertEqual([p["name"] for p in json.loads(body)["projects"]], ["alpha"])
            response, body = yield harness.get("/simple/")
            self.assertEqual(response.code, 200)
            self.assertEqual([a["href"] for a in anchors(body).anchors], ["alpha/"])


class RerendererTests(TestCase):
    """
    L{Rerenderer}: a project's page rendered again in the background.
    """

    def test_coalescedAndInPlace(self) -> None:
        """
        Several requests within the delay make one render, which replaces
        the representations the page had with ones from what it shows now;
        a page not in memory as one source's page is forgotten instead.
        """
        from twisted.internet.task import Clock

        from cheesecache.web.simple import Rerenderer

        rendered = {"application/vnd.pypi.simple.v1+json": object()}

        class Entry:
            content = "the page"
            loaded = True

            def __init__(self) -> None:
                self.rendered = dict(rendered)

        class Lookup:
            entry = Entry()

        class FoundPage:
            lookup = Lookup()

        forgotten: list = []
        prepared: list = []

        class Index:
            known = {"alpha": FoundPage()}

            def projectNow(self, name: str) -> object:
                return self.known.get(name)

            def forgetRendered(self, name: str) -> None:
                forgotten.append(name)

        clock = Clock()

        def prepare(page: object) -> object:
            prepared.append(page)
            from cheesecache.simple.model import ProjectPage

            return ProjectPage(name="alpha", files=[])

        rerenderer = Rerenderer(Index(), clock, prepare)  # type: ignore[arg-type]
        rerenderer.soon("alpha")
        rerenderer.soon("alpha")
        rerenderer.soon("beta")
        self.assertEqual(len(clock.getDelayedCalls()), 2)
        clock.advance(rerenderer.delay)
        self.assertEqual(prepared, ["the page"])
        entry = FoundPage.lookup.entry
        [(contentType, rep)] = entry.rendered.items()
        self.assertIsNot(rep, rendered[contentType])
        self.assertIn(b'"name":"alpha"', rep.body)
        self.assertEqual(forgotten, ["beta"])
        self.assertEqual(clock.getDelayedCalls(), [])


    def test_letGoRenderedBySource(self) -> None:
        """
        The JSON of a page let go from memory is rendered again by its
        source, from the stored page; the JSON it replaced goes, and so do
        the page's other representations (they are made again when next
        asked for).  If the page is replaced before that is done, what was
        made goes too.
        """
        from types import SimpleNamespace

        from twisted.internet.task import Clock

        from cheesecache.web.simple import Rerenderer

        discarded: list = []
        renders: list = []

        class Source:
            def renderStored(self, name: str, rendered: dict, contentType: object = None) -> Deferred:
                renders.append((name, rendered, contentType))
                return Deferred()

        def found(entry: object) -> object:
            return SimpleNamespace(lookup=SimpleNamespace(entry=entry), origins={}, source=Source())

        old, html = SimpleNamespace(path="/old"), SimpleNamespace(path="/html")
        entry = SimpleNamespace(loaded=False, rendered={JSON_ACCEPT: old, "text/html": html})
        current = {"alpha": found(entry)}

        forgotten: list = []

        class Index:
            def projectNow(self, name: str) -> object:
                return current.get(name)

            def forgetRendered(self, name: str) -> None:
                forgotten.append(name)

        clock = Clock()
        disk = SimpleNamespace(discard=discarded.append)
        rerenderer = Rerenderer(  # type: ignore[arg-type]
            Index(), clock, lambda page: self.fail("rendered whole"), disk
        )
        rerenderer.soon("alpha")
        clock.advance(rerenderer.delay)
        # Made again as when fetched (no one content type).
        [(name, rendered, contentType)] = renders
        self.assertEqual((name, contentType), ("alpha", None))
        self.assertIs(rendered, entry.rendered)
        self.assertEqual((entry.rendered, discarded), ({JSON_ACCEPT: old}, [html]))
        new = SimpleNamespace(path="/new")
        rendered[JSON_ACCEPT] = new
        rerenderer._renderedAgain("alpha", rendered, old)
        self.assertEqual((entry.rendered, discarded), ({JSON_ACCEPT: new}, [html, old]))
        # Not made again (the page turned out not to fit): forgotten.
        rerenderer._renderedAgain("alpha", rendered, new)
        self.assertEqual((entry.rendered, discarded, forgotten), ({JSON_ACCEPT: new}, [html, old], ["alpha"]))

        del discarded[:]
        current["alpha"] = found(SimpleNamespace(loaded=False, rendered={}))
        newer = SimpleNamespace(path="/newer")
        entry.rendered[JSON_ACCEPT] = newer
        rerenderer._renderedAgain("alpha", entry.rendered, new)
        self.assertEqual((entry.rendered, discarded), ({}, [new, newer]))

    def test_bigPageSwappedThenCompressed(self) -> None:
        """
        A big page rendered again is served at once from its new file,
        uncompressed; the old representation's files go; the new one's
        gzip twin, made in the thread, then takes its place.
        """
        import os

        from twisted.internet.task import Clock
        from twisted.python.filepath import FilePath

        from cheesecache.simple.model import DistFile, ProjectPage
        from cheesecache.simple.render import JSON_TYPE
        from cheesecache.web.representation import RenderedStore
        from cheesecache.web.simple import Rerenderer

        from .test_filefetch import HeldCalls

        def page(version: str) -> ProjectPage:
            return ProjectPage(name="alpha", files=[
                DistFile(
                    filename=f"alpha-{version}.{i}.tar.gz",
                    url=f"http://127.0.0.1/packages/alpha-{version}.{i}.tar.gz",
                    hashes={"sha256": "%064x" % i},
                )
                for i in range(600)
            ])

        held = HeldCalls()
        disk = RenderedStore(FilePath(self.mktemp()), blocking=held)

        class Entry:
            content = page("1")
            loaded = True
            rendered: dict = {}

        class FoundPage:
            class lookup:
                entry = Entry()

        class Index:
            def projectNow(self, name: str) -> object:
                return FoundPage()

        entry = FoundPage.lookup.entry
        from cheesecache.simple.render import projectJSONChunks

        old = disk.make(JSON_TYPE, projectJSONChunks(entry.content))
        disk.place(entry.rendered, JSON_TYPE, old)
        held.runAll()
        assert old.path is not None
        self.assertTrue(entry.rendered[JSON_TYPE].twin)

        clock = Clock()
        rerenderer = Rerenderer(Index(), clock, lambda content: page("2"), disk)  # type: ignore[arg-type]
        rerenderer.soon("alpha")
        clock.advance(rerenderer.delay)
        new = entry.rendered[JSON_TYPE]
        self.assertFalse(new.twin)
        self.assertNotEqual(new.path, old.path)
        self.assertFalse(os.path.exists(old.path) or os.path.exists(old.path + ".gz"))
        with new.open(False) as f:
            self.assertIn(b"alpha-2.599.tar.gz", f.read())
        held.runAll()
        self.assertTrue(entry.rendered[JSON_TYPE].twin)
        with entry.rendered[JSON_TYPE].open(True) as f:
            self.assertIn(b"alpha-2.599.tar.gz", gzip.decompress(f.read()))


class GarbageTests(TestCase):
    """
    A warm request's objects go when its response is written, not when the
    garbage collector next runs: with a cycle through the request, each one
    left some forty objects behind for the collector, which came to a
    quarter of a warm request's CPU.
    """

    @inlineCallbacks
    def test_warmRequestsLeaveNoCycles(self):  # type: ignore[no-untyped-def]
        """
        Answering warm pages (JSON, HTML, gzip, a 304) through the server's
        own HTTP channel leaves nothing for C{gc}.
        """
        harness = Harness(self, [serveIndex(self, sampleIndex())])
        response, _ = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        etag = header(response, "etag")
        requests = [
            {"Accept": JSON_ACCEPT},
            {},
            {"Accept": JSON_ACCEPT, "Accept-Encoding": "gzip"},
            {"Accept": JSON_ACCEPT, "If-None-Match": etag},
        ]
        for headers in requests:
            yield harness.get("/simple/alpha/", headers)

        channel = harness.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        channel.makeConnection(transport)
        self.addCleanup(channel.connectionLost, Failure(ConnectionDone()))
        wire = [
            b"GET /simple/alpha/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
            + b"\r\n"
            for headers in requests
        ]
        for raw in wire:
            # Twice: the first may still make something to keep.
            for attempt in range(2):
                gc.collect()
                gc.disable()
                try:
                    transport.clear()
                    channel.dataReceived(raw)
                    answered = transport.value()
                    leftOver = gc.collect()
                finally:
                    gc.enable()
            self.assertRegex(answered, rb"^HTTP/1.1 (200|304) ")
            self.assertEqual(leftOver, 0, raw)


class BigPageRenderedWhileParsedTests(TestCase):
    """
    A big JSON page is rendered as JSON while it is parsed (see
    L{RenderingWhileParsing}): the same bytes as rendered from the whole
    page, without keeping the page in memory.
    """

    @inlineCallbacks
    def test_sameAsRenderedWhole(self):  # type: ignore[no-untyped-def]
        """
        Cold, the JSON and HTML of a big page are what a server rendering
        it whole answers, and the source's entry holds no parsed page.
        """
        upstream = bigProjectIndex("big")
        streamed = Harness(self, [serveIndex(self, upstream)])
        streamed.sources[0].modelBudget = 1000
        whole = Harness(self, [serveIndex(self, upstream)])
        whole.sources[0].renderWhileParsing = None
        bodies = {}
        for name, harness in (("streamed", streamed), ("whole", whole)):
            response, body = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
            self.assertEqual(response.code, 200)
            response, html = yield harness.get("/simple/big/")
            self.assertEqual(response.code, 200)
            bodies[name] = (body, html)
        self.assertEqual(bodies["streamed"], bodies["whole"])
        self.assertEqual(len(json.loads(bodies["streamed"][0])["files"]), 3000)
        self.assertTrue(streamed.sources[0].renderWhileParsing is not None)

    @inlineCallbacks
    def test_publicStyleSameAsRenderedWhole(self):  # type: ignore[no-untyped-def]
        """
        A big page written as the public index writes its pages, most of
        its files plain and a few not (yanked, with core metadata or with
        a filename that must be quoted), is rendered while parsed, mostly
        in runs written from its text (L{plainRun}; yanked files among
        them), to the same bytes as rendered whole.
        """
        upstream = FakeIndex(publicStyle=True)
        dists = [
            Dist(f"big-1.{i}.tar.gz", b"%d" % i, provenance=f"https://p.example.invalid/{i}" if i % 7 else None)
            for i in range(3000)
        ]
        dists[10] = Dist("big-2.0.tar.gz", b"yanked", yanked="broken")
        dists[11] = Dist("big-2.0.zip", b"yanked too", yanked=True)
        dists[700] = Dist("big-2.0b1.tar.gz", b"quoted", yanked='said "no" \\o/')
        dists[701] = Dist("big-2.0b2.tar.gz", b"empty", yanked="")
        dists[1500] = Dist("big-2.1-py3-none-any.whl", b"wheel", metadata=b"Metadata-Version: 2.1")
        dists[2999] = Dist("big-2.2+local.tar.gz", b"local", requiresPython=">=3.9")
        dists[2998] = Dist("big-2.3-py3-none-any.whl", b"w2", requiresPython="<4,>=3.10")
        upstream.add("big", *dists)
        taken = []
        original = RenderingWhileParsing.addRun

        def addRun(rendering, text, start, end):  # type: ignore[no-untyped-def]
            taken.append(original(rendering, text, start, end))
            return taken[-1]

        self.patch(RenderingWhileParsing, "addRun", addRun)
        streamed = Harness(self, [serveIndex(self, upstream)])
        whole = Harness(self, [serveIndex(self, upstream)])
        whole.sources[0].renderWhileParsing = None
        bodies = []
        for harness in (streamed, whole):
            response, body = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
            self.assertEqual(response.code, 200)
            bodies.append(body)
        self.assertEqual(bodies[0], bodies[1])
        files = json.loads(bodies[0])["files"]
        self.assertEqual(len(files), 3000)
        self.assertEqual(files[10]["yanked"], "broken")
        self.assertIs(files[11]["yanked"], True)
        self.assertEqual(files[700]["yanked"], 'said "no" \\o/')
        self.assertIs(files[701]["yanked"], True)
        self.assertNotIn("yanked", files[12])
        self.assertEqual(files[1500]["core-metadata"], files[1500]["data-dist-info-metadata"])
        self.assertEqual(files[2998]["requires-python"], "<4,>=3.10")
        self.assertEqual(files[1]["provenance"], "https://p.example.invalid/1")
        self.assertIn(True, taken)
        self.assertIn(False, taken)

    @inlineCallbacks
    def test_notHeld(self):  # type: ignore[no-untyped-def]
        """
        Once the cold JSON request of a page over the model budget is
        answered, the source's entry holds the representation and not the
        parsed page.
        """
        harness = Harness(self, [serveIndex(self, bigProjectIndex("big"))])
        harness.sources[0].modelBudget = 1000
        response, body = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        self.assertEqual(response.code, 200)
        entry = harness.sources[0].cachedEntry("big")
        self.assertFalse(entry.loaded)
        self.assertEqual(list(entry.rendered), [JSON_ACCEPT])

    @inlineCallbacks
    def test_plainNotHeld(self):  # type: ignore[no-untyped-def]
        """
        A big page within the model budget whose files are plain (written
        without the model) is not held either; a cold file of it is looked
        up on the stored page, which is not read back whole, and the
        upstream is asked for the page once.
        """
        upstream = bigProjectIndex("big")
        harness = Harness(self, [serveIndex(self, upstream)])
        source = harness.sources[0]
        self.assertGreater(source.modelBudget, 3000)
        response, body = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        self.assertEqual(response.code, 200)
        entry = source.cachedEntry("big")
        self.assertFalse(entry.loaded)
        self.patch(PageStore, "load", lambda *a: self.fail("the page was read back whole"))
        dist = upstream.projects["big"][1234]
        url = fileURL(body, dist.filename)
        head, _ = yield harness.get(url, method="HEAD")
        self.assertEqual((head.code, header(head, "content-length")), (200, str(len(dist.data))))
        response, data = yield harness.get(url)
        self.assertEqual((response.code, data), (200, dist.data))
        self.assertFalse(entry.loaded)
        self.assertEqual(upstream.count(b"/simple/big/"), 1)
        # A file it does not list: not found, without reading it back.
        response, _ = yield harness.get("/files/big/" + "f" * 64 + "/big-9.9.tar.gz")
        self.assertEqual(response.code, 404)
        self.assertFalse(entry.loaded)

    @inlineCallbacks
    def test_htmlFromStored(self):  # type: ignore[no-untyped-def]
        """
        The HTML of such a page is made from the stored page, in steps (the
        reactor answers other requests between them), without reading it
        back as a model; it lists every file.  Requests for it meanwhile
        share that making, and get the same page.
        """
        from twisted.internet.defer import gatherResults

        upstream = bigProjectIndex("big")
        harness = Harness(self, [serveIndex(self, upstream)])
        source = harness.sources[0]
        source.modelBudget = 1000
        yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        steps: list = []

        def counting(work: Iterator[None]) -> object:
            steps.append(0)

            def counted() -> Iterator[None]:
                for step in work:
                    steps[-1] += 1
                    yield step

            return cooperate(counted())

        source.cooperate = counting
        self.patch(PageStore, "load", lambda *a: self.fail("the page was read back whole"))
        answers = yield gatherResults([harness.get("/simple/big/") for _ in range(3)])
        self.assertEqual([response.code for response, _ in answers], [200] * 3)
        bodies = {body for _, body in answers}
        self.assertEqual(len(bodies), 1)
        [body] = bodies
        self.assertEqual(len(anchors(body).anchors), 3000)
        # One making, in more than one step.
        self.assertEqual(len(steps), 1)
        self.assertGreater(steps[0], 1)
        entry = source.cachedEntry("big")
        self.assertFalse(entry.loaded)
        self.assertEqual(sorted(entry.rendered), sorted([JSON_ACCEPT, TEXT_HTML]))
        self.assertEqual(upstream.count(b"/simple/big/"), 1)

    @inlineCallbacks
    def test_sameAfterRestart(self):  # type: ignore[no-untyped-def]
        """
        After a restart, the page read back from the page store (in steps,
        rendered as it is parsed) is answered with the same JSON and HTML
        as when it was fetched, without asking the upstream again.
        """
        upstream = bigProjectIndex("big")
        url = serveIndex(self, upstream)
        dataDir = FilePath(self.mktemp())
        bodies, parsedInSteps = [], []
        for run in range(2):
            harness = Harness(self, [url], dataDir=dataDir)

            def counting(steps: Iterator[None]) -> object:
                parsedInSteps.append(run)
                return cooperate(steps)

            harness.sources[0].cooperate = counting
            response, body = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
            self.assertEqual(response.code, 200)
            response, html = yield harness.get("/simple/big/")
            self.assertEqual(response.code, 200)
            bodies.append((body, html))
        self.assertEqual(bodies[0], bodies[1])
        self.assertEqual(len(json.loads(bodies[1][0])["files"]), 3000)
        self.assertEqual(upstream.count(b"/simple/big/"), 1)
        # Fetched, then read back: each parsed in steps, once; and each
        # time, the HTML made from the stored page in steps too.
        self.assertEqual(parsedInSteps, [0, 0, 1, 1])


class HTMLWhileParsingTests(TestCase):
    """
    A page over L{simpleModule.HTML_WHILE_PARSING} is rendered as HTML too
    while it is parsed, so that its HTML is never written from the stored
    page.
    """

    def setUp(self) -> None:
        self.upstream = bigProjectIndex("big")
        self.harness = Harness(self, [serveIndex(self, self.upstream)])
        self.source = self.harness.sources[0]
        self.source.modelBudget = 1000
        self.readBack: list = []
        renderStored = UpstreamSource.renderStored

        def recording(
            source: UpstreamSource, name: str, rendered: dict, contentType: Optional[str] = None
        ) -> object:
            self.readBack.append(name)
            return renderStored(source, name, rendered, contentType)

        self.patch(UpstreamSource, "renderStored", recording)

    @inlineCallbacks
    def test_htmlMadeWithJSON(self):  # type: ignore[no-untyped-def]
        """
        Over the threshold, the cold JSON request leaves the HTML made too;
        the HTML request is answered with it, the same as a whole
        rendering's, without reading the stored page.
        """
        self.patch(simpleModule, "HTML_WHILE_PARSING", 1024)
        response, body = yield self.harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        self.assertEqual(response.code, 200)
        entry = self.source.cachedEntry("big")
        self.assertEqual(sorted(entry.rendered), sorted([JSON_ACCEPT, "text/html"]))
        response, html = yield self.harness.get("/simple/big/")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.readBack, [])
        whole = Harness(self, [serveIndex(self, self.upstream)])
        whole.sources[0].renderWhileParsing = None
        response, wholeHTML = yield whole.get("/simple/big/")
        self.assertEqual(html, wholeHTML)
        self.assertEqual(len(anchors(html).anchors), 3000)

    @inlineCallbacks
    def test_underThresholdJSONOnly(self):  # type: ignore[no-untyped-def]
        """
        Under the threshold, only the JSON is made while parsing; the HTML
        comes from the stored page when asked for.
        """
        self.patch(simpleModule, "HTML_WHILE_PARSING", 100 * 1024 * 1024)
        yield self.harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        self.assertEqual(list(self.source.cachedEntry("big").rendered), [JSON_ACCEPT])
        response, html = yield self.harness.get("/simple/big/")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.readBack, ["big"])


class RenderingsTests(TestCase):
    """
    L{simpleModule.Renderings} hands everything to each of its renderings.
    """

    def test_fansOut(self) -> None:
        """
        Each file, the end and an abandon reach every rendering, in order.
        """
        from .test_index import _RecordingRendering

        a, b = _RecordingRendering("a"), _RecordingRendering("b")
        both = simpleModule.Renderings((a, b))
        files = [DistFile(f"x-{i}.tar.gz", f"https://x.invalid/{i}") for i in range(3)]
        for f in files:
            both.add(f)
        page = ProjectPage(name="x")
        rendered: dict = {}
        both.finish(page, rendered)
        both.abandon()
        for r in (a, b):
            self.assertEqual(r.files, files)
            self.assertEqual(r.finished, [page])
            self.assertTrue(r.abandoned)
        self.assertEqual(rendered, {"made": "3 files"})


def manyFilesPage() -> ProjectPage:
    """
    A page of 1,200 wheels, with a status.
    """
    return ProjectPage(
        name="foo",
        files=[
            DistFile(f"foo-1.{i}-py3-none-any.whl", f"https://x.invalid/foo-1.{i}.whl",
                     {"sha256": "%064x" % i}, size=i)
            for i in range(1200)
        ],
        versions=["0.1"],
        status=("archived", None),
    )


class RenderingWhileParsingTests(TestCase):
    """
    L{RenderingWhileParsing} on its own.
    """

    def setUp(self) -> None:
        self.root = FilePath(self.mktemp())
        # With a thread (here: none, calls run at once), big pages spill to
        # files and get their twins.
        self.disk = RenderedStore(self.root, blocking=maybeDeferred)
        self.page = manyFilesPage()

    def prepare(self, f: DistFile) -> DistFile:
        return attrs.evolve(f, coreMetadata=True) if f.size % 2 else f

    def test_sameAsWhole(self) -> None:
        """
        The files given one by one, prepared, make the representation of
        the prepared page rendered whole.
        """
        rendering = RenderingWhileParsing(self.disk, self.prepare, "foo")
        for f in self.page.files:
            rendering.add(f)
        rendered: dict = {}
        rendering.finish(attrs.evolve(self.page, files=()), rendered)
        prepared = attrs.evolve(self.page, files=[self.prepare(f) for f in self.page.files])
        expected = Representation.of(JSON_ACCEPT, renderProjectJSON(prepared))
        self.assertEqual(list(rendered), [JSON_ACCEPT])
        rep = rendered[JSON_ACCEPT]
        self.assertEqual((rep.etag, rep.size), (expected.etag, expected.size))
        self.assertIsNotNone(rep.path)
        with rep.open(False) as body:
            self.assertEqual(body.read(), renderProjectJSON(prepared))

    def test_plainEntries(self) -> None:
        """
        With C{extracted}, the entries of plain files are written as they
        come, without the model, and the others (a yanked file, a wheel
        whose metadata was extracted) go through it: as JSON and as HTML
        (a page over C{HTML_WHILE_PARSING}, each entry looked at once),
        the representations are those of the prepared page rendered whole.
        """
        entries = [
            {"filename": f.filename, "url": f.url, "hashes": dict(f.hashes), "size": f.size}
            for f in self.page.files
        ]
        entries[3]["yanked"] = "broken"
        entries[4]["requires-python"] = ">=3.9"
        entries[6]["core-metadata"] = True
        entries[7]["core-metadata"] = {"sha256": "d" * 64}
        # The HTML head is written as that of a page without a status.
        page = attrs.evolve(
            self.page,
            status=None,
            files=[fileFromJSON(e, "https://x.invalid/") for e in entries],
        )
        extractedKey = page.files[5].key

        def prepare(f: DistFile) -> DistFile:
            if f.key == extractedKey:
                return attrs.evolve(f, coreMetadata={"sha256": "c" * 64})
            return f

        self.patch(simpleModule, "HTML_WHILE_PARSING", 0)
        rendering = simpleModule.renderingsWhileParsing(
            self.disk, prepare, "foo", 1, extracted=lambda key: key == extractedKey
        )
        looked = []
        self.patch(simpleModule, "plainFileJSON", lambda *a: looked.append(a) or plainFileJSON(*a))
        throughModel = []
        for entry in entries:
            if not rendering.addPlain(entry):
                f = fileFromJSON(entry, "https://x.invalid/")
                throughModel.append(f.filename)
                rendering.add(f)
        rendered: dict = {}
        rendering.finish(attrs.evolve(page, files=()), rendered)
        self.assertEqual(throughModel, [page.files[3].filename, page.files[5].filename])
        self.assertEqual(len(looked), len(entries))
        prepared = attrs.evolve(page, files=[prepare(f) for f in page.files])
        self.assertEqual(sorted(rendered), sorted([JSON_ACCEPT, TEXT_HTML]))
        with rendered[JSON_ACCEPT].open(False) as body:
            self.assertEqual(body.read(), renderProjectJSON(prepared))
        with rendered[TEXT_HTML].open(False) as body:
            self.assertEqual(body.read(), renderProjectHTML(prepared))

    def test_noPlainEntries(self) -> None:
        """
        Without C{extracted}, no entry is written without the model: each
        file must go through C{prepare}.
        """
        entry = {
            "filename": "foo-1.0.tar.gz", "url": "https://x.invalid/f", "hashes": {"sha256": "a" * 64},
        }
        for contentType in (JSON_ACCEPT, TEXT_HTML):
            rendering = RenderingWhileParsing(self.disk, self.prepare, "foo", contentType)
            self.assertFalse(rendering.addPlain(entry))
            rendering.abandon()
        both = simpleModule.Renderings(
            (
                RenderingWhileParsing(self.disk, self.prepare, "foo"),
                RenderingWhileParsing(self.disk, self.prepare, "foo", TEXT_HTML),
            )
        )
        self.assertFalse(both.addPlain(entry))
        both.abandon()

    def test_otherName(self) -> None:
        """
        A page whose own name is not the one its files were rendered under
        gets nothing (it is rendered whole when asked for), and no file is
        left.
        """
        rendering = RenderingWhileParsing(self.disk, self.prepare, "foo")
        for f in self.page.files:
            rendering.add(f)
        rendered: dict = {}
        rendering.finish(attrs.evolve(self.page, name="bar", files=()), rendered)
        self.assertEqual(rendered, {})
        self.assertEqual([p for p in self.root.walk() if p.isfile()] if self.root.exists() else [], [])

    def test_diskFails(self) -> None:
        """
        When the disk fails to take the representation, the files are still
        all taken, nothing is put in the entry's representations (the page
        is rendered whole when asked for) and no file is left.
        """
        writes = []

        def failingWrite(spill: object, data: bytes) -> None:
            writes.append(len(data))
            raise OSError(28, "No space left on device")

        self.patch(representationModule._Spill, "writePlain", failingWrite)
        rendering = RenderingWhileParsing(self.disk, self.prepare, "foo")
        for f in self.page.files:
            rendering.add(f)
        rendered: dict = {}
        rendering.finish(attrs.evolve(self.page, files=()), rendered)
        self.assertEqual(rendered, {})
        self.assertEqual(len(writes), 1)
        self.assertEqual([p for p in self.root.walk() if p.isfile()] if self.root.exists() else [], [])

    def test_abandoned(self) -> None:
        """
        An abandoned rendering leaves no file.
        """
        rendering = RenderingWhileParsing(self.disk, self.prepare, "foo")
        for f in self.page.files:
            rendering.add(f)
        rendering.abandon()
        self.assertEqual([p for p in self.root.walk() if p.isfile()] if self.root.exists() else [], [])


class _StoredSource:
    """
    A source that makes a representation of its stored page with what
    C{made} returns, and records what it was asked to make.
    """

    def __init__(self, made: Callable[[], Optional[Deferred]]) -> None:
        self.made = made
        self.asked: list = []

    def renderStored(self, name: str, rendered: dict, contentType: Optional[str] = None):  # type: ignore[no-untyped-def]
        self.asked.append((name, contentType))
        return self.made()


class HTMLFromStoredTests(TestCase):
    """
    L{ProjectResource._htmlFromStored} on its own: it has the source make
    the HTML of a page let go from memory, once for the requests that want
    it meanwhile.
    """

    def setUp(self) -> None:
        self.disk = RenderedStore(FilePath(self.mktemp()), blocking=maybeDeferred)
        self.resource = ProjectResource(None, "foo", lambda p: p, disk=self.disk)  # type: ignore[arg-type]
        self.making: list = []
        self.source = _StoredSource(lambda: self.making.append(Deferred()) or self.making[-1])

    def found(self, content: Optional[ProjectPage] = None, **entryFields: object) -> Found:
        entry = PageEntry(
            content, "http://x.invalid/simple/foo/", Validators(), 0.0, found=True,
            **entryFields,  # type: ignore[arg-type]
        )
        return Found(Lookup(entry), self.source)  # type: ignore[arg-type]

    def test_madeOnceForAll(self) -> None:
        """
        Requests while the HTML is being made wait for the same making;
        each is answered once it is done.
        """
        found = self.found()
        waiting = [self.resource._htmlFromStored(found, TEXT_HTML) for _ in range(3)]
        self.assertEqual(self.source.asked, [("foo", TEXT_HTML)])
        fired: list = []
        for d in waiting:
            d.addCallback(fired.append)
        self.assertEqual(fired, [])
        self.making[0].callback(None)
        self.assertEqual(fired, [None] * 3)
        # Another page (fetched again meanwhile) is made anew.
        self.resource._htmlFromStored(self.found(), TEXT_HTML)
        self.assertEqual(len(self.source.asked), 2)

    def test_nothingToMake(self) -> None:
        """
        Not for JSON (made when the page was fetched), a representation
        already made, a page in memory or merged from several sources, nor
        without a disk to make it on.
        """
        loaded = ProjectPage(name="foo", files=())
        cases = [
            (self.found(), JSON_TYPE, self.resource),
            (self.found(rendered={TEXT_HTML: object()}), TEXT_HTML, self.resource),
            (self.found(content=loaded), TEXT_HTML, self.resource),
            (attrs.evolve(self.found(), origins={"foo-1.0.tar.gz": self.source}), TEXT_HTML, self.resource),
            (self.found(), TEXT_HTML, ProjectResource(None, "foo", lambda p: p)),  # type: ignore[arg-type]
        ]
        for found, contentType, resource in cases:
            self.assertIsNone(resource._htmlFromStored(found, contentType))
        self.assertEqual(self.source.asked, [])

    def test_cannot(self) -> None:
        """
        A source that cannot make it from the stored page: the request is
        answered at once (with the page rendered whole).
        """
        self.source.made = lambda: None
        fired: list = []
        self.resource._htmlFromStored(self.found(), TEXT_HTML).addCallback(fired.append)
        self.assertEqual(fired, [None])

    def test_failed(self) -> None:
        """
        A making that fails is logged, and the request is answered (with
        the page rendered whole).
        """
        fired: list = []
        self.resource._htmlFromStored(self.found(), TEXT_HTML).addCallback(fired.append)
        self.making[0].errback(OSError("the disk went"))
        self.assertEqual(fired, [None])
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)


class ProjectResourcesKeptTests(TestCase):
    """
    L{SimpleResource} makes a project's resource once and keeps the last
    L{simpleModule.PROJECT_RESOURCES} of them.
    """

    def test_kept(self) -> None:
        """
        The same segment gets the same resource; past the limit, the
        least recently made goes; names that are not valid get none.
        """
        self.patch(simpleModule, "PROJECT_RESOURCES", 2)
        simple = SimpleResource(None)  # type: ignore[arg-type]
        request = DummyRequest([])
        first = simple.getChild(b"alpha", request)
        self.assertIs(simple.getChild(b"alpha", request), first)
        self.assertEqual(first.name, "alpha")
        simple.getChild(b"beta", request)
        simple.getChild(b"gamma", request)
        self.assertIsNot(simple.getChild(b"alpha", request), first)
        self.assertIsInstance(simple.getChild(b"-bad-", request), NotFound)
        self.assertEqual(len(simple._projects), 2)




class SamePageFetchedAgainTests(TestCase):
    """
    A big page fetched again as it was (from an upstream without
    validators, or whose C{ETag} changed and not its page).
    """

    @inlineCallbacks
    def test_representationKept(self):  # type: ignore[no-untyped-def]
        """
        The page rendered as it is parsed again is the file it was before
        (representations are named by their content): it stays, rather than
        be removed as the one the page replaced, and is answered, without
        reading the page back whole to render it again.  A changed page's
        file replaces it.
        """
        upstream = bigProjectIndex("big")
        upstream.validators = False
        harness = Harness(self, [serveIndex(self, upstream)])
        response, first = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        self.assertEqual(response.code, 200)
        harness.clock.advance(601)
        readBack: list = []
        load = PageStore.load
        self.patch(PageStore, "load", lambda *a: readBack.append(a) or load(*a))
        for _ in range(2):
            response, again = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
            self.assertEqual((response.code, again), (200, first))
        self.assertEqual(upstream.count(b"/simple/big/"), 2)
        self.assertEqual(readBack, [])
        before = harness.sources[0].cachedEntry("big").rendered[JSON_ACCEPT].path
        self.assertTrue(os.path.exists(before))
        # Changed, it is rendered anew, and the file it replaced goes.
        upstream.add("big", Dist("big-2.0.tar.gz", b"2"))
        harness.clock.advance(601)
        response, changed = yield harness.get("/simple/big/", {"Accept": PIP_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertIn(b"big-2.0.tar.gz", changed)
        self.assertFalse(os.path.exists(before))
