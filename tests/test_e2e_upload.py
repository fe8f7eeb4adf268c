"""
End-to-end: the real twine and uv publish upload to a real
C{twistd -n cheesecache}; pip and uv install the private releases, which
shadow a same-named upstream project; the C{cheesecache} command yanks,
deletes and imports.
"""

from __future__ import annotations

import os
import shutil
import sys

from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from .fakeindex import Dist, FakeIndex
from .harness import serveIndex
from .test_e2e import BIN, CLIENT_ENV, TwistdProcess, run
from .wheels import makeWheel

PASSWORD = "s3cret:pass"


def writeDist(directory: FilePath, name: str, version: str, **kw) -> FilePath:  # type: ignore[no-untyped-def]
    directory.makedirs(ignoreExistingDirectory=True)
    filename, data = makeWheel(name, version, **kw)
    path = directory.child(filename)
    path.setContent(data)
    return path


class PublishTests(TestCase):
    """
    Publishing with the real clients.
    """

    timeout = 300

    @inlineCallbacks
    def test_publishAndInstall(self):  # type: ignore[no-untyped-def]
        """
        twine uploads (an identical re-upload succeeds, different bytes
        under the same filename fail), uv publishes (and skips a file
        already there with --check-url), pip installs the newest
        private release and never the upstream's same-named project; a
        yanked release is skipped unless pinned; a deleted one is gone;
        uv installs too; an imported directory becomes installable.
        """
        upstream = FakeIndex()
        filename, data = makeWheel("internal-lib", "9.9")
        upstream.add("internal-lib", Dist(filename, data))
        dataDir = self.mktemp()
        users = os.path.abspath(self.mktemp())
        cli = os.path.join(BIN, "cheesecache")
        code, output = yield run([cli, "adduser", "alice", "--users", users, "--password-stdin"],
                                 stdin=PASSWORD + "\n")
        self.assertEqual(code, 0, output)
        server = TwistdProcess(self, serveIndex(self, upstream), dataDir, "--users", users)
        yield server.ready()
        legacy = server.url.replace("/simple/", "/legacy/")
        dist = FilePath(self.mktemp())
        first = writeDist(dist.child("a"), "internal-lib", "1.0")
        twine = [sys.executable, "-m", "twine", "upload", "--non-interactive",
                 "--disable-progress-bar", "--repository-url", legacy,
                 "-u", "alice", "-p", PASSWORD]
        code, output = yield run([*twine, first.path], CLIENT_ENV)
        self.assertEqual(code, 0, output + server.log())
        # twine 7 refuses --skip-existing for any index but the public one
        # (settings.verify_feature_capability); an identical re-upload is
        # what it can do, and must succeed.
        code, output = yield run([*twine, first.path], CLIENT_ENV)
        self.assertEqual(code, 0, output)
        other = writeDist(dist.child("b"), "internal-lib", "1.0", requires=["attrs"])
        code, output = yield run([*twine, other.path], CLIENT_ENV)
        self.assertNotEqual(code, 0)
        self.assertIn("File already exists", output)

        uv = shutil.which("uv", path=BIN) or shutil.which("uv")
        newest = "1.1"
        if uv is not None:
            second = writeDist(dist.child("c"), "internal-lib", "1.1")
            code, output = yield run(
                [uv, "publish", "--publish-url", legacy, "-u", "alice", "-p", PASSWORD,
                 second.path], CLIENT_ENV,
            )
            self.assertEqual(code, 0, output + server.log())
            # Re-publishing with --check-url finds the file already there.
            code, output = yield run(
                [uv, "publish", "--publish-url", legacy, "--check-url", server.url,
                 "-u", "alice", "-p", PASSWORD, second.path], CLIENT_ENV,
            )
            self.assertEqual(code, 0, output + server.log())
            self.assertIn("already exists", output.lower())
        else:
            second = writeDist(dist.child("c"), "internal-lib", "1.1")
            code, output = yield run([*twine, second.path], CLIENT_ENV)
            self.assertEqual(code, 0, output)

        @inlineCallbacks
        def pipInstall(spec: str):  # type: ignore[no-untyped-def]
            target = self.mktemp()
            code, output = yield run(
                [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target",
                 target, "--index-url", server.url, spec], CLIENT_ENV,
            )
            self.assertEqual(code, 0, output + server.log())
            versions = [p.basename() for p in FilePath(target).children()
                        if p.basename().endswith(".dist-info")]
            return versions

        installed = yield pipInstall("internal-lib")
        self.assertEqual(installed, [f"internal_lib-{newest}.dist-info"])

        code, output = yield run([cli, "yank", "--data-dir", dataDir, "internal-lib",
                                  newest, "--reason", "broken"])
        self.assertEqual(code, 0, output)
        installed = yield pipInstall("internal-lib")
        self.assertEqual(installed, ["internal_lib-1.0.dist-info"])
        installed = yield pipInstall(f"internal-lib=={newest}")
        self.assertEqual(installed, [f"internal_lib-{newest}.dist-info"])

        code, output = yield run([cli, "delete", "--data-dir", dataDir, "internal-lib", newest])
        self.assertEqual(code, 0, output)
        target = self.mktemp()
        code, output = yield run(
            [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target",
             target, "--index-url", server.url, f"internal-lib=={newest}"], CLIENT_ENV,
        )
        self.assertNotEqual(code, 0, output)

        if uv is not None:
            target = self.mktemp()
            code, output = yield run(
                [uv, "pip", "install", "--no-cache", "--python", sys.executable,
                 "--target", target, "--index-url", server.url, "internal-lib"], CLIENT_ENV,
            )
            self.assertEqual(code, 0, output + server.log())
            self.assertTrue(FilePath(target).child("internal_lib-1.0.dist-info").isdir())

        imports = FilePath(self.mktemp())
        writeDist(imports.child("legacy-tool"), "legacy-tool", "3.0")
        code, output = yield run([cli, "import", "--data-dir", dataDir, imports.path])
        self.assertEqual(code, 0, output)
        self.assertIn("1 imported", output)
        installed = yield pipInstall("legacy-tool")
        self.assertEqual(installed, ["legacy_tool-3.0.dist-info"])
