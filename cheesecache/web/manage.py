# -*- test-case-name: tests.test_upload -*-
"""
C{/-/yank/}, C{/-/unyank/} and C{/-/delete/}: managing private releases
over HTTP (the same operations as C{cheesecache yank|unyank|delete}).

C{POST /-/yank/<project>/<version-or-filename>} (optional C{reason} as a
query parameter or a JSON body C{{"reason": ...}}), C{POST
/-/unyank/<project>/<target>}, C{POST} or C{DELETE /-/delete/<project>/<target>}.
All need credentials.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Optional, Tuple

import attrs
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from ..auth import Authenticator, renderAuthenticated
from ..private import NoSuchFile, NoSuchProject, PrivateStore
from .representation import writeError

log = Logger()

ACTIONS = ("yank", "unyank", "delete")


def _reason(request: IRequest) -> Optional[str]:
    reason = request.args.get(b"reason")
    if reason:
        return reason[0].decode("utf-8", "replace")
    if (request.getHeader(b"content-type") or b"").startswith(b"application/json"):
        request.content.seek(0)
        try:
            data = json.loads(request.content.read(65536) or b"{}")
        except ValueError:
            return None
        value = data.get("reason") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None
    return None


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
            request, self.authenticator, lambda user: self._act(request, user.username),
            "Forbidden: no users file (--users FILE)",
        )

    def render_DELETE(self, request: IRequest) -> object:
        if self.action != "delete":
            request.setHeader(b"Allow", b"POST")
            return writeError(request, 405, "Method Not Allowed")
        return self.render_POST(request)

    def _act(self, request: IRequest, username: str) -> "Deferred[bytes]":
        project, target = (p.decode("utf-8", "replace") for p in request.postpath)
        if self.action == "yank":
            change = functools.partial(
                self.store.yank, project, target, _reason(request), announce=False
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

        def missing(failure: Failure) -> bytes:
            failure.trap(NoSuchProject, NoSuchFile)
            e = failure.value
            return writeError(request, 404, f"Not Found: {e.args[0] if e.args else e}")

        return changing.addCallbacks(changed, missing)
