# -*- test-case-name: tests.test_simple_resource -*-
"""
Rendering a response from a L{Deferred}, without writing to a client that
has gone away and without cancelling shared work when it does.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.server import NOT_DONE_YET

from .representation import writeError

log = Logger()


def renderLater(
    request: IRequest,
    d: "Deferred[Any]",
    respond: Callable[[IRequest, Any], object],
    fail: Callable[[IRequest, Failure], bytes],
) -> object:
    """
    Answer C{request} once C{d} fires: C{respond(request, result)} or
    C{fail(request, failure)} give the body (or C{NOT_DONE_YET} when they
    finish the request themselves).  A client that disconnects
    cancels only its own C{d}.
    """
    gone = []

    def disconnected(reason: Failure) -> None:
        gone.append(reason)
        d.cancel()

    request.notifyFinish().addErrback(disconnected)

    def finish(body: object) -> None:
        if gone or body is NOT_DONE_YET:
            return
        if body:
            request.write(body)
        request.finish()

    def failed(failure: Failure) -> bytes:
        if gone:
            return b""
        try:
            return fail(request, failure)
        except Exception:
            log.failure("Error while rendering an error", failure)
            return writeError(request, 500, "Internal Server Error")

    def succeeded(result: Any) -> bytes:
        if gone:
            return b""
        return respond(request, result)

    d.addCallbacks(succeeded, failed).addErrback(
        lambda f: (
            log.failure("Error while rendering {uri}", f, uri=request.uri),
            writeError(request, 500, "Internal Server Error"),
        )[1]
    ).addCallback(finish).addErrback(
        lambda f: log.failure("Error while finishing {uri}", f, uri=request.uri)
    )
    return NOT_DONE_YET
