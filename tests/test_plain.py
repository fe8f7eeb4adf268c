"""
Tests for L{cheesecache.simple.plain}: a file entry written straight from
the upstream's JSON says what the model would have written.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.simple.jsoncodec import dumps
from cheesecache.simple.parse import fileFromJSON
from cheesecache.simple.plain import plainFileHTML, plainFileJSON, plainRun
from cheesecache.simple.render import fileHTML, fileJSON

BASE = "https://index.example.invalid/simple/foo-bar/"
SHA = "0123456789abcdef" * 4

_plainNames = st.text("abcXYZ019_.-~", min_size=1, max_size=20)
_plainFilenames = st.builds(
    lambda stem, ext: stem + ext, _plainNames, st.sampled_from([".tar.gz", ".zip", "-py3-none-any.whl"])
)
_sha256 = st.text("0123456789abcdef", min_size=64, max_size=64)
_plainURLs = st.builds(
    lambda path: f"https://files.example.invalid/p/{path}",
    st.text("abc/019._-", max_size=30),
)


def plainEntries() -> st.SearchStrategy[Dict[str, Any]]:
    """
    Entries as indexes nearly always write them.
    """
    return st.fixed_dictionaries(
        {"filename": _plainFilenames, "url": _plainURLs, "hashes": st.builds(lambda d: {"sha256": d}, _sha256)},
        optional={
            "requires-python": st.one_of(st.none(), st.just(""), st.just(">=3.9")),
            "size": st.one_of(st.none(), st.integers(0, 2**40)),
            "upload-time": st.one_of(st.none(), st.just("2025-01-02T03:04:05.678Z")),
            "provenance": st.one_of(st.none(), st.just("https://x.example.invalid/prov")),
            "yanked": st.just(False),
            "core-metadata": st.one_of(
                st.none(), st.just(True), st.builds(lambda d: {"sha256": d}, _sha256)
            ),
        },
    )


#: Yanks of every kind, plain ones (true, a reason without escapes or
#: with escaped quotes and backslashes) and others.
_yanks = st.one_of(
    st.booleans(),
    st.sampled_from(["broken", 'said "no"', "a\\b", "", "caf\u00e9", "tab\there", "\u2028"]),
    st.text(max_size=6),
)


def yankedEntries() -> st.SearchStrategy[Dict[str, Any]]:
    """
    Entries plain but for their yank, of any kind.
    """
    return st.builds(lambda entry, yank: {**entry, "yanked": yank}, plainEntries(), _yanks)


_anything = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2**65), st.floats(allow_nan=False),
    st.text(max_size=8), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def anyEntries() -> st.SearchStrategy[Any]:
    """
    Entries of every shape: plain ones, odd ones, wrong ones.
    """
    hashes = st.one_of(
        st.builds(lambda d: {"sha256": d}, _sha256),
        st.builds(lambda d: {"sha256": d.upper()}, _sha256),
        st.builds(lambda d: {"sha256": d, "md5": d[:32]}, _sha256),
        st.builds(lambda d: {"sha256": d[:63]}, _sha256),
        st.builds(lambda d: {"SHA256": d}, _sha256),
        st.just({}),
        _anything,
    )
    metadata = st.one_of(
        st.none(),
        st.booleans(),
        st.builds(lambda d: {"sha256": d}, _sha256),
        st.builds(lambda d: {"sha256": d.upper()}, _sha256),
        st.builds(lambda d: {"sha256": d, "blake2b": d}, _sha256),
        st.builds(lambda d: {"md5": d[:32]}, _sha256),
        _anything,
    )
    entry = st.fixed_dictionaries(
        {},
        optional={
            "filename": st.one_of(_plainFilenames, st.text(max_size=12), _anything),
            "url": st.one_of(
                _plainURLs,
                st.just("../../packages/x/foo-1.0.tar.gz"),
                st.just("https://files.example.invalid/p/foo-1.0.tar.gz#sha256=" + SHA),
                st.just("https://[::1/p/foo-1.0.tar.gz"),
                st.just("https://f\u00ffles.example.invalid/p/foo.tar.gz"),
                st.text(max_size=12),
                _anything,
            ),
            "hashes": hashes,
            "requires-python": st.one_of(st.just(">=3.8"), _anything),
            "yanked": st.one_of(st.booleans(), st.just("broken"), _anything),
            "core-metadata": metadata,
            "data-dist-info-metadata": metadata,
            "dist-info-metadata": metadata,
            "size": _anything,
            "upload-time": st.one_of(st.just("2025-01-02T03:04:05Z"), _anything),
            "provenance": _anything,
            "other": _anything,
        },
    )
    return st.one_of(entry, _anything)


def modelEntry(name: str, entry: Any) -> Optional[Dict[str, Any]]:
    """
    What the model writes for C{entry}, or C{None} if it refuses it.
    """
    try:
        return fileJSON(name, fileFromJSON(entry, BASE))
    except Exception:
        return None


class PlainFileJSONTests(SynchronousTestCase):
    """
    L{plainFileJSON} writes plain entries as the model would, and leaves
    every other entry to the model.
    """

    @settings(max_examples=500, deadline=None)
    @given(anyEntries())
    def test_sameAsModel(self, entry: Any) -> None:
        """
        Whatever the entry, a plain entry written is the model's, byte for
        byte once encoded; an entry the model refuses is never written.
        """
        written = plainFileJSON("foo-bar", entry)
        if written is not None:
            expected = modelEntry("foo-bar", entry)
            self.assertIsNotNone(expected)
            self.assertEqual(dumps(written), dumps(expected))

    @settings(max_examples=300, deadline=None)
    @given(plainEntries())
    def test_plainWritten(self, entry: Dict[str, Any]) -> None:
        """
        Entries as indexes write them are written without the model, as the
        model would.
        """
        written = plainFileJSON("foo-bar", entry)
        self.assertIsNotNone(written)
        self.assertEqual(dumps(written), dumps(modelEntry("foo-bar", entry)))

    def test_example(self) -> None:
        """
        The file's URL is cheesecache's, under its sha256; what the model
        leaves out (an empty requires-python, C{yanked: false}, no size)
        is left out.
        """
        entry = {
            "filename": "foo_bar-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "requires-python": "",
            "size": 12,
            "upload-time": "2025-01-02T03:04:05Z",
            "url": "https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
            "yanked": False,
        }
        self.assertEqual(
            plainFileJSON("foo-bar", entry),
            {
                "filename": "foo_bar-1.0-py3-none-any.whl",
                "url": f"../../files/foo-bar/{SHA}/foo_bar-1.0-py3-none-any.whl",
                "hashes": {"sha256": SHA},
                "size": 12,
                "upload-time": "2025-01-02T03:04:05Z",
            },
        )

    def test_notPlain(self) -> None:
        """
        A yanked file, one with another hash, core metadata other than
        C{true} or a sha256 under its newer name, or an odd URL is left to
        the model.
        """
        plain = {
            "filename": "foo-1.0.tar.gz",
            "hashes": {"sha256": SHA},
            "url": "https://files.example.invalid/p/foo-1.0.tar.gz",
        }
        self.assertIsNotNone(plainFileJSON("foo", plain))
        for changes in [
            {"yanked": True},
            {"yanked": "broken"},
            {"core-metadata": {"sha256": SHA.upper()}},
            {"core-metadata": {"sha256": SHA, "md5": SHA[:32]}},
            {"core-metadata": {"md5": SHA[:32]}},
            {"core-metadata": False},
            {"core-metadata": "true"},
            {"data-dist-info-metadata": True},
            {"data-dist-info-metadata": {"sha256": SHA}},
            {"dist-info-metadata": True},
            {"hashes": {"sha256": SHA, "md5": SHA[:32]}},
            {"hashes": {"sha256": SHA.upper()}},
            {"url": "https://[::1/p/foo-1.0.tar.gz"},
            {"url": "https://f\u00ffles.example.invalid/p/foo-1.0.tar.gz"},
            {"requires-python": 3},
            {"upload-time": 5},
            {"filename": ""},
        ]:
            self.assertIsNone(plainFileJSON("foo", {**plain, **changes}), changes)

    def test_falsyNotText(self) -> None:
        """
        A text field that is not text but is falsy (C{false}, C{0}, an
        empty list or object), which the model refuses as it refuses any
        that is not text, is never written: big and small pages alike are
        unusable with it.
        """
        plain = {
            "filename": "foo-1.0.tar.gz",
            "hashes": {"sha256": SHA},
            "url": "https://files.example.invalid/p/foo-1.0.tar.gz",
        }
        for field in ["requires-python", "upload-time", "provenance"]:
            for value in [False, 0, [], {}]:
                entry = {**plain, field: value}
                self.assertIsNone(modelEntry("foo", entry), entry)
                self.assertIsNone(plainFileJSON("foo", entry), entry)

    def test_coreMetadata(self) -> None:
        """
        Core metadata as the public index and cheesecache write it (a
        sha256, under both names) or as C{true} is written under both
        names, as the model writes it.
        """
        entry = {
            "core-metadata": {"sha256": SHA[::-1]},
            "data-dist-info-metadata": {"sha256": SHA[::-1]},
            "filename": "foo-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "provenance": None,
            "requires-python": ">=3.9",
            "size": 7,
            "upload-time": "2025-01-02T03:04:05Z",
            "url": "https://files.example.invalid/p/foo-1.0-py3-none-any.whl",
            "yanked": False,
        }
        written = plainFileJSON("foo", entry)
        self.assertEqual(
            written,
            {
                "filename": "foo-1.0-py3-none-any.whl",
                "url": f"../../files/foo/{SHA}/foo-1.0-py3-none-any.whl",
                "hashes": {"sha256": SHA},
                "requires-python": ">=3.9",
                "core-metadata": {"sha256": SHA[::-1]},
                "data-dist-info-metadata": {"sha256": SHA[::-1]},
                "size": 7,
                "upload-time": "2025-01-02T03:04:05Z",
            },
        )
        self.assertEqual(dumps(written), dumps(modelEntry("foo", entry)))
        asTrue = {**entry, "core-metadata": True}
        self.assertEqual(
            dumps(plainFileJSON("foo", asTrue)), dumps(modelEntry("foo", asTrue))
        )
        self.assertIs(plainFileJSON("foo", asTrue)["core-metadata"], True)  # type: ignore[index]

    def test_extractedMetadata(self) -> None:
        """
        A wheel whose metadata cheesecache extracted is left to the model,
        which advertises it; an sdist under the same key is not.
        """
        asked = []

        def extracted(key: str) -> bool:
            asked.append(key)
            return True

        wheel = {
            "filename": "foo-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "url": "https://files.example.invalid/p/foo-1.0-py3-none-any.whl",
        }
        self.assertIsNone(plainFileJSON("foo", wheel, extracted))
        self.assertEqual(asked, [SHA])
        sdist = {**wheel, "filename": "foo-1.0.tar.gz"}
        self.assertIsNotNone(plainFileJSON("foo", sdist, extracted))
        self.assertEqual(asked, [SHA])
        # The upstream's own metadata is what the page advertises (the
        # model keeps it): the entry stays plain.
        advertised = {**wheel, "core-metadata": {"sha256": SHA}}
        self.assertEqual(
            plainFileJSON("foo", advertised, extracted)["core-metadata"],  # type: ignore[index]
            {"sha256": SHA},
        )


class PlainFileHTMLTests(SynchronousTestCase):
    """
    L{plainFileHTML} writes the link the model would, from the entry
    L{plainFileJSON} wrote.
    """

    @settings(max_examples=500, deadline=None)
    @given(anyEntries())
    def test_sameAsModel(self, entry: Any) -> None:
        """
        Whatever the entry, the link written for a plain entry is the
        model's.
        """
        written = plainFileJSON("foo-bar", entry)
        if written is not None:
            self.assertEqual(
                plainFileHTML(written), fileHTML("foo-bar", fileFromJSON(entry, BASE))
            )

    @settings(max_examples=300, deadline=None)
    @given(plainEntries())
    def test_plainWritten(self, entry: Dict[str, Any]) -> None:
        """
        Entries as indexes write them get the model's link.
        """
        self.assertEqual(
            plainFileHTML(plainFileJSON("foo-bar", entry)),  # type: ignore[arg-type]
            fileHTML("foo-bar", fileFromJSON(entry, BASE)),
        )

    def test_example(self) -> None:
        """
        The link is to cheesecache's URL with the sha256 as its fragment,
        and shows requires-python (escaped) and core metadata under both
        names.
        """
        entry = {
            "filename": "foo_bar-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "requires-python": ">=3.9",
            "core-metadata": {"sha256": SHA[::-1]},
            "url": "https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
        }
        self.assertEqual(
            plainFileHTML(plainFileJSON("foo-bar", entry)),  # type: ignore[arg-type]
            f'    <a href="../../files/foo-bar/{SHA}/foo_bar-1.0-py3-none-any.whl'
            f'#sha256={SHA}" data-requires-python="&gt;=3.9"'
            f' data-core-metadata="sha256={SHA[::-1]}"'
            f' data-dist-info-metadata="sha256={SHA[::-1]}">'
            "foo_bar-1.0-py3-none-any.whl</a><br />\n",
        )


def publicEntry(entry: Dict[str, Any]) -> Dict[str, Any]:
    """
    C{entry} as the public index writes it: C{null} for what it lacks of
    requires-python and provenance, core metadata under both names, keys
    in order.
    """
    written = {"requires-python": None, "provenance": None, **entry}
    if "core-metadata" in written:
        written["data-dist-info-metadata"] = written["core-metadata"]
    return dict(sorted(written.items()))


def compact(entries: List[Any], sortKeys: bool = False) -> str:
    return ",".join(
        json.dumps(e, separators=(",", ":"), ensure_ascii=False, sort_keys=sortKeys)
        for e in entries
    )


class PlainRunTests(SynchronousTestCase):
    """
    L{plainRun} writes a run of entries, from their text, as the model
    writes each (as L{plainFileJSON} does), or leaves the run to them.
    """

    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(
            st.one_of(
                plainEntries().map(publicEntry), yankedEntries().map(publicEntry), anyEntries()
            ),
            min_size=1,
            max_size=5,
        )
    )
    def test_sameAsModel(self, entries: List[Any]) -> None:
        """
        Whatever the entries, a run written is each entry as the model
        writes it, in order (as L{plainFileJSON} does for the ones not
        yanked); its filenames are theirs, and its bare keys those of the
        ones without core metadata.
        """
        for text in (compact(entries), compact(entries, sortKeys=True)):
            run = plainRun("foo-bar", "[" + text + "]", 1, len(text) + 1)
            if run is None:
                continue
            written = [modelEntry("foo-bar", e) for e in entries]
            self.assertNotIn(None, written)
            self.assertEqual(run.listed.encode("utf-8"), dumps(written)[1:-1])
            self.assertEqual(run.filenames, [e["filename"] for e in entries])
            self.assertEqual(
                run.bare,
                [
                    e["hashes"]["sha256"] for e in entries
                    if "core-metadata" not in e and e["filename"].endswith(".whl")
                ],
            )

    @settings(max_examples=200, deadline=None)
    @given(st.lists(plainEntries(), min_size=1, max_size=5))
    def test_publicWritten(self, entries: List[Dict[str, Any]]) -> None:
        """
        Entries as the public index writes them, plain in the ways it
        knows (a sha256 core metadata or none, a size, an upload time, the
        yank), make a run.
        """
        written = []
        for entry in entries:
            entry = {**entry, "yanked": False}
            if type(entry.get("size")) is not int:
                entry["size"] = 1
            if not entry.get("upload-time"):
                entry["upload-time"] = "2025-01-02T03:04:05Z"
            if type(entry.get("core-metadata")) is not dict:
                entry.pop("core-metadata", None)
            if not entry.get("requires-python"):
                entry["requires-python"] = None
            written.append(publicEntry(entry))
        text = compact(written)
        self.assertIsNotNone(plainRun("foo-bar", text, 0, len(text)))

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(plainEntries(), min_size=1, max_size=5),
        st.lists(st.sampled_from([False, True, "broken", 'said "no"', "a\\b", "caf\u00e9"]), min_size=5, max_size=5),
    )
    def test_publicYankedWritten(self, entries: List[Dict[str, Any]], yanks: List[Any]) -> None:
        """
        Entries as the public index writes them, plain but for their yanks
        (true, or a reason whose escapes are a quote's or a backslash's),
        make a run too.
        """
        written = []
        for entry, yank in zip(entries, yanks):
            entry = {**entry, "yanked": yank, "size": 1, "upload-time": "2025-01-02T03:04:05Z"}
            entry.pop("core-metadata", None)
            if not entry.get("requires-python"):
                entry["requires-python"] = None
            written.append(publicEntry(entry))
        text = compact(written)
        run = plainRun("foo-bar", text, 0, len(text))
        assert run is not None
        self.assertEqual(
            run.listed.encode("utf-8"),
            dumps([modelEntry("foo-bar", e) for e in written])[1:-1],
        )

    def test_yankedExample(self) -> None:
        """
        A yanked entry is written as the model writes it: the yank after
        requires-python and before core metadata, its reason's escapes
        kept.
        """
        entry = publicEntry({
            "filename": "foo_bar-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "core-metadata": {"sha256": SHA[::-1]},
            "requires-python": ">=3.9",
            "size": 12,
            "upload-time": "2025-01-02T03:04:05Z",
            "url": "https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
            "yanked": 'said "no" \\o/',
        })
        text = compact([entry, {**entry, "yanked": True}])
        run = plainRun("foo-bar", text, 0, len(text))
        assert run is not None
        written = (
            '{"filename":"foo_bar-1.0-py3-none-any.whl",'
            f'"url":"../../files/foo-bar/{SHA}/foo_bar-1.0-py3-none-any.whl",'
            f'"hashes":{{"sha256":"{SHA}"}},"requires-python":">=3.9",'
            '"yanked":YANK,'
            f'"core-metadata":{{"sha256":"{SHA[::-1]}"}},'
            f'"data-dist-info-metadata":{{"sha256":"{SHA[::-1]}"}},'
            '"size":12,"upload-time":"2025-01-02T03:04:05Z"}'
        )
        self.assertEqual(
            run.listed,
            written.replace("YANK", '"said \\"no\\" \\\\o/"') + "," + written.replace("YANK", "true"),
        )

    def test_example(self) -> None:
        """
        Two entries as the public index writes them: a wheel with core
        metadata and provenance, an sdist without.
        """
        wheel = publicEntry({
            "filename": "foo_bar-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "core-metadata": {"sha256": SHA[::-1]},
            "provenance": "https://p.example.invalid/1",
            "requires-python": ">=3.9",
            "size": 12,
            "upload-time": "2025-01-02T03:04:05.678Z",
            "url": "https://files.example.invalid/p/foo_bar-1.0-py3-none-any.whl",
            "yanked": False,
        })
        sdist = publicEntry({
            "filename": "foo_bar-1.0.tar.gz",
            "hashes": {"sha256": SHA[::-1]},
            "size": 0,
            "upload-time": "2025-01-02T03:04:05Z",
            "url": "https://files.example.invalid/p/foo_bar-1.0.tar.gz",
            "yanked": False,
        })
        text = compact([wheel, sdist])
        run = plainRun("foo-bar", text, 0, len(text))
        assert run is not None
        self.assertEqual(
            run.listed,
            '{"filename":"foo_bar-1.0-py3-none-any.whl",'
            f'"url":"../../files/foo-bar/{SHA}/foo_bar-1.0-py3-none-any.whl",'
            f'"hashes":{{"sha256":"{SHA}"}},"requires-python":">=3.9",'
            f'"core-metadata":{{"sha256":"{SHA[::-1]}"}},'
            f'"data-dist-info-metadata":{{"sha256":"{SHA[::-1]}"}},'
            '"size":12,"upload-time":"2025-01-02T03:04:05.678Z",'
            '"provenance":"https://p.example.invalid/1"},'
            '{"filename":"foo_bar-1.0.tar.gz",'
            f'"url":"../../files/foo-bar/{SHA[::-1]}/foo_bar-1.0.tar.gz",'
            f'"hashes":{{"sha256":"{SHA[::-1]}"}},'
            '"size":0,"upload-time":"2025-01-02T03:04:05Z"}',
        )
        self.assertEqual(run.filenames, [wheel["filename"], sdist["filename"]])
        self.assertEqual(run.bare, [])
        bareWheel = {
            k: v for k, v in wheel.items() if k not in ("core-metadata", "data-dist-info-metadata")
        }
        text = compact([sdist, bareWheel])
        run = plainRun("foo-bar", text, 0, len(text))
        assert run is not None
        self.assertEqual(run.bare, [SHA])

    def test_notRuns(self) -> None:
        """
        A run is refused when any of its entries is not plain as the
        public index writes it, or the text is not whole entries separated
        by commas.
        """
        base = publicEntry({
            "filename": "foo-1.0.tar.gz", "hashes": {"sha256": SHA}, "size": 1,
            "upload-time": "2025-01-02T03:04:05Z",
            "url": "https://files.example.invalid/p/foo-1.0.tar.gz", "yanked": False,
        })
        plain = compact([base])
        self.assertIsNotNone(plainRun("foo", plain, 0, len(plain)))
        refused = [
            # An empty reason (the model writes true), none, an escape
            # the model would write otherwise, a number.
            {**base, "yanked": ""},
            {**base, "yanked": None},
            {**base, "yanked": "tab\there"},
            {**base, "yanked": 1},
            {**base, "filename": "foo-1.0+local.tar.gz"},
            {**base, "filename": "foo\u00e9-1.0.tar.gz"},
            {**base, "hashes": {"sha256": SHA, "md5": SHA[:32]}},
            {**base, "hashes": {"sha256": SHA.upper()}},
            {**base, "url": "https://files.example.invalid/p/foo-1.0.tar.gz#sha256=" + SHA},
            {**base, "url": "https://[::1]/p/foo-1.0.tar.gz"},
            {**base, "requires-python": ""},
            {**base, "requires-python": ">=3.9\u2028"[:-1] + '"'},
            {**base, "size": None},
            {**base, "size": 1.0},
            {**base, "upload-time": None},
            publicEntry({**base, "core-metadata": True}),
            {**base, "data-dist-info-metadata": {"sha256": SHA}},
            {**base, "gpg-sig": False},
        ]
        for entry in refused:
            text = compact([base, entry, base], sortKeys=True)
            self.assertIsNone(plainRun("foo", text, 0, len(text)), entry)
        # Not sorted; cut short; a separator other than a comma; a
        # trailing comma.
        unsorted = json.dumps(dict(reversed(list(base.items()))), separators=(",", ":"))
        for text in (unsorted, plain[:-1], plain + " ," + plain, plain + ",", "," + plain, ""):
            self.assertIsNone(plainRun("foo", text, 0, len(text)), text)
        # An escape, though it says the same.
        escaped = plain.replace("foo-1.0", "foo\\u002d1.0", 1)
        self.assertIsNone(plainRun("foo", escaped, 0, len(escaped)))
