"""
Tests for L{cheesecache.recent}.
"""

from __future__ import annotations

from collections import OrderedDict

from twisted.trial.unittest import SynchronousTestCase

from cheesecache.recent import noteRecent


class NoteRecentTests(SynchronousTestCase):
    """
    L{noteRecent} keeps the most recent names within a budget.
    """

    def test_oldestGoFirst(self) -> None:
        """
        Over the budget, the names noted longest ago are let go, oldest
        first; a name noted again counts as new.
        """
        recent: "OrderedDict[str, None]" = OrderedDict()
        self.assertEqual(noteRecent(recent, "a", 2), [])
        self.assertEqual(noteRecent(recent, "b", 2), [])
        self.assertEqual(noteRecent(recent, "a", 2), [])
        self.assertEqual(noteRecent(recent, "c", 2), ["b"])
        self.assertEqual(list(recent), ["a", "c"])
        self.assertEqual(noteRecent(recent, "d", 1), ["a", "c"])
        self.assertEqual(list(recent), ["d"])
