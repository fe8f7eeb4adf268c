"""
Real, installable distributions made in memory for tests: wheels with a
RECORD, METADATA and a module, and sdists.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from typing import Dict, Iterable, Optional, Tuple


def _recordHash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def metadataText(
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requiresPython: Optional[str] = None,
) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requiresPython:
        lines.append(f"Requires-Python: {requiresPython}")
    lines.extend(f"Requires-Dist: {r}" for r in requires)
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def makeWheel(
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requiresPython: Optional[str] = None,
    padding: int = 0,
) -> Tuple[str, bytes]:
    """
    A pure-Python wheel of project C{name} with a module C{<name>_mod}.

    @param padding: bytes of incompressible data to add (for big files).
    """
    dist = name.replace("-", "_").replace(".", "_")
    filename = f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}_mod/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": metadataText(name, version, requires, requiresPython),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: cheesecache-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    if padding:
        files[f"{dist}_mod/padding.bin"] = hashlib.shake_256(
            filename.encode()
        ).digest(padding)
    return filename, _zipWheel(info, files)


def _zipWheel(info: str, files: Dict[str, bytes]) -> bytes:
    """
    A wheel's bytes: C{files}, and the RECORD of them in C{info}.
    """
    record = "".join(
        f"{path},{_recordHash(data)},{len(data)}\n" for path, data in files.items()
    )
    record += f"{info}/RECORD,,\n"
    files = {**files, f"{info}/RECORD": record.encode()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for path, data in files.items():
            z.writestr(zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def makeSdist(
    name: str, version: str, pyproject: Optional[str] = None, module: bool = False
) -> Tuple[str, bytes]:
    """
    A minimal sdist: PKG-INFO, and C{pyproject} as its C{pyproject.toml}
    if given.

    @param module: with a module C{<name>_mod} too, for a backend to build
        (see L{makeBackendWheel}).
    """
    dist = name.replace("-", "_").replace(".", "_")
    filename = f"{dist}-{version}.tar.gz"
    files = {"PKG-INFO": metadataText(name, version)}
    if pyproject is not None:
        files["pyproject.toml"] = pyproject.encode("utf-8")
    if module:
        files[f"{dist}_mod/__init__.py"] = f"VERSION = {version!r}\n".encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{dist}-{version}/{path}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return filename, out.getvalue()


#: A PEP 517 build backend: the wheel of an sdist made by L{makeSdist} with
#: C{module=True}.  It imports what its project requires, so that a build
#: fails unless those were installed into the build environment too.
_BACKEND = """\
import base64, hashlib, os, zipfile
{imports}

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    dist = fields["Name"].replace("-", "_").replace(".", "_")
    version = fields["Version"]
    info = dist + "-" + version + ".dist-info"
    files = {{info + "/METADATA": text.encode()}}
    for root, _, names in os.walk(dist + "_mod"):
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                files[os.path.join(root, n).replace(os.sep, "/")] = f.read()
    files[info + "/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: tests\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n"
    )
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record += path + ",sha256=" + digest.decode() + "," + str(len(data)) + "\\n"
    files[info + "/RECORD"] = (record + info + "/RECORD,,\\n").encode()
    filename = dist + "-" + version + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return filename
"""


def makeBackendWheel(
    name: str, version: str, requires: Iterable[str] = ()
) -> Tuple[str, bytes]:
    """
    A wheel of project C{name} holding the build backend module C{name}
    (see L{_BACKEND}), which needs C{requires} (projects made by
    L{makeWheel}: their modules are imported).
    """
    requires = list(requires)
    dist = name.replace("-", "_").replace(".", "_")
    filename = f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    imports = "\n".join(
        f"import {r.replace('-', '_').replace('.', '_')}_mod" for r in requires
    )
    files = {
        f"{dist}.py": _BACKEND.format(imports=imports).encode(),
        f"{info}/METADATA": metadataText(name, version, requires),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: cheesecache-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    return filename, _zipWheel(info, files)
