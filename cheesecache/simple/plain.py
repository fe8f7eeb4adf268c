# -*- test-case-name: tests.test_plain -*-
"""
A big page's files written straight from the upstream's JSON, without the
model, when their entries are plain: as JSON, and as HTML from the JSON
entry written; runs of entries written as the public index writes them,
straight from their text (L{plainRun}).

Making each file a L{DistFile} and then writing it was most of the time a
cold big page took (about a tenth of a second of the reactor's time for
the big pages of one install); nearly every entry an index writes says
nothing the model would change, and is written here in half that time.
"""

from __future__ import annotations

import re
from itertools import chain, compress, repeat
from operator import and_, is_
from typing import Any, Callable, Dict, List, Optional

import attrs

from .model import SHA256_HEX
from .render import fileAnchor, relativeFileURL


def plainFileJSON(
    name: str, entry: Any, extracted: Callable[[str], bool] = lambda key: False
) -> Optional[Dict[str, Any]]:
    """
    The entry L{cheesecache.simple.render.fileJSON} writes on C{name}'s
    page for the file entry C{entry} of an upstream's PEP 691 page, made
    from C{entry} itself when it is plain, as indexes nearly always write
    them: a sha256 only, not yanked, core metadata (if any) C{true} or a
    sha256 only, and strings where strings belong.  The entry says what
    the model's would; the tests hold the two equal.

    @param extracted: tells, given a wheel's key, whether cheesecache
        extracted its metadata itself; such a wheel's entry advertises it
        (see L{cheesecache.metadata.fileWithKnownMetadata}), so it is not
        plain unless the upstream advertises metadata of its own.
    @return: the entry, or C{None} when C{entry} is not plain: the file
        must then go through the model
        (L{cheesecache.simple.parse.fileFromJSON}), which also refuses
        what is wrong.
    """
    if type(entry) is not dict:
        return None
    get = entry.get
    filename = get("filename")
    url = get("url")
    hashes = get("hashes")
    if (
        type(filename) is not str
        or not filename
        or type(url) is not str
        or type(hashes) is not dict
        or len(hashes) != 1
        or get("yanked", False) is not False
        # What the model makes of the URL is not written, but it must be
        # sure to make something: resolving refuses only an address with
        # a bracket or a host beyond ASCII.
        or not url.isascii()
        or "[" in url
        or "]" in url
        # A fragment may give hashes too (see fileFromJSON).
        or "#" in url
    ):
        return None
    key = hashes.get("sha256")
    if type(key) is not str or not SHA256_HEX.match(key):
        return None
    metadata = _plainCoreMetadata(get)
    if metadata is _NOT_PLAIN:
        return None
    if metadata is None and filename.endswith(".whl") and extracted(key):
        return None
    listed: Dict[str, Any] = {
        "filename": filename,
        "url": relativeFileURL(name, key, filename),
        "hashes": {"sha256": key},
    }
    requiresPython = get("requires-python")
    if requiresPython:
        if type(requiresPython) is not str:
            return None
        listed["requires-python"] = requiresPython
    elif requiresPython is not None and requiresPython != "":
        # Not text, if falsy (false, 0, []): the model refuses it.
        return None
    if metadata is not None:
        # Both names, as the model writes them (see fileJSON).
        listed["core-metadata"] = listed["data-dist-info-metadata"] = metadata
    size = get("size")
    if type(size) is int:
        listed["size"] = size
    for field in _LAST_FIELDS:
        value = get(field)
        if value:
            if type(value) is not str:
                return None
            listed[field] = value
        elif value is not None and value != "":
            return None
    return listed


def plainFileHTML(listed: Dict[str, Any]) -> str:
    """
    The link L{cheesecache.simple.render.fileHTML} writes for the file whose
    entry L{plainFileJSON} wrote as C{listed}: a plain entry says all a link
    shows, so a big page's HTML, too, is written without the model.
    """
    metadata = listed.get("core-metadata")
    if metadata is not None:
        metadata = "true" if metadata is True else "sha256=" + metadata["sha256"]
    return fileAnchor(
        listed["url"],
        listed["filename"],
        "sha256=" + listed["hashes"]["sha256"],
        listed.get("requires-python"),
        coreMetadata=metadata,
    )


#: The string fields of an entry written last, in the model's order.
_LAST_FIELDS = ("upload-time", "provenance")


#: What L{_plainCoreMetadata} gives for core metadata the model must read.
_NOT_PLAIN = object()


def _plainCoreMetadata(get: Callable[[str], Any]) -> Any:
    """
    The core metadata a plain entry (read with C{get}) advertises, as the
    model writes it: C{None} for none, C{True}, or C{{"sha256": digest}}
    (what the public index and cheesecache write); L{_NOT_PLAIN} for
    anything else, which the model reads (other hashes, the older names
    alone, digests to normalize).
    """
    metadata = get("core-metadata")
    if metadata is None:
        if get("data-dist-info-metadata") is None and get("dist-info-metadata") is None:
            return None
        return _NOT_PLAIN
    if metadata is True:
        return True
    if type(metadata) is dict and len(metadata) == 1:
        digest = metadata.get("sha256")
        if type(digest) is str and SHA256_HEX.match(digest):
            return {"sha256": digest}
    return _NOT_PLAIN


@attrs.frozen
class PlainRun:
    """
    A run of a big page's file entries written by L{plainRun}.

    @ivar listed: their entries as the model writes them (see
        L{plainFileJSON}), encoded and separated by commas, as in the
        page's C{files} array.
    @ivar filenames: their files' names, in order.
    @ivar bare: the keys of the wheels among them without core metadata
        (cheesecache may have extracted theirs, which the model
        advertises: see L{plainFileJSON}'s C{extracted}).
    """

    listed: str
    filenames: List[str]
    bare: List[str]


def plainRun(name: str, text: str, start: int, end: int) -> Optional[PlainRun]:
    """
    The file entries of C{name}'s page in C{text[start:end]} (items of its
    C{files} array, from the first's opening brace to the last's closing
    one), written as the model writes them (as L{plainFileJSON} does), if
    every one of them is plain, or plain but for its yank, and written as
    the public index writes them: compact, its keys in order, strings
    without escapes (but a yank's reason may hold escaped quotes and
    backslashes, which the model escapes the same way).  C{None}
    otherwise: each is then decoded and written on its own.

    A cold page's files are written here by the regular expression engine
    and string joins, without a Python step per file: decoding each entry
    and writing it again (L{plainFileJSON}) was most of the time a big
    page took the reactor, 2.2 us a file against 1.4 here for the runs of
    the biggest pages of a uv install.  What the expression accepts is
    what the model writes the same way; anything else (another hash, an
    escape, a key out of order, an empty reason for a yank) sends the run
    to L{plainFileJSON} and the model.  Yanked files are taken, as the
    public index's big pages have runs of them (every file of a yanked
    release): a run holding one went the slow way whole, a tenth of the
    files of the biggest pages of a uv install.
    """
    parts = _PLAIN_ENTRY.split(text[start:end])
    separators = parts[0::_GROUPS]
    count = len(separators) - 1
    if count < 1 or separators[0] or separators[-1] or separators.count(",") != count - 1:
        return None
    # The groups of each entry, as split gives them (None where absent):
    # core metadata (both keys, with the comma after them), its digest,
    # the filename, the sha256, then the provenance, the requires-python,
    # the size, the upload time and the yank, each with the comma before it
    # but the size.
    metadata, filenames, keys, provenance, python, size, uploaded, yanked = (
        parts[i::_GROUPS] for i in (1, 3, 4, 5, 6, 7, 8, 9)
    )
    pieces = chain.from_iterable(zip(
        separators,
        repeat('{"filename":"'), filenames,
        repeat(f'","url":"../../files/{name}/'), keys, repeat("/"), filenames,
        repeat('","hashes":{"sha256":"'), keys, repeat('"}'),
        python, yanked, repeat(","), metadata, size, uploaded, provenance,
        repeat("}"),
    ))
    # filter drops the groups that are absent (None).
    listed = "".join(filter(None, pieces))
    # The wheels without core metadata, found without a Python step each.
    bare = list(compress(keys, map(
        and_, map(is_, metadata, repeat(None)), map(str.endswith, filenames, repeat(".whl"))
    )))
    return PlainRun(listed, filenames, bare)


#: A JSON string's character that needs no escape in it, written as is:
#: neither a quote nor a backslash, a control or a lone surrogate (which
#: cannot be encoded; the model refuses the page).
_PLAIN_CHARACTER = r'[^"\\\x00-\x1f\x7f\ud800-\udfff]'

#: A plain file entry (see L{plainFileJSON}), or one plain but for its
#: yank, as the public index writes it.  Its filename is unreserved (so
#: its URL is written as it is); its URL, which is not written, is ASCII
#: without a bracket, a fragment or a space, as L{plainFileJSON} wants it.
#: A yank's reason is written as the model writes it again: the escapes
#: it keeps are those of a quote and a backslash.
_PLAIN_ENTRY = re.compile(
    r'\{(?:("core-metadata":\{"sha256":"([0-9a-f]{64})"\},'
    r'"data-dist-info-metadata":\{"sha256":"\2"\},))?'
    r'"filename":"([A-Za-z0-9_.~-]++)",'
    r'"hashes":\{"sha256":"([0-9a-f]{64})"\}'
    r'(?:,"provenance":null|(,"provenance":"' + _PLAIN_CHARACTER + r'++"))?'
    r'(?:,"requires-python":null|(,"requires-python":"' + _PLAIN_CHARACTER + r'++"))?'
    r',("size":(?:0|[1-9][0-9]{0,15}))'
    r'(,"upload-time":"' + _PLAIN_CHARACTER + r'++")'
    r',"url":"[\x21\x24-\x5a\x5e-\x7e]++"'
    r'(?:,"yanked":false|(,"yanked":(?:true|"(?:' + _PLAIN_CHARACTER + r'|\\["\\])++")))'
    r'\}'
)

#: Each match is followed, in what split gives, by the text up to the
#: next: eight groups and one separator.
_GROUPS = _PLAIN_ENTRY.groups + 1
