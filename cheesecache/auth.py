# -*- test-case-name: tests.test_auth -*-
"""
Who is asking: HTTP Basic credentials checked through twisted.cred.

The L{Portal} has one checker, L{Credentials}, which sends C{__token__}
logins to the token store and the others to the htpasswd users file; the
L{Realm} turns what they return into a L{User}.  The L{Authenticator} adds
throttling of failed logins per client address and per user name, and the
L{ReadGuard} protects every read when C{--read-auth} is on.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Deque, Dict, FrozenSet, Iterable, List, Optional, Tuple

import attrs
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.util import DeferredResource
from zope.interface import Attribute, Interface, implementer

from .routing import Route
from .tokens import TOKEN_USER, TokenStore

REALM = b"cheesecache"

log = Logger()


class IUser(Interface):
    """
    An authenticated user.
    """

    username = Attribute("The user's name, as text.")


@implementer(IUser)
@attrs.frozen
class User:
    """
    An authenticated user, and what their credentials allow.

    @ivar scopes: for a token, the name patterns it may upload to (empty:
        anything its user may); C{None} for a password login.
    """

    username: str
    tokenID: Optional[str] = None
    scopes: Optional[Tuple[str, ...]] = None

    def mayUploadTo(self, project: str) -> bool:
        """
        Do these credentials allow uploading to C{project}?  (Whether the
        user may is the upload policy's business.)
        """
        if not self.scopes:
            return True
        return any(Route(p, ()).matches(project) for p in self.scopes)


@implementer(ICredentialsChecker)
@attrs.define
class Credentials:
    """
    The one checker: C{__token__} logins go to the tokens, others to the
    users file.
    """

    users: Optional[ICredentialsChecker]
    tokens: Optional[ICredentialsChecker] = None
    credentialInterfaces = (IUsernamePassword,)

    def requestAvatarId(self, credentials: IUsernamePassword) -> "Deferred[bytes]":
        username = credentials.username
        if isinstance(username, bytes):
            username = username.decode("utf-8", "replace")
        checker = self.tokens if username == TOKEN_USER else self.users
        if checker is None:
            return fail(UnauthorizedLogin("No such way to log in"))
        return checker.requestAvatarId(credentials)  # type: ignore[no-any-return]


@implementer(IRealm)
@attrs.define
class Realm:
    """
    Makes a L{User} of an avatar id (C{b"name"}, or C{b"name\\0tokenid"}).
    """

    tokens: Optional[TokenStore] = None

    def requestAvatar(self, avatarId: bytes, mind: Any, *interfaces: Any) -> Tuple[Any, Any, Any]:
        if IUser not in interfaces:
            raise NotImplementedError(interfaces)
        name, _, tokenID = avatarId.decode("utf-8").partition("\0")
        user = User(name)
        if tokenID and self.tokens is not None:
            token = next((t for t in self.tokens.tokens() if t.id == tokenID), None)
            user = User(name, tokenID, token.scopes if token is not None else ("",))
        return IUser, user, lambda: None


class MissingCredentials(UnauthorizedLogin):
    """
    The request carried no Basic credentials.
    """


class TooManyFailures(Exception):
    """
    Too many failed logins lately from this address or for this user.
    """


@attrs.define
class Throttle:
    """
    Counts failed logins per key (client address, user name) in a sliding
    window; a key over the limit is refused without checking, which makes
    guessing passwords slow and keeps bcrypt work bounded.

    Logins being checked count too, as the failures they may yet be (see
    L{admit}): a bcrypt check takes its time, and guesses sent at once
    would otherwise all be checked before the first had failed.
    """

    clock: IReactorTime
    maxFailures: int = 10
    window: float = 60.0
    _failures: Dict[Tuple[str, str], Deque[float]] = attrs.field(factory=dict)
    #: How many keys may be held before those whose failures are all out
    #: of the window are forgotten (doubled as live ones grow).
    _sweepAt: int = 1024
    #: Logins being checked now, by key.
    _checking: Dict[Tuple[str, str], int] = attrs.field(factory=dict)
    #: Logins waiting for checks of their keys to end (see L{admit}).
    _waiting: List[Tuple[FrozenSet[Tuple[str, str]], "Deferred[None]"]] = attrs.field(
        factory=list
    )

    def _recent(self, key: Tuple[str, str]) -> Deque[float]:
        now = self.clock.seconds()
        failures = self._failures.get(key)
        if failures is None:
            return collections.deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def blocked(self, keys: Iterable[Tuple[str, str]]) -> bool:
        return any(len(self._recent(k)) >= self.maxFailures for k in keys)

    def failed(self, keys: Iterable[Tuple[str, str]]) -> None:
        now = self.clock.seconds()
        for key in keys:
            self._failures.setdefault(key, collections.deque()).append(now)
        if len(self._failures) > self._sweepAt:
            # Keys are otherwise forgotten only when asked about again,
            # which a scanner's new user name never is.
            self._failures = {
                key: failures for key, failures in self._failures.items()
                if failures[-1] > now - self.window
            }
            self._sweepAt = max(1024, 2 * len(self._failures))
        if len(self._failures) > 100_000:  # bounded memory under a flood
            self._failures.clear()

    def admit(self, keys: Iterable[Tuple[str, str]]) -> "Optional[Deferred[None]]":
        """
        May a login for C{keys} (not L{blocked}) be checked now?  Not while
        their failures and the checks in progress, were those to fail,
        would reach the limit.

        @return: C{None} if it may: it is then counted as being checked
            until L{ended}.  Otherwise a L{Deferred} that fires once one
            of those checks has ended, to ask again.
        """
        keys = tuple(keys)
        if any(len(self._recent(k)) + self._checking.get(k, 0) >= self.maxFailures for k in keys):
            waiting: Deferred[None] = Deferred()
            self._waiting.append((frozenset(keys), waiting))
            return waiting
        for key in keys:
            self._checking[key] = self._checking.get(key, 0) + 1
        return None

    def ended(self, keys: Iterable[Tuple[str, str]]) -> None:
        """
        The check of a login L{admit} let through has ended (its failure,
        if it failed, already counted): the logins waiting for it ask again.
        """
        keys = frozenset(keys)
        for key in keys:
            left = self._checking.pop(key) - 1
            if left:
                self._checking[key] = left
        waiting, self._waiting = self._waiting, []
        for waitingKeys, d in waiting:
            if not waitingKeys & keys:
                self._waiting.append((waitingKeys, d))
            elif not d.called:  # else cancelled: its client has gone
                d.callback(None)


def asUTF8(value: bytes) -> bytes:
    """
    C{value}, a user name or password of Basic credentials, as the UTF-8
    the users file holds.  RFC 7617 leaves their encoding to the client:
    uv and curl send UTF-8, but pip and twine (through requests) send
    Latin-1, whose text beyond ASCII is practically never valid UTF-8; so
    bytes that are not UTF-8 are read as Latin-1, and those users log in
    with either.
    """
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1").encode("utf-8")
    return value


#: How much of a user name the throttle keys failures by: more than any
#: real name, and 100,000 of them are a few tens of megabytes.
MAX_NAME_KEY = 256


@attrs.define
class Authenticator:
    """
    Checks a request's Basic credentials, throttling failures.
    """

    portal: Portal
    throttle: Throttle

    def authenticate(self, request: IRequest) -> "Deferred[User]":
        """
        @return: a L{Deferred} firing with the L{User}; failing with
            L{UnauthorizedLogin} (answer 401) or L{TooManyFailures} (429).
        """
        username, password = request.getUser(), request.getPassword()
        username, password = asUTF8(username), asUTF8(password)
        if not username:
            return fail(MissingCredentials())
        host = getattr(request.getClientAddress(), "host", "?")
        name = username.decode("utf-8", "replace")
        # Anyone may send it: logged escaped if it could break a line.
        shown = name if name.isprintable() else repr(name)
        # Failures for a user count wherever they come from; but every token
        # logs in as __token__, so guesses at tokens count against their
        # address alone, or anyone could lock every token out.
        keys: Tuple[Tuple[str, str], ...] = (("address", str(host)),)
        if name != TOKEN_USER:
            # Held by the throttle: not whole, as long as the headers may be.
            keys += (("user", name[:MAX_NAME_KEY]),)
        return self._check(UsernamePassword(username, password), keys, shown, host)

    def _check(
        self, credentials: UsernamePassword, keys: Tuple[Tuple[str, str], ...],
        shown: str, host: object,
    ) -> "Deferred[User]":
        """
        Check C{credentials} once the throttle lets them be checked.
        """
        if self.throttle.blocked(keys):
            log.warn(
                "Refusing a login for {user} from {host}: too many failures",
                user=shown, host=host,
            )
            return fail(TooManyFailures())
        waiting = self.throttle.admit(keys)
        if waiting is not None:
            return waiting.addCallback(lambda _: self._check(credentials, keys, shown, host))
        d = self.portal.login(credentials, None, IUser)

        def failed(failure: Failure) -> Failure:
            if failure.check(UnauthorizedLogin):
                self.throttle.failed(keys)
                log.info("Failed login for {user} from {host}", user=shown, host=host)
            return failure

        def ended(result: Any) -> Any:
            self.throttle.ended(keys)
            return result

        return d.addCallbacks(lambda result: result[1], failed).addBoth(ended)


def challenge(request: IRequest, message: str = "Unauthorized: credentials required") -> bytes:
    """
    Answer 401 with a Basic challenge (pip and pdm only ask their keyring or
    the user after a 401).
    """
    from .web.representation import writeError

    request.setHeader(b"WWW-Authenticate", b'Basic realm="' + REALM + b'"')
    return writeError(request, 401, message)


def refuse(request: IRequest, failure: Failure) -> bytes:
    """
    The answer to a failed authentication: 401 with a challenge, or 429.
    """
    from .web.representation import writeError

    if failure.check(TooManyFailures):
        request.setHeader(b"Retry-After", b"60")
        return writeError(request, 429, "Too Many Requests: too many failed logins; wait a minute")
    if failure.check(UnauthorizedLogin):
        return challenge(request, "Unauthorized: invalid or missing credentials")
    failure.raiseException()
    return b""  # pragma: no cover


def renderAuthenticated(
    request: IRequest,
    authenticator: Optional["Authenticator"],
    act: Callable[[User], Any],
    disabled: str,
) -> object:
    """
    Answer C{request} with what C{act(user)} returns (bytes, or a Deferred
    of them) once its credentials check out; 401 or 429 if they do not, 403
    with C{disabled} when there is no users file at all.
    """
    from .web.asyncrender import renderLater
    from .web.representation import writeError

    if authenticator is None:
        return writeError(request, 403, disabled)
    d = authenticator.authenticate(request).addCallback(lambda user: _uncancelled(act(user)))
    return renderLater(request, d, lambda request, body: body, refuse)


def _uncancelled(result: Any) -> Any:
    """
    C{result}, a L{Deferred} or not, out of reach of the cancellation of a
    request whose client has gone: an action, once its credentials checked
    out, runs to its end (an upload stored, announced and logged, not its
    form discarded under the thread storing it); only its answer is dropped.
    """
    if not isinstance(result, Deferred):
        return result
    shield: "Deferred[Any]" = Deferred()
    result.chainDeferred(shield)
    return shield


class _Refusal(Resource):
    isLeaf = True

    def __init__(self, failure: Failure) -> None:
        Resource.__init__(self)
        self.failure = failure

    def render(self, request: IRequest) -> bytes:
        return refuse(request, self.failure)


class _ClientGone(Resource):
    """
    What answers a request whose client has gone: nothing.
    """

    isLeaf = True

    def render(self, request: IRequest) -> object:
        return NOT_DONE_YET


class ReadGuard(Resource):
    """
    Lets a request through to C{wrapped} only with valid credentials
    (C{--read-auth}: private code is confidential).  C{/-/health} stays
    open for load balancers.
    """

    def __init__(self, wrapped: Resource, authenticator: Authenticator) -> None:
        Resource.__init__(self)
        self.wrapped = wrapped
        self.authenticator = authenticator

    def _guarded(self, request: IRequest) -> Resource:
        # Twisted tells of a lost connection only those who asked before it
        # was lost: a client gone while its login was checked would have
        # the tree asked for it (upstreams too), and finishing its request
        # would raise.
        gone: List[Failure] = []
        request.notifyFinish().addErrback(gone.append)

        def checked(result: Any) -> Resource:
            if gone:
                return _ClientGone()
            if isinstance(result, Failure):
                return _Refusal(result)
            return self.wrapped

        return DeferredResource(self.authenticator.authenticate(request).addBoth(checked))

    def getChildWithDefault(self, path: bytes, request: IRequest) -> Resource:
        if path == b"-" and request.postpath[:1] == [b"health"]:
            return self.wrapped.getChildWithDefault(path, request)
        # The wrapped tree is given the whole path once the login is done.
        request.postpath.insert(0, request.prepath.pop())
        return self._guarded(request)

    def render(self, request: IRequest) -> object:
        return self._guarded(request).render(request)
