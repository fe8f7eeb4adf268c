"""
Tests for L{cheesecache.web.status} and L{cheesecache.metrics}: health,
Prometheus metrics (parsed with prometheus_client's own parser) and the
landing page.
"""

from __future__ import annotations

import json

import attrs

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cheesecache.metrics import Histogram, counter, render
from cheesecache.web.status import RequestMetrics, routeOf

from .harness import JSON_ACCEPT, Harness, header, serveIndex, sleep
from .test_chain import fileURL
from .test_index import sampleIndex


def samples(text: bytes) -> dict:
    """
    C{(name, frozenset(labels)) -> value} of every sample, as Prometheus'
    own parser reads them.
    """
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


class PureTests(SynchronousTestCase):
    """
    Routes and the exposition format.
    """

    def test_routes(self) -> None:
        """
        Request paths map to a few route names.
        """
        cases = {
            b"/": "root", b"/simple/": "simple-list", b"/simple/a/": "simple-project",
            b"/files/a/k/a-1.whl": "files", b"/files/a/k/a-1.whl.metadata": "metadata",
            b"/legacy/": "upload", b"/-/health": "health", b"/-/metrics": "metrics",
            b"/-/yank/a/1": "manage", b"/nope": "other", b"/simple/?x=1": "simple-list",
        }
        for path, route in cases.items():
            self.assertEqual((path, routeOf(path)), (path, route))

    def test_projectWithoutSlash(self) -> None:
        """
        A project page asked for without its trailing slash (redirected to
        it) is counted as C{simple-project}, not as the project list.
        """
        for path in [b"/simple/a", b"/simple/a?format=json"]:
            self.assertEqual((path, routeOf(path)), (path, "simple-project"))
        self.assertEqual(routeOf(b"/simple"), "simple-list")

    def test_countsByRouteAcrossManyURIs(self) -> None:
        """
        Requests are counted per URI and grouped into routes when read:
        more distinct URIs than are kept apart lose no count.
        """
        metrics = RequestMetrics()
        uris = [b"/simple/p%d/" % i for i in range(2500)] + [b"/-/health"] * 3
        for uri in uris:
            metrics.record(_Finished(uri, 200))
        metrics.record(_Finished(b"/simple/gone/", 404))
        self.assertEqual(
            metrics.requests.values,
            {
                (("code", "200"), ("route", "simple-project")): 2500.0,
                (("code", "200"), ("route", "health")): 3.0,
                (("code", "404"), ("route", "simple-project")): 1.0,
            },
        )
        metrics.record(_Finished(b"/simple/p1/", 200))
        self.assertEqual(
            metrics.requests.values[(("code", "200"), ("route", "simple-project"))], 2501.0
        )

    def test_histogramAndEscaping(self) -> None:
        """
        Histograms render cumulative buckets, sum and count; label values
        are escaped; the parser agrees.
        """
        h = Histogram(buckets=(0.1, 1.0))
        for v in (0.05, 0.5, 0.5, 5.0):
            h.observe(v)
        from cheesecache.metrics import Family

        text = render([
            Family("x_seconds", "histogram", "latency", {(("u", 'a"b\\c'),): h}),
            counter("y_total", "things", {(): 3.0}),
        ])
        parsed = samples(text)
        label = ("u", 'a"b\\c')
        self.assertEqual(parsed[("x_seconds_bucket", frozenset({label, ("le", "0.1")}))], 1)
        self.assertEqual(parsed[("x_seconds_bucket", frozenset({label, ("le", "1.0")}))], 3)
        self.assertEqual(parsed[("x_seconds_bucket", frozenset({label, ("le", "+Inf")}))], 4)
        self.assertEqual(parsed[("x_seconds_count", frozenset({label}))], 4)
        self.assertAlmostEqual(parsed[("x_seconds_sum", frozenset({label}))], 6.05)
        self.assertEqual(parsed[("y_total", frozenset())], 3)


class StatusTests(TestCase):
    """
    The operator endpoints of a working cheesecache.
    """

    def setUp(self) -> None:
        self.upstream = sampleIndex()
        self.harness = Harness(self, [serveIndex(self, self.upstream)])

    @inlineCallbacks
    def test_health(self):  # type: ignore[no-untyped-def]
        """
        /-/health is 200 and says whether each upstream answered last time.
        """
        response, body = yield self.harness.get("/-/health")
        self.assertEqual(response.code, 200)
        data = json.loads(body)
        self.assertEqual(data["status"], "ok")
        self.assertIsNone(data["upstreams"][0]["reachable"])
        yield self.harness.get("/simple/alpha/")
        data = json.loads((yield self.harness.get("/-/health"))[1])
        self.assertTrue(data["upstreams"][0]["reachable"])
        self.upstream.down = True
        yield self.harness.get("/simple/beta/")
        response, body = yield self.harness.get("/-/health")
        self.assertEqual(response.code, 200)
        upstream = json.loads(body)["upstreams"][0]
        self.assertFalse(upstream["reachable"])
        self.assertIn("500", upstream["lastError"])

    @inlineCallbacks
    def test_healthSlow(self):  # type: ignore[no-untyped-def]
        """
        An upstream that left a request unanswered past the patience is
        reported slow (its cached pages are served meanwhile) until it
        answers again.
        """
        yield self.harness.get("/simple/alpha/")
        self.upstream.hold()
        self.addCleanup(self.upstream.release)
        self.harness.clock.advance(601)
        waiting = self.harness.get("/simple/alpha/")
        while not self.upstream.requests[1:]:
            yield sleep(0.005)
        self.harness.clock.advance(self.harness.sources[0].policy.patience)
        response, _ = yield waiting
        self.assertEqual(response.code, 200)
        data = json.loads((yield self.harness.get("/-/health"))[1])
        self.assertTrue(data["upstreams"][0]["slow"])
        self.assertIn(b"slow to answer: serving cached pages", (yield self.harness.get("/"))[1])
        self.upstream.release()
        while self.harness.sources[0].slow:
            yield sleep(0.005)
        data = json.loads((yield self.harness.get("/-/health"))[1])
        self.assertFalse(data["upstreams"][0]["slow"])
        self.assertIn(b"reachable", (yield self.harness.get("/"))[1])

    @inlineCallbacks
    def test_metrics(self):  # type: ignore[no-untyped-def]
        """
        /-/metrics counts requests by route and status, page hits and
        misses, coalesced waiters, stale serves, file hits and misses,
        bytes by source and upstream latency, in a format Prometheus parses.
        """
        self.upstream.hold()
        pages = [self.harness.get("/simple/alpha/", {"Accept": JSON_ACCEPT}) for _ in range(3)]
        from .harness import sleep

        while not self.upstream.requests:
            yield sleep(0.01)
        yield sleep(0.05)
        self.upstream.release()
        results = yield gatherResults(pages)
        page = results[0][1]
        wheel = self.upstream.projects["alpha"][0]
        yield self.harness.get(fileURL(page, wheel.filename))
        yield self.harness.settled()
        yield self.harness.get(fileURL(page, wheel.filename))
        yield self.harness.get("/simple/nope/")
        self.upstream.down = True
        self.harness.clock.advance(10_000)
        yield self.harness.get("/simple/alpha/")
        response, text = yield self.harness.get("/-/metrics")
        self.assertEqual(response.code, 200)
        self.assertTrue(header(response, "content-type").startswith("text/plain; version=0.0.4"))
        m = samples(text)
        up = ("upstream", "upstream-1")
        self.assertEqual(m[("cheesecache_requests_total", frozenset({("route", "simple-project"), ("code", "200")}))], 4)
        self.assertEqual(m[("cheesecache_requests_total", frozenset({("route", "simple-project"), ("code", "404")}))], 1)
        self.assertEqual(m[("cheesecache_coalesced_waiters_total", frozenset({("kind", "page"), up}))], 2)
        self.assertEqual(m[("cheesecache_stale_served_total", frozenset({up}))], 1)
        self.assertEqual(m[("cheesecache_file_cache_total", frozenset({("result", "hit")}))], 1)
        self.assertEqual(m[("cheesecache_file_cache_total", frozenset({("result", "miss")}))], 1)
        self.assertEqual(m[("cheesecache_bytes_served_total", frozenset({("source", "cache")}))], len(wheel.data))
        self.assertEqual(m[("cheesecache_bytes_fetched_total", frozenset())], len(wheel.data))
        self.assertGreaterEqual(m[("cheesecache_upstream_request_seconds_count", frozenset({up}))], 2)
        self.assertEqual(m[("cheesecache_upstream_up", frozenset({up}))], 0)

    @inlineCallbacks
    def test_landingPage(self):  # type: ignore[no-untyped-def]
        """
        / shows the upstreams and their state, the private projects and the
        hit rate, as HTML with the security headers.
        """
        yield self.harness.get("/simple/alpha/")
        yield self.harness.get("/simple/alpha/")
        response, body = yield self.harness.get("/")
        self.assertEqual(response.code, 200)
        self.assertIn(b"upstream-1", body)
        self.assertIn(b"reachable", body)
        self.assertIn(b"Hit rate: 50%", body)
        self.assertIn("default-src 'none'", header(response, "content-security-policy"))


@attrs.frozen
class _Finished:
    """
    What L{RequestMetrics.record} reads of a finished request.
    """

    uri: bytes
    code: int
