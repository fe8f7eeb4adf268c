"""
End-to-end: the real poetry and pdm, each publishing a private release to
a real C{twistd -n cheesecache} that needs credentials for reads too, then
adding that release and an upstream project with its dependency to a
project of their own.

Both are in the test extras; where one is missing the test says so and
skips.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Dict, List

from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, TestCase

from .fakeindex import Dist
from .test_e2e import BIN, CLIENT_ENV, TwistdProcess, run, upstreamWithWheels
from .test_e2e_upload import writeDist
from .harness import serveIndex
from .wheels import makeWheel

USER = "alice"
PASSWORD = "poetry-and-pdm"


def tool(name: str) -> str:
    found = shutil.which(name, path=BIN)
    if found is None:
        raise SkipTest(f"{name} is not installed in the test environment")
    return found


def distInfos(venv: FilePath) -> List[str]:
    """
    The C{.dist-info} directories installed in C{venv}.
    """
    return sorted(
        p.basename()
        for lib in venv.child("lib").children()
        for p in lib.child("site-packages").children()
        if p.basename().endswith(".dist-info")
    )


class _PrivateIndexCase(TestCase):
    """
    A cheesecache with reads behind credentials, in front of an upstream
    that has C{alpha} (needing C{beta>=2}) and an C{internal-lib} 9.9 that
    must never be installed: the private C{internal-lib} shadows it.
    """

    timeout = 300

    @inlineCallbacks
    def startServer(self):  # type: ignore[no-untyped-def]
        upstream = upstreamWithWheels()
        filename, data = makeWheel("internal-lib", "9.9")
        upstream.add("internal-lib", Dist(filename, data))
        users = os.path.abspath(self.mktemp())
        code, output = yield run(
            [os.path.join(BIN, "cheesecache"), "adduser", USER, "--users", users,
             "--password-stdin"],
            stdin=PASSWORD + "\n",
        )
        self.assertEqual(code, 0, output)
        self.server = TwistdProcess(
            self, serveIndex(self, upstream), self.mktemp(), "--users", users, "--read-auth"
        )
        yield self.server.ready()
        self.upstream = upstream
        self.legacy = self.server.url.replace("/simple/", "/legacy/")
        self.home = FilePath(self.mktemp())
        self.home.makedirs()

    def project(self, name: str, pyproject: str) -> FilePath:
        directory = self.home.child(name)
        directory.makedirs()
        directory.child("pyproject.toml").setContent(pyproject.encode())
        return directory

    def privateLibrary(self) -> FilePath:
        """
        The project of the private C{internal-lib} 1.0, its wheel built in
        C{dist/}, ready to publish.
        """
        lib = self.project("internal-lib", (
            '[project]\nname = "internal-lib"\nversion = "1.0"\n'
            'requires-python = ">=3.8"\n'
        ))
        writeDist(lib.child("dist"), "internal-lib", "1.0")
        return lib

    def assertInstalled(self, venv: FilePath) -> None:
        """
        The private release, alpha and alpha's dependency are in C{venv};
        the upstream's C{internal-lib} was never even downloaded.
        """
        installed = distInfos(venv)
        for wanted in ("alpha-1.0.dist-info", "beta-2.0.dist-info",
                       "internal_lib-1.0.dist-info"):
            self.assertIn(wanted, installed)
        self.assertNotIn("internal_lib-9.9.dist-info", installed)
        self.assertFalse(
            [p for _, p, _ in self.upstream.requests if b"internal_lib-9.9" in p]
        )


class PoetryTests(_PrivateIndexCase):
    def env(self) -> Dict[str, str]:
        home = self.home.path
        return {
            **CLIENT_ENV,
            "POETRY_CONFIG_DIR": os.path.join(home, "poetry-config"),
            "POETRY_CACHE_DIR": os.path.join(home, "poetry-cache"),
            "POETRY_DATA_DIR": os.path.join(home, "poetry-data"),
            "POETRY_VIRTUALENVS_IN_PROJECT": "true",
            "POETRY_NO_INTERACTION": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            # The private index, as poetry names a source's settings.
            "POETRY_REPOSITORIES_PRIVATE_URL": self.legacy,
            "POETRY_HTTP_BASIC_PRIVATE_USERNAME": USER,
            "POETRY_HTTP_BASIC_PRIVATE_PASSWORD": PASSWORD,
        }

    @inlineCallbacks
    def test_publishAndAdd(self):  # type: ignore[no-untyped-def]
        """
        C{poetry publish} uploads a private release; C{poetry add} then
        resolves and installs it, and an upstream project with its
        dependency, through cheesecache alone (the source is primary, so
        poetry asks no other index).
        """
        poetry = tool("poetry")
        yield self.startServer()
        env = self.env()
        lib = self.privateLibrary()
        code, output = yield run(
            [poetry, "publish", "--repository", "private", "--directory", lib.path], env
        )
        self.assertEqual(code, 0, output + self.server.log())

        app = self.project("app", (
            '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
            "dependencies = []\n\n"
            "[tool.poetry]\npackage-mode = false\n\n"
            '[[tool.poetry.source]]\nname = "private"\n'
            f'url = "{self.server.url}"\npriority = "primary"\n'
        ))
        code, output = yield run(
            [poetry, "add", "--directory", app.path, "alpha", "internal-lib"], env
        )
        self.assertEqual(code, 0, output + self.server.log())
        self.assertInstalled(app.child(".venv"))
        lock = app.child("poetry.lock").getContent().decode()
        self.assertIn('name = "internal-lib"\nversion = "1.0"', lock)


class PDMTests(_PrivateIndexCase):
    def env(self) -> Dict[str, str]:
        home = self.home.path
        return {
            **CLIENT_ENV,
            "PDM_CHECK_UPDATE": "false",
            "PDM_CONFIG_FILE": os.path.join(home, "pdm-config.toml"),
            "PDM_CACHE_DIR": os.path.join(home, "pdm-cache"),
            "PDM_LOG_DIR": os.path.join(home, "pdm-log"),
            "PDM_NON_INTERACTIVE": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        }

    @inlineCallbacks
    def test_publishAndAdd(self):  # type: ignore[no-untyped-def]
        """
        C{pdm publish} uploads a private release; C{pdm add} then resolves
        and installs it, and an upstream project with its dependency, into
        the project's own environment, with the credentials in the
        source's URL.
        """
        pdm = tool("pdm")
        yield self.startServer()
        env = self.env()
        lib = self.privateLibrary()
        code, output = yield run(
            [pdm, "publish", "--project", lib.path, "--no-build",
             "--repository", self.legacy, "--username", USER, "--password", PASSWORD],
            env,
        )
        self.assertEqual(code, 0, output + self.server.log())

        authenticated = self.server.url.replace("://", f"://{USER}:{PASSWORD}@")
        app = self.project("app", (
            '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
            "dependencies = []\n\n"
            "[tool.pdm]\ndistribution = false\n\n"
            '[[tool.pdm.source]]\nname = "pypi"\n'
            f'url = "{authenticated}"\n'
        ))
        # The project's environment, made here from the interpreter running
        # the tests (pdm would otherwise go looking for one).
        venv = app.child(".venv")
        code, output = yield run([sys.executable, "-m", "venv", "--without-pip", venv.path])
        self.assertEqual(code, 0, output)
        code, output = yield run(
            [pdm, "add", "--project", app.path, "alpha", "internal-lib"],
            {**env, "PDM_PYTHON": venv.child("bin").child("python").path},
        )
        self.assertEqual(code, 0, output + self.server.log())
        self.assertInstalled(venv)
        lock = app.child("pdm.lock").getContent().decode()
        self.assertIn('name = "internal-lib"\nversion = "1.0"', lock)
