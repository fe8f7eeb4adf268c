# -*- test-case-name: tests.test_plain -*-
"""
A big page's files written straight from the upstream's JSON, without the
model, when their entries are plain: as JSON, and as HTML from the JSON
entry written.

Making each file a L{DistFile} and then writing it was most of the time a
cold big page took (about a tenth of a second of the reactor's time for
the big pages of one install); nearly every entry an index writes says
nothing the model would change, and is written here in half that time.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

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
