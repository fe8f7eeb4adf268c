# -*- test-case-name: tests.test_warm -*-
"""
The shell: a L{Warmer} fetches pages, metadata and files through a
cheesecache with an injected HTTP client.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import (
    IO, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple,
)
from urllib.parse import urlsplit

import attrs
from twisted.internet.defer import (
    Deferred,
    DeferredSemaphore,
    gatherResults,
    inlineCallbacks,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..metadata import MAX_METADATA_SIZE, NoMetadata, wheelMetadata
from ..simple.model import DistFile
from ..simple.names import normalize
from ..simple.parse import ParseError, parseProject
from ..upstream import splitCredentials
from .choice import NoMatch, Release, Want
from .dependencies import (
    NoBuildRequirements,
    UnreadableSdist,
    buildRequires,
    sdistMembers,
    staticMetadata,
)
from .report import FileOutcome, Progress, Report
from .requirements import PIN_ALGORITHMS, Formats, Requirement, RequirementsError
from .resolution import Problem, Resolution
from .target import Target


log = Logger()

#: What the warmer asks for: JSON first, HTML from older indexes.
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)

#: The response header cheesecache sends on file downloads, C{hit} when the
#: file was served from its cache, C{miss} when it had to be fetched.
CACHE_HEADER = "X-Cheesecache-Cache"


#: Pages bigger than this are refused (metadata files: L{MAX_METADATA_SIZE}).
MAX_PAGE_SIZE = 64 * 1024 * 1024

#: Files kept in memory up to this size while their metadata is read.
SPOOL_SIZE = 16 * 1024 * 1024


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class _TooBig(Exception):
    pass


class HTTPProblem(Exception):
    """
    The server answered, but not with what was asked for.
    """


def _header(response: Any, name: str) -> Optional[str]:
    values = response.headers.getRawHeaders(name)
    if not values:
        return None
    value = values[0]
    return value.decode("latin-1") if isinstance(value, bytes) else value



def _notFollowed(resolution: Resolution, release: Release, why: str) -> None:
    """
    Warn that C{release}'s dependencies are not followed, and why.
    """
    resolution.warnings.append(
        f"{release.name} {release.version}: dependencies not followed ({why})"
    )


#: The most build environments one warm resolves (sdists built with
#: sdists built with sdists...).
MAX_BUILD_ENVIRONMENTS = 100


def _newBuilds(
    resolutions: Iterable[Resolution], seen: Set[Tuple[str, ...]], main: Resolution
) -> Iterator[Tuple[Tuple[str, ...], List[Release]]]:
    """
    The sets of build requirements of C{resolutions}' sdists not in
    C{seen} (which they are added to), up to L{MAX_BUILD_ENVIRONMENTS} in
    all; past it, a warning in C{main}.
    """
    for resolution in resolutions:
        for requires, releases in resolution.builds():
            if requires in seen:
                continue
            if len(seen) >= MAX_BUILD_ENVIRONMENTS:
                main.warnings.append(
                    f"not warming what {releases[0].name} {releases[0].version}"
                    f" is built with: over {MAX_BUILD_ENVIRONMENTS} build environments"
                )
                continue
            seen.add(requires)
            yield requires, releases


def _resolved(resolutions: Iterable[Resolution]) -> Tuple[Tuple[str, str], ...]:
    return tuple(
        sorted({(r.name, r.version) for res in resolutions for r in res.chosen.values()})
    )


@attrs.frozen
class _Read:
    """
    What a downloaded file says of its release.

    @ivar metadata: its core metadata (a wheel's, or an sdist's static
        C{PKG-INFO}), if it was read and has any.
    @ivar buildRequires: what an sdist is built with, if it could be read.
    """

    metadata: Optional[bytes] = None
    buildRequires: Optional[Tuple[str, ...]] = None


def _waitFor(shared: "Deferred[Any]") -> "Deferred[Any]":
    """
    A L{Deferred} that fires with C{shared}'s result, left for others to
    wait for too (a failure goes to the first only: the warm stops at it).
    """
    d: "Deferred[Any]" = Deferred()

    def fire(result: Any) -> Any:
        if isinstance(result, Failure):
            d.errback(result)
            return None
        d.callback(result)
        return result

    shared.addBoth(fire)
    return d


@attrs.define
class Warmer:
    """
    Resolves requirements against an index and downloads the chosen files
    through it, with at most C{concurrency} requests at once.

    @ivar client: a treq-like client (C{treq.HTTPClient}, or
        C{treq.testing.StubTreq} in tests).
    @ivar indexURL: the Simple index (credentials in it are sent, as Basic
        auth, only to its own origin).
    @ivar authorization: the Authorization sent to the index's origin when
        its URL carries no credentials (as from a netrc file).
    @ivar progress: called after each file.
    @ivar timeout: seconds to wait for each response's headers (C{None}:
        forever); needs C{reactor}.
    """

    client: Any
    indexURL: str
    target: Target = attrs.field(factory=Target.current)
    concurrency: int = 8
    progress: Callable[[Progress], None] = lambda p: None
    timeout: Optional[float] = None
    reactor: Any = None
    authorization: Optional[str] = None
    _authorization: Optional[str] = attrs.field(init=False, default=None)
    _semaphore: DeferredSemaphore = attrs.field(init=False)
    #: Each file downloaded (by URL, pinned hashes and whether it is read):
    #: what was read of it, or C{None} when it failed.
    _files: Dict[Tuple[str, Any, bool], "Deferred[Optional[_Read]]"] = attrs.field(
        init=False, factory=dict
    )
    _done: int = attrs.field(init=False, default=0)
    _total: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        url, found = splitCredentials(self.indexURL)
        self._authorization = found or self.authorization
        self.indexURL = url if url.endswith("/") else url + "/"
        self._semaphore = DeferredSemaphore(self.concurrency)

    @inlineCallbacks
    def warm(
        self,
        requirements: Iterable[Requirement],
        constraints: Iterable[Requirement] = (),
        allowPre: bool = False,
        formats: Formats = Formats(),
    ) -> Any:
        """
        Resolve C{requirements} (breadth-first, first good version, no
        backtracking) and fetch a file for each project chosen: of the
        kind pip will install under C{formats}.  Then do the same for what
        the sdists among them are built with, each set of build
        requirements on its own, as pip builds them in isolated
        environments (and again for sdists among those).

        @return: a L{Deferred} that fires with a L{Report}; it does not
            fail for what could not be warmed (that is in the report).
        """
        resolution = Resolution(self.target, tuple(constraints), allowPre, formats)
        resolution.add(requirements)
        self._files = {}  # each warm reports the files it downloaded
        fetched: List[FileOutcome] = []
        cached: List[FileOutcome] = []
        yield self._resolve(resolution, fetched, cached)
        builds: List[Resolution] = []
        seen: Set[Tuple[str, ...]] = set()
        todo = [resolution]
        while todo:
            todo = [
                self._buildResolution(requires, releases, resolution)
                for requires, releases in _newBuilds(todo, seen, resolution)
            ]
            yield gatherResults(
                [self._resolve(build, fetched, cached) for build in todo],
                consumeErrors=True,
            )
            builds.extend(todo)
        everything = [resolution, *builds]
        report = Report(
            fetched=tuple(fetched),
            cached=tuple(cached),
            failed=tuple(p for r in everything for p in r.problems),
            warnings=tuple(w for r in everything for w in r.warnings),
            resolved=_resolved([resolution]),
            resolvedForBuilds=_resolved(builds),
        )
        log.info(
            "warmed {fetched} files, {cached} already cached, {failed} failed",
            fetched=len(report.fetched),
            cached=len(report.cached),
            failed=len(report.failed),
        )
        return report

    @inlineCallbacks
    def _resolve(
        self,
        resolution: Resolution,
        fetched: List[FileOutcome],
        cached: List[FileOutcome],
    ) -> Any:
        """
        Resolve C{resolution} level by level, and download every file it
        chooses.
        """
        downloads: List[Deferred[Any]] = []
        while True:
            wants = resolution.nextLevel()
            if not wants:
                break
            yield gatherResults(
                [
                    self._resolveOne(
                        resolution, wants[name], downloads, fetched, cached
                    )
                    for name in sorted(wants)
                ],
                consumeErrors=True,
            )
        # The sdists among them, downloaded, say what they are built with.
        yield gatherResults(downloads, consumeErrors=True)

    def _buildResolution(
        self, requires: Tuple[str, ...], releases: List[Release], main: Resolution
    ) -> Resolution:
        """
        The resolution of what C{releases} (sdists) are built with: pip
        installs it as it installs the main requirements (the same
        interpreter, pre-releases and formats), but apart from them and
        their constraints.
        """
        purpose = "to build " + ", ".join(f"{r.name} {r.version}" for r in releases)
        build = Resolution(
            self.target, (), main.allowPre, main.formats, purpose=purpose
        )
        parsed: List[Requirement] = []
        for text in requires:
            try:
                requirement = Requirement.parse(text, purpose)
                # Evaluated here: a marker that cannot be (an undefined
                # comparison, as os_name ~= 'posix') is the sdist's fault,
                # and must not stop the whole warm.
                requirement.appliesTo(self.target)
            except RequirementsError as e:
                build.warnings.append(str(e))
            except Exception as e:
                build.warnings.append(f"{purpose}: not following {text!r} ({e})")
            else:
                parsed.append(requirement)
        build.add(parsed)
        return build

    @inlineCallbacks
    def _resolveOne(
        self,
        resolution: Resolution,
        want: Want,
        downloads: List["Deferred[Any]"],
        fetched: List[FileOutcome],
        cached: List[FileOutcome],
    ) -> Any:
        try:
            page = yield self._semaphore.run(self._fetchPage, want.name)
        except Exception as e:
            resolution.fail(want.name, str(want), _describe(e))
            return
        release = resolution.choose(want, page)
        if release is None:
            return
        f = release.file
        needMetadata = release.follow
        if needMetadata and f.coreMetadata:
            try:
                metadata = yield self._semaphore.run(self._fetchMetadata, f)
            except Exception as e:
                _notFollowed(resolution, release, f"metadata: {_describe(e)}")
            else:
                resolution.learnMetadata(release.name, metadata)
            needMetadata = False
        # An sdist is kept to read what it is built with.
        keep = needMetadata or not release.isWheel
        # A file chosen again (setuptools, to install and to build with) is
        # downloaded and counted once; what was read of it is learnt again.
        key = (f.url, release.hashes, keep)
        shared = self._files.get(key)
        if shared is None:
            self._total += 1
            shared = self._files[key] = self._semaphore.run(
                self._download, release, keep
            ).addCallbacks(
                lambda result: self._downloaded(
                    resolution, release, result, fetched, cached
                ),
                lambda failure: self._downloadFailed(resolution, release, failure.value),
            )
        done = _waitFor(shared).addCallback(
            lambda read: None
            if read is None
            else self._learn(resolution, release, needMetadata, read)
        )
        if needMetadata:
            yield done  # its dependencies belong to the next level
        else:
            downloads.append(done)

    def _downloaded(
        self,
        resolution: Resolution,
        release: Release,
        result: Tuple[int, bool, Optional[IO[bytes]]],
        fetched: List[FileOutcome],
        cached: List[FileOutcome],
    ) -> "_Read":
        """
        Count the downloaded file, and read what it says of the release.
        """
        size, hit, kept = result
        outcome = FileOutcome(
            release.name, release.version, release.file.filename, size, hit
        )
        (cached if hit else fetched).append(outcome)
        self._done += 1
        self.progress(
            Progress(
                self._done,
                self._total,
                release.file.filename,
                "cached" if hit else "fetched",
            )
        )
        if kept is None:
            return _Read()
        with kept:
            kept.seek(0)
            if release.isWheel:
                try:
                    return _Read(metadata=wheelMetadata(kept))
                except NoMetadata:
                    return _Read()
            return self._readSdist(resolution, release, kept)

    @staticmethod
    def _learn(
        resolution: Resolution, release: Release, needMetadata: bool, read: "_Read"
    ) -> None:
        """
        Tell C{resolution} what was read of the file of C{release}.
        """
        if read.buildRequires is not None:
            resolution.learnBuildRequires(release, read.buildRequires)
        if not needMetadata:
            return
        if read.metadata is None:
            _notFollowed(
                resolution, release, f"{release.file.filename} has no static metadata"
            )
        else:
            resolution.learnMetadata(release.name, read.metadata)

    @staticmethod
    def _readSdist(resolution: Resolution, release: Release, kept: IO[bytes]) -> "_Read":
        """
        Read what the sdist C{release}, held in C{kept}, is built with, and
        its static metadata, if it has any; why not in a warning in
        C{resolution}.
        """
        filename = release.file.filename
        try:
            members = sdistMembers(kept, filename, ["PKG-INFO", "pyproject.toml"])
            requires = buildRequires(members.get("pyproject.toml"))
        except (UnreadableSdist, NoBuildRequirements) as e:
            resolution.warnings.append(
                f"{release.name} {release.version}: what it is built with is"
                f" not warmed ({e})"
            )
            return _Read()
        return _Read(staticMetadata(members.get("PKG-INFO")), requires)

    def _downloadFailed(
        self, resolution: Resolution, release: Release, error: BaseException
    ) -> None:
        """
        Count the file that could not be downloaded, as a problem of the
        resolution that chose it first.
        """
        reason = _describe(error)
        resolution.problems.append(Problem(release.file.filename, reason))
        self._done += 1
        self.progress(
            Progress(self._done, self._total, release.file.filename, "failed", reason)
        )

    def _headers(self, url: str, accept: str) -> Dict[bytes, List[bytes]]:
        headers = {b"Accept": [accept.encode("ascii")]}
        if self._authorization and _origin(url) == _origin(self.indexURL):
            headers[b"Authorization"] = [self._authorization.encode("latin-1")]
        return headers

    def _get(self, url: str, accept: str) -> Any:
        kwargs: Dict[str, Any] = {"unbuffered": True}
        if self.timeout:
            kwargs.update(timeout=self.timeout, reactor=self.reactor)
        return self.client.get(url, headers=self._headers(url, accept), **kwargs)

    @inlineCallbacks
    def _readBody(self, response: Any, limit: int) -> Any:
        import treq

        chunks: List[bytes] = []
        size = [0]

        def collect(data: bytes) -> None:
            size[0] += len(data)
            if size[0] > limit:
                raise _TooBig(f"response larger than {limit} bytes")
            chunks.append(data)

        yield treq.collect(response, collect)
        return b"".join(chunks)

    @inlineCallbacks
    def _fetchPage(self, name: str) -> Any:
        url = f"{self.indexURL}{normalize(name)}/"
        response = yield self._get(url, PAGE_ACCEPT)
        if response.code == 404:
            yield self._readBody(response, MAX_PAGE_SIZE)
            raise HTTPProblem(f"{name} is not on the index")
        if response.code != 200:
            yield self._readBody(response, MAX_PAGE_SIZE)
            raise HTTPProblem(f"HTTP {response.code} for the page of {name}")
        body = yield self._readBody(response, MAX_PAGE_SIZE)
        finalURL = url
        request = getattr(response, "request", None)
        if request is not None and getattr(request, "absoluteURI", None):
            finalURL = request.absoluteURI.decode("utf-8")
        return parseProject(
            body, _header(response, "Content-Type") or "text/html", finalURL, name
        )

    @inlineCallbacks
    def _fetchMetadata(self, f: DistFile) -> Any:
        response = yield self._get(f.url + ".metadata", "*/*")
        if response.code != 200:
            yield self._readBody(response, MAX_METADATA_SIZE)
            raise HTTPProblem(f"HTTP {response.code}")
        body = yield self._readBody(response, MAX_METADATA_SIZE)
        expected = (
            f.coreMetadata.get("sha256")
            if isinstance(f.coreMetadata, Mapping)
            else None
        )
        if expected and hashlib.sha256(body).hexdigest() != expected:
            raise HTTPProblem("the metadata file does not match its sha256")
        return body

    @inlineCallbacks
    def _download(self, release: Release, keep: bool) -> Any:
        """
        Download the release's file, checking its digests (the page's, and
        the pinned ones).

        @return: its size, whether the server had it cached, and (when
            C{keep}) a file holding the bytes.
        """
        import treq

        f = release.file
        log.debug("fetching {url}", url=f.url)
        response = yield self._get(f.url, "*/*")
        if response.code != 200:
            yield self._readBody(response, MAX_PAGE_SIZE)
            raise HTTPProblem(f"HTTP {response.code}")
        algorithms = {"sha256"} | {a for a in f.hashes if a in PIN_ALGORITHMS}
        algorithms |= {a for a, _ in release.hashes or ()}
        hashers = {a: hashlib.new(a) for a in algorithms}
        kept: Optional[IO[bytes]] = (
            tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE) if keep else None
        )
        size = [0]

        def write(data: bytes) -> None:
            size[0] += len(data)
            for h in hashers.values():
                h.update(data)
            if kept is not None:
                kept.write(data)

        try:
            yield treq.collect(response, write)
            digests = {a: h.hexdigest() for a, h in hashers.items()}
            for algorithm, expected in f.hashes.items():
                if algorithm in digests and digests[algorithm] != expected:
                    raise HTTPProblem(f"{algorithm} does not match the index's")
            if release.hashes is not None and not any(
                digests.get(a) == d for a, d in release.hashes
            ):
                raise HTTPProblem("matches none of the required hashes")
        except BaseException:
            if kept is not None:
                kept.close()
            raise
        hit = (_header(response, CACHE_HEADER) or "").strip().lower() == "hit"
        return size[0], hit, kept


def _describe(error: BaseException) -> str:
    if isinstance(error, (HTTPProblem, ParseError, NoMatch)):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
