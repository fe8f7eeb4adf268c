"""
Tests for L{cheesecache.proxies}: which proxy an upstream is reached
through (no I/O).
"""

from __future__ import annotations

import base64

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.proxies import (
    Proxy,
    ProxySettings,
    ProxyURLError,
    bypasses,
    isLoopback,
    redact,
)


class ProxyURLTests(SynchronousTestCase):
    """
    Tests for L{Proxy.fromURL}.
    """

    def test_plain(self) -> None:
        self.assertEqual(Proxy.fromURL("http://proxy.corp.test:3128"), Proxy("proxy.corp.test", 3128))

    def test_bare(self) -> None:
        """
        C{host:port} without a scheme is an http proxy, as the installers
        read it; without a port, port 80.
        """
        self.assertEqual(Proxy.fromURL(" proxy.corp.test:8080 "), Proxy("proxy.corp.test", 8080))
        self.assertEqual(Proxy.fromURL("http://proxy.corp.test/"), Proxy("proxy.corp.test", 80))

    def test_credentials(self) -> None:
        """
        Percent-encoded credentials become a Basic C{Proxy-Authorization},
        never shown in the proxy's repr.
        """
        proxy = Proxy.fromURL("http://al%40ice:s%3Acr%C3%A9t@proxy.corp.test:3128")
        self.assertEqual(
            proxy.authorization, b"Basic " + base64.b64encode("al@ice:s:crét".encode())
        )
        self.assertEqual(repr(proxy), "Proxy(host='proxy.corp.test', port=3128, tls=False)")
        self.assertEqual(proxy.address(), "proxy.corp.test:3128")

    def test_ipv6(self) -> None:
        proxy = Proxy.fromURL("http://[fd00::3]:3128")
        self.assertEqual((proxy.host, proxy.port, proxy.address()), ("fd00::3", 3128, "[fd00::3]:3128"))

    def test_tls(self) -> None:
        """
        An C{https://} proxy is spoken to over TLS, on port 443 unless
        given.
        """
        self.assertEqual(
            Proxy.fromURL("HTTPS://proxy.corp.test"), Proxy("proxy.corp.test", 443, tls=True)
        )
        self.assertEqual(
            Proxy.fromURL("https://proxy.corp.test:8443"), Proxy("proxy.corp.test", 8443, tls=True)
        )

    def test_unsupported(self) -> None:
        """
        SOCKS proxies, URLs with no host or a port that is not a number are
        refused, the password hidden.
        """
        for url in ("socks5://u:pw@proxy.corp.test:1080", "http://", "http://u:pw@proxy.corp.test:port"):
            e = self.assertRaises(ProxyURLError, Proxy.fromURL, url)
            self.assertNotIn(":pw@", str(e))
        e = self.assertRaises(ProxyURLError, Proxy.fromURL, "socks5h://proxy.corp.test")
        self.assertIn("only http:// and https:// proxies are supported", str(e))

    def test_malformed(self) -> None:
        """
        A URL that cannot be parsed (a bad bracketed host) is refused as
        a L{ProxyURLError} naming it, the password hidden, rather than
        an unexpected C{ValueError}.
        """
        for url in (
            "http://u:pw@[proxy.corp.test]:3128",
            "http://u:pw@[fd00::1:3128",
            "http://u:[secret]@proxy.corp.test:3128",
        ):
            e = self.assertRaises(ProxyURLError, Proxy.fromURL, url)
            self.assertIn("u:***@", str(e))
            self.assertNotIn("pw", str(e))
            self.assertNotIn("secret", str(e))

    def test_redact(self) -> None:
        self.assertEqual(redact("http://u:secret@proxy:3128"), "http://u:***@proxy:3128")
        self.assertEqual(redact("u:secret@proxy:3128"), "u:***@proxy:3128")
        self.assertEqual(redact("http://proxy:3128"), "http://proxy:3128")


class LoopbackTests(SynchronousTestCase):
    """
    Tests for L{isLoopback}.
    """

    def test_loopback(self) -> None:
        for host in ("localhost", "LOCALHOST.", "a.localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"):
            self.assertTrue(isLoopback(host), host)

    def test_elsewhere(self) -> None:
        for host in ("10.0.0.1", "upstream.test", "localhost.corp.test", "fd00::1", "0.0.0.0"):
            self.assertFalse(isLoopback(host), host)


class BypassesTests(SynchronousTestCase):
    """
    Tests for L{bypasses}: C{NO_PROXY} as the installers read it.
    """

    def test_star(self) -> None:
        self.assertTrue(bypasses(("*",), "upstream.test", 443))

    def test_domain(self) -> None:
        """
        A name, with or without a leading dot, names itself and the names
        under it, not names that merely end the same.
        """
        for entry in ("corp.test", ".corp.test", "CORP.TEST."):
            self.assertTrue(bypasses((entry,), "corp.test", 443), entry)
            self.assertTrue(bypasses((entry,), "index.corp.test", 443), entry)
            self.assertFalse(bypasses((entry,), "notcorp.test", 443), entry)

    def test_port(self) -> None:
        self.assertTrue(bypasses(("index.corp.test:8443",), "index.corp.test", 8443))
        self.assertFalse(bypasses(("index.corp.test:8443",), "index.corp.test", 443))

    def test_addresses(self) -> None:
        """
        Addresses match addresses and networks; a name never matches an
        address entry.
        """
        self.assertTrue(bypasses(("10.0.0.0/8",), "10.1.2.3", 443))
        self.assertFalse(bypasses(("10.0.0.0/8",), "11.1.2.3", 443))
        self.assertTrue(bypasses(("192.168.1.5",), "192.168.1.5", 80))
        self.assertTrue(bypasses(("[fd00::1]:443",), "fd00::1", 443))
        self.assertFalse(bypasses(("[fd00::1]:443",), "fd00::1", 80))
        self.assertTrue(bypasses(("fd00::/8",), "[fd00::7]", 80))
        self.assertFalse(bypasses(("10.0.0.0/8",), "ten.corp.test", 443))

    def test_nothing(self) -> None:
        self.assertFalse(bypasses((), "upstream.test", 443))
        self.assertFalse(bypasses(("", " "), "upstream.test", 443))


class ProxySettingsTests(SynchronousTestCase):
    """
    Tests for L{ProxySettings}.
    """

    http = Proxy("web-proxy.corp.test", 3128)
    https = Proxy("tls-proxy.corp.test", 3129)

    def test_byScheme(self) -> None:
        settings = ProxySettings(self.http, self.https)
        self.assertEqual(settings.forTarget("https", "upstream.test", 443), self.https)
        self.assertEqual(settings.forTarget("http", "upstream.test", 80), self.http)
        self.assertIsNone(settings.forTarget("ftp", "upstream.test", 21))
        self.assertIsNone(ProxySettings(self.http).forTarget("https", "upstream.test", 443))

    def test_direct(self) -> None:
        """
        Loopback and the C{NO_PROXY} hosts are reached directly.
        """
        settings = ProxySettings(self.http, self.https, ("corp.test",))
        self.assertIsNone(settings.forTarget("https", "127.0.0.1", 443))
        self.assertIsNone(settings.forTarget("https", "index.corp.test", 443))
        self.assertEqual(settings.forTarget("https", "upstream.test", 443), self.https)

    def test_fromEnvironment(self) -> None:
        """
        C{HTTPS_PROXY} and C{HTTP_PROXY} for their schemes, the lower-case
        forms first; C{NO_PROXY} split on commas and spaces.
        """
        settings = ProxySettings.fromEnvironment({
            "HTTPS_PROXY": "http://ignored.corp.test:1",
            "https_proxy": "http://tls-proxy.corp.test:3129",
            "HTTP_PROXY": "web-proxy.corp.test:3128",
            "NO_PROXY": "corp.test, 10.0.0.0/8 ,,",
        })
        self.assertEqual(settings, ProxySettings(self.http, self.https, ("corp.test", "10.0.0.0/8")))

    def test_both(self) -> None:
        """
        One proxy given for both schemes (pip's C{proxy}) is used over the
        per-scheme variables, with C{NO_PROXY}.
        """
        settings = ProxySettings.fromEnvironment(
            {"HTTPS_PROXY": "http://tls-proxy.corp.test:3129", "no_proxy": "corp.test"},
            "http://web-proxy.corp.test:3128",
        )
        self.assertEqual(settings, ProxySettings(self.http, self.http, ("corp.test",)))

    def test_none(self) -> None:
        self.assertEqual(ProxySettings.fromEnvironment({}), ProxySettings())
        self.assertEqual(ProxySettings().describe(), "none")

    def test_badVariable(self) -> None:
        self.assertRaises(ProxyURLError, ProxySettings.fromEnvironment, {"HTTPS_PROXY": "socks5://p:1080"})

    def test_describe(self) -> None:
        """
        The log line names the proxies and what goes around them, never
        credentials.
        """
        settings = ProxySettings.fromEnvironment(
            {"https_proxy": "http://u:secret@tls-proxy.corp.test:3129", "no_proxy": "corp.test"}
        )
        self.assertEqual(
            settings.describe(), "http direct; https via tls-proxy.corp.test:3129; not for corp.test"
        )

    def test_allProxy(self) -> None:
        """
        C{ALL_PROXY} (or C{all_proxy}) is the proxy of each scheme that has
        none of its own, as pip (through requests) and curl read it.
        """
        settings = ProxySettings.fromEnvironment({
            "ALL_PROXY": "http://web-proxy.corp.test:3128",
            "https_proxy": "http://tls-proxy.corp.test:3129",
        })
        self.assertEqual(settings, ProxySettings(self.http, self.https))
        settings = ProxySettings.fromEnvironment({"all_proxy": "web-proxy.corp.test:3128"})
        self.assertEqual(settings, ProxySettings(self.http, self.http))
