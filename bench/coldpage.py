"""
What a cold project page costs cheesecache's CPU, step by step: parsing the
upstream's JSON into the model, rendering the model as JSON, and making the
representation (hash and gzip twin), for real pages of the bench kit's
fixture.

The reference, timed in the same run on the same bytes, is C{json.loads}:
the least any parser of these pages has to do.  Each figure is the best of
C{--rounds} runs.  Usage::

    python bench/coldpage.py FIXTURE_SIMPLE_DIR [project ...] [--rounds N]
        [--with-metadata]

(FIXTURE_SIMPLE_DIR is the kit's C{fixture/simple}; the default projects
are the biggest pages C{uv pip install requests twisted treq} reads.)
The last column is what a cold big page (over 256 KiB; smaller ones are
parsed whole) costs the server as it is served:
its entries handed, as they are decoded, to the JSON rendering that writes
plain entries without the model (see L{cheesecache.simple.plain}), its
representation written to disk and hashed (its gzip twin is made later, in
a thread, so not here).  The kit's fixture lists no core metadata;
C{--with-metadata} adds it to every wheel, as the public index writes its
pages (see C{bench/metadata_upstream.py}).  Writes a Markdown table to stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import attrs
from twisted.internet.defer import Deferred
from twisted.python.filepath import FilePath

from cheesecache.index import UpstreamSource, _Kept
from cheesecache.simple.parse import finish, handProjectJSONEntrySteps, pageText, parseProject
from cheesecache.simple.render import JSON_TYPE, projectJSONChunks
from cheesecache.web.representation import RenderedStore, Representation
from cheesecache.web.simple import renderingsWhileParsing
from metadata_upstream import withCoreMetadata  # beside this script

DEFAULT = ["cryptography", "charset-normalizer", "zope-interface", "cffi", "twisted"]


def best(rounds: int, f: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def coldPath(store: RenderedStore, body: bytes, base: str, name: str) -> None:
    """
    Serve C{body} as a cold big page is served: decoded in steps, its
    entries rendered as they come by what the server renders such a page
    with (as JSON, plain entries without the model; as HTML too when the
    page is over C{HTML_WHILE_PARSING}).
    """
    rendering = renderingsWhileParsing(
        store, lambda f: f, name, len(body), extracted=lambda key: False
    )
    kept = _Kept(rendering, attrs.fields(UpstreamSource).modelBudget.default, base)
    page = finish(
        handProjectJSONEntrySteps(pageText(body, JSON_TYPE), name, kept.addEntry, kept.addRun)
    )
    rendered: Dict[str, object] = {}
    rendering.finish(page, rendered)
    for representation in rendered.values():
        store.discard(representation)


def main(argv: List[str]) -> None:
    rounds = 7
    if "--rounds" in argv:
        i = argv.index("--rounds")
        rounds = int(argv[i + 1])
        del argv[i : i + 2]
    metadata = "--with-metadata" in argv
    if metadata:
        argv.remove("--with-metadata")
    folder, names = Path(argv[0]), argv[1:] or DEFAULT
    # Twins are made in a thread, later: never here.
    store = RenderedStore(
        FilePath(tempfile.mkdtemp(prefix="coldpage-")), blocking=lambda f, *a: Deferred()
    )
    print("| page | JSON | files | json.loads | parse | ratio | render | representation | cold path |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        body = (folder / name / "index.json").read_bytes()
        if metadata:
            # Made-up digests: nothing here fetches the metadata.
            body = withCoreMetadata(body, {})
        base = f"http://127.0.0.1/simple/{name}/"
        page = parseProject(body, JSON_TYPE, base, name)
        reference = best(rounds, lambda: json.loads(body))
        parse = best(rounds, lambda: parseProject(body, JSON_TYPE, base, name))
        render = best(rounds, lambda: b"".join(projectJSONChunks(page)))
        rep = best(rounds, lambda: Representation.of(JSON_TYPE, projectJSONChunks(page)))
        cold = best(rounds, lambda: coldPath(store, body, base, name))
        print(
            f"| {name} | {len(body) // 1024} KiB | {len(page.files)}"
            f" | {reference * 1e3:.1f} ms | {parse * 1e3:.1f} ms"
            f" | {parse / reference:.1f}x | {render * 1e3:.1f} ms"
            f" | {rep * 1e3:.1f} ms | {cold * 1e3:.1f} ms |"
        )
    store.clear()


if __name__ == "__main__":
    main(sys.argv[1:])
