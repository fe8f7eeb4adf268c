# -*- test-case-name: tests.test_proxies -*-
"""
Which HTTP proxy, if any, an upstream is reached through.

Company networks often let nothing out but through a proxy, and every
Python installer honours the same settings for it: C{HTTPS_PROXY} and
C{HTTP_PROXY} (or their lower-case forms) name the proxy for each scheme,
C{ALL_PROXY} the proxy of a scheme that has none of its own, C{NO_PROXY}
lists the hosts reached directly, and pip's own C{proxy}
setting (C{--proxy}, C{PIP_PROXY}, pip's configuration files) names one
proxy for both schemes.  cheesecache reads the same, so a host where pip
works is a host where cheesecache reaches the same upstreams.

Loopback addresses are always reached directly, whatever the settings: a
proxy elsewhere cannot reach this host's loopback.

Plain values and functions only; the connections are made in
L{cheesecache.endpoints}.
"""

from __future__ import annotations

import ipaddress
from typing import Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import attrs

from .upstream import splitCredentials

#: A host's address, if it is one.
_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class ProxyURLError(ValueError):
    """
    A proxy setting is not a proxy URL cheesecache can use.
    """


@attrs.frozen
class Proxy:
    """
    An HTTP proxy: where it listens, whether it is spoken to over TLS, and
    the C{Proxy-Authorization} its URL's credentials make, if any.
    """

    host: str
    port: int
    authorization: Optional[bytes] = attrs.field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def fromURL(cls, url: str) -> "Proxy":
        """
        Read a proxy URL: C{http://[user:password@]host[:port]}, or
        C{https://...} for a proxy spoken to over TLS, or a bare
        C{host:port} as the installers accept it.

        @raise ProxyURLError: another scheme (SOCKS is not supported), no
            host, or not a URL at all.
        """
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        try:
            parts = urlsplit(text)
        except ValueError:
            # Not the parser's words: they may quote part of the password
            # (as the host of C{user:[secret]@proxy}).
            raise ProxyURLError(f"Proxy {redact(url)}: not a URL that can be read") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ProxyURLError(
                f"Proxy {redact(url)}: only http:// and https:// proxies are supported"
            )
        try:
            port = parts.port
        except ValueError:
            raise ProxyURLError(f"Proxy {redact(url)}: the port is not a number") from None
        if not parts.hostname:
            raise ProxyURLError(f"Proxy {redact(url)}: no host")
        # The same Basic credentials an upstream's URL makes.
        _, basic = splitCredentials(text)
        authorization = basic.encode("ascii") if basic is not None else None
        tls = scheme == "https"
        return cls(parts.hostname, port or (443 if tls else 80), authorization, tls)

    def address(self) -> str:
        """
        C{host:port}, for messages (never the credentials).
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def redact(url: str) -> str:
    """
    C{url} with any password replaced, for messages.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, hostPart = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hostPart}"


def _hostAddress(host: str) -> Optional[_Address]:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def isLoopback(host: str) -> bool:
    """
    Is C{host} this machine's loopback (C{localhost}, C{127.0.0.0/8},
    C{::1})?
    """
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _hostAddress(name)
    return address is not None and address.is_loopback


def bypasses(noProxy: Tuple[str, ...], host: str, port: int) -> bool:
    """
    Does a C{NO_PROXY} list name C{host} (and C{port})?

    As the installers read it: C{*} names every host; C{example.com} and
    C{.example.com} name that domain and every name under it; an address
    or network (C{10.0.0.0/8}) names the addresses in it; an entry may end
    in C{:port} to name that port only.
    """
    name = host.lower().rstrip(".").strip("[]")
    address = _hostAddress(name)
    for entry in noProxy:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entryHost, entryPort = entry, None
        if entry.startswith("["):
            entryHost, _, rest = entry[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                entryPort = int(rest[1:])
        elif entry.count(":") == 1:
            before, after = entry.split(":")
            if after.isdigit():
                entryHost, entryPort = before, int(after)
        if entryPort is not None and entryPort != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entryHost, strict=False):
                    return True
            except ValueError:
                pass
            continue
        domain = entryHost.lstrip(".").rstrip(".")
        if domain and (name == domain or name.endswith("." + domain)):
            return True
    return False


@attrs.frozen
class ProxySettings:
    """
    The proxy for each scheme, and the hosts reached directly.
    """

    http: Optional[Proxy] = None
    https: Optional[Proxy] = None
    noProxy: Tuple[str, ...] = ()

    def forTarget(self, scheme: str, host: str, port: int) -> Optional[Proxy]:
        """
        The proxy a connection to C{scheme://host:port} goes through, or
        C{None} to connect directly.
        """
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or isLoopback(host) or bypasses(self.noProxy, host, port):
            return None
        return proxy

    @classmethod
    def fromEnvironment(
        cls, environ: Mapping[str, str], both: Optional[str] = None
    ) -> "ProxySettings":
        """
        The settings the installers would use.

        @param both: one proxy for both schemes (C{--proxy}, or pip's
            C{proxy} setting), over the environment's per-scheme ones.
        @raise ProxyURLError: a proxy setting cannot be used.
        """

        def setting(name: str) -> str:
            # The lower-case form wins, as in the installers.
            return (environ.get(name.lower()) or environ.get(name.upper()) or "").strip()

        noProxy = tuple(
            entry for entry in setting("no_proxy").replace(" ", ",").split(",") if entry
        )
        if both:
            proxy = Proxy.fromURL(both)
            return cls(proxy, proxy, noProxy)
        # ALL_PROXY stands in for a scheme's own variable, as in requests
        # (so pip) and curl; it is read only where it is used.
        every = setting("all_proxy")
        http = setting("http_proxy") or every
        https = setting("https_proxy") or every
        return cls(
            Proxy.fromURL(http) if http else None,
            Proxy.fromURL(https) if https else None,
            noProxy,
        )

    def describe(self) -> str:
        """
        A line for the log: which proxies, and what goes around them.
        """
        if self.http is None and self.https is None:
            return "none"
        parts = []
        for scheme, proxy in (("http", self.http), ("https", self.https)):
            parts.append(f"{scheme} via {proxy.address()}" if proxy else f"{scheme} direct")
        if self.noProxy:
            parts.append("not for " + ",".join(self.noProxy))
        return "; ".join(parts)
