"""
Tests for L{cheesecache.warm}: requirements and lock files, version and file
choice for a target environment, dependency following, and warming a real
cheesecache (in the test reactor, and as C{twistd} with the real pip).
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import sys
import tarfile
import zipfile
from typing import Any, Dict, List, Optional

import treq
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from treq.testing import StubTreq

from cheesecache.metadata import NoMetadata, wheelMetadata
from cheesecache.simple.model import DistFile, ProjectPage
from cheesecache.upstream import splitCredentials
from cheesecache.warm.choice import NoMatch, Want, chooseRelease, mergeWants
from cheesecache.warm.command import _parser, _ProgressDisplay, warmCommand
from cheesecache.warm.dependencies import (
    DEFAULT_BUILD_REQUIRES,
    NoBuildRequirements,
    UnreadableSdist,
    buildRequires,
    dependencies,
    requiresDist,
    sdistMembers,
    staticMetadata,
)
from cheesecache.warm.report import Progress
from cheesecache.warm.requirements import (
    ALL_RELEASES,
    NO_BINARY,
    ONLY_BINARY,
    ONLY_FINAL,
    Formats,
    Requirement,
    RequirementsError,
    parsePylock,
    parseRequirements,
    readRequirements,
)
from cheesecache.warm.resolution import Resolution
from cheesecache.warm.target import Target, expandPlatform
from cheesecache.warm.warmer import Warmer

from .fakeindex import Dist, FakeIndex
from .harness import Harness, serveIndex
from .test_e2e import BIN, CLIENT_ENV, TwistdProcess, run
from .wheels import makeBackendWheel, makeSdist, makeWheel, metadataText

LINUX38 = Target.fromOptions("3.8", ["manylinux_2_17_x86_64"])
WIN312 = Target.fromOptions("3.12", ["win_amd64"])


def reader(files: Dict[str, str]):  # type: ignore[no-untyped-def]
    def read(path: str) -> str:
        try:
            return files[os.path.normpath(path)]
        except KeyError:
            raise FileNotFoundError(path)

    return read


def dist(
    filename: str, yanked: Any = False, requiresPython: Any = None, sha: str = ""
) -> DistFile:
    return DistFile(
        filename=filename,
        url=f"http://127.0.0.1/files/{filename}",
        hashes={"sha256": sha or hashlib.sha256(filename.encode()).hexdigest()},
        yanked=yanked,
        requiresPython=requiresPython,
    )


def page(name: str, *filenames: str, **kwargs: Any) -> ProjectPage:
    return ProjectPage(name=name, files=[dist(f, **kwargs) for f in filenames])


def want(spec: str, **kwargs: Any) -> Want:
    return mergeWants([Requirement.parse(spec)], [], LINUX38, **kwargs)[
        Requirement.parse(spec).name
    ]


def sdistPKGInfo(data: bytes, filename: str) -> Optional[bytes]:
    """
    The C{PKG-INFO} of the sdist C{data}, as the warm reads it.
    """
    return sdistMembers(io.BytesIO(data), filename, ["PKG-INFO"]).get("PKG-INFO")


class RequirementsFileTests(SynchronousTestCase):
    """
    L{parseRequirements} reads pip requirements files.
    """

    def test_linesCommentsContinuationsMarkers(self) -> None:
        """
        Requirement lines are read with their specifiers, extras and markers;
        comments, blank lines and backslash continuations are handled.
        """
        text = (
            "# a comment\n"
            "\n"
            "Requests[Socks] >=2.0, \\\n"
            "   <3  # trailing comment\n"
            'tomli; python_version < "3.11"\n'
        )
        parsed = parseRequirements(text, "req.txt", reader({}))
        first, second = parsed.requirements
        self.assertEqual(first.name, "requests")
        self.assertEqual(first.specifier, SpecifierSet(">=2.0,<3"))
        self.assertEqual(first.extras, frozenset({"socks"}))
        self.assertEqual(first.origin, "req.txt:3")
        self.assertEqual(second.name, "tomli")
        self.assertFalse(second.appliesTo(Target.fromOptions("3.12")))
        self.assertTrue(second.appliesTo(LINUX38))

    def test_continuationJoinsAsIs(self) -> None:
        """
        A continued line is joined to the next as it is, without a space
        (as pip joins them), so a backslash may split a version or a hash.
        """
        a = "a" * 64
        parsed = parseRequirements(
            f"alpha>=1.\\\n0,<2 --hash=sha256:{a[:32]}\\\n{a[32:]}\n",
            "r.txt",
            reader({}),
        )
        (alpha,) = parsed.requirements
        self.assertEqual(alpha.specifier, SpecifierSet(">=1.0,<2"))
        self.assertEqual(alpha.hashes, frozenset({("sha256", a)}))

    def test_commentEndsAContinuation(self) -> None:
        """
        A comment line ends a continued line, as with pip, even when the
        backslash comes right after the requirement.
        """
        parsed = parseRequirements(
            "alpha==1.0\\\n# a comment\nbeta\\\n    # another \\\ngamma\n",
            "r.txt",
            reader({}),
        )
        self.assertEqual(
            [str(r) for r in parsed.requirements], ["alpha==1.0", "beta", "gamma"]
        )

    def test_includesRelativeToTheFile(self) -> None:
        """
        C{-r} and C{-c} include files relative to the including file; C{-c}
        lines become constraints, and C{--pre} is remembered.
        """
        files = {
            "deps/base.txt": "-r more.txt\n--constraint=pins.txt\nalpha\n",
            "deps/more.txt": "--pre\nbeta>=1\n",
            "deps/pins.txt": "alpha==1.0\n",
        }
        parsed = parseRequirements(
            files["deps/base.txt"], "deps/base.txt", reader(files)
        )
        self.assertEqual(sorted(r.name for r in parsed.requirements), ["alpha", "beta"])
        self.assertEqual([str(c) for c in parsed.constraints], ["alpha==1.0"])
        self.assertEqual(parsed.constraints[0].origin, "deps/pins.txt:1")
        self.assertTrue(parsed.allowPre)

    def test_includeLoop(self) -> None:
        """
        A file that includes itself (through another) is an error, not a
        loop.
        """
        files = {"a.txt": "-r b.txt\n", "b.txt": "-r a.txt\n"}
        with self.assertRaises(RequirementsError):
            parseRequirements(files["a.txt"], "a.txt", reader(files))

    def test_includeLoopThroughOtherSpellings(self) -> None:
        """
        An include loop is found however the paths are spelled (C{./a.txt},
        C{../dir/a.txt}): it is an error, not an endless recursion.
        """
        files = {"dir/a.txt": "-r ./b.txt\n", "dir/b.txt": "-r ../dir/a.txt\n"}
        with self.assertRaises(RequirementsError):
            parseRequirements(files["dir/a.txt"], "dir/a.txt", reader(files))
        with self.assertRaises(RequirementsError):
            parseRequirements("-r ./a.txt\n", "a.txt", reader({"a.txt": "-r ./a.txt\n"}))

    def test_encodings(self) -> None:
        """
        A file (or an include) starting with a byte order mark, UTF-8 or
        UTF-16 as Windows PowerShell writes, with CRLF line ends, is read as
        pip reads it; bytes that are not text are an error that says so,
        not a traceback.
        """
        directory = FilePath(self.mktemp())
        directory.makedirs()
        directory.child("more.txt").setContent("\ufeffgamma\r\n".encode("utf-8"))
        for data in [
            "\ufeffalpha==1.0\r\nbeta\r\n-r more.txt\r\n".encode("utf-8"),
            "alpha==1.0\r\nbeta\r\n-r more.txt\r\n".encode("utf-16"),
        ]:
            directory.child("r.txt").setContent(data)
            parsed = readRequirements(directory.child("r.txt").path)
            self.assertEqual(
                [str(r) for r in parsed.requirements], ["alpha==1.0", "beta", "gamma"]
            )
        directory.child("r.txt").setContent(b"alpha\xff\n")
        with self.assertRaises(RequirementsError):
            readRequirements(directory.child("r.txt").path)

    def test_environmentVariables(self) -> None:
        """
        C{${VAR}} is replaced by the variable's value, in requirements and
        options, in included files too, as pip does; an unset one is left
        as it is, as is C{$VAR}.  Only L{readRequirements} reads the
        process's environment.
        """
        files = {"sub/more.txt": "beta==${BETA_VERSION}\n"}
        environ = {"BETA_VERSION": "2.0", "DIR": "sub", "ALPHA": "alpha"}
        parsed = parseRequirements(
            "${ALPHA}>=1\n-r ${DIR}/more.txt\n", "r.txt", reader(files), environ=environ
        )
        self.assertEqual(
            [str(r) for r in parsed.requirements], ["alpha>=1", "beta==2.0"]
        )
        with self.assertRaises(RequirementsError):
            parseRequirements("${ALPHA}>=1\n", "r.txt", reader({}))
        path = self.mktemp()
        FilePath(path).setContent(b"gamma==${CHEESECACHE_TEST_VERSION}\n")
        self.patch(os, "environ", {**os.environ, "CHEESECACHE_TEST_VERSION": "3.0"})
        self.assertEqual(
            [str(r) for r in readRequirements(path).requirements], ["gamma==3.0"]
        )

    def test_hashes(self) -> None:
        """
        C{--hash} options (on continuation lines too) become the set of
        digests the chosen file must match; a malformed one is an error.
        """
        a, b = "a" * 64, "b" * 64
        parsed = parseRequirements(
            f"alpha==1.0 \\\n    --hash=sha256:{a} \\\n    --hash sha256:{b}\n",
            "r.txt",
            reader({}),
        )
        self.assertEqual(
            parsed.requirements[0].hashes, frozenset({("sha256", a), ("sha256", b)})
        )
        with self.assertRaises(RequirementsError):
            parseRequirements("alpha --hash=sha256:xyz\n", "r.txt", reader({}))

    def test_optionsSplitAsPipSplitsThem(self) -> None:
        """
        Options are split as a shell would (pip's C{shlex}), so a quoted
        value may hold spaces, and C{-C} is C{--config-settings}.
        """
        a = "a" * 64
        parsed = parseRequirements(
            '-r "my reqs.txt"\n'
            "alpha -C key=value\n"
            f'beta --config-settings="--build-option=--a b" --hash=sha256:{a}\n'
            "--extra-index-url 'http://127.0.0.1/other index/'\n",
            "req.txt",
            reader({"my reqs.txt": "gamma\n"}),
        )
        self.assertEqual(
            [r.name for r in parsed.requirements], ["alpha", "beta", "gamma"]
        )
        self.assertEqual(parsed.requirements[1].hashes, frozenset({("sha256", a)}))
        self.assertEqual(len(parsed.warnings), 3)
        with self.assertRaises(RequirementsError):
            parseRequirements('alpha --config-settings="a\n', "r.txt", reader({}))

    def test_formatOptions(self) -> None:
        """
        C{--no-binary}, C{--only-binary} and C{--prefer-binary} are read (not
        ignored with a warning), an included file's options where it is
        included, so that a later line outweighs them, as pip reads them.
        """
        files = {
            "inc.txt": "--only-binary alpha\nbeta\n",
        }
        parsed = parseRequirements(
            "--no-binary=:all:\n-r inc.txt\n--prefer-binary\nalpha\n"
            "--no-binary gamma\n",
            "req.txt",
            reader(files),
        )
        self.assertEqual(parsed.warnings, ())
        self.assertEqual(
            parsed.formatOptions,
            ((NO_BINARY, ":all:"), (ONLY_BINARY, "alpha"), (NO_BINARY, "gamma")),
        )
        formats = parsed.formats
        self.assertTrue(formats.preferBinary)
        self.assertEqual(formats.allows("alpha"), (True, False))
        # pip 26.3's --all-releases and --only-final, read the same way.
        parsed = parseRequirements(
            "--only-final :all:\n--all-releases=Alpha_One,beta\nalpha-one\n",
            "req.txt", reader({}),
        )
        self.assertEqual(parsed.warnings, ())
        self.assertEqual(
            parsed.formatOptions,
            ((ONLY_FINAL, ":all:"), (ALL_RELEASES, "Alpha_One,beta")),
        )
        self.assertTrue(parsed.formats.prereleases("alpha-one"))
        self.assertFalse(parsed.formats.prereleases("gamma"))
        self.assertIsNone(Formats().prereleases("gamma"))
        self.assertEqual(formats.allows("beta"), (False, True))
        later = parseRequirements(
            "-r inc.txt\n--no-binary :all:\n", "req.txt", reader(files)
        )
        self.assertEqual(later.formats.allows("alpha"), (False, True))
        with self.assertRaises(RequirementsError):
            parseRequirements("--only-binary\n", "req.txt", reader({}))

    def test_notFromTheIndex(self) -> None:
        """
        Editable installs, paths, URLs and index options are skipped with a
        warning; an unknown option or a bad requirement is an error.
        """
        parsed = parseRequirements(
            "-e .\n./local/pkg\nfoo @ http://127.0.0.1/foo.whl\n"
            "--index-url http://127.0.0.1/simple/\nalpha\n",
            "r.txt",
            reader({}),
        )
        self.assertEqual([r.name for r in parsed.requirements], ["alpha"])
        self.assertEqual(len(parsed.warnings), 4)
        with self.assertRaises(RequirementsError):
            parseRequirements("--frobnicate\n", "r.txt", reader({}))
        with self.assertRaises(RequirementsError):
            parseRequirements("alpha >>= 1\n", "r.txt", reader({}))


class PylockTests(SynchronousTestCase):
    """
    L{parsePylock} reads PEP 751 lock files as pinned, hashed requirements.
    """

    def test_packages(self) -> None:
        """
        Each package becomes C{name==version} with the hashes of its listed
        files and its marker; its dependencies will not be followed;
        packages not from an index are skipped with a warning.
        """
        a, b = "a" * 64, "b" * 64
        text = f"""
lock-version = "1.0"
created-by = "test"

[[packages]]
name = "Alpha"
version = "1.0"
marker = 'sys_platform == "win32"'
wheels = [{{ name = "alpha-1.0-py3-none-any.whl", url = "http://127.0.0.1/a.whl", hashes = {{ sha256 = "{a}" }} }}]
sdist = {{ name = "alpha-1.0.tar.gz", url = "http://127.0.0.1/a.tgz", hashes = {{ sha256 = "{b}" }} }}

[[packages]]
name = "local"
directory = {{ path = "." }}
"""
        parsed = parsePylock(text)
        (alpha,) = parsed.requirements
        self.assertEqual(str(alpha), "alpha==1.0")
        self.assertEqual(alpha.hashes, frozenset({("sha256", a), ("sha256", b)}))
        self.assertTrue(alpha.locked)
        self.assertTrue(alpha.appliesTo(WIN312))
        self.assertFalse(alpha.appliesTo(LINUX38))
        self.assertEqual(len(parsed.warnings), 1)
        self.assertFalse(mergeWants([alpha], [], WIN312)["alpha"].follow)

    def test_defaultGroups(self) -> None:
        """
        Markers are evaluated with the lock's C{default-groups} as the
        dependency groups (none when it has none), and no extras.
        """
        packages = """
[[packages]]
name = "main"
version = "1.0"
marker = "'prod' in dependency_groups"

[[packages]]
name = "dev"
version = "1.0"
marker = "'dev' in dependency_groups or 'test' in extras"
"""
        parsed = parsePylock(
            'lock-version = "1.0"\ndefault-groups = ["prod"]\n' + packages
        )
        applying = [r.name for r in parsed.requirements if r.appliesTo(LINUX38)]
        self.assertEqual(applying, ["main"])
        parsed = parsePylock('lock-version = "1.0"\n' + packages)
        self.assertEqual([r for r in parsed.requirements if r.appliesTo(LINUX38)], [])
        with self.assertRaises(RequirementsError):
            parsePylock('lock-version = "1.0"\ndefault-groups = "prod"\n')

    def test_badVersion(self) -> None:
        """
        A lock file of another major version is refused.
        """
        with self.assertRaises(RequirementsError):
            parsePylock('lock-version = "2.0"\n')


class TargetTests(SynchronousTestCase):
    """
    L{Target} describes the environment files are chosen for.
    """

    def test_otherPythonAndPlatform(self) -> None:
        """
        C{--python-version} and C{--platform} give the tags and the marker
        variables of that machine, older manylinux versions included.
        """
        self.assertEqual(LINUX38.environment["python_version"], "3.8")
        self.assertEqual(LINUX38.environment["sys_platform"], "linux")
        self.assertEqual(WIN312.environment["sys_platform"], "win32")
        self.assertIsNotNone(
            LINUX38.rank([Tag("cp38", "cp38", "manylinux2014_x86_64")])
        )
        self.assertIsNotNone(
            LINUX38.rank([Tag("cp38", "abi3", "manylinux_2_5_x86_64")])
        )
        self.assertIsNone(
            LINUX38.rank([Tag("cp311", "cp311", "manylinux_2_17_x86_64")])
        )
        self.assertIsNone(LINUX38.rank([Tag("cp38", "cp38", "win_amd64")]))
        self.assertIn("manylinux1_x86_64", expandPlatform("manylinux2014_x86_64"))
        self.assertTrue(LINUX38.allowsPython(">=3.8"))
        self.assertFalse(LINUX38.allowsPython(">=3.9"))

    def test_boundedVersions(self) -> None:
        """
        A Python version or platform no machine has (3.1000, glibc 2.1000,
        a patch level too long to read) and too many platforms are refused:
        the tags to rank grow with them, and the server, warming for
        C{/-/warm}, stalled while it listed them.
        """
        for version, platforms in [
            ("3.1000", []),
            ("3100", []),
            ("300.1", []),
            ("3.11." + "9" * 5000, []),
            (None, ["manylinux_2_1000_x86_64"]),
            (None, ["manylinux_1000_5_x86_64"]),
            (None, ["musllinux_1_1000_x86_64"]),
            (None, ["macosx_1000_0_arm64"]),
            (None, ["macosx_10_1000_x86_64"]),
            (None, [f"manylinux_2_17_a{i}" for i in range(100)]),
        ]:
            with self.assertRaises(RequirementsError):
                Target.fromOptions(version, platforms)
        self.assertEqual(Target.fromOptions("3.99").pythonVersion, "3.99.0")
        self.assertEqual(Target.fromOptions("313").pythonVersion, "3.13.0")
        self.assertIn("manylinux_2_0_x86_64", expandPlatform("manylinux_2_99_x86_64"))

    def test_current(self) -> None:
        """
        Without options the target is this interpreter.
        """
        target = Target.fromOptions()
        self.assertEqual(
            target.environment["python_version"], "%d.%d" % sys.version_info[:2]
        )
        self.assertIsNotNone(target.rank([Tag("py3", "none", "any")]))


    def test_prereleaseInterpreter(self) -> None:
        """
        On a prerelease of Python (3.13.0rc1), Requires-Python is compared
        with its release number (3.13.0), as pip does, so C{>=3.13} admits
        it, with or without C{--platform}.
        """
        release = "%d.%d.%d" % sys.version_info[:3]
        self.patch(platform, "python_version", lambda: release + "rc1")
        for target in [
            Target.fromOptions(),
            Target.fromOptions(None, ["manylinux_2_17_x86_64"]),
        ]:
            self.assertEqual(target.pythonVersion, release)
            self.assertTrue(target.allowsPython(f">={release}"))


class ChooseTests(SynchronousTestCase):
    """
    L{chooseRelease} picks a version and a file.
    """

    def test_newestMatching(self) -> None:
        """
        The newest version matching the specifier is chosen.
        """
        p = page("alpha", "alpha-1.0.tar.gz", "alpha-2.0.tar.gz", "alpha-3.0.tar.gz")
        self.assertEqual(chooseRelease(p, want("alpha<3"), LINUX38).version, "2.0")
        self.assertEqual(chooseRelease(p, want("alpha"), LINUX38).version, "3.0")
        with self.assertRaises(NoMatch):
            chooseRelease(p, want("alpha>5"), LINUX38)

    def test_yanked(self) -> None:
        """
        A yanked version is skipped unless it is pinned with C{==}.
        """
        p = ProjectPage(
            "alpha", [dist("alpha-1.0.tar.gz"), dist("alpha-2.0.tar.gz", yanked="bad")]
        )
        self.assertEqual(chooseRelease(p, want("alpha"), LINUX38).version, "1.0")
        with self.assertRaises(NoMatch):
            chooseRelease(p, want("alpha>=1.5"), LINUX38)
        self.assertEqual(chooseRelease(p, want("alpha==2.0"), LINUX38).version, "2.0")

    def test_yankedOnlyWhenAllAre(self) -> None:
        """
        Even pinned, a yanked file is chosen only when every file that suits
        is yanked (as pip does): a file of the pinned version that is not
        yanked wins over a better-ranked yanked one.
        """
        p = ProjectPage(
            "alpha",
            [
                dist("alpha-1.0-py38-none-any.whl", yanked="bad"),
                dist("alpha-1.0-py3-none-any.whl"),
            ],
        )
        self.assertEqual(
            chooseRelease(p, want("alpha==1.0"), LINUX38).file.filename,
            "alpha-1.0-py3-none-any.whl",
        )
        allYanked = page("alpha", "alpha-1.0-py38-none-any.whl", yanked="bad")
        self.assertEqual(
            chooseRelease(allYanked, want("alpha==1.0"), LINUX38).version, "1.0"
        )

    def test_prereleases(self) -> None:
        """
        Prereleases are chosen only with C{--pre}, when the specifier names
        one, or when no final version matches.
        """
        p = page("alpha", "alpha-1.0.tar.gz", "alpha-2.0b1.tar.gz")
        self.assertEqual(chooseRelease(p, want("alpha"), LINUX38).version, "1.0")
        self.assertEqual(
            chooseRelease(p, want("alpha", allowPre=True), LINUX38).version, "2.0b1"
        )
        self.assertEqual(
            chooseRelease(p, want("alpha>=2.0b1"), LINUX38).version, "2.0b1"
        )
        self.assertEqual(
            chooseRelease(p, want("alpha==2.0b1"), LINUX38).version, "2.0b1"
        )
        self.assertEqual(chooseRelease(p, want("alpha>1"), LINUX38).version, "2.0b1")

    def test_releaseOptions(self) -> None:
        """
        C{--all-releases} makes a project's prereleases candidates, as
        C{--pre} makes every project's; C{--only-final} keeps them out
        always, even when the specifier names one or only prereleases
        suit.  A project named outweighs C{:all:} in the other option.
        """
        p = page("alpha", "alpha-1.0.tar.gz", "alpha-2.0b1.tar.gz")

        def chosen(spec: str, *options: tuple) -> str:
            return chooseRelease(p, want(spec), LINUX38, Formats.read(options)).version

        self.assertEqual(chosen("alpha", (ALL_RELEASES, "alpha")), "2.0b1")
        self.assertEqual(chosen("alpha", (ALL_RELEASES, "beta")), "1.0")
        self.assertEqual(chosen("alpha>=2.0b1", (ALL_RELEASES, ":all:")), "2.0b1")
        self.assertEqual(chosen("alpha", (ALL_RELEASES, ":all:"), (ONLY_FINAL, "alpha")), "1.0")
        self.assertEqual(chosen("alpha", (ONLY_FINAL, ":all:"), (ALL_RELEASES, "alpha")), "2.0b1")
        self.assertEqual(chosen("alpha>=1.0", (ONLY_FINAL, "alpha")), "1.0")
        for spec in ("alpha>=2.0b1", "alpha==2.0b1"):
            with self.assertRaises(NoMatch, msg=spec):
                chosen(spec, (ONLY_FINAL, ":all:"))
        self.assertEqual(
            chooseRelease(
                p, want("alpha", allowPre=True), LINUX38,
                Formats.read([(ONLY_FINAL, "alpha")]),
            ).version,
            "1.0",
        )
        self.assertEqual(
            Formats.read([(ONLY_FINAL, ":all:"), (ALL_RELEASES, "alpha")]).describe(),
            "--all-releases=alpha --only-final=:all:",
        )

    def test_onlyFinalSaysSo(self) -> None:
        """
        When only pre-releases suit and C{--only-final} rules them out, the
        message says so, not that the files are yanked or for other
        platforms.
        """
        p = page("alpha", "alpha-1.0.tar.gz", "alpha-2.0b1.tar.gz", "alpha-2.0b2.tar.gz")
        with self.assertRaises(NoMatch) as caught:
            chooseRelease(
                p, want("alpha>=2.0b1"), LINUX38, Formats.read([(ONLY_FINAL, "alpha")])
            )
        self.assertEqual(
            str(caught.exception),
            "no final version of alpha>=2.0b1 suits Python 3.8.0 on "
            "manylinux_2_17_x86_64 (pre-releases 2.0b1, 2.0b2: --only-final "
            "rules them out)",
        )

    def test_prereleaseWhenNoFinalSuits(self) -> None:
        """
        A final version with no file for the target (another Python or
        platform) does not keep a prerelease that suits from being chosen,
        as pip does; a final that suits but is yanked does.
        """
        p = ProjectPage(
            "alpha",
            [
                dist("alpha-1.0-py3-none-any.whl", requiresPython=">=3.10"),
                dist("alpha-1.1-cp311-cp311-win_amd64.whl"),
                dist("alpha-2.0b1-py3-none-any.whl"),
            ],
        )
        self.assertEqual(chooseRelease(p, want("alpha"), LINUX38).version, "2.0b1")
        yanked = ProjectPage(
            "alpha",
            [dist("alpha-1.0.tar.gz", yanked=True), dist("alpha-2.0b1.tar.gz")],
        )
        with self.assertRaises(NoMatch):
            chooseRelease(yanked, want("alpha"), LINUX38)

    def test_wheelForTheTarget(self) -> None:
        """
        The wheel best for the target is chosen (C{--python-version},
        C{--platform}); without one, the sdist; files whose Requires-Python
        excludes the target are skipped.
        """
        p = page(
            "alpha",
            "alpha-1.0.tar.gz",
            "alpha-1.0-cp38-cp38-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "alpha-1.0-cp38-abi3-manylinux_2_5_x86_64.whl",
            "alpha-1.0-cp312-cp312-win32.whl",
        )
        self.assertEqual(
            chooseRelease(p, want("alpha"), LINUX38).file.filename,
            "alpha-1.0-cp38-cp38-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        self.assertEqual(
            chooseRelease(p, want("alpha"), WIN312).file.filename, "alpha-1.0.tar.gz"
        )
        other = ProjectPage(
            "alpha",
            [
                dist("alpha-2.0-py3-none-any.whl", requiresPython=">=3.10"),
                dist("alpha-1.0-py3-none-any.whl", requiresPython=">=3.7"),
            ],
        )
        self.assertEqual(chooseRelease(other, want("alpha"), LINUX38).version, "1.0")
        self.assertEqual(chooseRelease(other, want("alpha"), WIN312).version, "2.0")

    def test_otherSdistArchives(self) -> None:
        """
        An sdist in any archive pip installs from (C{.tar.bz2}, C{.tgz},
        C{.tar.xz}, C{.tar}...) is a candidate, not only C{.tar.gz} and
        C{.zip}; eggs and installers are not.
        """
        for extension in (".tar.bz2", ".tgz", ".tar.xz", ".tar"):
            p = page("alpha", "alpha-0.9.tar.gz", f"Alpha-1.0{extension}")
            self.assertEqual(
                chooseRelease(p, want("alpha"), LINUX38).file.filename,
                f"Alpha-1.0{extension}",
            )
        with self.assertRaises(NoMatch):
            chooseRelease(
                page("alpha", "alpha-1.0-py3.8.egg", "alpha-1.0.win32.exe"),
                want("alpha"),
                LINUX38,
            )

    def test_buildTag(self) -> None:
        """
        Of wheels whose tags rank the same, the one with the highest build
        number is chosen (as pip does), whatever the page's order.
        """
        p = page(
            "alpha",
            "alpha-1.0-2-py3-none-any.whl",
            "alpha-1.0-10-py3-none-any.whl",
            "alpha-1.0-py3-none-any.whl",
        )
        self.assertEqual(
            chooseRelease(p, want("alpha"), LINUX38).file.filename,
            "alpha-1.0-10-py3-none-any.whl",
        )

    def test_tieGoesToTheLastListed(self) -> None:
        """
        Of files that rank the same (two sdists of a version, wheels whose
        best tags and builds are the same), the last the page lists is
        chosen: pip tries its sorted candidates from the end.
        """
        for files in [
            ("alpha-1.0.zip", "alpha-1.0.tar.gz"),
            ("alpha-1.0.tar.gz", "alpha-1.0.zip"),
            ("alpha-1.0-py3-none-any.whl", "alpha-1.0-py2.py3-none-any.whl"),
            ("alpha-1.0-1-py2.py3-none-any.whl", "alpha-1.0-1-py3-none-any.whl"),
        ]:
            self.assertEqual(
                chooseRelease(page("alpha", *files), want("alpha"), LINUX38).file.filename,
                files[-1],
            )

    def test_hashes(self) -> None:
        """
        With pinned hashes only a file matching one of them is chosen.
        """
        sdist, wheel = "c" * 64, "d" * 64
        p = ProjectPage(
            "alpha",
            [
                dist("alpha-1.0.tar.gz", sha=sdist),
                dist("alpha-1.0-py3-none-any.whl", sha=wheel),
            ],
        )
        pinned = Requirement.parse("alpha==1.0", hashes=frozenset({("sha256", sdist)}))
        chosen = chooseRelease(p, mergeWants([pinned], [], LINUX38)["alpha"], LINUX38)
        self.assertEqual(chosen.file.filename, "alpha-1.0.tar.gz")
        wrong = Requirement.parse(
            "alpha==1.0", hashes=frozenset({("sha256", "e" * 64)})
        )
        with self.assertRaises(NoMatch):
            chooseRelease(p, mergeWants([wrong], [], LINUX38)["alpha"], LINUX38)

    def test_constraints(self) -> None:
        """
        Constraints that apply narrow the specifier; others are ignored.
        """
        wants = mergeWants(
            [Requirement.parse("alpha>=1"), Requirement.parse("alpha[x]")],
            [
                Requirement.parse("alpha<2"),
                Requirement.parse('alpha<1.5; sys_platform == "win32"'),
                Requirement.parse("beta==1"),
            ],
            LINUX38,
        )
        self.assertEqual(list(wants), ["alpha"])
        self.assertEqual(wants["alpha"].specifier, SpecifierSet(">=1,<2"))
        self.assertEqual(wants["alpha"].extras, frozenset({"x"}))


    def test_formats(self) -> None:
        """
        C{--no-binary} and C{--only-binary} rule out a kind of file for the
        projects they name (a name outweighing C{:all:}); C{--prefer-binary}
        takes the newest version with a wheel over newer sdists.
        """
        p = page(
            "alpha",
            "alpha-1.0.tar.gz",
            "alpha-1.0-py3-none-any.whl",
            "alpha-2.0.tar.gz",
        )

        def chosen(*options: tuple, preferBinary: bool = False) -> str:
            formats = Formats.read(options, preferBinary)
            return chooseRelease(p, want("alpha"), LINUX38, formats).file.filename

        self.assertEqual(chosen(), "alpha-2.0.tar.gz")
        self.assertEqual(chosen(preferBinary=True), "alpha-1.0-py3-none-any.whl")
        self.assertEqual(chosen((ONLY_BINARY, "alpha")), "alpha-1.0-py3-none-any.whl")
        self.assertEqual(chosen((ONLY_BINARY, ":all:")), "alpha-1.0-py3-none-any.whl")
        self.assertEqual(
            chosen((ONLY_BINARY, ":all:"), (NO_BINARY, "Alpha")), "alpha-2.0.tar.gz"
        )
        self.assertEqual(
            chosen((NO_BINARY, ":all:"), preferBinary=True), "alpha-2.0.tar.gz"
        )
        self.assertEqual(
            chosen((ONLY_BINARY, "beta,alpha"), (ONLY_BINARY, ":none:")),
            "alpha-2.0.tar.gz",
        )
        sdistOnly = page("beta", "beta-1.0.tar.gz")
        with self.assertRaises(NoMatch) as raised:
            chooseRelease(
                sdistOnly, want("beta"), LINUX38, Formats.read([(ONLY_BINARY, ":all:")])
            )
        self.assertIn("--only-binary=:all: rules out", str(raised.exception))

    def test_formatsReadAsPipReadsThem(self) -> None:
        """
        C{:all:} empties both lists, and what follows it in the same value
        counts only after a C{:none:}; a name moves from one list to the
        other.
        """
        read = Formats.read
        self.assertEqual(
            read([(ONLY_BINARY, "alpha"), (NO_BINARY, ":all:")]),
            Formats(noBinary=frozenset({":all:"})),
        )
        self.assertEqual(
            read([(NO_BINARY, ":all:,alpha")]), Formats(noBinary=frozenset({":all:"}))
        )
        self.assertEqual(
            read([(NO_BINARY, ":all:,:none:,Alpha_B")]),
            Formats(noBinary=frozenset({"alpha-b"})),
        )
        self.assertEqual(
            read([(NO_BINARY, "alpha"), (ONLY_BINARY, "alpha")]),
            Formats(onlyBinary=frozenset({"alpha"})),
        )


class DependencyTests(SynchronousTestCase):
    """
    Dependencies from core metadata, with extras and markers.
    """

    METADATA = metadataText(
        "alpha",
        "1.0",
        [
            "beta>=2",
            'gamma; extra == "fast"',
            'winonly; sys_platform == "win32"',
            'old; python_version < "3.9"',
            "direct @ http://127.0.0.1/direct.whl",
        ],
    )

    def test_markersAndExtras(self) -> None:
        """
        A dependency is followed when its marker is true for the target,
        with no extra or one of those asked for.
        """
        requires, warnings = requiresDist(self.METADATA)
        self.assertEqual(warnings, [])
        plain, warnings = dependencies(requires, frozenset(), LINUX38, "alpha 1.0")
        self.assertEqual([r.name for r in plain], ["beta", "old"])
        self.assertEqual(len(warnings), 1)
        fast, _ = dependencies(requires, frozenset({"fast"}), WIN312, "alpha 1.0")
        self.assertEqual([r.name for r in fast], ["beta", "gamma", "winonly"])

    def test_resolutionBreadthFirst(self) -> None:
        """
        L{Resolution} goes level by level: dependencies come in the next
        level, extras asked later add theirs, and a later requirement the
        first choice does not satisfy is a problem (no backtracking).
        """
        resolution = Resolution(LINUX38, (Requirement.parse("beta<3"),))
        resolution.add(
            [
                Requirement.parse("alpha"),
                Requirement.parse('skip; sys_platform == "win32"'),
            ]
        )
        level = resolution.nextLevel()
        self.assertEqual(list(level), ["alpha"])
        resolution.choose(level["alpha"], page("alpha", "alpha-1.0-py3-none-any.whl"))
        resolution.learnMetadata(
            "alpha", metadataText("alpha", "1.0", ["beta>=2", "delta[fast]"])
        )
        level = resolution.nextLevel()
        self.assertEqual(sorted(level), ["beta", "delta"])
        self.assertEqual(level["beta"].specifier, SpecifierSet(">=2,<3"))
        resolution.choose(
            level["beta"],
            page("beta", "beta-2.0.tar.gz", "beta-2.5.tar.gz", "beta-3.0.tar.gz"),
        )
        resolution.choose(level["delta"], page("delta", "delta-1.0.tar.gz"))
        resolution.learnMetadata("beta", metadataText("beta", "2.5", []))
        resolution.learnMetadata(
            "delta",
            metadataText("delta", "1.0", ['epsilon; extra == "fast"', "beta<2"]),
        )
        level = resolution.nextLevel()
        self.assertEqual(list(level), ["epsilon"])
        self.assertEqual(len(resolution.problems), 1)
        self.assertIn("beta 2.5 was chosen first", resolution.problems[0].reason)
        self.assertEqual(resolution.chosen["beta"].version, "2.5")

    def test_metadataFromFiles(self) -> None:
        """
        A wheel's METADATA is read from the wheel; an sdist's PKG-INFO only
        when it is static (metadata 2.2 or later, Requires-Dist not dynamic).
        """
        _, wheel = makeWheel("alpha", "1.0", ["beta"])
        self.assertIn(b"Requires-Dist: beta", wheelMetadata(io.BytesIO(wheel)))
        name, sdist = makeSdist("alpha", "1.0")  # metadata 2.1
        self.assertIsNone(staticMetadata(sdistPKGInfo(sdist, name)))
        self.assertRaises(NoMetadata, wheelMetadata, io.BytesIO(b"not a zip"))

    def test_sdistMembersUnderDot(self) -> None:
        """
        An sdist whose tar members are named C{./alpha-1.0/...} (as
        C{tar -C dir .} writes them) has its PKG-INFO found all the same.
        """
        info = b"Metadata-Version: 2.2\nName: alpha\nVersion: 1.0\nRequires-Dist: beta\n"
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as t:
            for name in ("./", "./alpha-1.0/"):
                directory = tarfile.TarInfo(name)
                directory.type = tarfile.DIRTYPE
                t.addfile(directory)
            member = tarfile.TarInfo("./alpha-1.0/PKG-INFO")
            member.size = len(info)
            t.addfile(member, io.BytesIO(info))
        self.assertEqual(
            staticMetadata(sdistPKGInfo(out.getvalue(), "alpha-1.0.tar.gz")), info
        )


class BuildRequiresTests(SynchronousTestCase):
    """
    What an sdist is built with, read as pip reads it.
    """

    def test_buildRequires(self) -> None:
        """
        C{build-system.requires} of the sdist's C{pyproject.toml}; without
        the file or its table, pip's setuptools default.
        """
        self.assertEqual(buildRequires(None), DEFAULT_BUILD_REQUIRES)
        self.assertEqual(buildRequires(b"[project]\nname = 'a'\n"), DEFAULT_BUILD_REQUIRES)
        self.assertEqual(
            buildRequires(
                b'[build-system]\nrequires = ["flit_core >=3.2,<4", "x; os_name == \'nt\'"]\n'
                b'build-backend = "flit_core.buildapi"\n'
            ),
            ("flit_core >=3.2,<4", "x; os_name == 'nt'"),
        )
        self.assertEqual(buildRequires(b"[build-system]\nrequires = []\n"), ())

    def test_badPyproject(self) -> None:
        """
        A C{pyproject.toml} pip would refuse is refused with why: not TOML,
        not UTF-8, a C{[build-system]} without C{requires}, or with other
        than a list of strings there.
        """
        for text, why in [
            (b"[build-system\n", "does not parse"),
            (b"\xff = 1\n", "does not parse"),
            (b"[build-system]\nbuild-backend = 'x'\n", "not a list of strings"),
            (b"[build-system]\nrequires = 'setuptools'\n", "not a list of strings"),
            (b"[build-system]\nrequires = [1]\n", "not a list of strings"),
            (b"build-system = 1\n", "not a list of strings"),
        ]:
            with self.assertRaises(NoBuildRequirements, msg=text) as caught:
                buildRequires(text)
            self.assertIn(why, str(caught.exception))

    def test_sdistMembers(self) -> None:
        """
        The files asked for at the top of the project folder, from a tar or
        a zip, in one pass; a damaged archive is refused with why.
        """
        filename, data = makeSdist("alpha", "1.0", pyproject="[build-system]\nrequires = []\n")
        found = sdistMembers(io.BytesIO(data), filename, ["PKG-INFO", "pyproject.toml"])
        self.assertEqual(found["pyproject.toml"], b"[build-system]\nrequires = []\n")
        self.assertIn(b"Name: alpha", found["PKG-INFO"])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("alpha-1.0/pyproject.toml", "[build-system]\n")
            z.writestr("alpha-1.0/sub/PKG-INFO", "not this one")
        self.assertEqual(
            sdistMembers(io.BytesIO(buffer.getvalue()), "alpha-1.0.zip", ["PKG-INFO", "pyproject.toml"]),
            {"pyproject.toml": b"[build-system]\n"},
        )
        with self.assertRaises(UnreadableSdist) as caught:
            sdistMembers(io.BytesIO(data[:40]), filename, ["PKG-INFO"])
        self.assertIn(filename, str(caught.exception))


class Cached(Resource):
    """
    A fake index whose files are said to be cached (as cheesecache says).
    """

    isLeaf = True

    def __init__(self, index: FakeIndex, hit: bool) -> None:
        Resource.__init__(self)
        self.index = index
        self.hit = hit

    def render(self, request):  # type: ignore[no-untyped-def]
        if request.path.startswith(b"/packages/") and not request.path.endswith(
            b".metadata"
        ):
            request.setHeader(b"X-Cheesecache-Cache", b"hit" if self.hit else b"miss")
        return self.index.render(request)


class WarmerStubTests(SynchronousTestCase):
    """
    L{Warmer} with C{StubTreq}.
    """

    def warm(self, index: Any, *specs: str, url: str = "http://127.0.0.1/simple/"):  # type: ignore[no-untyped-def]
        stub = StubTreq(index)
        seen: List[Progress] = []
        warmer = Warmer(stub, url, LINUX38, progress=seen.append)
        d = warmer.warm([Requirement.parse(s) for s in specs])
        for _ in range(50):
            stub.flush()
            if d.called:
                break
        return self.successResultOf(d), seen

    def index(self) -> FakeIndex:
        index = FakeIndex()
        name, data = makeWheel("alpha", "1.0", ["beta"])
        index.add(
            "alpha", Dist(name, data, metadata=metadataText("alpha", "1.0", ["beta"]))
        )
        name, data = makeWheel("beta", "1.0")
        index.add("beta", Dist(name, data))
        return index

    def test_cacheHeader(self) -> None:
        """
        C{X-Cheesecache-Cache: hit} counts a file as already cached, C{miss}
        (or no header) as fetched; progress is reported for each file.
        """
        report, seen = self.warm(Cached(self.index(), hit=True), "alpha")
        self.assertEqual(sorted(o.name for o in report.cached), ["alpha", "beta"])
        self.assertEqual(report.fetched, ())
        self.assertEqual(
            [(p.done, p.status) for p in seen], [(1, "cached"), (2, "cached")]
        )
        report, _ = self.warm(Cached(self.index(), hit=False), "alpha")
        self.assertEqual(sorted(o.name for o in report.fetched), ["alpha", "beta"])
        report, _ = self.warm(self.index(), "alpha")
        self.assertEqual(len(report.fetched), 2)
        self.assertTrue(report.ok)
        self.assertEqual(dict(report.resolved), {"alpha": "1.0", "beta": "1.0"})

    def test_failures(self) -> None:
        """
        A file whose bytes do not match the page's sha256, and a project the
        index does not have, are failures with reasons; the rest is warmed.
        """
        index = self.index()
        index.faults[b"/packages/beta-1.0-py3-none-any.whl"] = "wrong"
        report, seen = self.warm(index, "alpha", "nonesuch")
        self.assertEqual([o.name for o in report.fetched], ["alpha"])
        reasons = {p.subject: p.reason for p in report.failed}
        self.assertIn("sha256 does not match", reasons["beta-1.0-py3-none-any.whl"])
        self.assertIn("not on the index", reasons["nonesuch"])
        self.assertFalse(report.ok)
        self.assertEqual(seen[-1].total, 2)

    def test_corruptSdist(self) -> None:
        """
        An sdist whose archive is corrupt (as the index serves it) is
        fetched with a warning that its dependencies are not followed; the
        warm goes on.
        """
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("alpha-1.0/PKG-INFO", "Metadata-Version: 2.2\nName: alpha\n" * 50)
        data = bytearray(buffer.getvalue())
        data[85] ^= 0xFF  # in the deflated PKG-INFO: zlib fails on it
        index = self.index()
        index.projects.pop("alpha")
        index.add("alpha", Dist("alpha-1.0.zip", bytes(data)))
        report, _ = self.warm(index, "alpha", "beta")
        self.assertEqual(sorted(o.name for o in report.fetched), ["alpha", "beta"])
        self.assertTrue(report.ok)
        self.assertIn("no static metadata", " ".join(report.warnings))

    def test_unreadableBuildSystem(self) -> None:
        """
        An sdist whose C{pyproject.toml} pip would refuse is fetched with a
        warning that what it is built with is not warmed; the warm goes on.
        """
        index = self.index()
        index.projects.pop("alpha")
        filename, data = makeSdist("alpha", "1.0", pyproject="[build-system]\n")
        index.add("alpha", Dist(filename, data))
        report, _ = self.warm(index, "alpha", "beta")
        self.assertEqual(sorted(o.name for o in report.fetched), ["alpha", "beta"])
        self.assertTrue(report.ok)
        self.assertIn(
            "alpha 1.0: what it is built with is not warmed"
            " (pyproject.toml's build-system.requires is not a list of strings)",
            report.warnings,
        )
        self.assertEqual(report.resolvedForBuilds, ())

    def test_buildRequirementMarkerUndefined(self) -> None:
        """
        A build requirement whose marker cannot be evaluated on the target
        is skipped with a warning; the warm goes on and reports.
        """
        index = self.index()
        index.projects.pop("alpha")
        filename, data = makeSdist(
            "alpha", "1.0",
            pyproject="[build-system]\nrequires = [\"beta\", \"gamma; os_name ~= 'posix'\"]\n",
        )
        index.add("alpha", Dist(filename, data))
        report, _ = self.warm(index, "alpha")
        self.assertEqual(report.resolvedForBuilds, (("beta", "1.0"),))
        self.assertIn(
            "to build alpha 1.0: not following \"gamma; os_name ~= 'posix'\""
            " (Undefined <Op('~=')> on 'posix' and 'posix'.)",
            report.warnings,
        )

    def test_fileChosenAgainForABuild(self) -> None:
        """
        A file chosen both to install and for build environments (as
        setuptools often is) is downloaded and counted once.
        """
        index = FakeIndex()
        for name in ("setuptools", "wheel"):
            filename, data = makeWheel(name, "80.0")
            index.add(name, Dist(filename, data))
        filename, data = makeSdist("gamma", "1.0")
        index.add("gamma", Dist(filename, data))
        filename, data = makeSdist(
            "delta", "1.0", pyproject='[build-system]\nrequires = ["setuptools"]\n'
        )
        index.add("delta", Dist(filename, data))
        report, seen = self.warm(index, "setuptools", "gamma", "delta")
        self.assertEqual(
            sorted(o.filename for o in report.fetched),
            ["delta-1.0.tar.gz", "gamma-1.0.tar.gz",
             "setuptools-80.0-py3-none-any.whl", "wheel-80.0-py3-none-any.whl"],
        )
        self.assertEqual(
            report.resolvedForBuilds, (("setuptools", "80.0"), ("wheel", "80.0"))
        )
        self.assertEqual([(p.done, p.total) for p in seen][-1], (4, 4))
        self.assertEqual(
            [p for _, p, _ in index.requests if p.endswith(b".whl")].count(
                b"/packages/setuptools-80.0-py3-none-any.whl"
            ),
            1,
        )

    def test_credentials(self) -> None:
        """
        Credentials in the index URL are sent as Basic auth to the index's
        origin, and never appear in the URLs requested.
        """
        index = self.index()
        report, _ = self.warm(
            index, "alpha", url="http://u%40x:p%3Ass@127.0.0.1/simple/"
        )
        self.assertTrue(report.ok)
        _, auth = splitCredentials("http://u%40x:p%3Ass@127.0.0.1/simple/")
        self.assertTrue(index.requests)
        for _, _, headers in index.requests:
            self.assertEqual(headers[b"authorization"], auth.encode())  # type: ignore[union-attr]


class CommandTests(SynchronousTestCase):
    """
    L{warmCommand}'s usage errors (which never start the reactor) and its
    progress display.
    """

    def test_usage(self) -> None:
        """
        Nothing to warm, a missing file, or a bad requirement exit with 2 and
        say why.
        """
        out = io.StringIO()
        self.assertEqual(warmCommand(["--index", "http://127.0.0.1:1/simple/"], out), 2)
        self.assertIn("nothing to warm", out.getvalue())
        self.assertEqual(
            warmCommand(
                ["--index", "http://127.0.0.1:1/simple/", "-r", self.mktemp()], out
            ),
            2,
        )
        self.assertIn("cannot read", out.getvalue())
        self.assertEqual(
            warmCommand(["--index", "http://127.0.0.1:1/simple/", "a >>= 1"], out), 2
        )

    def test_badIndexHidesCredentials(self) -> None:
        """
        An C{--index} that is not an http(s) URL (another scheme, or none
        before the user info) exits with 2 without repeating the password
        it holds.
        """
        for index in [
            "ftp://user:s3cret@127.0.0.1/simple/",
            "user:s3cret@127.0.0.1:3141/simple/",
        ]:
            out = io.StringIO()
            self.assertEqual(warmCommand(["--index", index, "alpha"], out), 2)
            self.assertIn("--index must be an http(s) URL", out.getvalue())
            self.assertNotIn("s3cret", out.getvalue())

    def test_formatOptions(self) -> None:
        """
        C{--no-binary}, C{--only-binary} (in the order given) and
        C{--prefer-binary} are taken on the command line; one without a
        value is a usage error.
        """
        options = _parser().parse_args(
            ["--index", "http://127.0.0.1:1/simple/", "--only-binary", ":all:",
             "--no-binary=alpha", "--prefer-binary", "--only-final", ":all:",
             "--all-releases=alpha", "alpha"]
        )
        self.assertEqual(
            options.formatOptions,
            [(ONLY_BINARY, ":all:"), (NO_BINARY, "alpha"), (ONLY_FINAL, ":all:"),
             (ALL_RELEASES, "alpha")],
        )
        self.assertTrue(options.prefer_binary)
        out = io.StringIO()
        self.patch(sys, "stderr", io.StringIO())
        self.assertEqual(
            warmCommand(["--index", "http://127.0.0.1:1/simple/", "--no-binary",
                         "--pre", "alpha"], out),
            2,
        )

    def test_unreadableIndex(self) -> None:
        """
        An C{--index} whose host or port cannot be read exits with 2 and
        says so, without a traceback and without repeating its password.
        """
        for index in [
            "http://user:s3cret@[::1/simple/",
            "http://user:s3cret@127.0.0.1:99999/simple/",
            "http:///simple/",
        ]:
            out = io.StringIO()
            self.assertEqual(warmCommand(["--index", index, "alpha"], out), 2, index)
            self.assertIn("error: --index: ", out.getvalue())
            self.assertNotIn("s3cret", out.getvalue())

    def test_progressDisplay(self) -> None:
        """
        On a terminal the bar is redrawn on one line with C{\\r}; otherwise
        each file gets a plain line.
        """

        class TTY(io.StringIO):
            def isatty(self) -> bool:
                return True

        tty = TTY()
        display = _ProgressDisplay(tty)
        display(Progress(1, 2, "a.whl", "fetched"))
        display(Progress(2, 2, "b.whl", "cached"))
        display.finish()
        self.assertEqual(tty.getvalue().count("\r"), 2)
        self.assertEqual(tty.getvalue().count("\n"), 1)
        plain = io.StringIO()
        display = _ProgressDisplay(plain)
        display(Progress(1, 2, "a.whl", "failed", "HTTP 500"))
        self.assertEqual(plain.getvalue(), "[1/2] failed a.whl: HTTP 500\n")


def upstreamIndex() -> FakeIndex:
    """
    alpha needs beta>=2 (and gamma with the extra "fast"); beta's 3.0 is
    yanked; winonly is only needed on Windows; delta has a .metadata file.
    """
    index = FakeIndex()
    for name, version, requires, withMetadata in [
        (
            "alpha",
            "1.0",
            [
                "beta>=2",
                'gamma; extra == "fast"',
                'winonly; sys_platform == "win32"',
                "delta",
            ],
            False,
        ),
        ("beta", "1.0", [], False),
        ("beta", "2.0", [], False),
        ("gamma", "1.0", [], False),
        ("winonly", "1.0", [], False),
        ("delta", "1.0", [], True),
    ]:
        filename, data = makeWheel(name, version, requires)
        index.add(
            name,
            Dist(
                filename,
                data,
                metadata=metadataText(name, version, requires)
                if withMetadata
                else None,
            ),
        )
    filename, data = makeWheel("beta", "3.0")
    index.add("beta", Dist(filename, data, yanked="broken"))
    return index


class WarmCheesecacheTests(TestCase):
    """
    Warming a real cheesecache on loopback with a real treq client.
    """

    def setUp(self) -> None:
        self.upstream = upstreamIndex()
        self.harness = Harness(self, [serveIndex(self, self.upstream)])
        pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        self.client = treq.client.HTTPClient(Agent(reactor, pool=pool))

    def warmer(self) -> Warmer:
        return Warmer(self.client, self.harness.simpleURL, Target.current())

    def sha(self, filename: str) -> str:
        for dists in self.upstream.projects.values():
            for d in dists:
                if d.filename == filename:
                    return d.sha256
        raise KeyError(filename)

    @inlineCallbacks
    def test_warmThenUpstreamDown(self):  # type: ignore[no-untyped-def]
        """
        After a warm the server holds every chosen file (dependencies and
        extras included, markers honoured, yanked skipped), and a second
        warm succeeds with the upstream down, without fetching any file
        from it.
        """
        report = yield self.warmer().warm([Requirement.parse("alpha[fast]")])
        yield self.harness.settled()
        self.assertEqual(report.failed, ())
        self.assertEqual(
            dict(report.resolved),
            {"alpha": "1.0", "beta": "2.0", "gamma": "1.0", "delta": "1.0"},
        )
        for filename in [
            "alpha-1.0-py3-none-any.whl",
            "beta-2.0-py3-none-any.whl",
            "gamma-1.0-py3-none-any.whl",
            "delta-1.0-py3-none-any.whl",
        ]:
            self.assertTrue(self.harness.store.exists(self.sha(filename)), filename)
        self.assertFalse(
            self.harness.store.exists(self.sha("winonly-1.0-py3-none-any.whl"))
        )
        self.assertEqual(
            self.upstream.count(b"/packages/delta-1.0-py3-none-any.whl.metadata"), 1
        )

        fileRequests = [
            p for _, p, _ in self.upstream.requests if p.startswith(b"/packages/")
        ]
        self.upstream.down = True
        again = yield self.warmer().warm([Requirement.parse("alpha[fast]")])
        self.assertEqual(again.failed, ())
        # The server says which files it had (X-Cheesecache-Cache: hit).
        self.assertEqual(len(again.cached), 4)
        self.assertEqual(again.fetched, ())
        self.assertEqual(
            [p for _, p, _ in self.upstream.requests if p.startswith(b"/packages/")],
            fileRequests,
        )

    @inlineCallbacks
    def test_otherTarget(self):  # type: ignore[no-untyped-def]
        """
        Warming for Windows follows the Windows-only dependency, and a
        constraint narrows a dependency's version.
        """
        warmer = Warmer(self.client, self.harness.simpleURL, WIN312)
        report = yield warmer.warm(
            [Requirement.parse("alpha")], [Requirement.parse("beta<2.5")]
        )
        yield self.harness.settled()
        self.assertEqual(report.failed, ())
        self.assertEqual(dict(report.resolved)["winonly"], "1.0")
        self.assertTrue(
            self.harness.store.exists(self.sha("winonly-1.0-py3-none-any.whl"))
        )

    @inlineCallbacks
    def test_sdistWhenNoBinary(self):  # type: ignore[no-untyped-def]
        """
        With C{--no-binary} for a project, its sdist is warmed, not its
        wheel: what pip will ask for.
        """
        filename, data = makeSdist("gamma", "1.0")
        self.upstream.add("gamma", Dist(filename, data))
        for name in ("setuptools", "wheel"):
            filename, data = makeWheel(name, "80.0")
            self.upstream.add(name, Dist(filename, data))
        report = yield self.warmer().warm(
            [Requirement.parse("gamma")], formats=Formats.read([(NO_BINARY, "gamma")])
        )
        yield self.harness.settled()
        self.assertEqual(report.failed, ())
        self.assertEqual(report.fetched[0].filename, "gamma-1.0.tar.gz")
        self.assertTrue(self.harness.store.exists(self.sha("gamma-1.0.tar.gz")))
        self.assertFalse(self.harness.store.exists(self.sha("gamma-1.0-py3-none-any.whl")))
        # It has no pyproject.toml: pip builds it with setuptools (and,
        # before pip 24, wheel), which are warmed too.
        self.assertEqual(
            report.resolvedForBuilds, (("setuptools", "80.0"), ("wheel", "80.0"))
        )
        for filename in ("setuptools-80.0-py3-none-any.whl", "wheel-80.0-py3-none-any.whl"):
            self.assertTrue(self.harness.store.exists(self.sha(filename)), filename)

    @inlineCallbacks
    def test_buildRequirementsApart(self):  # type: ignore[no-untyped-def]
        """
        What an sdist is built with is resolved apart from what is
        installed, as pip's isolated build environment is: the backend's
        own dependency in the version the backend wants, beside the one the
        requirements pin.  One not on the index fails, saying what it was
        for.
        """
        filename, data = makeSdist(
            "omega", "1.0",
            pyproject='[build-system]\nrequires = ["tinybackend", "absent"]\n'
            'build-backend = "tinybackend"\n',
        )
        self.upstream.add("omega", Dist(filename, data))
        filename, data = makeBackendWheel("tinybackend", "1.0", ["helper>=2"])
        self.upstream.add("tinybackend", Dist(filename, data))
        for version in ("1.0", "2.0"):
            filename, data = makeWheel("helper", version)
            self.upstream.add("helper", Dist(filename, data))
        report = yield self.warmer().warm(
            [Requirement.parse("omega"), Requirement.parse("helper==1.0")]
        )
        yield self.harness.settled()
        self.assertEqual(dict(report.resolved), {"omega": "1.0", "helper": "1.0"})
        self.assertEqual(
            report.resolvedForBuilds, (("helper", "2.0"), ("tinybackend", "1.0"))
        )
        # In /-/warm's answer, a list, as one project may be there twice.
        self.assertEqual(
            report.toJSON()["resolved-for-builds"],
            [["helper", "2.0"], ["tinybackend", "1.0"]],
        )
        for filename in [
            "omega-1.0.tar.gz",
            "tinybackend-1.0-py3-none-any.whl",
            "helper-1.0-py3-none-any.whl",
            "helper-2.0-py3-none-any.whl",
        ]:
            self.assertTrue(self.harness.store.exists(self.sha(filename)), filename)
        self.assertEqual(
            [(p.subject, p.reason) for p in report.failed],
            [("absent (to build omega 1.0)", "absent is not on the index")],
        )

    @inlineCallbacks
    def test_unsatisfiable(self):  # type: ignore[no-untyped-def]
        """
        A requirement no version satisfies fails with a reason, and the
        others are still warmed.
        """
        report = yield self.warmer().warm(
            [Requirement.parse("beta>5"), Requirement.parse("gamma")]
        )
        yield self.harness.settled()
        self.assertEqual([p.subject for p in report.failed], ["beta>5"])
        self.assertIn("no version of beta matches", report.failed[0].reason)
        self.assertTrue(
            self.harness.store.exists(self.sha("gamma-1.0-py3-none-any.whl"))
        )


class EndToEndTests(TestCase):
    """
    C{python -m cheesecache.warm} against C{twistd -n cheesecache}, then pip
    installing with the upstream down.
    """

    timeout = 300

    @inlineCallbacks
    def test_warmThenPipOffline(self):  # type: ignore[no-untyped-def]
        """
        The command warms from a requirements file (with an include and
        hashes), reports a summary and exits 0; then, with the upstream
        down, pip installs everything from the server.
        """
        upstream = upstreamIndex()
        server = TwistdProcess(
            self, serveIndex(self, upstream), self.mktemp(), "--index-ttl", "0"
        )
        yield server.ready()
        directory = FilePath(self.mktemp())
        directory.makedirs()
        alphaSha = next(d.sha256 for d in upstream.projects["alpha"])
        directory.child("base.txt").setContent(
            f"alpha==1.0 --hash=sha256:{alphaSha}  # pinned\n".encode()
        )
        directory.child("requirements.txt").setContent(b"-r base.txt\n")
        code, output = yield run(
            [
                sys.executable,
                "-m",
                "cheesecache.warm",
                "--index",
                server.url,
                "-r",
                directory.child("requirements.txt").path,
            ],
        )
        self.assertEqual(code, 0, output + server.log())
        self.assertIn("3 files: 3 fetched", output)
        self.assertIn("[3/3] fetched", output)

        upstream.down = True
        code, output = yield run(
            [os.path.join(BIN, "cheesecache"), "warm", "--index", server.url,
             "-r", directory.child("requirements.txt").path],
        )
        self.assertEqual(code, 0, output + server.log())
        self.assertIn("3 files: 0 fetched (0 bytes), 3 already cached, 0 failed", output)
        target = self.mktemp()
        code, output = yield run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--target",
                target,
                "--index-url",
                server.url,
                "alpha",
            ],
            CLIENT_ENV,
        )
        self.assertEqual(code, 0, output + server.log())
        for module in ("alpha_mod", "beta_mod", "delta_mod"):
            self.assertTrue(FilePath(target).child(module).isdir(), module)

    @inlineCallbacks
    def test_warmThenPipBuildsOffline(self):  # type: ignore[no-untyped-def]
        """
        A project with only an sdist is warmed with what pip builds it
        with (a backend, and the backend's own dependency); then, with the
        upstream down, pip builds and installs it from the server.
        """
        upstream = FakeIndex()
        filename, data = makeSdist(
            "omega", "1.0", module=True,
            pyproject='[build-system]\nrequires = ["tinybackend"]\n'
            'build-backend = "tinybackend"\n',
        )
        upstream.add("omega", Dist(filename, data))
        filename, data = makeBackendWheel("tinybackend", "1.0", ["helper"])
        upstream.add("tinybackend", Dist(filename, data))
        filename, data = makeWheel("helper", "1.0")
        upstream.add("helper", Dist(filename, data))
        server = TwistdProcess(self, serveIndex(self, upstream), self.mktemp())
        yield server.ready()
        code, output = yield run(
            [sys.executable, "-m", "cheesecache.warm", "--index", server.url, "omega"]
        )
        self.assertEqual(code, 0, output + server.log())
        self.assertIn("3 files: 3 fetched", output)

        upstream.down = True
        target = self.mktemp()
        code, output = yield run(
            [sys.executable, "-m", "pip", "install", "--no-cache-dir",
             "--target", target, "--index-url", server.url, "omega"],
            CLIENT_ENV,
        )
        self.assertEqual(code, 0, output + server.log())
        self.assertTrue(FilePath(target).child("omega_mod").isdir())
        # Built, not just unpacked: the wheel the backend made was installed.
        self.assertTrue(FilePath(target).child("omega-1.0.dist-info").isdir())
