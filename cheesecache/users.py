# -*- test-case-name: tests.test_users -*-
"""
Users from an htpasswd file with bcrypt hashes, as C{htpasswd -B} writes
them, checked through twisted.cred.

Twisted's stock checkers compare with C{==}, answer at once for unknown
users and hash on the reactor thread.  This one:

  - hashes in a thread pool, never on the reactor thread (bcrypt takes
    tens to hundreds of milliseconds by design);
  - does the same bcrypt work for an unknown user (against a dummy hash of
    one of the file's costs, always the same for a name), so timing does
    not tell which users exist;
  - compares through bcrypt's own constant-time check;
  - re-reads the file when it changes, so users can be added or removed
    without a restart;
  - remembers a successful check for a short while, keyed by a keyed hash
    of the credentials: pip and uv send credentials with every request, and
    a resolution makes hundreds.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Callable, Dict, List, Optional, Tuple

import attrs
import bcrypt
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.filepath import FilePath
from zope.interface import implementer

from .pagestore import atomicWrite, lockedBeside

log = Logger()

#: bcrypt looks at no more than this many bytes of a password; longer ones
#: are cut here, as htpasswd and every other bcrypt implementation do.
BCRYPT_MAX_PASSWORD = 72

#: The cost used for new hashes (C{htpasswd -B} defaults to 5, too cheap
#: for a password that may be guessed offline).
DEFAULT_ROUNDS = 12

_BCRYPT_PREFIXES = (b"$2y$", b"$2b$", b"$2a$")


class UsersFileError(ValueError):
    """
    A user name or password cannot be written to an htpasswd file.
    """


def isBcryptHash(value: bytes) -> bool:
    """
    Is C{value} a bcrypt hash this checker can verify?
    """
    return value.startswith(_BCRYPT_PREFIXES) and len(value) == 60


def _cost(value: bytes) -> int:
    try:
        return int(value[4:6])
    except ValueError:
        return DEFAULT_ROUNDS


def parseHtpasswd(
    data: bytes, malformed: Callable[[int], object] = lambda number: None
) -> Dict[bytes, bytes]:
    """
    The C{user -> hash} entries of an htpasswd file.  Blank lines and
    C{#} comments are skipped; a user listed twice keeps the first entry
    (as Apache does).

    @param malformed: called with the number (from 1) of each other line
        that is not C{user:hash}, which is skipped too.
    """
    users: Dict[bytes, bytes] = {}
    for number, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        user, sep, hashed = line.partition(b":")
        if not sep or not user:
            malformed(number)
            continue
        users.setdefault(user, hashed.strip())
    return users


def _truncate(password: bytes) -> bytes:
    return password[:BCRYPT_MAX_PASSWORD]


@attrs.frozen
class _Users:
    """
    One reading of the file.
    """

    stamp: Optional[Tuple[int, int, int]]
    entries: Dict[bytes, bytes]
    #: The cost of each bcrypt hash, in the file's order.
    costs: Tuple[int, ...]


@implementer(ICredentialsChecker)
@attrs.define
class HtpasswdChecker:
    """
    Checks usernames and passwords against an htpasswd file of bcrypt
    hashes; the avatar ID is the user name (bytes).

    @ivar reactor: where results are delivered (C{callFromThread}).
    @ivar threadpool: where bcrypt runs.
    @ivar clock: for how long a success is remembered.
    @ivar cacheSeconds: how long a successful check is remembered.
    @ivar cacheSize: how many successes are remembered at most.
    """

    path: FilePath
    reactor: IReactorFromThreads
    threadpool: object
    clock: IReactorTime
    cacheSeconds: float = 60.0
    cacheSize: int = 1024
    credentialInterfaces = (IUsernamePassword,)

    _users: Optional[_Users] = attrs.field(default=None, init=False)
    _cache: Dict[bytes, Tuple[float, bytes, bytes]] = attrs.field(
        factory=dict, init=False
    )
    _cacheKey: bytes = attrs.field(
        factory=lambda: secrets.token_bytes(32), init=False
    )
    _dummies: Dict[int, bytes] = attrs.field(factory=dict, init=False)

    def _stamp(self) -> Optional[Tuple[int, int, int]]:
        try:
            st = os.stat(self.path.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def users(self) -> Dict[bytes, bytes]:
        """
        The current entries, re-read if the file changed since last time.
        """
        stamp = self._stamp()
        if self._users is not None and self._users.stamp == stamp:
            return self._users.entries
        entries: Dict[bytes, bytes] = {}
        if stamp is None:
            log.error("Users file {path} cannot be read: nobody can log in", path=self.path.path)
        else:
            def malformed(number: int) -> None:
                log.warn(
                    "Line {number} of {path} is not user:hash: it is ignored",
                    number=number, path=self.path.path,
                )

            try:
                entries = parseHtpasswd(self.path.getContent(), malformed)
            except OSError as e:
                log.error("Users file {path}: {e}", path=self.path.path, e=str(e))
        for user in list(entries):
            try:
                user.decode("utf-8")
            except UnicodeDecodeError:
                # Their login would be a user no one can name (permissions,
                # the uploader of a file): refused, not a 500.
                log.warn(
                    "User name {user} in {path} is not UTF-8: they cannot log in",
                    user=repr(user)[2:-1], path=self.path.path,
                )
                del entries[user]
        for user, hashed in entries.items():
            if not isBcryptHash(hashed):
                log.warn(
                    "User {user} in {path} has no bcrypt hash (use htpasswd -B): "
                    "they cannot log in",
                    user=user.decode("utf-8", "replace"),
                    path=self.path.path,
                )
        costs = tuple(_cost(h) for h in entries.values() if isBcryptHash(h))
        self._users = _Users(stamp=stamp, entries=entries, costs=costs or (DEFAULT_ROUNDS,))
        self._cache.clear()
        return entries

    def hasUser(self, name: str) -> bool:
        """
        Is C{name} in the users file now?  (Their tokens work only while
        they are: see L{cheesecache.tokens.TokenChecker}.)
        """
        return name.encode("utf-8") in self.users()

    def _dummyHash(self, cost: int) -> bytes:
        """
        A hash of the given cost that no password matches, for checking
        unknown users (made once per cost, in the thread pool).
        """
        dummy = self._dummies.get(cost)
        if dummy is None:
            dummy = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(cost))
            self._dummies[cost] = dummy
        return dummy

    def _unknownCost(self, username: bytes) -> int:
        """
        The cost an unknown user is checked at: that of a user of the file
        picked by a keyed hash of the name, so that, whatever the mix of
        costs (C{htpasswd -B} makes cheaper hashes than L{setPassword}),
        an unknown name answers as quickly as some user's, and always as
        the same one's: the time taken tells no more than the file's mix.
        """
        assert self._users is not None
        costs = self._users.costs
        digest = hmac.new(self._cacheKey, b"cost\0" + username, hashlib.sha256).digest()
        return costs[int.from_bytes(digest[:8], "big") % len(costs)]

    def _credentialsKey(self, username: bytes, password: bytes) -> bytes:
        return hmac.new(
            self._cacheKey, username + b"\0" + password, hashlib.sha256
        ).digest()

    def requestAvatarId(self, credentials: IUsernamePassword) -> "Deferred[bytes]":
        """
        The user name, if the password is right; fails with
        L{UnauthorizedLogin} otherwise.
        """
        username = credentials.username
        password = credentials.password
        if isinstance(username, str):
            username = username.encode("utf-8")
        if isinstance(password, str):
            password = password.encode("utf-8")
        entries = self.users()
        stored = entries.get(username)
        key = self._credentialsKey(username, password)
        cached = self._cache.get(key)
        now = self.clock.seconds()
        if cached is not None:
            expires, cachedUser, cachedHash = cached
            if now < expires and cachedUser == username and cachedHash == stored:
                return succeed(username)
            del self._cache[key]
        cost = self._unknownCost(username)

        def check() -> bool:
            if stored is not None and isBcryptHash(stored):
                try:
                    return bcrypt.checkpw(_truncate(password), stored)
                except ValueError:
                    return False
            # The same work as for a real user, and then a refusal.
            bcrypt.checkpw(_truncate(password), self._dummyHash(cost))
            return False

        d = deferToThreadPool(self.reactor, self.threadpool, check)  # type: ignore[arg-type]

        def checked(ok: bool) -> bytes:
            if not ok:
                raise UnauthorizedLogin("Invalid username or password")
            assert stored is not None
            if len(self._cache) >= self.cacheSize:
                oldest = min(self._cache, key=lambda k: self._cache[k][0])
                del self._cache[oldest]
            self._cache[key] = (self.clock.seconds() + self.cacheSeconds, username, stored)
            return username

        return d.addCallback(checked)


def hashPassword(password: str, rounds: int = DEFAULT_ROUNDS) -> bytes:
    """
    A bcrypt hash of C{password} in the C{$2y$} form C{htpasswd -B} writes
    (the same algorithm as C{$2b$}; Apache and nginx read both).

    @raise UsersFileError: the password is longer than bcrypt can use.
    """
    data = password.encode("utf-8")
    if len(data) > BCRYPT_MAX_PASSWORD:
        raise UsersFileError(
            f"Passwords may be at most {BCRYPT_MAX_PASSWORD} bytes (bcrypt ignores the rest)."
        )
    if "\0" in password:
        raise UsersFileError("Passwords cannot contain NUL characters.")
    hashed = bcrypt.hashpw(data, bcrypt.gensalt(rounds))
    return b"$2y$" + hashed[4:]


def _checkUsername(username: str) -> bytes:
    if not username or ":" in username or any(
        c.isspace() or ord(c) < 32 or ord(c) == 127 for c in username
    ) or username.startswith("#"):
        raise UsersFileError(
            f"{username!r} cannot be a user name (no ':', '#' first, spaces "
            "or control characters)."
        )
    return username.encode("utf-8")


def _rewrite(path: FilePath, change: Callable[[List[bytes]], List[bytes]]) -> None:
    """
    Replace the file's lines with C{change(lines)}, holding its lock from
    the reading to the writing, so that two changes made at once (two
    C{cheesecache adduser}) are both kept.
    """
    with lockedBeside(path):
        try:
            lines = path.getContent().splitlines()
        except FileNotFoundError:
            lines = []
        data = b"".join(line + b"\n" for line in change(lines))
        atomicWrite(path, data, mode=0o600, keepOwner=True)


def setPassword(
    path: FilePath, username: str, password: str, rounds: int = DEFAULT_ROUNDS
) -> None:
    """
    Add C{username} to the htpasswd file at C{path} (created if need be), or
    change their password; other lines are kept as they are.  The file is
    replaced atomically, so a running checker never reads half of it.
    """
    user = _checkUsername(username)
    entry = user + b":" + hashPassword(password, rounds)

    def change(lines: List[bytes]) -> List[bytes]:
        out: List[bytes] = []
        replaced = False
        for line in lines:
            if line.strip().partition(b":")[0] == user and not line.strip().startswith(b"#"):
                if not replaced:
                    out.append(entry)
                    replaced = True
                continue
            out.append(line)
        if not replaced:
            out.append(entry)
        return out

    _rewrite(path, change)


def removeUser(path: FilePath, username: str) -> bool:
    """
    Remove C{username} from the htpasswd file at C{path}.

    @return: whether they were there.
    """
    user = _checkUsername(username)
    found = []

    def change(lines: List[bytes]) -> List[bytes]:
        out = []
        for line in lines:
            if line.strip().partition(b":")[0] == user and not line.strip().startswith(b"#"):
                found.append(line)
                continue
            out.append(line)
        return out

    _rewrite(path, change)
    return bool(found)
