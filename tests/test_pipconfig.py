"""
Tests for L{cheesecache.pipconfig}.

The expected default is read from pip itself at test time, so that no public
index is named here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Optional

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from cheesecache import pipconfig
from cheesecache.pipconfig import NoDefaultIndex, PipSettings

PRIVATE = "https://user:secret@index.example.invalid/simple/"
OTHER = "https://other.example.invalid/simple/"


def indexURL(environ: Dict[str, str]) -> str:
    """
    The index pip would use, with C{environ} for its variables.
    """
    return PipSettings(environ).indexURL()


def pipDefault() -> str:
    """
    pip's own default index URL, read from the pip installed here.
    """
    try:
        from pip._internal.models.index import PyPI
    except ImportError:
        raise SkipTest("pip is not importable")
    return str(PyPI.simple_url)


class EnvironmentMixin:
    """
    Change C{os.environ} for one test and isolate pip from this machine's
    configuration files.
    """

    def setEnviron(self, **values: Optional[str]) -> None:
        """
        Set (or, with C{None}, remove) environment variables until the test
        ends.
        """
        for key, value in values.items():
            old = os.environ.get(key)
            self.addCleanup(self._restore, key, old)  # type: ignore[attr-defined]
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @staticmethod
    def _restore(key: str, old: Optional[str]) -> None:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old

    def isolate(self) -> None:
        """
        Make pip read only the file named by C{PIP_CONFIG_FILE}: no global,
        user or site files of this machine, no C{PIP_INDEX_URL}.
        """
        pipDefault()
        from pip._internal import configuration

        # pip's code reads the files here, where they can be patched,
        # rather than in a child process.
        self.patch(pipconfig, "readInChild", pipconfig.readHere)  # type: ignore[attr-defined]

        if hasattr(configuration, "get_configuration_files"):
            kinds = configuration.kinds
            noFiles = {kinds.GLOBAL: [], kinds.USER: [], kinds.SITE: []}
            self.patch(  # type: ignore[attr-defined]
                configuration, "get_configuration_files", lambda: dict(noFiles)
            )
        self.setEnviron(PIP_INDEX_URL=None)

    def configFile(self, text: str) -> str:
        """
        Write a pip configuration file in a temporary directory and point
        C{PIP_CONFIG_FILE} at it.
        """
        path = FilePath(self.mktemp())  # type: ignore[attr-defined]
        path.makedirs()
        config = path.child("pip.conf")
        config.setContent(text.encode("utf-8"))
        self.setEnviron(PIP_CONFIG_FILE=config.path)
        return config.path


class EnvironmentVariableTests(EnvironmentMixin, SynchronousTestCase):
    """
    C{PIP_INDEX_URL} comes first.
    """

    def test_given(self) -> None:
        """
        C{PIP_INDEX_URL} in the given mapping is the answer, whatever pip's
        files say.
        """
        self.isolate()
        self.configFile(f"[global]\nindex-url = {OTHER}\n")
        self.assertEqual(indexURL({"PIP_INDEX_URL": PRIVATE}), PRIVATE)

    def test_processEnvironment(self) -> None:
        """
        Without a mapping, the process environment's C{PIP_INDEX_URL} is used.
        """
        self.isolate()
        self.setEnviron(PIP_INDEX_URL=PRIVATE)
        self.assertEqual(PipSettings().indexURL(), PRIVATE)

    def test_firstOfSeveral(self) -> None:
        """
        Surrounding whitespace is dropped and only the first URL is used.
        """
        self.assertEqual(
            indexURL({"PIP_INDEX_URL": f"  {PRIVATE}   {OTHER} \n"}), PRIVATE
        )

    def test_blankIgnored(self) -> None:
        """
        An empty or blank C{PIP_INDEX_URL} is as good as none.
        """
        self.isolate()
        self.configFile("")
        default = pipDefault()
        self.assertEqual(indexURL({"PIP_INDEX_URL": ""}), default)
        self.assertEqual(indexURL({"PIP_INDEX_URL": "  \t "}), default)


class ConfigFileTests(EnvironmentMixin, SynchronousTestCase):
    """
    pip's configuration files come next, then pip's default.
    """

    def setUp(self) -> None:
        self.isolate()

    def test_globalSection(self) -> None:
        """
        C{index-url} in the C{[global]} section of C{PIP_CONFIG_FILE} is used.
        """
        self.configFile(f"[global]\nindex-url = {PRIVATE}\n")
        self.assertEqual(indexURL({}), PRIVATE)

    def test_installSection(self) -> None:
        """
        C{[install]} wins over C{[global]}, as it does in pip.
        """
        self.configFile(f"[global]\nindex-url = {OTHER}\n\n[install]\nindex-url = {PRIVATE}\n")
        self.assertEqual(indexURL({}), PRIVATE)

    def test_underscoreSpelling(self) -> None:
        """
        pip's C{index_url} spelling is understood too.
        """
        self.configFile(f"[global]\nindex_url = {PRIVATE}\n")
        self.assertEqual(indexURL({}), PRIVATE)

    def test_otherKeysIgnored(self) -> None:
        """
        C{extra-index-url} and other settings do not replace the index.
        """
        self.configFile(f"[global]\nextra-index-url = {PRIVATE}\ntimeout = 5\n")
        self.assertEqual(indexURL({}), pipDefault())

    def test_emptyConfig(self) -> None:
        """
        With an empty configuration file the answer is pip's own default.
        """
        self.configFile("")
        self.assertEqual(indexURL({}), pipDefault())

    def test_devNull(self) -> None:
        """
        C{PIP_CONFIG_FILE=/dev/null} (pip's way to turn off configuration)
        gives pip's own default.
        """
        self.setEnviron(PIP_CONFIG_FILE=os.devnull)
        self.assertEqual(indexURL({}), pipDefault())

    def test_malformedConfig(self) -> None:
        """
        A configuration file pip cannot parse does not crash the lookup: the
        answer is pip's own default.
        """
        self.configFile("[global\nindex-url = \x00nonsense\n")
        self.assertEqual(indexURL({}), pipDefault())

    def test_defaultLooksLikeAnIndex(self) -> None:
        """
        pip's default, as found, is an https URL of a Simple index.
        """
        self.configFile("")
        url = indexURL({})
        self.assertTrue(url.startswith("https://"), url)
        self.assertIn("/simple", url)

    def test_mappingDoesNotLeakIntoProcess(self) -> None:
        """
        An explicit mapping without C{PIP_INDEX_URL} is not overridden by the
        process environment's.
        """
        self.configFile(f"[global]\nindex-url = {PRIVATE}\n")
        self.setEnviron(PIP_INDEX_URL=OTHER)
        self.assertEqual(indexURL({}), PRIVATE)



class ProxyAndCertTests(EnvironmentMixin, SynchronousTestCase):
    """
    pip's C{proxy}, C{cert}, C{client-cert} and C{trusted-host} settings: its variables,
    then its configuration files, values taken whole.
    """

    def setUp(self) -> None:
        self.isolate()
        self.setEnviron(PIP_PROXY=None, PIP_CERT=None, PIP_CLIENT_CERT=None, PIP_TRUSTED_HOST=None)

    def test_variables(self) -> None:
        environ = {
            "PIP_PROXY": " http://proxy.corp.test:3128 ",
            "PIP_CERT": "/etc/company ca.pem",
            "PIP_CLIENT_CERT": "/etc/client.pem",
            "PIP_TRUSTED_HOST": "index.corp.test other.corp.test:8443",
        }
        self.assertEqual(PipSettings(environ).setting("proxy"), "http://proxy.corp.test:3128")
        self.assertEqual(PipSettings(environ).setting("cert"), "/etc/company ca.pem")
        self.assertEqual(PipSettings(environ).setting("client-cert"), "/etc/client.pem")
        self.assertEqual(
            PipSettings(environ).setting("trusted-host"), "index.corp.test other.corp.test:8443"
        )

    def test_configFile(self) -> None:
        self.configFile(
            "[global]\nproxy = proxy.corp.test:3128\nclient-cert = /etc/client.pem\n"
            "[install]\ncert = /etc/company ca.pem\n"
            "trusted-host =\n    index.corp.test\n    other.corp.test:8443\n"
        )
        self.assertEqual(PipSettings({}).setting("proxy"), "proxy.corp.test:3128")
        self.assertEqual(PipSettings({}).setting("cert"), "/etc/company ca.pem")
        self.assertEqual(PipSettings({}).setting("client-cert"), "/etc/client.pem")
        self.assertEqual(
            PipSettings({}).setting("trusted-host").split(),
            ["index.corp.test", "other.corp.test:8443"],
        )

    def test_none(self) -> None:
        self.configFile("[global]\nindex-url = " + OTHER + "\n")
        self.assertIsNone(PipSettings({}).setting("proxy"))
        self.assertIsNone(PipSettings({}).setting("cert"))
        self.assertIsNone(PipSettings({}).setting("client-cert"))
        self.assertIsNone(PipSettings({}).setting("trusted-host"))


class PipSettingsTests(SynchronousTestCase):
    """
    L{PipSettings}: variables first, pip's files read once, in a child.
    """

    def test_readOnce(self) -> None:
        """
        pip's files are read once, for all the settings, and only when a
        variable does not answer.
        """
        calls = []

        def reader(options):  # type: ignore[no-untyped-def]
            calls.append(tuple(options))
            return {"proxy": "proxy.corp.test:3128", "cert": None, pipconfig.PIP_DEFAULT: OTHER}

        settings = PipSettings({"PIP_INDEX_URL": PRIVATE}, reader)
        self.assertEqual(settings.indexURL(), PRIVATE)
        self.assertEqual(calls, [])
        self.assertEqual(settings.setting("proxy"), "proxy.corp.test:3128")
        self.assertIsNone(settings.setting("cert"))
        self.assertEqual(calls, [pipconfig.OPTIONS])

    def test_noPip(self) -> None:
        """
        Without pip, there is no default index (an error that says what to
        do), and no proxy or bundle setting.
        """

        def reader(options):  # type: ignore[no-untyped-def]
            raise ImportError("no pip")

        settings = PipSettings({}, reader)
        self.assertIsNone(settings.setting("proxy"))
        e = self.assertRaises(NoDefaultIndex, settings.indexURL)
        self.assertIn("give --upstream URL explicitly", str(e))

    def test_child(self) -> None:
        """
        By default pip's files are read by pip in a child process: what
        C{PIP_CONFIG_FILE} says comes back, with pip's own default index.
        """
        default = pipDefault()
        config = FilePath(self.mktemp())
        config.setContent(b"[global]\nproxy = http://child-proxy.corp.test:3128\n")
        self.patch(os, "environ", {**os.environ, "PIP_CONFIG_FILE": config.path})
        values = pipconfig.readInChild(["proxy"])
        self.assertEqual(values["proxy"], "http://child-proxy.corp.test:3128")
        self.assertEqual(values[pipconfig.PIP_DEFAULT], default)

    def test_childCannotRun(self) -> None:
        """
        When the child cannot be run (or its answer cannot be read), pip's
        files are taken to say nothing, as when pip is missing.
        """
        self.patch(sys, "executable", self.mktemp())  # no such program
        self.assertIsNone(PipSettings({}).setting("proxy"))
        self.assertRaises(NoDefaultIndex, PipSettings({}).indexURL)
        self.patch(sys, "executable", "/bin/echo")  # prints no JSON
        e = self.assertRaises(ImportError, pipconfig.readInChild, ["proxy"])
        self.assertIn("reading pip's configuration failed", str(e))

    def test_serverKeepsNoPip(self) -> None:
        """
        Parsing the server's options, its default index included, leaves
        none of pip's modules in the process.
        """
        pipDefault()
        code = (
            "import sys; from cheesecache.tap import Options; o = Options();"
            " o.parseOptions(['--data-dir', sys.argv[1]]);"
            " print(o['upstreams'][0].url);"
            " print(sorted(m for m in sys.modules if m.split('.')[0] == 'pip'))"
        )
        environ = {k: v for k, v in os.environ.items() if k != "PIP_INDEX_URL"}
        output = subprocess.run(
            [sys.executable, "-c", code, self.mktemp()], env=environ,
            capture_output=True, check=True, text=True,
        ).stdout.splitlines()
        self.assertTrue(output[0].startswith("http"), output)
        self.assertEqual(output[1], "[]")
