# -*- test-case-name: tests.test_upload -*-
"""
The legacy upload API (what twine, uv publish, poetry publish and pdm
publish speak): a C{multipart/form-data} POST to C{/}, C{/legacy/} or
C{/legacy}, never redirected.

The body is parsed by our own streaming parser (Twisted's form parsing is
switched off: it drops the file name and buffers everything), off the
reactor thread, then validated and stored by the L{PrivateStore}.
"""

from __future__ import annotations

import errno
import json
from typing import Any, Callable, Dict, Optional, Tuple

import attrs
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..auth import Authenticator, User, renderAuthenticated
from ..multipart import MultipartError, boundaryFromContentType, parseMultipart
from ..private import CorruptRecord, PrivateStore
from ..uploadcheck import Accepted, AlreadyUploaded, Rejection, formProject
from .representation import reasonPhrase, writeError

log = Logger()


def answer(request: IRequest, code: int, message: str) -> bytes:
    """
    Answer an upload: the message as reason phrase and as body (plain text,
    or JSON for a client that prefers it, as uv publish does).
    """
    request.setResponseCode(code, reasonPhrase(message))
    accept = (request.getHeader(b"accept") or b"").decode("latin-1")
    if "application/json" in accept and "text/plain" not in accept.split(",")[0]:
        body = json.dumps({"code": f"{code} {message}", "message": message}).encode()
        request.setHeader(b"Content-Type", b"application/json")
    else:
        body = (message + "\n").encode("utf-8")
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(b"Cache-Control", b"no-store")
    request.setHeader(b"Content-Length", str(len(body)).encode())
    return body


def storageFailure(error: OSError, what: str = "the upload") -> Tuple[int, str]:
    """
    The status and message that answer an upload (or a change, C{what})
    the disk would not take (full, over quota, read-only, failing): a
    client told so, and told it may try again later, rather than a bare
    500 that reads as a bug in the server or in the upload.
    """
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return 507, f"Insufficient Storage: {what} could not be stored: {reason}"
    return 503, f"Service Unavailable: {what} could not be stored: {reason}"


@attrs.define(eq=False)
class UploadResource(Resource):
    """
    Receives uploads.

    @ivar authenticator: checks credentials; C{None} when no users file
        was given, and uploads are then refused.
    @ivar blocking: runs the body parsing and the store's part of an
        upload in a thread, giving a L{Deferred} of the result, as it does
        for the file fetcher; without it, they run at once.
    """

    store: PrivateStore
    authenticator: Optional[Authenticator]
    blocking: Optional[Callable[..., "Deferred[Any]"]] = None
    #: Uploads by outcome (accepted, duplicate, rejected), for metrics.
    outcomes: Dict[str, int] = attrs.field(factory=dict)
    isLeaf = True

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)

    def _blocking(self, f: Callable[..., Any], *args: Any) -> "Deferred[Any]":
        return (self.blocking or maybeDeferred)(f, *args)

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"Allow", b"POST")
        return writeError(request, 405, "Method Not Allowed: upload with POST")

    def render_POST(self, request: IRequest) -> object:
        disabled = "Forbidden: uploads are disabled; start cheesecache with --users FILE"
        if self.authenticator is None:
            # In the reason phrase too, which is all twine shows.
            return answer(request, 403, disabled)
        return renderAuthenticated(
            request, self.authenticator, lambda user: self._upload(request, user), disabled
        )

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def _refuse(self, request: IRequest, username: str, code: int, message: str) -> bytes:
        """
        Refuse an upload: counted and logged whatever refused it (its body,
        the token's scope, or the checks).
        """
        self._count("rejected")
        log.info(
            "Upload by {user} refused: {code} {message}",
            user=username, code=code, message=message,
        )
        return answer(request, code, message)

    def _failed(self, request: IRequest, username: str, error: OSError) -> bytes:
        """
        Answer an upload that the disk would not take (see
        L{storageFailure}).  The client may send it again: the same file,
        should it have been listed after all (only the record's final sync
        failing), is then a 200.
        """
        self._count("failed")
        log.error(
            "Upload by {user} could not be stored: {error}", user=username, error=str(error)
        )
        return answer(request, *storageFailure(error))

    @inlineCallbacks
    def _upload(self, request: IRequest, user: User):  # type: ignore[no-untyped-def]
        username = user.username
        try:
            boundary = boundaryFromContentType(request.getHeader(b"content-type"))
        except MultipartError as e:
            return self._refuse(request, username, 400, str(e))
        body = request.content
        body.seek(0)
        try:
            form = yield self._blocking(
                parseMultipart,
                body, boundary, self.store.blobs.tmp, self.store.policy.maxFileSize,
            )
        except MultipartError as e:
            return self._refuse(request, username, 400, f"Invalid upload body: {e}")
        except OSError as e:
            return self._failed(request, username, e)
        try:
            project = formProject(form)
            if not user.mayUploadTo(project):
                return self._refuse(
                    request, username, 403,
                    f"The token {user.tokenID} isn't allowed to upload to project"
                    f" {project!r}.",
                )
            action = request.args.get(b":action", [b""])[0].decode("utf-8", "replace") or None
            # Off the reactor: the lock may be held by the command-line tool,
            # and a big file's bytes are synced to disk.
            decision = yield self._blocking(self.store.decide, form, username, action)
            self.store.announce(decision)
        except CorruptRecord as e:
            log.error("Refusing an upload: {error}", error=str(e))
            return answer(request, 500, "Internal Server Error: the project's record is unreadable")
        except OSError as e:
            return self._failed(request, username, e)
        finally:
            form.discard()
        if isinstance(decision, Rejection):
            return self._refuse(request, username, decision.code, decision.message)
        if isinstance(decision, AlreadyUploaded):
            self._count("duplicate")
            return answer(request, 200, "OK (identical file already uploaded)")
        self._count("accepted")
        assert isinstance(decision, Accepted)
        log.info(
            "{user} uploaded {filename}", user=username, filename=decision.filename
        )
        return answer(request, 200, "OK")

