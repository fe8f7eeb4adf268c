"""
Tests for L{cheesecache.routing}: pure routing and merging decisions.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.routing import Route, mergePages, routeFor
from cheesecache.simple.model import DistFile, ProjectPage


def dist(filename: str, sha: str) -> DistFile:
    return DistFile(filename, f"http://x/{filename}", {"sha256": hexOf(sha)})


def hexOf(label: str) -> str:
    import hashlib

    return hashlib.sha256(label.encode()).hexdigest()


class RouteForTests(SynchronousTestCase):
    """
    L{routeFor}.
    """

    def test_default(self) -> None:
        """
        Without a matching route every source is asked in order, no merge.
        """
        route = routeFor("anything", [Route("acme-*", ["private"])], ["private", "a", "b"])
        self.assertEqual(route.sources, ("private", "a", "b"))
        self.assertFalse(route.merge)

    def test_firstMatchWins(self) -> None:
        """
        The first route whose pattern matches the normalized name applies.
        """
        routes = [Route("acme-*", ["private"]), Route("*", ["b"], merge=True)]
        self.assertEqual(routeFor("Acme_Tools", routes, ["a"]).sources, ("private",))
        self.assertEqual(routeFor("other", routes, ["a"]).sources, ("b",))
        self.assertTrue(routeFor("other", routes, ["a"]).merge)

    def test_patternsNormalized(self) -> None:
        """
        Patterns and names are compared in normalized form.
        """
        self.assertTrue(Route("Torch*", ["a"]).matches("torch.vision"))
        self.assertTrue(Route("foo_bar", ["a"]).matches("Foo.Bar"))
        self.assertFalse(Route("foo", ["a"]).matches("foobar"))


class MergeTests(SynchronousTestCase):
    """
    L{mergePages}.
    """

    def test_union(self) -> None:
        """
        Files of every page are listed once each, in source order, with
        their origin.
        """
        page, origins, conflicts = mergePages(
            "x",
            [
                ("a", ProjectPage("x", [dist("x-1.tar.gz", "1"), dist("x-2.tar.gz", "2")])),
                ("b", ProjectPage("x", [dist("x-2.tar.gz", "2"), dist("x-3.tar.gz", "3")])),
            ],
        )
        self.assertEqual(
            [f.filename for f in page.files], ["x-1.tar.gz", "x-2.tar.gz", "x-3.tar.gz"]
        )
        self.assertEqual(origins, {"x-1.tar.gz": "a", "x-2.tar.gz": "a", "x-3.tar.gz": "b"})
        self.assertEqual(conflicts, [])

    def test_conflict(self) -> None:
        """
        A filename with a different hash in a later source is dropped and
        reported, never listed twice.
        """
        page, origins, conflicts = mergePages(
            "x",
            [
                ("a", ProjectPage("x", [dist("x-1.tar.gz", "1")])),
                ("b", ProjectPage("x", [dist("x-1.tar.gz", "evil")])),
            ],
        )
        self.assertEqual([f.sha256 for f in page.files], [hexOf("1")])
        self.assertEqual(len(conflicts), 1)
        self.assertEqual((conflicts[0].kept, conflicts[0].dropped), ("a", "b"))

    def test_conflictWithoutSha256(self) -> None:
        """
        A filename two sources list with different md5s (indexes that give
        no sha256) is a conflict too; the same md5, or the same sha256
        beside other hashes, is not.
        """

        def md5Dist(label: str, **hashes: str) -> DistFile:
            return DistFile("x-1.tar.gz", f"http://{label}/x-1.tar.gz", {"md5": hexOf(label)[:32], **hashes})

        sha = hexOf("1")
        for later, expected in [
            (md5Dist("evil"), 1),
            (md5Dist("1"), 0),
            (md5Dist("2", sha256=sha), 0),
        ]:
            _, _, conflicts = mergePages(
                "x",
                [
                    ("a", ProjectPage("x", [md5Dist("1", **({"sha256": sha} if later.sha256 else {}))])),
                    ("b", ProjectPage("x", [later])),
                ],
            )
            self.assertEqual(len(conflicts), expected, later)

    def test_versions(self) -> None:
        """
        The merged versions are the union of the sources' versions.
        """
        page, _, _ = mergePages(
            "x",
            [("a", ProjectPage("x", [], versions=["1"])), ("b", ProjectPage("x", [], versions=["2", "1"]))],
        )
        self.assertEqual(page.versions, ("1", "2"))
