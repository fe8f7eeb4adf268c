# -*- test-case-name: tests.test_ranges -*-
"""
Conditional and range requests for stored files (RFC 9110, sections 13
and 14), as pure functions of header values: whether a client has the file
already (304), and which of its bytes it gets (the whole, some ranges, or
none: 416).  Pages read C{If-None-Match} with L{noneMatch} too.

Twisted's C{static.File} decided these for us and got several wrong: a
suffix range longer than the file (a negative offset: 500), several ranges
none of which could be served (500), C{If-Range} never looked at (a range
of another version of the file), C{If-None-Match} split on whitespace (a
list, or a weak tag, never matched) and C{If-Modified-Since} heeded beside
it.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

import attrs
from twisted.web.http import stringToDatetime

#: An entity tag in a header: whether it is weak, and its opaque part.
_ENTITY_TAG = re.compile(rb'(W/)?"([^"]*)"')

#: C{(offset, length)} of a range of bytes.
ByteRange = Tuple[int, int]


@attrs.frozen
class FileValidators:
    """
    What a stored file is told apart from other versions of it by.

    @ivar etag: its entity tag, without the quotes (C{None}: it has none).
    @ivar lastModified: its C{Last-Modified}, in whole seconds since the
        epoch.
    """

    etag: Optional[str]
    lastModified: int


def httpDate(value: bytes) -> Optional[int]:
    """
    Seconds since the epoch of an HTTP-date (any of its three forms);
    C{None} if C{value} is not one.
    """
    try:
        return int(stringToDatetime(value))
    except (ValueError, IndexError, OverflowError):
        return None


def noneMatch(value: bytes, etag: Optional[str]) -> bool:
    """
    Does C{If-None-Match: value} name the file whose tag is C{etag}?  Its
    value is C{*} (any version) or a comma-separated list of tags, compared
    weakly (C{W/"x"} names C{"x"}): a cache that revalidates may hold the
    tag as it came through a proxy that weakened it.
    """
    if value.strip() == b"*":
        return True
    if etag is None:
        return False
    wanted = etag.encode("ascii")
    return any(opaque == wanted for _, opaque in _ENTITY_TAG.findall(value))


def isNotModified(
    ifNoneMatch: Optional[bytes], ifModifiedSince: Optional[bytes], validators: FileValidators
) -> bool:
    """
    Is a C{GET} or C{HEAD} with these header values answered with a 304?
    C{If-Modified-Since} counts only without C{If-None-Match} (RFC 9110,
    13.1.3), and only if it is a date.
    """
    if ifNoneMatch is not None:
        return noneMatch(ifNoneMatch, validators.etag)
    if ifModifiedSince is None:
        return False
    since = httpDate(ifModifiedSince.split(b";", 1)[0])
    return since is not None and validators.lastModified <= since


def ifRangeHolds(value: bytes, validators: FileValidators) -> bool:
    """
    May a range be served under C{If-Range: value}?  Only if it names this
    very file (RFC 9110, 13.1.5): a strong tag equal to its own, or exactly
    the C{Last-Modified} it is sent with.  Anything else (a weak tag,
    another date, something that is neither) gets the whole file, which is
    never wrong.
    """
    value = value.strip()
    if value.startswith(b'"'):
        etag = validators.etag
        return etag is not None and value == b'"' + etag.encode("ascii") + b'"'
    if value.startswith(b"W/"):
        return False
    return httpDate(value) == validators.lastModified


#: Digits of a byte position beyond which it is past the end of any file.
_MAX_DIGITS = 18


def bytePosition(digits: bytes) -> int:
    """
    The byte position (or suffix length) that C{digits}, ASCII digits,
    stand for: one of more than L{_MAX_DIGITS} significant digits is past
    the end of any file, and counted as such.  Given to C{int()}, one of
    more than 4300 digits (a header may hold 16 KiB) was a C{ValueError}:
    a 500.
    """
    digits = digits.lstrip(b"0") or b"0"
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def byteRanges(value: bytes, size: int) -> Optional[List[ByteRange]]:
    """
    The ranges of a file of C{size} bytes that C{Range: value} asks for and
    that can be served, in the order asked: a range running past the end
    stops there, a suffix longer than the file is all of it (RFC 9110,
    14.1.2).

    @return: C{None} when the header is to be ignored (the whole file is
        sent): not in bytes, malformed, a file of no bytes, or ranges
        longer together than the file; an empty list when no range can
        be served (416).
    """
    if size == 0:
        return None
    unit, equals, specs = value.partition(b"=")
    if not equals or unit.strip().lower() != b"bytes":
        return None
    found: List[ByteRange] = []
    asked = False
    for spec in specs.split(b","):
        spec = spec.strip()
        if not spec:
            continue  # empty list elements are allowed
        asked = True
        first, dash, last = spec.partition(b"-")
        if not dash or not (last == b"" or last.isdigit()):
            return None
        if first == b"":
            if last == b"":
                return None
            length = min(bytePosition(last), size)
            if length:
                found.append((size - length, length))
            continue
        if not first.isdigit():
            return None
        start = bytePosition(first)
        end = size - 1 if last == b"" else bytePosition(last)
        if last and end < start:
            return None
        if start < size:
            found.append((start, min(end, size - 1) - start + 1))
    if sum(length for _, length in found) > size:
        # Overlapping ranges, longer together than the file (RFC 9110,
        # 14.2): served, a header of a few KiB had the file sent
        # thousands of times over.  The file is sent whole, once.
        return None
    return found if asked else None


def selectRanges(
    rangeValue: Optional[bytes],
    ifRange: Optional[bytes],
    size: int,
    validators: FileValidators,
) -> Optional[List[ByteRange]]:
    """
    What a C{GET} of a file with these C{Range} and C{If-Range} values is
    answered with: C{None} for the whole file (200), else its ranges (206),
    or none of them (416).  See L{byteRanges}.
    """
    if rangeValue is None:
        return None
    if ifRange is not None and not ifRangeHolds(ifRange, validators):
        return None
    return byteRanges(rangeValue, size)


def contentRange(offset: int, length: int, size: int) -> bytes:
    """
    The C{Content-Range} of the bytes C{offset} to C{offset + length - 1}
    of a file of C{size} bytes.
    """
    return b"bytes %d-%d/%d" % (offset, offset + length - 1, size)


def multipartRanges(
    ranges: List[ByteRange], size: int, boundary: bytes, contentType: bytes
) -> Tuple[List[Tuple[bytes, int, int]], int]:
    """
    The parts of a C{multipart/byteranges} body of C{ranges}, each as the
    bytes that go before it and its offset and length (as
    C{twisted.web.static.MultipleRangeStaticProducer} takes them), the
    closing delimiter last; and the body's length.
    """
    parts = []
    length = 0
    for offset, partLength in ranges:
        head = (
            b"\r\n--" + boundary + b"\r\nContent-Type: " + contentType
            + b"\r\nContent-Range: " + contentRange(offset, partLength, size) + b"\r\n\r\n"
        )
        parts.append((head, offset, partLength))
        length += len(head) + partLength
    end = b"\r\n--" + boundary + b"--\r\n"
    parts.append((end, 0, 0))
    return parts, length + len(end)
