# -*- test-case-name: tests.test_uploadcheck -*-
"""
Is an upload acceptable?  The legacy upload API's validation, with the
status codes, messages and order of evaluation of the reference index, so
that twine, uv, poetry and pdm react to cheesecache's answers as they do
to the public index's (C{twine --skip-existing} looks for a 400 starting
with "File already exists"; uv shows the message as it is).

The checks look at the parsed form (L{cheesecache.multipart.Form}) and the
project's record; the last ones open the spooled file to check it is the
archive it claims to be and to take its core metadata.  Nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hmac
import os
import re
import tarfile
import zipfile
import zlib
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import attrs
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .metadata import MAX_METADATA_SIZE, NoMetadata, wheelMetadata
from .multipart import FilePart, Form
from .privaterecord import ProjectRecord, sameVersion
from .simple.names import isValidName, normalize

ONE_MIB = 1024 * 1024

#: The default largest distribution file accepted.
DEFAULT_MAX_FILE_SIZE = 100 * ONE_MIB

#: Archives that unpack to more than this many times their size (and more
#: than L{COMPRESSION_RATIO_MIN_SIZE}) are refused as decompression bombs.
COMPRESSION_RATIO_THRESHOLD = 50
COMPRESSION_RATIO_MIN_SIZE = 64 * ONE_MIB

_CORE_METADATA_HELP = (
    "See https://packaging.python.org/specifications/core-metadata "
    "for more information."
)

_FILETYPE_EXTENSIONS = {"sdist": {".zip", ".tar.gz"}, "bdist_wheel": {".whl"}}
_DIST_FILE = re.compile(r".+?(?P<extension>\.(tar\.gz|zip|whl))$", re.IGNORECASE)
_HEX_DIGEST = re.compile(r"^[A-F0-9]{64}$", re.IGNORECASE)

_VALID_METADATA_VERSIONS = ("1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5")

#: Fields that are part of the upload protocol, not of the release's
#: metadata (they are not kept with the file).
_PROTOCOL_FIELDS = frozenset(
    {
        ":action",
        "protocol_version",
        "md5_digest",
        "sha256_digest",
        "blake2_256_digest",
        "content",
        "gpg_signature",
        "attestations",
        "filetype",
        "pyversion",
        "comment",
    }
)


@attrs.frozen
class Rejection:
    """
    The upload is refused: answer with C{code} and C{message} (as the reason
    phrase and the body, as the reference index does).
    """

    code: int
    message: str


@attrs.frozen
class AlreadyUploaded:
    """
    This exact file is already there: answer 200 and keep nothing (twine
    re-sends after a 5xx, and an identical re-upload must not fail).
    """

    filename: str


@attrs.frozen
class Accepted:
    """
    The upload may be stored.

    @ivar name: the project name as the form gave it (display form).
    @ivar version: the normalized version (C{str(Version(...))}).
    @ivar coreMetadata: the distribution's core metadata bytes, to be served
        as C{<file>.metadata}; C{None} for sdists before Metadata-Version 2.2.
    @ivar requiresPython: from the core metadata when there is one, from the
        form otherwise.
    @ivar metadata: the release metadata fields the form carried.
    """

    name: str
    version: str
    filetype: str
    pyversion: Optional[str]
    content: FilePart
    coreMetadata: Optional[bytes]
    requiresPython: Optional[str]
    metadata: Mapping[str, Tuple[str, ...]] = attrs.field(factory=dict)

    @property
    def filename(self) -> str:
        return self.content.filename


Decision = Union[Rejection, AlreadyUploaded, Accepted]


class InvalidDistribution(Exception):
    """
    The file is not the archive it claims to be; the message is the one to
    send to the client.
    """

    @property
    def message(self) -> str:
        return str(self.args[0])


@attrs.frozen
class UploadPolicy:
    """
    What this index accepts beyond the protocol's own rules.

    @ivar maxFileSize: the largest file accepted, in bytes.
    @ivar allowLocalVersions: accept C{1.0+local}?  The public index refuses
        them; a private index often wants them, so the default is yes.
    @ivar mayUpload: may this user upload to this (normalized) project?
    @ivar servedPrivately: are this (normalized) project's private releases
        served?  Not when a route sends its name to upstreams alone: an
        upload would be stored and never seen.
    """

    maxFileSize: int = DEFAULT_MAX_FILE_SIZE
    allowLocalVersions: bool = True
    mayUpload: Callable[[Optional[str], str], bool] = lambda user, name: True
    servedPrivately: Callable[[str], bool] = lambda name: True


def formatLimit(limit: int) -> str:
    """
    A size limit as the "File too large" message shows it.
    """
    if limit >= ONE_MIB and limit % ONE_MIB == 0:
        return f"{limit // ONE_MIB} MB"
    return f"{limit} bytes"


def _cleanFields(form: Form) -> Dict[str, List[str]]:
    """
    The form's text fields, with empty values and distutils' C{UNKNOWN}
    dropped (clients send them for absent metadata).
    """
    fields: Dict[str, List[str]] = {}
    for key, value in form.fields:
        if not value.strip() or value.strip() == "UNKNOWN":
            continue
        fields.setdefault(key, []).append(value)
    return fields


def formProject(form: Form) -> str:
    """
    The project an upload form names, read as L{checkUpload} reads it (the
    first C{name} that is not empty or C{UNKNOWN}), so that the record it
    is checked against and the token scope it is checked for are those of
    the project it is kept under.
    """
    return _cleanFields(form).get("name", [""])[0]


def _invalidValue(field: str, description: str, value: str, error: str) -> Rejection:
    shown = value[:30] + "..." + value[-30:] if len(value) > 60 else value
    return Rejection(
        400,
        f"{shown!r} is an invalid value for {description}. Error: {error} "
        + _CORE_METADATA_HELP,
    )


def _checkFormFields(fields: Mapping[str, List[str]]) -> Optional[Rejection]:
    """
    The upload form's own fields, in the reference's order: the name first,
    then the other fields' errors by field name, then the combinations.
    """
    name = fields.get("name", [""])[0]
    if not name:
        return _invalidValue("name", "Name", name, "This field is required.")
    if not isValidName(name):
        return _invalidValue(
            "name",
            "Name",
            name,
            "Start and end with a letter or numeral containing only ASCII "
            "numeric and '.', '_' and '-'.",
        )
    errors: Dict[str, str] = {}
    blake2 = fields.get("blake2_256_digest", [""])[0]
    if blake2 and not _HEX_DIGEST.match(blake2):
        errors["blake2_256_digest"] = "Use a valid, hex-encoded, BLAKE2 message digest."
    filetype = fields.get("filetype", [""])[0]
    if not filetype:
        errors["filetype"] = "This field is required."
    elif filetype not in _FILETYPE_EXTENSIONS:
        errors["filetype"] = "Use a known file type."
    sha256 = fields.get("sha256_digest", [""])[0]
    if sha256 and not _HEX_DIGEST.match(sha256):
        errors["sha256_digest"] = "Use a valid, hex-encoded, SHA256 message digest."
    if errors:
        field = sorted(errors)[0]
        return Rejection(400, f"Invalid value for {field}. Error: {errors[field]}")
    pyversion = fields.get("pyversion", [""])[0]
    if filetype != "sdist" and not pyversion:
        return Rejection(
            400,
            "Invalid value for pyversion. Error: Python version is required "
            "for binary distribution uploads.",
        )
    if filetype == "sdist" and pyversion and pyversion != "source":
        return Rejection(
            400,
            "Invalid value for pyversion. Error: Use 'source' as Python "
            "version for an sdist.",
        )
    if not any(
        fields.get(f) for f in ("md5_digest", "sha256_digest", "blake2_256_digest")
    ):
        return Rejection(400, "Error: Include at least one message digest.")
    return None


def _checkMetadataFields(
    fields: Mapping[str, List[str]], policy: UploadPolicy
) -> Optional[Rejection]:
    """
    The core metadata the form carries: Metadata-Version, then Version, then
    the rest by name, as the reference reports them.
    """

    def fail(message: str) -> Rejection:
        return Rejection(400, f"{message}. {_CORE_METADATA_HELP}")

    metadataVersion = fields.get("metadata_version", [""])[0]
    if not metadataVersion:
        return fail("'metadata-version' is a required field")
    if metadataVersion not in _VALID_METADATA_VERSIONS:
        return fail(f"{metadataVersion!r} is not a valid metadata version")
    version = fields.get("version", [""])[0]
    if not version:
        return fail("'version' is a required field")
    try:
        parsed = Version(version)
    except InvalidVersion:
        return fail(f"{version!r} is invalid for 'version'")
    requiresPython = fields.get("requires_python", [""])[0]
    if requiresPython:
        try:
            SpecifierSet(requiresPython)
        except InvalidSpecifier:
            return fail(f"{requiresPython!r} is invalid for 'requires-python'")
    if parsed.local is not None and not policy.allowLocalVersions:
        return Rejection(
            400,
            f"The use of local versions in {version!r} is not allowed. See "
            "https://packaging.python.org/en/latest/specifications/"
            "version-specifiers/#local-version-identifiers for more information.",
        )
    return None


def _checkFilename(filename: str, filetype: str) -> Optional[Rejection]:
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        return Rejection(
            400,
            "Cannot upload a file with non-printable characters (ordinals "
            "0-31) or the DEL character (ordinal 127) in the name.",
        )
    if "/" in filename or "\\" in filename:
        return Rejection(400, "Cannot upload a file with '/' or '\\' in the name.")
    if ".." in filename:
        # Not a name cheesecache can store or serve (see isSafeFilename).
        return Rejection(400, "Cannot upload a file with '..' in the name.")
    match = _DIST_FILE.match(filename)
    if match is None:
        return Rejection(
            400,
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. "
            "See https://www.python.org/dev/peps/pep-0527 and "
            "https://peps.python.org/pep-0715/ for more information",
        )
    extension = match.group("extension")
    if extension not in _FILETYPE_EXTENSIONS[filetype]:
        return Rejection(
            400,
            f"Invalid file extension: Extension {extension} is invalid for "
            f"filetype {filetype}. See https://www.python.org/dev/peps/pep-0527 "
            "for more information.",
        )
    return None


def _digestMatches(supplied: str, computed: str, raw: Optional[bytes] = None) -> bool:
    if hmac.compare_digest(supplied.lower().encode(), computed.encode()):
        return True
    if raw is not None:
        # md5_digest was documented as urlsafe base64 once; accept that too.
        try:
            decoded = base64.urlsafe_b64decode(supplied + "=" * (-len(supplied) % 4))
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, raw)
    return False


def _digestsMatch(fields: Mapping[str, List[str]], part: FilePart) -> bool:
    md5 = fields.get("md5_digest", [""])[0]
    sha256 = fields.get("sha256_digest", [""])[0]
    blake2 = fields.get("blake2_256_digest", [""])[0]
    results = []
    if md5:
        results.append(_digestMatches(md5, part.md5, bytes.fromhex(part.md5)))
    if sha256:
        results.append(_digestMatches(sha256, part.sha256))
    if blake2:
        results.append(_digestMatches(blake2, part.blake2_256))
    return all(results)


def _checkSdistFilename(
    filename: str, projectName: str, version: Version
) -> Optional[Rejection]:
    try:
        nameInFilename, versionInFilename = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        return Rejection(400, f"Invalid source distribution filename: {filename}")
    normalized = normalize(projectName)
    if (
        version.is_postrelease
        and nameInFilename != normalized
        and filename.count("-") >= 2
    ):
        # A hyphen inside a post-release version ("1.0-1") splits wrongly.
        candidate = filename.rpartition("-")[0].rpartition("-")[0]
        try:
            extension = ".tar.gz" if filename.endswith(".tar.gz") else ".zip"
            Version(filename[len(candidate) + 1 : -len(extension)])
            nameInFilename = canonicalize_name(candidate)
        except InvalidVersion:
            pass
    if canonicalize_name(nameInFilename) != normalized:
        return Rejection(
            400,
            f"Start filename for {projectName!r} with "
            f"{normalized.replace('-', '_')!r}.",
        )
    expected = f"{normalized.replace('-', '_')}-{version}.tar.gz"
    if filename != expected:
        return Rejection(
            400, f"Filename {filename!r} is invalid, should be {expected!r}."
        )
    return None


def _checkWheelFilename(
    filename: str, projectName: str, formName: str, version: Version
) -> Optional[Rejection]:
    try:
        nameInFilename, versionInFilename, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as e:
        return Rejection(400, str(e))
    canonical = canonicalize_name(formName)
    if canonical != nameInFilename:
        return Rejection(
            400,
            f"Start filename for {projectName!r} with "
            f"{canonical.replace('-', '_')!r}.",
        )
    rawName = filename.split("-", 1)[0]
    expectedName = normalize(projectName).replace("-", "_")
    if rawName != expectedName:
        return Rejection(
            400,
            f"Filename {filename!r} should contain the normalized project name "
            f"{expectedName!r}, not {rawName!r}.",
        )
    if versionInFilename != version:
        return Rejection(
            400,
            f"Version in filename should be {str(version)!r} not "
            f"{str(versionInFilename)!r}.",
        )
    return None


@attrs.frozen
class CoreMetadata:
    """
    What the distribution's own metadata says.
    """

    data: bytes
    name: Optional[str]
    version: Optional[str]
    requiresPython: Optional[str]
    metadataVersion: Optional[str]


def readCoreMetadata(data: bytes) -> CoreMetadata:
    """
    The fields of a METADATA / PKG-INFO file that cheesecache uses.
    """
    headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        data, headersonly=True
    )

    def field(name: str) -> Optional[str]:
        value = headers.get(name)
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    return CoreMetadata(
        data=data,
        name=field("Name"),
        version=field("Version"),
        requiresPython=field("Requires-Python"),
        metadataVersion=field("Metadata-Version"),
    )


def _hasCoreMetadataFields(metadataVersion: Optional[str]) -> bool:
    """
    Is an sdist's PKG-INFO reliable core metadata (Metadata-Version 2.2 or
    later, PEP 643)?
    """
    try:
        return metadataVersion is not None and Version(metadataVersion) >= Version("2.2")
    except InvalidVersion:
        return False


#: What zipfile, tarfile, gzip and zlib raise for a damaged archive besides
#: their own errors: a zip needing a newer version to extract or using
#: strong encryption (C{NotImplementedError}), an encrypted member
#: (C{RuntimeError}), a member name flagged UTF-8 that is not
#: (C{UnicodeDecodeError}), a stream cut short (C{EOFError}).
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError,
    ValueError, RuntimeError, NotImplementedError,
)


def _checkZip(path: str) -> zipfile.ZipFile:
    if not zipfile.is_zipfile(path):
        raise InvalidDistribution("Invalid distribution file. File is not a zipfile")
    try:
        z = zipfile.ZipFile(path)
    except _ARCHIVE_ERRORS:
        raise InvalidDistribution("Invalid distribution file. File is not a zipfile")
    compressed = max(os.stat(path).st_size, 1)
    infos = z.infolist()
    decompressed = sum(i.file_size for i in infos)
    if (
        decompressed > COMPRESSION_RATIO_MIN_SIZE
        and decompressed / compressed > COMPRESSION_RATIO_THRESHOLD
    ):
        z.close()
        raise InvalidDistribution(
            "Invalid distribution file. File exceeds compression ratio of "
            f"{COMPRESSION_RATIO_THRESHOLD}"
        )
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            z.close()
            raise InvalidDistribution(
                "Invalid distribution file. File does not use a supported "
                "compression type"
            )
    return z


def _topLevel(names: List[str]) -> Optional[str]:
    tops = {n.lstrip("./").split("/", 1)[0] for n in names if n.lstrip("./")}
    return tops.pop() if len(tops) == 1 else None


def sdistPkgInfo(path: str, filename: str) -> bytes:
    """
    The PKG-INFO of an sdist, checking the archive on the way.
    """
    if filename.endswith(".zip"):
        with _checkZip(path) as z:
            top = _topLevel(z.namelist())
            if top is None:
                raise InvalidDistribution(
                    "Invalid distribution file. Incorrect number of top-level "
                    "directories in sdist"
                )
            target = f"{top}/PKG-INFO"
            try:
                info = z.getinfo(target)
            except KeyError:
                raise InvalidDistribution(
                    f"Invalid distribution file. PKG-INFO not found at {target}"
                )
            if info.file_size > MAX_METADATA_SIZE:
                raise InvalidDistribution("Invalid distribution file. PKG-INFO is too large")
            try:
                return z.read(info)
            except _ARCHIVE_ERRORS as e:
                raise InvalidDistribution(f"Invalid distribution file. {e}")
    try:
        isTar = tarfile.is_tarfile(path)
    except _ARCHIVE_ERRORS:
        isTar = False
    if not isTar:
        raise InvalidDistribution("Invalid distribution file. File is not a tarfile")
    compressed = max(os.stat(path).st_size, 1)
    limit = max(COMPRESSION_RATIO_MIN_SIZE, compressed * COMPRESSION_RATIO_THRESHOLD)
    try:
        with tarfile.open(path, "r:gz") as tar:
            names: List[str] = []
            found: Optional[bytes] = None
            for member in tar:
                if tar.offset > limit:
                    raise InvalidDistribution(
                        "Invalid distribution file. File exceeds compression "
                        f"ratio of {COMPRESSION_RATIO_THRESHOLD}"
                    )
                names.append(member.name)
                parts = member.name.lstrip("./").split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    if member.size > MAX_METADATA_SIZE:
                        raise InvalidDistribution(
                            "Invalid distribution file. PKG-INFO is too large"
                        )
                    extracted = tar.extractfile(member)
                    if extracted is not None and found is None:
                        found = extracted.read()
            top = _topLevel(names)
            if top is None:
                raise InvalidDistribution(
                    "Invalid distribution file. Incorrect number of top-level "
                    "directories in sdist"
                )
            if found is None:
                raise InvalidDistribution(
                    f"Invalid distribution file. PKG-INFO not found at {top}/PKG-INFO"
                )
            return found
    except _ARCHIVE_ERRORS as e:
        raise InvalidDistribution(f"Invalid distribution file. {e}")


def checkArchive(path: str, filename: str) -> None:
    """
    Is the file at C{path} the kind of archive its C{filename} says?

    @raise InvalidDistribution: it is not; the message says why.
    """
    if filename.endswith(".whl"):
        with _checkZip(path) as z:
            try:
                name, version, _ = filename.split("-", 2)
            except ValueError:
                raise InvalidDistribution(
                    "Invalid distribution file. Unable to parse name and "
                    "version from wheel filename"
                )
            target = f"{name}-{version}.dist-info/WHEEL"
            if target not in z.namelist():
                raise InvalidDistribution(
                    f"Invalid distribution file. WHEEL not found at {target}"
                )
    else:
        sdistPkgInfo(path, filename)


def coreMetadataOf(path: str, filename: str) -> Optional[bytes]:
    """
    The core metadata of the distribution at C{path}, byte for byte, to be
    served as C{<filename>.metadata} (PEP 658): a wheel's
    C{.dist-info/METADATA}; an sdist's C{PKG-INFO} when its Metadata-Version
    is 2.2 or later (PEP 643: only then are its fields reliable), else
    C{None}.

    @raise InvalidDistribution: not a readable archive, or a wheel without
        the METADATA or RECORD it must have in the .dist-info its filename
        names, or with more than one .dist-info.
    """
    if filename.endswith(".whl"):
        with _checkZip(path) as z:
            name, version = filename.split("-", 2)[:2]
            infoDir = f"{name}-{version}.dist-info"
            names = set(z.namelist())
            if f"{infoDir}/RECORD" not in names:
                raise InvalidDistribution(
                    f"Wheel '{filename}' does not contain the required RECORD "
                    f"file: {infoDir}/RECORD"
                )
            metadataName = f"{infoDir}/METADATA"
            if metadataName not in names:
                raise InvalidDistribution(
                    f"Wheel '{filename}' does not contain the required METADATA "
                    f"file: {metadataName}"
                )
            if z.getinfo(metadataName).file_size > MAX_METADATA_SIZE:
                raise InvalidDistribution("Invalid distribution file. METADATA is too large")
            # pip and uv refuse to install a wheel with several .dist-info
            # directories; wheelMetadata would also take a METADATA from
            # another one than the filename's.
            infoDirs = sorted(
                {
                    top
                    for top, slash, _ in (n.partition("/") for n in names)
                    if slash and top.endswith(".dist-info")
                }
            )
            if len(infoDirs) > 1:
                raise InvalidDistribution(
                    f"Invalid distribution file. Wheel '{filename}' has more than "
                    f"one .dist-info directory: {', '.join(infoDirs)}"
                )
        try:
            data = wheelMetadata(path)
        except NoMetadata:
            raise InvalidDistribution(
                f"Wheel '{filename}' does not contain the required METADATA "
                f"file: {metadataName}"
            )
        return data
    data = sdistPkgInfo(path, filename)
    if _hasCoreMetadataFields(readCoreMetadata(data).metadataVersion):
        return data
    return None


def releaseMetadata(fields: Mapping[str, List[str]]) -> Dict[str, Tuple[str, ...]]:
    """
    The release metadata fields of a form, every value of each, in order.
    """
    return {
        key: tuple(values)
        for key, values in fields.items()
        if key not in _PROTOCOL_FIELDS and not key.startswith(":")
    }


def checkUpload(
    form: Form,
    record: Optional[ProjectRecord],
    policy: UploadPolicy = UploadPolicy(),
    user: Optional[str] = None,
    action: Optional[str] = None,
) -> Decision:
    """
    Decide on an upload, checking in the reference index's order.

    @param record: the project's record, if the project exists.
    @param user: the authenticated user (for L{UploadPolicy.mayUpload}).
    @param action: the C{:action} from the query string, used when the form
        has none (the reference reads both).
    """
    fields = _cleanFields(form)
    action = fields.get(":action", [action or ""])[0]
    if not action:
        return Rejection(400, "Missing ':action' field!")
    if action in ("submit", "submit_pkg_info"):
        return Rejection(
            410,
            "Project pre-registration is no longer required or supported, "
            "upload your files instead.",
        )
    if action == "doc_upload":
        return Rejection(410, "Uploading documentation is no longer supported.")
    if action != "file_upload":
        return Rejection(400, f"Unknown action: {action!r}.")
    if fields.get("protocol_version", ["1"])[0] != "1":
        return Rejection(400, "Unknown protocol version.")
    for part in form.files:
        if part.name not in ("content", "gpg_signature"):
            return Rejection(400, f"{part.name}: Should not be a tuple.")
    rejection = _checkFormFields(fields) or _checkMetadataFields(fields, policy)
    if rejection is not None:
        return rejection
    content = form.file("content")
    if content is None:
        return Rejection(400, "Upload payload does not have a file.")

    formName = fields["name"][0]
    projectName = record.name if record is not None else formName
    normalized = normalize(formName)
    if not policy.mayUpload(user, normalized):
        return Rejection(
            403,
            f"The user '{user}' isn't allowed to upload to project "
            f"'{projectName}'.",
        )
    if not policy.servedPrivately(normalized):
        return Rejection(
            403,
            f"Project '{projectName}' is not served from this index's private"
            " releases: its route leaves out \"private\".",
        )
    filetype = fields["filetype"][0]
    filename = content.filename
    rejection = _checkFilename(filename, filetype)
    if rejection is not None:
        return rejection
    if content.contentType is not None and (
        not content.contentType.strip() or content.contentType.startswith("image/")
    ):
        return Rejection(400, "Invalid distribution file.")
    if content.tooLarge or content.size > policy.maxFileSize:
        return Rejection(
            400,
            f"File too large. Limit for project {projectName!r} is "
            f"{formatLimit(policy.maxFileSize)}.",
        )
    if not _digestsMatch(fields, content):
        return Rejection(
            400,
            "The digest supplied does not match a digest calculated from the "
            "uploaded file.",
        )

    if record is not None:
        existing = record.fileNamed(filename)
        if existing is None:
            for f in record.files:
                if f.blake2_256 == content.blake2_256:
                    existing = f
                    break
        if existing is not None:
            if (
                existing.filename == filename
                and existing.sha256 == content.sha256
                and existing.blake2_256 == content.blake2_256
            ):
                return AlreadyUploaded(filename)
            # Must start with "File already exists": twine --skip-existing,
            # poetry and pdm look for it.
            return Rejection(
                400,
                f"File already exists ({filename!r}, with blake2_256 hash "
                f"{content.blake2_256!r}).",
            )
        if filename in record.deleted:
            return Rejection(
                400,
                "This filename was previously used by a file that has since "
                "been deleted. Use a different version.",
            )
    version = Version(fields["version"][0])
    if (
        filetype == "sdist"
        and record is not None
        and any(f.filetype == "sdist" for f in record.filesOf(str(version)))
    ):
        return Rejection(400, "Only one sdist may be uploaded per release.")

    assert content.path is not None
    path = content.path.path
    pkgInfo: Optional[bytes] = None
    try:
        if filetype == "sdist":
            # What checkArchive does for an sdist, keeping its PKG-INFO.
            pkgInfo = sdistPkgInfo(path, filename)
        else:
            checkArchive(path, filename)
    except InvalidDistribution as e:
        return Rejection(400, e.message)
    if filetype == "sdist":
        rejection = _checkSdistFilename(filename, projectName, version)
    else:
        rejection = _checkWheelFilename(filename, projectName, formName, version)
    if rejection is not None:
        return rejection
    if pkgInfo is None:
        try:
            coreMetadata: Optional[bytes] = coreMetadataOf(path, filename)
        except InvalidDistribution as e:
            return Rejection(400, e.message)
    elif _hasCoreMetadataFields(readCoreMetadata(pkgInfo).metadataVersion):
        coreMetadata = pkgInfo
    else:
        coreMetadata = None

    requiresPython = fields.get("requires_python", [None])[0]  # type: ignore[list-item]
    # An older PKG-INFO is not served as core metadata, but its Name and
    # Version are as reliable as in any: a wheel built from it is for them.
    checked = coreMetadata if coreMetadata is not None else pkgInfo
    if checked is not None:
        core = readCoreMetadata(checked)
        if (
            core.name is None
            or core.version is None
            or canonicalize_name(core.name) != normalized
            or not sameVersion(core.version, str(version))
        ):
            # pip refuses metadata naming another project or version.
            return Rejection(
                400,
                f"Invalid distribution file. The metadata in {filename!r} is "
                f"for {core.name!r} {core.version!r}, not {formName!r} "
                f"{str(version)!r}.",
            )
    if coreMetadata is not None:
        requiresPython = core.requiresPython
    return Accepted(
        name=formName,
        version=str(version),
        filetype=filetype,
        pyversion=fields.get("pyversion", [None])[0],  # type: ignore[list-item]
        content=content,
        coreMetadata=coreMetadata,
        requiresPython=requiresPython,
        metadata=releaseMetadata(fields),
    )
