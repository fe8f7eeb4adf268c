# -*- test-case-name: tests.test_config -*-
"""
The configuration file (TOML, given with C{--config FILE}): every option the
command line has, plus what only a file can say well (named upstreams and
routes).  Command-line flags override the file.

Example::

    listen = ["tcp:3141"]
    data-dir = "/var/lib/cheesecache"
    index-ttl = 600
    upstream-patience = 3                      # seconds before a stale copy is served
    upstream-timeout = 30                      # seconds to connect and get headers
    offline = false
    users = "/etc/cheesecache/users.htpasswd"   # htpasswd -B; needed to upload
    max-upload-size = 100                      # megabytes
    read-auth = false                          # true: reads need credentials too
    log-format = "text"                        # or "json"
    max-cache-size = "20G"                     # LRU-evict upstream files beyond this
    trusted-host = ["index.corp.example"]      # certificates not checked, as pip's
    trusted-proxy = ["127.0.0.1"]              # its X-Forwarded-For names the client

    [[permission]]       # only these users may upload acme-* projects
    match = "acme-*"
    users = ["alice", "ci"]

    [[upstream]]
    name = "company"
    url = "https://user:secret@pypi.example.com/simple/"

    [[upstream]]
    name = "public"
    url = "https://mirror.example.org/simple/"

    [[route]]            # acme-* only from our uploads or the company index
    match = "acme-*"
    sources = ["private", "company"]   # without "private", uploads go unserved

    [[route]]            # union of both for this one project
    match = "mylib"
    sources = ["company", "public"]
    merge = true
"""

from __future__ import annotations

import math
import tomllib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import attrs

from .routing import Route, routeFor
from .simple.names import normalize

#: The source name of the private store (uploads), usable in routes.
PRIVATE = "private"


class ConfigError(ValueError):
    """
    The configuration is invalid; the message names the key and the problem.
    """


@attrs.frozen
class UpstreamConfig:
    """
    A configured upstream: its name in routes and logs, and its URL (which
    may carry credentials, so it is never logged as is).
    """

    name: str
    url: str


@attrs.frozen
class Config:
    """
    Everything a configuration file can set; C{None} where it says nothing.
    """

    listen: Optional[Tuple[str, ...]] = None
    dataDir: Optional[str] = None
    indexTTL: Optional[float] = None
    upstreamPatience: Optional[float] = None
    upstreamTimeout: Optional[float] = None
    offline: Optional[bool] = None
    users: Optional[str] = None
    maxUploadSize: Optional[float] = None
    readAuth: Optional[bool] = None
    logFormat: Optional[str] = None
    maxCacheSize: Optional[str] = None
    proxy: Optional[str] = None
    caBundle: Optional[str] = None
    clientCert: Optional[str] = None
    trustedHosts: Tuple[str, ...] = ()
    trustedProxies: Tuple[str, ...] = ()
    permissions: Tuple["Permission", ...] = ()
    upstreams: Optional[Tuple[UpstreamConfig, ...]] = None
    routes: Tuple[Route, ...] = ()


#: The keys (and C{twistd cheesecache} flags) that give a time in seconds:
#: their attributes, whether 0 is allowed (at once) or not (never), and
#: their defaults.
DURATIONS = (
    ("index-ttl", "indexTTL", True, 600.0),
    ("upstream-patience", "upstreamPatience", True, 3.0),
    ("upstream-timeout", "upstreamTimeout", False, 30.0),
)


def checkedSeconds(value: Any, key: str, mayBeZero: bool) -> float:
    """
    C{value}, given for C{key}, as a time in seconds.

    @raise ConfigError: it is not a number, or is out of bounds.
    """
    seconds: float = _expect(value, float, key)
    if not math.isfinite(seconds):
        raise ConfigError(f"{key}: must be a finite number of seconds")
    if seconds < 0:
        raise ConfigError(f"{key}: must not be negative")
    if seconds == 0 and not mayBeZero:
        raise ConfigError(f"{key}: must be positive")
    return seconds


def checkedMegabytes(value: Any, key: str) -> float:
    """
    C{value}, given for C{key}, as a positive size in megabytes.

    @raise ConfigError: it is not a number, or is not positive and finite.
    """
    megabytes: float = _expect(value, float, key)
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise ConfigError(f"{key}: must be a positive number (megabytes)")
    return megabytes


def _given(value: Any) -> str:
    """
    What was given instead, for an error: a number or a boolean as it is,
    other values only by their type, as a string, a list or a table may
    be, or hold, an upstream URL or a proxy with its credentials.
    """
    if isinstance(value, (bool, int, float)):
        return repr(value)
    return type(value).__name__


def _expect(value: Any, kind: type, key: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {_given(value)}")
    return value


def _strings(value: Any, key: str) -> Tuple[str, ...]:
    _expect(value, list, key)
    return tuple(_expect(v, str, f"{key}[{i}]") for i, v in enumerate(value))


def validateUpstreamURL(url: str, key: str) -> str:
    """
    Check that C{url} is an http(s) URL naming a host, with a port (if it
    has one) that is one: the URL is used only later, where such a fault
    was a C{ValueError} traceback at start, or a failure of every fetch.
    The URL, which may carry a password, is not repeated.
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{key}: must be an http:// or https:// URL")
    checkURLHost(url, key)
    if "?" in url or "#" in url:
        # Page URLs are made by adding names to it: with a query, every
        # project's page would be asked for as the root list's.
        raise ConfigError(f"{key}: must have no query (?) or fragment (#)")
    return url


def checkURLHost(url: str, key: str) -> None:
    """
    Check that C{url} names a host, with a port (if it has one) that is
    one, without repeating the URL.

    @raise ConfigError: naming C{key}.
    """
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError:
        # Not ValueError's words: they can quote part of the user info.
        raise ConfigError(
            f"{key}: its host or port cannot be read (percent-encode special"
            " characters of a user name or password)"
        ) from None
    if not parts.hostname:
        raise ConfigError(f"{key}: must name a host")


def upstreamNames(urls: List[str], key: str = "--upstream") -> Tuple[UpstreamConfig, ...]:
    """
    Name upstreams given on the command line by position.

    @param key: where they were given, for errors.
    """
    return tuple(
        UpstreamConfig(f"upstream-{i + 1}", validateUpstreamURL(url, key))
        for i, url in enumerate(urls)
    )


#: Where the default upstream comes from, for errors.
PIP_INDEX_KEY = (
    "pip's index-url (PIP_INDEX_URL or pip's configuration files;"
    " give --upstream URL to use another)"
)


_KEYS = {
    "listen", "data-dir", "index-ttl", "offline", "upstream", "route", "users",
    "max-upload-size", "read-auth", "permission", "log-format", "max-cache-size", "proxy",
    "ca-bundle", "client-cert", "trusted-host", "upstream-patience",
    "upstream-timeout", "trusted-proxy",
}


@attrs.frozen
class Permission:
    """
    Who may upload to projects whose name matches C{pattern} (C{"*"} in
    C{users}: anyone with credentials).
    """

    pattern: str
    users: Tuple[str, ...] = attrs.field(converter=tuple)


def servedPrivately(routes: Sequence[Route], project: str) -> bool:
    """
    Are C{project}'s private releases served?  Not when its route sends it
    to upstreams alone (a route without C{"private"}).
    """
    return PRIVATE in routeFor(project, routes, [PRIVATE]).sources


def mayUpload(permissions: Tuple[Permission, ...], user: Optional[str], project: str) -> bool:
    """
    The first permission whose pattern matches C{project} decides; a project
    no permission names is open to every user with credentials.
    """
    for permission in permissions:
        if Route(permission.pattern, ()).matches(project):
            return user is not None and (user in permission.users or "*" in permission.users)
    return user is not None


def parseConfig(data: Mapping[str, Any]) -> Config:
    """
    Validate a parsed TOML document.

    @raise ConfigError: naming the key at fault.
    """
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(_KEYS))})")
    kw: Dict[str, Any] = {}
    if "listen" in data:
        kw["listen"] = _strings(data["listen"], "listen")
        if not kw["listen"]:
            raise ConfigError("listen: needs at least one endpoint")
    if "data-dir" in data:
        kw["dataDir"] = _expect(data["data-dir"], str, "data-dir")
    for key, attribute, mayBeZero, _ in DURATIONS:
        if key in data:
            kw[attribute] = checkedSeconds(data[key], key, mayBeZero)
    if "offline" in data:
        kw["offline"] = _expect(data["offline"], bool, "offline")
    if "users" in data:
        kw["users"] = _expect(data["users"], str, "users")
    if "read-auth" in data:
        kw["readAuth"] = _expect(data["read-auth"], bool, "read-auth")
    if "max-cache-size" in data:
        value = data["max-cache-size"]
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"max-cache-size: expected a size like \"10G\", got {_given(value)}")
        from .eviction import parseSize

        try:
            parseSize(str(value))
        except ValueError as e:
            raise ConfigError(f"max-cache-size: {e}") from e
        kw["maxCacheSize"] = str(value)
    if "proxy" in data:
        kw["proxy"] = _expect(data["proxy"], str, "proxy")
    if "ca-bundle" in data:
        kw["caBundle"] = _expect(data["ca-bundle"], str, "ca-bundle")
    if "client-cert" in data:
        kw["clientCert"] = _expect(data["client-cert"], str, "client-cert")
    if "trusted-host" in data:
        kw["trustedHosts"] = _strings(data["trusted-host"], "trusted-host")
    if "trusted-proxy" in data:
        kw["trustedProxies"] = _strings(data["trusted-proxy"], "trusted-proxy")
    if "log-format" in data:
        kw["logFormat"] = _expect(data["log-format"], str, "log-format")
        if kw["logFormat"] not in ("text", "json"):
            raise ConfigError("log-format: must be \"text\" or \"json\"")
    permissions = []
    for i, entry in enumerate(_expect(data.get("permission", []), list, "permission")):
        key = f"permission[{i}]"
        _expect(entry, dict, key)
        extra = sorted(set(entry) - {"match", "users"})
        if extra:
            raise ConfigError(f"{key}.{extra[0]}: unknown key")
        if "match" not in entry or "users" not in entry:
            raise ConfigError(f"{key}: needs 'match' and 'users'")
        permissions.append(
            Permission(
                normalize(_expect(entry["match"], str, f"{key}.match")),
                _strings(entry["users"], f"{key}.users"),
            )
        )
    kw["permissions"] = tuple(permissions)
    if "max-upload-size" in data:
        kw["maxUploadSize"] = checkedMegabytes(data["max-upload-size"], "max-upload-size")
    names = [PRIVATE]
    if "upstream" in data:
        upstreams = []
        for i, entry in enumerate(_expect(data["upstream"], list, "upstream")):
            key = f"upstream[{i}]"
            _expect(entry, dict, key)
            extra = sorted(set(entry) - {"name", "url"})
            if extra:
                raise ConfigError(f"{key}.{extra[0]}: unknown key")
            if "url" not in entry:
                raise ConfigError(f"{key}.url: missing")
            url = validateUpstreamURL(_expect(entry["url"], str, f"{key}.url"), f"{key}.url")
            name = _expect(entry.get("name", f"upstream-{i + 1}"), str, f"{key}.name")
            if not name:
                # A source with no name is named after its URL (see
                # UpstreamSource): routes to it would name no source.
                raise ConfigError(f"{key}.name: must not be empty")
            if name in names:
                raise ConfigError(f"{key}.name: {name!r} is used twice or reserved")
            names.append(name)
            upstreams.append(UpstreamConfig(name, url))
        kw["upstreams"] = tuple(upstreams)
    routes = []
    for i, entry in enumerate(_expect(data.get("route", []), list, "route")):
        key = f"route[{i}]"
        _expect(entry, dict, key)
        extra = sorted(set(entry) - {"match", "sources", "merge"})
        if extra:
            raise ConfigError(f"{key}.{extra[0]}: unknown key")
        if "match" not in entry or "sources" not in entry:
            raise ConfigError(f"{key}: needs 'match' and 'sources'")
        pattern = _expect(entry["match"], str, f"{key}.match")
        sources = _strings(entry["sources"], f"{key}.sources")
        if not sources:
            raise ConfigError(f"{key}.sources: needs at least one source")
        routes.append(
            Route(
                normalize(pattern),
                sources,
                _expect(entry.get("merge", False), bool, f"{key}.merge"),
            )
        )
    kw["routes"] = tuple(routes)
    return Config(**kw)


def checkRoutes(routes: Tuple[Route, ...], sourceNames: List[str]) -> None:
    """
    Check that every route names known sources.

    @raise ConfigError: naming the route and the unknown source.
    """
    for i, route in enumerate(routes):
        for name in route.sources:
            if name not in sourceNames:
                raise ConfigError(
                    f"route[{i}].sources: unknown source {name!r}"
                    f" (known: {', '.join(sourceNames)})"
                )


def loadConfig(path: str) -> Config:
    """
    Read and validate a configuration file.
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except UnicodeDecodeError as e:
        # TOML is UTF-8; tomllib decodes the whole file first, and lets
        # the codec's error out as it is.
        raise ConfigError(
            f"{path}: not valid TOML: not UTF-8 text (at byte {e.start})"
        ) from e
    return parseConfig(data)
