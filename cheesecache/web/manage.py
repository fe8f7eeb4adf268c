# -*- test-case-name: tests.test_upload -*-
"""
C{/-/yank/}, C{/-/unyank/} and C{/-/delete/}: managing private releases
over HTTP (the same operations as C{cheesecache yank|unyank|delete}).

C{POST /-/yank/<project>/<version-or-filename>} (optional C{reason} as a
query parameter, a form field or a JSON body C{{"reason": ...}}), C{POST
/-/unyank/<project>/<target>}, C{POST} or C{DELETE /-/delete/<project>/<target>}.
All need credentials, and the same right to the project an upload needs:
a user the config file's permissions let upload to it, with a token (if
that is how they logged in) whose scope covers it.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qs

import attrs
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..auth import Authenticator, User, renderAuthenticated
from ..private import NoSuchFile, NoSuchProject, PrivateStore
from ..simple.names import normalize
from .representation import writeError
from .upload import storageFailure

log = Logger()

ACTIONS = ("yank", "unyank", "delete")


#: The most bytes of a yank's body read for its reason.
MAX_REASON_BODY = 64 * 1024

FORM = b"application/x-www-form-urlencoded"


class BadReason(ValueError):
    """
    A yank's reason was sent in a way that cannot be read: the yank is
    refused rather than done without it.
    """


def yankReason(
    query: Mapping[bytes, Sequence[bytes]], contentType: Optional[bytes], body: bytes
) -> Optional[str]:
    """
    The reason a yank gives: the query's C{reason}, else the body's, a
    form field (what C{curl -d reason=...} sends) or a JSON object's
    C{"reason"}.  Twisted's own form parsing is off (see
    L{cheesecache.web.site.makeSite}), so a form body is read here.

    @raise BadReason: the reason is not UTF-8, the JSON is not an object
        whose C{reason} is a string, the body is too long, or it is of
        another type: a reason the server cannot read must not vanish.
    """
    mediaType = (contentType or b"").split(b";", 1)[0].strip().lower()
    if b"reason" not in query and body.strip():
        if len(body) > MAX_REASON_BODY:
            raise BadReason(f"the body is over {MAX_REASON_BODY} bytes")
        if mediaType == FORM:
            try:
                form = parse_qs(body.decode("ascii"), encoding="utf-8", errors="strict")
            except UnicodeDecodeError:
                raise BadReason("the reason is not UTF-8") from None
            return (form.get("reason") or [""])[0] or None
        if mediaType == b"application/json" or mediaType.endswith(b"+json"):
            try:
                data = json.loads(body)
            except (ValueError, RecursionError) as e:
                # RecursionError: nested deeper than the parser goes.
                raise BadReason(f"the body is not JSON: {e}") from None
            if not isinstance(data, dict):
                raise BadReason('the JSON body must be an object, {"reason": "..."}')
            reason = data.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise BadReason("the reason must be a string")
            return reason or None
        raise BadReason(
            "give the reason as ?reason=..., as a form field"
            " (application/x-www-form-urlencoded) or as JSON"
            ' (application/json, {"reason": "..."})'
        )
    values = query.get(b"reason")
    if not values:
        return None
    try:
        return values[0].decode("utf-8") or None
    except UnicodeDecodeError:
        raise BadReason("the reason is not UTF-8") from None


@attrs.define(eq=False)
class ManageAction(Resource):
    """
    One management action on a private project's files.
    """

    store: PrivateStore
    authenticator: Optional[Authenticator]
    action: str
    #: Runs the change (the store's lock, the record's sync, a delete's
    #: scan of every record) in a thread, giving a L{Deferred} of its
    #: result, as it does for the file fetcher; without it, it runs at once.
    blocking: Optional[Callable[..., "Deferred[Any]"]] = None
    isLeaf = True
    #: Not Resource's HEAD, which answers as GET would: there is no GET,
    #: so HEAD is refused (405) like it.
    render_HEAD = None  # type: ignore[assignment]

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)

    @property
    def allowedMethods(self) -> Tuple[bytes, ...]:
        """
        What a 405 answer lists in its C{Allow} header.
        """
        return (b"DELETE", b"POST") if self.action == "delete" else (b"POST",)

    def render_POST(self, request: IRequest) -> object:
        if len(request.postpath) != 2 or not all(request.postpath):
            return writeError(request, 404, f"Not Found: use /-/{self.action}/<project>/<version-or-filename>")
        return renderAuthenticated(
            request, self.authenticator, lambda user: self._act(request, user),
            "Forbidden: no users file (--users FILE)",
        )

    def render_DELETE(self, request: IRequest) -> object:
        if self.action != "delete":
            request.setHeader(b"Allow", b"POST")
            return writeError(request, 405, "Method Not Allowed")
        return self.render_POST(request)

    def _act(self, request: IRequest, user: User) -> "Deferred[bytes]":
        project, target = (p.decode("utf-8", "replace") for p in request.postpath)
        refusal = self._refusal(user, project)
        if refusal is not None:
            log.info(
                "{user} may not {action} on {project}: {refusal}",
                user=user.username, action=self.action, project=project, refusal=refusal,
            )
            return succeed(writeError(request, 403, f"Forbidden: {refusal}"))
        username = user.username
        if self.action == "yank":
            request.content.seek(0)
            try:
                reason = yankReason(
                    request.args,
                    request.getHeader(b"content-type"),
                    request.content.read(MAX_REASON_BODY + 1),
                )
            except BadReason as e:
                return succeed(
                    writeError(request, 400, f"Bad Request: cannot read the reason: {e}")
                )
            change = functools.partial(
                self.store.yank, project, target, reason, announce=False
            )
        elif self.action == "unyank":
            change = functools.partial(self.store.unyank, project, target, announce=False)
        else:
            change = functools.partial(self.store.delete, project, target, announce=False)
        changing = (self.blocking or maybeDeferred)(change)

        def changed(files: Tuple[str, ...]) -> bytes:
            self.store.announceChange(project)
            log.info(
                "{user} did {action} on {project} {target}: {files}",
                user=username, action=self.action, project=project, target=target,
                files=", ".join(files),
            )
            body = json.dumps({"action": self.action, "files": list(files)}).encode()
            request.setHeader(b"Content-Type", b"application/json")
            request.setHeader(b"Cache-Control", b"no-store")
            return body

        def failed(failure: Failure) -> bytes:
            failure.trap(NoSuchProject, NoSuchFile, OSError)
            e = failure.value
            if isinstance(e, OSError):
                # The disk would not take the record (full, read-only): the
                # change was not made, and the client is told so.
                log.error(
                    "{user} could not {action} on {project} {target}: {error}",
                    user=username, action=self.action, project=project,
                    target=target, error=str(e),
                )
                code, message = storageFailure(e, f"the {self.action}")
                return writeError(request, code, message, phrase=True)
            return writeError(request, 404, f"Not Found: {e.args[0] if e.args else e}")

        return changing.addCallbacks(changed, failed)

    def _refusal(self, user: User, project: str) -> Optional[str]:
        """
        Why C{user} may not change C{project}'s files, if they may not: the
        rights an upload to it needs (see L{cheesecache.web.upload}).
        """
        if not user.mayUploadTo(project):
            return f"the token {user.tokenID} isn't allowed to change project {project!r}"
        if not self.store.policy.mayUpload(user.username, normalize(project)):
            return f"the user {user.username!r} isn't allowed to change project {project!r}"
        return None
