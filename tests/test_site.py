"""
Tests for L{cheesecache.web.site}'s plain parts; the tree it builds is
tested through the resources' own tests.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cheesecache.web.site import isUpload

from .harness import Harness, serveIndex
from .test_index import sampleIndex


class IsUploadTests(SynchronousTestCase):
    """
    L{isUpload} picks the requests whose bodies may be as big as a file.
    """

    def test_uploadPaths(self) -> None:
        """
        A POST to the upload endpoint, with or without its slash or a
        query, or to the bare server URL, is an upload.
        """
        for path in [b"/", b"/legacy", b"/legacy/", b"/legacy/?x=1", b"/?a"]:
            self.assertTrue(isUpload(b"POST", path), path)

    def test_others(self) -> None:
        """
        Other methods, and POSTs anywhere else, are not.
        """
        for method, path in [
            (b"GET", b"/legacy/"),
            (b"PUT", b"/"),
            (b"POST", b"/-/warm"),
            (b"POST", b"/simple/"),
            (b"POST", b"/legacy/x"),
            (b"POST", b"//legacy/"),
            (b"post", b"/legacy/"),
        ]:
            self.assertFalse(isUpload(method, path), (method, path))


class PathTests(TestCase):
    """
    Odd request paths are answered as not found, not as server errors.
    """

    @inlineCallbacks
    def test_overlongName(self):  # type: ignore[no-untyped-def]
        """
        A project name too long to be a file name (its stored page or
        record would be one) is not found: a page, a file, its metadata.
        """
        harness = Harness(self, [serveIndex(self, sampleIndex())])
        harness.private.root.makedirs()  # as once anything was uploaded
        name = "a" * 300
        sha = "0" * 64
        for path in [
            f"/simple/{name}/",
            f"/files/{name}/{sha}/{name}-1.0.tar.gz",
            f"/files/{name}/{sha}/{name}-1.0-py3-none-any.whl.metadata",
        ]:
            response, _ = yield harness.get(path)
            self.assertEqual(response.code, 404, path)
        self.assertEqual(self.flushLoggedErrors(), [])
