"""
Tests for L{cheesecache.uploadcheck}: every refusal of the legacy upload
API with the reference index's status and exact message, in its order, and
the acceptance of real wheels and sdists as each client sends them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from typing import Dict, List, Optional, Sequence

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from cheesecache.multipart import Form, parseMultipart
from cheesecache.privaterecord import PrivateFile, ProjectRecord
from cheesecache.uploadcheck import (
    Accepted,
    AlreadyUploaded,
    InvalidDistribution,
    Rejection,
    UploadPolicy,
    checkUpload,
    coreMetadataOf,
    formatLimit,
    readCoreMetadata,
)

from .uploadforms import CLIENTS, Part, encode, twineParts
from .wheels import makeSdist, makeWheel

B = "checkboundary"
HELP = "See https://packaging.python.org/specifications/core-metadata for more information."


def makeSdistWithMetadata(
    name: str,
    version: str,
    metadataVersion: str = "2.2",
    requiresPython: Optional[str] = None,
    extra: Sequence[str] = (),
) -> tuple[str, bytes, bytes]:
    """
    An sdist whose PKG-INFO has the given Metadata-Version, and that PKG-INFO.
    """
    dist = name.replace("-", "_").replace(".", "_")
    filename = f"{dist}-{version}.tar.gz"
    lines = [f"Metadata-Version: {metadataVersion}", f"Name: {name}", f"Version: {version}"]
    if requiresPython:
        lines.append(f"Requires-Python: {requiresPython}")
    pkgInfo = ("\n".join(lines) + "\n\n").encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        for path, data in [(f"{dist}-{version}/PKG-INFO", pkgInfo), (f"{dist}-{version}/setup.py", b"")]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for path in extra:
            info = tarfile.TarInfo(path)
            t.addfile(info, io.BytesIO(b""))
    return filename, out.getvalue(), pkgInfo


def makeZip(files: Dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return out.getvalue()


def setField(parts: List[Part], key: str, value: Optional[str]) -> List[Part]:
    """
    C{parts} with text field C{key} set to C{value} (removed for C{None}).
    """
    out = [p for p in parts if not (len(p) == 2 and p[0] == key)]
    if value is not None:
        out.insert(0, (key, value))
    return out


def setContent(
    parts: List[Part], filename: str, data: bytes, contentType: Optional[str] = "application/octet-stream"
) -> List[Part]:
    out = [p for p in parts if len(p) == 2]
    out.append(("content", filename, contentType, data))
    return out


def existingFile(filename: str, data: bytes, version: str = "1.1", filetype: str = "bdist_wheel") -> PrivateFile:
    return PrivateFile(
        filename=filename,
        version=version,
        filetype=filetype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        blake2_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
        uploadTime="2026-01-01T00:00:00.000000Z",
    )


class CheckTestsMixin:
    """
    Builds forms by parsing real bodies.
    """

    def setUp(self) -> None:
        self.tmp = FilePath(self.mktemp())  # type: ignore[attr-defined]
        self.tmp.makedirs()
        self.filename, self.data = makeWheel("foo-bar", "1.1", requiresPython=">=3.9")
        self.parts = twineParts("foo-bar", "1.1", self.filename, self.data)

    def form(self, parts: Sequence[Part], maxFileSize: int = 10 * 1024 * 1024) -> Form:
        form = parseMultipart(io.BytesIO(encode(parts, B)), B.encode(), self.tmp, maxFileSize)
        self.addCleanup(form.discard)  # type: ignore[attr-defined]
        return form

    def check(
        self,
        parts: Sequence[Part],
        record: Optional[ProjectRecord] = None,
        policy: UploadPolicy = UploadPolicy(),
        **kw: object,
    ) -> object:
        return checkUpload(self.form(parts), record, policy, **kw)  # type: ignore[arg-type]

    def assertRejected(
        self, parts: Sequence[Part], code: int, message: str, **kw: object
    ) -> None:
        self.assertEqual(self.check(parts, **kw), Rejection(code, message))  # type: ignore[attr-defined]


class ProtocolTests(CheckTestsMixin, SynchronousTestCase):
    """
    The action, protocol version and the shape of the form.
    """

    def test_missingAction(self) -> None:
        """
        No C{:action} at all: 400 "Missing ':action' field!".
        """
        self.assertRejected(setField(self.parts, ":action", None), 400, "Missing ':action' field!")

    def test_actionFromQuery(self) -> None:
        """
        C{:action} from the query string counts when the form has none.
        """
        decision = self.check(setField(self.parts, ":action", None), action="file_upload")
        self.assertIsInstance(decision, Accepted)

    def test_submitGone(self) -> None:
        """
        Pre-registration (C{submit}, C{submit_pkg_info}) is 410 Gone.
        """
        for action in ("submit", "submit_pkg_info"):
            self.assertRejected(
                setField(self.parts, ":action", action),
                410,
                "Project pre-registration is no longer required or supported, "
                "upload your files instead.",
            )

    def test_docUploadGone(self) -> None:
        """
        Documentation uploads are 410 Gone.
        """
        self.assertRejected(
            setField(self.parts, ":action", "doc_upload"),
            410,
            "Uploading documentation is no longer supported.",
        )

    def test_unknownAction(self) -> None:
        """
        Any other action (pypiserver's C{remove_pkg}) is a 400.
        """
        self.assertRejected(
            setField(self.parts, ":action", "remove_pkg"), 400, "Unknown action: 'remove_pkg'."
        )

    def test_protocolVersion(self) -> None:
        """
        C{protocol_version} other than 1: "Unknown protocol version.";
        absent is fine.
        """
        self.assertRejected(setField(self.parts, "protocol_version", "2"), 400, "Unknown protocol version.")
        self.assertIsInstance(self.check(setField(self.parts, "protocol_version", None)), Accepted)

    def test_protocolBeforeForm(self) -> None:
        """
        The protocol version is checked before the fields (an invalid name
        too does not change the answer).
        """
        parts = setField(setField(self.parts, "protocol_version", "2"), "name", "foo-")
        self.assertRejected(parts, 400, "Unknown protocol version.")

    def test_fieldAsFile(self) -> None:
        """
        A metadata field sent as a file part: "<field>: Should not be a tuple."
        """
        parts = self.parts + [("classifiers", "c.txt", "text/plain", b"x")]
        self.assertRejected(parts, 400, "classifiers: Should not be a tuple.")

    def test_signatureFileAllowed(self) -> None:
        """
        A C{gpg_signature} file part (twine --sign) is allowed and ignored.
        """
        parts = self.parts + [("gpg_signature", self.filename + ".asc", "application/octet-stream", b"sig")]
        self.assertIsInstance(self.check(parts), Accepted)


class FormFieldTests(CheckTestsMixin, SynchronousTestCase):
    """
    The upload form's fields: name, filetype, pyversion, digests.
    """

    def test_nameMissing(self) -> None:
        """
        No name: the reference's "This field is required." message.
        """
        self.assertRejected(
            setField(self.parts, "name", None),
            400,
            "'' is an invalid value for Name. Error: This field is required. " + HELP,
        )

    def test_nameInvalid(self) -> None:
        """
        C{foo-}: "Start and end with a letter or numeral ...".
        """
        self.assertRejected(
            setField(self.parts, "name", "foo-"),
            400,
            "'foo-' is an invalid value for Name. Error: Start and end with a "
            "letter or numeral containing only ASCII numeric and '.', '_' and "
            "'-'. " + HELP,
        )

    def test_longNameShortened(self) -> None:
        """
        A long invalid name is shown as its first and last 30 characters.
        """
        name = "a" * 40 + "!" + "b" * 40
        decision = self.check(setField(self.parts, "name", name))
        assert isinstance(decision, Rejection)
        self.assertTrue(decision.message.startswith(repr("a" * 30 + "..." + "b" * 30)))

    def test_nameBeforeOtherFields(self) -> None:
        """
        The name's error is reported before a bad filetype.
        """
        parts = setField(setField(self.parts, "filetype", "bdist_wat"), "name", "foo-")
        decision = self.check(parts)
        assert isinstance(decision, Rejection)
        self.assertIn("invalid value for Name", decision.message)

    def test_filetype(self) -> None:
        """
        Missing and unknown filetypes get their two messages.
        """
        self.assertRejected(
            setField(self.parts, "filetype", None), 400,
            "Invalid value for filetype. Error: This field is required.",
        )
        self.assertRejected(
            setField(self.parts, "filetype", "bdist_wat"), 400,
            "Invalid value for filetype. Error: Use a known file type.",
        )

    def test_badBlake2BeforeFiletype(self) -> None:
        """
        Field errors come in field-name order: a bad blake2 digest before a
        bad filetype, a bad filetype before a bad sha256.
        """
        parts = setField(setField(self.parts, "filetype", "bdist_wat"), "blake2_256_digest", "zz")
        self.assertRejected(
            parts, 400,
            "Invalid value for blake2_256_digest. Error: Use a valid, hex-encoded, BLAKE2 message digest.",
        )
        parts = setField(setField(self.parts, "filetype", "bdist_wat"), "sha256_digest", "zz")
        self.assertRejected(parts, 400, "Invalid value for filetype. Error: Use a known file type.")

    def test_badSha256(self) -> None:
        """
        A sha256 digest that is not 64 hex digits is refused.
        """
        self.assertRejected(
            setField(self.parts, "sha256_digest", "abc"), 400,
            "Invalid value for sha256_digest. Error: Use a valid, hex-encoded, SHA256 message digest.",
        )

    def test_wheelNeedsPyversion(self) -> None:
        """
        A wheel without pyversion is refused.
        """
        self.assertRejected(
            setField(self.parts, "pyversion", None), 400,
            "Invalid value for pyversion. Error: Python version is required for "
            "binary distribution uploads.",
        )

    def test_sdistPyversionSource(self) -> None:
        """
        An sdist's pyversion must be C{source} (or absent).
        """
        filename, data = makeSdist("foo-bar", "1.1")
        parts = setField(setContent(self.parts, filename, data), "filetype", "sdist")
        parts = setField(parts, "sha256_digest", hashlib.sha256(data).hexdigest())
        parts = setField(parts, "blake2_256_digest", None)
        self.assertRejected(
            setField(parts, "pyversion", "py3"), 400,
            "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist.",
        )
        self.assertIsInstance(self.check(setField(parts, "pyversion", None)), Accepted)

    def test_noDigest(self) -> None:
        """
        No digest at all: "Error: Include at least one message digest."
        """
        parts = setField(setField(self.parts, "sha256_digest", None), "blake2_256_digest", None)
        self.assertRejected(parts, 400, "Error: Include at least one message digest.")

    def test_emptyAndUnknownAreAbsent(self) -> None:
        """
        Empty values and C{UNKNOWN} count as absent (an empty pyversion for a
        wheel is refused as missing).
        """
        self.assertRejected(
            setField(self.parts, "pyversion", "UNKNOWN"), 400,
            "Invalid value for pyversion. Error: Python version is required for "
            "binary distribution uploads.",
        )


class MetadataFieldTests(CheckTestsMixin, SynchronousTestCase):
    """
    The metadata fields of the form.
    """

    def test_metadataVersion(self) -> None:
        """
        A missing or unknown metadata_version is refused.
        """
        self.assertRejected(
            setField(self.parts, "metadata_version", None), 400,
            "'metadata-version' is a required field. " + HELP,
        )
        self.assertRejected(
            setField(self.parts, "metadata_version", "-1"), 400,
            "'-1' is not a valid metadata version. " + HELP,
        )

    def test_version(self) -> None:
        """
        A missing version and C{dog} get the reference's messages.
        """
        self.assertRejected(
            setField(self.parts, "version", None), 400, "'version' is a required field. " + HELP
        )
        self.assertRejected(
            setField(self.parts, "version", "dog"), 400, "'dog' is invalid for 'version'. " + HELP
        )

    def test_metadataVersionFirst(self) -> None:
        """
        A bad metadata_version is reported before a bad version.
        """
        parts = setField(setField(self.parts, "version", "dog"), "metadata_version", "-1")
        self.assertRejected(parts, 400, "'-1' is not a valid metadata version. " + HELP)

    def test_requiresPython(self) -> None:
        """
        An invalid requires_python is refused.
        """
        self.assertRejected(
            setField(self.parts, "requires_python", "=>3.8"), 400,
            "'=>3.8' is invalid for 'requires-python'. " + HELP,
        )

    def test_localVersions(self) -> None:
        """
        Local versions are accepted by default and refused when the policy
        says so, with the reference's message.
        """
        filename, data = makeWheel("foo-bar", "1.1+internal")
        parts = setContent(twineParts("foo-bar", "1.1+internal", filename, data), filename, data)
        self.assertIsInstance(self.check(parts), Accepted)
        self.assertRejected(
            parts, 400,
            "The use of local versions in '1.1+internal' is not allowed. See "
            "https://packaging.python.org/en/latest/specifications/version-specifiers/"
            "#local-version-identifiers for more information.",
            policy=UploadPolicy(allowLocalVersions=False),
        )


class FileTests(CheckTestsMixin, SynchronousTestCase):
    """
    The content part: presence, permission, name, type, size, digests.
    """

    def test_noContent(self) -> None:
        """
        No content part, or content sent as a text field: "Upload payload
        does not have a file."
        """
        withoutFile = [p for p in self.parts if len(p) == 2]
        self.assertRejected(withoutFile, 400, "Upload payload does not have a file.")
        self.assertRejected(
            withoutFile + [("content", "not a file")], 400, "Upload payload does not have a file."
        )

    def test_notAllowed(self) -> None:
        """
        A user the policy does not allow gets 403 with the project's name.
        """
        policy = UploadPolicy(mayUpload=lambda user, name: (user, name) != ("bob", "foo-bar"))
        record = ProjectRecord(name="Foo.Bar")
        self.assertRejected(
            self.parts, 403, "The user 'bob' isn't allowed to upload to project 'Foo.Bar'.",
            record=record, policy=policy, user="bob",
        )
        self.assertIsInstance(self.check(self.parts, record=record, policy=policy, user="alice"), Accepted)

    def test_controlCharacters(self) -> None:
        """
        A filename with a control character is refused.
        """
        self.assertRejected(
            setContent(self.parts, "foo_bar-1.1-py3-none-any\x01.whl", self.data), 400,
            "Cannot upload a file with non-printable characters (ordinals 0-31) "
            "or the DEL character (ordinal 127) in the name.",
        )

    def test_slashes(self) -> None:
        """
        Filenames with C{/} or C{\\} (path traversal) are refused.
        """
        for filename in ("../foo_bar-1.1-py3-none-any.whl", "..\\foo_bar-1.1-py3-none-any.whl"):
            self.assertRejected(
                setContent(self.parts, filename, self.data), 400,
                "Cannot upload a file with '/' or '\\' in the name.",
            )

    def test_parentReference(self) -> None:
        """
        A filename with C{..} in it, which packaging reads as a wheel with
        build tag C{1..a}, is refused with a message rather than reaching
        the store, which cannot keep such a name.
        """
        self.assertRejected(
            setContent(self.parts, "foo_bar-1.1-1..a-py3-none-any.whl", self.data), 400,
            "Cannot upload a file with '..' in the name.",
        )

    def test_extension(self) -> None:
        """
        An unknown extension, and an extension that does not fit the
        filetype, are refused.
        """
        self.assertRejected(
            setContent(self.parts, "foo_bar-1.1.exe", self.data), 400,
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
            "https://www.python.org/dev/peps/pep-0527 and "
            "https://peps.python.org/pep-0715/ for more information",
        )
        self.assertRejected(
            setField(setField(self.parts, "filetype", "sdist"), "pyversion", "source"), 400,
            "Invalid file extension: Extension .whl is invalid for filetype sdist. "
            "See https://www.python.org/dev/peps/pep-0527 for more information.",
        )

    def test_contentType(self) -> None:
        """
        An empty or image part type is refused; none at all (uv) is fine.
        """
        for contentType in ("", "image/png"):
            self.assertRejected(
                setContent(self.parts, self.filename, self.data, contentType), 400,
                "Invalid distribution file.",
            )
        self.assertIsInstance(self.check(setContent(self.parts, self.filename, self.data, None)), Accepted)

    def test_tooLarge(self) -> None:
        """
        A file over the limit: "File too large. Limit for project ... is ...".
        """
        policy = UploadPolicy(maxFileSize=1024 * 1024)
        filename, data = makeWheel("foo-bar", "1.1", padding=1024 * 1024)
        parts = twineParts("foo-bar", "1.1", filename, data)
        decision = checkUpload(self.form(parts, maxFileSize=1024 * 1024), None, policy)
        self.assertEqual(
            decision, Rejection(400, "File too large. Limit for project 'foo-bar' is 1 MB.")
        )
        self.assertRejected(
            self.parts, 400, "File too large. Limit for project 'Foo.Bar' is 100 bytes.",
            record=ProjectRecord(name="Foo.Bar"), policy=UploadPolicy(maxFileSize=100),
        )

    def test_formatLimit(self) -> None:
        """
        Whole mebibytes show as MB, anything else in bytes.
        """
        self.assertEqual(formatLimit(100 * 1024 * 1024), "100 MB")
        self.assertEqual(formatLimit(1536 * 1024), "1572864 bytes")

    def test_digestMismatch(self) -> None:
        """
        A digest of other bytes (any of the three) is refused.
        """
        other = hashlib.sha256(b"other").hexdigest()
        message = "The digest supplied does not match a digest calculated from the uploaded file."
        self.assertRejected(setField(self.parts, "sha256_digest", other), 400, message)
        self.assertRejected(
            setField(self.parts, "blake2_256_digest", hashlib.blake2b(b"x", digest_size=32).hexdigest()),
            400, message,
        )
        self.assertRejected(setField(self.parts, "md5_digest", hashlib.md5(b"x").hexdigest()), 400, message)

    def test_digestsAnyCase(self) -> None:
        """
        Hex digests match whatever their case; md5 may be hex or urlsafe
        base64, and md5 alone is enough.
        """
        parts = setField(self.parts, "sha256_digest", hashlib.sha256(self.data).hexdigest().upper())
        self.assertIsInstance(self.check(parts), Accepted)
        md5only = setField(setField(self.parts, "sha256_digest", None), "blake2_256_digest", None)
        digest = hashlib.md5(self.data)
        self.assertIsInstance(self.check(setField(md5only, "md5_digest", digest.hexdigest())), Accepted)
        b64 = base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
        self.assertIsInstance(self.check(setField(md5only, "md5_digest", b64)), Accepted)


class ExistingTests(CheckTestsMixin, SynchronousTestCase):
    """
    Uploads against what the project already has.
    """

    def test_identicalReupload(self) -> None:
        """
        The same bytes under the same filename: L{AlreadyUploaded} (200).
        """
        record = ProjectRecord(name="foo-bar", files=[existingFile(self.filename, self.data)])
        self.assertEqual(self.check(self.parts, record=record), AlreadyUploaded(self.filename))

    def test_differentBytes(self) -> None:
        """
        Other bytes under an existing filename: 400 starting with "File
        already exists", naming the uploaded file's blake2 hash.
        """
        record = ProjectRecord(name="foo-bar", files=[existingFile(self.filename, b"older bytes")])
        blake2 = hashlib.blake2b(self.data, digest_size=32).hexdigest()
        self.assertRejected(
            self.parts, 400,
            f"File already exists ('{self.filename}', with blake2_256 hash '{blake2}').",
            record=record,
        )

    def test_sameBytesOtherName(self) -> None:
        """
        The same bytes already uploaded under another filename are refused
        as existing too.
        """
        record = ProjectRecord(
            name="foo-bar", files=[existingFile("foo_bar-1.0-py3-none-any.whl", self.data)]
        )
        decision = self.check(self.parts, record=record)
        assert isinstance(decision, Rejection)
        self.assertTrue(decision.message.startswith("File already exists ('foo_bar-1.1"))

    def test_deletedFilename(self) -> None:
        """
        A filename that was deleted can never be used again.
        """
        record = ProjectRecord(name="foo-bar", deleted=[self.filename])
        self.assertRejected(
            self.parts, 400,
            "This filename was previously used by a file that has since been "
            "deleted. Use a different version.",
            record=record,
        )

    def test_secondSdist(self) -> None:
        """
        A release has at most one sdist.
        """
        filename, data = makeSdist("foo-bar", "1.1")
        record = ProjectRecord(
            name="foo-bar", files=[existingFile("foo_bar-1.1.zip", b"zip", filetype="sdist")]
        )
        parts = setContent(twineParts("foo-bar", "1.1", filename, data), filename, data)
        self.assertRejected(parts, 400, "Only one sdist may be uploaded per release.", record=record)


class ArchiveTests(CheckTestsMixin, SynchronousTestCase):
    """
    The file must be the archive it claims to be, named for its project.
    """

    def upload(self, filename: str, data: bytes, name: str = "foo-bar", version: str = "1.1") -> List[Part]:
        return setContent(twineParts(name, version, filename, data), filename, data)

    def test_wheelNotZip(self) -> None:
        """
        A .whl that is not a zip: "Invalid distribution file. File is not a
        zipfile".
        """
        self.assertRejected(
            self.upload(self.filename, b"not a zip"), 400,
            "Invalid distribution file. File is not a zipfile",
        )

    def test_sdistNotTar(self) -> None:
        """
        A .tar.gz that is not a tar: "... File is not a tarfile".
        """
        self.assertRejected(
            self.upload("foo_bar-1.1.tar.gz", b"not a tar"), 400,
            "Invalid distribution file. File is not a tarfile",
        )

    def test_wheelWithoutWHEEL(self) -> None:
        """
        A wheel without its .dist-info/WHEEL is refused.
        """
        data = makeZip({"foo_bar-1.1.dist-info/METADATA": b"Name: foo-bar\n"})
        self.assertRejected(
            self.upload(self.filename, data), 400,
            "Invalid distribution file. WHEEL not found at foo_bar-1.1.dist-info/WHEEL",
        )

    def test_sdistLayout(self) -> None:
        """
        An sdist with two top-level directories, or without PKG-INFO, is
        refused.
        """
        filename, data, _ = makeSdistWithMetadata("foo-bar", "1.1", extra=["other/file"])
        self.assertRejected(
            self.upload(filename, data), 400,
            "Invalid distribution file. Incorrect number of top-level directories in sdist",
        )
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as t:
            info = tarfile.TarInfo("foo_bar-1.1/setup.py")
            t.addfile(info, io.BytesIO(b""))
        self.assertRejected(
            self.upload("foo_bar-1.1.tar.gz", out.getvalue()), 400,
            "Invalid distribution file. PKG-INFO not found at foo_bar-1.1/PKG-INFO",
        )

    def test_damagedArchives(self) -> None:
        """
        Archives that Python's zipfile, tarfile or gzip cannot read for
        reasons other than the ones they usually give (a zip needing a newer
        version to extract, a member name flagged UTF-8 that is not, a
        truncated gzip header, a damaged member of a .zip sdist) are refused
        with a 400, not raised.
        """
        def zipWith(info: zipfile.ZipInfo, data: bytes = b"x") -> bytes:
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(info, data)
            return out.getvalue()

        newer = zipfile.ZipInfo("foo_bar-1.1.dist-info/WHEEL")
        newer.extract_version = 99
        notUTF8 = zipWith(zipfile.ZipInfo("foo_bar-1.1.dist-info/\xe9")).replace(
            "\xe9".encode(), b"\xc3\x28"
        )
        _, sdist, _ = makeSdistWithMetadata("foo-bar", "1.1")
        truncatedHeader = bytearray(sdist)
        truncatedHeader[3] |= 0x04  # FEXTRA, with a length running past the end
        pkgInfo = zipfile.ZipInfo("foo_bar-1.1/PKG-INFO")
        badCRC = bytearray(zipWith(pkgInfo, b"Metadata-Version: 2.2\n" * 20))
        # The member's CRC in its local header and the central directory.
        crc = zipfile.ZipFile(io.BytesIO(bytes(badCRC))).getinfo(pkgInfo.filename).CRC
        badCRC = bytearray(bytes(badCRC).replace(crc.to_bytes(4, "little"), b"\0\0\0\0"))
        for filename, data in [
            (self.filename, zipWith(newer)),
            (self.filename, notUTF8),
            ("foo_bar-1.1.tar.gz", bytes(truncatedHeader)),
            ("foo_bar-1.1.zip", bytes(badCRC)),
        ]:
            parts = self.upload(filename, data)
            if not filename.endswith(".whl"):
                parts = setField(setField(parts, "filetype", "sdist"), "pyversion", "source")
            decision = self.check(parts)
            assert isinstance(decision, Rejection), (filename, decision)
            self.assertEqual(decision.code, 400)
            self.assertTrue(
                decision.message.startswith("Invalid distribution file."), decision.message
            )

    def test_wheelOtherProject(self) -> None:
        """
        A wheel named for another project: "Start filename for '<project>'
        with '<name>'.", naming the project as it exists.
        """
        filename, data = makeWheel("other-pkg", "1.1")
        self.assertRejected(
            self.upload(filename, data), 400, "Start filename for 'foo-bar' with 'foo_bar'."
        )
        self.assertRejected(
            self.upload(filename, data), 400, "Start filename for 'Foo.Bar' with 'foo_bar'.",
            record=ProjectRecord(name="Foo.Bar"),
        )

    def test_wheelNameNotNormalized(self) -> None:
        """
        A wheel whose name part is not the normalized name is refused.
        """
        filename, data = makeWheel("Foo.Bar", "1.1")
        self.assertRejected(
            self.upload(filename, data, name="Foo.Bar"), 400,
            f"Filename {filename!r} should contain the normalized project name "
            "'foo_bar', not 'Foo_Bar'.",
        )

    def test_wheelVersion(self) -> None:
        """
        A wheel of another version: "Version in filename should be '1.2.3'
        not '6.6.6'."
        """
        filename, data = makeWheel("foo-bar", "6.6.6")
        self.assertRejected(
            self.upload(filename, data, version="1.2.3"), 400,
            "Version in filename should be '1.2.3' not '6.6.6'.",
        )

    def test_wheelFilenameUnparsable(self) -> None:
        """
        A wheel filename packaging cannot parse is refused with packaging's
        message.
        """
        filename, data = makeWheel("foo-bar", "1.1")
        bad = "foo_bar-1.1-x-py3-none-any.whl"
        decision = self.check(self.upload(bad, data))
        assert isinstance(decision, Rejection)
        self.assertEqual(decision.code, 400)
        self.assertIn("Invalid build number", decision.message)

    def test_sdistNotNormalized(self) -> None:
        """
        An sdist not named per PEP 625 is refused with the expected name.
        """
        _, data = makeSdist("foo-bar", "1.2.3")
        self.assertRejected(
            self.upload("Foo.Bar-1.2.3.tar.gz", data, name="Foo.Bar", version="1.2.3"), 400,
            "Filename 'Foo.Bar-1.2.3.tar.gz' is invalid, should be 'foo_bar-1.2.3.tar.gz'.",
        )

    def test_sdistOtherProject(self) -> None:
        """
        An sdist named for another project is refused.
        """
        filename, data = makeSdist("other-pkg", "1.1")
        self.assertRejected(
            self.upload(filename, data), 400, "Start filename for 'foo-bar' with 'foo_bar'."
        )

    def test_wheelWithoutRecord(self) -> None:
        """
        A wheel without RECORD is refused with the reference's message.
        """
        data = makeZip({
            "foo_bar-1.1.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
            "foo_bar-1.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.1\n",
        })
        self.assertRejected(
            self.upload(self.filename, data), 400,
            f"Wheel '{self.filename}' does not contain the required RECORD file: "
            "foo_bar-1.1.dist-info/RECORD",
        )

    def test_wheelWithoutMetadata(self) -> None:
        """
        A wheel without METADATA is refused with the reference's message.
        """
        data = makeZip({
            "foo_bar-1.1.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
            "foo_bar-1.1.dist-info/RECORD": b"",
        })
        self.assertRejected(
            self.upload(self.filename, data), 400,
            f"Wheel '{self.filename}' does not contain the required METADATA file: "
            "foo_bar-1.1.dist-info/METADATA",
        )

    def test_metadataInAnotherDistInfo(self) -> None:
        """
        A wheel whose only METADATA is in another .dist-info directory than
        the one its filename names is refused (pip refuses to install it).
        """
        data = makeZip({
            "foo_bar-1.1.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
            "foo_bar-1.1.dist-info/RECORD": b"",
            "other-2.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.1\n\n",
        })
        self.assertRejected(
            self.upload(self.filename, data), 400,
            f"Wheel '{self.filename}' does not contain the required METADATA file: "
            "foo_bar-1.1.dist-info/METADATA",
        )

    def test_severalDistInfo(self) -> None:
        """
        A wheel with more than one .dist-info directory is refused, saying
        so (pip and uv refuse to install it), even when the one its
        filename names is complete.
        """
        metadata = b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.1\n\n"
        data = makeZip({
            "foo_bar-1.1.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
            "foo_bar-1.1.dist-info/RECORD": b"",
            "foo_bar-1.1.dist-info/METADATA": metadata,
            "other-2.0.dist-info/METADATA": metadata,
        })
        self.assertRejected(
            self.upload(self.filename, data), 400,
            f"Invalid distribution file. Wheel '{self.filename}' has more than one "
            ".dist-info directory: foo_bar-1.1.dist-info, other-2.0.dist-info",
        )

    def test_metadataForAnotherProject(self) -> None:
        """
        A wheel whose METADATA names another project or version is refused
        (pip would reject its .metadata).
        """
        data = makeZip({
            "foo_bar-1.1.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
            "foo_bar-1.1.dist-info/RECORD": b"",
            "foo_bar-1.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: evil\nVersion: 1.1\n\n",
        })
        self.assertRejected(
            self.upload(self.filename, data), 400,
            f"Invalid distribution file. The metadata in {self.filename!r} is for "
            "'evil' '1.1', not 'foo-bar' '1.1'.",
        )

    def test_oldSdistMetadataForAnotherProject(self) -> None:
        """
        An sdist whose PKG-INFO is older than Metadata-Version 2.2 but names
        another project or version is refused too: Name and Version are
        reliable in any PKG-INFO, and pip refuses what it builds from it.
        """
        for name, version in [("evil", "1.1"), ("foo-bar", "6.6.6")]:
            _, data, _ = makeSdistWithMetadata(name, version, "2.1")
            self.assertRejected(
                self.upload("foo_bar-1.1.tar.gz", data), 400,
                "Invalid distribution file. The metadata in 'foo_bar-1.1.tar.gz' is "
                f"for {name!r} {version!r}, not 'foo-bar' '1.1'.",
            )

class AcceptTests(CheckTestsMixin, SynchronousTestCase):
    """
    What an accepted upload carries.
    """

    def test_everyClient(self) -> None:
        """
        A wheel and an sdist as twine, uv, poetry and pdm send them are
        accepted.
        """
        wheel = makeWheel("foo-bar", "1.1")
        sdist = makeSdist("foo-bar", "1.1")
        for client, (makeParts, _) in CLIENTS.items():
            for filename, data in (wheel, sdist):
                decision = self.check(makeParts("foo-bar", "1.1", filename, data))
                self.assertIsInstance(decision, Accepted, (client, filename, decision))
                assert isinstance(decision, Accepted)
                self.assertEqual(decision.filename, filename)

    def test_wheelMetadata(self) -> None:
        """
        A wheel's METADATA is the core metadata, byte for byte, and its
        Requires-Python wins over the form's.
        """
        decision = self.check(self.parts)
        assert isinstance(decision, Accepted)
        with zipfile.ZipFile(io.BytesIO(self.data)) as z:
            expected = z.read("foo_bar-1.1.dist-info/METADATA")
        self.assertEqual(decision.coreMetadata, expected)
        self.assertEqual(decision.requiresPython, ">=3.9")
        self.assertEqual((decision.name, decision.version, decision.filetype), ("foo-bar", "1.1", "bdist_wheel"))

    def test_oldSdistHasNoCoreMetadata(self) -> None:
        """
        An sdist with Metadata-Version 2.1 gets no core metadata; its
        requires-python comes from the form.
        """
        filename, data = makeSdist("foo-bar", "1.1")
        decision = self.check(twineParts("foo-bar", "1.1", filename, data))
        assert isinstance(decision, Accepted)
        self.assertIsNone(decision.coreMetadata)
        self.assertEqual(decision.requiresPython, ">=3.8")

    def test_newSdistHasCoreMetadata(self) -> None:
        """
        An sdist with Metadata-Version 2.2 serves its PKG-INFO as core
        metadata, with its Requires-Python.
        """
        filename, data, pkgInfo = makeSdistWithMetadata("foo-bar", "1.1", "2.2", ">=3.11")
        decision = self.check(twineParts("foo-bar", "1.1", filename, data))
        assert isinstance(decision, Accepted)
        self.assertEqual(decision.coreMetadata, pkgInfo)
        self.assertEqual(decision.requiresPython, ">=3.11")

    def test_releaseMetadataKept(self) -> None:
        """
        Every value of repeated metadata fields is kept, protocol fields and
        empty or UNKNOWN values are not.
        """
        decision = self.check(self.parts)
        assert isinstance(decision, Accepted)
        self.assertEqual(len(decision.metadata["classifiers"]), 3)
        self.assertEqual(decision.metadata["requires_dist"], ("attrs>=23", "packaging"))
        self.assertNotIn("sha256_digest", decision.metadata)
        self.assertNotIn(":action", decision.metadata)
        self.assertNotIn("home_page", decision.metadata)
        pdm = CLIENTS["pdm"][0]("foo-bar", "1.1", self.filename, self.data)
        decision = self.check(pdm)
        assert isinstance(decision, Accepted)
        self.assertNotIn("summary", decision.metadata)

    def test_zipSdistRefused(self) -> None:
        """
        A .zip sdist passes the extension check but not PEP 625 naming.
        """
        data = makeZip({"foo_bar-1.1/PKG-INFO": b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.1\n\n"})
        parts = setField(setContent(twineParts("foo-bar", "1.1", "x", b""), "foo_bar-1.1.zip", data), "filetype", "sdist")
        parts = setField(setField(parts, "pyversion", "source"), "sha256_digest", hashlib.sha256(data).hexdigest())
        parts = setField(parts, "blake2_256_digest", None)
        self.assertRejected(
            parts, 400, "Filename 'foo_bar-1.1.zip' is invalid, should be 'foo_bar-1.1.tar.gz'."
        )


class CoreMetadataTests(SynchronousTestCase):
    """
    L{coreMetadataOf} and L{readCoreMetadata} on their own.
    """

    def write(self, data: bytes) -> str:
        path = FilePath(self.mktemp())
        path.setContent(data)
        return path.path

    def test_wheel(self) -> None:
        """
        A wheel's METADATA comes back byte for byte.
        """
        filename, data = makeWheel("foo-bar", "2.0", requires=["attrs"], requiresPython=">=3.10")
        metadata = coreMetadataOf(self.write(data), filename)
        assert metadata is not None
        core = readCoreMetadata(metadata)
        self.assertEqual((core.name, core.version, core.requiresPython), ("foo-bar", "2.0", ">=3.10"))

    def test_sdistVersions(self) -> None:
        """
        Only sdists with Metadata-Version 2.2 or later have core metadata.
        """
        for version, expected in [("2.1", False), ("2.2", True), ("2.4", True), ("1.0", False)]:
            filename, data, pkgInfo = makeSdistWithMetadata("foo-bar", "1.0", version)
            metadata = coreMetadataOf(self.write(data), filename)
            self.assertEqual(metadata, pkgInfo if expected else None, version)

    def test_notArchives(self) -> None:
        """
        Non-archives raise L{InvalidDistribution} with the client message.
        """
        e = self.assertRaises(InvalidDistribution, coreMetadataOf, self.write(b"x"), "a-1-py3-none-any.whl")
        self.assertEqual(e.message, "Invalid distribution file. File is not a zipfile")
        e = self.assertRaises(InvalidDistribution, coreMetadataOf, self.write(b"x"), "a-1.tar.gz")
        self.assertEqual(e.message, "Invalid distribution file. File is not a tarfile")
