# -*- test-case-name: tests.test_pipconfig -*-
"""
What pip on this machine would use, found at run time: its index
(C{PIP_INDEX_URL}, then pip's configuration files, then pip's own default),
its proxy and its CA bundle (C{PIP_PROXY}, C{PIP_CERT}, then pip's
configuration files).  cheesecache names no public index itself.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional


class NoDefaultIndex(Exception):
    """
    pip is not importable, so its configured index cannot be found.
    """


def _first(value: str, whole: bool) -> str:
    # pip takes several index URLs in one setting, the first is the index.
    return value if whole else value.split()[0]


def _fromEnvironment(environ: Mapping[str, str], name: str, whole: bool = False) -> Optional[str]:
    value = environ.get(name, "").strip()
    return _first(value, whole) if value else None


def _configured(configuration: Any, option: str, whole: bool = False) -> Optional[str]:
    """
    pip's configured value of C{option}, from its C{install} or C{global}
    section.

    @param whole: the value as it is, not its first word.
    """
    for key in (f"install.{option}", f"global.{option}"):
        try:
            value = configuration.get_value(key)
        except Exception:
            continue
        if value and str(value).strip():
            return _first(str(value).strip(), whole)
    return None


def _pipConfiguration() -> Any:
    """
    pip's configuration files, loaded.

    @raise ImportError: pip cannot be imported here.
    """
    from pip._internal.configuration import Configuration

    configuration = Configuration(isolated=False)
    try:
        configuration.load()
    except Exception:
        pass
    return configuration


def defaultIndexURL(environ: Optional[Mapping[str, str]] = None) -> str:
    """
    The index URL pip would install from.

    @raise NoDefaultIndex: pip cannot be imported here.
    """
    environ = os.environ if environ is None else environ
    found = _fromEnvironment(environ, "PIP_INDEX_URL")
    if found:
        return found
    try:
        configuration = _pipConfiguration()
        from pip._internal.models.index import PyPI
    except ImportError as e:
        raise NoDefaultIndex(
            "pip is not importable here; give --upstream URL explicitly"
        ) from e
    return _configured(configuration, "index-url") or PyPI.simple_url


def _setting(environ: Optional[Mapping[str, str]], option: str) -> Optional[str]:
    """
    pip's setting C{option}: its C{PIP_} variable, else its configuration
    files (none if pip cannot be imported).
    """
    environ = os.environ if environ is None else environ
    found = _fromEnvironment(environ, "PIP_" + option.upper().replace("-", "_"), whole=True)
    if found:
        return found
    try:
        configuration = _pipConfiguration()
    except ImportError:
        return None
    return _configured(configuration, option, whole=True)


def defaultProxy(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """
    The proxy pip is told to use for every connection (its C{proxy}
    setting), if any.  The standard C{HTTPS_PROXY} and C{HTTP_PROXY}
    variables are read elsewhere (L{cheesecache.proxies}), as pip leaves
    them to its HTTP library.
    """
    return _setting(environ, "proxy")


def defaultCABundle(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """
    The CA bundle pip checks HTTPS servers against (its C{cert} setting),
    if any.
    """
    return _setting(environ, "cert")
