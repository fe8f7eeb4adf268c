# -*- test-case-name: tests.test_tokens -*-
"""
Upload tokens: a user creates scoped tokens (C{cheesecache token create})
and gives them to CI as the password of the user C{__token__}, as with the
public index.

Tokens are long random secrets, so they are stored as their sha256 (a slow
hash would add nothing against guessing and cost every request); the file
C{<data-dir>/tokens.json} is replaced atomically and re-read when it
changes, so the command-line tool and the server share it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Callable, List, Optional, Tuple

import attrs
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.filepath import FilePath
from zope.interface import implementer
from twisted.cred.checkers import ICredentialsChecker

from .pagestore import atomicWrite, lockedBeside
from .routing import Route

log = Logger()

TOKEN_USER = "__token__"
PREFIX = "cc-"


class TokensFileError(ValueError):
    """
    The tokens file is not one this store wrote (edited by hand, say).
    """


@attrs.frozen
class Token:
    """
    A stored token: never the secret, only its digest.

    @ivar scopes: name patterns the token may upload to; empty means any
        project its user may upload to.
    """

    id: str
    user: str
    digest: str
    scopes: Tuple[str, ...] = attrs.field(default=(), converter=tuple)
    created: float = 0.0

    def allows(self, project: str) -> bool:
        """
        May this token upload to C{project}?
        """
        return not self.scopes or any(Route(p, ()).matches(project) for p in self.scopes)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@attrs.define
class TokenStore:
    """
    The tokens file.
    """

    path: FilePath
    _stamp: Optional[Tuple[int, int, int]] = None
    _tokens: Tuple[Token, ...] = ()

    def tokens(self) -> Tuple[Token, ...]:
        """
        Every token, re-read when the file changed.
        """
        try:
            st = os.stat(self.path.path)
        except FileNotFoundError:
            self._stamp, self._tokens = None, ()
            return ()
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._tokens = self._read()
            self._stamp = stamp
        return self._tokens

    def _read(self) -> Tuple[Token, ...]:
        """
        Every token, read from the file now.

        @raise TokensFileError: the file is not a tokens file (a token
            without its user, JSON that is not an object...).
        """
        try:
            content = self.path.getContent()
        except FileNotFoundError:
            return ()
        try:
            data = json.loads(content)
            return tuple(
                Token(t["id"], t["user"], t["digest"], t.get("scopes", ()), t.get("created", 0.0))
                for t in data.get("tokens", ())
            )
        except (ValueError, LookupError, TypeError, AttributeError) as e:
            raise TokensFileError(
                f"{self.path.path} is not a tokens file: {type(e).__name__}: {e}"
            ) from e

    def _save(self, tokens: List[Token]) -> None:
        atomicWrite(
            self.path,
            json.dumps(
                {"tokens": [attrs.asdict(t) for t in tokens]}, indent=1
            ).encode(),
            mode=0o600,
            keepOwner=True,
        )

    def create(self, user: str, scopes: Tuple[str, ...] = ()) -> str:
        """
        Make a new token for C{user}; the secret is returned once and never
        stored.
        """
        # Locked, and read afresh (not the copy this store remembers): a
        # token created or revoked meanwhile by another process is kept so.
        with lockedBeside(self.path):
            tokens = self._read()
            # Ids are short: one already used would give this token the
            # other's scopes (found by id), and be revoked with it.
            used = {t.id for t in tokens}
            tokenID = secrets.token_hex(4)
            while tokenID in used:
                tokenID = secrets.token_hex(4)
            secret = f"{PREFIX}{tokenID}-{secrets.token_urlsafe(32)}"
            self._save([*tokens, Token(tokenID, user, _digest(secret), scopes, time.time())])
        return secret

    def revoke(self, tokenID: str) -> bool:
        """
        Remove a token; C{False} if there was none with that id.
        """
        with lockedBeside(self.path):
            tokens = list(self._read())
            kept = [t for t in tokens if t.id != tokenID]
            if len(kept) == len(tokens):
                return False
            self._save(kept)
        return True

    def find(self, secret: str) -> Optional[Token]:
        """
        The token whose secret this is, compared in constant time.
        """
        digest = _digest(secret)
        found = None
        for token in self.tokens():
            if hmac.compare_digest(token.digest, digest):
                found = token
        return found


@implementer(ICredentialsChecker)
@attrs.define
class TokenChecker:
    """
    Checks C{__token__} credentials; the avatar id is C{b"<user>\\0<id>"}.

    @ivar isUser: is there (still) a user of this name?  A token works only
        while its user is in the users file: removing a user ends their
        tokens too.
    """

    store: TokenStore
    isUser: Callable[[str], bool]
    credentialInterfaces = (IUsernamePassword,)

    def requestAvatarId(self, credentials: IUsernamePassword) -> "Deferred[bytes]":
        password = credentials.password
        if isinstance(password, bytes):
            password = password.decode("utf-8", "replace")
        try:
            token = self.store.find(password)
        except TokensFileError as e:
            log.error("Refusing every token: {error}", error=str(e))
            return fail(UnauthorizedLogin("The tokens file cannot be read"))
        if token is None:
            return fail(UnauthorizedLogin("Invalid token"))
        if not self.isUser(token.user):
            return fail(UnauthorizedLogin(f"The user of token {token.id} is gone"))
        return succeed(f"{token.user}\0{token.id}".encode("utf-8"))
