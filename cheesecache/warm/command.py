# -*- test-case-name: tests.test_warm -*-
"""
C{cheesecache warm}: the command line.

    cheesecache warm --index URL [-r FILE]... [-c FILE]... [--pylock FILE]
                     [--python-version X.Y] [--platform TAG]... [--pre]
                     [--no-binary NAMES]... [--only-binary NAMES]...
                     [--all-releases NAMES]... [--only-final NAMES]...
                     [--prefer-binary] [SPEC]...
"""

from __future__ import annotations

import argparse
import functools
import os
from typing import Any, List, Sequence, TextIO, Tuple

from twisted.internet.defer import Deferred

from ..upstream import splitCredentials
from .report import Progress, Report
from .requirements import (
    ALL_RELEASES,
    NO_BINARY,
    ONLY_BINARY,
    ONLY_FINAL,
    Requirement,
    RequirementsError,
    RequirementsFile,
    parsePylock,
    readRequirements,
)
from .target import Target
from .warmer import Warmer


def _formatOption(option: str, value: str) -> Tuple[str, str]:
    if value.startswith("-"):
        raise argparse.ArgumentTypeError(f"{option} needs a value")
    return option, value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cheesecache warm",
        description="Fetch requirements and their dependencies through a "
        "cheesecache so that they are cached.",
    )
    p.add_argument(
        "--index",
        required=True,
        metavar="URL",
        help="the cheesecache Simple index, e.g. http://user:pass@host:3141/simple/",
    )
    p.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        metavar="FILE",
        help="a requirements file (repeatable)",
    )
    p.add_argument(
        "-c",
        "--constraint",
        action="append",
        default=[],
        metavar="FILE",
        help="a constraints file (repeatable)",
    )
    p.add_argument(
        "--pylock",
        action="append",
        default=[],
        metavar="FILE",
        help="a PEP 751 pylock.toml (repeatable)",
    )
    p.add_argument(
        "--python-version",
        metavar="X.Y",
        help="the target Python (default: this interpreter)",
    )
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="TAG",
        help="a target platform tag, e.g. manylinux_2_17_x86_64 (repeatable; "
        "default: this machine)",
    )
    p.add_argument("--pre", action="store_true", help="consider prereleases")
    for option, kind in (
        (NO_BINARY, "sdists only"),
        (ONLY_BINARY, "wheels only"),
        (ALL_RELEASES, "pre-releases too"),
        (ONLY_FINAL, "final releases only"),
    ):
        p.add_argument(
            option,
            action="append",
            dest="formatOptions",
            default=[],
            metavar="NAMES",
            type=functools.partial(_formatOption, option),
            help=f"warm {kind} for these projects (comma-separated, :all: or "
            f":none:), as pip's {option} installs them; before the requirements "
            "files' own (repeatable)",
        )
    p.add_argument(
        "--prefer-binary",
        action="store_true",
        help="warm the newest version with a wheel over newer ones with an sdist "
        "only, as pip's --prefer-binary installs",
    )
    p.add_argument(
        "--proxy",
        metavar="URL",
        help="an HTTP proxy to reach the index through, http(s)://[user:pass@]host:port "
        "(default: pip's proxy setting, then HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY)",
    )
    p.add_argument(
        "--cert",
        metavar="FILE",
        help="a PEM bundle of the certificate authorities an https index is checked "
        "against (default: pip's cert setting, unless SSL_CERT_FILE or SSL_CERT_DIR is set)",
    )
    p.add_argument(
        "--client-cert",
        metavar="FILE",
        help="a PEM file holding a client certificate and its private key, for an https "
        "index that asks for one (default: pip's client-cert setting)",
    )
    p.add_argument(
        "--trusted-host",
        metavar="HOST",
        action="append",
        default=[],
        help="an https index host (or host:port) whose certificate is not checked, as "
        "pip's --trusted-host; repeatable (default: pip's trusted-host setting)",
    )
    p.add_argument(
        "--concurrency", type=int, default=8, help="parallel requests (default 8)"
    )
    p.add_argument(
        "specs", nargs="*", metavar="SPEC", help="requirements, e.g. 'requests>=2'"
    )
    return p


class _ProgressDisplay:
    """
    A one-line bar redrawn with C{\\r} on a terminal; one line per file
    otherwise (logs and CI).
    """

    width = 30

    def __init__(self, out: TextIO) -> None:
        self.out = out
        isatty = getattr(out, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.drawn = False

    def __call__(self, p: Progress) -> None:
        if self.tty:
            filled = self.width * p.done // max(p.total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            line = f"[{bar}] {p.done}/{p.total} {p.label}"[:100]
            self.out.write("\r" + line.ljust(100))
            self.drawn = True
        else:
            reason = f": {p.reason}" if p.reason else ""
            self.out.write(f"[{p.done}/{p.total}] {p.status} {p.label}{reason}\n")
        self.out.flush()

    def finish(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.drawn = False


def _summary(report: Report, out: TextIO) -> None:
    total = len(report.fetched) + len(report.cached)
    size = sum(o.size for o in report.fetched)
    for warning in report.warnings:
        out.write(f"warning: {warning}\n")
    for problem in report.failed:
        out.write(f"failed: {problem.subject}: {problem.reason}\n")
    out.write(
        f"{total} files: {len(report.fetched)} fetched ({size} bytes), "
        f"{len(report.cached)} already cached, {len(report.failed)} failed\n"
    )


def _redacted(url: str) -> str:
    return splitCredentials(url)[0]


def warmCommand(argv: Sequence[str], stdout: TextIO) -> int:
    """
    C{cheesecache warm}: parse C{argv}, resolve and fetch through the
    index, show progress and a summary on C{stdout}.  Runs (and stops) the
    global reactor, so it can be called once per process.

    @return: the exit code: 0, 1 when anything failed, 2 for bad usage.
    """
    try:
        options = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    try:
        wanted = RequirementsFile(
            allowPre=options.pre,
            formatOptions=options.formatOptions,
            preferBinary=options.prefer_binary,
        )
        for spec in options.specs:
            parsed = Requirement.parse(spec, "command line")
            wanted += RequirementsFile(requirements=(parsed,))
        for path in options.requirement:
            wanted += readRequirements(path)
        for path in options.constraint:
            wanted += readRequirements(path, constraint=True)
        for path in options.pylock:
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise RequirementsError(f"cannot read {path}: {e}") from e
            wanted += parsePylock(text, path)
        target = Target.fromOptions(options.python_version, options.platform)
    except RequirementsError as e:
        stdout.write(f"error: {e}\n")
        return 2
    if not wanted.requirements:
        stdout.write("error: nothing to warm (give requirements, -r or --pylock)\n")
        return 2
    # Not urlsplit's scheme: it raises for a URL whose host it cannot read,
    # which is told below.
    if options.index.partition("://")[0].lower() not in ("http", "https"):
        # Not repeated: without a scheme, user:password@host is not parsed
        # as user info, so it cannot be redacted.
        stdout.write(
            "error: --index must be an http(s) URL, e.g. "
            "http://host:3141/simple/\n"
        )
        return 2
    from ..config import ConfigError, checkURLHost
    from ..outbound import Outbound, QuietConnectionPool, netrcAuthorization
    from ..pipconfig import PipSettings

    try:
        checkURLHost(options.index, "--index")
        outbound = Outbound.fromSettings(
            PipSettings(),
            proxy=options.proxy,
            bundle=options.cert,
            cert=options.client_cert,
            trusted=options.trusted_host,
            bundleFlag="--cert",
        )
        authorization, _ = netrcAuthorization(options.index, os.environ)
    except ConfigError as e:
        stdout.write(f"error: {e}\n")
        return 2

    stdout.write(f"warming {_redacted(options.index)} for {target.description}\n")
    display = _ProgressDisplay(stdout)
    results: List[Report] = []

    def main(reactor: Any) -> "Deferred[None]":
        import treq
        pool = QuietConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = max(options.concurrency, 2)
        client = treq.client.HTTPClient(outbound.agent(reactor, pool))
        warmer = Warmer(
            client,
            options.index,
            target,
            concurrency=max(options.concurrency, 1),
            progress=display,
            timeout=300,
            reactor=reactor,
            authorization=authorization,
        )
        d = warmer.warm(
            wanted.requirements, wanted.constraints, wanted.allowPre, wanted.formats
        )
        d.addCallback(results.append)

        def closed(result: object) -> "Deferred[object]":
            return pool.closeCachedConnections().addCallback(lambda _: result)

        d.addBoth(closed)
        return d

    from twisted.internet.task import react

    try:
        react(main)
    except SystemExit as e:
        if e.code:
            display.finish()
            stdout.write("error: the warm stopped unexpectedly\n")
            return int(e.code) if isinstance(e.code, int) else 1
    display.finish()
    if not results:
        return 1
    report = results[0]
    for warning in wanted.warnings:
        stdout.write(f"warning: {warning}\n")
    _summary(report, stdout)
    return 0 if report.ok else 1

