"""
Tests for L{cheesecache.simple.render}.
"""

from __future__ import annotations

import json
from html import escape
from html.parser import HTMLParser
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple.model import DistFile, ProjectList, ProjectPage
from cheesecache.simple.names import isSafeFilename, normalize
from cheesecache.simple.parse import (
    parseListHTML,
    parseListJSON,
    parseProjectHTML,
    parseProjectJSON,
)
from cheesecache.simple import render
from cheesecache.simple.render import (
    ProjectJSONWriter,
    HTML_TYPE,
    JSON_TYPE,
    TEXT_HTML,
    apiVersion,
    fileURL,
    listHTMLChunks,
    listJSONChunks,
    projectHTMLChunks,
    projectJSONChunks,
    renderListHTML,
    renderListJSON,
    renderProjectHTML,
    renderProjectJSON,
    versionOf,
)

DATA = FilePath(__file__).sibling("data")

#: Where cheesecache serves the project page of C{foo-bar}.
PAGE_URL = "https://cache.example.invalid/simple/foo-bar/"
SHA = "a" * 64
META_SHA = "b" * 64


def distFile(filename: str = "foo_bar-1.0.tar.gz", **fields: Any) -> DistFile:
    """
    A file with an upstream URL and a sha256 unless overridden.
    """
    fields.setdefault("url", f"https://files.example.invalid/p/{filename}")
    fields.setdefault("hashes", {"sha256": SHA})
    return DistFile(filename=filename, **fields)


#: The fixture of SIMPLE-API.md section 6.
FIXTURE = ProjectPage(
    name="foo-bar",
    files=[
        distFile(
            "foo_bar-1.0-py3-none-any.whl",
            hashes={"sha256": "1" * 64},
            requiresPython=">=3.8,<4",
            coreMetadata={"sha256": META_SHA},
            size=100,
            uploadTime="2026-01-02T03:04:05.123456Z",
        ),
        distFile("foo_bar-1.0.tar.gz", hashes={"sha256": "2" * 64}, size=200),
        distFile("foo_bar-0.9.tar.gz", hashes={"sha256": "3" * 64}, yanked="broken", size=300),
        distFile("foo_bar-0.8.tar.gz", hashes={"sha256": "4" * 64}, yanked=True, size=400),
        distFile(
            "foo_bar-2.0+local-py3-none-any.whl", hashes={"sha256": "5" * 64}, size=500
        ),
    ],
)


class _Anchors(HTMLParser):
    """
    The anchors of a page, with their attributes as C{html.parser} (and so
    pip) reads them, and the C{<meta>} tags.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: List[Tuple[Dict[str, Optional[str]], str]] = []
        self.meta: Dict[str, Optional[str]] = {}
        self._current: Optional[Dict[str, Optional[str]]] = None
        self._text: List[str] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self._text = []
        elif tag == "meta":
            d = dict(attrs)
            self.meta[str(d.get("name"))] = d.get("content")

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text)))
            self._current = None


def anchors(body: bytes) -> _Anchors:
    """
    Parse C{body} with the standard library's HTML parser.
    """
    parser = _Anchors()
    parser.feed(body.decode("utf-8"))
    parser.close()
    return parser


def walk(value: Any) -> Iterator[Tuple[Optional[str], Any]]:
    """
    Every (key, value) pair in a JSON document, recursively; list items have
    key C{None}.
    """
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield None, v
            yield from walk(v)


class FileURLTests(SynchronousTestCase):
    """
    Tests for L{fileURL}.
    """

    def test_shape(self) -> None:
        """
        The URL is relative and resolves to
        C{/files/<name>/<sha256>/<filename>} from the project page.
        """
        url = fileURL("foo-bar", distFile())
        self.assertFalse(urlsplit(url).scheme)
        self.assertFalse(urlsplit(url).netloc)
        self.assertEqual(
            urljoin(PAGE_URL, url),
            f"https://cache.example.invalid/files/foo-bar/{SHA}/foo_bar-1.0.tar.gz",
        )

    def test_plusEncoded(self) -> None:
        """
        A C{+} in the filename is percent-encoded and decodes back to it.
        """
        url = fileURL("foo-bar", distFile("foo_bar-2.0+local-py3-none-any.whl"))
        self.assertTrue(url.endswith("/foo_bar-2.0%2Blocal-py3-none-any.whl"), url)

    def test_unsafeCharactersEncoded(self) -> None:
        """
        C{?}, C{#}, C{/} and spaces in a filename are encoded, so the URL has
        no query, no fragment and still ends in the whole filename.
        """
        f = distFile("we?ird#na/me x.tar.gz")
        url = fileURL("foo-bar", f)
        self.assertNotIn("?", url)
        self.assertNotIn("#", url)
        self.assertEqual(unquote(url.rsplit("/", 1)[1]), "we?ird#na/me x.tar.gz")

    def test_withoutSha256(self) -> None:
        """
        A file without a sha256 gets a C{u}-key derived from its upstream URL.
        """
        url = fileURL("foo-bar", distFile(hashes={}))
        key = url.split("/")[-2]
        self.assertRegex(key, r"^u[0-9a-f]{64}$")
        other = fileURL("foo-bar", distFile(hashes={}, url="https://files.example.invalid/q/x"))
        self.assertNotEqual(url, other)


class VersionTests(SynchronousTestCase):
    """
    Tests for L{versionOf}, the rendered versions and L{apiVersion}.
    """

    def test_versionOfWheel(self) -> None:
        """
        A wheel's version is read from its filename, normalized.
        """
        self.assertEqual(versionOf("foo_bar-1.0-py3-none-any.whl"), "1.0")
        self.assertEqual(versionOf("foo_bar-2.0+local-py3-none-any.whl"), "2.0+local")
        self.assertEqual(versionOf("foo_bar-1.0-1-py3-none-any.whl"), "1.0")

    def test_versionOfAgreesWithPackaging(self) -> None:
        """
        For real wheel and sdist filenames (and some broken ones), the
        version read from the filename is the one packaging's full parse
        gives, and file
        URLs are what percent-encoding every filename would give.
        """
        from urllib.parse import quote

        from packaging.utils import (
            InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename,
        )

        from twisted.python.filepath import FilePath

        data = json.loads(FilePath(__file__).sibling("data").child("requests.json").getContent())
        names = [f["filename"] for f in data["files"]] + [
            "foo_bar-1.0-1-py3-none-any.whl", "foo_bar-1!2.0+local.7-py3-none-any.whl",
            "foo-1.0-x-py3-none-any.whl", "foo-nope-py3-none-any.whl", "foo-1.0-py3-any.whl",
            "foo bar-1.0-py3-none-any.whl", "f%o-1.0.tar.gz",
        ]
        names += [
            f"pkg_x-{version}{build}-{tags}.whl"
            for version in ("1.0", "2.0.0rc1", "1!2.0", "1.0.post1", "1.0.dev3", "3.2+local.1", "01.02", "1.0_a")
            for build in ("", "-1", "-2abc", "-x")
            for tags in ("py3-none-any", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "cp39-abi3-win_amd64")
        ]
        names += [
            f"pkg-x{version}{extension}"
            for version in ("-1.0", "-2.0.0rc1", "-1!2.0", "-01.02", "-1.0_a", "-x", "", "-1.0-2")
            for extension in (".tar.gz", ".zip")
        ]
        for name in names:
            if name.endswith(".whl"):
                try:
                    expected = str(parse_wheel_filename(name)[1])
                except InvalidWheelFilename:
                    expected = None
                if " " not in name:
                    self.assertEqual(versionOf(name), expected, name)
            else:
                try:
                    expected = str(parse_sdist_filename(name)[1])
                except InvalidSdistFilename:
                    expected = None
                self.assertEqual(versionOf(name), expected, name)
            f = distFile(name)
            self.assertEqual(
                fileURL("foo", f), f"../../files/foo/{f.key}/{quote(name, safe='')}", name
            )

    def test_versionOfSdist(self) -> None:
        """
        An sdist's version is read from its filename (C{.tar.gz} and C{.zip},
        and the older archives and eggs an index may still list, read the
        same way: PEP 700 wants every listed file's version listed).
        """
        self.assertEqual(versionOf("foo_bar-0.9.tar.gz"), "0.9")
        self.assertEqual(versionOf("foo_bar-1.0rc1.zip"), "1.0rc1")
        for filename, version in [
            ("foo-bar-0.8.tar.bz2", "0.8"), ("foo-0.7.tgz", "0.7"), ("foo-0.6.tar.xz", "0.6"),
            ("foo-0.5.tbz", "0.5"), ("foo-0.4.tar", "0.4"), ("foo_bar-0.3-py2.7.egg", "0.3"),
            ("foo_bar-0.2-py2.7-linux-x86_64.egg", "0.2"), ("foo_bar-0.1.egg", "0.1"),
        ]:
            self.assertEqual(versionOf(filename), version, filename)

    def test_versionOfUnreadable(self) -> None:
        """
        Filenames that carry no readable version give C{None}.
        """
        for filename in ("foo_bar-1.0.exe", "foo_bar.tar.gz", "foo_bar-notaversion.tar.gz",
                         "x.whl", "foo_bar.egg", "foo_bar-x-py2.7.egg", "foo-x.tgz"):
            self.assertIsNone(versionOf(filename), filename)

    def test_versionsIncludeEveryFile(self) -> None:
        """
        Every file's version is in the versions list.
        """
        self.assertEqual(set(renderedVersions(FIXTURE)), {"1.0", "0.9", "0.8", "2.0+local"})

    def test_versionsKeepSourceList(self) -> None:
        """
        The source's versions come first and stay, even without files; file
        versions are added once.
        """
        page = attrs.evolve(FIXTURE, versions=["3.0", "1.0"])
        result = renderedVersions(page)
        self.assertEqual(result[:2], ["3.0", "1.0"])
        self.assertEqual(set(result), {"3.0", "1.0", "0.9", "0.8", "2.0+local"})
        self.assertEqual(len(result), len(set(result)))

    def test_apiVersion(self) -> None:
        """
        1.1 when every file has a size, 1.0 as soon as one lacks it.
        """
        self.assertEqual(apiVersion(FIXTURE.files), "1.1")
        self.assertEqual(apiVersion([distFile(size=0)]), "1.1")
        self.assertEqual(apiVersion([distFile(size=1), distFile(size=None)]), "1.0")


def renderedVersions(page: ProjectPage) -> List[str]:
    """
    The PEP 700 versions C{page}'s JSON lists.
    """
    return json.loads(renderProjectJSON(page))["versions"]  # type: ignore[no-any-return]


def versions(page: ProjectPage) -> List[str]:
    """
    The PEP 700 versions a rendered page must list: the source's, then
    every file's version it lacks, once each.
    """
    seen: Dict[str, None] = dict.fromkeys(page.versions or ())
    for f in page.files:
        v = versionOf(f.filename)
        if v is not None:
            seen.setdefault(v, None)
    return list(seen)


class ProjectJSONTests(SynchronousTestCase):
    """
    Tests for L{renderProjectJSON}.
    """

    def setUp(self) -> None:
        self.data = json.loads(renderProjectJSON(FIXTURE))
        self.files = {f["filename"]: f for f in self.data["files"]}

    def test_shape(self) -> None:
        """
        The page has the api-version, the normalized name, versions and files.
        """
        self.assertEqual(self.data["meta"], {"api-version": "1.1"})
        self.assertEqual(self.data["name"], "foo-bar")
        self.assertEqual(set(self.data["versions"]), {"1.0", "0.9", "0.8", "2.0+local"})
        self.assertEqual(len(self.data["files"]), 5)

    def test_everyFileHasRequiredKeys(self) -> None:
        """
        Every entry has a string filename and url and a hashes object with the
        sha256.
        """
        for f in FIXTURE.files:
            entry = self.files[f.filename]
            self.assertIsInstance(entry["url"], str)
            self.assertEqual(entry["hashes"], {"sha256": f.sha256})
            self.assertEqual(entry["size"], f.size)

    def test_neverNull(self) -> None:
        """
        No value anywhere in the document is C{null}, even for files with
        every optional field missing.
        """
        page = ProjectPage(
            name="foo-bar",
            files=[*FIXTURE.files, DistFile("foo_bar-0.1.tar.gz", "https://files.example.invalid/x")],
            status=("archived", None),
        )
        for key, value in walk(json.loads(renderProjectJSON(page))):
            self.assertIsNotNone(value, key)

    def test_hashesAlwaysPresent(self) -> None:
        """
        A file without hashes still has C{"hashes": {}}.
        """
        page = ProjectPage(name="foo-bar", files=[distFile(hashes={})])
        self.assertEqual(json.loads(renderProjectJSON(page))["files"][0]["hashes"], {})

    def test_neverDistInfoMetadata(self) -> None:
        """
        No key C{dist-info-metadata}; C{core-metadata} and the optional
        C{data-dist-info-metadata} carry the same value.
        """
        keys = {k for k, _ in walk(self.data)}
        self.assertNotIn("dist-info-metadata", keys)
        wheel = self.files["foo_bar-1.0-py3-none-any.whl"]
        self.assertEqual(wheel["core-metadata"], {"sha256": META_SHA})
        self.assertEqual(wheel["data-dist-info-metadata"], wheel["core-metadata"])

    def test_coreMetadataTrue(self) -> None:
        """
        Metadata without a hash is C{true}.
        """
        page = ProjectPage(name="foo-bar", files=[distFile(coreMetadata=True)])
        entry = json.loads(renderProjectJSON(page))["files"][0]
        self.assertIs(entry["core-metadata"], True)
        self.assertNotIn("dist-info-metadata", entry)

    def test_noMetadataNoKeys(self) -> None:
        """
        Files without metadata have none of the metadata keys.
        """
        sdist = self.files["foo_bar-1.0.tar.gz"]
        for key in ("core-metadata", "data-dist-info-metadata", "dist-info-metadata"):
            self.assertNotIn(key, sdist)

    def test_yanked(self) -> None:
        """
        A reason is a string, a reasonless yank is C{true}, never C{""}; a
        file that is not yanked has C{false} or no key.
        """
        self.assertEqual(self.files["foo_bar-0.9.tar.gz"]["yanked"], "broken")
        self.assertIs(self.files["foo_bar-0.8.tar.gz"]["yanked"], True)
        self.assertIs(self.files["foo_bar-1.0.tar.gz"].get("yanked", False), False)
        for entry in self.data["files"]:
            self.assertNotEqual(entry.get("yanked"), "")

    def test_requiresPythonRaw(self) -> None:
        """
        C{requires-python} is the raw string, not HTML-escaped; files without
        one have no key.
        """
        raw = renderProjectJSON(FIXTURE)
        self.assertEqual(self.files["foo_bar-1.0-py3-none-any.whl"]["requires-python"], ">=3.8,<4")
        self.assertNotIn(b"&gt;", raw)
        self.assertNotIn("requires-python", self.files["foo_bar-1.0.tar.gz"])

    def test_uploadTimeAndProvenance(self) -> None:
        """
        Upload time and provenance are passed through when known, omitted
        otherwise.
        """
        page = ProjectPage(
            name="foo-bar",
            files=[
                distFile(uploadTime="2026-01-02T03:04:05Z", provenance="https://p.example.invalid/1"),
                distFile("foo_bar-1.1.tar.gz"),
            ],
        )
        first, second = json.loads(renderProjectJSON(page))["files"]
        self.assertEqual(first["upload-time"], "2026-01-02T03:04:05Z")
        self.assertEqual(first["provenance"], "https://p.example.invalid/1")
        self.assertNotIn("upload-time", second)
        self.assertNotIn("provenance", second)

    def test_urls(self) -> None:
        """
        File URLs are relative, same-origin, query-free, end in the filename
        and do not reveal the upstream URL.
        """
        for f in FIXTURE.files:
            url = self.files[f.filename]["url"]
            parts = urlsplit(url)
            self.assertEqual((parts.scheme, parts.netloc, parts.query, parts.fragment), ("", "", "", ""))
            self.assertEqual(unquote(url.rsplit("/", 1)[1]), f.filename)
            self.assertNotIn("files.example.invalid", url)
            resolved = urljoin(PAGE_URL, url)
            self.assertTrue(resolved.startswith("https://cache.example.invalid/files/"), resolved)

    def test_apiVersion10WhenSizeMissing(self) -> None:
        """
        A page with a file without size advertises api-version 1.0 and has no
        C{size} key for that file.
        """
        page = attrs.evolve(FIXTURE, files=[*FIXTURE.files, distFile("foo_bar-0.1.tar.gz")])
        data = json.loads(renderProjectJSON(page))
        self.assertEqual(data["meta"]["api-version"], "1.0")
        self.assertNotIn("size", data["files"][-1])

    def test_versionsIncludeEveryFile(self) -> None:
        """
        Every listed file's version is in C{versions}, also when the source's
        list lacks it.
        """
        page = attrs.evolve(FIXTURE, versions=["1.0"])
        data = json.loads(renderProjectJSON(page))
        for entry in data["files"]:
            self.assertIn(versionOf(entry["filename"]), data["versions"])

    def test_status(self) -> None:
        """
        A project status is a top-level object, with its reason when there is
        one; no status, no key.
        """
        self.assertNotIn("project-status", self.data)
        data = json.loads(renderProjectJSON(attrs.evolve(FIXTURE, status=("deprecated", "old"))))
        self.assertEqual(data["project-status"], {"status": "deprecated", "reason": "old"})
        self.assertNotIn("project-status", data["meta"])
        data = json.loads(renderProjectJSON(attrs.evolve(FIXTURE, status=("archived", None))))
        self.assertEqual(data["project-status"], {"status": "archived"})

    def test_unicode(self) -> None:
        """
        The body is UTF-8 JSON, non-ASCII text included.
        """
        page = ProjectPage(name="foo-bar", files=[distFile(yanked="caf\u00e9 \u2603")])
        body = renderProjectJSON(page)
        self.assertEqual(json.loads(body.decode("utf-8"))["files"][0]["yanked"], "caf\u00e9 \u2603")


class ProjectHTMLTests(SynchronousTestCase):
    """
    Tests for L{renderProjectHTML}.
    """

    def setUp(self) -> None:
        self.body = renderProjectHTML(FIXTURE)
        self.parsed = anchors(self.body)
        self.byText = {text: attributes for attributes, text in self.parsed.anchors}

    def test_oneAnchorPerFile(self) -> None:
        """
        There is exactly one anchor per file, its text the filename.
        """
        self.assertEqual(
            [text for _, text in self.parsed.anchors], [f.filename for f in FIXTURE.files]
        )

    def test_repositoryVersion(self) -> None:
        """
        The page declares a 1.x repository version and is a full document.
        """
        self.assertRegex(self.parsed.meta["pypi:repository-version"] or "", r"^1\.\d+$")
        self.assertTrue(self.body.startswith(b"<!DOCTYPE html>"))
        self.assertIn(b"<title>Links for foo-bar</title>", self.body)

    def test_hrefs(self) -> None:
        """
        Each href is relative, has no query, ends in the filename and carries
        C{#sha256=<hex>}.
        """
        for f in FIXTURE.files:
            href = self.byText[f.filename]["href"] or ""
            url, fragment = urldefrag(href)
            self.assertEqual(fragment, f"sha256={f.sha256}")
            parts = urlsplit(url)
            self.assertEqual((parts.scheme, parts.netloc, parts.query), ("", "", ""))
            self.assertEqual(unquote(url.rsplit("/", 1)[1]), f.filename)
            self.assertEqual(url, fileURL("foo-bar", f))

    def test_fragmentWithoutSha256(self) -> None:
        """
        A file without a sha256 gives the strongest other hash that pip and
        uv both read, so that they check it too; one with only hashes uv
        would refuse the whole page for (sha1, sha224) has no fragment.  So
        it is for core metadata, which is then said to be there (C{true}).
        """
        for listed, fragment in [
            ({"md5": "0" * 32, "sha1": "1" * 40}, "md5=" + "0" * 32),
            ({"md5": "0" * 32, "sha384": "3" * 96}, "sha384=" + "3" * 96),
            ({"sha384": "3" * 96, "sha512": "5" * 128}, "sha512=" + "5" * 128),
            ({"sha1": "1" * 40, "sha224": "2" * 56}, ""),
        ]:
            page = ProjectPage(
                name="foo-bar",
                files=[distFile(hashes=listed, coreMetadata=listed)],
            )
            ((attributes, _),) = anchors(renderProjectHTML(page)).anchors
            self.assertEqual(urldefrag(attributes["href"] or "")[1], fragment)
            self.assertEqual(attributes["data-core-metadata"], fragment or "true")

    def test_requiresPythonEscaped(self) -> None:
        """
        C{<} and C{>} of requires-python are escaped in the raw body and read
        back unescaped.
        """
        self.assertIn(b'data-requires-python="&gt;=3.8,&lt;4"', self.body)
        self.assertEqual(
            self.byText["foo_bar-1.0-py3-none-any.whl"]["data-requires-python"], ">=3.8,<4"
        )
        self.assertNotIn("data-requires-python", self.byText["foo_bar-1.0.tar.gz"])

    def test_quotesEscaped(self) -> None:
        """
        Quotes and ampersands in attribute values cannot break out of them.
        """
        page = ProjectPage(
            name="foo-bar",
            files=[distFile(yanked='bad" onclick="x & y', requiresPython="'>=3'")],
        )
        ((attributes, _),) = anchors(renderProjectHTML(page)).anchors
        self.assertEqual(attributes["data-yanked"], 'bad" onclick="x & y')
        self.assertEqual(attributes["data-requires-python"], "'>=3'")
        self.assertNotIn("onclick", attributes)

    def test_yanked(self) -> None:
        """
        A reason is the attribute value, a reasonless yank is
        C{data-yanked=""} (never bare), no yank no attribute.
        """
        self.assertIn(b'data-yanked="broken"', self.body)
        self.assertIn(b'data-yanked=""', self.body)
        self.assertNotRegex(self.body, rb"data-yanked(?!=)")
        self.assertEqual(self.byText["foo_bar-0.9.tar.gz"]["data-yanked"], "broken")
        self.assertEqual(self.byText["foo_bar-0.8.tar.gz"]["data-yanked"], "")
        self.assertNotIn("data-yanked", self.byText["foo_bar-1.0.tar.gz"])

    def test_coreMetadata(self) -> None:
        """
        Files with metadata have C{data-core-metadata} and
        C{data-dist-info-metadata} with the same C{sha256=<hex>}; others have
        neither.
        """
        wheel = self.byText["foo_bar-1.0-py3-none-any.whl"]
        self.assertEqual(wheel["data-core-metadata"], f"sha256={META_SHA}")
        self.assertEqual(wheel["data-dist-info-metadata"], wheel["data-core-metadata"])
        sdist = self.byText["foo_bar-1.0.tar.gz"]
        self.assertNotIn("data-core-metadata", sdist)
        self.assertNotIn("data-dist-info-metadata", sdist)

    def test_coreMetadataTrue(self) -> None:
        """
        Metadata without a hash is C{"true"}.
        """
        page = ProjectPage(name="foo-bar", files=[distFile(coreMetadata=True)])
        ((attributes, _),) = anchors(renderProjectHTML(page)).anchors
        self.assertEqual(attributes["data-core-metadata"], "true")
        self.assertEqual(attributes["data-dist-info-metadata"], "true")

    def test_coreMetadataPrefersSha256(self) -> None:
        """
        With several metadata hashes, the sha256 one is advertised.
        """
        page = ProjectPage(
            name="foo-bar", files=[distFile(coreMetadata={"md5": "0" * 32, "sha256": META_SHA})]
        )
        ((attributes, _),) = anchors(renderProjectHTML(page)).anchors
        self.assertEqual(attributes["data-core-metadata"], f"sha256={META_SHA}")

    def test_filenameEscaped(self) -> None:
        """
        The anchor text is the HTML-escaped filename.
        """
        page = ProjectPage(name="foo-bar", files=[distFile("a<b>&c-1.0.tar.gz")])
        body = renderProjectHTML(page)
        self.assertNotIn(b"a<b>", body)
        self.assertEqual(anchors(body).anchors[0][1], "a<b>&c-1.0.tar.gz")

    def test_status(self) -> None:
        """
        A project status goes into the head as PEP 792 meta tags.
        """
        parsed = anchors(renderProjectHTML(attrs.evolve(FIXTURE, status=("archived", "done"))))
        self.assertEqual(parsed.meta["pypi:project-status"], "archived")
        self.assertEqual(parsed.meta["pypi:project-status-reason"], "done")
        self.assertNotIn("pypi:project-status", self.parsed.meta)


class ListTests(SynchronousTestCase):
    """
    Tests for L{renderListJSON} and L{renderListHTML}.
    """

    names = ProjectList(names=["Frob", "spam_eggs", "Zope.Interface", "A&B"])

    def test_json(self) -> None:
        """
        The JSON list is an object with the api-version and one C{name} object
        per project.
        """
        data = json.loads(renderListJSON(self.names))
        self.assertRegex(data["meta"]["api-version"], r"^1\.\d+$")
        self.assertEqual(
            data["projects"],
            [{"name": "Frob"}, {"name": "spam_eggs"}, {"name": "Zope.Interface"}, {"name": "A&B"}],
        )

    def test_html(self) -> None:
        """
        The HTML list links each project's normalized, percent-encoded name
        relative to C{/simple/}, with the escaped display name as text.
        """
        body = renderListHTML(self.names)
        parsed = anchors(body)
        self.assertRegex(parsed.meta["pypi:repository-version"] or "", r"^1\.\d+$")
        self.assertEqual(
            [(a["href"], text) for a, text in parsed.anchors],
            [
                ("frob/", "Frob"),
                ("spam-eggs/", "spam_eggs"),
                ("zope-interface/", "Zope.Interface"),
                ("a%26b/", "A&B"),
            ],
        )
        self.assertIn(b"A&amp;B", body)

    def test_roundTrip(self) -> None:
        """
        Parsing either rendered list gives the names back.
        """
        self.assertEqual(parseListJSON(renderListJSON(self.names)), self.names)
        self.assertEqual(parseListHTML(renderListHTML(self.names)), self.names)

    def test_empty(self) -> None:
        """
        An empty list renders and parses back empty.
        """
        self.assertEqual(parseListJSON(renderListJSON(ProjectList())).names, ())
        self.assertEqual(parseListHTML(renderListHTML(ProjectList())).names, ())


    @given(st.lists(st.one_of(
        st.text(alphabet="abcXYZ019._-", max_size=8),
        st.text(max_size=8),
    ), max_size=12))
    @settings(max_examples=200)
    def test_anyNames(self, names: List[str]) -> None:
        """
        Whatever the names (plain, or needing escapes, quoting, non-ASCII),
        in batches of two, the lists are what encoding each name on its own
        gives.
        """
        self.patch(render, "CHUNK_ITEMS", 2)
        projects = ProjectList(names=names)
        expectedJSON = json.dumps(
            {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]},
            separators=(",", ":"), ensure_ascii=False,
        ).encode("utf-8")
        self.assertEqual(renderListJSON(projects), expectedJSON)
        lines = [f'    <a href="{quote(normalize(n))}/">{escape(n)}</a>\n' for n in names]
        body = renderListHTML(projects)
        self.assertIn("".join(lines).encode("utf-8") + b"  </body>", body)


class PiecesTests(SynchronousTestCase):
    """
    The C{...Chunks} renderers give a page in pieces of at most
    L{CHUNK_ITEMS} files or names, which together are the page rendered
    whole.
    """

    def setUp(self) -> None:
        self.pages = [
            FIXTURE,
            attrs.evolve(FIXTURE, status=("archived", "caf\u00e9 <moved>")),
            attrs.evolve(FIXTURE, status=("quarantined", None)),
            attrs.evolve(FIXTURE, files=[]),
            attrs.evolve(FIXTURE, files=FIXTURE.files[:1]),
        ]
        self.lists = [ProjectList(), ProjectList(["a"]), ListTests.names]
        self.whole = [(renderProjectJSON(p), renderProjectHTML(p)) for p in self.pages]
        self.wholeLists = [(renderListJSON(l), renderListHTML(l)) for l in self.lists]
        self.patch(render, "CHUNK_ITEMS", 2)

    def test_samePage(self) -> None:
        """
        Rendered two files at a time, every page is the same bytes as
        rendered 500 at a time (whole, for these pages).
        """
        for page, (json_, html) in zip(self.pages, self.whole):
            self.assertEqual(b"".join(projectJSONChunks(page)), json_)
            self.assertEqual(b"".join(projectHTMLChunks(page)), html)
            self.assertEqual(renderProjectJSON(page), json_)
        for names, (json_, html) in zip(self.lists, self.wholeLists):
            self.assertEqual(b"".join(listJSONChunks(names)), json_)
            self.assertEqual(b"".join(listHTMLChunks(names)), html)

    def test_pieces(self) -> None:
        """
        Each piece of the files holds at most L{CHUNK_ITEMS} of them: a page
        of 5 files comes as 3 pieces of files and a tail in JSON (which
        starts with the files), a head, 3 pieces and a tail in HTML.
        """
        jsonPieces = list(projectJSONChunks(FIXTURE))
        htmlPieces = list(projectHTMLChunks(FIXTURE))
        self.assertEqual((len(jsonPieces), len(htmlPieces)), (4, 5))
        self.assertEqual([p.count(b'"filename"') for p in jsonPieces], [2, 2, 1, 0])
        self.assertEqual([p.count(b"<a ") for p in htmlPieces], [0, 2, 2, 1, 0])
        self.assertEqual(
            [p.count(b'"name"') for p in listJSONChunks(ListTests.names)], [0, 2, 2, 0]
        )

    def test_writerAnyBatches(self) -> None:
        """
        A L{ProjectJSONWriter} given a page's files in batches of any size,
        empty ones too, writes the page rendered whole; the files come
        first, as on the public index's pages.
        """
        for page in self.pages:
            whole = renderProjectJSON(page)
            self.assertTrue(whole.startswith(b'{"files":['))
            for sizes in ([], [0, 1, 0, 4], [5], [2, 0, 2, 1]):
                writer = ProjectJSONWriter(page.name)
                pieces, start = [], 0
                for size in sizes:
                    pieces.append(writer.files(page.files[start : start + size]))
                    start += size
                pieces.append(writer.files(page.files[start:]))
                pieces.append(writer.end(attrs.evolve(page, files=[])))
                self.assertEqual(b"".join(pieces), whole)

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_generated(self, data: st.DataObject) -> None:
        """
        Generated pages rendered two files at a time survive both round
        trips.
        """
        RoundTripTests.check(self, data.draw(pages()))  # type: ignore[arg-type]


class ContentTypeTests(SynchronousTestCase):
    """
    The content type constants.
    """

    def test_values(self) -> None:
        """
        The three Simple content types are spelled as the spec says.
        """
        self.assertEqual(JSON_TYPE, "application/vnd.pypi.simple.v1+json")
        self.assertEqual(HTML_TYPE, "application/vnd.pypi.simple.v1+html")
        self.assertEqual(TEXT_HTML, "text/html")


def _expectedHTML(f: DistFile) -> DistFile:
    """
    What the HTML representation keeps of C{f}: no size, upload time or
    provenance; only the sha256 hash; one core metadata hash.
    """
    hashes = {"sha256": f.sha256} if f.sha256 else {}
    core = f.coreMetadata
    if isinstance(core, Mapping):
        items = dict(core)
        name = "sha256" if items.get("sha256") else next(iter(items))
        core = {name: items[name]}
    return attrs.evolve(
        f, hashes=hashes, coreMetadata=core, size=None, uploadTime=None, provenance=None
    )


class RoundTripTests(SynchronousTestCase):
    """
    C{parse(render(page))} gives back the files, in both representations.
    """

    def check(self, page: ProjectPage) -> None:
        """
        Round-trip C{page} through JSON and HTML and compare, URLs aside: they
        are cheesecache's own and must resolve to its files.
        """
        fromJSON = parseProjectJSON(renderProjectJSON(page), PAGE_URL, page.name)
        fromHTML = parseProjectHTML(renderProjectHTML(page), PAGE_URL, page.name)
        for parsed in (fromJSON, fromHTML):
            self.assertEqual(parsed.name, page.name)
            self.assertEqual(
                [f.url for f in parsed.files],
                [urljoin(PAGE_URL, fileURL(page.name, f)) for f in page.files],
            )
        self.assertEqual(
            [attrs.evolve(f, url="") for f in fromJSON.files],
            [attrs.evolve(f, url="") for f in page.files],
        )
        self.assertEqual(
            [attrs.evolve(f, url="") for f in fromHTML.files],
            [attrs.evolve(_expectedHTML(f), url="") for f in page.files],
        )
        self.assertEqual(fromJSON.status, page.status)
        self.assertEqual(fromHTML.status, page.status)
        self.assertEqual(list(fromJSON.versions or ()), versions(page))

    def test_fixture(self) -> None:
        """
        The section 6 fixture survives both round trips.
        """
        self.check(FIXTURE)

    def test_realSample(self) -> None:
        """
        A real upstream page, parsed and rendered, survives both round trips.
        """
        page = parseProjectJSON(
            DATA.child("requests.json").getContent(),
            "https://index.example.invalid/simple/requests/",
            "requests",
        )
        self.assertEqual(len(page.files), 7)
        self.check(page)

    def test_realSampleHTML(self) -> None:
        """
        A real upstream HTML page, parsed and rendered as HTML, keeps its
        filenames, hashes, requires-python and yanks.
        """
        page = parseProjectHTML(
            DATA.child("requests.html").getContent(),
            "https://index.example.invalid/simple/requests/",
            "requests",
        )
        self.check(page)

    @settings(max_examples=200, deadline=None)
    @given(st.data())
    def test_generated(self, data: st.DataObject) -> None:
        """
        Generated pages, with every field in all its forms, survive both
        round trips.
        """
        self.check(data.draw(pages()))


_hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
)
_version = st.from_regex(r"\A[0-9]{1,3}(\.[0-9]{1,3}){0,2}((a|b|rc)[0-9])?(\+[a-z0-9]{1,5})?\Z")


@st.composite
def filenames(draw: st.DrawFn) -> str:
    """
    Realistic distribution filenames, and odd but safe ones.
    """
    realistic = st.builds(
        lambda dist, v, ext: f"{dist}-{v}{ext}",
        st.from_regex(r"\A[a-z][a-z0-9_]{0,10}\Z"),
        _version,
        st.sampled_from([".tar.gz", ".zip", "-py3-none-any.whl", "-cp312-cp312-manylinux_2_17_x86_64.whl"]),
    )
    return draw(st.one_of(realistic, _text.filter(isSafeFilename)))


@st.composite
def distFiles(draw: st.DrawFn) -> DistFile:
    """
    L{DistFile}s with every field in each of its forms.
    """
    filename = draw(filenames())
    hashes = draw(
        st.one_of(
            st.just({}),
            st.builds(lambda h: {"sha256": h}, _hex64),
            st.builds(lambda h, m: {"sha256": h, "md5": m}, _hex64, _hex64),
            st.builds(lambda m: {"md5": m}, _hex64),
        )
    )
    return DistFile(
        filename=filename,
        url=f"https://files.example.invalid/{draw(_hex64)[:8]}/{filename}",
        hashes=hashes,
        requiresPython=draw(
            st.one_of(st.none(), st.sampled_from([">=3.8,<4", ">=3.7, !=3.8.*", "<4&>2"]), _text)
        ),
        yanked=draw(st.one_of(st.just(False), st.just(True), _text)),
        coreMetadata=draw(
            st.one_of(
                st.none(),
                st.just(True),
                st.builds(lambda h: {"sha256": h}, _hex64),
                st.builds(lambda h, m: {"md5": m, "sha256": h}, _hex64, _hex64),
            )
        ),
        size=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**40))),
        uploadTime=draw(
            st.one_of(
                st.none(),
                st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
            )
        ),
        provenance=draw(st.one_of(st.none(), st.just("https://index.example.invalid/prov/1"))),
    )


@st.composite
def pages(draw: st.DrawFn) -> ProjectPage:
    """
    L{ProjectPage}s with distinct files and an optional status.
    """
    files = draw(st.lists(distFiles(), max_size=6, unique_by=lambda f: (f.filename, f.key)))
    return ProjectPage(
        name=draw(st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z").filter(lambda n: "--" not in n)),
        files=files,
        versions=draw(st.one_of(st.none(), st.lists(_version, max_size=3, unique=True))),
        status=draw(
            st.one_of(
                st.none(),
                st.tuples(st.sampled_from(["active", "archived", "deprecated"]), st.one_of(st.none(), _text)),
            )
        ),
    )

