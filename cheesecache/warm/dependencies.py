# -*- test-case-name: tests.test_warm -*-
"""
A release's dependencies, read from its core metadata (a wheel's, or
an sdist's when it declares them).
"""

from __future__ import annotations

import email.parser
import lzma
import tarfile
import zipfile
import zlib
from typing import IO, FrozenSet, Iterable, List, Optional, Tuple

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.version import InvalidVersion, Version

from ..metadata import MAX_METADATA_SIZE
from .requirements import Requirement
from .target import Target


def requiresDist(
    metadata: bytes, origin: str = ""
) -> Tuple[List[PackagingRequirement], List[str]]:
    """
    The C{Requires-Dist} of a core metadata file, and warnings about the
    entries that could not be read.
    """
    message = email.parser.BytesHeaderParser().parsebytes(metadata)
    result: List[PackagingRequirement] = []
    warnings: List[str] = []
    for value in message.get_all("Requires-Dist") or []:
        try:
            result.append(PackagingRequirement(str(value)))
        except InvalidRequirement as e:
            warnings.append(f"{origin}: skipping Requires-Dist {value!r}: {e}")
    return result, warnings


def dependencies(
    requires: Iterable[PackagingRequirement],
    extras: FrozenSet[str],
    target: Target,
    origin: str,
) -> Tuple[List[Requirement], List[str]]:
    """
    The requirements, among a distribution's C{Requires-Dist}, that apply on
    C{target} when it is installed with C{extras}: a marker must be true
    without an extra or with one of them.  Direct references are skipped
    with a warning.
    """
    environments = [{**target.environment, "extra": e} for e in ("", *sorted(extras))]
    result: List[Requirement] = []
    warnings: List[str] = []
    for r in requires:
        if r.marker is not None:
            try:
                applies = any(r.marker.evaluate(env) for env in environments)
            except Exception as e:  # undefined comparisons, odd versions
                warnings.append(f"{origin}: not following {r} ({e})")
                continue
            if not applies:
                continue
        if r.url:
            warnings.append(f"{origin}: not following {r} (a direct reference)")
            continue
        result.append(
            Requirement(
                name=r.name, specifier=r.specifier, extras=r.extras, origin=origin
            )
        )
    return result, warnings


def _readLimited(f: IO[bytes], limit: int) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError("metadata too large")
    return data


def metadataFromSdist(f: IO[bytes], filename: str) -> Optional[bytes]:
    """
    The C{PKG-INFO} of an sdist when its dependencies can be trusted: only
    metadata 2.2 or later (PEP 643) that does not mark C{Requires-Dist}
    dynamic.  Otherwise C{None}: the dependencies are only known by
    building it.
    """
    try:
        data: Optional[bytes] = None
        if filename.endswith(".zip"):
            with zipfile.ZipFile(f) as z:
                names = [
                    n
                    for n in z.namelist()
                    if n.count("/") == 1 and n.endswith("/PKG-INFO")
                ]
                if len(names) == 1:
                    with z.open(names[0]) as m:
                        data = _readLimited(m, MAX_METADATA_SIZE)
        else:
            with tarfile.open(fileobj=f, mode="r:*") as t:
                for member in t:
                    # "./name-1.0/PKG-INFO" when the archive was made with
                    # "tar -C dir .".
                    path = member.name.removeprefix("./")
                    if (
                        member.isfile()
                        and path.count("/") == 1
                        and path.endswith("/PKG-INFO")
                    ):
                        extracted = t.extractfile(member)
                        if extracted is not None:
                            data = _readLimited(extracted, MAX_METADATA_SIZE)
                        break
    except (
        tarfile.TarError, zipfile.BadZipFile, OSError, ValueError, EOFError,
        # What a corrupt compressed stream raises mid-read, and zipfile for
        # an encrypted member or a compression it does not know.
        zlib.error, lzma.LZMAError, RuntimeError, NotImplementedError,
    ):
        return None
    if data is None:
        return None
    message = email.parser.BytesHeaderParser().parsebytes(data)
    try:
        if Version(str(message.get("Metadata-Version", "1.0"))) < Version("2.2"):
            return None
    except InvalidVersion:
        return None
    dynamic = {str(d).strip().lower() for d in message.get_all("Dynamic") or []}
    return None if "requires-dist" in dynamic else data
