"""
Tests for uploads and the private index over real HTTP: L{cheesecache.web.upload},
L{cheesecache.web.manage}, L{cheesecache.privatesource}, L{cheesecache.auth}.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import json
import os
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.logger import formatEvent
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import ResponseNeverReceived

from cheesecache.blobstore import BlobStore
from cheesecache.private import PrivateStore
from cheesecache.privatesource import PrivateSource
from cheesecache.routing import Route
from cheesecache.web import upload
from cheesecache.web.manage import MAX_REASON_BODY, BadReason, yankReason

from .fakeindex import Dist, FakeIndex
from .harness import JSON_ACCEPT, Harness, header, logEvents, serveIndex, sleep
from .test_chain import fileURL
from .test_private import StoreTestsMixin, freezeStamps
from .uploadforms import TWINE_BOUNDARY, clientBody, encode, twineParts
from .uploadforms import contentType as multipartType
from .wheels import makeWheel


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ALICE = basic("alice", "wonder:land")


class UploadTests(TestCase):
    """
    Uploading with the legacy API, then installing from the private index.
    """

    def setUp(self) -> None:
        self.upstream = FakeIndex()
        name, data = makeWheel("internal-lib", "9.9")
        self.upstream.add("internal-lib", Dist(name, data))
        self.harness = Harness(
            self, [serveIndex(self, self.upstream)], users={"alice": "wonder:land"}
        )

    def upload(self, client: str = "twine", version: str = "1.0", path: str = "/legacy/",
               auth: str = ALICE, data: bytes = b""):  # type: ignore[no-untyped-def]
        filename, wheel = makeWheel("internal-lib", version, requires=["attrs"])
        contentType, body = clientBody(client, "internal-lib", version, filename, data or wheel)
        headers = {"Content-Type": contentType.decode()}
        if auth:
            headers["Authorization"] = auth
        return self.harness.get(path, headers, method="POST", body=body)

    @inlineCallbacks
    def test_uploadThenList(self):  # type: ignore[no-untyped-def]
        """
        An upload is listed on both page formats with its hash, size,
        upload time and core metadata, and both the file and its .metadata
        are served.
        """
        response, body = yield self.upload()
        self.assertEqual(response.code, 200, body)
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        data = json.loads(page)
        [entry] = data["files"]
        filename, wheel = makeWheel("internal-lib", "1.0", requires=["attrs"])
        self.assertEqual(entry["filename"], filename)
        self.assertEqual(entry["hashes"]["sha256"], hashlib.sha256(wheel).hexdigest())
        self.assertEqual(entry["size"], len(wheel))
        self.assertRegex(entry["upload-time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
        response, got = yield self.harness.get(fileURL(page, filename))
        self.assertEqual(got, wheel)
        response, metadata = yield self.harness.get(fileURL(page, filename) + ".metadata")
        self.assertEqual(response.code, 200)
        self.assertEqual(
            entry["core-metadata"], {"sha256": hashlib.sha256(metadata).hexdigest()}
        )
        self.assertIn(b"Requires-Dist: attrs", metadata)
        _, html = yield self.harness.get("/simple/internal-lib/")
        self.assertIn(filename.encode(), html)
        _, root = yield self.harness.get("/simple/", {"Accept": JSON_ACCEPT})
        self.assertIn("internal-lib", [p["name"] for p in json.loads(root)["projects"]])

    def holdLock(self) -> Any:
        """
        Hold the private store's lock, as another process (the command-line
        tool) would; returns the file to unlock.
        """
        self.harness.private.root.makedirs(ignoreExistingDirectory=True)
        lock = open(self.harness.private.root.child(".lock").path, "a+b")
        self.addCleanup(lock.close)
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        return lock

    @inlineCallbacks
    def test_lockHeldElsewhere(self):  # type: ignore[no-untyped-def]
        """
        While another process (the command-line tool) holds the private
        store's lock, an upload waits for it in a thread: the server goes on
        answering, and the upload is kept once the lock is let go.
        """
        lock = self.holdLock()
        uploading = self.upload()
        yield sleep(0.2)
        self.assertNoResult(uploading)
        response, body = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(response.code, 200)
        self.assertEqual([f["filename"] for f in json.loads(body)["files"]],
                         [self.upstream.projects["internal-lib"][0].filename])
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        response, body = yield uploading
        self.assertEqual(response.code, 200, body)
        _, body = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual([f["filename"] for f in json.loads(body)["files"]],
                         [makeWheel("internal-lib", "1.0")[0]])

    @inlineCallbacks
    def test_clientGoneWhileStoring(self):  # type: ignore[no-untyped-def]
        """
        An upload whose client disconnects once its body is in (while the
        store waits for its lock) is stored whole all the same, and
        announced and logged as any other: only its answer is dropped.
        """
        events = logEvents(self)
        _, body = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        lock = self.holdLock()
        uploading = self.upload()
        yield sleep(0.2)
        uploading.cancel()
        yield self.assertFailure(uploading, ResponseNeverReceived)
        yield sleep(0.2)
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        for _ in range(50):
            if any("uploaded" in formatEvent(e) for e in events):
                break
            yield sleep(0.05)
        self.assertTrue(any("alice uploaded" in formatEvent(e) for e in events))
        _, body = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertIn(makeWheel("internal-lib", "1.0")[0],
                      [f["filename"] for f in json.loads(body)["files"]])
        self.assertEqual(self.harness.private.blobs.tmp.listdir(), [])

    @inlineCallbacks
    def test_yankWhileLockHeldElsewhere(self):  # type: ignore[no-untyped-def]
        """
        A management action waits for the store's lock in a thread too; the
        page shows its change once it is done.
        """
        yield self.upload()
        lock = self.holdLock()
        yanking = self.harness.get(
            "/-/yank/internal-lib/1.0?reason=broken", {"Authorization": ALICE}, method="POST"
        )
        yield sleep(0.2)
        self.assertNoResult(yanking)
        response, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertNotIn("yanked", json.loads(page)["files"][0])
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        response, body = yield yanking
        self.assertEqual(response.code, 200, body)
        self.assertEqual(json.loads(body)["action"], "yank")
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(json.loads(page)["files"][0]["yanked"], "broken")

    @inlineCallbacks
    def test_shadowsUpstream(self):  # type: ignore[no-untyped-def]
        """
        Once a private project exists, its page lists only the private
        files, never the upstream's same-named project.
        """
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(
            [f["filename"] for f in json.loads(page)["files"]],
            ["internal_lib-9.9-py3-none-any.whl"],
        )
        yield self.upload()
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(
            [f["filename"] for f in json.loads(page)["files"]],
            ["internal_lib-1.0-py3-none-any.whl"],
        )

    @inlineCallbacks
    def test_shadowedUpstreamFileNotServed(self):  # type: ignore[no-untyped-def]
        """
        Once a name is private, the upstream's file of that name cached
        before is a 404 at its old URL (and so is its metadata), as it is
        when it was never cached: a client with the old page or a lock
        file is not handed the upstream's project.
        """
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        url = fileURL(page, "internal_lib-9.9-py3-none-any.whl")
        response, _ = yield self.harness.get(url)
        self.assertEqual(response.code, 200)
        response, _ = yield self.harness.get(url + ".metadata")
        self.assertEqual(response.code, 200)
        yield self.upload()
        response, _ = yield self.harness.get(url)
        self.assertEqual(response.code, 404)
        response, _ = yield self.harness.get(url + ".metadata")
        self.assertEqual(response.code, 404)
        # The private file itself is served.
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        response, _ = yield self.harness.get(
            fileURL(page, "internal_lib-1.0-py3-none-any.whl")
        )
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_routedToUpstreamsAlone(self):  # type: ignore[no-untyped-def]
        """
        An upload to a name whose route leaves out "private" (served from
        upstreams alone) is refused with a 403 that says so, rather than
        stored and never served; names routed through "private" upload as
        before.
        """
        upstream = FakeIndex()
        routes = [Route("internal-*", ("upstream-1",)), Route("*", ("private", "upstream-1"))]
        self.harness = Harness(
            self, [serveIndex(self, upstream)], users={"alice": "wonder:land"}, routes=routes
        )
        response, body = yield self.upload()
        self.assertEqual(response.code, 403, body)
        self.assertIn(b"its route leaves out", response.phrase)
        self.assertIsNone(self.harness.private.record("internal-lib"))
        filename, wheel = makeWheel("other-lib", "1.0")
        contentType, body = clientBody("twine", "other-lib", "1.0", filename, wheel)
        response, _ = yield self.harness.get(
            "/legacy/", {"Content-Type": contentType.decode(), "Authorization": ALICE},
            method="POST", body=body,
        )
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_everyClientsShape(self):  # type: ignore[no-untyped-def]
        """
        Bodies shaped as twine, uv, poetry and pdm send them are accepted.
        """
        for i, client in enumerate(["twine", "uv", "poetry", "pdm"]):
            response, body = yield self.upload(client, version=f"1.{i}")
            self.assertEqual((client, response.code), (client, 200), body)

    @inlineCallbacks
    def test_paths(self):  # type: ignore[no-untyped-def]
        """
        POST to /, /legacy and /legacy/ all upload, none redirects.
        """
        for i, path in enumerate(["/", "/legacy", "/legacy/"]):
            response, body = yield self.upload(version=f"2.{i}", path=path)
            self.assertEqual((path, response.code), (path, 200), body)

    @inlineCallbacks
    def test_credentials(self):  # type: ignore[no-untyped-def]
        """
        No or wrong credentials get 401 with a Basic challenge, and nothing
        is stored.
        """
        for auth in ("", basic("alice", "wrong"), basic("mallory", "x")):
            response, _ = yield self.upload(auth=auth)
            self.assertEqual(response.code, 401)
            self.assertEqual(header(response, "www-authenticate"), 'Basic realm="cheesecache"')
        self.assertEqual(self.harness.private.projects(), ())

    @inlineCallbacks
    def test_reupload(self):  # type: ignore[no-untyped-def]
        """
        The same file again is a 200; other bytes under the same filename
        are a 400 whose reason phrase and body start with "File already
        exists".
        """
        response, _ = yield self.upload()
        response, _ = yield self.upload()
        self.assertEqual(response.code, 200)
        filename, wheel = makeWheel("internal-lib", "1.0", requires=["other"])
        response, body = yield self.upload(data=wheel)
        self.assertEqual(response.code, 400)
        self.assertTrue(response.phrase.startswith(b"File already exists"), response.phrase)
        self.assertTrue(body.startswith(b"File already exists"))

    @inlineCallbacks
    def test_badBody(self):  # type: ignore[no-untyped-def]
        """
        A body that is not multipart is a clear 400.
        """
        response, body = yield self.harness.get(
            "/legacy/", {"Authorization": ALICE, "Content-Type": "text/plain"},
            method="POST", body=b"hello",
        )
        self.assertEqual(response.code, 400)
        self.assertIn(b"multipart/form-data", body)

    @inlineCallbacks
    def test_diskFullWhileReceiving(self):  # type: ignore[no-untyped-def]
        """
        An upload whose body cannot be spooled to a full disk is a 507
        that says so in its reason phrase (all twine shows), not a 500.
        """
        def full(*args: Any) -> Any:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        self.patch(upload, "parseMultipart", full)
        response, body = yield self.upload()
        self.assertEqual(response.code, 507, body)
        self.assertIn(b"No space left on device", response.phrase)
        self.assertEqual(self.harness.private.projects(), ())

    @inlineCallbacks
    def test_diskReadOnlyWhileStoring(self):  # type: ignore[no-untyped-def]
        """
        An upload whose record cannot be written (a read-only disk) is a
        503 that says so, not a 500; nothing is listed, and the next upload,
        once the disk takes writes again, is kept.
        """
        save = PrivateStore._save

        def readOnly(store: PrivateStore, record: Any) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        self.patch(PrivateStore, "_save", readOnly)
        response, body = yield self.upload()
        self.assertEqual(response.code, 503, body)
        self.assertIn(b"Read-only file system", response.phrase)
        self.assertEqual(self.harness.private.projects(), ())
        self.patch(PrivateStore, "_save", save)
        response, body = yield self.upload()
        self.assertEqual(response.code, 200, body)
        self.assertEqual(self.harness.private.projects(), ("internal-lib",))

    @inlineCallbacks
    def test_yankOnAReadOnlyDisk(self):  # type: ignore[no-untyped-def]
        """
        A yank or delete whose record cannot be written (a read-only or
        full disk) is a 503 or 507 that says so, not a 500, and changes
        nothing.
        """
        yield self.upload()

        def failing(code: int) -> Any:
            def save(store: PrivateStore, record: Any) -> None:
                raise OSError(code, os.strerror(code))
            return save

        self.patch(PrivateStore, "_save", failing(errno.EROFS))
        response, body = yield self.harness.get(
            "/-/yank/internal-lib/1.0", {"Authorization": ALICE}, method="POST"
        )
        self.assertEqual(response.code, 503, body)
        self.assertIn(b"Read-only file system", body)
        self.patch(PrivateStore, "_save", failing(errno.ENOSPC))
        response, body = yield self.harness.get(
            "/-/delete/internal-lib/1.0", {"Authorization": ALICE}, method="DELETE"
        )
        self.assertEqual(response.code, 507, body)
        self.assertIn(b"No space left on device", body)
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        [entry] = json.loads(page)["files"]
        self.assertNotIn("yanked", entry)

    @inlineCallbacks
    def test_outcomesCounted(self):  # type: ignore[no-untyped-def]
        """
        C{/-/metrics} counts every upload refused, whatever refused it: a
        body that is not multipart, or not well formed, as well as a file
        the checks refuse.
        """
        yield self.upload()
        yield self.upload()
        _, wheel = makeWheel("internal-lib", "1.0", requires=["other"])
        yield self.upload(data=wheel)
        for contentType, body in [
            ("text/plain", b"hello"),
            ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a part"),
        ]:
            response, _ = yield self.harness.get(
                "/legacy/", {"Authorization": ALICE, "Content-Type": contentType},
                method="POST", body=body,
            )
            self.assertEqual(response.code, 400)
        _, metrics = yield self.harness.get("/-/metrics", {"Authorization": ALICE})
        counted = {
            line.split(b'"')[1]: line.split()[-1]
            for line in metrics.splitlines()
            if line.startswith(b"cheesecache_uploads_total{")
        }
        self.assertEqual(
            counted, {b"accepted": b"1", b"duplicate": b"1", b"rejected": b"3"}
        )

    @inlineCallbacks
    def test_yankUnyankDelete(self):  # type: ignore[no-untyped-def]
        """
        Yank (with a reason), unyank and delete over HTTP, reflected on both
        page formats at once; management needs credentials.
        """
        yield self.upload()
        response, _ = yield self.harness.get(
            "/-/yank/internal-lib/1.0?reason=broken", method="POST"
        )
        self.assertEqual(response.code, 401)
        response, body = yield self.harness.get(
            "/-/yank/internal-lib/1.0?reason=broken", {"Authorization": ALICE}, method="POST"
        )
        self.assertEqual(response.code, 200, body)
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(json.loads(page)["files"][0]["yanked"], "broken")
        _, html = yield self.harness.get("/simple/internal-lib/")
        self.assertIn(b'data-yanked="broken"', html)
        yield self.harness.get("/-/unyank/internal-lib/1.0", {"Authorization": ALICE}, method="POST")
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertNotIn("yanked", json.loads(page)["files"][0])
        response, _ = yield self.harness.get(
            "/-/delete/internal-lib/1.0", {"Authorization": ALICE}, method="DELETE"
        )
        self.assertEqual(response.code, 200)
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(json.loads(page)["files"], [])
        # A deleted filename can never be reused.
        response, body = yield self.upload()
        self.assertEqual(response.code, 400, body)
        response, _ = yield self.harness.get(
            "/-/yank/nope/1.0", {"Authorization": ALICE}, method="POST"
        )
        self.assertEqual(response.code, 404)


    @inlineCallbacks
    def test_nameReadOnce(self):  # type: ignore[no-untyped-def]
        """
        A form whose first C{name} is one clients send for absent metadata
        (C{UNKNOWN}), the project's real name after it, is checked against
        the record of the project it is kept under: a deleted filename
        stays refused and the other releases stay listed.
        """
        for version in ("1.0", "2.0"):
            response, body = yield self.upload(version=version)
            self.assertEqual(response.code, 200, body)
        response, body = yield self.harness.get(
            "/-/delete/internal-lib/1.0", {"Authorization": ALICE}, method="DELETE"
        )
        self.assertEqual(response.code, 200, body)
        filename, wheel = makeWheel("internal-lib", "1.0", requires=["other"])
        parts = [("name", "UNKNOWN")] + twineParts("internal-lib", "1.0", filename, wheel)
        response, body = yield self.harness.get(
            "/legacy/",
            {"Content-Type": multipartType(TWINE_BOUNDARY).decode(), "Authorization": ALICE},
            method="POST", body=encode(parts, TWINE_BOUNDARY),
        )
        self.assertEqual(response.code, 400, body)
        self.assertIn(b"previously used", body)
        record = self.harness.private.record("internal-lib")
        self.assertEqual([f.version for f in record.files], ["2.0"])
        self.assertIn(filename, record.deleted)

    @inlineCallbacks
    def test_yankReasonInTheBody(self):  # type: ignore[no-untyped-def]
        """
        A yank's reason may come as a form field (what C{curl -d} sends) or
        as JSON; a body whose reason cannot be read is a 400 and yanks
        nothing, rather than a yank without the reason.
        """
        yield self.upload()
        refused = (
            ("text/plain", b"broken build"),
            ("application/json", b"{not json"),
            ("application/json", b'{"reason": 3}'),
            ("application/x-www-form-urlencoded", b"reason=%FF"),
        )
        for contentType, body in refused:
            response, text = yield self.harness.get(
                "/-/yank/internal-lib/1.0",
                {"Authorization": ALICE, "Content-Type": contentType},
                method="POST", body=body,
            )
            self.assertEqual((contentType, response.code), (contentType, 400), text)
            self.assertIn(b"reason", text)
            _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
            self.assertNotIn("yanked", json.loads(page)["files"][0])
        for contentType, body, reason in (
            ("application/x-www-form-urlencoded", b"reason=broken+build%21", "broken build!"),
            ("application/json; charset=utf-8", b'{"reason": "bad \u00e9"}', "bad \u00e9"),
        ):
            response, text = yield self.harness.get(
                "/-/yank/internal-lib/1.0",
                {"Authorization": ALICE, "Content-Type": contentType},
                method="POST", body=body,
            )
            self.assertEqual(response.code, 200, text)
            _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
            self.assertEqual(json.loads(page)["files"][0]["yanked"], reason)

    @inlineCallbacks
    def test_deleteBesideAnUnreadableRecord(self):  # type: ignore[no-untyped-def]
        """
        A delete done while another project's record is unreadable answers
        200 and shows on the page, as it is done; the bytes are kept, as
        nobody can tell whether that project has them too.
        """
        yield self.upload()
        filename, wheel = makeWheel("internal-lib", "1.0", requires=["attrs"])
        sha256 = hashlib.sha256(wheel).hexdigest()
        self.harness.private.root.child("other.json").setContent(b"{not json")
        response, body = yield self.harness.get(
            "/-/delete/internal-lib/1.0", {"Authorization": ALICE}, method="DELETE"
        )
        self.assertEqual(response.code, 200, body)
        self.assertEqual(json.loads(body)["files"], [filename])
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertEqual(json.loads(page)["files"], [])
        self.assertTrue(self.harness.store.exists(sha256))

    @inlineCallbacks
    def test_yankReasonNestedTooDeep(self):  # type: ignore[no-untyped-def]
        """
        A JSON body nested deeper than the parser goes is a 400 that yanks
        nothing, not a server error.
        """
        yield self.upload()
        response, text = yield self.harness.get(
            "/-/yank/internal-lib/1.0",
            {"Authorization": ALICE, "Content-Type": "application/json"},
            method="POST", body=b"[" * 60_000,
        )
        self.assertEqual(response.code, 400, text)
        self.assertIn(b"reason", text)
        _, page = yield self.harness.get("/simple/internal-lib/", {"Accept": JSON_ACCEPT})
        self.assertNotIn("yanked", json.loads(page)["files"][0])

    @inlineCallbacks
    def test_managementIsPostOnly(self):  # type: ignore[no-untyped-def]
        """
        GET and HEAD on a management action, or on C{/-/warm}, are refused
        with 405 and the methods that are allowed, not a server error.
        """
        for path, allowed in (
            ("/-/yank/internal-lib/1.0", "POST"),
            ("/-/delete/internal-lib/1.0", "DELETE, POST"),
            ("/-/warm", "POST"),
        ):
            for method in ("GET", "HEAD"):
                response, _ = yield self.harness.get(path, {"Authorization": ALICE}, method=method)
                self.assertEqual(
                    (path, method, response.code, header(response, "allow")),
                    (path, method, 405, allowed),
                )


class NoUsersTests(TestCase):
    """
    Without a users file.
    """

    @inlineCallbacks
    def test_uploadsDisabled(self):  # type: ignore[no-untyped-def]
        """
        Without --users, uploads are refused with a message saying why, in
        the reason phrase too: twine shows that alone (a bare "Forbidden"
        reads as credentials without the right).
        """
        harness = Harness(self, [serveIndex(self, FakeIndex())])
        filename, wheel = makeWheel("x", "1.0")
        contentType, body = clientBody("twine", "x", "1.0", filename, wheel)
        response, text = yield harness.get(
            "/legacy/", {"Content-Type": contentType.decode(), "Authorization": ALICE},
            method="POST", body=body,
        )
        self.assertEqual(response.code, 403)
        self.assertIn(b"--users", text)
        self.assertIn(b"--users", response.phrase)


class PrivateSourceTests(StoreTestsMixin, SynchronousTestCase):
    """
    L{PrivateSource} without a server.
    """

    def test_changeWithinTheSecondSeen(self) -> None:
        """
        A change by the command-line tool is served within C{recheck} even
        when the private folder's modification time stays the same (a
        filesystem with whole-second times, a change within the second):
        to a project's page and to the list of projects.
        """
        wheel = makeWheel("foo-bar", "1.1")
        self.upload("foo-bar", "1.1", *wheel)
        source = PrivateSource(self.store, self.clock)
        other = PrivateStore(self.dataDir, BlobStore(self.dataDir), self.clock)
        private = self.dataDir.child("private")

        def yanked() -> object:
            lookup = source.pageNow("foo-bar")
            assert lookup is not None
            return {f.filename: f.yanked for f in lookup.entry.content.files}  # type: ignore[union-attr]

        other.yank("foo-bar", "1.1", "reason A")
        self.clock.advance(1)
        self.assertEqual(yanked(), {wheel[0]: "reason A"})
        freezeStamps(self, private, private.child("foo-bar.json"))
        self.clock.advance(1)
        self.assertEqual(yanked(), {wheel[0]: "reason A"})
        self.assertEqual(source.pageNow(None).entry.content.names, ("foo-bar",))  # type: ignore[union-attr]
        other.yank("foo-bar", "1.1", "reason B")
        incoming = FilePath(self.mktemp())
        incoming.makedirs()
        filename, data = makeWheel("baz", "2.0")
        incoming.child(filename).setContent(data)
        other.importDirectory(incoming)
        self.clock.advance(1)
        self.assertEqual(yanked(), {wheel[0]: "reason B"})
        self.assertEqual(source.pageNow(None).entry.content.names, ("baz", "foo-bar"))  # type: ignore[union-attr]

    def test_notPrivateHeldWithinBudget(self) -> None:
        """
        Only the latest names found not private, up to C{notFoundBudget},
        are held in memory: requests for ever new names do not grow it for
        good.  A private project's page stays held.
        """
        self.upload("foo-bar", "1.1", *makeWheel("foo-bar", "1.1"))
        source = PrivateSource(self.store, self.clock)
        source.notFoundBudget = 3
        self.assertTrue(source.pageNow("foo-bar").entry.found)  # type: ignore[union-attr]
        for i in range(10):
            self.assertFalse(source.pageNow(f"public-{i}").entry.found)  # type: ignore[union-attr]
        names = ["foo-bar"] + [f"public-{i}" for i in range(10)]
        self.assertEqual(
            [n for n in names if source.cachedEntry(n) is not None],
            ["foo-bar", "public-7", "public-8", "public-9"],
        )
        self.assertFalse(source.pageNow("public-0").entry.found)  # type: ignore[union-attr]
        self.assertIsNone(source.cachedEntry("public-7"))


class YankReasonTests(SynchronousTestCase):
    """
    L{yankReason}: where a yank's reason is read from, without a server.
    """

    def test_query(self) -> None:
        """
        The query's C{reason} wins over the body, which is then not read.
        """
        self.assertEqual(
            yankReason({b"reason": [b"broken"]}, b"text/plain", b"anything"), "broken"
        )

    def test_none(self) -> None:
        """
        No reason anywhere, or an empty one, is no reason; so is an empty
        body of any type.
        """
        self.assertIsNone(yankReason({}, None, b""))
        self.assertIsNone(yankReason({b"reason": [b""]}, None, b""))
        self.assertIsNone(yankReason({}, b"text/plain", b"  \r\n"))
        self.assertIsNone(yankReason({}, b"application/json", b"{}"))
        self.assertIsNone(
            yankReason({}, b"application/x-www-form-urlencoded", b"other=1")
        )

    def test_form(self) -> None:
        """
        A form body's C{reason} field, percent-decoded, whatever the
        case of its media type and its parameters.
        """
        self.assertEqual(
            yankReason(
                {}, b"Application/X-WWW-Form-Urlencoded; charset=utf-8",
                b"a=1&reason=no+good%20%C3%A9",
            ),
            "no good \u00e9",
        )

    def test_json(self) -> None:
        """
        A JSON object's C{"reason"}, for C{application/json} and C{+json}
        types.
        """
        self.assertEqual(yankReason({}, b"application/json", b'{"reason": "x"}'), "x")
        self.assertEqual(
            yankReason({}, b"application/vnd.example+json", b'{"reason": "y"}'), "y"
        )

    def test_unreadable(self) -> None:
        """
        A reason that cannot be read is an error, not silently dropped.
        """
        for query, contentType, body in (
            ({b"reason": [b"\xff"]}, None, b""),
            ({}, b"application/x-www-form-urlencoded", b"reason=%FF"),
            ({}, b"application/json", b"[1]"),
            ({}, b"application/json", b'{"reason": ["x"]}'),
            ({}, b"application/json", b"{"),
            ({}, b"text/plain", b"broken"),
            ({}, None, b"reason=broken"),
            ({}, b"application/json", b" " * (MAX_REASON_BODY + 1) + b"{}"),
        ):
            self.assertRaises(BadReason, yankReason, query, contentType, body)


def bigRecord(name: str, count: int = 600) -> Any:
    """
    The record of private project C{name} with C{count} sdists: its pages
    are big enough to be rendered to disk.
    """
    from cheesecache.privaterecord import PrivateFile, ProjectRecord

    return ProjectRecord(name=name, files=[
        PrivateFile(
            filename=f"{name}-1.{i}.tar.gz", version=f"1.{i}", filetype="sdist",
            size=i + 1, sha256="%064x" % i, md5="%032x" % i, blake2_256="%064x" % (i + 1),
            uploadTime="2026-01-01T00:00:00.000000Z",
        )
        for i in range(count)
    ])


class PrivateRenderedTests(TestCase):
    """
    The files of big private pages rendered to disk.
    """

    def setUp(self) -> None:
        self.harness = Harness(self, [serveIndex(self, FakeIndex())])
        self.harness.private._save(bigRecord("big"))

    @inlineCallbacks
    def renderedFiles(self):  # type: ignore[no-untyped-def]
        """
        Ask for the page as JSON and HTML, gzipped once its twins are made;
        the paths of the files of its representations.
        """
        for accept in (JSON_ACCEPT, "text/html"):
            response, _ = yield self.harness.get("/simple/big/", {"Accept": accept})
            self.assertEqual(response.code, 200)
        from cheesecache.web.representation import TWIN_DELAY

        self.harness.clock.advance(TWIN_DELAY)
        for _ in range(100):
            reps = self.harness.privateSource.cachedEntry("big").rendered.values()
            if all(rep.twin for rep in reps):
                break
            yield sleep(0.02)
        paths = [rep.path for rep in reps]
        self.assertEqual(len(paths), 2)
        self.assertNotIn(None, paths)
        return {p for path in paths for p in (path, path + ".gz")}

    def assertGone(self, paths: Any) -> None:
        import os

        self.assertEqual([p for p in sorted(paths) if os.path.exists(p)], [])

    @inlineCallbacks
    def test_changedHere(self):  # type: ignore[no-untyped-def]
        """
        Once a big private page changes (an upload, a yank, a delete by
        this server), the files of its old representations and their
        twins go: they are served no more, and would otherwise pile up in
        the data directory with every change.
        """
        before = yield self.renderedFiles()
        self.harness.private.yank("big", "big-1.0.tar.gz")
        after = yield self.renderedFiles()
        self.assertFalse(before & after)
        self.assertGone(before)

    @inlineCallbacks
    def test_changedByTheTool(self):  # type: ignore[no-untyped-def]
        """
        So do they when the command-line tool changes the project.
        """
        before = yield self.renderedFiles()
        other = PrivateStore(
            self.harness.dataDir, BlobStore(self.harness.dataDir), self.harness.clock
        )
        other.yank("big", "big-1.0.tar.gz")
        self.harness.clock.advance(self.harness.privateSource.recheck)
        after = yield self.renderedFiles()
        self.assertFalse(before & after)
        self.assertGone(before)
