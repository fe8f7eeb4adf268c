"""
Fuzzing the resource tree with hypothesis: whatever the path, method and
headers, the server answers with a client error or success, never a 5xx,
and never lets a name it would reject reach the stores.
"""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.blobstore import BlobStore
from cheesecache.filefetch import FileFetcher
from cheesecache.index import Index, UpstreamSource
from cheesecache.metadata import MetadataService
from cheesecache.pagestore import PageStore
from cheesecache.private import PrivateStore
from cheesecache.privatesource import PrivateSource
from cheesecache.upstream import Upstream
from cheesecache.web.site import makeRoot

segments = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(["..", ".", "%2e%2e", "a/b", "a\\b", "\x00", "\r\nX: y", "simple", "files",
                     "alpha", "Alpha", "-", "legacy", "yank", "0" * 64, "a" * 64 + ".metadata"]),
)


class FuzzTests(SynchronousTestCase):
    """
    Arbitrary requests against an offline cheesecache with nothing cached.
    """

    def setUp(self) -> None:
        clock = Clock()
        self.dataDir = FilePath(self.mktemp())
        self.dataDir.makedirs()
        blobs = BlobStore(self.dataDir)
        upstream = Upstream.fromURL("http://127.0.0.1:9/simple/", None, clock)  # type: ignore[arg-type]
        source = UpstreamSource(upstream, PageStore(self.dataDir.child("pages")), clock, offline=True)
        private = PrivateStore(self.dataDir, blobs, clock)
        root = makeRoot(
            Index([PrivateSource(private, clock), source]), blobs, FileFetcher(blobs, clock),
            MetadataService(blobs, clock), private=private, reactor=clock,
        )
        self.treq = StubTreq(root)

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(segments, min_size=0, max_size=5),
        st.sampled_from(["GET", "HEAD", "POST", "DELETE", "PUT"]),
        st.dictionaries(
            st.sampled_from(["Accept", "Accept-Encoding", "Range", "If-None-Match", "Via", "Authorization"]),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
            max_size=3,
        ),
    )
    def test_neverServerError(self, parts, method, headers):  # type: ignore[no-untyped-def]
        """
        No request gets a 5xx (offline and empty, nothing can legitimately
        fail upstream; 501 for PUT and DELETE where they mean nothing), and nothing is written outside the data directory's
        own folders.
        """
        path = "/" + "/".join(quote(p, safe="") for p in parts)
        d = self.treq.request(method, "http://cheesecache.invalid" + path, headers=headers)
        self.treq.flush()
        response = self.successResultOf(d)
        if method in ("PUT", "DELETE") and response.code == 501:
            return  # Twisted's answer to a method a resource does not have
        self.assertLess(response.code, 500, (method, path, headers))
        if response.code in (301, 302):
            location = response.headers.getRawHeaders(b"location")[0]
            self.assertNotIn(b"\n", location)
            self.assertNotIn(b"\r", location)
        for child in self.dataDir.children():
            self.assertIn(child.basename(), {"pages", "blobs", "tmp", "private"})
