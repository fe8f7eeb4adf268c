# -*- test-case-name: tests.test_cli -*-
"""
The C{cheesecache} command: managing the private index and the users file
on the server's host, next to the running daemon (which notices changes).

    cheesecache yank PROJECT VERSION-OR-FILENAME [--reason TEXT]
    cheesecache unyank PROJECT VERSION-OR-FILENAME
    cheesecache delete PROJECT VERSION-OR-FILENAME
    cheesecache import DIRECTORY
    cheesecache adduser USERNAME --users FILE [--password-stdin]
    cheesecache token create USERNAME [--scope PATTERN ...]
    cheesecache token list
    cheesecache token revoke ID
    cheesecache warm --index URL -r requirements.txt   (see cheesecache.warm)
    cheesecache stats
    cheesecache gc --max-cache-size 10G [--dry-run]
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import List, Optional, TextIO

from twisted.python.filepath import FilePath

from .config import ConfigError, loadConfig


class _WallClock:
    def seconds(self) -> float:
        return time.time()


#: The commands that work on a data directory that is there already.
#: (C{import} and C{token create} make one, as seeding a server needs.)
NEEDS_DATA_DIR = frozenset({"yank", "unyank", "delete", "stats", "gc"})


def _dataDir(args: argparse.Namespace) -> FilePath:
    from .tap import defaultDataDir

    if args.data_dir:
        return FilePath(os.path.abspath(args.data_dir))
    if args.config:
        config = loadConfig(args.config)
        if config.dataDir:
            return FilePath(os.path.abspath(config.dataDir))
    return FilePath(defaultDataDir())


def _store(dataDir: FilePath):  # type: ignore[no-untyped-def]
    from .blobstore import BlobStore
    from .private import PrivateStore

    return PrivateStore(dataDir, BlobStore(dataDir), _WallClock())


def _asOwnerOf(dataDir: FilePath) -> None:
    """
    When run by root on a data directory of another user (the one the
    server runs as: C{sudo cheesecache import}), act as that user from now
    on.  Otherwise what the private index makes there is root's: the blob
    store's folders, C{private/} and its lock, the records; and the server,
    unable to write into them, fails uploads and the caching of every file
    whose blob goes into such a folder.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    st = os.stat(dataDir.path)
    if st.st_uid == 0:
        return
    import pwd

    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        os.setgroups([st.st_gid])
    else:
        os.initgroups(user, st.st_gid)
    os.setgid(st.st_gid)
    os.setuid(st.st_uid)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cheesecache", description="Manage a cheesecache private index."
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "warm", help="fetch requirements through a server so it caches them",
        add_help=False,
    )

    def withData(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--data-dir", help="the server's data directory")
        q.add_argument("--config", help="the server's configuration file")
        return q

    for name, what in [("yank", "Yank"), ("unyank", "Unyank"), ("delete", "Delete (for good)")]:
        q = withData(sub.add_parser(name, help=f"{what} a release or a file"))
        q.add_argument("project")
        q.add_argument("target", help="a version (all its files) or one filename")
        if name == "yank":
            q.add_argument("--reason", default=None)
    q = withData(sub.add_parser("import", help="import a directory of distributions"))
    q.add_argument("directory")
    q.add_argument("--uploader", default=None, help="record this user as the uploader")
    q = sub.add_parser("adduser", help="add a user, or change their password")
    q.add_argument("username")
    q.add_argument("--users", required=True, help="the htpasswd file (created if need be)")
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    withData(sub.add_parser("stats", help="what the cache holds"))
    q = withData(sub.add_parser("gc", help="evict least recently used upstream files and rendered pages, and remove leftover temporary files"))
    q.add_argument("--max-cache-size", required=True, help="e.g. 10G")
    q.add_argument("--dry-run", action="store_true", help="only say what would go")
    q = sub.add_parser("token", help="upload tokens (password of the user __token__)")
    tokens = q.add_subparsers(dest="tokenCommand", required=True)
    t = withData(tokens.add_parser("create", help="create a token; it is shown once"))
    t.add_argument("username")
    t.add_argument("--scope", action="append", default=[], help="a project pattern it may upload to (repeatable)")
    withData(tokens.add_parser("list", help="list tokens (never their secrets)"))
    t = withData(tokens.add_parser("revoke", help="revoke a token"))
    t.add_argument("id")
    return p


def _onDataDir(args: argparse.Namespace, dataDir: FilePath, stdout: TextIO) -> int:
    """
    Run one of the L{NEEDS_DATA_DIR} commands on C{dataDir}, which is there,
    as its owner (see L{_asOwnerOf}): C{gc} too takes the private store's
    lock, which it makes on a server with no private project yet.
    """
    _asOwnerOf(dataDir)
    if args.command == "stats":
        from .eviction import statsCommand

        return statsCommand(dataDir, stdout)
    if args.command == "gc":
        from .eviction import gcCommand, parseSize

        return gcCommand(dataDir, parseSize(args.max_cache_size), stdout, args.dry_run)
    store = _store(dataDir)
    if args.command == "yank":
        changed = store.yank(args.project, args.target, args.reason)
    elif args.command == "unyank":
        changed = store.unyank(args.project, args.target)
    else:
        changed = store.delete(args.project, args.target)
    for filename in changed:
        stdout.write(f"{args.command}: {filename}\n")
    return 0


def main(argv: Optional[List[str]] = None, stdout: TextIO = sys.stdout, stdin: TextIO = sys.stdin) -> int:
    """
    Run the command; returns the exit status.
    """
    from .private import CorruptRecord, NoSuchFile, NoSuchProject

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["warm"]:
        from .warm.command import warmCommand

        return warmCommand(argv[1:], stdout)
    args = parser().parse_args(argv)
    try:
        if args.command in NEEDS_DATA_DIR:
            dataDir = _dataDir(args)
            if not dataDir.isdir():
                # A mistyped path must not become a new, empty data
                # directory, nor be reported on as an empty cache.
                stdout.write(f"No data directory at {dataDir.path}\n")
                return 1
            return _onDataDir(args, dataDir, stdout)
        if args.command == "import":
            source = FilePath(os.path.abspath(args.directory))
            if not source.isdir():
                # Not a traceback-like "not parent of" from deep inside.
                stdout.write(f"No directory at {source.path}\n")
                return 1
            dataDir = _dataDir(args)
            if dataDir.isdir():
                _asOwnerOf(dataDir)
            report = _store(dataDir).importDirectory(source, args.uploader)
            for filename in report.imported:
                stdout.write(f"imported: {filename}\n")
            for path, reason in report.skipped:
                stdout.write(f"skipped: {path}: {reason}\n")
            stdout.write(f"{len(report.imported)} imported, {len(report.skipped)} skipped\n")
            return 0
        if args.command == "adduser":
            from .users import setPassword

            if args.password_stdin:
                # Without its line ending, CRLF too (POSIX stdin keeps the
                # CR): a carriage return is never meant as part of a password.
                password = stdin.readline().removesuffix("\n").removesuffix("\r")
            else:
                try:
                    password = getpass.getpass(f"Password for {args.username}: ")
                    again = getpass.getpass("Again: ")
                except EOFError:
                    # No terminal and nothing on stdin, or Ctrl-D.
                    stdout.write("No password given.\n")
                    return 1
                if password != again:
                    stdout.write("The passwords differ.\n")
                    return 1
            if not password:
                stdout.write("An empty password is not allowed.\n")
                return 1
            setPassword(FilePath(os.path.abspath(args.users)), args.username, password)
            stdout.write(f"{args.username} can now log in.\n")
            return 0
        if args.command == "token":
            from .tokens import TokenStore

            dataDir = _dataDir(args)
            if dataDir.isdir():
                # The tokens file is the server's to read, and only its
                # owner may (0600).
                _asOwnerOf(dataDir)
            store = TokenStore(dataDir.child("tokens.json"))
            if args.tokenCommand == "create":
                dataDir.makedirs(ignoreExistingDirectory=True)
                secret = store.create(args.username, tuple(args.scope))
                stdout.write(
                    f"{secret}\nUse it as the password of the user __token__;"
                    " it is not shown again.\n"
                )
            elif args.tokenCommand == "list":
                for token in store.tokens():
                    scopes = ", ".join(token.scopes) or "any project"
                    stdout.write(f"{token.id}  {token.user}  {scopes}\n")
            elif not store.revoke(args.id):
                stdout.write(f"Not found: no token {args.id}\n")
                return 1
            return 0
    except (NoSuchProject, NoSuchFile) as e:
        stdout.write(f"Not found: {e.args[0] if e.args else e}\n")
        return 1
    except (CorruptRecord, ConfigError, ValueError, OSError) as e:
        stdout.write(f"Error: {e}\n")
        return 1
    return 2  # pragma: no cover (argparse requires a command)


def run() -> None:
    """
    The console script entry point.
    """
    raise SystemExit(main())
