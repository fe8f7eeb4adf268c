# -*- test-case-name: tests.test_multipart -*-
"""
A streaming C{multipart/form-data} parser for uploads.

Twisted's own form parsing is switched off (it drops the file part's name
and content type and holds the whole body in memory), so the upload
resource parses C{request.content} itself, here: the body is read in
bounded chunks, text fields are kept in order (repeated names included, as
twine sends C{classifiers} and C{requires_dist}), and file parts are
written to a temporary file next to the blob store while their md5, sha256
and blake2b-256 digests are computed, so that accepting the upload is a
rename and memory stays flat whatever the size.

Nothing here knows about Twisted or HTTP beyond the body's bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from typing import Any, BinaryIO, Dict, List, Optional, Tuple
from urllib.parse import unquote

import attrs
from twisted.python.filepath import FilePath

#: How much of the body is read at a time.
CHUNK_SIZE = 64 * 1024

#: The largest header block of one part (names, filename, type).
MAX_HEADER_BYTES = 16 * 1024

#: All text fields together may not exceed this (descriptions are the big
#: ones; this leaves room for a long README).
MAX_FIELD_BYTES = 8 * 1024 * 1024

#: How many parts a body may have (twine sends a few dozen).
MAX_PARTS = 2000

#: How many file parts a body may have (C{content} and C{gpg_signature}).
MAX_FILE_PARTS = 4

_BOUNDARY_CHARS = re.compile(rb"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]\Z")


class MultipartError(ValueError):
    """
    The body is not well-formed C{multipart/form-data}, or exceeds a limit
    other than the file size limit.  The message says what is wrong and is
    fit to show a client.
    """


@attrs.frozen
class FilePart:
    """
    A part that carried a C{filename} parameter, spooled to disk.

    @ivar name: the form field name (C{content} for the distribution).
    @ivar filename: the C{filename} parameter, exactly as sent.
    @ivar contentType: the part's C{Content-Type}, or C{None} when the part
        had none (uv sends none); an empty header gives C{""}.
    @ivar path: the temporary file holding the bytes, or C{None} when the
        part exceeded the size limit (its bytes were not kept).
    @ivar size: how many bytes the part had (counted also past the limit).
    @ivar tooLarge: did the part exceed the size limit?
    @ivar md5: hex digest (only meaningful when not C{tooLarge}).
    @ivar sha256: hex digest.
    @ivar blake2_256: hex digest of blake2b with a 32-byte digest.
    """

    name: str
    filename: str
    contentType: Optional[str]
    path: Optional[FilePath]
    size: int
    tooLarge: bool
    md5: str
    sha256: str
    blake2_256: str

    def discard(self) -> None:
        """
        Remove the temporary file, if it is still there.
        """
        if self.path is not None:
            try:
                os.unlink(self.path.path)
            except FileNotFoundError:
                pass


@attrs.frozen
class Form:
    """
    A parsed form: text fields in the order sent, and the file parts.

    Whoever parses a form owns its temporary files: call L{discard} once the
    accepted file (if any) has been moved into the store.
    """

    fields: Tuple[Tuple[str, str], ...] = attrs.field(default=(), converter=tuple)
    files: Tuple[FilePart, ...] = attrs.field(default=(), converter=tuple)

    def get(self, name: str) -> Optional[str]:
        """
        The first value of the text field C{name}, if any.
        """
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def getAll(self, name: str) -> Tuple[str, ...]:
        """
        Every value of the text field C{name}, in the order sent.
        """
        return tuple(value for key, value in self.fields if key == name)

    def names(self) -> Tuple[str, ...]:
        """
        The text field names, each once, in order of first appearance.
        """
        return tuple(dict.fromkeys(key for key, _ in self.fields))

    def file(self, name: str) -> Optional[FilePart]:
        """
        The first file part named C{name}, if any.
        """
        for part in self.files:
            if part.name == name:
                return part
        return None

    def discard(self) -> None:
        """
        Remove every file part's temporary file that is still there.
        """
        for part in self.files:
            part.discard()


def _parseParameters(value: str) -> Tuple[str, Dict[str, str]]:
    """
    Split a header value like C{form-data; name="a"; filename="b"} into its
    first token and its parameters (names lower-cased).  Quoted strings may
    contain C{;} and backslash escapes; C{name*=utf-8''...} (RFC 5987) is
    decoded and stored under C{name*}.
    """
    i = 0
    n = len(value)

    def skipSpace() -> None:
        nonlocal i
        while i < n and value[i] in " \t":
            i += 1

    start = i
    while i < n and value[i] != ";":
        i += 1
    first = value[start:i].strip().lower()
    params: Dict[str, str] = {}
    while i < n:
        i += 1  # the ";"
        skipSpace()
        start = i
        while i < n and value[i] not in "=;":
            i += 1
        key = value[start:i].strip().lower()
        if i >= n or value[i] == ";":
            if key:
                params.setdefault(key, "")
            continue
        i += 1  # the "="
        skipSpace()
        if i < n and value[i] == '"':
            i += 1
            chars: List[str] = []
            while i < n and value[i] != '"':
                # Only \" and \\ are escapes: HTML5-style clients (urllib3)
                # send other backslashes as they are.
                if value[i] == "\\" and i + 1 < n and value[i + 1] in '"\\':
                    i += 1
                chars.append(value[i])
                i += 1
            if i >= n:
                raise MultipartError("Unterminated quoted string in a part header.")
            i += 1  # the closing quote
            item = "".join(chars)
            skipSpace()
            if i < n and value[i] != ";":
                raise MultipartError("Malformed parameter in a part header.")
        else:
            start = i
            while i < n and value[i] != ";":
                i += 1
            item = value[start:i].strip()
        if key.endswith("*"):
            charset, _, rest = item.partition("'")
            _, _, encoded = rest.partition("'")
            try:
                item = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeError):
                # UnicodeError, not only UnicodeDecodeError: some codecs
                # (C{undefined}, C{idna}) fail with the plain one.
                raise MultipartError("Undecodable extended parameter in a part header.")
        if key:
            params.setdefault(key, item)
    return first, params


def boundaryFromContentType(contentType: Optional[bytes]) -> bytes:
    """
    The boundary of a C{multipart/form-data} request body.

    @param contentType: the request's C{Content-Type} header.
    @raise MultipartError: not C{multipart/form-data}, or no usable boundary.
    """
    if not contentType:
        raise MultipartError("Expected a multipart/form-data body, got no Content-Type.")
    kind, params = _parseParameters(contentType.decode("latin-1"))
    if kind != "multipart/form-data":
        raise MultipartError(f"Expected a multipart/form-data body, got {kind!r}.")
    boundary = params.get("boundary", "").encode("latin-1")
    if not _BOUNDARY_CHARS.match(boundary):
        raise MultipartError("The multipart/form-data body has no valid boundary.")
    return boundary


@attrs.define
class _Spool:
    """
    The file part being received: its temporary file and running digests.
    """

    name: str
    filename: str
    contentType: Optional[str]
    path: Optional[FilePath]
    file: Optional[BinaryIO]
    maxSize: int
    size: int = 0
    md5: Any = attrs.field(factory=lambda: hashlib.md5(usedforsecurity=False))
    sha256: Any = attrs.field(factory=hashlib.sha256)
    blake2: Any = attrs.field(factory=lambda: hashlib.blake2b(digest_size=32))

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.file is None:
            return
        if self.size > self.maxSize:
            # Stop keeping it, but go on reading the body, so that the
            # fields after it are still seen and the checks run in order.
            self.file.close()
            self.file = None
            assert self.path is not None
            os.unlink(self.path.path)
            self.path = None
            return
        self.file.write(data)
        self.md5.update(data)
        self.sha256.update(data)
        self.blake2.update(data)

    def finish(self) -> FilePart:
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None
        tooLarge = self.path is None
        return FilePart(
            name=self.name,
            filename=self.filename,
            contentType=self.contentType,
            path=self.path,
            size=self.size,
            tooLarge=tooLarge,
            md5=self.md5.hexdigest(),
            sha256=self.sha256.hexdigest(),
            blake2_256=self.blake2.hexdigest(),
        )

    def abandon(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            try:
                file.close()
            except OSError:
                # The disk is full: closing flushes what the failed write
                # or flush left buffered, and fails again.  That failure is
                # already on its way; the file must still go.
                pass
        if self.path is not None:
            try:
                os.unlink(self.path.path)
            except FileNotFoundError:
                pass


def _decodeHeader(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parseHeaders(block: bytes) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            raise MultipartError("Folded part headers are not supported.")
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise MultipartError("Malformed part header line.")
        headers[name.strip().decode("latin-1").lower()] = _decodeHeader(value.strip())
    return headers


def parseMultipart(
    body: BinaryIO,
    boundary: bytes,
    tmpDir: FilePath,
    maxFileSize: int,
    maxFieldBytes: int = MAX_FIELD_BYTES,
    chunkSize: int = CHUNK_SIZE,
    maxParts: int = MAX_PARTS,
    maxFileParts: int = MAX_FILE_PARTS,
) -> Form:
    """
    Parse a C{multipart/form-data} body.

    @param body: the body, read from its current position to the end.
    @param boundary: from L{boundaryFromContentType}.
    @param tmpDir: where file parts are spooled (the blob store's C{tmp/},
        so that keeping one is a rename on the same filesystem).
    @param maxFileSize: the largest file part kept; a larger one is read
        to its end but not kept, and comes back with C{tooLarge} set, so
        that the validation can answer in PyPI's order.
    @param maxFieldBytes: the most bytes all text fields may have together.

    @raise MultipartError: malformed body or a limit exceeded; no temporary
        file is left behind.
    """
    delimiter = b"\r\n--" + boundary
    keep = len(delimiter) + 4
    tmpDir.makedirs(ignoreExistingDirectory=True)
    # Pretend the body starts with CRLF, so that the first delimiter is
    # found like every other one (anything before it is preamble).
    buffer = bytearray(b"\r\n")
    eof = False
    parts: List[FilePart] = []
    fields: List[Tuple[str, str]] = []
    fieldBytes = 0
    partCount = 0
    spool: Optional[_Spool] = None

    def fill() -> bool:
        nonlocal eof
        if eof:
            return False
        data = body.read(chunkSize)
        if not data:
            eof = True
            return False
        buffer.extend(data)
        return True

    try:
        # Preamble: find the first delimiter.
        while True:
            at = buffer.find(delimiter)
            if at >= 0:
                del buffer[: at + len(delimiter)]
                break
            if len(buffer) > keep:
                del buffer[: len(buffer) - keep]
            if not fill():
                raise MultipartError(
                    "The multipart body does not contain its boundary."
                )
        while True:
            # Right after a delimiter: "--" ends the body, CRLF starts a part.
            while len(buffer) < 2 and fill():
                pass
            if buffer[:2] == b"--":
                return Form(fields=fields, files=parts)
            # Transport padding (RFC 2046) before the CRLF.
            while True:
                end = buffer.find(b"\r\n")
                if end >= 0:
                    break
                if len(buffer) > 1024 or not fill():
                    raise MultipartError("Malformed multipart delimiter line.")
            if buffer[:end].strip(b" \t"):
                raise MultipartError("Malformed multipart delimiter line.")
            del buffer[: end + 2]
            partCount += 1
            if partCount > maxParts:
                raise MultipartError(f"Too many parts (more than {maxParts}).")
            # The part's headers.
            while True:
                if buffer.startswith(b"\r\n"):
                    headerEnd, headerBlock = 2, b""
                    break
                at = buffer.find(b"\r\n\r\n")
                if at >= 0:
                    headerEnd, headerBlock = at + 4, bytes(buffer[:at])
                    break
                if len(buffer) > MAX_HEADER_BYTES:
                    raise MultipartError("A part's headers are too long.")
                if not fill():
                    raise MultipartError("The multipart body ends inside a part's headers.")
            if headerEnd - 4 > MAX_HEADER_BYTES:
                raise MultipartError("A part's headers are too long.")
            del buffer[:headerEnd]
            headers = _parseHeaders(headerBlock)
            disposition = headers.get("content-disposition")
            if disposition is None:
                raise MultipartError("A part has no Content-Disposition header.")
            kind, params = _parseParameters(disposition)
            if kind != "form-data" or "name" not in params:
                raise MultipartError("A part is not form-data with a name.")
            name = params.get("name*", params["name"])
            filename = params.get("filename*", params.get("filename"))
            value: Optional[bytearray] = None
            if filename is not None:
                if len(parts) >= maxFileParts:
                    raise MultipartError(f"Too many file parts (more than {maxFileParts}).")
                fd, tmpName = tempfile.mkstemp(dir=tmpDir.path, suffix=".upload")
                spool = _Spool(
                    name=name,
                    filename=filename,
                    contentType=headers.get("content-type"),
                    path=FilePath(tmpName),
                    file=os.fdopen(fd, "wb"),
                    maxSize=maxFileSize,
                )
            else:
                value = bytearray()
            # The part's body, up to the next delimiter.
            while True:
                at = buffer.find(delimiter)
                cut = at if at >= 0 else max(0, len(buffer) - keep)
                if cut:
                    if spool is not None:
                        spool.write(bytes(buffer[:cut]))
                    else:
                        assert value is not None
                        fieldBytes += cut
                        if fieldBytes > maxFieldBytes:
                            raise MultipartError(
                                f"The form's text fields exceed {maxFieldBytes} bytes."
                            )
                        value.extend(buffer[:cut])
                    del buffer[:cut]
                if at >= 0:
                    del buffer[: len(delimiter)]
                    break
                if not fill():
                    raise MultipartError("The multipart body is truncated.")
            if spool is not None:
                parts.append(spool.finish())
                spool = None
            else:
                assert value is not None
                try:
                    fields.append((name, value.decode("utf-8")))
                except UnicodeDecodeError:
                    raise MultipartError(f"The field {name!r} is not UTF-8 text.")
    except BaseException:
        if spool is not None:
            spool.abandon()
        for part in parts:
            part.discard()
        raise
