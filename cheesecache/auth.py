# -*- test-case-name: tests.test_upload -*-
"""
Who is asking: HTTP Basic credentials checked through twisted.cred.

The L{Portal} holds one checker (the htpasswd users file, see
L{cheesecache.users}); the L{Realm} hands out the user's name for uploads
and management, and the resource tree for protected reads.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import attrs
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, fail
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import Attribute, Interface, implementer

REALM = b"cheesecache"


class IUser(Interface):
    """
    An authenticated user.
    """

    username = Attribute("The user's name, as text.")


@implementer(IUser)
@attrs.frozen
class User:
    username: str


@implementer(IRealm)
@attrs.define
class Realm:
    """
    Avatars: an L{IUser} for uploads and management; the resource tree, for
    reads behind C{--read-auth}.
    """

    resource: Optional[IResource] = None

    def requestAvatar(self, avatarId: bytes, mind: Any, *interfaces: Any) -> Tuple[Any, Any, Any]:
        for interface in interfaces:
            if interface is IUser:
                return IUser, User(avatarId.decode("utf-8")), lambda: None
            if interface is IResource and self.resource is not None:
                return IResource, self.resource, lambda: None
        raise NotImplementedError(interfaces)


class MissingCredentials(UnauthorizedLogin):
    """
    The request carried no Basic credentials.
    """


def login(portal: Portal, request: IRequest) -> "Deferred[User]":
    """
    Check the request's Basic credentials.

    @return: a L{Deferred} firing with the L{User}, or failing with
        L{UnauthorizedLogin}.
    """
    username, password = request.getUser(), request.getPassword()
    if not username:
        return fail(MissingCredentials())
    d = portal.login(UsernamePassword(username, password), None, IUser)
    return d.addCallback(lambda result: result[1])


def challenge(request: IRequest, message: str = "Unauthorized: credentials required") -> bytes:
    """
    Answer 401 with a Basic challenge (pip and pdm only ask their keyring or
    the user after a 401).
    """
    from .web.representation import writeError

    request.setHeader(b"WWW-Authenticate", b'Basic realm="' + REALM + b'"')
    return writeError(request, 401, message)
