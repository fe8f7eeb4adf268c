"""
What a cold project page costs cheesecache's CPU, step by step: parsing the
upstream's JSON into the model, rendering the model as JSON, and making the
representation (hash and gzip twin), for real pages of the bench kit's
fixture.

The reference, timed in the same run on the same bytes, is C{json.loads}:
the least any parser of these pages has to do.  Each figure is the best of
C{--rounds} runs.  Usage::

    python bench/coldpage.py FIXTURE_SIMPLE_DIR [project ...] [--rounds N]

(FIXTURE_SIMPLE_DIR is the kit's C{fixture/simple}; the default projects
are the biggest pages C{uv pip install requests twisted treq} reads.)
Writes a Markdown table to stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, List

from cheesecache.simple.parse import parseProject
from cheesecache.simple.render import JSON_TYPE, projectJSONChunks
from cheesecache.web.representation import Representation

DEFAULT = ["cryptography", "charset-normalizer", "zope-interface", "cffi", "twisted"]


def best(rounds: int, f: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: List[str]) -> None:
    rounds = 7
    if "--rounds" in argv:
        i = argv.index("--rounds")
        rounds = int(argv[i + 1])
        del argv[i : i + 2]
    folder, names = Path(argv[0]), argv[1:] or DEFAULT
    print("| page | JSON | files | json.loads | parse | ratio | render | representation |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        body = (folder / name / "index.json").read_bytes()
        base = f"http://127.0.0.1/simple/{name}/"
        page = parseProject(body, JSON_TYPE, base, name)
        reference = best(rounds, lambda: json.loads(body))
        parse = best(rounds, lambda: parseProject(body, JSON_TYPE, base, name))
        render = best(rounds, lambda: b"".join(projectJSONChunks(page)))
        rep = best(rounds, lambda: Representation.of(JSON_TYPE, projectJSONChunks(page)))
        print(
            f"| {name} | {len(body) // 1024} KiB | {len(page.files)}"
            f" | {reference * 1e3:.1f} ms | {parse * 1e3:.1f} ms"
            f" | {parse / reference:.1f}x | {render * 1e3:.1f} ms"
            f" | {rep * 1e3:.1f} ms |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
