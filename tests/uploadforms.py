"""
Upload request bodies shaped as twine, uv publish, poetry and pdm send them
(SIMPLE-API.md section 3.2): their field names and order, their boundary
styles, repeated fields, and the content part with or without a
Content-Type.
"""

from __future__ import annotations

import hashlib
from typing import List, Optional, Sequence, Tuple, Union

#: A text field (name, value) or a file part (name, filename, content type
#: or None for no Content-Type header, bytes).
Part = Union[Tuple[str, str], Tuple[str, str, Optional[str], bytes]]


def encode(parts: Sequence[Part], boundary: str) -> bytes:
    """
    A multipart/form-data body, CRLF-delimited as every client writes it.
    """
    out: List[bytes] = []
    b = boundary.encode("ascii")
    for part in parts:
        out.append(b"--" + b + b"\r\n")
        if len(part) == 2:
            name, value = part  # type: ignore[misc]
            out.append(
                f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            )
            out.append(value.encode("utf-8"))  # type: ignore[union-attr]
        else:
            name, filename, contentType, data = part  # type: ignore[misc]
            out.append(
                f'Content-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\n'.encode()
            )
            if contentType is not None:
                out.append(f"Content-Type: {contentType}\r\n".encode())
            out.append(b"\r\n")
            out.append(data)  # type: ignore[arg-type]
        out.append(b"\r\n")
    out.append(b"--" + b + b"--\r\n")
    return b"".join(out)


def contentType(boundary: str) -> bytes:
    return f"multipart/form-data; boundary={boundary}".encode()


def _digests(data: bytes) -> Tuple[str, str, str]:
    return (
        hashlib.md5(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
        hashlib.blake2b(data, digest_size=32).hexdigest(),
    )


def _filetype(filename: str) -> Tuple[str, str]:
    if filename.endswith(".whl"):
        return "bdist_wheel", filename.split("-")[-3]
    return "sdist", "source"


def twineParts(
    name: str,
    version: str,
    filename: str,
    data: bytes,
    classifiers: Sequence[str] = (
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
    ),
    requiresDist: Sequence[str] = ("attrs>=23", "packaging"),
) -> List[Part]:
    """
    twine 7: metadata fields first (name as C{safe_name}), repeated
    classifiers and requires_dist, sha256 and blake2 digests (no md5), then
    C{:action} and C{protocol_version}, then the file with
    C{application/octet-stream}.
    """
    _, sha256, blake2 = _digests(data)
    filetype, pyversion = _filetype(filename)
    parts: List[Part] = [
        ("name", name.replace("_", "-")),
        ("version", version),
        ("filetype", filetype),
        ("pyversion", pyversion),
        ("metadata_version", "2.1"),
        ("summary", "A test package"),
        ("home_page", ""),
        ("author", "Someone"),
        ("author_email", "someone@example.invalid"),
        ("license", ""),
        ("description", "A long\r\ndescription\r\n--with dashes\r\n"),
        ("description_content_type", "text/x-rst"),
        ("keywords", "a,b"),
    ]
    parts += [("classifiers", c) for c in classifiers]
    parts += [("requires_dist", r) for r in requiresDist]
    parts += [
        ("requires_python", ">=3.8"),
        ("sha256_digest", sha256),
        ("blake2_256_digest", blake2),
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("content", filename, "application/octet-stream", data),
    ]
    return parts


def uvParts(name: str, version: str, filename: str, data: bytes) -> List[Part]:
    """
    uv publish: C{:action} first, the raw metadata name, C{requires_python}
    always (here empty), C{import_names}, and a content part with no
    Content-Type at all.
    """
    _, sha256, blake2 = _digests(data)
    filetype, pyversion = _filetype(filename)
    return [
        (":action", "file_upload"),
        ("sha256_digest", sha256),
        ("blake2_256_digest", blake2),
        ("protocol_version", "1"),
        ("metadata_version", "2.4"),
        ("name", name),
        ("version", version),
        ("filetype", filetype),
        ("pyversion", pyversion),
        ("requires_python", ""),
        ("import_names", name.replace("-", "_")),
        ("classifiers", "Private :: Do Not Upload"),
        ("content", filename, None, data),
    ]


def poetryParts(name: str, version: str, filename: str, data: bytes) -> List[Part]:
    """
    poetry publish: md5 (hex), sha256 and blake2 digests, singular
    C{platform}/C{license_file}, octet-stream content.
    """
    md5, sha256, blake2 = _digests(data)
    filetype, pyversion = _filetype(filename)
    return [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", name),
        ("version", version),
        ("metadata_version", "2.3"),
        ("summary", "A test package"),
        ("platform", ""),
        ("md5_digest", md5),
        ("sha256_digest", sha256),
        ("blake2_256_digest", blake2),
        ("filetype", filetype),
        ("pyversion", pyversion),
        ("requires_dist", "attrs>=23"),
        ("content", filename, "application/octet-stream", data),
    ]


def pdmParts(name: str, version: str, filename: str, data: bytes) -> List[Part]:
    """
    pdm publish: C{provides_extras} (plural, which the reference ignores),
    empty fields, C{UNKNOWN} for an absent one, all three digests.
    """
    md5, sha256, blake2 = _digests(data)
    filetype, pyversion = _filetype(filename)
    return [
        ("name", name),
        ("version", version),
        ("metadata_version", "2.2"),
        ("summary", "UNKNOWN"),
        ("provides_extras", ""),
        ("comment", ""),
        ("filetype", filetype),
        ("pyversion", pyversion),
        ("md5_digest", md5),
        ("sha256_digest", sha256),
        ("blake2_256_digest", blake2),
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("content", filename, "application/octet-stream", data),
    ]


#: Boundaries in each client's style.
TWINE_BOUNDARY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
UV_BOUNDARY = "1a2b3c4d-5e6f7a8b-9c0d1e2f-3a4b5c6d"
POETRY_BOUNDARY = "7d9a8c0e6b5f4a3b2c1d0e9f8a7b6c5d"
PDM_BOUNDARY = "----pdm-upload-boundary-42"

CLIENTS = {
    "twine": (twineParts, TWINE_BOUNDARY),
    "uv": (uvParts, UV_BOUNDARY),
    "poetry": (poetryParts, POETRY_BOUNDARY),
    "pdm": (pdmParts, PDM_BOUNDARY),
}


def clientBody(
    client: str, name: str, version: str, filename: str, data: bytes
) -> Tuple[bytes, bytes]:
    """
    C{(Content-Type header, body)} of an upload as C{client} sends it.
    """
    makeParts, boundary = CLIENTS[client]
    return contentType(boundary), encode(makeParts(name, version, filename, data), boundary)
