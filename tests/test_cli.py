"""
Tests for L{cheesecache.cli}, the C{cheesecache} command.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import os
import subprocess
import sys

import bcrypt
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, SynchronousTestCase

import cheesecache
from cheesecache.blobstore import BlobStore
from cheesecache.cli import main
from cheesecache.users import parseHtpasswd

from .wheels import makeWheel


class CLITests(SynchronousTestCase):
    """
    The subcommands, on a data directory.
    """

    def setUp(self) -> None:
        self.dataDir = FilePath(self.mktemp())
        self.dataDir.makedirs()

    def run_(self, *argv: str, stdin: str = "") -> "tuple[int, str]":
        out = io.StringIO()
        code = main(list(argv), stdout=out, stdin=io.StringIO(stdin))
        return code, out.getvalue()

    def test_adduser(self) -> None:
        """
        adduser writes a bcrypt line for the user into the htpasswd file.
        """
        users = self.dataDir.child("users")
        code, out = self.run_("adduser", "bob", "--users", users.path, "--password-stdin", stdin="pw\n")
        self.assertEqual(code, 0, out)
        self.assertTrue(parseHtpasswd(users.getContent())[b"bob"].startswith(b"$2"))
        code, out = self.run_("adduser", "bob", "--users", users.path, "--password-stdin", stdin="\n")
        self.assertEqual(code, 1)

    def test_adduserPasswordStdinCRLF(self) -> None:
        """
        adduser --password-stdin takes the line without its line ending,
        CRLF included (a password piped from a Windows file or a here-string
        in a CRLF script): the carriage return is not part of the password.
        """
        users = self.dataDir.child("users")
        code, out = self.run_("adduser", "bob", "--users", users.path, "--password-stdin", stdin="s3cret\r\n")
        self.assertEqual(code, 0, out)
        self.assertTrue(bcrypt.checkpw(b"s3cret", parseHtpasswd(users.getContent())[b"bob"]))

    def test_adduserPromptEndOfInput(self) -> None:
        """
        adduser without --password-stdin, its input at its end (run from a
        script without a terminal, or Ctrl-D at the prompt), says that no
        password was given, with status 1 and no traceback, and writes
        nothing.
        """
        def noInput(prompt: str = "") -> str:
            raise EOFError()

        self.patch(getpass, "getpass", noInput)
        users = self.dataDir.child("users")
        code, out = self.run_("adduser", "bob", "--users", users.path)
        self.assertEqual((code, out), (1, "No password given.\n"))
        self.assertFalse(users.exists())

    def test_tokensFileNeverReadableByOthers(self) -> None:
        """
        token create writes tokens.json 0600 from the start, whatever the
        umask: neither its temporary file nor the renamed one is ever
        readable by others, even for an instant.
        """
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        modes = []
        replace = os.replace

        def spy(src: str, dst: str) -> None:
            modes.append(os.stat(src).st_mode & 0o777)
            replace(src, dst)

        self.patch(os, "replace", spy)
        code, out = self.run_("token", "create", "--data-dir", self.dataDir.path, "bob")
        self.assertEqual(code, 0, out)
        self.assertEqual(modes, [0o600])

    def test_tokensFileMalformed(self) -> None:
        """
        token list, create and revoke on a tokens file edited into something
        else say so, naming the file, with status 1 and no traceback.
        """
        tokens = self.dataDir.child("tokens.json")
        tokens.setContent(b'{"tokens": [{"id": "x"}]}')
        for argv in (("list",), ("create", "bob"), ("revoke", "x")):
            code, out = self.run_("token", argv[0], "--data-dir", self.dataDir.path, *argv[1:])
            self.assertEqual(code, 1, argv)
            self.assertTrue(out.startswith(f"Error: {tokens.path} is not a tokens file"), out)
        self.assertEqual(tokens.getContent(), b'{"tokens": [{"id": "x"}]}')

    def test_noDataDirectory(self) -> None:
        """
        yank, unyank, delete, stats and gc on a data directory that is not
        there say so with status 1, and create nothing.
        """
        missing = self.dataDir.child("mistyped")
        for command, *rest in (
            ("yank", "tool", "1.0"),
            ("unyank", "tool", "1.0"),
            ("delete", "tool", "1.0"),
            ("stats",),
            ("gc", "--max-cache-size", "1G"),
            ("gc", "--max-cache-size", "1G", "--dry-run"),
        ):
            code, out = self.run_(command, "--data-dir", missing.path, *rest)
            self.assertEqual(
                (code, out), (1, f"No data directory at {missing.path}\n"), command
            )
        self.assertFalse(missing.exists())

    def test_importNotADirectory(self) -> None:
        """
        import of a directory that is not there, or of one file, says so
        with status 1, and creates no data directory.
        """
        filename, data = makeWheel("tool", "1.0")
        wheel = self.dataDir.child(filename)
        wheel.setContent(data)
        newData = self.dataDir.child("new")
        for source in (self.dataDir.child("mistyped"), wheel):
            code, out = self.run_("import", "--data-dir", newData.path, source.path)
            self.assertEqual(
                (code, out), (1, f"No directory at {source.path}\n"), source
            )
        self.assertFalse(newData.exists())

    def test_importYankDelete(self) -> None:
        """
        import loads a directory; yank, unyank and delete change the record;
        an unknown project is a clear error with status 1.
        """
        source = self.dataDir.child("incoming")
        source.makedirs()
        filename, data = makeWheel("tool", "1.0")
        source.child(filename).setContent(data)
        source.child("notes.txt").setContent(b"not a distribution")
        code, out = self.run_("import", "--data-dir", self.dataDir.path, source.path)
        self.assertEqual(code, 0, out)
        self.assertIn("1 imported", out)
        code, out = self.run_("yank", "--data-dir", self.dataDir.path, "tool", "1.0", "--reason", "bad")
        self.assertEqual((code, out), (0, f"yank: {filename}\n"))
        from cheesecache.blobstore import BlobStore
        from cheesecache.private import PrivateStore
        from twisted.internet.task import Clock

        store = PrivateStore(self.dataDir, BlobStore(self.dataDir), Clock())
        self.assertEqual(store.page("tool").files[0].yanked, "bad")
        code, out = self.run_("unyank", "--data-dir", self.dataDir.path, "tool", "1.0")
        self.assertEqual(code, 0)
        self.assertFalse(store.page("tool").files[0].yanked)
        code, out = self.run_("delete", "--data-dir", self.dataDir.path, "tool", filename)
        self.assertEqual(code, 0)
        self.assertEqual(store.page("tool").files, ())
        code, out = self.run_("yank", "--data-dir", self.dataDir.path, "nope", "1.0")
        self.assertEqual(code, 1)
        self.assertIn("Not found", out)

    def runAsRoot(self, *argvs: "list[str]", reach: "tuple[str, ...]" = ()) -> "dict[str, tuple[int, int]]":
        """
        Run C{cheesecache} with each of C{argvs} in a process of its own, as
        root, on L{dataDir} made another user's.

        @param reach: other folders that user must be able to reach.
        @return: the owners of everything in L{dataDir} after, by path.
        """
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            raise SkipTest("only root can act as another user")
        for here in (self.dataDir.path, *reach):
            here = os.path.abspath(here)
            while here != os.path.dirname(here):
                if here.startswith(os.getcwd() + os.sep):
                    os.chmod(here, 0o755)  # this test's own folders
                elif not os.stat(here).st_mode & 0o001:
                    raise SkipTest(f"another user cannot reach {here}")
                here = os.path.dirname(here)
        for path in self.dataDir.walk():
            os.lchown(path.path, self.uid, self.gid)
        project = os.path.dirname(os.path.dirname(os.path.abspath(cheesecache.__file__)))
        # The codec is loaded before: this Python may be where only root can read.
        script = "import encodings.cp437, sys; from cheesecache.cli import main; sys.exit(main(sys.argv[1:]))"
        for argv in argvs:
            result = subprocess.run(
                [sys.executable, "-c", script, *argv],
                env=dict(os.environ, PYTHONPATH=project, PYTHONDONTWRITEBYTECODE="1"),
                capture_output=True, timeout=60,
            )
            self.assertEqual(result.returncode, 0, result)
        owners = {}
        for path in self.dataDir.walk():
            st = os.lstat(path.path)
            owners[os.path.relpath(path.path, self.dataDir.path)] = (st.st_uid, st.st_gid)
        return owners

    uid, gid = 54321, 54322

    def test_rootWritesAsTheDataDirectoryOwner(self) -> None:
        """
        Run by root (C{sudo cheesecache import}, C{yank}) on the data
        directory of another user (the one the server runs as), import and
        yank leave everything they make that user's: the blob store's
        folders, C{private/}, its lock and the records, where the server must
        still write.
        """
        source = FilePath(self.mktemp())
        source.makedirs()
        filename, data = makeWheel("tool", "1.0")
        source.child(filename).setContent(data)
        owners = self.runAsRoot(
            ["import", "--data-dir", self.dataDir.path, source.path],
            ["yank", "--data-dir", self.dataDir.path, "tool", "1.0"],
            reach=(source.path,),
        )
        self.assertIn("private/tool.json", owners)
        self.assertEqual({k: v for k, v in owners.items() if v != (self.uid, self.gid)}, {})

    def test_rootGcAsTheDataDirectoryOwner(self) -> None:
        """
        C{sudo cheesecache gc} on the data directory of the user the server
        runs as leaves nothing of root's there: on a server with no private
        project yet, the private store's lock it takes to evict would be
        root's, and every upload would then fail.
        """
        data = b"u" * 1000
        BlobStore(self.dataDir).putBytes(hashlib.sha256(data).hexdigest(), data)
        owners = self.runAsRoot(
            ["gc", "--data-dir", self.dataDir.path, "--max-cache-size", "10"],
            ["stats", "--data-dir", self.dataDir.path],
        )
        self.assertIn("private/.lock", owners)
        self.assertEqual({k: v for k, v in owners.items() if v != (self.uid, self.gid)}, {})

    def test_rootTokenAsTheDataDirectoryOwner(self) -> None:
        """
        C{sudo cheesecache token create} on the data directory of the user
        the server runs as leaves the tokens file (made readable by its
        owner only) and its lock that user's: root's, the server could not
        read it, and every token would be refused.
        """
        owners = self.runAsRoot(
            ["token", "create", "alice", "--data-dir", self.dataDir.path],
            ["token", "list", "--data-dir", self.dataDir.path],
        )
        self.assertIn("tokens.json", owners)
        self.assertEqual({k: v for k, v in owners.items() if v != (self.uid, self.gid)}, {})
