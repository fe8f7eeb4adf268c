# -*- test-case-name: tests.test_warm -*-
"""
What a warm did, and its progress as it goes.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import attrs

from .resolution import Problem


@attrs.frozen
class FileOutcome:
    """
    A file that was downloaded through the server.

    @ivar cached: the server said it already had it.
    """

    name: str
    version: str
    filename: str
    size: int
    cached: bool


@attrs.frozen
class Report:
    """
    What a warm did: the files fetched (now cached), those the server
    already had, what failed and why, and what was skipped.

    @ivar resolved: the versions chosen to install.
    @ivar resolvedForBuilds: the versions chosen to build the sdists among
        them with (see L{cheesecache.warm.dependencies.buildRequires}).
    """

    fetched: Tuple[FileOutcome, ...] = ()
    cached: Tuple[FileOutcome, ...] = ()
    failed: Tuple[Problem, ...] = ()
    warnings: Tuple[str, ...] = ()
    resolved: Tuple[Tuple[str, str], ...] = ()
    resolvedForBuilds: Tuple[Tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed

    def toJSON(self) -> Dict[str, Any]:
        """
        The report as JSON-ready values (for an HTTP endpoint).
        """

        def outcome(o: FileOutcome) -> Dict[str, Any]:
            return {
                "project": o.name,
                "version": o.version,
                "filename": o.filename,
                "size": o.size,
            }

        return {
            "fetched": [outcome(o) for o in self.fetched],
            "cached": [outcome(o) for o in self.cached],
            "failed": [{"subject": p.subject, "reason": p.reason} for p in self.failed],
            "warnings": list(self.warnings),
            "resolved": dict(self.resolved),
            # A list: builds may need versions of one project apart.
            "resolved-for-builds": [list(pair) for pair in self.resolvedForBuilds],
        }


@attrs.frozen
class Progress:
    """
    One step of a warm, for a progress display: C{done} of C{total} files
    known so far (the total grows as dependencies are found).
    """

    done: int
    total: int
    label: str
    status: str  # "fetched", "cached" or "failed"
    reason: Optional[str] = None
