# -*- test-case-name: tests.test_outbound, tests.test_tap, tests.test_warm -*-
"""
How cheesecache reaches other servers (its upstreams, and for
C{cheesecache warm} the index it warms): through which proxy, with
certificates checked against which authorities, and with which client
certificate.

Each is what the options give, else what pip on this machine would use:
pip's own settings, then the standard C{HTTPS_PROXY} / C{HTTP_PROXY} /
C{NO_PROXY} variables, and OpenSSL's own C{SSL_CERT_FILE} /
C{SSL_CERT_DIR}.  So a host where pip works is a host where cheesecache
does, trusted hosts (whose certificates go unchecked) included.  They are
gathered once into an L{Outbound}, by C{twistd cheesecache} and by
C{cheesecache warm} alike.
"""

from __future__ import annotations

import netrc
import os
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Type, TypeVar
from urllib.parse import urlsplit

import attrs
from twisted.web.client import HTTPConnectionPool

from .config import ConfigError
from .endpoints import UpstreamAgent, UpstreamEndpoints
from .pipconfig import PipSettings
from .proxies import ProxySettings, ProxyURLError
from .trust import (
    BadBundle,
    BadIdentity,
    BadTrustedHost,
    ClientIdentity,
    TrustedHost,
    UpstreamTLS,
    bundleTrust,
    clientIdentity,
    trustedHosts,
)
from .upstream import basicAuthorization

T = TypeVar("T")


def proxySettings(
    explicit: Optional[str], pip: PipSettings, flag: str = "--proxy"
) -> ProxySettings:
    """
    The proxies to go through: C{explicit} for both schemes, else pip's own
    C{proxy} setting, else the C{HTTPS_PROXY} / C{HTTP_PROXY} variables
    (C{ALL_PROXY} for a scheme without its own);
    always with C{NO_PROXY}.

    @param flag: what C{explicit} is called, for messages.
    @raise ConfigError: a proxy that cannot be used, naming where it was set.
    """
    source, both = flag, explicit
    if not both:
        source, both = "pip's proxy setting", pip.setting("proxy")
    if not both:
        source = "HTTPS_PROXY / HTTP_PROXY / ALL_PROXY"
    try:
        return ProxySettings.fromEnvironment(pip.environ, both)
    except ProxyURLError as e:
        raise ConfigError(f"{source}: {e}") from None


def caBundle(
    explicit: Optional[str], pip: PipSettings, flag: str = "--ca-bundle"
) -> Tuple[Optional[str], Any]:
    """
    The CA bundle HTTPS servers are checked against and its trust root, or
    C{(None, None)} for OpenSSL's default authorities.

    The bundle is C{explicit}; else, unless C{SSL_CERT_FILE} or
    C{SSL_CERT_DIR} already tell OpenSSL which authorities to use, pip's
    C{cert} setting.

    @param flag: what C{explicit} is called, for messages.
    @raise ConfigError: the bundle cannot be read, naming where it was set.
    """
    environ = pip.environ
    source, path = flag, explicit
    if not path and not (environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR")):
        source, path = "pip's cert setting", pip.setting("cert")
    return _read(source, path, bundleTrust, BadBundle)


def clientCertificate(
    explicit: Optional[str], pip: PipSettings, flag: str = "--client-cert"
) -> Tuple[Optional[str], Optional[ClientIdentity]]:
    """
    The client certificate shown to HTTPS servers that ask for one, and
    where it was read from: C{explicit}, else pip's C{client-cert} setting;
    C{(None, None)} for none.

    @param flag: what C{explicit} is called, for messages.
    @raise ConfigError: the file cannot be used, naming where it was set.
    """
    source, path = flag, explicit
    if not path:
        source, path = "pip's client-cert setting", pip.setting("client-cert")
    return _read(source, path, clientIdentity, BadIdentity)


def trustedHostsSetting(
    explicit: Sequence[str], pip: PipSettings, flag: str = "--trusted-host"
) -> Tuple[TrustedHost, ...]:
    """
    The hosts whose certificates are not checked: C{explicit}, else pip's
    C{trusted-host} setting (several, separated by white space); none by
    default.

    @param flag: what C{explicit} is called, for messages.
    @raise ConfigError: an entry is not a host, naming where it was set.
    """
    source, entries = flag, list(explicit)
    if not entries:
        setting = pip.setting("trusted-host")
        source, entries = "pip's trusted-host setting", [setting] if setting else []
    try:
        return trustedHosts(entries)
    except BadTrustedHost as e:
        raise ConfigError(f"{source}: {e}") from None


def _read(
    source: str, path: Optional[str], read: Callable[[str], T], bad: Type[Exception]
) -> Tuple[Optional[str], Optional[T]]:
    """
    C{path} and what C{read} makes of the file there; C{(None, None)} for
    no path.

    @param source: where C{path} was set, for messages.
    @raise ConfigError: C{read} raised C{bad}.
    """
    if not path:
        return None, None
    try:
        return path, read(path)
    except bad as e:
        raise ConfigError(f"{source} {path}: {e}") from None


def netrcAuthorization(
    url: str, environ: Mapping[str, str]
) -> Tuple[Optional[str], Optional[str]]:
    """
    The Basic authorization pip would send to C{url}'s host from a netrc
    file, and that file's path; C{(None, None)} if none gives any.

    As pip does it (through requests): the file C{NETRC} names, else
    C{~/.netrc}, else C{~/_netrc}; the entry for the host, else the
    default entry; its login (or account) and password.  A file that
    cannot be read or parsed gives nothing, as for pip.
    """
    host = urlsplit(url).hostname
    if not host:
        return None, None
    home = environ.get("HOME") or os.path.expanduser("~")
    candidates = [os.path.expanduser(environ["NETRC"])] if environ.get("NETRC") else [
        os.path.join(home, ".netrc"), os.path.join(home, "_netrc"),
    ]
    for path in candidates:
        if not os.path.exists(path):
            continue
        try:
            # A path is given, so the netrc module checks no permissions,
            # as for requests.
            entry = netrc.netrc(path).authenticators(host)
        except (netrc.NetrcParseError, OSError, UnicodeDecodeError):
            return None, None
        if entry is None:
            return None, None
        login, account, password = entry
        return basicAuthorization(login or account or "", password or ""), path
    return None, None


class QuietConnectionPool(HTTPConnectionPool):
    """
    Twisted's connection pool, but for the two lines it logs for every
    connection ("Starting factory" and "Stopping factory", each with the
    repr of a callback and an endpoint): an install through a cold cache
    opens a score of upstream connections, and the operator learns
    nothing from those lines.
    """

    class _factory(HTTPConnectionPool._factory):  # type: ignore[valid-type,misc]
        noisy = False


def outboundAgent(
    reactor: Any,
    pool: Any,
    proxies: ProxySettings,
    trustRoot: Any,
    connectTimeout: float = 30,
    identity: Optional[ClientIdentity] = None,
    trusted: Tuple[TrustedHost, ...] = (),
) -> UpstreamAgent:
    """
    The agent requests to other servers go through, over C{pool}.

    @param trustRoot: the authorities HTTPS servers are checked against
        (C{None}: OpenSSL's default ones).
    @param identity: the client certificate shown to those that ask.
    @param trusted: the hosts whose certificates are not checked.
    """
    endpoints = UpstreamEndpoints(
        reactor,
        connectTimeout=connectTimeout,
        policy=UpstreamTLS(trustRoot, identity, trusted),
        proxies=proxies,
    )
    return UpstreamAgent(endpoints, pool)


@attrs.frozen
class Outbound:
    """
    How requests reach other servers, gathered once from the options and
    pip's settings (see the module docstring): the server's upstreams and
    C{cheesecache warm}'s index are reached the same way.

    @ivar caBundle: the path of the CA bundle, if one is used.
    @ivar trustRoot: the authorities read from it (C{None}: OpenSSL's own).
    @ivar clientCert: the path of the client certificate, if one is shown.
    @ivar identity: the certificate and key read from it.
    @ivar trusted: the hosts whose certificates are not checked.
    """

    proxies: ProxySettings
    caBundle: Optional[str] = None
    trustRoot: Any = None
    clientCert: Optional[str] = None
    identity: Optional[ClientIdentity] = None
    trusted: Tuple[TrustedHost, ...] = ()

    @classmethod
    def fromSettings(
        cls,
        pip: PipSettings,
        proxy: Optional[str] = None,
        bundle: Optional[str] = None,
        cert: Optional[str] = None,
        trusted: Sequence[str] = (),
        bundleFlag: str = "--ca-bundle",
    ) -> "Outbound":
        """
        What the options give (C{None} or empty where they say nothing),
        else what pip would use.

        @param bundleFlag: what the option giving C{bundle} is called.
        @raise ConfigError: a setting that cannot be used, naming where it
            was set.
        """
        proxies = proxySettings(proxy, pip)
        caBundlePath, trustRoot = caBundle(bundle, pip, flag=bundleFlag)
        clientCert, identity = clientCertificate(cert, pip)
        return cls(
            proxies, caBundlePath, trustRoot, clientCert, identity,
            trustedHostsSetting(trusted, pip),
        )

    def agent(self, reactor: Any, pool: Any, connectTimeout: float = 30) -> UpstreamAgent:
        """
        The agent requests go through, over C{pool}.
        """
        return outboundAgent(
            reactor, pool, self.proxies, self.trustRoot, connectTimeout,
            self.identity, self.trusted,
        )
