# -*- test-case-name: tests.test_parse -*-
"""
Read upstream Simple pages (PEP 691 JSON or PEP 503 HTML) into the model.

Relative URLs are resolved against C{baseURL}, which must be the URL the page
was finally served from (after redirects), as pip and uv do.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from .model import CoreMetadata, DistFile, ProjectList, ProjectPage, Yanked
from .names import normalize

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


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


def pageText(body: bytes, contentType: str) -> str:
    """
    A page's bytes as the text the parsers read: JSON decoded as C{json}
    does (UTF-8, -16 or -32), HTML as UTF-8 with undecodable bytes replaced.
    A caller that passes on the text and drops the bytes does not keep a
    big page twice while it is parsed.

    @raise ParseError: JSON that is not in a Unicode encoding.
    """
    if not isJSONType(contentType):
        return body.decode("utf-8", errors="replace")
    try:
        return body.decode(json.detect_encoding(body), "surrogatepass")
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


def _loadJSON(body: Body) -> Dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise ParseError(f"not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ParseError("a Simple JSON page must be an object")
    escape = _SURROGATE_ESCAPE_TEXT if isinstance(body, str) else _SURROGATE_ESCAPE
    if escape.search(body):  # type: ignore[arg-type]
        # A lone surrogate escape would parse, then fail every rendering.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise ParseError(f"invalid unicode in page: {e}") from e
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise ParseError("meta must be an object")
    _checkMajor(meta.get("api-version", "1.0"))
    return data


def _shapeErrors(f):  # type: ignore[no-untyped-def]
    """
    Report a page of the wrong shape (valid JSON, wrong types) as a
    L{ParseError}, like any other unusable page.
    """
    import functools

    @functools.wraps(f)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return f(*args, **kwargs)
        except (TypeError, AttributeError, KeyError) as e:
            raise ParseError(f"page of the wrong shape: {e!r}") from e

    return wrapper


@_shapeErrors
def parseProjectJSON(body: Body, baseURL: str, name: str) -> ProjectPage:
    """
    Parse a PEP 691 project detail page.
    """
    data = _loadJSON(body)
    files: List[DistFile] = []
    for entry in draining(data.get("files", ())):
        try:
            filename = entry["filename"]
            url = urljoin(baseURL, entry["url"])
        except (KeyError, TypeError) as e:
            raise ParseError(f"file entry without filename or url: {entry!r}") from e
        coreMetadata = entry.get("core-metadata")
        if coreMetadata is None:
            coreMetadata = entry.get("data-dist-info-metadata")
        if coreMetadata is None:
            coreMetadata = entry.get("dist-info-metadata")
        size = entry.get("size")
        if isinstance(size, bool):
            size = None
        files.append(
            DistFile(
                filename=filename,
                url=urldefrag(url)[0],
                hashes={
                    k: v
                    for k, v in (entry.get("hashes") or {}).items()
                    if isinstance(v, str)
                },
                requiresPython=entry.get("requires-python") or None,
                yanked=_yanked(entry.get("yanked", False)),
                coreMetadata=_coreMetadata(coreMetadata),
                size=size if isinstance(size, int) else None,
                uploadTime=entry.get("upload-time") or None,
                provenance=entry.get("provenance") or None,
            )
        )
    versions = data.get("versions")
    status = data.get("project-status")
    return ProjectPage(
        name=normalize(data.get("name") or name),
        files=files,
        versions=[str(v) for v in versions] if isinstance(versions, list) else None,
        status=(
            (str(status["status"]), status.get("reason"))
            if isinstance(status, dict) and "status" in status
            else None
        ),
    )


@_shapeErrors
def parseListJSON(body: Body) -> ProjectList:
    """
    Parse a PEP 691 root project list.
    """
    data = _loadJSON(body)
    return ProjectList(
        names=[p["name"] for p in data.get("projects", ()) if isinstance(p, dict)]
    )


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
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def _collect(body: Body) -> _AnchorCollector:
    collector = _AnchorCollector()
    collector.feed(body if isinstance(body, str) else pageText(body, "text/html"))
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


def parseProjectHTML(body: Body, baseURL: str, name: str) -> ProjectPage:
    """
    Parse a PEP 503 project detail page.
    """
    collector = _collect(body)
    _checkMajor(collector.meta.get("pypi:repository-version", "1.0"))
    base = urljoin(baseURL, collector.base) if collector.base else baseURL
    files: List[DistFile] = []
    for attributes, text in draining(collector.anchors):
        href = attributes.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        hashes: Dict[str, str] = {}
        if "=" in fragment:
            algorithm, _, digest = fragment.partition("=")
            hashes[algorithm.lower()] = digest.lower()
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
    return ProjectList(names=[text for _, text in _collect(body).anchors if text])


def parseProject(
    body: Body, contentType: str, baseURL: str, name: str
) -> ProjectPage:
    """
    Parse a project page in whichever representation the upstream sent.
    """
    if isJSONType(contentType):
        return parseProjectJSON(body, baseURL, name)
    return parseProjectHTML(body, baseURL, name)


def parseList(body: Body, contentType: str) -> ProjectList:
    """
    Parse a root project list in whichever representation the upstream sent.
    """
    if isJSONType(contentType):
        return parseListJSON(body)
    return parseListHTML(body)
