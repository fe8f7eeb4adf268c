"""
Build an upstream like the public index from the bench kit's fixture: its
JSON pages list core metadata (PEP 658/714) on every wheel, and the wheels
it serves have their C{.metadata} files beside them.

The kit's fixture lists none, so against it uv reads each wheel's metadata
with HEAD and range requests on the wheel, and cheesecache's rendering
never meets the core metadata that nearly every wheel of the public index
has.  Usage::

    python bench/metadata_upstream.py FIXTURE_DIR OUT_DIR FROM_PORT TO_PORT

FIXTURE_DIR is the kit's C{fixture} (with C{simple/} and C{packages/});
OUT_DIR gets C{simple/} (the pages, JSON and HTML, with their gzip twins)
and C{packages/} (links to the fixture's files, and the C{.metadata}
files); file URLs on port FROM_PORT are moved to TO_PORT, where an nginx
configured as the kit's fixture, with OUT_DIR as its root, is to serve
them.  A wheel the fixture does not serve gets a made-up digest: nothing
fetches it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Dict
from urllib.parse import urlsplit


def wheelMetadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        (name,) = [
            n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        return z.read(name)


def linkPackages(fixture: Path, out: Path) -> Dict[str, str]:
    """
    Link the fixture's files into C{out/packages} and write each wheel's
    C{.metadata} beside it; the sha256 of each, by URL path.
    """
    digests = {}
    for source in (fixture / "packages").rglob("*"):
        if not source.is_file():
            continue
        relative = source.relative_to(fixture)
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve())
        if source.name.endswith(".whl"):
            metadata = wheelMetadata(source)
            Path(str(target) + ".metadata").write_bytes(metadata)
            digests["/" + str(relative)] = hashlib.sha256(metadata).hexdigest()
    return digests


def withCoreMetadata(page: bytes, digests: Dict[str, str]) -> bytes:
    """
    A PEP 691 page with core metadata on every wheel and C{provenance} on
    every file, its keys in order, as the public index writes it.
    """
    data = json.loads(page)
    files = []
    for entry in data["files"]:
        extra: Dict[str, object] = {"provenance": None}
        if entry["filename"].endswith(".whl"):
            digest = digests.get(urlsplit(entry["url"]).path)
            if digest is None:
                digest = hashlib.sha256(entry["filename"].encode()).hexdigest()
            extra["core-metadata"] = extra["data-dist-info-metadata"] = {"sha256": digest}
        files.append(dict(sorted({**extra, **entry}.items())))
    data["files"] = files
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def main(fixture: Path, out: Path, fromPort: str, toPort: str) -> None:
    digests = linkPackages(fixture, out)
    old, new = f"//127.0.0.1:{fromPort}/".encode(), f"//127.0.0.1:{toPort}/".encode()
    for source in (fixture / "simple").rglob("*"):
        if not source.is_file() or source.name.endswith(".gz"):
            continue
        target = out / source.relative_to(fixture)
        target.parent.mkdir(parents=True, exist_ok=True)
        body = source.read_bytes().replace(old, new)
        if source.name == "index.json" and source.parent.name != "simple":
            body = withCoreMetadata(body, digests)
        target.write_bytes(body)
        Path(str(target) + ".gz").write_bytes(gzip.compress(body, 6, mtime=0))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4])
