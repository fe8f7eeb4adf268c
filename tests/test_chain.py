"""
Chained caches (laptop -> company -> upstream), several upstreams, routes,
offline mode and loop detection, with real cheesecache services talking HTTP
to each other on loopback in one reactor.
"""

from __future__ import annotations

import hashlib
import json

import treq
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from twisted.web.http_headers import Headers
from twisted.web.server import NOT_DONE_YET

from cheesecache.routing import Route

from .fakeindex import Dist, FakeIndex, cutShort
from .harness import JSON_ACCEPT, Harness, logEvents, serveIndex, takeDown
from .test_index import sampleIndex
from .wheels import makeWheel, metadataText


def fileURL(page: bytes, filename: str) -> str:
    entry = next(f for f in json.loads(page)["files"] if f["filename"] == filename)
    return "/files/" + entry["url"].split("/files/", 1)[1]


class ChainTests(TestCase):
    """
    cheesecache as the upstream of cheesecache.
    """

    def setUp(self) -> None:
        self.origin = sampleIndex()
        self.company = Harness(self, [serveIndex(self, self.origin)], pseudonym="company")
        self.laptop = Harness(self, [self.company.simpleURL], pseudonym="laptop")

    @inlineCallbacks
    def test_filesThroughTwoTiers(self):  # type: ignore[no-untyped-def]
        """
        A file fetched through the laptop comes through the company tier,
        with the origin's hash; both tiers keep it.
        """
        _, page = yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        wheel = self.origin.projects["alpha"][0]
        response, body = yield self.laptop.get(fileURL(page, wheel.filename))
        self.assertEqual(response.code, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), wheel.sha256)
        yield self.company.settled()
        yield self.laptop.settled()
        self.assertTrue(self.company.store.exists(wheel.sha256))
        self.assertTrue(self.laptop.store.exists(wheel.sha256))
        entry = next(f for f in json.loads(page)["files"] if f["filename"] == wheel.filename)
        self.assertEqual(entry["requires-python"], ">=3.8,<4")
        self.assertEqual(entry["upload-time"], "2026-01-02T03:04:05.123456Z")

    @inlineCallbacks
    def test_htmlBetweenTiers(self):  # type: ignore[no-untyped-def]
        """
        The laptop also understands the company tier's HTML pages.
        """
        from cheesecache.simple.parse import parseProjectHTML

        _, html = yield self.company.get("/simple/alpha/")
        page = parseProjectHTML(html, self.company.simpleURL + "alpha/", "alpha")
        sdist = next(f for f in page.files if f.filename == "alpha-0.9.tar.gz")
        self.assertEqual(sdist.yanked, "broken")
        self.assertTrue(sdist.url.startswith(self.company.url + "/files/alpha/"))

    @inlineCallbacks
    def test_revalidationIs304AtEachTier(self):  # type: ignore[no-untyped-def]
        """
        When nothing changed, the laptop's revalidation is a 304 from the
        company, whose own revalidation is a 304 from the origin.
        """
        yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        companyRequests = self.company.sources[0].requests
        before = self.laptop.sources[0].cachedEntry("alpha").content
        self.laptop.clock.advance(601)
        self.company.clock.advance(601)
        response, _ = yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        # The origin saw a conditional request and answered 304 ...
        _, _, headers = self.origin.requests[-1]
        self.assertIn(b"if-none-match", headers)
        # ... and so did the company tier (its request count went up by one,
        # and the laptop's entry kept its parsed page: a 304).
        self.assertEqual(self.company.sources[0].requests, companyRequests + 1)
        laptopEntry = self.laptop.sources[0].cachedEntry("alpha")
        self.assertEqual(laptopEntry.fetchedAt, self.laptop.clock.seconds())
        self.assertIs(laptopEntry.content, before)
        self.assertIsNotNone(laptopEntry.validators.etag)

    @inlineCallbacks
    def test_upstreamDownAtEachTier(self):  # type: ignore[no-untyped-def]
        """
        With the origin down the company serves stale; with the company
        down too the laptop serves stale.
        """
        yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.origin.down = True
        self.company.clock.advance(10_000)
        self.laptop.clock.advance(10_000)
        response, body = yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(body)["name"], "alpha")
        yield takeDown(self, self.company.port)
        yield self.laptop.upstreamPool.closeCachedConnections()
        self.laptop.clock.advance(10_000)
        response, body = yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_viaChain(self):  # type: ignore[no-untyped-def]
        """
        The origin sees the chain of tiers in the Via header.
        """
        yield self.laptop.get("/simple/alpha/")
        _, _, headers = self.origin.requests[-1]
        self.assertEqual(headers[b"via"], b"1.1 laptop, 1.1 company")
        self.assertTrue(headers[b"user-agent"].startswith(b"cheesecache/"))

    @inlineCallbacks
    def test_forgedViaChainNotPassedOn(self):  # type: ignore[no-untyped-def]
        """
        A client's C{Via} chain longer than any chain of caches is refused
        (400), not passed on: the laptop's request for the page, made for
        every client that wants it, carried the forged chain, longer than
        the company takes, and failed; the page, held as failing, was then
        served stale to everyone, without the origin's new release.
        """
        yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        filename, data = makeWheel("alpha", "2.0")
        self.origin.add("alpha", Dist(filename, data))
        self.company.clock.advance(10_000)
        self.laptop.clock.advance(10_000)
        # 14 KiB, taken; passed on as "1.1 a, 1.1 a, ...", 24 KiB.
        forged = ",".join(["1 a"] * 3500)
        response, body = yield self.laptop.get(
            "/simple/alpha/", {"Accept": JSON_ACCEPT, "Via": forged}
        )
        self.assertEqual(response.code, 400)
        self.assertIn(b"Via", body)
        response, body = yield self.laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertIn(filename, [f["filename"] for f in json.loads(body)["files"]])
        self.assertTrue(self.laptop.sources[0].reachable)


class ThreeTierTests(TestCase):
    """
    Three tiers.
    """

    @inlineCallbacks
    def test_threeTiers(self):  # type: ignore[no-untyped-def]
        """
        laptop -> team -> company -> origin: a file arrives intact.
        """
        origin = sampleIndex()
        company = Harness(self, [serveIndex(self, origin)], pseudonym="company")
        team = Harness(self, [company.simpleURL], pseudonym="team")
        laptop = Harness(self, [team.simpleURL], pseudonym="laptop")
        _, page = yield laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        wheel = origin.projects["alpha"][0]
        _, body = yield laptop.get(fileURL(page, wheel.filename))
        self.assertEqual(body, wheel.data)
        self.assertEqual(origin.count(b"/packages/" + wheel.filename.encode()), 1)


class LoopTests(TestCase):
    """
    Caches configured in a circle.
    """

    @inlineCallbacks
    def test_loopDetected(self):  # type: ignore[no-untyped-def]
        """
        A request that comes back to a cheesecache it passed through gets
        508, and the client sees a clean error instead of a hang.
        """
        one = Harness(self, ["http://127.0.0.1:1/simple/"], pseudonym="one")
        two = Harness(self, [one.simpleURL], pseudonym="two")
        # Point one at two: a circle.
        one.sources[0].upstream.url = two.simpleURL
        response, body = yield one.get("/simple/alpha/")
        self.assertEqual(response.code, 508)
        response, body = yield two.get("/simple/alpha/", {"Via": "1.1 one, 1.1 two"})
        self.assertEqual(response.code, 508)
        self.assertIn(b"Loop Detected", body)

    @inlineCallbacks
    def test_loopThroughThreeTiers(self):  # type: ignore[no-untyped-def]
        """
        A circle of three tiers answers the client 508 Loop Detected, for a
        page and for a file of it, and goes round once: each tier passes
        the 508 on, which the tier below does not try again (a 502 it
        would, twice, at every tier: 3 to the power of the tiers).
        """
        one = Harness(self, ["http://127.0.0.1:1/simple/"], pseudonym="one")
        two = Harness(self, [one.simpleURL], pseudonym="two")
        three = Harness(self, [two.simpleURL], pseudonym="three")
        one.sources[0].upstream.url = three.simpleURL
        for path in ("/simple/alpha/", "/files/alpha/" + "a" * 64 + "/alpha-1.0.tar.gz"):
            response, body = yield one.get(path)
            self.assertEqual(response.code, 508, (path, body))
            self.assertIn(b"Loop Detected", body)
        self.assertEqual([h.sources[0].upstream.errors for h in (one, two, three)], [2, 2, 2])

    @inlineCallbacks
    def test_loopInAnyViaLine(self):  # type: ignore[no-untyped-def]
        """
        A chain sent as several C{Via} header lines (a proxy may add its own
        line instead of extending the last, RFC 9110 section 5.3) is read
        whole: a loop is refused whichever line names this cheesecache, and
        every hop is passed on to the upstream, so that a loop through this
        request is seen there too.
        """
        origin = sampleIndex()
        harness = Harness(self, [serveIndex(self, origin)], pseudonym="me")
        client = harness.client
        for lines in (["1.1 me", "1.1 proxy"], ["1.1 me", ""]):
            response = yield client.request(
                b"GET", (harness.url + "/simple/alpha/").encode(),
                Headers({"Via": lines}),
            )
            yield treq.content(response)
            self.assertEqual(response.code, 508, lines)
        response = yield client.request(
            b"GET", (harness.url + "/simple/alpha/").encode(),
            Headers({"Via": ["1.1 first", "1.1 second"]}),
        )
        yield treq.content(response)
        self.assertEqual(response.code, 200)
        [via] = [h[b"via"] for _, p, h in origin.requests if p == b"/simple/alpha/"]
        self.assertEqual(via, b"1.1 first, 1.1 second, 1.1 me")


class RoutingTests(TestCase):
    """
    Routes between several upstreams.
    """

    def setUp(self) -> None:
        self.company = FakeIndex()
        self.public = FakeIndex()
        for index, version in ((self.company, "1.0"), (self.public, "2.0")):
            name, data = makeWheel("shared", version)
            index.add("shared", Dist(name, data))
            name, data = makeWheel("acme-tools", version)
            index.add("acme-tools", Dist(name, data))
        name, data = makeWheel("torchish", "3.0")
        self.public.add("torchish", Dist(name, data))
        name, data = makeWheel("torchish", "1.0")
        self.company.add("torchish", Dist(name, data))

    def harness(self, *routes: Route) -> Harness:
        return Harness(
            self,
            [serveIndex(self, self.company), serveIndex(self, self.public)],
            names=["company", "public"],
            routes=routes,
        )

    @inlineCallbacks
    def filenames(self, harness: Harness, name: str):  # type: ignore[no-untyped-def]
        response, body = yield harness.get(f"/simple/{name}/", {"Accept": JSON_ACCEPT})
        if response.code != 200:
            return response.code
        return sorted(f["filename"] for f in json.loads(body)["files"])

    @inlineCallbacks
    def test_shadowing(self):  # type: ignore[no-untyped-def]
        """
        By default the first upstream that knows a project answers alone:
        the public index's newer release of a company project is not listed.
        """
        harness = self.harness()
        names = yield self.filenames(harness, "shared")
        self.assertEqual(names, ["shared-1.0-py3-none-any.whl"])
        self.assertEqual(self.public.count(b"/simple/shared/"), 0)

    @inlineCallbacks
    def test_pinnedRoute(self):  # type: ignore[no-untyped-def]
        """
        A route pins a pattern to one source; other sources are never asked
        for those names.
        """
        harness = self.harness(Route("torch*", ["public"]), Route("acme-*", ["company"]))
        names = yield self.filenames(harness, "torchish")
        self.assertEqual(names, ["torchish-3.0-py3-none-any.whl"])
        self.assertEqual(self.company.count(b"/simple/torchish/"), 0)
        del self.company.projects["acme-tools"]
        code = yield self.filenames(harness, "acme-tools")
        self.assertEqual(code, 404)
        self.assertEqual(self.public.count(b"/simple/acme-tools/"), 0)

    @inlineCallbacks
    def test_merge(self):  # type: ignore[no-untyped-def]
        """
        A merge route lists the union of both sources' files, and each file
        is fetched from the source that lists it.
        """
        harness = self.harness(Route("shared", ["company", "public"], merge=True))
        _, page = yield harness.get("/simple/shared/", {"Accept": JSON_ACCEPT})
        names = sorted(f["filename"] for f in json.loads(page)["files"])
        self.assertEqual(names, ["shared-1.0-py3-none-any.whl", "shared-2.0-py3-none-any.whl"])
        _, body = yield harness.get(fileURL(page, "shared-2.0-py3-none-any.whl"))
        self.assertEqual(body, self.public.projects["shared"][0].data)
        self.assertEqual(self.public.count(b"/packages/shared-2.0-py3-none-any.whl"), 1)

    @inlineCallbacks
    def test_mergeConflict(self):  # type: ignore[no-untyped-def]
        """
        The same filename with different hashes in two sources is listed
        once, from the first source.
        """
        name, data = makeWheel("shared", "1.0", requires=["other"])
        self.public.add("shared", Dist(name, data))
        harness = self.harness(Route("shared", ["company", "public"], merge=True))
        _, page = yield harness.get("/simple/shared/", {"Accept": JSON_ACCEPT})
        files = [f for f in json.loads(page)["files"] if f["filename"] == name]
        self.assertEqual(len(files), 1)
        self.assertEqual(files[0]["hashes"]["sha256"], self.company.projects["shared"][0].sha256)


class OfflineTests(TestCase):
    """
    --offline.
    """

    @inlineCallbacks
    def test_offline(self):  # type: ignore[no-untyped-def]
        """
        Offline, cached pages and files are served and the upstream is never
        contacted; what was never cached is a 404 (pages) or a 504 (files,
        as a cache asked for what it holds only answers).
        """
        origin = sampleIndex()
        url = serveIndex(self, origin)
        online = Harness(self, [url])
        _, page = yield online.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        wheel, sdist = origin.projects["alpha"]
        yield online.get(fileURL(page, wheel.filename))
        yield online.settled()
        before = len(origin.requests)
        offline = Harness(self, [url], dataDir=online.dataDir, offline=True)
        offline.clock.advance(100_000)
        response, _ = yield offline.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        response, body = yield offline.get(fileURL(page, wheel.filename))
        self.assertEqual(body, wheel.data)
        response, body = yield offline.get(fileURL(page, sdist.filename))
        self.assertEqual(response.code, 504)
        message = f"Not cached: {sdist.filename} is not cached".encode()
        self.assertTrue(response.phrase.startswith(message), response.phrase)
        self.assertTrue(body.startswith(message), body)
        response, _ = yield offline.get("/simple/beta/")
        self.assertEqual(response.code, 404)
        self.assertEqual(len(origin.requests), before)

    @inlineCallbacks
    def test_offlineHeadOfUncachedFile(self):  # type: ignore[no-untyped-def]
        """
        Offline, HEAD on a listed file that was never cached answers as GET
        does (504), not 200 from the index's size: uv asks with HEAD
        whether it can read a wheel's metadata in ranges, then fails on
        the ranges.
        """
        origin = sampleIndex()
        url = serveIndex(self, origin)
        online = Harness(self, [url])
        _, page = yield online.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        wheel, _ = origin.projects["alpha"]
        offline = Harness(self, [url], dataDir=online.dataDir, offline=True)
        response, _ = yield offline.get(fileURL(page, wheel.filename), method="HEAD")
        self.assertEqual(response.code, 504)

    @inlineCallbacks
    def test_offlineListedMetadataOfCachedWheel(self):  # type: ignore[no-untyped-def]
        """
        Offline, the core metadata a page lists for a cached wheel, never
        fetched itself (or evicted), is read from the wheel, as pip asks
        for it before the wheel; what does not match the listed hash is
        not served.
        """
        origin = FakeIndex()
        for version, listed in [("1.0", metadataText("alpha", "1.0")), ("2.0", b"other")]:
            filename, data = makeWheel("alpha", version)
            origin.add("alpha", Dist(filename, data, metadata=listed))
        url = serveIndex(self, origin)
        online = Harness(self, [url])
        _, page = yield online.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        for wheel in origin.projects["alpha"]:
            yield online.get(fileURL(page, wheel.filename))
        yield online.settled()
        offline = Harness(self, [url], dataDir=online.dataDir, offline=True)
        good, bad = origin.projects["alpha"]
        response, body = yield offline.get(fileURL(page, good.filename) + ".metadata")
        self.assertEqual((response.code, body), (200, good.metadata))
        response, _ = yield offline.get(fileURL(page, bad.filename) + ".metadata")
        self.assertEqual(response.code, 404)
        self.assertEqual(origin.count(b"/packages/" + good.filename.encode() + b".metadata"), 0)


    @inlineCallbacks
    def test_listedMetadataUpstreamDown(self):  # type: ignore[no-untyped-def]
        """
        Listed core metadata never cached, with the company tier down, is a
        502 saying so, as its wheel is: not a 500 (which pip retries for
        seconds) with a traceback in the log.
        """
        origin = FakeIndex()
        filename, data = makeWheel("alpha", "1.0")
        origin.add("alpha", Dist(filename, data, metadata=metadataText("alpha", "1.0")))
        company = Harness(self, [serveIndex(self, origin)], pseudonym="company")
        laptop = Harness(self, [company.simpleURL], pseudonym="laptop")
        _, page = yield laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        yield takeDown(self, company.port)
        yield laptop.upstreamPool.closeCachedConnections()
        response, body = yield laptop.get(fileURL(page, filename) + ".metadata")
        self.assertEqual(response.code, 502, body)
        self.assertIn(b"refused", body)
        self.assertEqual(self.flushLoggedErrors(), [])

    @inlineCallbacks
    def test_listedMetadataRedirectLoop(self):  # type: ignore[no-untyped-def]
        """
        Listed core metadata that the upstream redirects in a loop (an
        answer not asked again, as a timeout is not) is a 502 too, not a 500.
        """
        origin = FakeIndex()
        filename, data = makeWheel("alpha", "1.0")
        origin.add("alpha", Dist(filename, data, metadata=metadataText("alpha", "1.0")))
        path = f"/packages/{filename}.metadata"
        origin.faults[path.encode()] = "redirect:" + path
        harness = Harness(self, [serveIndex(self, origin)])
        _, page = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        response, body = yield harness.get(fileURL(page, filename) + ".metadata")
        self.assertEqual(response.code, 502, body)
        self.assertEqual(self.flushLoggedErrors(), [])

    @inlineCallbacks
    def test_listedMetadataOfCachedWheelUpstreamDown(self):  # type: ignore[no-untyped-def]
        """
        With the upstream down, the core metadata a page lists for a cached
        wheel (fetched by a client that asks for no metadata: poetry or pdm
        installing from their lock) is read from the wheel, as offline,
        rather than a 502 that fails pip's install of a cached release.
        """
        origin = FakeIndex()
        filename, data = makeWheel("alpha", "1.0")
        listed = metadataText("alpha", "1.0")
        origin.add("alpha", Dist(filename, data, metadata=listed))
        harness = Harness(self, [serveIndex(self, origin)])
        _, page = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        response, _ = yield harness.get(fileURL(page, filename))
        self.assertEqual(response.code, 200)
        yield harness.settled()
        origin.down = True
        response, body = yield harness.get(fileURL(page, filename) + ".metadata")
        self.assertEqual((response.code, body), (200, listed))


class RetryTests(TestCase):
    """
    Upstream politeness.
    """

    def flakyOrigin(self, answer):  # type: ignore[no-untyped-def]
        """
        A harness over an origin whose answers to page requests
        C{answer(request, n, original)} gives, n counting from 1
        (C{original}: the origin's own answer).

        @return: the harness, and the paths asked for.
        """
        origin = sampleIndex()
        harness = Harness(self, [serveIndex(self, origin)])
        calls: list = []
        original = origin._respond

        def flaky(request):  # type: ignore[no-untyped-def]
            calls.append(request.path)
            return answer(request, len(calls), original)

        origin._respond = flaky  # type: ignore[method-assign]
        return harness, calls

    @inlineCallbacks
    def test_retryOn5xx(self):  # type: ignore[no-untyped-def]
        """
        A page GET that fails with a 5xx is retried, and succeeds when the
        upstream recovers.
        """

        def answer(request, n, original):  # type: ignore[no-untyped-def]
            if n <= 2:
                request.setResponseCode(503)
                return b"busy"
            return original(request)

        harness, calls = self.flakyOrigin(answer)
        response, _ = yield harness.get("/simple/alpha/")
        self.assertEqual(response.code, 200)
        self.assertEqual(len(calls), 3)

    @inlineCallbacks
    def test_retryOnBrokenConnection(self):  # type: ignore[no-untyped-def]
        """
        A page GET whose connection breaks, before the answer or in the
        middle of the page, is retried on a new one.
        """

        def answer(request, n, original):  # type: ignore[no-untyped-def]
            if n == 1:
                request.channel.transport.abortConnection()
                return NOT_DONE_YET
            if n == 2:
                return cutShort(request, original(request))
            return original(request)

        harness, calls = self.flakyOrigin(answer)
        response, body = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200, body)
        self.assertIn(b"alpha-1.0", body)
        self.assertEqual(len(calls), 3)

    @inlineCallbacks
    def test_retryAfterPassedOn(self):  # type: ignore[no-untyped-def]
        """
        An upstream's 429 with C{Retry-After}, with nothing cached, reaches
        the client as a 503 with the same C{Retry-After}, which pip heeds;
        until then, every page not cached is answered so, and the upstream
        is left alone.
        """
        origin = sampleIndex()
        origin.faults[b"/simple/alpha/"] = "status:429:42"
        harness = Harness(self, [serveIndex(self, origin)])
        response, body = yield harness.get("/simple/alpha/")
        self.assertEqual(response.code, 503, body)
        self.assertEqual(response.headers.getRawHeaders(b"retry-after"), [b"42"])
        self.assertIn(b"asked to be left alone for 42 s", body)
        # Meanwhile no page is asked for: the rate limit is the client's.
        harness.clock.advance(40)
        response, body = yield harness.get("/simple/beta/")
        self.assertEqual(response.code, 503, body)
        self.assertEqual(response.headers.getRawHeaders(b"retry-after"), [b"2"])
        self.assertEqual(len(origin.requests), 1)
        del origin.faults[b"/simple/alpha/"]
        origin.down = True
        harness.clock.advance(2)
        response, body = yield harness.get("/simple/alpha/")
        self.assertEqual(response.code, 502, body)
        self.assertIsNone(response.headers.getRawHeaders(b"retry-after"))


class CredentialsTests(TestCase):
    """
    Upstream credentials from the upstream URL.
    """

    @inlineCallbacks
    def test_upstreamCredentials(self):  # type: ignore[no-untyped-def]
        """
        Credentials in the upstream URL are sent to the upstream (pages and
        files), a client's own Authorization is never forwarded, and the
        password never appears in the logs.
        """
        import base64

        events = logEvents(self)
        origin = sampleIndex()
        url = serveIndex(self, origin).replace("http://", "http://team:s3cret%21@")
        harness = Harness(self, [url])
        client = "Basic " + base64.b64encode(b"someone:else").decode()
        _, page = yield harness.get(
            "/simple/alpha/", {"Accept": JSON_ACCEPT, "Authorization": client}
        )
        wheel = origin.projects["alpha"][0]
        yield harness.get(fileURL(page, wheel.filename), {"Authorization": client})
        expected = b"Basic " + base64.b64encode(b"team:s3cret!")
        sent = [h.get(b"authorization") for _, _, h in origin.requests]
        self.assertEqual(len(sent), 2)
        self.assertEqual(set(sent), {expected})
        from twisted.logger import formatEvent

        text = " ".join(formatEvent(e) for e in events)
        self.assertNotIn("s3cret", text)


class RedirectTests(TestCase):
    """
    Upstream redirects to another origin.
    """

    @inlineCallbacks
    def test_credentialsNotSentAcrossOrigins(self):  # type: ignore[no-untyped-def]
        """
        When the upstream redirects a file to another origin (a file host),
        the download follows, but the upstream's credentials stay behind.
        """
        origin = sampleIndex()
        fileHost = FakeIndex()
        wheel = origin.projects["alpha"][0]
        fileHost.add("alpha", Dist(wheel.filename, wheel.data))
        hostURL = serveIndex(self, fileHost).replace("/simple/", "")
        origin.faults[b"/packages/" + wheel.filename.encode()] = (
            f"redirect:{hostURL}/packages/{wheel.filename}"
        )
        url = serveIndex(self, origin).replace("http://", "http://team:pw@")
        harness = Harness(self, [url])
        _, page = yield harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        response, body = yield harness.get(fileURL(page, wheel.filename))
        self.assertEqual(body, wheel.data)
        [(_, path, headers)] = fileHost.requests
        self.assertEqual(path, b"/packages/" + wheel.filename.encode())
        self.assertNotIn(b"authorization", headers)
        self.assertIn(b"authorization", origin.requests[-1][2])


class StallInChainTests(TestCase):
    """
    A download that stalls above the company tier, through to the laptop.
    """

    timeout = 60

    @inlineCallbacks
    def test_laptopResumesFromCompanyStillDownloading(self):  # type: ignore[no-untyped-def]
        """
        When the origin stalls a file, the company tier waits out its stall
        deadline and resumes.  The laptop, whose own deadline comes first,
        resumes from the company, which streams the rest from that byte as
        it comes: the laptop does not wait for the whole file, which here
        would take longer than the laptop waits for an answer's headers,
        and it resumes only once.
        """
        origin = FakeIndex()
        filename, data = makeWheel("alpha", "1.0", padding=400_000)
        origin.add("alpha", Dist(filename, data))
        company = Harness(self, [serveIndex(self, origin)], pseudonym="company", idleTimeout=1.5)
        laptop = Harness(
            self, [company.simpleURL], pseudonym="laptop", idleTimeout=0.8, connectTimeout=0.3
        )
        laptop.fetcher.resumeDelays = (0.25,)
        _, page = yield laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        origin.faults[b"/packages/" + filename.encode()] = "stall-once"
        response, body = yield laptop.get(fileURL(page, filename))
        self.assertEqual(response.code, 200)
        self.assertEqual(body, data)
        self.assertEqual(laptop.fetcher.failed, 0)
        served = company.status.requests.requests.values
        self.assertIn("206", [dict(labels)["code"] for labels in served])
        yield company.settled()
        yield laptop.settled()
        self.assertTrue(company.store.exists(hashlib.sha256(data).hexdigest()))
        self.assertTrue(laptop.store.exists(hashlib.sha256(data).hexdigest()))


class RootListInChainTests(TestCase):
    """
    The root list (C{/simple/}) when an upstream fails.
    """

    @inlineCallbacks
    def test_rootListUpstreamDownNothingCached(self):  # type: ignore[no-untyped-def]
        """
        With its upstream down and no root list cached, the company tier
        answers C{/simple/} with a 502, as it does a project page, not a 200
        listing no project: the laptop, revalidating its cached root list,
        would take the empty one in its place.
        """
        origin = sampleIndex()
        company = Harness(self, [serveIndex(self, origin)], pseudonym="company")
        laptop = Harness(self, [company.simpleURL], pseudonym="laptop")
        response, body = yield laptop.get("/simple/", {"Accept": JSON_ACCEPT})
        names = [p["name"] for p in json.loads(body)["projects"]]
        self.assertIn("alpha", names)
        # A company tier that has nothing cached (a new data directory), its
        # upstream down.
        origin.down = True
        fresh = Harness(self, [serveIndex(self, origin)], pseudonym="company")
        response, body = yield fresh.get("/simple/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 502, body)
        laptop.sources[0].upstream.url = fresh.simpleURL
        laptop.clock.advance(10_000)
        response, body = yield laptop.get("/simple/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertEqual([p["name"] for p in json.loads(body)["projects"]], names)

    @inlineCallbacks
    def test_rootListLoopDetected(self):  # type: ignore[no-untyped-def]
        """
        Caches configured in a circle answer C{/simple/} with 508 Loop
        Detected, as they do a project page, not a 200 listing no project.
        """
        one = Harness(self, ["http://127.0.0.1:1/simple/"], pseudonym="one")
        two = Harness(self, [one.simpleURL], pseudonym="two")
        one.sources[0].upstream.url = two.simpleURL
        response, body = yield one.get("/simple/")
        self.assertEqual(response.code, 508, body)
        self.assertIn(b"Loop Detected", body)


class FailingOriginInChainTests(TestCase):
    """
    An origin that fails, below a chain of caches.
    """

    @inlineCallbacks
    def test_upstreamFailureNotRetriedAtEveryTier(self):  # type: ignore[no-untyped-def]
        """
        A page the origin fails (a 500), nothing cached, is tried three
        times by the company tier, whose 502 the laptop passes on without
        asking again: the laptop's own tries made each tier multiply the
        origin's requests by three (27 for one client's request through
        three tiers, and as many times the company's wait for the client,
        past pip's timeout).
        """
        origin = sampleIndex()
        origin.faults[b"/simple/alpha/"] = "500"
        company = Harness(self, [serveIndex(self, origin)], pseudonym="company")
        team = Harness(self, [company.simpleURL], pseudonym="team")
        laptop = Harness(self, [team.simpleURL], pseudonym="laptop")
        response, body = yield laptop.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 502, body)
        self.assertIn(b"HTTP 502", body)
        self.assertEqual(origin.count(b"/simple/alpha/"), 3)
        self.assertEqual(company.sources[0].requests, 1)
        self.assertEqual(team.sources[0].requests, 1)
        # Another upstream's 502 is still tried again.
        del origin.faults[b"/simple/alpha/"]
        calls: list = []
        original = origin._respond

        def flaky(request):  # type: ignore[no-untyped-def]
            calls.append(request.path)
            if len(calls) == 1:
                request.setResponseCode(502)
                return b"busy"
            return original(request)

        origin._respond = flaky  # type: ignore[method-assign]
        response, body = yield company.get("/simple/alpha/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200, body)
        self.assertEqual(len(calls), 2)
