"""
Tests for L{cheesecache.multipart}: upload bodies as the clients send them,
parsed in bounded memory, with every malformed shape refused clearly.
"""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from typing import BinaryIO, List

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from cheesecache.multipart import (
    MultipartError,
    boundaryFromContentType,
    parseMultipart,
)

from .uploadforms import CLIENTS, clientBody, encode, twineParts
from .wheels import makeSdist, makeWheel

BOUNDARY = "testboundary1234"


class ParseTests(SynchronousTestCase):
    """
    L{parseMultipart} on well-formed bodies.
    """

    def setUp(self) -> None:
        self.tmp = FilePath(self.mktemp())
        self.tmp.makedirs()

    def parse(self, body: bytes, boundary: str = BOUNDARY, **kw: int):  # type: ignore[no-untyped-def]
        kw.setdefault("maxFileSize", 10 * 1024 * 1024)
        form = parseMultipart(io.BytesIO(body), boundary.encode(), self.tmp, **kw)
        self.addCleanup(form.discard)
        return form

    def test_everyClientShape(self) -> None:
        """
        Bodies as twine, uv, poetry and pdm send them all parse into the same
        name, version, digests and file, with the content part's filename.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        for client in CLIENTS:
            contentType, body = clientBody(client, "foo-bar", "1.1", filename, data)
            boundary = boundaryFromContentType(contentType)
            form = self.parse(body, boundary.decode())
            self.assertEqual(form.get("name"), "foo-bar", client)
            self.assertEqual(form.get("version"), "1.1", client)
            self.assertEqual(form.get(":action"), "file_upload", client)
            part = form.file("content")
            assert part is not None and part.path is not None
            self.assertEqual(part.filename, filename, client)
            self.assertEqual(part.path.getContent(), data, client)
            self.assertEqual(part.sha256, hashlib.sha256(data).hexdigest(), client)
            self.assertEqual(part.md5, hashlib.md5(data).hexdigest(), client)
            self.assertEqual(
                part.blake2_256,
                hashlib.blake2b(data, digest_size=32).hexdigest(),
                client,
            )
            self.assertEqual(part.size, len(data))
            self.assertFalse(part.tooLarge)

    def test_contentTypeKeptOrAbsent(self) -> None:
        """
        The content part's Content-Type is kept as sent; uv's part without
        one comes back as C{None}, not as a default.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        for client, expected in [("twine", "application/octet-stream"), ("uv", None)]:
            contentType, body = clientBody(client, "foo-bar", "1.1", filename, data)
            form = self.parse(body, boundaryFromContentType(contentType).decode())
            part = form.file("content")
            assert part is not None
            self.assertEqual(part.contentType, expected)

    def test_repeatedFieldsInOrder(self) -> None:
        """
        Repeated fields keep every value in the order sent (3 classifiers and
        2 requires_dist from twine).
        """
        filename, data = makeWheel("foo-bar", "1.1")
        form = self.parse(encode(twineParts("foo-bar", "1.1", filename, data), BOUNDARY))
        self.assertEqual(
            form.getAll("classifiers"),
            (
                "Programming Language :: Python :: 3",
                "License :: OSI Approved :: MIT License",
                "Operating System :: OS Independent",
            ),
        )
        self.assertEqual(form.getAll("requires_dist"), ("attrs>=23", "packaging"))
        self.assertEqual(form.names()[:2], ("name", "version"))

    def test_valueWithCRLFAndDashes(self) -> None:
        """
        A value containing CRLF and C{--} lines (a README) comes back intact:
        only the full delimiter ends a part.
        """
        value = "line\r\n--not the boundary\r\n--" + BOUNDARY[:-1] + "\r\nend"
        form = self.parse(encode([("description", value)], BOUNDARY))
        self.assertEqual(form.get("description"), value)

    def test_emptyValueAndEmptyFile(self) -> None:
        """
        Empty fields and an empty file part are kept as empty.
        """
        form = self.parse(
            encode([("comment", ""), ("content", "x.whl", "application/octet-stream", b"")], BOUNDARY)
        )
        self.assertEqual(form.get("comment"), "")
        part = form.file("content")
        assert part is not None
        self.assertEqual(part.size, 0)
        self.assertEqual(part.sha256, hashlib.sha256(b"").hexdigest())

    def test_boundaryAcrossReads(self) -> None:
        """
        Delimiters split across reads of any size are still found (every
        chunk size from 1 to 70 bytes).
        """
        filename, data = makeSdist("foo-bar", "1.1")
        body = encode(twineParts("foo-bar", "1.1", filename, data), BOUNDARY)
        for size in range(1, 71):
            form = self.parse(body, chunkSize=size)
            part = form.file("content")
            assert part is not None and part.path is not None
            self.assertEqual(part.path.getContent(), data, size)
            self.assertEqual(len(form.getAll("classifiers")), 3, size)

    def test_preambleAndEpilogueIgnored(self) -> None:
        """
        Text before the first delimiter and after the last is ignored.
        """
        body = b"preamble\r\n" + encode([("a", "1")], BOUNDARY) + b"epilogue"
        form = self.parse(body)
        self.assertEqual(form.fields, (("a", "1"),))

    def test_quotedAndExtendedFilenames(self) -> None:
        """
        Quoted parameters with escapes and semicolons, and RFC 5987
        C{filename*}, give the file name the client meant.
        """
        body = (
            b"--" + BOUNDARY.encode() + b"\r\n"
            b'Content-Disposition: form-data; name="content"; filename="a\\"b;c.whl"\r\n'
            b"\r\nX\r\n"
            b"--" + BOUNDARY.encode() + b"\r\n"
            b"Content-Disposition: form-data; name=\"gpg_signature\"; "
            b"filename=\"fallback.asc\"; filename*=utf-8''caf%C3%A9.asc\r\n"
            b"\r\nY\r\n"
            b"--" + BOUNDARY.encode() + b"--\r\n"
        )
        form = self.parse(body)
        files = {p.name: p.filename for p in form.files}
        self.assertEqual(files, {"content": 'a"b;c.whl', "gpg_signature": "café.asc"})

    def test_backslashKept(self) -> None:
        """
        A backslash that escapes neither a quote nor a backslash is part of
        the name (urllib3 sends them raw), so a Windows-style path stays
        visible to the validation.
        """
        body = (
            b"--" + BOUNDARY.encode() + b"\r\n"
            b'Content-Disposition: form-data; name="content"; filename="..\\evil.whl"\r\n'
            b"\r\nX\r\n--" + BOUNDARY.encode() + b"--\r\n"
        )
        part = self.parse(body).file("content")
        assert part is not None
        self.assertEqual(part.filename, "..\\evil.whl")

    def test_utf8Field(self) -> None:
        """
        Text fields are UTF-8.
        """
        form = self.parse(encode([("author", "Zoë Ünïcode")], BOUNDARY))
        self.assertEqual(form.get("author"), "Zoë Ünïcode")

    def test_tooLargeKeepsParsing(self) -> None:
        """
        A file part over the limit is not kept on disk but is counted, and the
        fields after it are still read (so the checks run in their order).
        """
        body = encode(
            [("content", "x.whl", "application/octet-stream", b"x" * 1000), ("name", "after")],
            BOUNDARY,
        )
        form = self.parse(body, maxFileSize=999)
        part = form.file("content")
        assert part is not None
        self.assertTrue(part.tooLarge)
        self.assertIsNone(part.path)
        self.assertEqual(part.size, 1000)
        self.assertEqual(form.get("name"), "after")
        self.assertEqual(self.tmp.children(), [])

    def test_atLimitKept(self) -> None:
        """
        A file exactly at the limit is kept.
        """
        body = encode([("content", "x.whl", "application/octet-stream", b"x" * 1000)], BOUNDARY)
        part = self.parse(body, maxFileSize=1000).file("content")
        assert part is not None
        self.assertFalse(part.tooLarge)

    def test_spooledInGivenDirectory(self) -> None:
        """
        File parts are written to the directory given (the blob store's
        tmp), and L{Form.discard} removes them.
        """
        body = encode([("content", "x.whl", None, b"data")], BOUNDARY)
        form = parseMultipart(io.BytesIO(body), BOUNDARY.encode(), self.tmp, maxFileSize=10)
        part = form.file("content")
        assert part is not None and part.path is not None
        self.assertEqual(part.path.parent(), self.tmp)
        form.discard()
        self.assertFalse(part.path.exists())

    def test_streamsFiveMegabytes(self) -> None:
        """
        A 5 MB upload read from a file is parsed with bounded reads and
        memory far below the file's size: the parser streams.
        """
        filename, data = makeWheel("big", "1.0", padding=5 * 1024 * 1024)
        body = encode(twineParts("big", "1.0", filename, data), BOUNDARY)
        spooled = FilePath(self.mktemp())
        spooled.setContent(body)
        del body
        with open(spooled.path, "rb") as f:
            counter = _ReadCounterFile(f)
            tracemalloc.start()
            try:
                form = parseMultipart(
                    counter, BOUNDARY.encode(), self.tmp, maxFileSize=10 * 1024 * 1024
                )
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        self.addCleanup(form.discard)
        part = form.file("content")
        assert part is not None
        self.assertEqual(part.sha256, hashlib.sha256(data).hexdigest())
        self.assertGreater(len(data), 5 * 1024 * 1024)
        self.assertLess(peak, 1024 * 1024)
        self.assertTrue(all(0 < s <= 64 * 1024 for s in counter.sizes))


class _ReadCounterFile:
    """
    Wraps a real file, recording read sizes.
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sizes: List[int] = []

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        return self.f.read(size)


class MalformedTests(SynchronousTestCase):
    """
    Bodies that are not well-formed are refused with L{MultipartError}, and
    no temporary file is left behind.
    """

    def setUp(self) -> None:
        self.tmp = FilePath(self.mktemp())
        self.tmp.makedirs()

    def assertRefused(self, body: bytes, fragment: str, **kw: int) -> None:
        kw.setdefault("maxFileSize", 10 * 1024 * 1024)
        with self.assertRaises(MultipartError) as ctx:
            parseMultipart(io.BytesIO(body), BOUNDARY.encode(), self.tmp, **kw)
        self.assertIn(fragment, str(ctx.exception))
        self.assertEqual(self.tmp.children(), [])

    def test_noBoundary(self) -> None:
        """
        A body without the boundary is refused.
        """
        self.assertRefused(b"just some bytes", "does not contain its boundary")

    def test_truncatedInFile(self) -> None:
        """
        A body cut off inside a file part is refused and the partial file
        removed.
        """
        body = encode([("content", "x.whl", None, b"x" * 5000)], BOUNDARY)
        self.assertRefused(body[:3000], "truncated", maxFileSize=10000)

    def test_noClosingDelimiter(self) -> None:
        """
        A body whose last part is never closed is refused.
        """
        body = encode([("a", "1")], BOUNDARY)
        self.assertRefused(body[: -len(BOUNDARY) - 8], "truncated")

    def test_truncatedInHeaders(self) -> None:
        """
        A body ending inside a part's headers is refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="a"',
            "inside a part's headers",
        )

    def test_noDisposition(self) -> None:
        """
        A part without Content-Disposition is refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--"
            + BOUNDARY.encode() + b"--\r\n",
            "no Content-Disposition",
        )

    def test_noName(self) -> None:
        """
        A form-data part without a name is refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--"
            + BOUNDARY.encode() + b"--\r\n",
            "form-data with a name",
        )

    def test_badHeaderLine(self) -> None:
        """
        A header line without a colon is refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b"\r\nnot a header\r\n\r\nx\r\n--"
            + BOUNDARY.encode() + b"--\r\n",
            "Malformed part header",
        )

    def test_unterminatedQuote(self) -> None:
        """
        An unterminated quoted parameter is refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="a\r\n\r\nx\r\n--'
            + BOUNDARY.encode() + b"--\r\n",
            "Unterminated",
        )

    def test_garbageAfterDelimiter(self) -> None:
        """
        Bytes other than padding between a delimiter and its CRLF are refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b"junk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--"
            + BOUNDARY.encode() + b"--\r\n",
            "delimiter line",
        )

    def test_headersTooLong(self) -> None:
        """
        A part whose headers never end within the limit is refused.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b"\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\nx",
            "headers are too long",
        )

    def test_fieldsTooLarge(self) -> None:
        """
        Text fields over their limit are refused (they are held in memory).
        """
        self.assertRefused(encode([("description", "x" * 2000)], BOUNDARY), "exceed", maxFieldBytes=1000)

    def test_notUTF8(self) -> None:
        """
        A text field that is not UTF-8 is refused.
        """
        body = (
            b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--'
            + BOUNDARY.encode() + b"--\r\n"
        )
        self.assertRefused(body, "not UTF-8")

    def test_tooManyParts(self) -> None:
        """
        More parts than allowed are refused.
        """
        self.assertRefused(encode([("a", "1")] * 11, BOUNDARY), "Too many parts", maxParts=10)

    def test_extendedParameterCharsetFails(self) -> None:
        """
        An RFC 2231 parameter in a charset whose decoding fails with a plain
        C{UnicodeError} (such as C{undefined}) is refused like any other
        undecodable one, not let through as an unexpected exception.
        """
        self.assertRefused(
            b"--" + BOUNDARY.encode() + b"\r\n"
            b"Content-Disposition: form-data; name=\"content\"; filename*=undefined''%41\r\n"
            b"\r\nX\r\n--" + BOUNDARY.encode() + b"--\r\n",
            "Undecodable",
        )

    def test_tooManyFileParts(self) -> None:
        """
        More file parts than allowed are refused, and the ones already
        spooled are removed.
        """
        parts = [("content", f"{i}.whl", None, b"x") for i in range(3)]
        self.assertRefused(encode(parts, BOUNDARY), "Too many file parts", maxFileParts=2)

    def test_diskFullLeavesNoFile(self) -> None:
        """
        When the disk fills up while a file part is spooled, the error
        comes through and neither that part's temporary file nor an earlier
        part's is left behind (closing the unflushed file fails again).
        """
        if not os.path.exists("/dev/full"):
            raise SkipTest("needs /dev/full")
        realFdopen = os.fdopen
        opened: List[int] = []

        def fullAfterFirst(fd: int, *a: object, **kw: object) -> BinaryIO:
            opened.append(fd)
            if len(opened) > 1:
                full = os.open("/dev/full", os.O_WRONLY)
                os.dup2(full, fd)
                os.close(full)
            return realFdopen(fd, *a, **kw)  # type: ignore[no-any-return]

        self.patch(os, "fdopen", fullAfterFirst)
        body = encode(
            [
                ("gpg_signature", "x.whl.asc", None, b"sig"),
                ("content", "x.whl", None, b"x" * 1000),
            ],
            BOUNDARY,
        )
        with self.assertRaises(OSError):
            parseMultipart(io.BytesIO(body), BOUNDARY.encode(), self.tmp, maxFileSize=10**6)
        self.assertEqual(len(opened), 2)
        self.assertEqual(self.tmp.children(), [])


class BoundaryTests(SynchronousTestCase):
    """
    L{boundaryFromContentType}.
    """

    def test_plainAndQuoted(self) -> None:
        """
        Plain and quoted boundary parameters are read, with other parameters
        around them.
        """
        self.assertEqual(
            boundaryFromContentType(b"multipart/form-data; boundary=abc123"), b"abc123"
        )
        self.assertEqual(
            boundaryFromContentType(b'Multipart/Form-Data; charset=utf-8; boundary="a b:c"'),
            b"a b:c",
        )

    def test_refusals(self) -> None:
        """
        No header, another media type, no boundary, or an invalid one are
        refused.
        """
        for value in [
            None,
            b"application/x-www-form-urlencoded",
            b"multipart/form-data",
            b"multipart/form-data; boundary=",
            b"multipart/form-data; boundary=" + b"a" * 71,
            b'multipart/form-data; boundary="ends with space "',
        ]:
            self.assertRaises(MultipartError, boundaryFromContentType, value)

    def test_extendedParameterCharsetFails(self) -> None:
        """
        A Content-Type whose RFC 2231 parameter names a charset that fails
        with a plain C{UnicodeError} is refused with L{MultipartError}.
        """
        self.assertRaises(
            MultipartError,
            boundaryFromContentType,
            b"multipart/form-data; boundary=abc; x*=undefined''%41",
        )
