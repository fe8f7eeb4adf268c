"""
Tests for L{cheesecache.tap} and the twistd plugin.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from ipaddress import ip_network
from typing import Any, Callable, List, Optional, Tuple

from twisted.application.service import IServiceMaker
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import CannotListenError
from twisted.logger import formatEvent, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from cheesecache.logs import AccessLogFile, BufferedLogObserver
from cheesecache.proxies import Proxy, ProxySettings
from cheesecache.tap import (
    SWITCH_INTERVAL,
    Options,
    defaultDataDir,
    makeService,
    rotateOnSignal,
)
from cheesecache.trust import TrustedHost

from .test_e2e import BIN, run
from .tlscerts import makeCertificates, makeClientIdentity


class OptionsTests(SynchronousTestCase):
    """
    The command line of C{twistd cheesecache}.
    """

    def test_defaults(self) -> None:
        """
        Without options: listen on tcp:3141, a TTL of 600 s, a data dir, and
        the upstream pip is configured to use.
        """
        options = Options()
        self.patch(os, "environ", {**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:1/simple/"})
        options.parseOptions([])
        self.assertEqual(options["listen"], ["tcp:3141"])
        self.assertEqual(options["index-ttl"], 600.0)
        self.assertEqual(options["upstream-patience"], 3.0)
        self.assertEqual(options["upstream-timeout"], 30.0)
        self.assertTrue(options["data-dir"])
        self.assertEqual(
            [(u.name, u.url) for u in options["upstreams"]],
            [("upstream-1", "http://127.0.0.1:1/simple/")],
        )

    def test_defaultDataDir(self) -> None:
        """
        The data directory is C{$XDG_CACHE_HOME/cheesecache}, else
        C{~/.cache/cheesecache}, as the README and --help say.
        """
        self.patch(os, "environ", {**os.environ, "XDG_CACHE_HOME": "/srv/cache"})
        self.assertEqual(defaultDataDir(), "/srv/cache/cheesecache")
        environ = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
        self.patch(os, "environ", {**environ, "HOME": "/home/alice"})
        self.assertEqual(defaultDataDir(), "/home/alice/.cache/cheesecache")

    def test_pipIndexNotHTTP(self) -> None:
        """
        Without --upstream, a pip index-url that is not an http(s) URL (a
        local directory pip can read) is refused as pip's setting, which is
        where it came from, and not as an --upstream never given.
        """
        self.patch(os, "environ", {**os.environ, "PIP_INDEX_URL": "/srv/wheelhouse"})
        e = self.assertRaises(usage.UsageError, Options().parseOptions, [])
        self.assertTrue(str(e).startswith("pip's index-url"), str(e))
        self.assertIn("--upstream URL", str(e))

    def test_helpSpacing(self) -> None:
        """
        The help of an option documented by a multi-line docstring reads
        as one sentence: no run of spaces from the docstring's indentation.
        """
        text = str(Options())
        # Where the descriptions start: that of --config, on its own line.
        column = next(
            line.index("A TOML") for line in text.splitlines() if "--config=" in line
        )
        for line in text.splitlines():
            self.assertNotIn("  ", line[column:].strip(), line)

    def test_repeatable(self) -> None:
        """
        --listen and --upstream are repeatable and keep their order.
        """
        dataDir = self.mktemp()
        options = Options()
        options.parseOptions(
            [
                "--listen", "tcp:1", "--listen", "tcp:2",
                "--upstream", "http://127.0.0.1:2/simple/",
                "--upstream", "https://u:p@127.0.0.1:3/simple/",
                "--data-dir", dataDir, "--index-ttl", "5", "--upstream-patience", "0.5",
                "--upstream-timeout", "12",
            ]
        )
        self.assertEqual(options["listen"], ["tcp:1", "tcp:2"])
        self.assertEqual(
            [u.url for u in options["upstreams"]],
            ["http://127.0.0.1:2/simple/", "https://u:p@127.0.0.1:3/simple/"],
        )
        self.assertEqual(options["index-ttl"], 5.0)
        self.assertEqual(options["upstream-patience"], 0.5)
        self.assertEqual(options["upstream-timeout"], 12.0)
        self.assertEqual(options["data-dir"], dataDir)

    def test_badValues(self) -> None:
        """
        A non-HTTP upstream, a negative TTL or patience, or a timeout that
        is not positive is a usage error.
        """
        for argv in (
            ["--upstream", "ftp://x/"],
            ["--upstream", "http://x/", "--index-ttl", "-1"],
            ["--upstream", "http://x/", "--upstream-patience", "-1"],
            ["--upstream", "http://x/", "--upstream-timeout", "0"],
        ):
            self.assertRaises(usage.UsageError, Options().parseOptions, argv)

    def test_notFinite(self) -> None:
        """
        NaN or infinity, which C{float} reads, is no time nor size: a usage
        error naming the option, rather than a server that never revalidates
        or waits, or that fails to start with a traceback.
        """
        for option in ("--index-ttl", "--upstream-patience", "--upstream-timeout",
                       "--max-upload-size"):
            for value in ("nan", "inf"):
                e = self.assertRaises(
                    usage.UsageError, Options().parseOptions,
                    ["--upstream", "http://x/", "--data-dir", self.mktemp(), option, value],
                )
                self.assertTrue(str(e).startswith(option + ": "), str(e))

    def test_dataDirNotADirectory(self) -> None:
        """
        A C{--data-dir} that is a file is a usage error naming it.
        """
        path = self.mktemp()
        FilePath(path).setContent(b"")
        e = self.assertRaises(
            usage.UsageError, Options().parseOptions,
            ["--upstream", "http://x/", "--data-dir", path],
        )
        self.assertEqual(str(e), f"--data-dir: not a directory: {path}")

    def test_dataDirCannotBeMade(self) -> None:
        """
        A C{--data-dir} that cannot be made, a file being where one of its
        parents would be, is a usage error naming that file, not a traceback
        as the server starts.
        """
        parent = FilePath(self.mktemp())
        parent.setContent(b"")
        path = parent.child("cache").child("cheesecache").path
        e = self.assertRaises(
            usage.UsageError, Options().parseOptions,
            ["--upstream", "http://x/", "--data-dir", path],
        )
        self.assertEqual(
            str(e), f"--data-dir: cannot make {path}: {parent.path} is not a directory"
        )

    def test_dataDirNotWritable(self) -> None:
        """
        A C{--data-dir} the server may not write in (owned by another user,
        on a read-only filesystem), or may not make, is a usage error naming
        it, not a traceback as the server starts.
        """
        here = FilePath(self.mktemp())
        here.makedirs()
        missing = here.child("cheesecache").path
        self.patch(os, "access", lambda path, mode: path != here.path)
        for path, shown in [(here.path, here.path), (missing, here.path)]:
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", "http://x/", "--data-dir", path],
            )
            self.assertEqual(str(e), f"--data-dir: {shown}: permission denied (not writable)")

    def test_badListen(self) -> None:
        """
        A C{--listen} that makes no endpoint is a usage error naming it.
        """
        for listen, why in [
            ("bogus:8080", "Unknown endpoint type"),
            ("tcp:eighty", "invalid literal"),
            ("ssl:8443:privateKey=/nonexistent/key.pem", "No such file"),
        ]:
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", "http://x/", "--data-dir", self.mktemp(), "--listen", listen],
            )
            self.assertIn(f"--listen {listen}: ", str(e))
            self.assertIn(why, str(e))

    def test_listenUNIXSocketNowhere(self) -> None:
        """
        A C{--listen unix:PATH} without a path, or in a directory that is
        not there, is a usage error naming it, not a traceback at start
        about a lock file.
        """
        missing = FilePath(self.mktemp()).child("cc.sock").path
        for listen, why in [
            ("unix:", "no socket path"),
            (f"unix:{missing}", f"no directory {os.path.dirname(missing)}"),
        ]:
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", "http://x/", "--data-dir", self.mktemp(), "--listen", listen],
            )
            self.assertEqual(str(e), f"--listen {listen}: {why}")
        here = FilePath(self.mktemp())
        here.makedirs()
        options = Options()
        options.parseOptions([
            "--upstream", "http://x/", "--data-dir", self.mktemp(),
            "--listen", f"unix:{here.child('cc.sock').path}",
        ])

    def test_listenSystemdSocketNotPassed(self) -> None:
        """
        A C{--listen systemd:...} naming a socket systemd did not pass (none
        when not started by a socket unit) is a usage error naming it, not
        a traceback.
        """
        from twisted.internet.endpoints import _SystemdParser
        from twisted.python.systemd import ListenFDs

        self.patch(_SystemdParser, "_sddaemon", ListenFDs([3], ["web"]))
        for listen in ["systemd:domain=INET:index=1", "systemd:domain=INET:name=api"]:
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", "http://x/", "--data-dir", self.mktemp(), "--listen", listen],
            )
            self.assertEqual(str(e), f"--listen {listen}: systemd passed no such socket")

    def test_unreadableUpstreamURL(self) -> None:
        """
        An upstream URL the URL parser rejects (unencoded brackets in the
        password, a port that is not a number) is a usage error naming
        the option, without its password, not a traceback at start
        quoting part of the password.
        """
        for url in (
            "https://u:[secret]@upstream.test/simple/",
            "https://u:secret@upstream.test:port/simple/",
        ):
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", url, "--data-dir", self.mktemp()],
            )
            self.assertIn("--upstream: its host or port cannot be read", str(e))
            self.assertIn("percent-encode", str(e))
            self.assertNotIn("secret", str(e))

    def test_listenPortOutOfRange(self) -> None:
        """
        A C{--listen} port outside 0-65535 is a usage error naming it,
        not a traceback when the server starts.
        """
        for listen in ("tcp:99999", "tcp:-1:interface=127.0.0.1", "tcp6:port=70000"):
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", "http://x/", "--data-dir", self.mktemp(), "--listen", listen],
            )
            self.assertIn(f"--listen {listen}: ", str(e))
            self.assertIn("0-65535", str(e))

    def test_badListenCertificate(self) -> None:
        """
        A C{--listen} whose certificate file is there but cannot be used
        (not PEM, or its key is not the certificate's) is a usage error
        naming it, not a traceback.
        """
        _, cert, key = makeCertificates(FilePath(self.mktemp()))
        _, _, otherKey = makeCertificates(FilePath(self.mktemp()))
        garbage = FilePath(self.mktemp())
        garbage.setContent(b"not a certificate\n")
        mismatched = FilePath(self.mktemp())
        mismatched.setContent(cert.getContent() + otherKey.getContent())
        for listen in [
            f"ssl:8443:privateKey={garbage.path}",
            f"ssl:8443:privateKey={key.path}:certKey={garbage.path}",
            f"ssl:8443:privateKey={mismatched.path}",
        ]:
            e = self.assertRaises(
                usage.UsageError, Options().parseOptions,
                ["--upstream", "http://x/", "--data-dir", self.mktemp(), "--listen", listen],
            )
            self.assertIn(f"--listen {listen}: ", str(e))


class ProxyOptionsTests(SynchronousTestCase):
    """
    Where the upstreams' proxy comes from: C{--proxy}, the config file,
    pip's own C{proxy} setting, then C{HTTPS_PROXY} / C{HTTP_PROXY}.
    """

    def setUp(self) -> None:
        self.environ = {
            "HTTPS_PROXY": "http://env-proxy.corp.test:3129",
            "NO_PROXY": "corp.test",
            # pip's configuration files say nothing here.
            "PIP_CONFIG_FILE": os.devnull,
        }
        self.patch(os, "environ", self.environ)

    def proxies(self, *argv: str) -> ProxySettings:
        options = Options()
        options.parseOptions(["--upstream", "http://x/", "--data-dir", self.mktemp(), *argv])
        return options["outbound"].proxies  # type: ignore[no-any-return]

    def test_environment(self) -> None:
        self.assertEqual(
            self.proxies(),
            ProxySettings(None, Proxy("env-proxy.corp.test", 3129), ("corp.test",)),
        )

    def test_pipSetting(self) -> None:
        """
        pip's C{proxy} (here C{PIP_PROXY}) is used for both schemes, over
        the per-scheme variables.
        """
        self.environ["PIP_PROXY"] = "pip-proxy.corp.test:3128"
        proxy = Proxy("pip-proxy.corp.test", 3128)
        self.assertEqual(self.proxies(), ProxySettings(proxy, proxy, ("corp.test",)))

    def test_flagAndConfig(self) -> None:
        """
        C{--proxy} wins over the config file's C{proxy}, which wins over
        pip's setting.
        """
        self.environ["PIP_PROXY"] = "pip-proxy.corp.test:3128"
        config = FilePath(self.mktemp())
        config.setContent(b'proxy = "http://file-proxy.corp.test:8080"\n')
        fromFile = Proxy("file-proxy.corp.test", 8080)
        self.assertEqual(
            self.proxies("--config", config.path),
            ProxySettings(fromFile, fromFile, ("corp.test",)),
        )
        flag = Proxy("flag-proxy.corp.test", 3128)
        self.assertEqual(
            self.proxies("--config", config.path, "--proxy", "http://flag-proxy.corp.test:3128"),
            ProxySettings(flag, flag, ("corp.test",)),
        )

    def test_unusable(self) -> None:
        """
        A proxy cheesecache cannot use is a usage error naming where it was
        set, its password hidden.
        """
        e = self.assertRaises(usage.UsageError, self.proxies, "--proxy", "socks5://u:pw@p.corp.test")
        self.assertEqual(
            str(e),
            "--proxy: Proxy socks5://u:***@p.corp.test: only http:// and https:// proxies"
            " are supported",
        )
        self.environ["HTTPS_PROXY"] = "socks5://p.corp.test:1080"
        e = self.assertRaises(usage.UsageError, self.proxies)
        self.assertTrue(str(e).startswith("HTTPS_PROXY / HTTP_PROXY / ALL_PROXY: Proxy socks5://"), str(e))


class _PipEnvironment(SynchronousTestCase):
    """
    Options parsed in an environment of this test's own, where pip's
    configuration files say nothing.
    """

    def setUp(self) -> None:
        self.environ = {"PIP_CONFIG_FILE": os.devnull}
        self.patch(os, "environ", self.environ)

    def options(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--upstream", "http://x/", "--data-dir", self.mktemp(), *argv])
        return options


class CABundleOptionsTests(_PipEnvironment):
    """
    The CA bundle HTTPS upstreams are checked against: C{--ca-bundle}, the
    config file's C{ca-bundle}, then pip's C{cert} setting.
    """

    def setUp(self) -> None:
        _PipEnvironment.setUp(self)
        self.bundle, _, _ = makeCertificates(FilePath(self.mktemp()))

    def test_system(self) -> None:
        outbound = self.options()["outbound"]
        self.assertEqual((outbound.caBundle, outbound.trustRoot), (None, None))

    def test_given(self) -> None:
        """
        The bundle named by C{--ca-bundle} (or pip's C{PIP_CERT}) is read
        into a trust root while the options are checked.
        """
        options = self.options("--ca-bundle", self.bundle.path)
        self.assertEqual(options["outbound"].caBundle, self.bundle.path)
        self.assertIsNotNone(options["outbound"].trustRoot)
        self.environ["PIP_CERT"] = self.bundle.path
        self.assertEqual(self.options()["outbound"].caBundle, self.bundle.path)

    def test_opensslSettingsFirst(self) -> None:
        """
        With C{SSL_CERT_FILE} or C{SSL_CERT_DIR} set, OpenSSL's authorities
        are used rather than pip's C{cert}; C{--ca-bundle} still wins.
        """
        self.environ["PIP_CERT"] = self.bundle.path
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            self.environ[name] = "/etc/ssl/elsewhere"
            self.assertEqual(self.options()["outbound"].caBundle, None)
            given = self.options("--ca-bundle", self.bundle.path)["outbound"]
            self.assertEqual(given.caBundle, self.bundle.path)
            del self.environ[name]

    def test_unreadable(self) -> None:
        """
        A bundle that cannot be used is a usage error naming where it was
        set.
        """
        missing = self.mktemp()
        e = self.assertRaises(usage.UsageError, self.options, "--ca-bundle", missing)
        self.assertEqual(str(e), f"--ca-bundle {missing}: No such file or directory")
        empty = FilePath(self.mktemp())
        empty.setContent(b"")
        self.environ["PIP_CERT"] = empty.path
        e = self.assertRaises(usage.UsageError, self.options)
        self.assertEqual(str(e), f"pip's cert setting {empty.path}: no PEM certificate in it")


class ClientCertOptionsTests(_PipEnvironment):
    """
    The client certificate shown to HTTPS upstreams that ask for one:
    C{--client-cert}, the config file's C{client-cert}, then pip's
    C{client-cert} setting.
    """

    def setUp(self) -> None:
        _PipEnvironment.setUp(self)
        _, self.identity = makeClientIdentity(FilePath(self.mktemp()))

    def test_none(self) -> None:
        outbound = self.options()["outbound"]
        self.assertEqual((outbound.clientCert, outbound.identity), (None, None))

    def test_given(self) -> None:
        """
        The file named by C{--client-cert}, the config file or pip's
        C{PIP_CLIENT_CERT} is read while the options are checked; the flag
        wins.
        """
        options = self.options("--client-cert", self.identity.path)
        self.assertEqual(options["outbound"].clientCert, self.identity.path)
        self.assertEqual(
            options["outbound"].identity.certificate.getSubject().commonName,
            b"cheesecache client",
        )
        config = FilePath(self.mktemp())
        config.setContent(f'client-cert = "{self.identity.path}"\n'.encode())
        fromFile = self.options("--config", config.path)["outbound"]
        self.assertEqual(fromFile.clientCert, self.identity.path)
        self.environ["PIP_CLIENT_CERT"] = self.identity.path
        self.assertEqual(self.options()["outbound"].clientCert, self.identity.path)
        e = self.assertRaises(usage.UsageError, self.options, "--client-cert", "/nowhere.pem")
        self.assertEqual(str(e), "--client-cert /nowhere.pem: No such file or directory")

    def test_unusable(self) -> None:
        """
        A file that cannot be used is a usage error naming where it was
        set.
        """
        certificateOnly = FilePath(self.mktemp())
        pem = self.identity.getContent()
        certificateOnly.setContent(pem[pem.index(b"-----BEGIN CERTIFICATE-----"):])
        self.environ["PIP_CLIENT_CERT"] = certificateOnly.path
        e = self.assertRaises(usage.UsageError, self.options)
        self.assertEqual(
            str(e),
            f"pip's client-cert setting {certificateOnly.path}: no PEM private key in it"
            " (the file must hold the key and the certificate)",
        )


class TrustedHostOptionsTests(_PipEnvironment):
    """
    The hosts whose certificates are not checked: C{--trusted-host}
    (repeatable), the config file's C{trusted-host}, then pip's
    C{trusted-host} setting; none by default.
    """

    def test_none(self) -> None:
        self.assertEqual(self.options()["outbound"].trusted, ())

    def test_given(self) -> None:
        """
        The flags win over the config file, which wins over pip's setting.
        """
        self.environ["PIP_TRUSTED_HOST"] = "pip.corp.test  other.corp.test:8443"
        self.assertEqual(
            self.options()["outbound"].trusted,
            (TrustedHost("pip.corp.test"), TrustedHost("other.corp.test", 8443)),
        )
        config = FilePath(self.mktemp())
        config.setContent(b'trusted-host = ["file.corp.test"]\n')
        self.assertEqual(
            self.options("--config", config.path)["outbound"].trusted,
            (TrustedHost("file.corp.test"),),
        )
        self.assertEqual(
            self.options(
                "--config", config.path, "--trusted-host", "a.test", "--trusted-host", "b.test:1"
            )["outbound"].trusted,
            (TrustedHost("a.test"), TrustedHost("b.test", 1)),
        )

    def test_bad(self) -> None:
        """
        An entry that is not a host is a usage error naming where it was
        set.
        """
        e = self.assertRaises(usage.UsageError, self.options, "--trusted-host", "a.test:x")
        self.assertTrue(str(e).startswith("--trusted-host: 'a.test:x'"), str(e))
        self.environ["PIP_TRUSTED_HOST"] = "https://a.test/"
        e = self.assertRaises(usage.UsageError, self.options)
        self.assertTrue(
            str(e).startswith("pip's trusted-host setting: 'https://a.test/'"), str(e)
        )


class TrustedProxyOptionsTests(_PipEnvironment):
    """
    The reverse proxies whose C{X-Forwarded-For} is believed:
    C{--trusted-proxy} (repeatable), else the config file's
    C{trusted-proxy}; none by default.
    """

    def test_given(self) -> None:
        """
        Addresses and networks; the flags win over the config file.
        """
        self.assertEqual(self.options()["trusted-proxies"], ())
        config = FilePath(self.mktemp())
        config.setContent(b'trusted-proxy = ["10.0.0.0/8"]\n')
        self.assertEqual(
            self.options("--config", config.path)["trusted-proxies"],
            (ip_network("10.0.0.0/8"),),
        )
        self.assertEqual(
            self.options(
                "--config", config.path, "--trusted-proxy", "127.0.0.1",
                "--trusted-proxy", "fd00::/8",
            )["trusted-proxies"],
            (ip_network("127.0.0.1/32"), ip_network("fd00::/8")),
        )

    def test_bad(self) -> None:
        """
        An entry that is neither an address nor a network is a usage error.
        """
        e = self.assertRaises(usage.UsageError, self.options, "--trusted-proxy", "proxy.test")
        self.assertEqual(
            str(e), "--trusted-proxy: 'proxy.test' is not an IP address or network, nor unix"
        )


def offlineOptions(
    case: SynchronousTestCase, *argv: str, listen: str = "tcp:0:interface=127.0.0.1"
) -> Options:
    """
    The options of a server that never asks its upstream, over a new data
    directory, listening on C{listen}.
    """
    options = Options()
    options.parseOptions([
        "--offline", "--upstream", "http://127.0.0.1:1/simple/",
        "--data-dir", case.mktemp(), "--listen", listen, *argv,
    ])
    return options


class AccessLogWiringTests(SynchronousTestCase):
    """
    The Site writes its access log to the observer cheesecache gives twistd.
    """

    def site(self, parent: Optional[dict]) -> Tuple[Any, Any]:
        from twisted.application.internet import StreamServerEndpointService
        from twisted.internet import reactor

        options = offlineOptions(self)
        if parent is not None:
            options.parent = parent  # type: ignore[attr-defined]
        top = makeService(options, reactor)
        [listening] = [s for s in top if isinstance(s, StreamServerEndpointService)]
        return top, listening.factory

    def test_observer(self) -> None:
        """
        With cheesecache's observer, the Site's access log file hands lines
        to it.
        """
        top, site = self.site(None)
        self.assertIsInstance(top.logObserver, BufferedLogObserver)
        self.assertIsInstance(site.accessLogFile, AccessLogFile)
        self.assertIs(site.accessLogFile.observer, top.logObserver)
        # Events logged in the pool's threads are handed to the reactor's.
        from twisted.internet import reactor

        self.assertEqual(top.logObserver.callFromThread, reactor.callFromThread)

    def test_switchInterval(self) -> None:
        """
        The service lets threads waiting for the GIL have it after
        L{SWITCH_INTERVAL}, not Python's default of 5 ms.
        """
        self.addCleanup(sys.setswitchinterval, sys.getswitchinterval())
        sys.setswitchinterval(0.005)
        self.site(None)
        self.assertAlmostEqual(sys.getswitchinterval(), SWITCH_INTERVAL)
        self.assertLess(SWITCH_INTERVAL, 0.005)

    def test_syslog(self) -> None:
        """
        With C{twistd --syslog} there is no cheesecache observer: the Site
        logs through twisted.logger, to twistd's syslog observer.
        """
        top, site = self.site({"syslog": True, "logfile": None, "nodaemon": True})
        self.assertIsNone(top.logObserver)
        self.assertIsNone(site.accessLogFile)


class _Rotating:
    rotated = 0

    def rotate(self) -> None:
        self.rotated += 1


class _CallsFromThread:
    def __init__(self) -> None:
        self.calls: List[Callable[[], object]] = []

    def callFromThread(self, f: Callable[[], object]) -> None:
        self.calls.append(f)


class RotateOnSignalTests(SynchronousTestCase):
    """
    The log file rotates on SIGUSR1, as twistd's own does.
    """

    def setUp(self) -> None:
        self.addCleanup(signal.signal, signal.SIGUSR1, signal.getsignal(signal.SIGUSR1))

    def test_rotates(self) -> None:
        """
        On the signal, the observer is rotated in the reactor's thread.
        """
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        observer, reactor = _Rotating(), _CallsFromThread()
        rotateOnSignal(observer, reactor)
        os.kill(os.getpid(), signal.SIGUSR1)
        self.assertEqual(observer.rotated, 0)
        [rotate] = reactor.calls
        rotate()
        self.assertEqual(observer.rotated, 1)

    def test_handlerKept(self) -> None:
        """
        A handler already set for the signal is left in place.
        """
        def mine(signum: int, frame: Any) -> None:
            pass

        signal.signal(signal.SIGUSR1, mine)
        rotateOnSignal(_Rotating(), _CallsFromThread())
        self.assertIs(signal.getsignal(signal.SIGUSR1), mine)


class UsersFileAtStartTests(SynchronousTestCase):
    """
    The users file is read when the service is made.
    """

    def test_malformedLineLogged(self) -> None:
        """
        A line of the users file that is not C{user:hash} is logged at start,
        before anyone tries to log in.
        """
        from twisted.internet import reactor

        users = FilePath(self.mktemp())
        users.setContent(b"alice\n")
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        makeService(offlineOptions(self, "--users", users.path), reactor)
        self.assertIn(
            f"Line 1 of {users.path} is not user:hash: it is ignored",
            [formatEvent(e) for e in events],
        )


class RunAsTests(SynchronousTestCase):
    """
    C{twistd --uid --gid}: the service is made as root, and runs as another
    user.
    """

    def test_newDataDirectoryTheirs(self) -> None:
        """
        A data directory made as the service is (by root), and the instance
        id written into it, are the user's the server then runs as: root's,
        the server could write nothing there, neither pages nor files.
        """
        from twisted.internet import reactor

        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            raise SkipTest("only root can give files to another user")
        options = offlineOptions(self)
        options.parent = {  # type: ignore[attr-defined]
            "uid": 54321, "gid": 54322, "logfile": "-", "nodaemon": True, "syslog": False,
        }
        makeService(options, reactor)
        dataDir = options["data-dir"]
        owners = {
            path: (os.stat(path).st_uid, os.stat(path).st_gid)
            for path in (dataDir, os.path.join(dataDir, "instance-id"))
        }
        self.assertEqual(set(owners.values()), {(54321, 54322)}, owners)


def takenPort(case: SynchronousTestCase) -> int:
    """
    A loopback port something else listens on for the rest of C{case}.
    """
    taken = socket.socket()
    case.addCleanup(taken.close)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    return taken.getsockname()[1]  # type: ignore[no-any-return]


class ListenTests(SynchronousTestCase):
    """
    A port that cannot be listened on stops the server from starting.
    """

    def test_portTaken(self) -> None:
        """
        Starting the service raises L{CannotListenError} when its port is
        taken, so that twistd stops with it rather than run on listening
        on nothing.
        """
        from twisted.internet import reactor

        listen = f"tcp:{takenPort(self)}:interface=127.0.0.1"
        top = makeService(offlineOptions(self, listen=listen), reactor)
        self.assertRaises(CannotListenError, top.privilegedStartService)


class PluginTests(TestCase):
    """
    twistd finds the plugin.
    """

    def test_discoverable(self) -> None:
        """
        The cheesecache service maker is among twistd's plugins.
        """
        names = [p.tapname for p in getPlugins(IServiceMaker)]
        self.assertIn("cheesecache", names)

    @inlineCallbacks
    def test_twistdHelp(self):  # type: ignore[no-untyped-def]
        """
        C{twistd --help} lists cheesecache, and C{twistd cheesecache --help}
        shows its options.
        """
        code, output = yield run([os.path.join(BIN, "twistd"), "--help"])
        self.assertEqual(code, 0, output)
        self.assertIn("cheesecache", output)
        code, output = yield run([os.path.join(BIN, "twistd"), "cheesecache", "--help"])
        self.assertEqual(code, 0, output)
        for option in ("--listen", "--upstream", "--data-dir", "--index-ttl"):
            self.assertIn(option, output)

    @inlineCallbacks
    def test_twistdPortTaken(self):  # type: ignore[no-untyped-def]
        """
        C{twistd cheesecache} exits with an error naming the port when its
        port is taken: a service manager then sees the failure, instead of
        a server that runs and answers nothing.
        """
        port = takenPort(self)
        code, output = yield run([
            os.path.join(BIN, "twistd"), "-n", "--pidfile=", "cheesecache",
            "--offline", "--upstream", "http://127.0.0.1:1/simple/",
            "--data-dir", self.mktemp(), "--listen", f"tcp:{port}:interface=127.0.0.1",
        ], timeout=30)
        # 1, not None: it ended by itself, not killed when the time ran out.
        self.assertEqual(code, 1, output)
        self.assertIn(f"Couldn't listen on 127.0.0.1:{port}", output)


class StoredNotFoundTests(SynchronousTestCase):
    """
    Stored "not found" answers an earlier run left are trimmed at start.
    """

    def test_trimmedAtStart(self) -> None:
        """
        A data directory holding more stored "not found" answers than the
        budget (an older cheesecache stored one for every unknown name ever
        asked for, for good) keeps only the most recent at start, and every
        found page.
        """
        import hashlib

        import attrs
        from twisted.internet import reactor

        from cheesecache.freshness import PageEntry, Validators
        from cheesecache.index import UpstreamSource
        from cheesecache.pagestore import entryToJSON
        from cheesecache.simple.model import ProjectPage

        budget = attrs.fields(UpstreamSource).notFoundBudget.default
        options = offlineOptions(self)
        url = "http://127.0.0.1:1/simple/"
        folder = FilePath(options["data-dir"]).child("pages").child(
            hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
        )
        folder.makedirs()
        for i in range(budget + 5):
            path = folder.child(f"nope-{i}.json").path
            with open(path, "wb") as f:
                f.write(entryToJSON(PageEntry(
                    content=None, url=f"{url}nope-{i}/", validators=Validators(None, None),
                    fetchedAt=1000.0 + i,
                )))
            os.utime(path, (1000.0 + i, 1000.0 + i))
        folder.child("alpha.page").setContent(b"kept as fetched")
        # A found page in parsed form, as an older cheesecache kept them.
        folder.child("beta.json").setContent(entryToJSON(PageEntry(
            content=ProjectPage(name="beta", files=[]), url=f"{url}beta/",
            validators=Validators(None, None), fetchedAt=1.0,
        )))
        makeService(options, reactor)
        left = set(folder.listdir())
        self.assertEqual(len(left), budget + 2)
        self.assertIn("alpha.page", left)
        self.assertIn("beta.json", left)
        self.assertNotIn("nope-4.json", left)
        self.assertIn("nope-5.json", left)
