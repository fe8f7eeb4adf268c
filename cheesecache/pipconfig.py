# -*- test-case-name: tests.test_pipconfig -*-
"""
What pip on this machine would use, found at run time: its index
(C{PIP_INDEX_URL}, then pip's configuration files, then pip's own default),
its proxy, its CA bundle, its client certificate and its trusted hosts
(C{PIP_PROXY}, C{PIP_CERT}, C{PIP_CLIENT_CERT}, C{PIP_TRUSTED_HOST}, then
pip's configuration files).
cheesecache names no public index itself.

pip's configuration files are read by pip's own code, so that they are
found and merged exactly as pip does, but in a child process
(C{python -m cheesecache.pipconfig}): that code is some 280 modules, and
importing it would keep about 10 MB in the server for the rest of its life.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

#: pip's settings cheesecache takes as defaults.
OPTIONS = ("index-url", "proxy", "cert", "client-cert", "trusted-host")

#: The key under which a reader gives pip's own default index.
PIP_DEFAULT = "pip-default-index-url"

#: The child's exit status when pip cannot be imported.
_NO_PIP = 3

#: Reads pip's configuration files: the settings asked for, and
#: L{PIP_DEFAULT}.  Raises C{ImportError} where pip cannot be imported.
Reader = Callable[[Sequence[str]], Dict[str, Optional[str]]]


class NoDefaultIndex(Exception):
    """
    pip is not importable, so its configured index cannot be found.
    """


def _configured(configuration: Any, option: str) -> Optional[str]:
    """
    pip's configured value of C{option}, from its C{install} or C{global}
    section.
    """
    for key in (f"install.{option}", f"global.{option}"):
        try:
            value = configuration.get_value(key)
        except Exception:
            continue
        if value and str(value).strip():
            return str(value).strip()
    return None


def readHere(options: Sequence[str]) -> Dict[str, Optional[str]]:
    """
    Read pip's configuration files with pip, in this process.

    @raise ImportError: pip cannot be imported.
    """
    from pip._internal.configuration import Configuration
    from pip._internal.models.index import PyPI

    configuration = Configuration(isolated=False)
    try:
        configuration.load()
    except Exception:
        pass  # A file pip cannot parse: as if it said nothing.
    values = {option: _configured(configuration, option) for option in options}
    values[PIP_DEFAULT] = str(PyPI.simple_url)
    return values


def readInChild(options: Sequence[str]) -> Dict[str, Optional[str]]:
    """
    Read pip's configuration files with pip, in a child process running
    this interpreter (so the same pip the server's environment has).

    @raise ImportError: pip cannot be imported there.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-m", "cheesecache.pipconfig", *options],
            # os.environ as it is now (pip reads PIP_CONFIG_FILE from it).
            env=dict(os.environ), capture_output=True, timeout=120, check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise ImportError(f"cannot run {sys.executable!r} to read pip's configuration: {e}")
    if result.returncode == _NO_PIP:
        raise ImportError("pip is not importable here")
    try:
        if result.returncode == 0:
            return dict(json.loads(result.stdout))
    except ValueError:
        pass
    raise ImportError(
        "reading pip's configuration failed: "
        + result.stderr.decode("utf-8", "replace").strip()[-500:]
    )


class PipSettings:
    """
    pip's settings as pip would see them: its C{PIP_} variables, then its
    configuration files, read once (by L{readInChild}) when first needed.
    """

    def __init__(self, environ: Optional[Mapping[str, str]] = None, reader: Optional[Reader] = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.reader = reader or readInChild
        self._files: Optional[Dict[str, Optional[str]]] = None
        self._failure: Optional[ImportError] = None

    def _fromFiles(self, key: str) -> Optional[str]:
        """
        @raise ImportError: pip cannot be imported.
        """
        if self._files is None and self._failure is None:
            try:
                self._files = self.reader(OPTIONS)
            except ImportError as e:
                self._failure = e
        if self._failure is not None:
            raise self._failure
        return self._files.get(key)  # type: ignore[union-attr]

    def setting(self, option: str) -> Optional[str]:
        """
        pip's setting C{option}, taken whole, if it has one (none where pip
        cannot be imported).
        """
        found = self.environ.get("PIP_" + option.upper().replace("-", "_"), "").strip()
        if found:
            return found
        try:
            return self._fromFiles(option)
        except ImportError:
            return None

    def indexURL(self) -> str:
        """
        The index URL pip would install from (the first, where several are
        given).

        @raise NoDefaultIndex: pip cannot be imported here.
        """
        found = self.environ.get("PIP_INDEX_URL", "").strip()
        try:
            found = found or self._fromFiles("index-url") or self._fromFiles(PIP_DEFAULT) or ""
        except ImportError as e:
            raise NoDefaultIndex(
                "pip is not importable here; give --upstream URL explicitly"
            ) from e
        return found.split()[0]


def main(argv: Sequence[str]) -> int:
    """
    The child: print pip's settings C{argv} (and its default index) as JSON.
    """
    try:
        values = readHere(argv)
    except ImportError:
        return _NO_PIP
    sys.stdout.write(json.dumps(values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
