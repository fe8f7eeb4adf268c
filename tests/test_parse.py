"""
Tests for L{cheesecache.simple.parse}.
"""

from __future__ import annotations

import json
import string
from typing import Any, Callable, Dict, List, Tuple

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple import parse
from cheesecache.simple.model import DistFile, ProjectList, ProjectPage
from cheesecache.simple.parse import (
    PLAIN_STEP_PROJECTS,
    STEP_ITEMS,
    ParseError,
    Streamed,
    draining,
    finish,
    handProjectJSONSteps,
    isJSONType,
    loadStreaming,
    loadStreamingSteps,
    pageText,
    parseList,
    parseListHTML,
    parseListJSON,
    parseListSteps,
    parseProject,
    parseProjectHTML,
    parseProjectJSON,
)

DATA = FilePath(__file__).sibling("data")

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
BASE = "https://index.example.invalid/simple/foo-bar/"
SHA = "a" * 64
META_SHA = "b" * 64


def jsonPage(files: List[Dict[str, Any]], **extra: Any) -> bytes:
    """
    A PEP 691 detail page with these file entries.
    """
    data: Dict[str, Any] = {"meta": {"api-version": "1.1"}, "name": "foo-bar", "files": files}
    data.update(extra)
    return json.dumps(data).encode("utf-8")


def jsonFile(**fields: Any) -> Dict[str, Any]:
    """
    One JSON file entry, with a filename, URL and hashes unless overridden.
    """
    entry: Dict[str, Any] = {
        "filename": "foo_bar-1.0.tar.gz",
        "url": "https://files.example.invalid/p/foo_bar-1.0.tar.gz",
        "hashes": {"sha256": SHA},
    }
    entry.update(fields)
    return entry


def onlyJSONFile(**fields: Any) -> DistFile:
    """
    Parse a JSON page with one file entry and return the file.
    """
    page = parseProjectJSON(jsonPage([jsonFile(**fields)]), BASE, "foo-bar")
    assert len(page.files) == 1
    return page.files[0]


def htmlPage(*anchors: str, head: str = "") -> bytes:
    """
    A PEP 503 detail page with these anchors.
    """
    return (
        "<!DOCTYPE html><html><head>"
        '<meta name="pypi:repository-version" content="1.0">'
        f"{head}<title>Links for foo-bar</title></head><body>"
        + "<br/>\n".join(anchors)
        + "</body></html>"
    ).encode("utf-8")


def onlyHTMLFile(anchor: str, head: str = "", base: str = BASE) -> DistFile:
    """
    Parse an HTML page with one anchor and return the file.
    """
    page = parseProjectHTML(htmlPage(anchor, head=head), base, "foo-bar")
    assert len(page.files) == 1, page.files
    return page.files[0]


class IsJSONTypeTests(SynchronousTestCase):
    """
    Tests for L{isJSONType}.
    """

    def test_versioned(self) -> None:
        """
        The v1 JSON type, with or without parameters and in any case, is JSON.
        """
        self.assertTrue(isJSONType(JSON_TYPE))
        self.assertTrue(isJSONType(JSON_TYPE + "; charset=utf-8"))
        self.assertTrue(isJSONType(JSON_TYPE.upper()))

    def test_latest(self) -> None:
        """
        The C{latest+json} alias is JSON too.
        """
        self.assertTrue(isJSONType("application/vnd.pypi.simple.latest+json"))

    def test_notJSON(self) -> None:
        """
        HTML types and plain C{application/json} are not Simple JSON.
        """
        for contentType in ("text/html", "text/html; charset=utf-8",
                            "application/vnd.pypi.simple.v1+html", "application/json", ""):
            self.assertFalse(isJSONType(contentType), contentType)


class ProjectJSONTests(SynchronousTestCase):
    """
    Tests for L{parseProjectJSON}.
    """

    def test_allFields(self) -> None:
        """
        Every field a JSON file entry can carry ends up in the L{DistFile}.
        """
        f = onlyJSONFile(
            filename="foo_bar-1.0-py3-none-any.whl",
            url="https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
            hashes={"sha256": SHA, "md5": "c" * 32},
            **{
                "requires-python": ">=3.8,<4",
                "yanked": "broken",
                "core-metadata": {"sha256": META_SHA},
                "size": 12345,
                "upload-time": "2026-01-02T03:04:05.123456Z",
                "provenance": "https://index.example.invalid/prov/1",
            },
        )
        self.assertEqual(
            f,
            DistFile(
                filename="foo_bar-1.0-py3-none-any.whl",
                url="https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
                hashes={"sha256": SHA, "md5": "c" * 32},
                requiresPython=">=3.8,<4",
                yanked="broken",
                coreMetadata={"sha256": META_SHA},
                size=12345,
                uploadTime="2026-01-02T03:04:05.123456Z",
                provenance="https://index.example.invalid/prov/1",
            ),
        )

    def test_minimalEntry(self) -> None:
        """
        An entry with only filename, url and hashes gets the defaults: not
        yanked, no metadata, no size.
        """
        f = onlyJSONFile()
        self.assertEqual(f.yanked, False)
        self.assertIsNone(f.coreMetadata)
        self.assertIsNone(f.requiresPython)
        self.assertIsNone(f.size)
        self.assertIsNone(f.uploadTime)
        self.assertIsNone(f.provenance)
        self.assertEqual(f.sha256, SHA)

    def test_nulls(self) -> None:
        """
        C{null} optional values read as absent.
        """
        f = onlyJSONFile(
            **{"requires-python": None, "core-metadata": None, "size": None,
               "upload-time": None, "provenance": None, "yanked": None}
        )
        self.assertEqual(
            (f.requiresPython, f.coreMetadata, f.size, f.uploadTime, f.provenance, f.yanked),
            (None, None, None, None, None, False),
        )

    def test_missingHashes(self) -> None:
        """
        An entry without C{hashes} (or with C{null}) has no hashes and is not
        verifiable.
        """
        entry = jsonFile()
        del entry["hashes"]
        page = parseProjectJSON(jsonPage([entry, jsonFile(hashes=None)]), BASE, "foo-bar")
        self.assertEqual([dict(f.hashes) for f in page.files], [{}, {}])
        self.assertFalse(page.files[0].verified)

    def test_hashesLowercasedAndFiltered(self) -> None:
        """
        Hash names and digests are lower-cased; non-string digests are dropped.
        """
        f = onlyJSONFile(hashes={"SHA256": SHA.upper(), "md5": 5, "blake2b": None})
        self.assertEqual(dict(f.hashes), {"sha256": SHA})

    def test_yankedForms(self) -> None:
        """
        C{false} is not yanked; C{true} is yanked without a reason; a string is
        the reason; an empty string still means yanked.
        """
        self.assertEqual(onlyJSONFile(yanked=False).yanked, False)
        self.assertEqual(onlyJSONFile(yanked=True).yanked, True)
        self.assertEqual(onlyJSONFile(yanked="broken").yanked, "broken")
        self.assertEqual(onlyJSONFile(yanked="").yanked, True)

    def test_coreMetadataTrue(self) -> None:
        """
        C{"core-metadata": true} means metadata without a hash.
        """
        self.assertIs(onlyJSONFile(**{"core-metadata": True}).coreMetadata, True)

    def test_coreMetadataFalse(self) -> None:
        """
        C{"core-metadata": false} means no metadata.
        """
        self.assertIsNone(onlyJSONFile(**{"core-metadata": False}).coreMetadata)

    def test_coreMetadataHashLowercased(self) -> None:
        """
        The core metadata hash mapping is lower-cased and keeps only strings.
        """
        f = onlyJSONFile(**{"core-metadata": {"SHA256": META_SHA.upper(), "md5": 1}})
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]

    def test_coreMetadataWithoutUsableHash(self) -> None:
        """
        Core metadata listed with no hash, or none that is a digest, is
        metadata without a hash, as pip and uv read it: not no metadata.
        """
        for listed in ({}, {"sha256": "xyz"}, {"md5": 1}):
            f = onlyJSONFile(**{"core-metadata": listed})
            self.assertIs(f.coreMetadata, True, listed)

    def test_dataDistInfoMetadata(self) -> None:
        """
        The PEP 714 alias C{data-dist-info-metadata} is read when
        C{core-metadata} is absent.
        """
        f = onlyJSONFile(**{"data-dist-info-metadata": {"sha256": META_SHA}})
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]

    def test_distInfoMetadata(self) -> None:
        """
        The old PEP 658 key C{dist-info-metadata} is read when neither newer
        key is there.
        """
        f = onlyJSONFile(**{"dist-info-metadata": {"sha256": META_SHA}})
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]
        self.assertIs(onlyJSONFile(**{"dist-info-metadata": True}).coreMetadata, True)

    def test_coreMetadataPreferred(self) -> None:
        """
        C{core-metadata} wins over both older keys.
        """
        f = onlyJSONFile(
            **{
                "core-metadata": {"sha256": META_SHA},
                "data-dist-info-metadata": {"sha256": "1" * 64},
                "dist-info-metadata": {"sha256": "2" * 64},
            }
        )
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]

    def test_sizeMustBeInteger(self) -> None:
        """
        A size that is not an integer is dropped.
        """
        self.assertEqual(onlyJSONFile(size=10).size, 10)
        self.assertIsNone(onlyJSONFile(size="10").size)
        self.assertIsNone(onlyJSONFile(size=1.5).size)

    def test_emptyStringsAreAbsent(self) -> None:
        """
        Empty requires-python, upload-time and provenance read as absent.
        """
        f = onlyJSONFile(**{"requires-python": "", "upload-time": "", "provenance": ""})
        self.assertEqual((f.requiresPython, f.uploadTime, f.provenance), (None, None, None))

    def test_relativeURL(self) -> None:
        """
        A relative URL is resolved against the final URL of the page.
        """
        f = onlyJSONFile(url="../../files/aa/foo_bar-1.0.tar.gz")
        self.assertEqual(f.url, "https://index.example.invalid/files/aa/foo_bar-1.0.tar.gz")

    def test_relativeURLAfterRedirect(self) -> None:
        """
        The base is whatever URL the caller says the page finally came from.
        """
        page = parseProjectJSON(
            jsonPage([jsonFile(url="pkgs/foo_bar-1.0.tar.gz")]),
            "https://mirror.example.invalid/deep/simple/foo-bar/",
            "Foo.Bar",
        )
        self.assertEqual(
            page.files[0].url,
            "https://mirror.example.invalid/deep/simple/foo-bar/pkgs/foo_bar-1.0.tar.gz",
        )

    def test_absoluteAndSchemeRelativeURLs(self) -> None:
        """
        Absolute URLs are kept; scheme-relative URLs take the page's scheme.
        """
        self.assertEqual(
            onlyJSONFile(url="http://files.example.invalid/x.tar.gz").url,
            "http://files.example.invalid/x.tar.gz",
        )
        self.assertEqual(
            onlyJSONFile(url="//files.example.invalid/x.tar.gz").url,
            "https://files.example.invalid/x.tar.gz",
        )

    def test_fragmentDropped(self) -> None:
        """
        A fragment on a JSON URL is not part of the file's URL.
        """
        self.assertEqual(
            onlyJSONFile(url="/p/x.tar.gz#sha256=" + SHA).url,
            "https://index.example.invalid/p/x.tar.gz",
        )

    def test_fragmentHashes(self) -> None:
        """
        A hash in a JSON URL's fragment is the file's, as pip reads it, when
        C{hashes} does not give one under its name: the file is checked
        against it, and listed with it.
        """
        f = onlyJSONFile(url="/p/x.tar.gz#sha256=" + SHA.upper(), hashes={})
        self.assertEqual(dict(f.hashes), {"sha256": SHA})
        self.assertEqual(f.key, SHA)
        f = onlyJSONFile(
            url=f"/p/x.tar.gz#egg=x&sha256={'1' * 64}&md5={'2' * 32}",
            hashes={"sha256": SHA},
        )
        self.assertEqual(dict(f.hashes), {"sha256": SHA, "md5": "2" * 32})
        f = onlyJSONFile(url="/p/x.tar.gz#main", hashes={"sha256": SHA})
        self.assertEqual(dict(f.hashes), {"sha256": SHA})

    def test_nameNormalized(self) -> None:
        """
        The page's name is the normalized C{name} from the body, or else the
        normalized name asked for.
        """
        self.assertEqual(
            parseProjectJSON(jsonPage([], name="Foo.Bar"), BASE, "x").name, "foo-bar"
        )
        body = json.dumps({"meta": {"api-version": "1.0"}, "files": []}).encode()
        self.assertEqual(parseProjectJSON(body, BASE, "Foo_Bar").name, "foo-bar")

    def test_versions(self) -> None:
        """
        The PEP 700 versions list is kept, as strings; without one it is
        C{None}.
        """
        page = parseProjectJSON(jsonPage([], versions=["1.0", "0.9"]), BASE, "foo-bar")
        self.assertEqual(page.versions, ("1.0", "0.9"))
        self.assertIsNone(parseProjectJSON(jsonPage([]), BASE, "foo-bar").versions)

    def test_projectStatus(self) -> None:
        """
        The PEP 792 top-level project status is read with its reason.
        """
        page = parseProjectJSON(
            jsonPage([], **{"project-status": {"status": "deprecated", "reason": "old"}}),
            BASE,
            "foo-bar",
        )
        self.assertEqual(page.status, ("deprecated", "old"))
        page = parseProjectJSON(
            jsonPage([], **{"project-status": {"status": "archived"}}), BASE, "foo-bar"
        )
        self.assertEqual(page.status, ("archived", None))
        self.assertIsNone(parseProjectJSON(jsonPage([]), BASE, "foo-bar").status)

    def test_unknownKeysIgnored(self) -> None:
        """
        Unknown and C{_}-private keys, at the top and in entries, are ignored.
        """
        body = jsonPage(
            [jsonFile(**{"gpg-sig": False, "_source": "x"})],
            **{"_last-serial": 5, "alternate-locations": []},
        )
        self.assertEqual(len(parseProjectJSON(body, BASE, "foo-bar").files), 1)

    def test_apiVersions1x(self) -> None:
        """
        Any 1.x api-version (and a missing meta) is accepted.
        """
        for meta in ({"api-version": "1.0"}, {"api-version": "1.4"}, {"api-version": "1.99"}, {}):
            body = json.dumps({"meta": meta, "name": "foo-bar", "files": []}).encode()
            self.assertEqual(parseProjectJSON(body, BASE, "foo-bar").files, ())
        body = json.dumps({"name": "foo-bar", "files": []}).encode()
        self.assertEqual(parseProjectJSON(body, BASE, "foo-bar").name, "foo-bar")

    def test_apiVersion2Rejected(self) -> None:
        """
        A major api-version other than 1 (2.0, 2.1, 10.0, 0.9) is rejected.
        """
        for version in ("2.0", "2.1", "10.0", "0.9"):
            body = json.dumps(
                {"meta": {"api-version": version}, "name": "foo-bar", "files": []}
            ).encode()
            self.assertRaises(ParseError, parseProjectJSON, body, BASE, "foo-bar")
            self.assertRaises(ParseError, parseListJSON, body)

    def test_notJSON(self) -> None:
        """
        Bytes that are not JSON raise L{ParseError}.
        """
        for body in (b"", b"<html></html>", b'{"meta": ', b"\xff\xfe{}", b"{'a': 1}"):
            self.assertRaises(ParseError, parseProjectJSON, body, BASE, "foo-bar")

    def test_nestedTooDeep(self) -> None:
        """
        Valid JSON nested deeper than the decoder goes (its C{RecursionError})
        is a L{ParseError}, like any other page that cannot be decoded: so
        the cache serves its stale copy rather than fail the request.  Small
        pages are decoded whole, big ones streamed: both are.
        """
        depth = 100_000
        nested = b"[" * depth + b"]" * depth
        small = b'{"meta": {"api-version": "1.0"}, "files": ' + nested + b"}"
        padding = b"x" * (parse.DECODE_AT_ONCE + 1)
        big = b'{"padding": "' + padding + b'", "files": ' + nested + b"}"
        for body in (small, big):
            self.assertRaises(ParseError, parseProjectJSON, body, BASE, "foo-bar")
        listing = b'{"meta": {"api-version": "1.0"}, "projects": ' + nested + b"}"
        self.assertRaises(ParseError, parseListJSON, listing)

    def test_notAnObject(self) -> None:
        """
        A JSON value that is not an object raises L{ParseError}.
        """
        for body in (b"[]", b'"files"', b"1", b"null"):
            self.assertRaises(ParseError, parseProjectJSON, body, BASE, "foo-bar")

    def test_entryWithoutFilenameOrURL(self) -> None:
        """
        A file entry missing C{filename} or C{url}, or not an object, raises
        L{ParseError}.
        """
        noURL = jsonFile()
        del noURL["url"]
        noName = jsonFile()
        del noName["filename"]
        for entry in (noURL, noName, "foo_bar-1.0.tar.gz", ["a"], 5):
            self.assertRaises(
                ParseError, parseProjectJSON, jsonPage([entry]), BASE, "foo-bar"  # type: ignore[list-item]
            )

    def test_nonStringURL(self) -> None:
        """
        A file entry whose C{url} is not a string raises L{ParseError}.
        """
        self.assertRaises(
            ParseError, parseProjectJSON, jsonPage([jsonFile(url=5)]), BASE, "foo-bar"
        )


    def test_emptyFilename(self) -> None:
        """
        A file entry whose filename is empty or null is a L{ParseError}, as
        one without a filename is, never a file without a name (which every
        rendering of the page then failed on, a 500).
        """
        for filename in ["", None]:
            self.assertRaises(
                ParseError,
                parseProjectJSON,
                jsonPage([jsonFile(filename=filename)]),
                BASE,
                "foo-bar",
            )

class ProjectHTMLTests(SynchronousTestCase):
    """
    Tests for L{parseProjectHTML}.
    """

    def test_plainAnchor(self) -> None:
        """
        A plain anchor becomes a file named after the URL's last segment, with
        the hash from the fragment and nothing else.
        """
        f = onlyHTMLFile(
            '<a href="https://files.example.invalid/p/foo_bar-1.0.tar.gz#sha256='
            f'{SHA}">foo_bar-1.0.tar.gz</a>'
        )
        self.assertEqual(
            f,
            DistFile(
                filename="foo_bar-1.0.tar.gz",
                url="https://files.example.invalid/p/foo_bar-1.0.tar.gz",
                hashes={"sha256": SHA},
            ),
        )

    def test_relativeHref(self) -> None:
        """
        A relative href is resolved against the page's final URL.
        """
        f = onlyHTMLFile('<a href="../../packages/foo_bar-1.0.tar.gz">x</a>')
        self.assertEqual(f.url, "https://index.example.invalid/packages/foo_bar-1.0.tar.gz")

    def test_relativeHrefAfterRedirect(self) -> None:
        """
        With a page fetched from a redirect's target, hrefs resolve against
        that target, not the URL first asked for.
        """
        f = onlyHTMLFile(
            '<a href="foo_bar-1.0.tar.gz">x</a>',
            base="https://other.example.invalid/simple/foo-bar/",
        )
        self.assertEqual(
            f.url, "https://other.example.invalid/simple/foo-bar/foo_bar-1.0.tar.gz"
        )

    def test_relativeHrefWithoutTrailingSlash(self) -> None:
        """
        Resolution follows URL rules: a base without a trailing slash loses
        its last segment.
        """
        f = onlyHTMLFile(
            '<a href="foo_bar-1.0.tar.gz">x</a>',
            base="https://index.example.invalid/simple/foo-bar",
        )
        self.assertEqual(f.url, "https://index.example.invalid/simple/foo_bar-1.0.tar.gz")

    def test_baseHref(self) -> None:
        """
        A C{<base href>} (itself relative to the page URL) is the base for
        the anchors.
        """
        f = onlyHTMLFile(
            '<a href="foo_bar-1.0.tar.gz">x</a>', head='<base href="/mirror/pkgs/">'
        )
        self.assertEqual(f.url, "https://index.example.invalid/mirror/pkgs/foo_bar-1.0.tar.gz")
        f = onlyHTMLFile(
            '<a href="foo_bar-1.0.tar.gz">x</a>',
            head='<base href="https://files.example.invalid/a/">',
        )
        self.assertEqual(f.url, "https://files.example.invalid/a/foo_bar-1.0.tar.gz")

    def test_firstBaseWins(self) -> None:
        """
        Only the first C{<base href>} counts.
        """
        f = onlyHTMLFile(
            '<a href="f-1.0.tar.gz">x</a>',
            head='<base href="https://a.example.invalid/"><base href="https://b.example.invalid/">',
        )
        self.assertEqual(f.url, "https://a.example.invalid/f-1.0.tar.gz")

    def test_hashFragment(self) -> None:
        """
        The fragment's hash name and digest are lower-cased and the fragment
        is not part of the URL.
        """
        f = onlyHTMLFile(f'<a href="/p/f-1.0.tar.gz#SHA256={SHA.upper()}">x</a>')
        self.assertEqual(dict(f.hashes), {"sha256": SHA})
        self.assertEqual(f.url, "https://index.example.invalid/p/f-1.0.tar.gz")

    def test_otherHashFragment(self) -> None:
        """
        A non-sha256 fragment is kept under its own name; the file then has no
        sha256.
        """
        md5 = "0123456789abcdef" * 2
        f = onlyHTMLFile(f'<a href="/p/f-1.0.tar.gz#md5={md5}">x</a>')
        self.assertEqual(dict(f.hashes), {"md5": md5})
        self.assertIsNone(f.sha256)

    def test_severalFragmentPairs(self) -> None:
        """
        A fragment of several C{&}-separated pairs (C{#egg=...&sha256=...},
        C{#md5=...&sha256=...}) gives the hashes among them, as pip reads
        them, not none: the file is checked and keyed by its sha256.
        """
        md5 = "0123456789abcdef" * 2
        for fragment, hashes in [
            (f"sha256={SHA}&egg=foo_bar", {"sha256": SHA}),
            (f"egg=foo_bar&sha256={SHA}", {"sha256": SHA}),
            (f"md5={md5}&sha256={SHA}", {"md5": md5, "sha256": SHA}),
            (f"subdirectory=x&MD5={md5.upper()}", {"md5": md5}),
        ]:
            f = onlyHTMLFile(f'<a href="/p/f-1.0.tar.gz#{fragment}">x</a>')
            self.assertEqual(dict(f.hashes), hashes, fragment)
            self.assertEqual(f.url, "https://index.example.invalid/p/f-1.0.tar.gz")
        f = onlyHTMLFile(f'<a href="/p/f-1.0.tar.gz#sha256={SHA}&amp;egg=f">x</a>')
        self.assertEqual(f.key, SHA)

    def test_fragmentNotAHash(self) -> None:
        """
        A fragment pair that names no hash algorithm (C{#egg=cafe}) is not
        read as a hash, even when its value looks like hex: listed as one,
        pip fails on the file ("Unknown hash name").  Other algorithms are
        kept under their names.
        """
        blake = "ab" * 64
        for fragment, hashes in [
            ("egg=cafe", {}),
            (f"egg=cafe&sha256={SHA}", {"sha256": SHA}),
            ("subdirectory=ab&shake_128=ab", {}),
            (f"blake2b={blake}", {"blake2b": blake}),
        ]:
            f = onlyHTMLFile(f'<a href="/p/cafe-1.0.tar.gz#{fragment}">x</a>')
            self.assertEqual(dict(f.hashes), hashes, fragment)

    def test_malformedDigestDropped(self) -> None:
        """
        A sha256 that is not 64 hex digits is dropped, so it can never
        become a file's key; the file is keyed by its URL instead.
        """
        f = onlyHTMLFile('<a href="/p/f-1.0-py3-none-any.whl#sha256=abc">x</a>')
        self.assertEqual(dict(f.hashes), {})
        self.assertTrue(f.key.startswith("u"))

    def test_htmlVersionTwoRejected(self) -> None:
        """
        An HTML page declaring repository-version 2.x is refused.
        """
        self.assertRaises(
            ParseError,
            parseProjectHTML,
            b'<meta name="pypi:repository-version" content="2.0"><a href="x-1.0.tar.gz">x</a>',
            "https://index.example.invalid/simple/x/",
            "x",
        )

    def test_unreadableHTML(self) -> None:
        """
        HTML that C{html.parser} gives up on (a malformed declaration), or
        whose link or base is no URL (an unclosed IPv6 host), is a
        L{ParseError} (so the cache serves its stale copy), never another
        exception.
        """
        for body in [
            b'<![x <a href="x-1.0.tar.gz">x</a>',
            b'<a href="http://[::1/x-1.0.tar.gz">x</a>',
            b'<base href="http://[x/"><a href="x-1.0.tar.gz">x</a>',
        ]:
            self.assertRaises(ParseError, parseProjectHTML, body, BASE, "x")
        self.assertRaises(ParseError, parseListHTML, b'<![x <a href="/simple/x/">x</a>')

    def test_wrongShapeJSON(self) -> None:
        """
        Valid JSON of the wrong shape is a ParseError (so the cache serves
        its stale copy), never another exception.
        """
        base = "https://index.example.invalid/simple/x/"
        for body in [
            b'{"files": null}',
            b'{"files":[{"filename":"a","url":"b","hashes":"x"}]}',
            b'{"name": 5, "files": []}',
            b'{"files":[{"filename":"a-1.0.tar.gz","url":"x","hashes":{},"requires-python":"\\ud800"}]}',
            b'{"files":[{"filename":"a-1.0.tar.gz","url":"x","hashes":{},"requires-python":"\\uDBFF"}]}',
            b'{"files": "abc"}',
            b'{"files": {"filename": "a-1.0.tar.gz", "url": "x"}}',
            # Text fields that are not text, which the HTML could not show:
            b'{"files":[{"filename":"a-1.0.tar.gz","url":"x","hashes":{},"requires-python":3}]}',
            b'{"files":[{"filename":7,"url":"x","hashes":{}}]}',
            b'{"files":[{"filename":"a-1.0.tar.gz","url":"x","upload-time":[]}]}',
            b'{"files":[{"filename":"a-1.0.tar.gz","url":"x","provenance":{"a":1}}]}',
        ]:
            self.assertRaises(ParseError, parseProjectJSON, body, base, "x")
        for body in [b'{"projects": null}', b'{"projects":[{}]}']:
            self.assertRaises(ParseError, parseListJSON, body)

    def test_noFragment(self) -> None:
        """
        An href without a fragment (or with one that is not C{name=value})
        gives no hashes.
        """
        self.assertEqual(dict(onlyHTMLFile('<a href="/p/f-1.0.tar.gz">x</a>').hashes), {})
        self.assertEqual(dict(onlyHTMLFile('<a href="/p/f-1.0.tar.gz#top">x</a>').hashes), {})

    def test_percentEncodedFilename(self) -> None:
        """
        The filename is the percent-decoded last path segment (C{%2B} is
        C{+}); the URL keeps its encoding.
        """
        f = onlyHTMLFile(
            '<a href="/p/foo_bar-2.0%2Blocal-py3-none-any.whl#sha256='
            f'{SHA}">foo_bar-2.0+local-py3-none-any.whl</a>'
        )
        self.assertEqual(f.filename, "foo_bar-2.0+local-py3-none-any.whl")
        self.assertEqual(
            f.url, "https://index.example.invalid/p/foo_bar-2.0%2Blocal-py3-none-any.whl"
        )

    def test_unencodedURL(self) -> None:
        """
        A link whose URL has what no HTTP request can carry (a space, a
        letter beyond ASCII) is kept percent-encoded, as pip fetches it, so
        that the file can be fetched; its filename is as the link shows it,
        and what was encoded stays so.
        """
        for href, url, filename in [
            ("/p/foo 1.0.tar.gz", "/p/foo%201.0.tar.gz", "foo 1.0.tar.gz"),
            ("/p/f\u00fco-1.0.tar.gz?a b", "/p/f%C3%BCo-1.0.tar.gz?a%20b", "f\u00fco-1.0.tar.gz"),
            ("/p/foo%201.0 x.tar.gz", "/p/foo%201.0%20x.tar.gz", "foo 1.0 x.tar.gz"),
        ]:
            f = onlyHTMLFile(f'<a href="{href}#sha256={SHA}">x</a>')
            self.assertEqual(f.url, "https://index.example.invalid" + url)
            self.assertEqual(f.filename, filename)
            self.assertEqual(f.sha256, SHA)
            f = onlyJSONFile(url=href)
            self.assertEqual(f.url, "https://index.example.invalid" + url)

    def test_filenameFromURLNotText(self) -> None:
        """
        The filename comes from the URL, whatever the anchor text says.
        """
        f = onlyHTMLFile('<a href="/p/foo_bar-1.0.tar.gz">Download 1.0!</a>')
        self.assertEqual(f.filename, "foo_bar-1.0.tar.gz")

    def test_queryNotInFilename(self) -> None:
        """
        A query string is kept in the URL but not in the filename.
        """
        f = onlyHTMLFile('<a href="/p/foo_bar-1.0.tar.gz?token=1#sha256=ab">x</a>')
        self.assertEqual(f.filename, "foo_bar-1.0.tar.gz")
        self.assertEqual(f.url, "https://index.example.invalid/p/foo_bar-1.0.tar.gz?token=1")

    def test_requiresPythonUnescaped(self) -> None:
        """
        The escaped C{data-requires-python} value is unescaped.
        """
        f = onlyHTMLFile('<a href="f-1.0.tar.gz" data-requires-python="&gt;=3.8,&lt;4">f</a>')
        self.assertEqual(f.requiresPython, ">=3.8,<4")
        f = onlyHTMLFile('<a href="f-1.0.tar.gz" data-requires-python="&gt;=3.8, !=3.9.*">f</a>')
        self.assertEqual(f.requiresPython, ">=3.8, !=3.9.*")

    def test_emptyRequiresPython(self) -> None:
        """
        An empty C{data-requires-python} reads as absent.
        """
        self.assertIsNone(
            onlyHTMLFile('<a href="f-1.0.tar.gz" data-requires-python="">f</a>').requiresPython
        )

    def test_notYanked(self) -> None:
        """
        Without C{data-yanked} a file is not yanked.
        """
        self.assertIs(onlyHTMLFile('<a href="f-1.0.tar.gz">f</a>').yanked, False)

    def test_yankedWithReason(self) -> None:
        """
        C{data-yanked="reason"} is a yank with that (unescaped) reason.
        """
        f = onlyHTMLFile('<a href="f-1.0.tar.gz" data-yanked="broken &amp; bad">f</a>')
        self.assertEqual(f.yanked, "broken & bad")

    def test_yankedEmpty(self) -> None:
        """
        C{data-yanked=""} is a yank without a reason.
        """
        self.assertIs(onlyHTMLFile('<a href="f-1.0.tar.gz" data-yanked="">f</a>').yanked, True)

    def test_yankedBare(self) -> None:
        """
        A bare C{data-yanked} attribute is a yank too: never un-yank a file.
        """
        self.assertIs(onlyHTMLFile('<a href="f-1.0.tar.gz" data-yanked>f</a>').yanked, True)

    def test_coreMetadataHash(self) -> None:
        """
        C{data-core-metadata="sha256=<hex>"} is a metadata hash, lower-cased.
        """
        f = onlyHTMLFile(
            f'<a href="f-1.0.whl" data-core-metadata="SHA256={META_SHA.upper()}">f</a>'
        )
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]

    def test_coreMetadataTrue(self) -> None:
        """
        C{data-core-metadata="true"} is metadata without a hash.
        """
        self.assertIs(
            onlyHTMLFile('<a href="f-1.0.whl" data-core-metadata="true">f</a>').coreMetadata,
            True,
        )

    def test_coreMetadataWithoutUsableHash(self) -> None:
        """
        C{data-core-metadata} whose hash is no digest is metadata without
        a hash, as pip reads it: not no metadata.
        """
        for value in ("sha256=", "sha256=xyz", "md5=" + "1" * 31):
            f = onlyHTMLFile(f'<a href="f-1.0.whl" data-core-metadata="{value}">f</a>')
            self.assertIs(f.coreMetadata, True, value)

    def test_coreMetadataFalse(self) -> None:
        """
        C{data-core-metadata="false"} is no metadata.
        """
        self.assertIsNone(
            onlyHTMLFile('<a href="f-1.0.whl" data-core-metadata="false">f</a>').coreMetadata
        )

    def test_distInfoMetadata(self) -> None:
        """
        C{data-dist-info-metadata} alone (PEP 658 servers) is read as core
        metadata.
        """
        f = onlyHTMLFile(f'<a href="f-1.0.whl" data-dist-info-metadata="sha256={META_SHA}">f</a>')
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]

    def test_coreMetadataPreferred(self) -> None:
        """
        C{data-core-metadata} wins over C{data-dist-info-metadata}.
        """
        f = onlyHTMLFile(
            f'<a href="f-1.0.whl" data-dist-info-metadata="sha256={"1" * 64}" '
            f'data-core-metadata="sha256={META_SHA}">f</a>'
        )
        self.assertEqual(dict(f.coreMetadata), {"sha256": META_SHA})  # type: ignore[arg-type]

    def test_noMetadata(self) -> None:
        """
        Without either attribute there is no core metadata.
        """
        self.assertIsNone(onlyHTMLFile('<a href="f-1.0.whl">f</a>').coreMetadata)

    def test_anchorsWithoutHrefSkipped(self) -> None:
        """
        Anchors without an href (or with an empty one) are not files.
        """
        page = parseProjectHTML(
            htmlPage('<a name="top">top</a>', '<a href="">x</a>', '<a href="f-1.0.tar.gz">f</a>'),
            BASE,
            "foo-bar",
        )
        self.assertEqual([f.filename for f in page.files], ["f-1.0.tar.gz"])

    def test_anchorLeftOpen(self) -> None:
        """
        An anchor whose end tag is missing ends where the next anchor, or
        the page, does: its file is listed, as pip lists it.
        """
        page = parseProjectHTML(
            htmlPage(
                '<a href="f-1.0.tar.gz">f-1.0.tar.gz<br>',
                '<a href="f-2.0.tar.gz">f-2.0.tar.gz</a>',
                '<a href="f-3.0.tar.gz">f-3.0.tar.gz',
            ),
            BASE,
            "foo-bar",
        )
        self.assertEqual(
            [f.filename for f in page.files], ["f-1.0.tar.gz", "f-2.0.tar.gz", "f-3.0.tar.gz"]
        )
        listed = parseListHTML(htmlPage('<a href="/a/">a', '<a href="/b/">b</a>'))
        self.assertEqual(list(listed.names), ["a", "b"])

    def test_orderKept(self) -> None:
        """
        Files come out in the page's order.
        """
        names = [f"f-{i}.0.tar.gz" for i in (3, 1, 2)]
        page = parseProjectHTML(
            htmlPage(*(f'<a href="{n}">{n}</a>' for n in names)), BASE, "foo-bar"
        )
        self.assertEqual([f.filename for f in page.files], names)

    def test_nameNormalized(self) -> None:
        """
        The page's name is the normalized name asked for; HTML has no
        versions list.
        """
        page = parseProjectHTML(htmlPage(), BASE, "Foo_Bar")
        self.assertEqual(page.name, "foo-bar")
        self.assertIsNone(page.versions)

    def test_projectStatus(self) -> None:
        """
        The PEP 792 status meta tags are read.
        """
        page = parseProjectHTML(
            htmlPage(
                head='<meta name="pypi:project-status" content="archived">'
                '<meta name="pypi:project-status-reason" content="done">'
            ),
            BASE,
            "foo-bar",
        )
        self.assertEqual(page.status, ("archived", "done"))
        self.assertIsNone(parseProjectHTML(htmlPage(), BASE, "foo-bar").status)

    def test_undecodableBytes(self) -> None:
        """
        Bytes that are not UTF-8 do not stop the anchors from being read.
        """
        body = b'<html><body>\xff\xfe<a href="f-1.0.tar.gz">f</a></body></html>'
        page = parseProjectHTML(body, BASE, "foo-bar")
        self.assertEqual([f.filename for f in page.files], ["f-1.0.tar.gz"])


class PageTextTests(SynchronousTestCase):
    """
    Tests for L{pageText}, and the parsers given text.
    """

    def test_json(self) -> None:
        """
        JSON bytes are decoded as C{json} decodes them: UTF-8 (with or
        without a byte order mark), UTF-16, UTF-32.
        """
        page = '{"name": "caf\u00e9", "files": []}'
        for body in [
            page.encode("utf-8"),
            b"\xef\xbb\xbf" + page.encode("utf-8"),
            page.encode("utf-16"),
            page.encode("utf-32-le"),
        ]:
            text = pageText(body, JSON_TYPE)
            self.assertEqual(json.loads(text), json.loads(body))

    def test_jsonNotUnicode(self) -> None:
        """
        JSON bytes that are no Unicode text are a L{ParseError}.
        """
        self.assertRaises(ParseError, pageText, b'{"name": "\xff"}', JSON_TYPE)

    def test_jsonEncodedSurrogate(self) -> None:
        """
        A surrogate encoded as UTF-8 bytes (no Unicode text, which no
        rendering can write back) makes a JSON page a L{ParseError}, small
        or big, as a lone surrogate escape does, not a page that fails.
        """
        entry = '{"filename":"a-1.%d.tar.gz","url":"x","hashes":{},"upload-time":"%s"}'
        for count in (1, 3000):
            entries = [entry % (i, "2025") for i in range(count)]
            entries[-1] = entries[-1].replace("2025", "2025\ud800")
            body = ('{"files":[' + ",".join(entries) + "]}").encode("utf-8", "surrogatepass")
            self.assertRaises(ParseError, pageText, body, JSON_TYPE)
            self.assertRaises(ParseError, parseProjectJSON, body, BASE, "a")

    def test_html(self) -> None:
        """
        HTML is read as UTF-8, bytes that are not replaced.
        """
        self.assertEqual(pageText(b"<a>caf\xc3\xa9\xff</a>", "text/html"), "<a>caf\u00e9\ufffd</a>")

    def test_htmlCharset(self) -> None:
        """
        HTML is read in the charset its Content-Type names, as pip and uv
        read it; an unknown charset is read as UTF-8.
        """
        body = '<a href="foo-1.0.tar.gz" data-yanked="D\u00e9faut">x</a>'.encode("latin-1")
        for contentType in ['text/html; charset=ISO-8859-1', 'text/html;Charset="latin-1"']:
            self.assertEqual(pageText(body, contentType), body.decode("latin-1"))
            for text in (body, pageText(body, contentType)):
                page = parseProject(text, contentType, BASE, "foo")
                self.assertEqual(page.files[0].yanked, "D\u00e9faut")
        for charset in ("nonesuch", "rot13", "zlib", ""):
            self.assertEqual(
                pageText(b"caf\xc3\xa9", f"text/html; charset={charset}"), "caf\u00e9"
            )

    def test_parsersTakeText(self) -> None:
        """
        Every parser reads the text of a page as it reads its bytes.
        """
        for name, contentType in [("requests.json", JSON_TYPE), ("requests.html", "text/html")]:
            body = DATA.child(name).getContent()
            self.assertEqual(
                parseProject(pageText(body, contentType), contentType, BASE, "requests"),
                parseProject(body, contentType, BASE, "requests"),
            )
        for body, contentType in [
            (b'{"projects": [{"name": "Frob"}]}', JSON_TYPE),
            (b'<a href="frob/">Frob</a>', "text/html"),
        ]:
            self.assertEqual(
                parseList(pageText(body, contentType), contentType), ProjectList(["Frob"])
            )

    def test_surrogateInText(self) -> None:
        """
        A lone surrogate escape is found in text as in bytes.
        """
        body = '{"files":[{"filename":"a-1.0.tar.gz","url":"x","hashes":{},"yanked":"\\udc00"}]}'
        self.assertRaises(ParseError, parseProjectJSON, body, BASE, "a")
        pair = body.replace("\\udc00", "\\ud83d\\ude00")
        self.assertEqual(parseProjectJSON(pair, BASE, "a").files[0].yanked, "\U0001f600")


_json = st.recursive(
    # Integers that fit 64 bits: past them, orjson reads a float (see
    # cheesecache.simple.jsoncodec.loads).
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["files", "a", "b", "caf\u00e9"]), children, max_size=4),
    max_leaves=20,
)


class LoadStreamingTests(SynchronousTestCase):
    """
    Tests for L{loadStreaming}.
    """

    def test_sameAsJSON(self) -> None:
        """
        With items taken as they are, documents decode as C{json.loads}
        decodes them, the streamed array being a L{Streamed} list.
        """
        for text in [
            '{"files": [1, {"a": [2, "x"]}, null], "meta": {"v": "1.0"}}',
            ' \n{ "meta" : 1 , "files" : [ ] }\t',
            '{"files": []}',
            '{"files": [ ]}',
            '{"files":[1 ,2\n, 3 ] }',
            '{"files": null, "x": 1.5e3, "y": -0, "z": "\\ud83d\\ude00\\n"}',
            '{"files": {"files": [1]}}',
            '{"other": [1, 2]}',
            '{}',
            '[{"files": [1]}]',
            '"text"',
            '-Infinity',
        ]:
            value = loadStreaming(text, ("files",), lambda item: item)
            self.assertEqual(value, json.loads(text), text)
        streamed = loadStreaming('{"files": [1, 2]}', ("files",), lambda item: item)
        self.assertIsInstance(streamed["files"], Streamed)
        notStreamed = loadStreaming('{"files": {"a": 1}}', ("files",), lambda item: item)
        self.assertNotIsInstance(notStreamed["files"], Streamed)

    def test_itemsHandedOver(self) -> None:
        """
        Each item of the array at the path is handed to C{onItem} once, in
        order, and the array holds what it returned; a nested path is
        followed key by key.
        """
        seen: List[Any] = []

        def onItem(item: Any) -> Any:
            seen.append(item)
            return len(seen)

        value = loadStreaming(
            '{"files": [9], "content": {"files": [{"a": 1}, [2], "3"], "n": 1}}',
            ("content", "files"),
            onItem,
        )
        self.assertEqual(seen, [{"a": 1}, [2], "3"])
        self.assertEqual(value, {"files": [9], "content": {"files": [1, 2, 3], "n": 1}})

    def test_errorsFromItems(self) -> None:
        """
        An error from C{onItem} stops the decoding: later items are not
        handed over.
        """
        seen: List[Any] = []

        def onItem(item: Any) -> Any:
            seen.append(item)
            raise KeyError(item)

        self.assertRaises(
            KeyError, loadStreaming, '{"files": [1, 2]}', ("files",), onItem
        )
        self.assertEqual(seen, [1])

    def test_notJSON(self) -> None:
        """
        What is not JSON is a C{ValueError}, as from C{json.loads}.
        """
        for text in [
            "",
            "{",
            '{"files": [1, 2}',
            '{"files": [1, 2,]}',
            '{"files": [1 2]}',
            '{"files": [,]}',
            '{"files" [1]}',
            '{"files": [1],}',
            '{files: [1]}',
            '{"files": [1]} x',
            '{"files": [1]}{}',
            '{"files": ["\x01"]}',
            '{"a": 1 "files": []}',
        ]:
            self.assertRaises(json.JSONDecodeError, json.loads, text)
            self.assertRaises(
                ValueError, loadStreaming, text, ("files",), lambda item: item
            )

    # Run by two classes (the other decodes item by item), which differ
    # only in that: the examples hold for both.
    @settings(
        max_examples=300, deadline=None,
        suppress_health_check=[HealthCheck.differing_executors],
    )
    @given(_json, st.sampled_from([None, 0, 2]), st.sampled_from([(",", ":"), (", ", ": ")]))
    def test_generated(self, value: Any, indent: Any, separators: Any) -> None:
        """
        Generated documents, however laid out, decode as C{json.loads}
        decodes them.
        """
        text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=False)
        self.assertEqual(loadStreaming(text, ("files",), lambda item: item), value)
        self.assertEqual(loadStreaming(text, ("files", "a"), lambda item: item), value)


    def test_steps(self) -> None:
        """
        The items are handed L{STEP_ITEMS} per step, and the value comes at
        the end.
        """
        items = list(range(2 * STEP_ITEMS + 1))
        steps = loadStreamingSteps(json.dumps({"files": items}), ("files",), lambda i: -i)
        pauses = 0
        while True:
            try:
                next(steps)
            except StopIteration as done:
                value = done.value
                break
            pauses += 1
        self.assertEqual(pauses, 2)
        self.assertEqual(value, {"files": [-i for i in items]})


class LoadStreamingItemByItemTests(LoadStreamingTests):
    """
    Tests for L{loadStreaming} of texts bigger than L{DECODE_AT_ONCE},
    decoded an item at a time.
    """

    def setUp(self) -> None:
        self.patch(parse, "DECODE_AT_ONCE", 0)


class LoadStreamingRunsTests(LoadStreamingTests):
    """
    Tests for L{loadStreaming} of texts bigger than L{DECODE_AT_ONCE},
    their arrays of objects decoded a run at a time.
    """

    def setUp(self) -> None:
        self.patch(parse, "DECODE_AT_ONCE", 0)
        self.patch(parse, "RUN_CHARS", 1)
        self.runs: List[str] = []

        def loads(text: str) -> Any:
            self.runs.append(text)
            return json.loads(text)

        self.patch(parse, "loads", loads)

    def test_runs(self) -> None:
        """
        A compact array of objects is decoded a run at a time, from one
        object boundary to the next past L{RUN_CHARS} characters, and
        handed on in order; the last object (no boundary follows it) is
        decoded alone.
        """
        items = [{"n": i, "s": "x" * i} for i in range(5)]
        self.patch(parse, "RUN_CHARS", len(json.dumps(items[0])) + 1)
        seen: List[Any] = []
        value = loadStreaming(
            json.dumps({"files": items, "k": 1}, separators=(",", ":")), ("files",), seen.append
        )
        self.assertEqual(seen, items)
        self.assertEqual(value, {"files": [None] * 5, "k": 1})
        self.assertEqual([json.loads(run) for run in self.runs], [items[:2], items[2:4]])

    def test_boundaryInside(self) -> None:
        """
        A boundary inside an object (a nested array of objects) ends a run
        that does not decode: from there on, the objects are decoded one
        by one, and everything is read as C{json.loads} reads it.  A
        boundary's characters inside a string are no boundary.
        """
        items = [
            {"a": 1}, {"b": [{"c": 2}, {"d": 3}]}, {"e": "},{\"f\":4}"}, {"g": 5}, {"h": 6},
        ]
        text = json.dumps({"files": items}, separators=(",", ":"))
        self.assertEqual(loadStreaming(text, ("files",), lambda item: item), {"files": items})
        self.assertEqual(json.loads(self.runs[0]), items[:1])
        self.assertEqual(len(self.runs), 2)  # The second did not decode.

    def test_spacedArrays(self) -> None:
        """
        An array written with spaces has no boundary: its objects are
        decoded one by one.
        """
        items = [{"a": i} for i in range(4)]
        self.assertEqual(
            loadStreaming(json.dumps({"files": items}), ("files",), lambda item: item),
            {"files": items},
        )
        self.assertEqual(self.runs, [])


class DrainingTests(SynchronousTestCase):
    """
    Tests for L{draining}.
    """

    def test_list(self) -> None:
        """
        The items of a list come in order, each slot let go (C{None}) once
        its item is handed out.
        """
        items: List[Any] = [{"a": 1}, {"b": 2}, {"c": 3}]
        seen = []
        for item in draining(items):
            seen.append((item, list(items)))
        self.assertEqual(
            seen,
            [
                ({"a": 1}, [None, {"b": 2}, {"c": 3}]),
                ({"b": 2}, [None, None, {"c": 3}]),
                ({"c": 3}, [None, None, None]),
            ],
        )

    def test_otherIterables(self) -> None:
        """
        Other iterables are iterated as they are.
        """
        self.assertEqual(list(draining((1, 2))), [1, 2])
        self.assertEqual(list(draining({"k": 1})), ["k"])
        self.assertRaises(TypeError, list, draining(None))


class ListTests(SynchronousTestCase):
    """
    Tests for L{parseListJSON}, L{parseListHTML} and L{parseList}.
    """

    def test_json(self) -> None:
        """
        The JSON root list gives each project's name as written.
        """
        body = json.dumps(
            {"meta": {"api-version": "1.0"}, "projects": [{"name": "Frob"}, {"name": "spam-eggs"}]}
        ).encode()
        self.assertEqual(parseListJSON(body), ProjectList(names=("Frob", "spam-eggs")))

    def test_jsonNonObjectsSkipped(self) -> None:
        """
        Entries of the JSON list that are not objects are skipped.
        """
        body = json.dumps({"meta": {"api-version": "1.0"}, "projects": ["x", {"name": "y"}]})
        self.assertEqual(parseListJSON(body.encode()).names, ("y",))

    def test_jsonEmpty(self) -> None:
        """
        A JSON list without projects is empty.
        """
        self.assertEqual(parseListJSON(b'{"meta": {"api-version": "1.0"}}').names, ())

    def test_jsonMalformed(self) -> None:
        """
        Malformed JSON raises L{ParseError}.
        """
        self.assertRaises(ParseError, parseListJSON, b"{")
        self.assertRaises(ParseError, parseListJSON, b"[]")

    def test_html(self) -> None:
        """
        The HTML root list gives the anchor texts, unescaped and stripped.
        """
        body = (
            b"<!DOCTYPE html><html><body>"
            b'<a href="/simple/frob/">Frob</a>\n'
            b'<a href="/simple/a-b/"> A&amp;B </a>\n'
            b'<a href="/simple/empty/"></a>'
            b"</body></html>"
        )
        self.assertEqual(parseListHTML(body), ProjectList(names=("Frob", "A&B")))

    def test_dispatch(self) -> None:
        """
        L{parseList} picks the parser by content type.
        """
        jsonBody = b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "j"}]}'
        htmlBody = b'<a href="h/">h</a>'
        self.assertEqual(parseList(jsonBody, JSON_TYPE).names, ("j",))
        self.assertEqual(parseList(htmlBody, "text/html; charset=utf-8").names, ("h",))
        self.assertEqual(parseList(htmlBody, "application/vnd.pypi.simple.v1+html").names, ("h",))


def compactList(projects: List[Any], meta: Any = None, **extra: Any) -> str:
    """
    A root list spelled as indexes write it: compact JSON.
    """
    page = {"meta": {"api-version": "1.1"} if meta is None else meta, "projects": projects}
    page.update(extra)
    return json.dumps(page, separators=(",", ":"))


#: Names as valid projects spell them (letters, digits, C{._-}).
_plainNames = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=12),
    max_size=40,
)


class CompactListTests(SynchronousTestCase):
    """
    A root list in compact JSON (the spelling of the public index and of
    cheesecache itself, hundreds of thousands of names) is decoded by a
    faster path than other spellings, with the same results.
    """

    @given(_plainNames, st.sampled_from(["none", "before", "after"]))
    def test_sameAsSpacedSpelling(self, names: List[str], serial: str) -> None:
        """
        The compact list gives the names the same list spelled with spaces
        gives, with or without a C{_last-serial} before or after the name.
        """
        projects: List[Dict[str, Any]] = []
        for i, name in enumerate(names):
            if serial == "before":
                projects.append({"_last-serial": i, "name": name})
            elif serial == "after":
                projects.append({"name": name, "_last-serial": i})
            else:
                projects.append({"name": name})
        spaced = json.dumps({"meta": {"api-version": "1.1"}, "projects": projects})
        self.assertEqual(parseListJSON(compactList(projects)).names, tuple(names))
        self.assertEqual(parseListJSON(spaced).names, tuple(names))

    def test_otherSpellings(self) -> None:
        """
        Lists the faster path does not read (escapes, non-ASCII names, other
        keys, nested meta, trailing space, no projects) are read in full.
        """
        cases = [
            (compactList([{"name": "a"}, {"name": "caf\u00e9"}]), ("a", "caf\u00e9")),
            ('{"meta":{},"projects":[{"name":"a"},{"name":"caf\u00e9"}]}', ("a", "caf\u00e9")),
            (compactList([{"name": "a"}, {"name": "q\"uote"}]), ("a", 'q"uote')),
            (compactList([{"name": "a", "extra": 1}, {"name": "b"}]), ("a", "b")),
            (compactList([{"name": "a"}], meta={"api-version": "1.0", "x": {"y": 1}}), ("a",)),
            (compactList([{"name": "a"}], tail=True), ("a",)),
            (compactList([{"name": "a"}, {"name": "b"}]) + "\n", ("a", "b")),
            (compactList([]), ()),
        ]
        for body, names in cases:
            self.assertEqual(parseListJSON(body).names, names, body)
            self.assertEqual(parseListJSON(body.encode("utf-8")).names, names, body)

    def test_errorsStillErrors(self) -> None:
        """
        A compact list that is not valid JSON, or of an API major version
        other than 1, is rejected as from the general parser.
        """
        good = compactList([{"name": "a"}, {"name": "b"}])
        for body in (
            good.replace(']', ',]'),
            good.replace('{"name":"b"}', '{"name":"b"'),
            good + "x",
            good[:-1],
            compactList([{"name": "a"}], meta={"api-version": "2.0"}),
        ):
            self.assertRaises(ParseError, parseListJSON, body)

    def test_steps(self) -> None:
        """
        A compact list is decoded a few thousand names per step.
        """
        names = [f"project-{i}" for i in range(3 * PLAIN_STEP_PROJECTS + 1)]
        steps = parseListSteps(compactList([{"name": n} for n in names]), JSON_TYPE)
        pauses = 0
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result = done.value
                break
            pauses += 1
        self.assertEqual(result.names, tuple(names))
        self.assertEqual(pauses, 3)


class HandProjectJSONTests(SynchronousTestCase):
    """
    Tests for L{handProjectJSONSteps}.
    """

    def test_filesHandedNotKept(self) -> None:
        """
        Each file goes to C{onFile}, in page order, as L{parseProjectJSON}
        makes it; the page comes without files but with the rest.
        """
        body = jsonPage(
            [jsonFile(filename=f"foo_bar-1.{i}.tar.gz", url=f"../../p/foo_bar-1.{i}.tar.gz")
             for i in range(600)],
            versions=["1.0", "2.0"],
            **{"project-status": {"status": "archived", "reason": "done"}},
        )
        handed: List[DistFile] = []
        page = finish(handProjectJSONSteps(body, BASE, "foo-bar", handed.append))
        whole = parseProjectJSON(body, BASE, "foo-bar")
        self.assertEqual(handed, list(whole.files))
        self.assertEqual(page, attrs.evolve(whole, files=()))

    def test_errorsAsParsing(self) -> None:
        """
        A page that does not parse fails the same way.
        """
        for body in (b"{", jsonPage([{"filename": "x"}]), b'{"files": 3}'):
            self.assertRaises(
                ParseError, finish, handProjectJSONSteps(body, BASE, "foo-bar", lambda f: None)
            )


class ProjectDispatchTests(SynchronousTestCase):
    """
    Tests for L{parseProject}.
    """

    def test_json(self) -> None:
        """
        A JSON content type (with parameters) is parsed as JSON.
        """
        page = parseProject(jsonPage([jsonFile()]), JSON_TYPE + "; charset=utf-8", BASE, "x")
        self.assertEqual(page.name, "foo-bar")
        self.assertEqual(page.files[0].filename, "foo_bar-1.0.tar.gz")

    def test_html(self) -> None:
        """
        Any other content type is parsed as HTML.
        """
        page = parseProject(
            htmlPage('<a href="f-1.0.tar.gz">f</a>'), "text/html", BASE, "Foo.Bar"
        )
        self.assertEqual((page.name, page.files[0].filename), ("foo-bar", "f-1.0.tar.gz"))

    def test_jsonBodyWithHTMLTypeIsNotJSON(self) -> None:
        """
        The content type decides, not the body: a JSON body announced as HTML
        lists no files.
        """
        page = parseProject(jsonPage([jsonFile()]), "text/html", BASE, "foo-bar")
        self.assertEqual(page.files, ())


class RealSampleTests(SynchronousTestCase):
    """
    Real pages from a public index (trimmed, hosts rewritten), in both
    representations.
    """

    def setUp(self) -> None:
        self.jsonPage = parseProjectJSON(
            DATA.child("requests.json").getContent(),
            "https://index.example.invalid/simple/requests/",
            "requests",
        )
        self.htmlPage = parseProjectHTML(
            DATA.child("requests.html").getContent(),
            "https://index.example.invalid/simple/requests/",
            "requests",
        )

    def byName(self, page: ProjectPage) -> Dict[str, DistFile]:
        """
        The page's files by filename.
        """
        return {f.filename: f for f in page.files}

    def test_sameFiles(self) -> None:
        """
        Both representations list the same seven files with the same URLs and
        sha256 digests.
        """
        j, h = self.byName(self.jsonPage), self.byName(self.htmlPage)
        self.assertEqual(len(j), 7)
        self.assertEqual(set(j), set(h))
        for name in j:
            self.assertEqual(j[name].url, h[name].url)
            self.assertEqual(j[name].sha256, h[name].sha256)
            self.assertEqual(len(j[name].sha256 or ""), 64)
            self.assertTrue(j[name].url.startswith("https://files.example.invalid/"))
            self.assertTrue(j[name].url.endswith("/" + name))

    def test_sameMarkers(self) -> None:
        """
        Both representations agree on requires-python and yanks.
        """
        j, h = self.byName(self.jsonPage), self.byName(self.htmlPage)
        for name in j:
            self.assertEqual(j[name].requiresPython, h[name].requiresPython, name)
            self.assertEqual(j[name].yanked, h[name].yanked, name)

    def test_requiresPythonWithLessThan(self) -> None:
        """
        The escaped C{&lt;} of the HTML page reads as C{<}, as in JSON.
        """
        f = self.byName(self.htmlPage)["requests-2.28.0-py3-none-any.whl"]
        self.assertEqual(f.requiresPython, ">=3.7, <4")

    def test_nullRequiresPython(self) -> None:
        """
        The JSON C{"requires-python": null} of an old release reads as absent.
        """
        self.assertIsNone(self.byName(self.jsonPage)["requests-2.9.2.tar.gz"].requiresPython)

    def test_yankReasons(self) -> None:
        """
        Yank reasons are kept exactly, trailing space included.
        """
        j = self.byName(self.jsonPage)
        self.assertEqual(
            j["requests-2.32.0.tar.gz"].yanked,
            "Yanked due to conflicts with CVE-2024-35195 mitigation",
        )
        self.assertEqual(
            j["requests-2.32.1-py3-none-any.whl"].yanked,
            "Yanked due to conflicts with CVE-2024-35195 mitigation ",
        )
        self.assertIs(j["requests-2.32.5-py3-none-any.whl"].yanked, False)

    def test_sizesAndUploadTimes(self) -> None:
        """
        The JSON page gives every file a size and an upload time; the HTML
        page gives neither.
        """
        for f in self.jsonPage.files:
            self.assertIsInstance(f.size, int)
            self.assertRegex(f.uploadTime or "", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        for f in self.htmlPage.files:
            self.assertIsNone(f.size)
            self.assertIsNone(f.uploadTime)

    def test_versions(self) -> None:
        """
        The JSON page's versions list is kept.
        """
        self.assertEqual(
            set(self.jsonPage.versions or ()), {"2.9.2", "2.28.0", "2.32.0", "2.32.1", "2.32.5"}
        )


class FileLocationTests(SynchronousTestCase):
    """
    L{fileLocation} takes a shortcut for plain absolute URLs; it must always
    agree with resolving them the long way (and making them sendable, see
    L{sendableURL}).
    """

    BASE = "https://index.example.invalid/simple/foo/"

    def test_examples(self) -> None:
        from urllib.parse import urldefrag, urljoin

        from cheesecache.simple.parse import fileLocation, sendableURL

        for url in [
            "https://files.example.invalid/packages/ab/cd/foo-1.0.tar.gz",
            "http://127.0.0.1:8700/packages/foo-1.0.tar.gz",
            "https://files.example.invalid/p/foo-1.0.tar.gz#sha256=" + "a" * 64,
            "https://files.example.invalid/p/foo-1.0.tar.gz?x=1",
            "https://files.example.invalid/p/a/../foo-1.0.tar.gz",
            "HTTPS://files.example.invalid/p/foo.tar.gz",
            "https://files.example.invalid/p/foo 1.tar.gz",
            "https://files.example.invalid/p/foo\t1.tar.gz",
            " https://files.example.invalid/p/foo.tar.gz",
            "https://files.example.invalid/p;x/foo.tar.gz",
            "https://[::1]:8080/p/foo.tar.gz",
            "../../packages/foo-1.0.tar.gz",
            "/packages/foo-1.0.tar.gz",
            "//other.example.invalid/foo.tar.gz",
            "foo-1.0.tar.gz#md5=00",
        ]:
            self.assertEqual(
                fileLocation(self.BASE, url),
                sendableURL(urldefrag(urljoin(self.BASE, url))[0]),
                url,
            )

    def test_property(self) -> None:
        from urllib.parse import urldefrag, urljoin

        from hypothesis import given, settings
        from hypothesis import strategies as st

        from cheesecache.simple.parse import fileLocation, sendableURL

        @settings(max_examples=500, deadline=None)
        @given(
            st.sampled_from(["https://", "http://", "HTTP://", "", "/", "../", "//"]),
            st.one_of(
                st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
                st.text(st.sampled_from(string.printable), max_size=40),
                st.builds(
                    "{}/{}".format,
                    st.text(st.sampled_from(string.printable), max_size=12),
                    st.text(st.sampled_from(string.printable), max_size=30),
                ),
            ),
        )
        def agrees(prefix: str, rest: str) -> None:
            url = prefix + rest
            try:
                expected = sendableURL(urldefrag(urljoin(self.BASE, url))[0])
            except ValueError:
                return  # malformed (e.g. a bad IPv6 host): the slow path raises too
            self.assertEqual(fileLocation(self.BASE, url), expected, repr(url))

        agrees()


_filenames = st.one_of(
    st.sampled_from(["foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl", "foo-2.0.zip"]),
    st.text(string.ascii_letters + string.digits + '._-~ "\\/\u00e9', min_size=1, max_size=12),
)
_digests = st.sampled_from(["a" * 64, "b" * 64, "c" * 64])


def _fileEntries() -> st.SearchStrategy[Dict[str, Any]]:
    """
    File entries whose filenames and keys repeat, with nested objects and
    arrays before and after the filename, and strings holding what the
    search cuts at.
    """
    nested = st.one_of(
        st.builds(lambda d: {"sha256": d}, _digests),
        st.just([{"a": 1}, {"b": "},{\"c"}]),
        st.just("},{\"filename\":\"foo-1.0.tar.gz\"}]"),
    )
    return st.fixed_dictionaries(
        {"filename": _filenames, "hashes": st.builds(lambda d: {"sha256": d}, _digests)},
        optional={"core-metadata": nested, "url": st.just("https://f.example.invalid/x"), "zz": nested},
    )


class FindFileJSONTests(SynchronousTestCase):
    """
    L{parse.findFileJSON} finds a file on a compact page by searching its
    bytes, and finds the same file the page's decoding would.
    """

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_fileEntries(), min_size=1, max_size=6), _filenames, _digests, st.booleans())
    def test_sameAsDecoded(
        self, entries: List[Dict[str, Any]], filename: str, key: str, compact: bool
    ) -> None:
        """
        Whatever the page and the file asked for, the search in its bytes
        finds what decoding the page does (the text is decoded whole).
        """
        for entry in entries:
            entry.setdefault("url", "https://f.example.invalid/x")
        separators = (",", ":") if compact else (", ", ": ")
        text = json.dumps({"files": entries, "meta": {"api-version": "1.1"}}, separators=separators)
        asked = [(filename, key)] + [(e["filename"], e["hashes"]["sha256"]) for e in entries]
        for name, digest in asked:
            self.assertEqual(
                parse.findFileJSON(text.encode("utf-8"), BASE, digest, name),
                parse.findFileJSON(text, BASE, digest, name),
            )

    def test_searched(self) -> None:
        """
        On a compact page, a file is found without decoding the page: the
        first of the files with its filename that is listed under its key,
        with its core metadata, wherever it is on the page.
        """
        entries = [
            {"filename": f"foo-1.{i}.tar.gz", "hashes": {"sha256": "%064x" % i}, "url": f"https://f.example.invalid/{i}"}
            for i in range(50)
        ]
        entries[0]["core-metadata"] = {"sha256": "d" * 64}
        entries.insert(30, {**entries[20], "hashes": {"sha256": "e" * 64}})
        body = json.dumps({"files": entries}, separators=(",", ":")).encode()
        self.patch(parse, "_findFileJSONSteps", lambda *a: self.fail("decoded the page"))
        first = parse.findFileJSON(body, BASE, "%064x" % 0, "foo-1.0.tar.gz")
        self.assertEqual((first.url, first.coreMetadata), ("https://f.example.invalid/0", {"sha256": "d" * 64}))
        self.assertEqual(parse.findFileJSON(body, BASE, "%064x" % 49, "foo-1.49.tar.gz").url, "https://f.example.invalid/49")
        again = parse.findFileJSON(body, BASE, "e" * 64, "foo-1.20.tar.gz")
        self.assertEqual((again.filename, again.sha256), ("foo-1.20.tar.gz", "e" * 64))

    def test_otherwiseDecoded(self) -> None:
        """
        A page written with spaces, or a filename JSON escapes, is decoded
        to find the file; so is a file the search does not find.
        """
        entry = {"filename": "foo\u00e9-1.0.tar.gz", "hashes": {"sha256": SHA}, "url": "https://f.example.invalid/x"}
        decoded = []
        real = parse._findFileJSONSteps

        def counting(*args: Any) -> Any:
            decoded.append(args[3])
            return real(*args)

        self.patch(parse, "_findFileJSONSteps", counting)
        compact = json.dumps({"files": [entry]}, separators=(",", ":")).encode()
        spaced = json.dumps({"files": [dict(entry, filename="foo-1.0.tar.gz")]}).encode()
        self.assertEqual(parse.findFileJSON(compact, BASE, SHA, "foo\u00e9-1.0.tar.gz").url, entry["url"])
        self.assertEqual(parse.findFileJSON(spaced, BASE, SHA, "foo-1.0.tar.gz").url, entry["url"])
        self.assertIsNone(parse.findFileJSON(compact, BASE, SHA, "foo-2.0.tar.gz"))
        self.assertEqual(decoded, ["foo\u00e9-1.0.tar.gz", "foo-1.0.tar.gz", "foo-2.0.tar.gz"])


class LoadStreamingOnRunTests(SynchronousTestCase):
    """
    L{loadStreamingSteps} offers each run of an array's objects, as text,
    to C{onRun} before decoding it.
    """

    def setUp(self) -> None:
        self.patch(parse, "DECODE_AT_ONCE", 0)
        self.items = [{"n": i, "s": "x" * i} for i in range(7)]
        self.patch(parse, "RUN_CHARS", len(json.dumps(self.items[0])) + 1)
        self.text = json.dumps({"files": self.items, "k": 1}, separators=(",", ":"))
        self.offered: List[List[Any]] = []

    def load(self, take: Callable[[List[Any]], bool]) -> Tuple[Any, List[Any]]:
        seen: List[Any] = []

        def onRun(text: str, start: int, end: int) -> bool:
            run = json.loads("[" + text[start:end] + "]")
            self.offered.append(run)
            return take(run)

        value = finish(loadStreamingSteps(self.text, ("files",), seen.append, onRun))
        return value, seen

    def test_taken(self) -> None:
        """
        The objects of the runs C{onRun} takes, the last one too (from the
        last boundary to the array's end), are not decoded and handed on;
        the rest are, in order.  Every object is offered once.
        """
        value, seen = self.load(lambda run: run[0]["n"] != 2)
        self.assertEqual(self.offered, [self.items[:2], self.items[2:4], self.items[4:6], self.items[6:]])
        self.assertEqual(seen, self.items[2:4])
        self.assertEqual(value["k"], 1)

    def test_lastRefused(self) -> None:
        """
        The last run refused, its objects are decoded one by one.
        """
        value, seen = self.load(lambda run: run[0]["n"] < 6)
        self.assertEqual(seen, self.items[6:])

    def test_lastRunIsTheRest(self) -> None:
        """
        The last run offered ends at the first closing bracket after its
        start: a bracket inside a string makes a run that is not whole
        objects, which the taker refuses.
        """
        self.items[6]["s"] = "a]b"
        self.text = json.dumps({"files": self.items}, separators=(",", ":"))
        offeredTexts: List[str] = []

        def onRun(text: str, start: int, end: int) -> bool:
            offeredTexts.append(text[start:end])
            return False

        seen: List[Any] = []
        value = finish(loadStreamingSteps(self.text, ("files",), seen.append, onRun))
        self.assertEqual(offeredTexts[-1], json.dumps(self.items[6], separators=(",", ":"))[:-4])
        self.assertEqual(seen, self.items)
        self.assertEqual(value["files"], [None] * 7)

    def test_spacedNotOfferedWhole(self) -> None:
        """
        An array written with spaces has no runs, and its rest is not
        offered whole as a last run (a copy of a big page's files): only
        a rest shorter than two runs is.
        """
        self.text = json.dumps({"files": self.items * 20})
        value, seen = self.load(lambda run: True)
        self.assertEqual(self.offered, [])
        self.assertEqual(seen, self.items * 20)
