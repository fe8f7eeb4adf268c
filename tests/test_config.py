"""
Tests for L{cheesecache.config}: the TOML configuration file.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.config import ConfigError, checkRoutes, loadConfig, parseConfig, upstreamNames
from cheesecache.tap import Options


class ParseConfigTests(SynchronousTestCase):
    """
    L{parseConfig}.
    """

    def test_everything(self) -> None:
        """
        Every key is read into the config value.
        """
        config = parseConfig(
            {
                "listen": ["tcp:1"],
                "data-dir": "/d",
                "index-ttl": 5,
                "upstream-patience": 1.5,
                "upstream-timeout": 45,
                "offline": True,
                "upstream": [{"name": "co", "url": "https://u:p@h/simple/"}, {"url": "http://h2/simple/"}],
                "route": [{"match": "Acme_*", "sources": ["co"], "merge": False}],
                "proxy": "http://proxy.corp.test:3128",
                "ca-bundle": "/etc/company-ca.pem",
                "client-cert": "/etc/cheesecache/client.pem",
                "trusted-host": ["index.corp.test", "other.corp.test:8443"],
                "trusted-proxy": ["10.0.0.0/8"],
            }
        )
        self.assertEqual(config.trustedProxies, ("10.0.0.0/8",))
        self.assertEqual(config.proxy, "http://proxy.corp.test:3128")
        self.assertEqual(config.caBundle, "/etc/company-ca.pem")
        self.assertEqual(config.clientCert, "/etc/cheesecache/client.pem")
        self.assertEqual(config.trustedHosts, ("index.corp.test", "other.corp.test:8443"))
        self.assertEqual(config.listen, ("tcp:1",))
        self.assertEqual(config.dataDir, "/d")
        self.assertEqual(config.indexTTL, 5.0)
        self.assertEqual(config.upstreamPatience, 1.5)
        self.assertEqual(config.upstreamTimeout, 45.0)
        self.assertTrue(config.offline)
        self.assertEqual([(u.name, u.url) for u in config.upstreams], [("co", "https://u:p@h/simple/"), ("upstream-2", "http://h2/simple/")])
        self.assertEqual(config.routes[0].pattern, "acme-*")

    def test_errorsNameTheKey(self) -> None:
        """
        Each invalid value is reported with the key at fault.
        """
        cases = [
            ({"bogus": 1}, "bogus"),
            ({"listen": "tcp:1"}, "listen"),
            ({"listen": []}, "listen"),
            ({"index-ttl": "x"}, "index-ttl"),
            ({"index-ttl": -1}, "index-ttl"),
            ({"upstream-patience": "x"}, "upstream-patience"),
            ({"upstream-patience": -1}, "upstream-patience"),
            ({"upstream-timeout": "x"}, "upstream-timeout"),
            ({"upstream-timeout": 0}, "upstream-timeout"),
            ({"offline": "yes"}, "offline"),
            ({"upstream": [{"url": "ftp://x/"}]}, "upstream[0].url"),
            ({"upstream": [{"name": "x"}]}, "upstream[0].url"),
            ({"upstream": [{"url": "http://x/", "colour": 1}]}, "upstream[0].colour"),
            ({"upstream": [{"name": "private", "url": "http://x/"}]}, "upstream[0].name"),
            ({"route": [{"match": "x"}]}, "route[0]"),
            ({"route": [{"match": "x", "sources": []}]}, "route[0].sources"),
            ({"proxy": 3128}, "proxy"),
            ({"ca-bundle": ["/a.pem"]}, "ca-bundle"),
            ({"client-cert": True}, "client-cert"),
            ({"trusted-host": "index.corp.test"}, "trusted-host"),
            ({"trusted-host": [443]}, "trusted-host[0]"),
        ]
        for data, key in cases:
            e = self.assertRaises(ConfigError, parseConfig, data)
            self.assertTrue(str(e).startswith(key), (data, str(e)))

    def test_emptyUpstreamName(self) -> None:
        """
        An upstream named C{""} is refused: its source would be named after
        its URL instead, so a route to C{""}, which the check of routes let
        through, matched no source and its names were all 404.
        """
        e = self.assertRaises(
            ConfigError, parseConfig,
            {
                "upstream": [{"name": "", "url": "http://127.0.0.1:9/simple/"}],
                "route": [{"match": "acme-*", "sources": [""]}],
            },
        )
        self.assertTrue(str(e).startswith("upstream[0].name"), str(e))

    def test_errorsHideSecrets(self) -> None:
        """
        A value of the wrong type is not echoed in the error (which twistd
        prints, into the service's log): an upstream URL or a proxy given as
        a list or a table, and not as the string expected, carries its
        credentials.
        """
        url = "https://user:s3cret@index.example.invalid/simple/"
        cases = [
            ({"upstream": [url]}, "upstream[0]: expected dict, got str"),
            ({"upstream": {"name": "co", "url": url}}, "upstream: expected list, got dict"),
            ({"proxy": ["http://user:s3cret@proxy.example.invalid:3128"]}, "proxy: expected str, got list"),
            ({"max-cache-size": [url]}, "max-cache-size: expected a size like \"10G\", got list"),
        ]
        for data, message in cases:
            e = self.assertRaises(ConfigError, parseConfig, data)
            self.assertEqual(str(e), message)
        # Numbers and booleans cannot be secrets: they are shown.
        e = self.assertRaises(ConfigError, parseConfig, {"proxy": 3128})
        self.assertEqual(str(e), "proxy: expected str, got 3128")

    def test_upstreamURLWithQuery(self) -> None:
        """
        An upstream URL with a query or a fragment, to which page URLs
        cannot be added, is refused naming the key.
        """
        for url in ("http://127.0.0.1/simple/?x=1", "http://127.0.0.1/simple/#top"):
            e = self.assertRaises(ConfigError, parseConfig, {"upstream": [{"url": url}]})
            self.assertEqual(str(e), "upstream[0].url: must have no query (?) or fragment (#)")
            e = self.assertRaises(ConfigError, upstreamNames, [url])
            self.assertTrue(str(e).startswith("--upstream: "), str(e))

    def test_unreadableUpstreamURL(self) -> None:
        """
        An upstream URL whose host or port cannot be read, or with no host,
        is a ConfigError naming the key (so twistd says so, not a
        ValueError traceback at start), without repeating its password.
        """
        for url in (
            "http://user:s3cret@[::1/simple/",
            "http://user:s3cret@127.0.0.1:99999/simple/",
            "http://user:s3cret@127.0.0.1:x/simple/",
            "http://user:s3/cret@127.0.0.1/simple/",
            "https://",
            "https:///simple/",
        ):
            e = self.assertRaises(ConfigError, parseConfig, {"upstream": [{"url": url}]})
            self.assertTrue(str(e).startswith("upstream[0].url: "), (url, str(e)))
            self.assertNotIn("s3", str(e))
            e = self.assertRaises(ConfigError, upstreamNames, [url])
            self.assertTrue(str(e).startswith("--upstream: "), (url, str(e)))

    def test_notFinite(self) -> None:
        """
        NaN and infinity, which TOML allows, are refused for every time and
        for the upload size, naming the key.
        """
        for key in ("index-ttl", "upstream-patience", "upstream-timeout", "max-upload-size"):
            for value in ("nan", "inf", "-inf"):
                path = self.mktemp()
                with open(path, "w") as f:
                    f.write(f"{key} = {value}\n")
                e = self.assertRaises(ConfigError, loadConfig, path)
                self.assertTrue(str(e).startswith(key + ": "), str(e))

    def test_unknownRouteSource(self) -> None:
        """
        A route naming a source that does not exist is an error.
        """
        config = parseConfig({"route": [{"match": "x", "sources": ["nope"]}]})
        e = self.assertRaises(ConfigError, checkRoutes, config.routes, ["private", "a"])
        self.assertIn("route[0].sources", str(e))

    def test_badFile(self) -> None:
        """
        An unreadable or invalid TOML file is a clear error.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("listen = [\n")
        self.assertIn("not valid TOML", str(self.assertRaises(ConfigError, loadConfig, path)))
        self.assertRaises(ConfigError, loadConfig, path + ".missing")

    def test_notUTF8(self) -> None:
        """
        A file that is not UTF-8 (saved as UTF-16 by an editor, say) is a
        clear error naming the file, not a traceback.
        """
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write('data-dir = "/srv/caf\xe9"\n'.encode("utf-16"))
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertIn(path, str(e))
        self.assertIn("UTF-8", str(e))


class OptionsConfigTests(SynchronousTestCase):
    """
    C{--config} with flags.
    """

    def test_flagsOverride(self) -> None:
        """
        The file sets values; flags given on the command line win.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(
                'listen = ["tcp:1"]\nindex-ttl = 7\noffline = true\nupstream-patience = 2\n'
                'upstream-timeout = 5\n'
                '[[upstream]]\nname = "co"\nurl = "http://127.0.0.1:9/simple/"\n'
                '[[route]]\nmatch = "acme-*"\nsources = ["co"]\n'
            )
        options = Options()
        options.parseOptions(["--config", path, "--index-ttl", "9"])
        self.assertEqual(options["listen"], ["tcp:1"])
        self.assertEqual(options["index-ttl"], 9.0)
        self.assertEqual(options["upstream-patience"], 2.0)
        self.assertEqual(options["upstream-timeout"], 5.0)
        self.assertTrue(options["offline"])
        self.assertEqual([u.name for u in options["upstreams"]], ["co"])
        self.assertEqual(options["routes"][0].sources, ("co",))
        # --upstream replaces the file's upstreams, so its routes no longer
        # name known sources: that is reported, not silently ignored.
        from twisted.python.usage import UsageError

        e = self.assertRaises(
            UsageError, Options().parseOptions,
            ["--config", path, "--upstream", "http://127.0.0.1:8/simple/"],
        )
        self.assertIn("unknown source 'co'", str(e))
