"""
Tests for L{cheesecache.users}: the htpasswd file with bcrypt hashes and
its twisted.cred checker.
"""

from __future__ import annotations

import fcntl
import os
import threading
from types import ModuleType
from typing import Any, Callable, List, Tuple

import bcrypt
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from cheesecache import users as usersModule
from cheesecache.users import (
    HtpasswdChecker,
    UsersFileError,
    hashPassword,
    parseHtpasswd,
    removeUser,
    setPassword,
)

#: A cheap cost for tests (bcrypt's minimum).
ROUNDS = 4


class FakeThreadPool:
    """
    Queues work instead of running it, so tests can see that nothing runs
    on the calling (reactor) thread, then run it when they choose.
    """

    def __init__(self) -> None:
        self.pending: List[Tuple[Callable[..., Any], Callable[..., Any], tuple, dict]] = []  # type: ignore[type-arg]

    def callInThreadWithCallback(self, onResult, func, *args, **kw):  # type: ignore[no-untyped-def]
        self.pending.append((onResult, func, args, kw))

    def runAll(self) -> int:
        ran = 0
        while self.pending:
            onResult, func, args, kw = self.pending.pop(0)
            try:
                result = func(*args, **kw)
            except BaseException:
                onResult(False, Failure())
            else:
                onResult(True, result)
            ran += 1
        return ran


class FakeReactor(Clock):
    """
    A clock whose C{callFromThread} runs at once.
    """

    def callFromThread(self, f, *args, **kw):  # type: ignore[no-untyped-def]
        f(*args, **kw)


def htpasswdLine(user: str, password: str, prefix: bytes = b"$2y$") -> bytes:
    """
    A line as C{htpasswd -B} writes it (C{$2y$} prefix).
    """
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(ROUNDS))
    return user.encode() + b":" + prefix + hashed[4:] + b"\n"


def interleaved(
    case: SynchronousTestCase, module: ModuleType,
    first: Callable[[], object], second: Callable[[], object],
) -> None:
    """
    Run C{first()} in a thread that stops just before it writes its file
    (through C{module.atomicWrite}), having read it; run C{second()} then,
    and let the first go on once the second is done, or is waiting for the
    file's lock (C{fcntl.flock}) that the first holds.
    """
    write = module.atomicWrite
    flock = fcntl.flock
    stopped = threading.Event()
    goOn = threading.Event()
    errors: List[BaseException] = []

    def slowWrite(*args: Any, **kw: Any) -> None:
        if threading.current_thread() is thread:
            stopped.set()
            goOn.wait(10)
        write(*args, **kw)

    def spyFlock(fd: int, operation: int) -> None:
        if threading.current_thread() is not thread:
            goOn.set()
        flock(fd, operation)

    def runFirst() -> None:
        try:
            first()
        except BaseException as e:
            errors.append(e)
        finally:
            stopped.set()

    case.patch(module, "atomicWrite", slowWrite)
    case.patch(fcntl, "flock", spyFlock)
    thread = threading.Thread(target=runFirst)
    thread.start()
    try:
        case.assertTrue(stopped.wait(10))
        second()
    finally:
        goOn.set()
        thread.join(10)
    case.assertFalse(thread.is_alive())
    case.assertEqual(errors, [])


class CheckerTests(SynchronousTestCase):
    """
    L{HtpasswdChecker}.
    """

    def setUp(self) -> None:
        self.path = FilePath(self.mktemp())
        self.path.setContent(
            b"# users\n\n" + htpasswdLine("alice", "wonderland") + htpasswdLine("bob", "builder", b"$2b$")
        )
        self.reactor = FakeReactor()
        self.pool = FakeThreadPool()
        self.checker = HtpasswdChecker(self.path, self.reactor, self.pool, self.reactor)

    def login(self, user: bytes, password: bytes) -> Any:
        d = self.checker.requestAvatarId(UsernamePassword(user, password))
        self.pool.runAll()
        return d

    def test_rightPassword(self) -> None:
        """
        The right password gives the user name as avatar ID, for C{$2y$}
        (htpasswd) and C{$2b$} hashes.
        """
        self.assertEqual(self.successResultOf(self.login(b"alice", b"wonderland")), b"alice")
        self.assertEqual(self.successResultOf(self.login(b"bob", b"builder")), b"bob")

    def test_wrongPassword(self) -> None:
        """
        A wrong password fails with L{UnauthorizedLogin}.
        """
        self.failureResultOf(self.login(b"alice", b"wonderlan"), UnauthorizedLogin)

    def test_offTheReactorThread(self) -> None:
        """
        bcrypt runs in the thread pool: nothing is decided until the pool
        runs the work.
        """
        d = self.checker.requestAvatarId(UsernamePassword(b"alice", b"wonderland"))
        self.assertNoResult(d)
        self.assertEqual(len(self.pool.pending), 1)
        self.pool.runAll()
        self.assertEqual(self.successResultOf(d), b"alice")

    def test_unknownUserSameWork(self) -> None:
        """
        An unknown user costs a bcrypt check against a hash of the file's
        cost, in the thread pool, and then fails.
        """
        calls: List[bytes] = []
        real = bcrypt.checkpw

        def spy(password: bytes, hashed: bytes) -> bool:
            calls.append(hashed)
            return real(password, hashed)

        self.patch(usersModule.bcrypt, "checkpw", spy)
        d = self.checker.requestAvatarId(UsernamePassword(b"mallory", b"x"))
        self.assertNoResult(d)
        self.assertEqual(self.pool.runAll(), 1)
        self.failureResultOf(d, UnauthorizedLogin)
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0][4:6], b"%02d" % ROUNDS)

    def test_unknownUsersLikeKnownOnes(self) -> None:
        """
        When the file's hashes are of several costs (C{htpasswd -B} makes
        them cheaper than C{cheesecache adduser}), unknown users are
        checked at those costs too, each name always at the same one: a
        user with a cheaper hash than the others is not told apart from
        unknown names by a quicker answer.
        """
        costs: List[bytes] = []
        real = bcrypt.checkpw

        def spy(password: bytes, hashed: bytes) -> bool:
            costs.append(hashed[4:6])
            return real(password, hashed)

        cheap = bcrypt.hashpw(b"pw", bcrypt.gensalt(ROUNDS))
        dear = bcrypt.hashpw(b"pw", bcrypt.gensalt(ROUNDS + 1))
        self.path.setContent(b"alice:" + cheap + b"\nbob:" + dear + b"\n")
        self.patch(usersModule.bcrypt, "checkpw", spy)
        self.failureResultOf(self.login(b"alice", b"guess"), UnauthorizedLogin)
        self.assertEqual(costs, [b"%02d" % ROUNDS])
        byName = {}
        for i in range(40):
            name = b"nobody-%d" % (i,)
            costs.clear()
            self.failureResultOf(self.login(name, b"guess"), UnauthorizedLogin)
            self.failureResultOf(self.login(name, b"other"), UnauthorizedLogin)
            self.assertEqual(len(set(costs)), 1)
            byName[name] = costs[0]
        self.assertEqual(set(byName.values()), {b"%02d" % ROUNDS, b"%02d" % (ROUNDS + 1)})

    def test_successCached(self) -> None:
        """
        A success is remembered: the same credentials within the cache time
        are answered without bcrypt work, then checked again after it.
        """
        self.successResultOf(self.login(b"alice", b"wonderland"))
        d = self.checker.requestAvatarId(UsernamePassword(b"alice", b"wonderland"))
        self.assertEqual(self.successResultOf(d), b"alice")
        self.assertEqual(self.pool.pending, [])
        self.reactor.advance(61)
        d = self.checker.requestAvatarId(UsernamePassword(b"alice", b"wonderland"))
        self.assertNoResult(d)
        self.pool.runAll()
        self.assertEqual(self.successResultOf(d), b"alice")

    def test_failureNotCached(self) -> None:
        """
        Failures are not remembered, and a cached success does not let
        another password in.
        """
        self.successResultOf(self.login(b"alice", b"wonderland"))
        d = self.checker.requestAvatarId(UsernamePassword(b"alice", b"other"))
        self.assertNoResult(d)
        self.pool.runAll()
        self.failureResultOf(d, UnauthorizedLogin)

    def test_rereadOnChange(self) -> None:
        """
        A changed file is re-read: a new user can log in, a changed password
        stops working even if a success was cached.
        """
        self.successResultOf(self.login(b"alice", b"wonderland"))
        self.path.setContent(htpasswdLine("alice", "changed") + htpasswdLine("carol", "c"))
        st = os.stat(self.path.path)
        os.utime(self.path.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        self.failureResultOf(self.login(b"alice", b"wonderland"), UnauthorizedLogin)
        self.assertEqual(self.successResultOf(self.login(b"alice", b"changed")), b"alice")
        self.assertEqual(self.successResultOf(self.login(b"carol", b"c")), b"carol")
        self.failureResultOf(self.login(b"bob", b"builder"), UnauthorizedLogin)

    def test_missingFile(self) -> None:
        """
        Without a readable file nobody logs in (and nothing crashes).
        """
        self.path.remove()
        self.failureResultOf(self.login(b"alice", b"wonderland"), UnauthorizedLogin)

    def test_nonBcryptRefused(self) -> None:
        """
        Entries with other hash schemes (MD5 apr1, SHA, crypt) never log in.
        """
        self.path.setContent(b"old:$apr1$abc$defghijklmnopqrstuvwx.\nsha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
        self.failureResultOf(self.login(b"old", b"password"), UnauthorizedLogin)
        self.failureResultOf(self.login(b"sha", b"password"), UnauthorizedLogin)

    def test_malformedLinesWarned(self) -> None:
        """
        A line that is not C{user:hash} is logged as a warning naming its
        number, and the other users still log in.
        """
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.path.setContent(b"# users\nalice\n" + htpasswdLine("bob", "builder"))
        self.assertEqual(self.successResultOf(self.login(b"bob", b"builder")), b"bob")
        warned = [
            formatEvent(e) for e in events
            if e.get("log_level") == LogLevel.warn and e.get("log_namespace", "").startswith("cheesecache")
        ]
        self.assertEqual(warned, [f"Line 2 of {self.path.path} is not user:hash: it is ignored"])

    def test_longPasswordTruncated(self) -> None:
        """
        Passwords longer than 72 bytes are checked on their first 72, as
        htpasswd hashed them.
        """
        password = b"p" * 80
        hashed = bcrypt.hashpw(password[:72], bcrypt.gensalt(ROUNDS))
        self.path.setContent(b"long:" + hashed + b"\n")
        self.assertEqual(self.successResultOf(self.login(b"long", password)), b"long")

    def test_stringCredentials(self) -> None:
        """
        Text credentials work like their UTF-8 bytes.
        """
        setPassword(self.path, "zoë", "pässword", rounds=ROUNDS)
        self.assertEqual(self.successResultOf(self.login("zoë".encode(), "pässword".encode())), "zoë".encode())
        d = self.checker.requestAvatarId(UsernamePassword("zoë", "pässword"))  # type: ignore[arg-type]
        self.pool.runAll()
        self.assertEqual(self.successResultOf(d), "zoë".encode())


class FileTests(SynchronousTestCase):
    """
    Reading and writing the htpasswd file.
    """

    def test_parse(self) -> None:
        """
        Comments, blank and malformed lines are skipped; the first entry of a
        user wins.
        """
        malformed: List[int] = []
        parsed = parseHtpasswd(
            b"# c\n\nalice:h1\nnocolon\n:nouser\nalice:h2\r\nbob:h3 \n", malformed.append
        )
        self.assertEqual(parsed, {b"alice": b"h1", b"bob": b"h3"})
        self.assertEqual(malformed, [4, 5])

    def test_hashFormat(self) -> None:
        """
        New hashes are C{$2y$} bcrypt of the requested cost, and verify.
        """
        hashed = hashPassword("secret", rounds=ROUNDS)
        self.assertTrue(hashed.startswith(b"$2y$04$"))
        self.assertTrue(bcrypt.checkpw(b"secret", hashed))

    def test_setPasswordAddsAndReplaces(self) -> None:
        """
        L{setPassword} adds a user, replaces their hash later, and keeps
        other lines and comments; the file is private to its owner.
        """
        path = FilePath(self.mktemp())
        path.setContent(b"# team\nbob:$2y$04$" + b"x" * 53 + b"\n")
        setPassword(path, "alice", "one", rounds=ROUNDS)
        setPassword(path, "alice", "two", rounds=ROUNDS)
        lines = path.getContent().splitlines()
        self.assertEqual(lines[0], b"# team")
        self.assertTrue(lines[1].startswith(b"bob:"))
        self.assertEqual(len(lines), 3)
        self.assertTrue(bcrypt.checkpw(b"two", parseHtpasswd(path.getContent())[b"alice"]))
        self.assertEqual(os.stat(path.path).st_mode & 0o777, 0o600)

    def test_neverReadableByOthers(self) -> None:
        """
        The users file is written 0600 from the start, whatever the umask:
        neither the temporary file nor the renamed one is ever readable by
        others, even for an instant (bcrypt hashes can be attacked offline).
        """
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        modes: List[int] = []
        replace = os.replace

        def spy(src: str, dst: str) -> None:
            modes.append(os.stat(src).st_mode & 0o777)
            replace(src, dst)

        self.patch(os, "replace", spy)
        path = FilePath(self.mktemp())
        setPassword(path, "alice", "one", rounds=ROUNDS)
        self.assertEqual(modes, [0o600])

    def test_ownerKept(self) -> None:
        """
        A users file rewritten by root (C{sudo cheesecache adduser}) keeps
        its owner and group, still 0600: one owned by the user the server
        runs as stays readable by the server.
        """
        if os.geteuid() != 0:
            raise SkipTest("only root can give a file to another user")
        path = FilePath(self.mktemp())
        setPassword(path, "alice", "one", rounds=ROUNDS)
        os.chown(path.path, 54321, 54322)
        setPassword(path, "bob", "two", rounds=ROUNDS)
        st = os.stat(path.path)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (54321, 54322, 0o600))
        self.assertEqual(sorted(parseHtpasswd(path.getContent())), [b"alice", b"bob"])

    def test_setPasswordCreates(self) -> None:
        """
        L{setPassword} creates a missing file.
        """
        path = FilePath(self.mktemp())
        setPassword(path, "alice", "one", rounds=ROUNDS)
        self.assertEqual(list(parseHtpasswd(path.getContent())), [b"alice"])

    def test_badNamesAndPasswords(self) -> None:
        """
        Names that would break the file, and passwords bcrypt cannot use
        whole, are refused.
        """
        path = FilePath(self.mktemp())
        for name in ("", "a:b", "a b", "#x", "a\nb"):
            self.assertRaises(UsersFileError, setPassword, path, name, "pw", ROUNDS)
        self.assertRaises(UsersFileError, setPassword, path, "alice", "p" * 73, ROUNDS)
        self.assertRaises(UsersFileError, setPassword, path, "alice", "a\0b", ROUNDS)
        self.assertFalse(path.exists())

    def test_concurrentChangesKept(self) -> None:
        """
        Two users added at once (two C{cheesecache adduser}) are both in
        the file: the second waits for the first's write, and reads it.
        """
        path = FilePath(self.mktemp())
        interleaved(
            self, usersModule,
            lambda: setPassword(path, "alice", "one", rounds=ROUNDS),
            lambda: setPassword(path, "bob", "two", rounds=ROUNDS),
        )
        self.assertEqual(sorted(parseHtpasswd(path.getContent())), [b"alice", b"bob"])

    def test_removeUser(self) -> None:
        """
        L{removeUser} removes only that user and says whether it was there.
        """
        path = FilePath(self.mktemp())
        setPassword(path, "alice", "one", rounds=ROUNDS)
        setPassword(path, "bob", "two", rounds=ROUNDS)
        self.assertTrue(removeUser(path, "alice"))
        self.assertFalse(removeUser(path, "alice"))
        self.assertEqual(list(parseHtpasswd(path.getContent())), [b"bob"])


class RealThreadPoolTests(TestCase):
    """
    The checker with the reactor's real thread pool.
    """

    @inlineCallbacks
    def test_realThreads(self):  # type: ignore[no-untyped-def]
        """
        With real threads the right password logs in and a wrong one fails.
        """
        path = FilePath(self.mktemp())
        setPassword(path, "alice", "wonderland", rounds=ROUNDS)
        checker = HtpasswdChecker(path, reactor, reactor.getThreadPool(), reactor)  # type: ignore[arg-type]
        avatar = yield checker.requestAvatarId(UsernamePassword(b"alice", b"wonderland"))
        self.assertEqual(avatar, b"alice")
        with self.assertRaises(UnauthorizedLogin):
            yield checker.requestAvatarId(UsernamePassword(b"alice", b"nope"))
