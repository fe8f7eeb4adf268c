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
from typing import Iterable, Optional, Tuple


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
    record = "".join(
        f"{path},{_recordHash(data)},{len(data)}\n" for path, data in files.items()
    )
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for path, data in files.items():
            z.writestr(zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), data)
    return filename, out.getvalue()


def makeSdist(name: str, version: str) -> Tuple[str, bytes]:
    """
    A minimal sdist (PKG-INFO only; enough to be listed and downloaded).
    """
    dist = name.replace("-", "_").replace(".", "_")
    filename = f"{dist}-{version}.tar.gz"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        data = metadataText(name, version)
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return filename, out.getvalue()
