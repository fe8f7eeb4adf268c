# -*- test-case-name: tests.test_pipconfig -*-
"""
The index pip on this machine would use, found at run time: C{PIP_INDEX_URL},
then pip's configuration files, then pip's own default.  cheesecache names
no public index itself.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional


class NoDefaultIndex(Exception):
    """
    pip is not importable, so its configured index cannot be found.
    """


def _fromEnvironment(environ: Mapping[str, str]) -> Optional[str]:
    value = environ.get("PIP_INDEX_URL", "").strip()
    return value.split()[0] if value else None


def defaultIndexURL(environ: Optional[Mapping[str, str]] = None) -> str:
    """
    The index URL pip would install from.

    @raise NoDefaultIndex: pip cannot be imported here.
    """
    environ = os.environ if environ is None else environ
    found = _fromEnvironment(environ)
    if found:
        return found
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.models.index import PyPI
    except ImportError as e:
        raise NoDefaultIndex(
            "pip is not importable here; give --upstream URL explicitly"
        ) from e
    configuration = Configuration(isolated=False)
    try:
        configuration.load()
    except Exception:
        pass
    for key in ("install.index-url", "global.index-url"):
        try:
            value = configuration.get_value(key)
        except Exception:
            continue
        if value:
            return str(value).split()[0]
    return PyPI.simple_url
