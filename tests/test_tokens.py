"""
Tests for L{cheesecache.tokens}: the tokens file.
"""

from __future__ import annotations

import os

from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.logger import globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from cheesecache import tokens as tokensModule
from cheesecache.tokens import TokenChecker, TokensFileError, TokenStore

from .test_users import interleaved


class TokenStoreTests(SynchronousTestCase):
    """
    L{TokenStore}.
    """

    def setUp(self) -> None:
        self.path = FilePath(self.mktemp())

    def test_concurrentCreatesKept(self) -> None:
        """
        Two tokens created at once (two C{cheesecache token create}) are
        both in the file: the second waits for the first's write, and
        reads it.
        """
        secrets = []
        interleaved(
            self, tokensModule,
            lambda: secrets.append(TokenStore(self.path).create("alice")),
            lambda: secrets.append(TokenStore(self.path).create("bob")),
        )
        store = TokenStore(self.path)
        self.assertEqual(sorted(t.user for t in store.tokens()), ["alice", "bob"])
        for secret in secrets:
            self.assertIsNotNone(store.find(secret))

    def test_revokeBesideCreateKept(self) -> None:
        """
        A token revoked while another is created stays revoked, and the
        new one is kept.
        """
        store = TokenStore(self.path)
        old = store.create("alice")
        oldID = store.find(old).id  # type: ignore[union-attr]
        new = []
        interleaved(
            self, tokensModule,
            lambda: new.append(TokenStore(self.path).create("bob")),
            lambda: TokenStore(self.path).revoke(oldID),
        )
        store = TokenStore(self.path)
        self.assertIsNone(store.find(old))
        self.assertIsNotNone(store.find(new[0]))

    def test_idsUnique(self) -> None:
        """
        A new token never gets the id of one already in the file (ids are
        random, four bytes): the server finds a token's scopes, and
        C{token revoke} what to remove, by its id.
        """
        ids = iter(["aaaaaaaa", "aaaaaaaa", "bbbbbbbb"])
        self.patch(tokensModule.secrets, "token_hex", lambda n: next(ids))
        store = TokenStore(self.path)
        store.create("alice")
        store.create("alice", ("acme-*",))
        self.assertEqual([t.id for t in store.tokens()], ["aaaaaaaa", "bbbbbbbb"])

    def test_ownerKept(self) -> None:
        """
        A tokens file rewritten by root (C{sudo cheesecache token create})
        keeps its owner and group, still 0600: one owned by the user the
        server runs as stays readable by the server.
        """
        if os.geteuid() != 0:
            raise SkipTest("only root can give a file to another user")
        store = TokenStore(self.path)
        store.create("alice")
        os.chown(self.path.path, 54321, 54322)
        store.create("bob")
        st = os.stat(self.path.path)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (54321, 54322, 0o600))
        self.assertEqual(len(store.tokens()), 2)

    def test_malformedFile(self) -> None:
        """
        A tokens file that is not one the store wrote (edited by hand) is a
        L{TokensFileError} naming the file, whatever is wrong with it, not
        a C{KeyError} or C{AttributeError} from deep inside.
        """
        for content in (
            b"not json",
            b"[1]",
            b'{"tokens": [{"id": "x"}]}',
            b'{"tokens": [1]}',
            b'{"tokens": 5}',
        ):
            self.path.setContent(content)
            error = self.assertRaises(TokensFileError, TokenStore(self.path).tokens)
            self.assertIn(self.path.path, str(error))


class TokenCheckerTests(SynchronousTestCase):
    """
    L{TokenChecker}.
    """

    def test_malformedFileRefusesTokens(self) -> None:
        """
        While the tokens file is not one the store wrote, every token login
        is refused (as an unreadable users file refuses every password),
        and the reason is logged: not an error that makes the request a
        500.
        """
        path = FilePath(self.mktemp())
        store = TokenStore(path)
        secret = store.create("alice")
        checker = TokenChecker(store, lambda user: True)
        self.successResultOf(checker.requestAvatarId(UsernamePassword(b"__token__", secret.encode())))
        path.setContent(b'{"tokens": [{"id": "x"}]}')
        events: list = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        failure = self.failureResultOf(
            checker.requestAvatarId(UsernamePassword(b"__token__", secret.encode()))
        )
        failure.trap(UnauthorizedLogin)
        self.assertTrue(any(path.path in str(e.get("error", "")) for e in events), events)
