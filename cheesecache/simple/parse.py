# -*- test-case-name: tests.test_parse -*-
"""
Read upstream Simple pages (PEP 691 JSON or PEP 503 HTML) into the model.

Relative URLs are resolved against C{baseURL}, which must be the URL the page
was finally served from (after redirects), as pip and uv do.

Every parser is also written in L{Steps}: a big page (megabytes, thousands
of files) is then parsed a few milliseconds at a time, and the reactor
serves other requests in between (see L{cheesecache.index}).
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
import re
from html.parser import HTMLParser
from json.decoder import scanstring
from typing import (
    Any, Callable, Dict, Generator, Iterator, List, Mapping, Optional, Tuple, TypeVar, Union,
)
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit, urlunsplit

import attrs

from .jsoncodec import dumps, loads
from .model import CoreMetadata, DistFile, ProjectList, ProjectPage, Yanked
from .names import normalize

JSON_TYPE = "application/vnd.pypi.simple.v1+json"

_T = TypeVar("_T")


class ParseError(ValueError):
    """
    An upstream page could not be understood.
    """


def isJSONType(contentType: str) -> bool:
    """
    Does this Content-Type announce a PEP 691 JSON page?
    """
    base = contentType.split(";", 1)[0].strip().lower()
    return base in (JSON_TYPE, "application/vnd.pypi.simple.latest+json")


def _yanked(value: Any) -> Yanked:
    # An empty reason still means yanked: never un-yank a file by accident.
    if isinstance(value, str):
        return value if value else True
    return bool(value)


def _coreMetadata(value: Any) -> CoreMetadata:
    if value is True:
        return True
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}
    return None


def _checkMajor(version: Any) -> None:
    major = str(version).split(".", 1)[0].strip()
    if major != "1":
        raise ParseError(f"unsupported api-version major {major!r}")


#: What C{b"\\ud" in body.lower()} finds, without a lower-cased copy of a
#: page that may be megabytes (in bytes, and in text).
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD]")
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\[uU][dD]")

#: A page as the upstream sent it, or as text (see L{pageText}).
Body = Union[bytes, str]


def _htmlEncoding(contentType: str) -> str:
    """
    The encoding an HTML page labelled C{contentType} is read in: the
    C{charset} its parameters name, as pip and uv read it (an index serving
    its pages as C{ISO-8859-1} writes a yanked reason in it), else, or for
    a charset Python does not know as a text encoding, UTF-8.
    """
    for parameter in contentType.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            try:
                codec = codecs.lookup(value.strip().strip("\"'"))
            except LookupError:
                break
            # Not a codec of bytes to bytes (zlib) or text to text (rot13),
            # which bytes.decode refuses.
            if getattr(codec, "_is_text_encoding", True):
                return codec.name
            break
    return "utf-8"


def pageText(body: bytes, contentType: str) -> str:
    """
    A page's bytes as the text the parsers read: JSON decoded as C{json}
    does (UTF-8, -16 or -32), but strictly, HTML in the charset its
    C{contentType} names (see L{_htmlEncoding}) with undecodable bytes
    replaced.  A caller that passes on the text and drops the bytes does
    not keep a big page twice while it is parsed.

    C{json} lets a surrogate encoded on its own through
    (C{surrogatepass}), which no rendering can write: such a page parsed,
    past the check for lone surrogate escapes, then failed every
    rendering with a 500.

    @raise ParseError: JSON that is not in a Unicode encoding.
    """
    if not isJSONType(contentType):
        encoding = _htmlEncoding(contentType) if ";" in contentType else "utf-8"
        return body.decode(encoding, errors="replace")
    try:
        return body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as e:
        raise ParseError(f"not JSON: {e}") from e


def draining(items: Any) -> Iterator[Any]:
    """
    The items of C{items}; from a list, each is let go (its slot set to
    C{None}) as it is handed out, so that while a big page's model is built
    the parsed JSON it is built from shrinks, instead of both being whole at
    once.
    """
    if not isinstance(items, list):
        yield from items
        return
    for i in range(len(items)):
        item, items[i] = items[i], None
        yield item


class Streamed(List[Any]):
    """
    What L{loadStreaming} puts in place of the array it streamed: the
    results of C{onItem} for its items.
    """


_scanOnce = json.JSONDecoder().scan_once
_SPACE = re.compile(r"[ \t\n\r]*")


#: Items decoded between two steps of a page parsed in steps (see
#: L{finish}): a few milliseconds' work.
STEP_ITEMS = 256

#: A generator that yields at points where the work may pause, and returns
#: the result: what a big page is parsed by, so that the reactor can serve
#: other requests between the steps.
Steps = Generator[None, None, _T]


def finish(steps: "Steps[_T]") -> _T:
    """
    Take C{steps} to their end at once; their result.
    """
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def loadStreaming(text: str, path: Tuple[str, ...], onItem: Callable[[Any], Any]) -> Any:
    """
    Decode JSON C{text} like L{loads}, except for the array at C{path}
    (keys of nested objects, from the top): its items are decoded one at a
    time, or a run at a time (see L{_decodedRun}), and each handed to
    C{onItem} at once, and the array's place holds a L{Streamed} list of
    what C{onItem} returned.  A page of 15,000 files is thus never held
    whole as parsed JSON next to what is made of it.  A value at C{path}
    that is not an array is decoded as it is.  (A text of no more than
    L{DECODE_AT_ONCE} is decoded whole, and its items handed over one at a
    time, faster.)

    @raise ValueError: C{text} is not JSON.
    """
    return finish(loadStreamingSteps(text, path, onItem))


def loadStreamingSteps(
    text: str,
    path: Tuple[str, ...],
    onItem: Callable[[Any], Any],
    onRun: Optional["RunTaker"] = None,
) -> "Steps[Any]":
    """
    L{loadStreaming} in steps of L{STEP_ITEMS} items, or of a run.  With
    C{onRun}, each run of the array's items (see L{_runEnd}) is first
    offered to it as text, undecoded: the items of a run it takes are not
    decoded nor given to C{onItem}.
    """
    if len(text) <= DECODE_AT_ONCE:
        return (yield from _handDecoded(loads(text), path, onItem))
    pos = _SPACE.match(text).end()  # type: ignore[union-attr]
    value, pos = yield from _streamValue(text, pos, path, onItem, onRun)
    pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return value


#: Texts up to this many characters (those parsed at once, see
#: L{cheesecache.index.COOPERATIVE_PARSE}) are decoded whole, then handed
#: on an item at a time: faster than decoding them an item, or a run, at a
#: time.  Bigger ones are never held whole as parsed JSON: decoding pages
#: of 1-2 MB whole raised the server's memory peak by 8 MB.
DECODE_AT_ONCE = 256 * 1024

#: About how many characters of an array are decoded together (see
#: L{_runEnd}).
RUN_CHARS = 64 * 1024

#: Given a text and the start and end of a run of an array's items in it
#: (see L{_runEnd}), takes the run and says C{True}, or leaves it to be
#: decoded (C{False}).
RunTaker = Callable[[str, int, int], bool]


def _runEnd(text: str, pos: int) -> int:
    """
    Where a run of a compact array's objects that starts at C{pos} (the
    start of one) may end: after the first object boundary (C{},{"}) past
    L{RUN_CHARS} more characters; -1 if there is none.

    Decoding a run as one array takes a third of the time of decoding its
    objects one by one.  The boundary may fall inside a string (one that
    ends with C{"},{"}), so a run is only a run if it decodes (see
    L{_decodedRun}): one that ends inside an object is not balanced.
    """
    if not text.startswith("{", pos):
        return -1
    end = text.find('},{"', pos + RUN_CHARS)
    return end + 1 if end >= 0 else -1


def _decodedRun(text: str, pos: int, end: int) -> Optional[List[Any]]:
    """
    The objects of the run from C{pos} to C{end} (see L{_runEnd}), decoded
    together; C{None} if it does not decode.
    """
    try:
        return loads("[" + text[pos:end] + "]")  # type: ignore[no-any-return]
    except ValueError:
        return None


def _handDecoded(
    value: Any, path: Tuple[str, ...], onItem: Callable[[Any], Any]
) -> "Steps[Any]":
    """
    C{value}, decoded whole, with the array at C{path} (if there is one)
    handed to C{onItem} an item at a time, in steps, and replaced by a
    L{Streamed} list of what C{onItem} returned, as L{loadStreaming} does.
    """
    parent: Any = None
    key: Any = None
    items = value
    for key in path:
        if not isinstance(items, dict) or key not in items:
            return value
        parent, items = items, items[key]
    if not isinstance(items, list):
        return value
    result = Streamed()
    if parent is None:
        value = result
    else:
        parent[key] = result
    untilStep = STEP_ITEMS
    for item in draining(items):
        result.append(onItem(item))
        untilStep -= 1
        if not untilStep:
            untilStep = STEP_ITEMS
            yield
    return value


def _scanValue(text: str, pos: int) -> Tuple[Any, int]:
    try:
        return _scanOnce(text, pos)  # type: ignore[no-any-return]
    except StopIteration as e:
        raise json.JSONDecodeError("Expecting value", text, e.value) from None


def _streamValue(
    text: str,
    pos: int,
    path: Optional[Tuple[str, ...]],
    onItem: Callable[[Any], Any],
    onRun: Optional[RunTaker] = None,
) -> "Steps[Tuple[Any, int]]":
    if path and text.startswith("{", pos):
        return (yield from _streamObject(text, pos + 1, path, onItem, onRun))
    if path == () and text.startswith("[", pos):
        return (yield from _streamArray(text, pos + 1, onItem, onRun))
    return _scanValue(text, pos)


def _streamObject(
    text: str,
    pos: int,
    path: Tuple[str, ...],
    onItem: Callable[[Any], Any],
    onRun: Optional[RunTaker] = None,
) -> "Steps[Tuple[Dict[str, Any], int]]":
    result: Dict[str, Any] = {}
    pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
    if text.startswith("}", pos):
        return result, pos + 1
    while True:
        if not text.startswith('"', pos):
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", text, pos
            )
        key, pos = scanstring(text, pos + 1)
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if not text.startswith(":", pos):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        result[key], pos = yield from _streamValue(
            text, pos, path[1:] if key == path[0] else None, onItem, onRun
        )
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif text.startswith("}", pos):
            return result, pos + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def _streamArray(
    text: str, pos: int, onItem: Callable[[Any], Any], onRun: Optional[RunTaker] = None
) -> "Steps[Tuple[Streamed, int]]":
    result = Streamed()
    pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
    if text.startswith("]", pos):
        return result, pos + 1
    # The loop runs once per item (700,000 times for a big root list): the
    # regular expression skips whitespace only where there is some, as in
    # compact JSON there is none.
    append, scan, space, blank = result.append, _scanOnce, _SPACE.match, " \t\n\r"
    untilStep = STEP_ITEMS
    # Runs of objects are decoded together until one fails to (a boundary
    # in a nested array of objects), or there is none: then item by item
    # to the end.
    while True:
        end = _runEnd(text, pos)
        if end < 0:
            # The last run: to the first closing bracket, which ends the
            # array if what comes before it is a run onRun takes.  A
            # compact array's last run is shorter than two runs; anything
            # longer (a page written with spaces) is not offered whole.
            close = text.find("]", pos, pos + 2 * RUN_CHARS)
            if onRun is not None and close > pos and onRun(text, pos, close):
                return result, close + 1
            break
        if onRun is not None and onRun(text, pos, end):
            pos = end + 1
            yield
            continue
        items = _decodedRun(text, pos, end)
        if items is None:
            break
        for item in draining(items):
            append(onItem(item))
        pos = end + 1
        yield
    while True:
        try:
            item, pos = scan(text, pos)
        except StopIteration as e:
            raise json.JSONDecodeError("Expecting value", text, e.value) from None
        append(onItem(item))
        nextChar = text[pos : pos + 1]
        if nextChar and nextChar in blank:
            pos = space(text, pos).end()  # type: ignore[union-attr]
            nextChar = text[pos : pos + 1]
        if nextChar == ",":
            pos += 1
            if text[pos : pos + 1] in blank:
                pos = space(text, pos).end()  # type: ignore[union-attr]
        elif nextChar == "]":
            return result, pos + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        untilStep -= 1
        if not untilStep:
            untilStep = STEP_ITEMS
            yield


def _checkUnicode(value: Any) -> None:
    # A lone surrogate escape would parse, then fail every rendering.
    try:
        dumps(value)
    except UnicodeEncodeError as e:
        raise ParseError(f"invalid unicode in page: {e}") from e


def _checkingUnicode(onItem: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """
    C{onItem}, for items that are checked for lone surrogates first.
    """
    def each(item: Any) -> Any:
        _checkUnicode(item)
        return onItem(item)

    return each


def _loadJSONSteps(
    body: Body,
    key: str = "",
    onItem: Optional[Callable[[Any], Any]] = None,
    onRun: Optional[RunTaker] = None,
) -> "Steps[Dict[str, Any]]":
    """
    Decode a Simple JSON page; with C{onItem}, the array under C{key} (the
    files, the projects) is streamed through it (see L{loadStreaming}),
    its runs offered to C{onRun} first.
    """
    escape = _SURROGATE_ESCAPE_TEXT if isinstance(body, str) else _SURROGATE_ESCAPE
    suspect = escape.search(body) is not None  # type: ignore[arg-type]
    try:
        if onItem is None:
            data = loads(body)
        else:
            text = body if isinstance(body, str) else pageText(body, JSON_TYPE)
            each = _checkingUnicode(onItem) if suspect else onItem
            data = yield from loadStreamingSteps(text, (key,), each, onRun)
    except (ValueError, RecursionError) as e:
        # RecursionError: valid JSON nested deeper than the decoder goes,
        # which no Simple page is.
        if isinstance(e, ParseError):
            raise
        raise ParseError(f"not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ParseError("a Simple JSON page must be an object")
    if suspect:
        _checkUnicode({k: v for k, v in data.items() if not isinstance(v, Streamed)})
    _checkMeta(data.get("meta"))
    return data


def _checkMeta(meta: Any) -> None:
    meta = meta or {}
    if not isinstance(meta, dict):
        raise ParseError("meta must be an object")
    _checkMajor(meta.get("api-version", "1.0"))


def _reportedAsParseError(
    errors: Tuple[type, ...], message: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """
    A decorator of parsing steps: the C{errors} they raise are reported as
    a L{ParseError} (C{message} formatted with the error), like any other
    unusable page, so that the cache serves its copy.
    """

    def decorate(f):  # type: ignore[no-untyped-def]
        @functools.wraps(f)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            try:
                return (yield from f(*args, **kwargs))
            except ParseError:
                raise
            except errors as e:
                raise ParseError(message.format(e)) from e

        return wrapper

    return decorate


#: A page of the wrong shape: valid JSON, wrong types.
_shapeErrors = _reportedAsParseError(
    (TypeError, AttributeError, KeyError), "page of the wrong shape: {!r}"
)


#: Printable ASCII but for the space and C{/?#;\\}, as a character class:
#: explicit ranges test a character faster than C{\\s} and C{isprintable}.
_PLAIN = r'!-"$-.0-:<->@-\[\]-~'

#: An absolute URL with a host and a path, in printable ASCII, and nothing
#: urljoin changes.
_PLAIN_URL = re.compile(rf"https?://[{_PLAIN}]+/[/{_PLAIN}]*\Z")


def fileLocation(baseURL: str, url: str) -> str:
    """
    The absolute URL of a file listed on the page at C{baseURL}, without
    fragment.

    Upstreams usually list absolute URLs; those need no resolving when
    they have nothing C{urljoin} would change (a query, parameters, a
    fragment, whitespace, an upper-case scheme), which saves most of the
    time parsing a big page takes.
    """
    if _PLAIN_URL.match(url):
        return url
    return sendableURL(urldefrag(urljoin(baseURL, url))[0])


#: What an HTTP request's URL cannot carry as it is (Twisted's client
#: refuses it): spaces, control characters, anything beyond ASCII.
_UNSENDABLE = re.compile(r"[^\x21-\x7e]")

#: Printable ASCII, which L{sendableURL} leaves as it is.
_SENDABLE = "".join(map(chr, range(0x21, 0x7F)))


def sendableURL(url: str) -> str:
    """
    C{url} with what a request cannot carry in its path and query
    percent-encoded (as UTF-8), as pip encodes a link before fetching it;
    what is already encoded, and all else, stays.  An upstream's link
    with a space in it is so fetched, not refused.
    """
    if not _UNSENDABLE.search(url):
        return url
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(
            path=quote(parts.path, safe=_SENDABLE),
            query=quote(parts.query, safe=_SENDABLE),
        )
    )


def fileFromJSON(entry: Any, baseURL: str) -> DistFile:
    """
    One file entry of a PEP 691 page, decoded, as the model's L{DistFile}.
    Runs once per file of every page parsed: one dict lookup per key.
    """
    try:
        filename = _text(entry["filename"], "filename")
        location = entry["url"]
        url = fileLocation(baseURL, location)
    except (KeyError, TypeError) as e:
        raise ParseError(f"file entry without filename or url: {entry!r}") from e
    if filename is None:
        # Empty or null: a file without a name, which no link can show.
        raise ParseError(f"file entry without filename: {entry!r}")
    get = entry.get
    coreMetadata = get("core-metadata")
    if coreMetadata is None:
        coreMetadata = get("data-dist-info-metadata")
        if coreMetadata is None:
            coreMetadata = get("dist-info-metadata")
    size = get("size")
    yanked = get("yanked", False)
    hashes = get("hashes") or {}
    if "#" in location:
        # A hash in the URL's fragment is the file's too, as pip reads it
        # (and as an HTML page gives it): the entry's own come first.
        fromFragment = _fragmentHashes(location.partition("#")[2])
        if fromFragment:
            hashes = {**fromFragment, **hashes}
    return DistFile(
        filename=filename,
        url=url,
        hashes=hashes,
        requiresPython=_text(get("requires-python"), "requires-python"),
        yanked=yanked if yanked is False else _yanked(yanked),
        coreMetadata=None if coreMetadata is None else _coreMetadata(coreMetadata),
        size=size if type(size) is int else None,
        uploadTime=_text(get("upload-time"), "upload-time"),
        provenance=_text(get("provenance"), "provenance"),
    )


def _text(value: Any, field: str) -> Optional[str]:
    """
    A file entry's text field: C{None} when empty or absent.  Anything but
    text makes the page unusable (it would be written into the page as it
    is, and HTML cannot show it).
    """
    if type(value) is str:
        return value or None
    if value is None:
        return None
    raise ParseError(f"file entry with a {field} that is not text: {value!r}")


def parseProjectJSON(body: Body, baseURL: str, name: str) -> ProjectPage:
    """
    Parse a PEP 691 project detail page.
    """
    return finish(_parseProjectJSONSteps(body, baseURL, name))


@_shapeErrors
def handProjectJSONSteps(
    body: Body, baseURL: str, name: str, onFile: Callable[[DistFile], object]
) -> "Steps[ProjectPage]":
    """
    Parse a PEP 691 project page in steps, handing each file to C{onFile}
    as soon as it is decoded and keeping none: the page is given without
    its files.  A page of 15,000 files is so never held whole, as JSON or
    as a model.
    """
    def hand(entry: Any) -> None:
        onFile(fileFromJSON(entry, baseURL))

    return (yield from handProjectJSONEntrySteps(body, name, hand))


@_shapeErrors
def handProjectJSONEntrySteps(
    body: Body,
    name: str,
    onEntry: Callable[[Any], object],
    onRun: Optional[RunTaker] = None,
) -> "Steps[ProjectPage]":
    """
    Like L{handProjectJSONSteps}, handing each file's entry as decoded,
    before it is made a L{DistFile} (see L{fileFromJSON}): a big page's
    rendering can write most entries without the model, and, given
    C{onRun}, whole runs of them without decoding them (see
    L{loadStreamingSteps}).
    """
    data = yield from _loadJSONSteps(body, "files", onEntry, onRun)
    files = data.get("files", ())
    if not isinstance(files, Streamed):
        for entry in draining(files):
            onEntry(entry)
    versions = data.get("versions")
    return ProjectPage(
        name=normalize(data.get("name") or name),
        versions=[str(v) for v in versions] if isinstance(versions, list) else None,
        status=_projectStatus(data.get("project-status")),
    )


def _projectStatus(value: Any) -> Optional[Tuple[str, Optional[str]]]:
    """
    The PEP 792 status and reason of a JSON page's C{project-status}: text
    only.  A reason that is not text is left out (HTML cannot show it, and
    uv refuses a page whose reason is not a string); a status that is not
    text is no status.
    """
    if not isinstance(value, dict):
        return None
    status, reason = value.get("status"), value.get("reason")
    if type(status) is not str or not status:
        return None
    return status, reason if type(reason) is str and reason else None


def _parseProjectJSONSteps(body: Body, baseURL: str, name: str) -> "Steps[ProjectPage]":
    # Each file is made as soon as its entry is decoded: the page is never
    # held whole as parsed JSON.
    files: List[DistFile] = []
    page = yield from handProjectJSONSteps(body, baseURL, name, files.append)
    return attrs.evolve(page, files=files)


def findFileJSON(body: Body, baseURL: str, key: str, filename: str) -> Optional[DistFile]:
    """
    The file C{filename} under C{key} on a PEP 691 project page, without
    making the others: a cold file of a big page let go from memory needs
    one file, and making every file was most of parsing the page again.
    """
    if isinstance(body, bytes):
        found = _findCompactEntry(body, baseURL, key, filename)
        if found is not None:
            return found
    return finish(_findFileJSONSteps(body, baseURL, key, filename))


#: A filename that JSON writes as it is, between quotes.
_JSON_PLAIN_STRING = re.compile(r'[ !#-\[\]-~]*\Z')


def _findCompactEntry(
    body: bytes, baseURL: str, key: str, filename: str
) -> Optional[DistFile]:
    """
    The file C{filename} under C{key}, found by searching the compact JSON
    page C{body} for its filename and decoding its entry alone, in a
    fifteenth of the time decoding the page takes (0.2 ms for a page of
    1.5 MB), not even decoding the page to text.  C{None} if the page is
    written otherwise or lists no such file (it must then be decoded).

    The entry is cut out between object boundaries (C{},{"}, which never
    falls inside a string: see L{_decodedRun}); a cut that falls inside a
    nested object does not decode, and an entry that decodes is checked
    against what was asked.
    """
    if not _JSON_PLAIN_STRING.match(filename):
        return None
    needle = f'"filename":"{filename}"'.encode("ascii")
    at = body.find(needle)
    while at >= 0:
        # The boundary before the entry ends with the quote that opens the
        # first key, which may be the filename's.
        start = body.rfind(b'},{"', 0, at + 1) + 2
        if start < 2:
            start = body.rfind(b'[{"', 0, at + 1) + 1
        end = body.find(b'},{"', at)
        if end < 0:
            end = body.find(b"}]", at)
        if start > 0 and end > 0:
            try:
                entry = loads(body[start : end + 1])
            except ValueError:
                return None
            if not isinstance(entry, dict) or entry.get("filename") != filename:
                return None
            f = fileFromJSON(entry, baseURL)
            if f.key == key:
                return f
        at = body.find(needle, at + len(needle))
    return None


@_shapeErrors
def _findFileJSONSteps(
    body: Body, baseURL: str, key: str, filename: str
) -> "Steps[Optional[DistFile]]":
    found: List[DistFile] = []

    def match(entry: Any) -> None:
        if not found and isinstance(entry, dict) and entry.get("filename") == filename:
            f = fileFromJSON(entry, baseURL)
            if f.key == key:
                found.append(f)

    yield from _loadJSONSteps(body, "files", match)
    return found[0] if found else None


def parseListJSON(body: Body) -> ProjectList:
    """
    Parse a PEP 691 root project list.
    """
    return finish(_parseListJSONSteps(body))


@_shapeErrors
def _parseListJSONSteps(body: Body) -> "Steps[ProjectList]":
    text = body if isinstance(body, str) else pageText(body, JSON_TYPE)
    plain = yield from _plainListSteps(text)
    if plain is not None:
        return plain

    def name(project: Any) -> Any:
        if not isinstance(project, dict):
            return _NO_NAME
        value = project["name"]
        if type(value) is not str:
            # Written into both lists as it is: the list is unusable, as
            # a project page with a text field that is not text is.
            raise ParseError(f"project name that is not text: {value!r}")
        return value

    # A root list can name 700,000 projects: the names are taken as the
    # entries are decoded, the entries are never all held at once.
    data = yield from _loadJSONSteps(text, "projects", name)
    projects = data.get("projects", ())
    if not isinstance(projects, Streamed):
        projects = [name(p) for p in projects]
    return ProjectList(names=[n for n in projects if n is not _NO_NAME])


_NO_NAME = object()


def _plainProject(name: str) -> str:
    """
    One project of a root list as indexes write it, C{name} matching its
    name: compact, the name plain (nothing escaped), with or without the
    serial some indexes add, before or after it.
    """
    return rf'\{{(?:"_last-serial":\d+,)?"name":"{name}"(?:,"_last-serial":\d+)?\}}'


_PLAIN_PROJECT = _plainProject("[A-Za-z0-9._-]+")

#: A compact root list up to its first project: C{meta} (nothing nested,
#: nothing escaped) and then the C{projects}.
_PLAIN_LIST_HEAD = re.compile(r'\{"meta":(\{[^{}\\]*\}),"projects":\[')

#: Projects decoded between two steps of a plain root list: each step is
#: two passes of a regular expression over them, about a millisecond.
PLAIN_STEP_PROJECTS = 4096

#: Up to L{PLAIN_STEP_PROJECTS} projects, each followed by a comma.
_PLAIN_PROJECTS = re.compile(rf"(?:{_PLAIN_PROJECT},){{1,{PLAIN_STEP_PROJECTS}}}+")

#: The last project, the end of the list and of the page.
_PLAIN_LAST = re.compile(rf"{_PLAIN_PROJECT}\][ \t\n\r]*\}}[ \t\n\r]*\Z")

#: A project, its name in a group.
_PLAIN_NAME = re.compile(_plainProject("([A-Za-z0-9._-]+)"))


def _plainListSteps(text: str) -> "Steps[Optional[ProjectList]]":
    """
    A root list written the way indexes write it (compact JSON, C{meta}
    first: the public index's spelling, and this one's), decoded by regular
    expressions rather than item by item, which took two thirds of a second
    for 700,000 names; or C{None} for any other spelling, which the general
    parser then reads from the start.
    """
    head = _PLAIN_LIST_HEAD.match(text)
    if head is None:
        return None
    try:
        meta = json.loads(head.group(1))
    except ValueError:
        return None
    names: List[str] = []
    pos = head.end()
    while True:
        projects = _PLAIN_PROJECTS.match(text, pos)
        if projects is None:
            break
        names += _PLAIN_NAME.findall(text, pos, projects.end())
        pos = projects.end()
        yield
    if _PLAIN_LAST.match(text, pos) is None:
        return None
    names += _PLAIN_NAME.findall(text, pos)
    _checkMeta(meta)
    return ProjectList(names=names)


class _AnchorCollector(HTMLParser):
    """
    Collect the anchors, C{<base href>} and project-status meta of a page.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: List[Tuple[Dict[str, Optional[str]], str]] = []
        self.base: Optional[str] = None
        self.meta: Dict[str, str] = {}
        self._current: Optional[Dict[str, Optional[str]]] = None
        self._text: List[str] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            # An anchor left open ends where the next one starts (as pip
            # reads it): its file is listed all the same.
            self._endAnchor()
            self._current = attributes
            self._text = []
        elif tag == "base" and self.base is None and attributes.get("href"):
            self.base = attributes["href"]
        elif tag == "meta" and attributes.get("name") and attributes.get("content"):
            self.meta[str(attributes["name"])] = str(attributes["content"])

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._endAnchor()

    def close(self) -> None:
        super().close()
        self._endAnchor()

    def _endAnchor(self) -> None:
        if self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


#: An HTML page that cannot be read: C{html.parser} raises C{AssertionError}
#: at a malformed declaration (C{<![x}), and C{urllib} C{ValueError} at a
#: link that is no URL (an unclosed IPv6 host).
_htmlErrors = _reportedAsParseError((AssertionError, ValueError), "unreadable HTML page: {}")


#: Characters of HTML fed to the parser between two steps.
STEP_HTML = 64 * 1024


def _collect(body: Body) -> "Steps[_AnchorCollector]":
    collector = _AnchorCollector()
    text = body if isinstance(body, str) else pageText(body, "text/html")
    for start in range(0, len(text), STEP_HTML):
        collector.feed(text[start : start + STEP_HTML])
        yield
    collector.close()
    return collector


def _htmlCoreMetadata(attributes: Mapping[str, Optional[str]]) -> CoreMetadata:
    value = attributes.get("data-core-metadata")
    if value is None:
        value = attributes.get("data-dist-info-metadata")
    if value is None or value.lower() == "false":
        return None
    if "=" in value:
        algorithm, _, digest = value.partition("=")
        return {algorithm.lower(): digest.lower()}
    return True


#: The names a link's fragment gives a hash under: hashlib's, but for the
#: shakes (of no fixed length).  Any other pair (C{#egg=cafe}) is no hash:
#: listed as one, pip fails on the file ("Unknown hash name").
_FRAGMENT_HASHES = frozenset(hashlib.algorithms_guaranteed) - {"shake_128", "shake_256"}


def _fragmentHashes(fragment: str) -> Dict[str, str]:
    """
    The hashes a link's C{fragment} gives.  Each of its C{&}-separated
    pairs may be a hash, as pip reads them (C{#egg=name&sha256=...}); the
    first of a name counts.  What is not a digest, the model drops.
    """
    hashes: Dict[str, str] = {}
    if "=" in fragment:
        for pair in fragment.split("&"):
            algorithm, _, digest = pair.partition("=")
            algorithm = algorithm.lower()
            if algorithm in _FRAGMENT_HASHES:
                hashes.setdefault(algorithm, digest.lower())
    return hashes


def parseProjectHTML(body: Body, baseURL: str, name: str) -> ProjectPage:
    """
    Parse a PEP 503 project detail page.
    """
    return finish(_parseProjectHTMLSteps(body, baseURL, name))


@_htmlErrors
def _parseProjectHTMLSteps(body: Body, baseURL: str, name: str) -> "Steps[ProjectPage]":
    collector = yield from _collect(body)
    _checkMajor(collector.meta.get("pypi:repository-version", "1.0"))
    base = urljoin(baseURL, collector.base) if collector.base else baseURL
    files: List[DistFile] = []
    for i, (attributes, text) in enumerate(draining(collector.anchors), 1):
        if not i % STEP_ITEMS:
            yield
        href = attributes.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        url = sendableURL(url)
        hashes = _fragmentHashes(fragment)
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or text
        yanked = attributes.get("data-yanked", False)
        files.append(
            DistFile(
                filename=filename,
                url=url,
                hashes=hashes,
                requiresPython=attributes.get("data-requires-python") or None,
                yanked=_yanked(yanked if yanked is not None else True),
                coreMetadata=_htmlCoreMetadata(attributes),
            )
        )
    status = collector.meta.get("pypi:project-status")
    return ProjectPage(
        name=normalize(name),
        files=files,
        status=(status, collector.meta.get("pypi:project-status-reason"))
        if status
        else None,
    )


def parseListHTML(body: Body) -> ProjectList:
    """
    Parse a PEP 503 root project list: the anchor texts are the names.
    """
    return finish(_parseListHTMLSteps(body))


@_htmlErrors
def _parseListHTMLSteps(body: Body) -> "Steps[ProjectList]":
    collector = yield from _collect(body)
    return ProjectList(names=[text for _, text in collector.anchors if text])


def parseProject(
    body: Body, contentType: str, baseURL: str, name: str
) -> ProjectPage:
    """
    Parse a project page in whichever representation the upstream sent.
    """
    return finish(parseProjectSteps(body, contentType, baseURL, name))


def parseProjectSteps(
    body: Body, contentType: str, baseURL: str, name: str
) -> "Steps[ProjectPage]":
    """
    L{parseProject} in steps (see L{Steps}).
    """
    if isJSONType(contentType):
        return (yield from _parseProjectJSONSteps(body, baseURL, name))
    if isinstance(body, bytes):
        # Read in its charset, which the HTML parser is not told.
        body = pageText(body, contentType)
    return (yield from _parseProjectHTMLSteps(body, baseURL, name))


def parseList(body: Body, contentType: str) -> ProjectList:
    """
    Parse a root project list in whichever representation the upstream sent.
    """
    return finish(parseListSteps(body, contentType))


def parseListSteps(body: Body, contentType: str) -> "Steps[ProjectList]":
    """
    L{parseList} in steps (see L{Steps}).
    """
    if isJSONType(contentType):
        return (yield from _parseListJSONSteps(body))
    if isinstance(body, bytes):
        body = pageText(body, contentType)
    return (yield from _parseListHTMLSteps(body))
