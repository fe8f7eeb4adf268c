"""
Tests for L{cheesecache.web.site}'s plain parts; the tree it builds is
tested through the resources' own tests.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.web.site import isUpload


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
